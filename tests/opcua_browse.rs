//! `edgeproof browse` against the simulated moulding machine: the test variables are listed
//! with their node ids and data types, and `--points` prints entries that validate.

use std::process::Command;

use crate::support::opcua::server;
use crate::support::{bin, describe, run};

#[tokio::test]
async fn browse_lists_the_test_variables_with_their_types() {
    let dir = tempfile::tempdir().unwrap();
    let sim = server(&dir.path().join("server-pki"), |_| {}).await;
    let endpoint = sim.endpoint();
    let data = dir.path().join("browse");
    let tree = tokio::task::spawn_blocking({
        let (endpoint, data) = (endpoint.clone(), data.clone());
        move || run(Command::new(bin()).args(["browse", &endpoint, "--data-dir"]).arg(&data))
    })
    .await
    .unwrap();
    let text = String::from_utf8_lossy(&tree.stdout);
    assert!(tree.status.success(), "{}", describe(&tree));
    for (id, name, ty) in [
        ("Molder.Barrel.Temp", "BarrelTemp", "Double"),
        ("Molder.ShotCount", "ShotCount", "UInt32"),
        ("Molder.Running", "Running", "Boolean"),
        ("Molder.Recipe", "Recipe", "String"),
    ] {
        let line = text
            .lines()
            .find(|l| l.contains(&sim.node(id)))
            .unwrap_or_else(|| panic!("{id} not listed\n{}", describe(&tree)));
        assert!(
            line.contains(name) && line.contains("Variable") && line.trim_end().ends_with(ty),
            "{line}"
        );
    }
    assert!(!text.contains("ServerStatus"), "the Server object is skipped by default\n{text}");

    let sim_ns_molder = sim.node("Molder");
    let points = tokio::task::spawn_blocking(move || {
        run(Command::new(bin())
            .args(["browse", &endpoint, "--points", "--node"])
            .arg(sim_ns_molder)
            .arg("--data-dir")
            .arg(&data))
    })
    .await
    .unwrap();
    assert!(points.status.success(), "{}", describe(&points));
    let entries = String::from_utf8_lossy(&points.stdout).to_string();
    assert_eq!(entries.matches("[[devices.points]]").count(), 8, "{entries}");
    let section = format!(
        "{}\n[[devices]]\nname = \"m\"\nprotocol = \"opcua\"\nendpoint = \"{}\"\n{}",
        crate::support::gateway(dir.path()),
        sim.endpoint(),
        entries.replace("[[devices.points]]", "  [[devices.points]]")
    );
    edgeproof::config::load_str(std::path::Path::new("t.toml"), &section, false)
        .unwrap_or_else(|e| panic!("pasted entries do not validate: {e}\n{section}"));
    sim.stop().await;
}
