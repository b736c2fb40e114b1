//! The catalogue: every metric edgeproof exports — name, help, type and label names — in one
//! place. Code elsewhere refers to these constants, never to a string literal, so a rename
//! happens here and the test in [`super`] checks that each entry is actually exported.
//!
//! Naming follows the Prometheus conventions: an `edgeproof_` prefix, `_total` on counters,
//! base units in the name (`_seconds`, `_bytes`). Labels are bounded: `device` is a config
//! name and `witness` a configured URL; `kind`, `quality`, `code` and `result` come from small
//! fixed sets. Never a value, an address read at run time, or an error message.

/// What kind of Prometheus metric a [`MetricDef`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Only goes up (resets when the process restarts).
    Counter,
    /// Goes up and down.
    Gauge,
    /// Observations in buckets, with `_bucket`, `_sum` and `_count` series.
    Histogram,
}

/// One exported metric family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetricDef {
    /// Full name, as scraped.
    pub name: &'static str,
    /// The `# HELP` text.
    pub help: &'static str,
    /// Counter, gauge or histogram.
    pub kind: Kind,
    /// Label names, in the order label values are passed.
    pub labels: &'static [&'static str],
}

const fn def(
    name: &'static str,
    kind: Kind,
    labels: &'static [&'static str],
    help: &'static str,
) -> MetricDef {
    MetricDef { name, help, kind, labels }
}

/// Label: the device's name from the config.
pub const DEVICE: &str = "device";
/// Label: why a request failed, one of [`ERROR_KINDS`].
pub const KIND: &str = "kind";
/// Label: `good` or `bad`.
pub const QUALITY: &str = "quality";
/// Label: a Modbus exception code as two upper-case hex digits (`02`, `0B`).
pub const CODE: &str = "code";

/// `kind` value: the device did not answer in time.
pub const KIND_TIMEOUT: &str = "timeout";
/// `kind` value: the device answered with a Modbus exception.
pub const KIND_EXCEPTION: &str = "exception";
/// `kind` value: the connection could not be opened or broke.
pub const KIND_CONNECTION: &str = "connection";
/// `kind` value: the answer could not be parsed or did not match the request.
pub const KIND_MALFORMED: &str = "malformed";
/// Every `kind` value, so all series exist (at 0) from the start.
pub const ERROR_KINDS: [&str; 4] = [KIND_TIMEOUT, KIND_EXCEPTION, KIND_CONNECTION, KIND_MALFORMED];

/// Label: an RTU bus — the serial port path or the RTU-over-TCP `host:port` from the config.
pub const BUS: &str = "bus";

/// `kind` value of a frame error: the CRC did not match.
pub const FRAME_CRC: &str = "crc";
/// `kind` value of a frame error: bytes that cannot be the answer (wrong unit, function or
/// byte count; a line that never fell silent).
pub const FRAME_GARBAGE: &str = "garbage";
/// `kind` value of a frame error: the answer stopped short.
pub const FRAME_TRUNCATED: &str = "truncated";
/// Every frame-error `kind`, so all series exist (at 0) from the start.
pub const FRAME_ERROR_KINDS: [&str; 3] = [FRAME_CRC, FRAME_GARBAGE, FRAME_TRUNCATED];

/// `quality` value for good samples.
pub const QUALITY_GOOD: &str = "good";
/// `quality` value for bad samples.
pub const QUALITY_BAD: &str = "bad";

/// Upper bounds of the poll-duration buckets: 1 ms (one request on a LAN) to 5 s (a slow
/// RS-485 bus or several timeouts in one cycle).
pub const POLL_DURATION_BUCKETS: [f64; 12] =
    [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0];

// ---- build ----

/// `edgeproof_build_info{version, git}` = 1.
pub const BUILD_INFO: MetricDef = def(
    "edgeproof_build_info",
    Kind::Gauge,
    &["version", "git"],
    "Always 1; the labels say which build is running.",
);

// ---- devices (pushed by the poll scheduler) ----

/// Poll cycles run.
pub const DEVICE_POLLS: MetricDef =
    def("edgeproof_device_polls_total", Kind::Counter, &[DEVICE], "Poll cycles run per device.");
/// Requests sent to the device.
pub const DEVICE_REQUESTS: MetricDef = def(
    "edgeproof_device_requests_total",
    Kind::Counter,
    &[DEVICE],
    "Protocol requests sent per device (several per poll cycle when points are spread out).",
);
/// Failed requests by kind.
pub const DEVICE_POLL_ERRORS: MetricDef = def(
    "edgeproof_device_poll_errors_total",
    Kind::Counter,
    &[DEVICE, KIND],
    "Failed requests per device, by kind: timeout, exception, connection, malformed.",
);
/// Wall time of one poll cycle.
pub const DEVICE_POLL_DURATION: MetricDef = def(
    "edgeproof_device_poll_duration_seconds",
    Kind::Histogram,
    &[DEVICE],
    "Wall time of one poll cycle (all requests of the device), in seconds.",
);
/// Samples produced, by quality.
pub const DEVICE_POINTS_READ: MetricDef = def(
    "edgeproof_device_points_read_total",
    Kind::Counter,
    &[DEVICE, QUALITY],
    "Point readings produced per device, by quality (bad: the point could not be read or decoded).",
);
/// Modbus exception responses by code.
pub const DEVICE_MODBUS_EXCEPTIONS: MetricDef = def(
    "edgeproof_device_modbus_exceptions_total",
    Kind::Counter,
    &[DEVICE, CODE],
    "Modbus exception responses per device, by exception code (hex, e.g. 02 illegal address).",
);
/// Poll ticks skipped because the previous cycle was still running.
pub const DEVICE_OVERRUNS: MetricDef = def(
    "edgeproof_device_overruns_total",
    Kind::Counter,
    &[DEVICE],
    "Poll ticks skipped because the previous cycle took longer than the poll interval.",
);
/// 1 while the transport to the device is connected.
pub const DEVICE_CONNECTED: MetricDef = def(
    "edgeproof_device_connected",
    Kind::Gauge,
    &[DEVICE],
    "1 while the connection to the device is open, else 0.",
);

// ---- RTU buses (pushed by the bus tasks) ----

/// Requests written to an RTU bus.
pub const BUS_REQUESTS: MetricDef = def(
    "edgeproof_bus_requests_total",
    Kind::Counter,
    &[BUS],
    "Requests written to an RTU bus (serial port or RTU-over-TCP), retries included.",
);
/// Bad frames seen on an RTU bus, by kind.
pub const BUS_FRAME_ERRORS: MetricDef = def(
    "edgeproof_bus_frame_errors_total",
    Kind::Counter,
    &[BUS, KIND],
    "Unusable frames on an RTU bus, by kind: crc, garbage, truncated.",
);
/// Bytes thrown away while resynchronising a bus.
pub const BUS_DISCARDED_BYTES: MetricDef = def(
    "edgeproof_bus_discarded_bytes_total",
    Kind::Counter,
    &[BUS],
    "Bytes read from an RTU bus that belonged to no usable answer (noise, bad or late frames, \
     excess bytes), discarded while resynchronising.",
);
/// Bad frames per unit, by kind.
pub const DEVICE_FRAME_ERRORS: MetricDef = def(
    "edgeproof_device_frame_errors_total",
    Kind::Counter,
    &[DEVICE, KIND],
    "Unusable answers from an RTU device, by kind: crc, garbage, truncated.",
);

// ---- journal (read from JournalCounters at scrape time) ----

/// Unacknowledged entries on disk.
pub const JOURNAL_ENTRIES: MetricDef = def(
    "edgeproof_journal_entries",
    Kind::Gauge,
    &[],
    "Telemetry entries on disk waiting for the broker's acknowledgement.",
);
/// Samples in those entries.
pub const JOURNAL_SAMPLES: MetricDef = def(
    "edgeproof_journal_samples",
    Kind::Gauge,
    &[],
    "Samples in the entries waiting for the broker's acknowledgement.",
);
/// Bytes counted against the size bound.
pub const JOURNAL_BYTES: MetricDef = def(
    "edgeproof_journal_bytes",
    Kind::Gauge,
    &[],
    "Bytes the journal's size bound counts (database pages in use).",
);
/// Bytes on disk.
pub const JOURNAL_FILE_BYTES: MetricDef = def(
    "edgeproof_journal_file_bytes",
    Kind::Gauge,
    &[],
    "Bytes the journal occupies on disk (database file plus write-ahead log).",
);
/// Age of the oldest unacknowledged entry.
pub const JOURNAL_OLDEST_AGE: MetricDef = def(
    "edgeproof_journal_oldest_entry_age_seconds",
    Kind::Gauge,
    &[],
    "Age of the oldest entry waiting for acknowledgement, in seconds (0 when the journal is empty).",
);
/// Samples accepted but not yet committed.
pub const JOURNAL_QUEUED_SAMPLES: MetricDef = def(
    "edgeproof_journal_queued_samples",
    Kind::Gauge,
    &[],
    "Samples accepted into memory and not yet committed to disk.",
);
/// Highest sequence number committed.
pub const JOURNAL_COMMITTED_SEQ: MetricDef = def(
    "edgeproof_journal_committed_seq",
    Kind::Gauge,
    &[],
    "Sequence number of the newest committed entry (0 before the first).",
);
/// Entries committed.
pub const JOURNAL_APPENDED_ENTRIES: MetricDef = def(
    "edgeproof_journal_appended_entries_total",
    Kind::Counter,
    &[],
    "Telemetry entries committed to disk.",
);
/// Samples committed.
pub const JOURNAL_APPENDED_SAMPLES: MetricDef = def(
    "edgeproof_journal_appended_samples_total",
    Kind::Counter,
    &[],
    "Samples committed to disk.",
);
/// Entries released by a PUBACK.
pub const JOURNAL_ACKED_ENTRIES: MetricDef = def(
    "edgeproof_journal_acknowledged_entries_total",
    Kind::Counter,
    &[],
    "Entries deleted from the journal because the broker acknowledged them.",
);
/// Samples released by a PUBACK.
pub const JOURNAL_ACKED_SAMPLES: MetricDef = def(
    "edgeproof_journal_acknowledged_samples_total",
    Kind::Counter,
    &[],
    "Samples deleted from the journal because the broker acknowledged them.",
);
/// Entries evicted by the size bound.
pub const JOURNAL_DROPPED_ENTRIES: MetricDef = def(
    "edgeproof_journal_dropped_entries_total",
    Kind::Counter,
    &[],
    "Oldest entries dropped unpublished because the journal reached its size bound \
     (counted since the journal file was created).",
);
/// Samples evicted by the size bound.
pub const JOURNAL_DROPPED_SAMPLES: MetricDef = def(
    "edgeproof_journal_dropped_samples_total",
    Kind::Counter,
    &[],
    "Samples in the entries dropped by the size bound (counted since the journal file was created).",
);
/// Batches refused because the writer queue was full.
pub const JOURNAL_QUEUE_FULL_DROPS: MetricDef = def(
    "edgeproof_journal_queue_full_drops_total",
    Kind::Counter,
    &[],
    "Batches refused because the queue in front of the journal writer was full.",
);
/// Samples in those batches.
pub const JOURNAL_QUEUE_FULL_SAMPLES: MetricDef = def(
    "edgeproof_journal_queue_full_dropped_samples_total",
    Kind::Counter,
    &[],
    "Samples in the batches refused because the journal writer queue was full.",
);
/// Stored entries that could not be decoded.
pub const JOURNAL_UNDECODABLE: MetricDef = def(
    "edgeproof_journal_undecodable_entries_total",
    Kind::Counter,
    &[],
    "Stored entries that could not be decoded and were deleted.",
);
/// Failed group commits.
pub const JOURNAL_COMMIT_ERRORS: MetricDef = def(
    "edgeproof_journal_commit_errors_total",
    Kind::Counter,
    &[],
    "Group commits that failed (their batches stay queued and are retried).",
);
/// SQLITE_FULL met by journal writes.
pub const JOURNAL_DISK_FULL: MetricDef = def(
    "edgeproof_journal_disk_full_total",
    Kind::Counter,
    &[],
    "Journal writes refused by a full disk (SQLITE_FULL); each drops old telemetry and retries once.",
);

// ---- publish (read from PublishCounters at scrape time) ----

/// Data messages handed to the MQTT client.
pub const PUBLISH_PUBLISHED: MetricDef = def(
    "edgeproof_publish_published_total",
    Kind::Counter,
    &[],
    "Data messages handed to the MQTT client, re-sends after a reconnect included.",
);
/// Data messages acknowledged.
pub const PUBLISH_ACKNOWLEDGED: MetricDef = def(
    "edgeproof_publish_acknowledged_total",
    Kind::Counter,
    &[],
    "Data messages acknowledged by the broker (PUBACK received, journal entry released).",
);
/// Payload bytes handed to the client.
pub const PUBLISH_BYTES: MetricDef = def(
    "edgeproof_publish_payload_bytes_total",
    Kind::Counter,
    &[],
    "Payload bytes of data messages handed to the MQTT client, re-sends included.",
);
/// Data messages waiting for their PUBACK.
pub const PUBLISH_IN_FLIGHT: MetricDef = def(
    "edgeproof_publish_in_flight",
    Kind::Gauge,
    &[],
    "Data messages sent on the current connection and not acknowledged yet.",
);
/// 1 while connected to the broker.
pub const PUBLISH_CONNECTED: MetricDef = def(
    "edgeproof_publish_mqtt_connected",
    Kind::Gauge,
    &[],
    "1 while the MQTT connection is up (CONNACK received), else 0.",
);
/// Connections established after an earlier one was lost.
pub const PUBLISH_RECONNECTS: MetricDef = def(
    "edgeproof_publish_reconnects_total",
    Kind::Counter,
    &[],
    "MQTT connections established after an earlier one was lost.",
);
/// Connection attempts that failed before CONNACK.
pub const PUBLISH_CONNECT_FAILURES: MetricDef = def(
    "edgeproof_publish_connect_failures_total",
    Kind::Counter,
    &[],
    "MQTT connection attempts that failed before CONNACK (broker down, TLS, authentication).",
);

// ---- witnessing from the agent (pushed by the witness submission tasks) ----

/// Label: a witness the agent submits to, by its configured URL.
pub const WITNESS_URL: &str = "witness";
/// Label: how a submission ended, one of [`WITNESS_RESULTS`].
pub const RESULT: &str = "result";
/// `result` value: cosigned, and the cosignature verified.
pub const RESULT_OK: &str = "ok";
/// `result` value: the witness refused (4xx, 409 included).
pub const RESULT_REFUSED: &str = "refused";
/// `result` value: no usable answer (down, timeout, 5xx, malformed, bad cosignature).
pub const RESULT_FAILED: &str = "failed";
/// Every `result` value, so all series exist (at 0) from the start.
pub const WITNESS_RESULTS: [&str; 3] = [RESULT_OK, RESULT_REFUSED, RESULT_FAILED];

/// Checkpoint submissions per witness and result.
pub const WITNESS_SUBMISSIONS: MetricDef = def(
    "edgeproof_evidence_witness_submissions_total",
    Kind::Counter,
    &[WITNESS_URL, RESULT],
    "Checkpoint submissions (add-checkpoint requests) per witness, by result.",
);
/// The largest tree size the witness has cosigned.
pub const WITNESS_COSIGNED_SIZE: MetricDef = def(
    "edgeproof_evidence_witness_cosigned_size",
    Kind::Gauge,
    &[WITNESS_URL],
    "Tree size of the latest checkpoint the witness cosigned (0 until one is cosigned).",
);

// ---- witness (`edgeproof witness serve`, its own registry; not part of [`ALL`]) ----

/// Label: how the witness answered an add-checkpoint request, one of [`WITNESS_OUTCOMES`].
pub const OUTCOME: &str = "outcome";
/// Every `outcome` value, so all series exist (at 0) from the start: cosigned, then the
/// refusals by HTTP status (400, 404, 403, 409 ×2, 422), then the witness's own trouble (503).
pub const WITNESS_OUTCOMES: &[&str] = &[
    "cosigned",
    "malformed",
    "unknown_log",
    "bad_signature",
    "old_size",
    "fork",
    "bad_proof",
    "unavailable",
    "contention",
];

/// add-checkpoint requests by outcome.
pub const WITNESS_REQUESTS: MetricDef = def(
    "edgeproof_witness_requests_total",
    Kind::Counter,
    &[OUTCOME],
    "add-checkpoint requests by outcome: cosigned, or why not (old_size and fork are 409s).",
);
/// Compare-and-swap updates lost to a concurrent request.
pub const WITNESS_RACES: MetricDef = def(
    "edgeproof_witness_races_total",
    Kind::Counter,
    &[],
    "State updates that lost a compare-and-swap race to a concurrent request and re-checked.",
);

/// The witness's families.
pub const WITNESS: &[MetricDef] = &[WITNESS_REQUESTS, WITNESS_RACES];

// ---- collector (`edgeproof collect`, its own registry; not part of [`ALL`]) ----

/// Label: an archive anomaly kind, one of `archive::AnomalyKind::ALL` (nine values).
pub const ANOMALY_KIND: &str = "kind";

/// MQTT messages the collector received.
pub const COLLECT_MESSAGES: MetricDef = def(
    "edgeproof_collect_messages_total",
    Kind::Counter,
    &[],
    "MQTT messages received (evidence and checkpoints, before verification).",
);
/// Records newly stored.
pub const COLLECT_STORED: MetricDef = def(
    "edgeproof_collect_records_stored_total",
    Kind::Counter,
    &[],
    "Evidence records newly stored in the archive.",
);
/// Identical re-deliveries.
pub const COLLECT_DUPLICATES: MetricDef = def(
    "edgeproof_collect_duplicates_total",
    Kind::Counter,
    &[],
    "Records received again, identical to the stored one (re-deliveries; nothing stored).",
);
/// Checkpoints stored or given new cosignatures.
pub const COLLECT_CHECKPOINTS: MetricDef = def(
    "edgeproof_collect_checkpoints_stored_total",
    Kind::Counter,
    &[],
    "Checkpoints newly stored or given new cosignatures.",
);
/// Anomalies recorded, by kind.
pub const COLLECT_ANOMALIES: MetricDef = def(
    "edgeproof_collect_anomalies_total",
    Kind::Counter,
    &[ANOMALY_KIND],
    "Anomaly rows added or counted again, by kind (gaps excluded: they are kept current).",
);
/// Batches committed.
pub const COLLECT_BATCHES: MetricDef = def(
    "edgeproof_collect_batches_committed_total",
    Kind::Counter,
    &[],
    "Batches committed to the archive (one transaction each).",
);
/// Failed commits (retried).
pub const COLLECT_DB_ERRORS: MetricDef = def(
    "edgeproof_collect_db_errors_total",
    Kind::Counter,
    &[],
    "Batch commits that failed (database error) and were retried.",
);

/// The collector's families.
pub const COLLECT: &[MetricDef] = &[
    COLLECT_MESSAGES,
    COLLECT_STORED,
    COLLECT_DUPLICATES,
    COLLECT_CHECKPOINTS,
    COLLECT_ANOMALIES,
    COLLECT_BATCHES,
    COLLECT_DB_ERRORS,
];

/// Every family, in the order of this file.
pub const ALL: &[MetricDef] = &[
    BUILD_INFO,
    DEVICE_POLLS,
    DEVICE_REQUESTS,
    DEVICE_POLL_ERRORS,
    DEVICE_POLL_DURATION,
    DEVICE_POINTS_READ,
    DEVICE_MODBUS_EXCEPTIONS,
    DEVICE_OVERRUNS,
    DEVICE_CONNECTED,
    BUS_REQUESTS,
    BUS_FRAME_ERRORS,
    BUS_DISCARDED_BYTES,
    DEVICE_FRAME_ERRORS,
    JOURNAL_ENTRIES,
    JOURNAL_SAMPLES,
    JOURNAL_BYTES,
    JOURNAL_FILE_BYTES,
    JOURNAL_OLDEST_AGE,
    JOURNAL_QUEUED_SAMPLES,
    JOURNAL_COMMITTED_SEQ,
    JOURNAL_APPENDED_ENTRIES,
    JOURNAL_APPENDED_SAMPLES,
    JOURNAL_ACKED_ENTRIES,
    JOURNAL_ACKED_SAMPLES,
    JOURNAL_DROPPED_ENTRIES,
    JOURNAL_DROPPED_SAMPLES,
    JOURNAL_QUEUE_FULL_DROPS,
    JOURNAL_QUEUE_FULL_SAMPLES,
    JOURNAL_UNDECODABLE,
    JOURNAL_COMMIT_ERRORS,
    JOURNAL_DISK_FULL,
    PUBLISH_PUBLISHED,
    PUBLISH_ACKNOWLEDGED,
    PUBLISH_BYTES,
    PUBLISH_IN_FLIGHT,
    PUBLISH_CONNECTED,
    PUBLISH_RECONNECTS,
    PUBLISH_CONNECT_FAILURES,
    WITNESS_SUBMISSIONS,
    WITNESS_COSIGNED_SIZE,
];
