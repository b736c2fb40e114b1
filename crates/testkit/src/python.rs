//! Interop servers written in Python (pymodbus, asyncua): start a script from tests/interop/,
//! wait for its first stdout line (its "ready" signal), kill it when the test ends.

use std::ffi::OsStr;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A Python server child; killed on drop.
pub struct PyServer(Child);

impl Drop for PyServer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `tests/interop/<script>` with `args` and returns it with the first line it printed
/// (trimmed). Panics with `hint` if it says nothing within `timeout`.
pub fn start<I, S>(script: &str, args: I, timeout: Duration, hint: &str) -> (PyServer, String)
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let path = format!("{}/tests/interop/{script}", super::workspace_dir().display());
    let mut child = Command::new(super::python())
        .arg(&path)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {} {path}: {e} ({hint})", super::python()));
    let stdout = child.stdout.take().expect("stdout is piped");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let server = PyServer(child);
    let line = rx
        .recv_timeout(timeout)
        .unwrap_or_else(|_| panic!("{script} said nothing in {timeout:?} ({hint})"));
    (server, line.trim().to_string())
}
