//! Integration tests, compiled into one binary so they share one build. Each module tests one
//! capability against real parts: the in-process Modbus simulator, pymodbus, real SQLite
//! files, a real mosquitto.

use edgeproof_testkit as support;

mod cli_check;
mod collect_acl;
mod collect_archive;
mod collect_fleet;
mod collect_hostile;
mod collect_memory;
mod collect_report;
mod collect_scale;
mod collect_stall;
mod commission_points;
mod commission_read_scan;
mod demo;
mod dist;
mod doctor;
mod evidence_run;
mod evidence_verdicts;
mod evidence_verify;
mod evidence_witness;
mod faults_clock;
mod faults_devices;
mod faults_disk;
mod faults_flapping;
mod faults_memory;
mod faults_sigkill;
mod fuzz_smoke;
mod journal_bound;
mod metrics_endpoint;
mod modbus_interop;
mod modbus_probe;
mod modbus_rtu;
mod modbus_rtu_faults;
mod modbus_rtu_interop;
mod modbus_scheduling;
mod mqtt_tls;
mod opcua_browse;
mod opcua_evidence;
mod opcua_interop;
mod opcua_recovery;
mod opcua_session;
mod packaging;
mod pipeline_crash;
mod pipeline_delivery;
mod pipeline_outage;
mod postgres_server;
mod security;
mod service;
mod usage_digest;
mod witness_conflicts;
mod witness_protocol;
mod witness_race;
mod witness_slowloris;
mod witness_stall;
mod workspace_layout;
