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
            topic_prefix: format!("edgeproof/{}", l.gw),
            mqtt_user: l.gw.clone(),
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
    // The collector keeps a cosignature only if it verifies under a witness it trusts.
    keys.add_witness(trusted.clone());
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

    // The headline counts each gateway once, under its heaviest class.
    assert_eq!(
        v["headline"],
        serde_json::json!({"integrity": 1, "missing": 2, "attention": 1, "clean": 1})
    );
    assert_eq!(v["witness_notice"], serde_json::Value::Null, "gw-0000 is witnessed");
    for want in ["完整性问题 integrity", "证据缺失 missing evidence", "需注意 attention"]
    {
        assert!(html.contains(want), "headline lacks {want:?}");
    }
    // Every flag says which seqs and when.
    let flag = |i: usize, j: usize| v["rows"][i]["flags"][j].clone();
    for (i, row) in v["rows"].as_array().unwrap().iter().enumerate() {
        for f in row["flags"].as_array().unwrap() {
            assert!(!f["from_ms"].is_null() || !f["to_ms"].is_null(), "row {i}: {f:#}");
        }
    }
    assert_eq!(flag(0, 0)["seqs"], serde_json::json!({"first": 9, "last": 9}));
    assert_eq!(flag(0, 0)["class"], "integrity");
    let gap = flag(2, 0);
    assert_eq!(gap["seqs"], serde_json::json!({"first": 50, "last": 59}));
    // The gap lies between the wall times of records 49 and 60: 11 intervals of 5 minutes.
    let (from, to) = (gap["from_ms"].as_u64().unwrap(), gap["to_ms"].as_u64().unwrap());
    assert_eq!((to - from) / 60_000, 55, "{gap:#}");
    assert_eq!(flag(1, 0)["seqs"], serde_json::json!({"first": 100, "last": 100}));
    assert!(html.contains("seq 50–59 · "), "the page shows the gap's seqs and times");
    crate::evidence_run::render_in_chromium(
        &dir.path().join("all.html"),
        &crate::evidence_run::target_dir().join("fleet.png"),
    );

    // Without a trusted witness key nobody is witnessed: said once at the top, not on each row.
    let html_path = dir.path().join("nowitness.html");
    let json_path = dir.path().join("nowitness.json");
    let out = run(Command::new(bin())
        .args(["fleet", "--db", &db, "--at", "2026-01-02T00:00:00Z", "--html"])
        .arg(&html_path)
        .arg("--json")
        .arg(&json_path));
    assert!(out.status.success(), "fleet: {}", describe(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("1 integrity · 2 missing evidence · 0 attention · 2 without flags"),
        "{stdout}"
    );
    let nw: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&json_path).unwrap()).unwrap();
    assert!(nw["witness_notice"].as_str().unwrap().contains("no witness key given"), "{nw:#}");
    assert!(!nw.to_string().contains("not witnessed"), "no row flagged for its witness");
    let page = std::fs::read_to_string(&html_path).unwrap();
    assert_eq!(page.matches("no witness key given").count(), 1);
    crate::evidence_run::render_in_chromium(
        &html_path,
        &crate::evidence_run::target_dir().join("fleet-nowitness.png"),
    );

    let (_, v) = fleet(&["--city", "Foshan"], "foshan");
    let order: Vec<&str> =
        v["rows"].as_array().unwrap().iter().map(|r| r["gateway"].as_str().unwrap()).collect();
    assert_eq!(order, ["gw-0002", "gw-0003", "gw-0001", "gw-0000"]);
    assert_eq!(v["filter"], "city = Foshan");
    assert_eq!(v["registered"], 5);
}
