//! Recovery: the OPC UA server is killed and started again mid-run (a PLC reboot). Data
//! resumes within a bounded time, the gap is a `disconnected` sample, and the restarted
//! server holds exactly one monitored item per subscribed node — no duplicates.

use std::time::Duration;

use edgeproof::model::{BadReason, Quality, Value};

use crate::support::opcua::{device, server, Task};

#[tokio::test]
async fn server_restart_resumes_data_without_duplicate_monitored_items() {
    let dir = tempfile::tempdir().unwrap();
    let sim = server(&dir.path().join("server-pki"), |_| {}).await;
    sim.set("Molder.ShotCount", 1u32);
    sim.set("Molder.Barrel.Temp", 230.0f64);
    let section = format!(
        "[[devices]]\nname = \"molder\"\nprotocol = \"opcua\"\nendpoint = \"{}\"\npoll = \"200ms\"\n\
         [[devices.points]]\nname = \"shots\"\nnode = \"{}\"\nsampling = \"100ms\"\n\
         [[devices.points]]\nname = \"barrel\"\nnode = \"{}\"\nmode = \"poll\"\n",
        sim.endpoint(),
        sim.node("Molder.ShotCount"),
        sim.node("Molder.Barrel.Temp"),
    );
    let (name, cfg) = device(&dir.path().join("data"), &section);
    let mut task = Task::start(name, cfg);
    let wait = Duration::from_secs(20);
    task.wait_for("the first value", wait, |s| {
        &*s.point == "shots" && s.value == Some(Value::UInt(1))
    })
    .await;
    assert_eq!(sim.monitored_items("Molder.ShotCount"), 1);

    let options = sim.stop().await;
    let seen = task
        .wait_for("the gap marker", wait, |s| {
            &*s.point == "shots" && s.quality == Quality::Bad(BadReason::Disconnected)
        })
        .await;
    let gap = seen.last().unwrap();
    assert!(gap.samples.iter().any(|s| &*s.point == "barrel" && s.value.is_none()), "{gap:?}");

    // Down for a while: the task retries with backoff and sends no stale values meanwhile.
    tokio::time::sleep(Duration::from_secs(2)).await;
    while let Ok(b) = task.rx.try_recv() {
        assert!(
            b.samples.iter().all(|s| s.value.is_none()),
            "a value while the server was down: {b:?}"
        );
    }

    let sim = edgeproof_sim::opcua::SimOpcUa::start(options).await.unwrap();
    sim.set("Molder.ShotCount", 2u32);
    sim.set("Molder.Barrel.Temp", 231.0f64);
    // Backoff is at most 10 s (±20 %) plus a session set-up: bounded well within 30 s.
    task.wait_for("subscribed data after the restart", Duration::from_secs(30), |s| {
        &*s.point == "shots" && s.value == Some(Value::UInt(2))
    })
    .await;
    task.wait_for("polled data after the restart", wait, |s| {
        &*s.point == "barrel" && s.value == Some(Value::Float(231.0))
    })
    .await;
    assert_eq!(sim.monitored_items("Molder.ShotCount"), 1, "one monitored item, not two");
    assert_eq!(sim.monitored_items("Molder.Barrel.Temp"), 0, "poll points are not monitored");
    task.stop().await;
    sim.stop().await;
}
