//! The config file: one TOML file, loaded in three phases.
//!
//! 1. **parse** ([`schema`], [`load()`]): `toml` reads the file, the
//!    `EDGEPROOF__SECTION__KEY` environment overrides are applied, and the result is
//!    deserialized into serde structs that reject unknown keys — every unknown, mistyped or
//!    missing key reported with its path, not only the first;
//! 2. **validate** and 3. **compile** ([`validate`]): every field is checked, every problem
//!    collected with its path, and the result compiled into [`Config`], the typed form the
//!    rest of the agent sees (enums, durations, byte sizes, compiled Modbus points).
//!
//! `configs/example.toml` documents every key.

pub mod error;
pub mod evidence;
mod foreign_keys;
pub mod load;
mod modbus;
mod modbus_rtu;
pub mod named_files;
#[cfg(feature = "opcua")]
mod opcua;
pub mod schema;
pub mod secret;
pub mod secret_files;
pub mod settings;
pub use edgeproof_evidence::uscc;
pub mod validate;

pub use error::{ConfigError, FieldError};
pub use load::{load, load_str, load_with_env};
pub use secret::Secret;
pub use settings::*;

#[cfg(test)]
mod tests;
