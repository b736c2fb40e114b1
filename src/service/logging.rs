//! Log setup: one line per event on stderr, level from `RUST_LOG` (default `info`, the OPC UA
//! stack's own logs at `error`).

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber at level `info` unless `RUST_LOG` says otherwise. Safe to
/// call once per process.
pub fn init() {
    init_at("info");
}

/// Like [`init`], at `level` (the commissioning commands print their findings and keep
/// connection chatter to `RUST_LOG`).
pub fn init_at(level: &str) {
    // The OPC UA stack logs its own view of events the source already reports with the
    // device name (a disconnect, an empty endpoint list it is not asked to use): keep it to
    // errors unless RUST_LOG asks for more.
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        EnvFilter::new(format!("{level},opcua_client=error,opcua_server=error,opcua_core=error"))
    });
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .try_init();
}
