//! Built-in simulated Modbus TCP devices, for tests and `edgeproof demo`.
//!
//! - [`image`]: the register image a device serves — four tables, holes that answer
//!   exception 02, typed setters for every data type and word order, and the Device
//!   Identification objects;
//! - [`devices`]: demo profiles (CNC press, power meter, temperature sensor) with their
//!   device-map points and values that move each tick;
//! - [`opcua`]: a simulated injection moulding machine served over OPC UA (async-opcua);
//! - [`server`]: a tokio-modbus server over a shared image, with counters and a request log
//!   so tests can assert exactly which requests the agent sent (and that it sent no writes);
//! - [`rtu`]: the same images as Modbus RTU units on a serial port, several unit ids on one
//!   line.
//!
//! - [`writes`]: the write tripwire every simulator carries.
//!
//! The simulator is read-only, like the agent: writes are refused (Modbus exception 01, OPC UA
//! `BadUserAccessDenied`) and counted, and a simulator that received one fails the test when
//! it is dropped.

pub mod devices;
pub mod image;
pub mod opcua;
pub mod rtu;
pub mod server;
pub mod writes;

pub use devices::{spawn_ticker, Profile, SimDevice};
pub use image::{encode_words, BitTable, RegisterImage, RegisterTable, SimIdentity};
pub use rtu::SimRtuServer;
pub use server::{LoggedRequest, SimServer};
pub use writes::unexpected_writes;
