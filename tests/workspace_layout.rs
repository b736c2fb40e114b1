//! The workspace's promises about what each product carries, checked on the dependency graph
//! cargo resolves (`cargo tree`, no build): the evidence crate is pure, and the gateway
//! binary (default features) carries no reviewer and no server code.

use std::process::Command;

use crate::support::{describe, workspace_dir};

/// `cargo tree` of one package, normal dependencies only, the given features.
fn tree(package: &str, extra: &[&str]) -> String {
    let out = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .current_dir(workspace_dir())
        .args(["tree", "--offline", "-e", "normal", "--prefix", "none", "-p", package])
        .args(extra)
        .output()
        .expect("cargo tree runs");
    assert!(out.status.success(), "cargo tree -p {package}\n{}", describe(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn crates(tree: &str) -> Vec<&str> {
    tree.lines().filter_map(|l| l.split_whitespace().next()).collect()
}

#[test]
fn the_evidence_crate_has_no_runtime_database_or_opc_ua_in_its_tree() {
    let t = tree("edgeproof-evidence", &[]);
    for banned in ["tokio", "rusqlite", "libsqlite3-sys", "tokio-postgres", "async-opcua"] {
        assert!(!crates(&t).contains(&banned), "edgeproof-evidence depends on {banned}:\n{t}");
    }
}

#[test]
fn the_modbus_core_does_no_io() {
    let t = tree("edgeproof-modbus", &[]);
    for banned in ["tokio", "tokio-modbus", "tokio-serial"] {
        assert!(!crates(&t).contains(&banned), "edgeproof-modbus depends on {banned}:\n{t}");
    }
}

#[test]
fn the_gateway_carries_no_postgres_client_and_no_device_servers() {
    let t = tree("edgeproof", &[]);
    for banned in ["tokio-postgres", "async-opcua-server", "edgeproof-sim", "edgeproof-review"] {
        assert!(!crates(&t).contains(&banned), "the gateway depends on {banned}:\n{t}");
    }
    // tokio-modbus is there for the client side only: no server feature enabled.
    let out = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .current_dir(workspace_dir())
        .args([
            "tree",
            "--offline",
            "-e",
            "normal,features",
            "-p",
            "edgeproof",
            "-i",
            "tokio-modbus",
        ])
        .output()
        .expect("cargo tree runs");
    let features = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", describe(&out));
    assert!(
        !features.contains("server\""),
        "tokio-modbus server features in the gateway:\n{features}"
    );
}
