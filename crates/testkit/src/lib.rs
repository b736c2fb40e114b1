//! Helpers shared by the integration tests: the binary under test, temp dirs, free ports,
//! config text, a command wrapper that prints everything when a test fails.

#![allow(dead_code)]

pub mod agent;
pub mod collector;
pub mod fake_gateway;
pub mod faults;
pub mod fleet;
pub mod image;
pub mod metrics;
pub mod mosquitto;
pub mod opcua;
pub mod pki;
pub mod plant;
pub mod postgres;
pub mod proxy;
pub mod python;
pub mod serial;
pub mod subscriber;
pub mod tamper;
pub mod witness;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// The workspace's root directory (where `Cargo.toml`, `configs/` and `tests/` are).
pub fn workspace_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A binary of this workspace, from the target directory of the running test or bench
/// (`target/debug/deps/tests-…` → `target/debug/NAME`). `cargo test --workspace` builds
/// every binary before running tests. `EDGEPROOF_TEST_BIN_DIR` points elsewhere, e.g. at an
/// older build, to show a regression test failing against it.
pub fn workspace_bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test's own path");
    let mut dir = exe.parent().expect("the test's directory").to_path_buf();
    if dir.ends_with("deps") {
        dir.pop();
    }
    if let Some(other) = std::env::var_os("EDGEPROOF_TEST_BIN_DIR") {
        dir = PathBuf::from(other);
    }
    let path = dir.join(name);
    assert!(
        path.is_file(),
        "{} is missing: build the whole workspace first (`cargo test --workspace`)",
        path.display()
    );
    path
}

/// The gateway binary, `edgeproof`, cargo built for these tests.
pub fn bin() -> PathBuf {
    workspace_bin("edgeproof")
}

/// The reviewer's binary, `edgeproof-review`.
pub fn review_bin() -> PathBuf {
    workspace_bin("edgeproof-review")
}

/// The Python that has the interop servers installed (scripts/test may use a venv).
pub fn python() -> String {
    std::env::var("EDGEPROOF_TEST_PYTHON").unwrap_or_else(|_| "python3".into())
}

/// A port that was free a moment ago on 127.0.0.1.
pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().expect("local addr").port()
}

/// The `[gateway]` section every test config starts with.
pub fn gateway(data_dir: &Path) -> String {
    format!(
        "[gateway]\nid = \"gw-test\"\nenterprise = \"91440300MA5DEM0A0G\"\nproject = \"P-TEST\"\ndata_dir = {:?}\n",
        data_dir.display().to_string()
    )
}

/// Runs a command to completion and returns its output; the caller asserts.
pub fn run(cmd: &mut Command) -> Output {
    cmd.output().unwrap_or_else(|e| panic!("could not run {cmd:?}: {e}"))
}

/// Formats a command's outcome for an assertion message.
pub fn describe(out: &Output) -> String {
    format!(
        "status: {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Polls `cond` until it holds or `timeout` passes.
pub async fn wait_for(what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out after {timeout:?} waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
