//! `edgeproof fleet`: the summary page lists the gateways of an archive worst first (integrity
//! problems, then missing evidence, then what needs attention), with the right figures, and
//! filters by city.

use std::process::Command;

use edgeproof::evidence::cosignature::{cosign, WitnessKey};
use edgeproof::evidence::{Chain, GatewayKey};
use edgeproof_review::archive::{Archive, Arrival, Registration};
use edgeproof_review::collect::arrival::{verify_message, Keys};

use crate::support::fleet::{sim_fleet, SimLog};
use crate::support::{bin, describe, run};

fn arrivals(
    l: &SimLog,
    keys: &Keys,
    seqs: impl Iterator<Item = usize>,
    checkpoint: Option<&str>,
) -> Vec<Arrival> {
    let mut out: Vec<Arrival> = seqs
        .map(|s| verify_message(&format!("edgeproof/{}/evidence", l.gw), &l.records[s], keys))
        .collect();
    if let Some(note) = checkpoint {
        out.push(verify_message(&format!("edgeproof/{}/checkpoint", l.gw), note.as_bytes(), keys));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fleet_page_lists_gateways_worst_first_and_filters_by_city() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("archive.db").display().to_string();
    let archive = Archive::open(&db).await.unwrap();
    let logs = sim_fleet(5, 288);
    let mut keys = Keys::default();
    for (i, l) in logs.iter().enumerate() {
        let city = if i == 4 { "Shenzhen" } else { "Foshan" };
        let reg = Registration {
            gateway: l.gw.clone(),
            origin: Chain::origin_for(&l.gw),
            public_key: l.key.public().to_base64(),
            city: city.into(),
            enterprise: format!("enterprise-{i}"),
            project: "GD-2026-0042".into(),
        };
        archive.register(reg).await.unwrap();
        keys.insert(Chain::origin_for(&l.gw), l.gw.clone(), l.key.public());
    }
    // gw-0000: complete, its checkpoint cosigned by a witness.
    let text = logs[0].checkpoint.split("\n\n").next().unwrap().to_string() + "\n";
    let witness_key = GatewayKey::from_seed([9; 32]);
    let w = cosign(&text, "witness.example/w1", &witness_key, 1_767_312_000);
    let vkey = dir.path().join("w1.vkey");
    let trusted = WitnessKey { name: "witness.example/w1".into(), key: witness_key.public() };
    std::fs::write(&vkey, format!("{}\n", trusted.vkey())).unwrap();
    let cosigned = format!("{}{}\n", logs[0].checkpoint, w.line());
    let mut batch = arrivals(&logs[0], &keys, 0..288, Some(&cosigned));
    // gw-0001: ten records lost.
    batch.extend(arrivals(
        &logs[1],
        &keys,
        (0..288).filter(|s| !(50..60).contains(s)),
        Some(&logs[1].checkpoint),
    ));
    // gw-0002: one record altered.
    batch.extend(arrivals(&logs[2], &keys, 0..288, Some(&logs[2].checkpoint)));
    let tampered =
        String::from_utf8(logs[2].records[9].clone()).unwrap().replace("\"ok\":300", "\"ok\":30");
    batch.push(verify_message("edgeproof/gw-0002/evidence", tampered.as_bytes(), &keys));
    // gw-0003: fell silent after 100 records, no checkpoint.
    batch.extend(arrivals(&logs[3], &keys, 0..100, None));
    // gw-0004 (Shenzhen): complete, not witnessed.
    batch.extend(arrivals(&logs[4], &keys, 0..288, Some(&logs[4].checkpoint)));
    archive.ingest(batch).await.unwrap();

    let fleet = |extra: &[&str], name: &str| {
        let html = dir.path().join(format!("{name}.html"));
        let json = dir.path().join(format!("{name}.json"));
        let out = run(Command::new(bin())
            .args(["fleet", "--db", &db, "--at", "2026-01-02T00:00:00Z", "--witness-key"])
            .arg(&vkey)
            .arg("--html")
            .arg(&html)
            .arg("--json")
            .arg(&json)
            .args(extra));
        assert!(out.status.success(), "fleet: {}", describe(&out));
        let v: serde_json::Value = serde_json::from_slice(&std::fs::read(json).unwrap()).unwrap();
        (std::fs::read_to_string(html).unwrap(), v)
    };
    let (html, v) = fleet(&[], "all");
    let order: Vec<&str> =
        v["rows"].as_array().unwrap().iter().map(|r| r["gateway"].as_str().unwrap()).collect();
    assert_eq!(order, ["gw-0002", "gw-0003", "gw-0001", "gw-0004", "gw-0000"]);
    let flags = |i: usize| -> Vec<String> {
        v["rows"][i]["flags"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["text"].as_str().unwrap().to_string())
            .collect()
    };
    assert!(flags(0)[0].contains("bad signatures × 1"), "{:?}", flags(0));
    assert!(flags(1)[0].contains("silent for 15 h"), "{:?}", flags(1));
    assert!(flags(2)[0].contains("10 record(s) missing in 1 gap(s)"), "{:?}", flags(2));
    assert_eq!(flags(3), ["最新检查点无见证 / latest checkpoint not witnessed"]);
    assert!(flags(4).is_empty(), "{:?}", flags(4));
    assert_eq!(v["rows"][4]["checkpoint"]["witnessed"], true);
    assert_eq!(v["rows"][4]["checkpoint"]["trusted_cosignatures"], 1);
    assert_eq!(v["rows"][4]["checkpoint"]["root"], "matches");
    assert_eq!(
        v["rows"][4]["coverage_30_ppm"], 993_055,
        "286 intervals of 5 min in the day since enrolment"
    );
    // The page shows the rows in that order, self-contained.
    let pos: Vec<usize> =
        order.iter().map(|g| html.find(&format!("<b>{g}</b>")).unwrap()).collect();
    assert!(pos.windows(2).all(|w| w[0] < w[1]), "{pos:?}");
    assert!(!html.contains("<script") && !html.contains("http://") && !html.contains("https://"));

    let (_, v) = fleet(&["--city", "Foshan"], "foshan");
    let order: Vec<&str> =
        v["rows"].as_array().unwrap().iter().map(|r| r["gateway"].as_str().unwrap()).collect();
    assert_eq!(order, ["gw-0002", "gw-0003", "gw-0001", "gw-0000"]);
    assert_eq!(v["filter"], "city = Foshan");
    assert_eq!(v["registered"], 5);
}
