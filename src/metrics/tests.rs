use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use super::names::{self, Kind};
use super::scrape::oldest_age_seconds;
use super::{Metrics, PollCycle};
use crate::journal::JournalCounters;
use crate::publish::counters::PublishCounters;

/// The value of the series written exactly as `series` (name plus labels in exposition
/// order), or `None` if the scrape has no such line.
fn value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

fn has_family(text: &str, name: &str) -> bool {
    text.lines().any(|l| l == format!("# TYPE {name} {}", kind_word(name)))
}

fn kind_word(name: &str) -> &'static str {
    match names::ALL.iter().find(|d| d.name == name).map(|d| d.kind) {
        Some(Kind::Counter) => "counter",
        Some(Kind::Gauge) => "gauge",
        Some(Kind::Histogram) => "histogram",
        None => "unknown",
    }
}

fn fed() -> Metrics {
    let m = Metrics::new();
    m.poll_cycle(
        "press-1",
        &PollCycle {
            requests: 4,
            ok: 2,
            timeouts: 1,
            exceptions: &[0x02],
            duration: Duration::from_millis(30),
            good: 10,
            bad: 3,
            ..PollCycle::default()
        },
    );
    m.poll_cycle(
        "press-1",
        &PollCycle {
            requests: 4,
            ok: 1,
            connection_errors: 1,
            malformed: 1,
            exceptions: &[0x02, 0x0B],
            duration: Duration::from_millis(3),
            good: 5,
            ..PollCycle::default()
        },
    );
    m.overrun("press-1", 2);
    m.device_connected("press-1", true);
    let bus = m.bus("/dev/ttyS1");
    bus.request();
    bus.request();
    bus.frame_error(Some("meter-3"), names::FRAME_CRC);
    bus.frame_error(None, names::FRAME_GARBAGE);
    bus.discarded(7);
    let w = m.witness("https://w.example");
    w.ok(12);
    w.failed();
    m
}

#[test]
fn every_family_in_the_catalogue_is_rendered_once_fed_and_attached() {
    let m = fed();
    m.attach_journal(Arc::new(JournalCounters::default()));
    m.attach_publish(Arc::new(PublishCounters::new()));
    let text = m.render();
    for def in names::ALL {
        assert!(has_family(&text, def.name), "{} missing from:\n{text}", def.name);
    }
}

#[test]
fn poll_cycles_are_counted_per_device_and_label() {
    let text = fed().render();
    let cases: &[(&str, &str, f64)] = &[
        ("two cycles", r#"edgeproof_device_polls_total{device="press-1"}"#, 2.0),
        ("requests summed", r#"edgeproof_device_requests_total{device="press-1"}"#, 8.0),
        ("timeouts", r#"edgeproof_device_poll_errors_total{device="press-1",kind="timeout"}"#, 1.0),
        (
            "one error kind per exception response",
            r#"edgeproof_device_poll_errors_total{device="press-1",kind="exception"}"#,
            3.0,
        ),
        (
            "connection errors",
            r#"edgeproof_device_poll_errors_total{device="press-1",kind="connection"}"#,
            1.0,
        ),
        (
            "malformed answers",
            r#"edgeproof_device_poll_errors_total{device="press-1",kind="malformed"}"#,
            1.0,
        ),
        (
            "exception code as two hex digits",
            r#"edgeproof_device_modbus_exceptions_total{code="02",device="press-1"}"#,
            2.0,
        ),
        (
            "exception code above 9 is upper-case hex",
            r#"edgeproof_device_modbus_exceptions_total{code="0B",device="press-1"}"#,
            1.0,
        ),
        (
            "good samples",
            r#"edgeproof_device_points_read_total{device="press-1",quality="good"}"#,
            15.0,
        ),
        (
            "bad samples",
            r#"edgeproof_device_points_read_total{device="press-1",quality="bad"}"#,
            3.0,
        ),
        ("overruns", r#"edgeproof_device_overruns_total{device="press-1"}"#, 2.0),
        ("connected", r#"edgeproof_device_connected{device="press-1"}"#, 1.0),
        (
            "histogram count",
            r#"edgeproof_device_poll_duration_seconds_count{device="press-1"}"#,
            2.0,
        ),
        (
            "3 ms lands in the 5 ms bucket",
            r#"edgeproof_device_poll_duration_seconds_bucket{device="press-1",le="0.005"}"#,
            1.0,
        ),
        (
            "30 ms lands in the 50 ms bucket",
            r#"edgeproof_device_poll_duration_seconds_bucket{device="press-1",le="0.05"}"#,
            2.0,
        ),
        (
            "5 s is the last finite bucket",
            r#"edgeproof_device_poll_duration_seconds_bucket{device="press-1",le="5"}"#,
            2.0,
        ),
    ];
    for (case, series, want) in cases {
        assert_eq!(value(&text, series), Some(*want), "{case}: {series}\n{text}");
    }
    let sum = value(&text, r#"edgeproof_device_poll_duration_seconds_sum{device="press-1"}"#);
    assert!(sum.is_some_and(|s| (s - 0.033).abs() < 1e-9), "duration sum {sum:?}");
}

#[test]
fn a_device_has_all_fixed_series_at_zero_before_its_first_cycle() {
    let m = Metrics::new();
    let _handles = m.device("meter");
    let text = m.render();
    for kind in names::ERROR_KINDS {
        let series =
            format!(r#"edgeproof_device_poll_errors_total{{device="meter",kind="{kind}"}}"#);
        assert_eq!(value(&text, &series), Some(0.0), "{series}");
    }
    for series in [
        r#"edgeproof_device_polls_total{device="meter"}"#,
        r#"edgeproof_device_points_read_total{device="meter",quality="bad"}"#,
        r#"edgeproof_device_connected{device="meter"}"#,
        r#"edgeproof_device_poll_duration_seconds_count{device="meter"}"#,
    ] {
        assert_eq!(value(&text, series), Some(0.0), "{series}");
    }
    assert!(!text.contains("edgeproof_device_modbus_exceptions_total{"), "no code seen yet");
}

#[test]
fn overrun_of_zero_ticks_counts_nothing_and_disconnect_clears_the_gauge() {
    let m = Metrics::new();
    let d = m.device("pump");
    d.overrun(0);
    d.set_connected(true);
    d.set_connected(false);
    let text = m.render();
    assert_eq!(value(&text, r#"edgeproof_device_overruns_total{device="pump"}"#), Some(0.0));
    assert_eq!(value(&text, r#"edgeproof_device_connected{device="pump"}"#), Some(0.0));
}

#[test]
fn build_info_carries_the_crate_version() {
    let text = Metrics::new().render();
    let series = format!(
        r#"edgeproof_build_info{{git="{}",version="{}"}}"#,
        option_env!("EDGEPROOF_GIT_COMMIT").unwrap_or("unknown"),
        env!("CARGO_PKG_VERSION")
    );
    assert_eq!(value(&text, &series), Some(1.0), "{text}");
}

#[test]
fn stages_not_attached_export_nothing() {
    let text = Metrics::new().render();
    for def in names::ALL {
        let absent = def.name.starts_with("edgeproof_publish_")
            || def.name.starts_with("edgeproof_journal_");
        if absent {
            assert!(!text.contains(def.name), "{} exported without a publisher", def.name);
        }
    }
}

#[test]
fn publisher_counters_are_read_at_scrape_time() {
    let m = Metrics::new();
    let c = Arc::new(PublishCounters::new());
    m.attach_publish(c.clone());
    assert_eq!(value(&m.render(), "edgeproof_publish_published_total"), Some(0.0));
    c.on_connected();
    c.on_published(100);
    c.on_published(20);
    c.set_in_flight(2);
    c.on_acknowledged();
    c.on_disconnected();
    c.on_connect_failed();
    c.on_connected();
    let text = m.render();
    let cases = [
        ("edgeproof_publish_published_total", 2.0),
        ("edgeproof_publish_acknowledged_total", 1.0),
        ("edgeproof_publish_payload_bytes_total", 120.0),
        ("edgeproof_publish_in_flight", 0.0),
        ("edgeproof_publish_mqtt_connected", 1.0),
        ("edgeproof_publish_reconnects_total", 1.0),
        ("edgeproof_publish_connect_failures_total", 1.0),
    ];
    for (series, want) in cases {
        assert_eq!(value(&text, series), Some(want), "{series}\n{text}");
    }
}

#[test]
fn attaching_a_restarted_publisher_replaces_the_old_counters() {
    let m = Metrics::new();
    let old = Arc::new(PublishCounters::new());
    old.on_published(1);
    m.attach_publish(old);
    m.attach_publish(Arc::new(PublishCounters::new()));
    assert_eq!(value(&m.render(), "edgeproof_publish_published_total"), Some(0.0));
}

#[test]
fn the_catalogue_follows_prometheus_naming() {
    let mut seen = std::collections::HashSet::new();
    for def in names::ALL {
        assert!(seen.insert(def.name), "{} defined twice", def.name);
        assert!(def.name.starts_with("edgeproof_"), "{} lacks the prefix", def.name);
        assert_eq!(
            def.name.ends_with("_total"),
            def.kind == Kind::Counter,
            "{}: counters and only counters end in _total",
            def.name
        );
        assert!(!def.help.is_empty(), "{} has no help", def.name);
    }
}

#[test]
fn clones_share_one_registry() {
    let m = Metrics::new();
    let clone = m.clone();
    clone.overrun("press-1", 1);
    assert_eq!(
        value(&m.render(), r#"edgeproof_device_overruns_total{device="press-1"}"#),
        Some(1.0)
    );
}

#[test]
fn journal_counters_are_read_at_scrape_time() {
    let m = Metrics::new();
    let c = Arc::new(JournalCounters::default());
    m.attach_journal(c.clone());
    let set = [
        (&c.entries, 3),
        (&c.samples, 30),
        (&c.used_bytes, 4096),
        (&c.file_bytes, 8192),
        (&c.appended_samples, 50),
        (&c.dropped_entries_total, 2),
        (&c.dropped_samples_total, 20),
        (&c.queue_full_entries, 1),
        (&c.queue_full_samples, 7),
        (&c.committed_seq, 42),
    ];
    for (atomic, v) in set {
        atomic.store(v, Relaxed);
    }
    // An hour ago: the age is at least 3600 s whenever the scrape runs.
    c.oldest_ts_ms.store(crate::model::now_ms() - 3_600_000, Relaxed);
    let text = m.render();
    let cases = [
        ("edgeproof_journal_entries", 3.0),
        ("edgeproof_journal_samples", 30.0),
        ("edgeproof_journal_bytes", 4096.0),
        ("edgeproof_journal_file_bytes", 8192.0),
        ("edgeproof_journal_appended_samples_total", 50.0),
        ("edgeproof_journal_dropped_entries_total", 2.0),
        ("edgeproof_journal_dropped_samples_total", 20.0),
        ("edgeproof_journal_queue_full_drops_total", 1.0),
        ("edgeproof_journal_queue_full_dropped_samples_total", 7.0),
        ("edgeproof_journal_committed_seq", 42.0),
    ];
    for (series, want) in cases {
        assert_eq!(value(&text, series), Some(want), "{series}\n{text}");
    }
    let age = value(&text, "edgeproof_journal_oldest_entry_age_seconds");
    assert!(age.is_some_and(|a| a >= 3600.0), "oldest age {age:?}");
}

#[test]
fn oldest_entry_age() {
    let cases = [
        ("empty journal has timestamp 0", 0, 5_000, 0.0),
        ("whole seconds", 1_000, 6_000, 5.0),
        ("milliseconds kept", 1_000, 1_250, 0.25),
        ("entry from the future after a clock step", 9_000, 5_000, 0.0),
    ];
    for (case, oldest, now, want) in cases {
        assert_eq!(oldest_age_seconds(oldest, now), want, "{case}");
    }
}

#[test]
fn bus_frame_errors_are_counted_per_bus_and_per_unit() {
    let text = fed().render();
    let cases: &[(&str, &str, f64)] = &[
        ("requests", r#"edgeproof_bus_requests_total{bus="/dev/ttyS1"}"#, 2.0),
        ("crc on the bus", r#"edgeproof_bus_frame_errors_total{bus="/dev/ttyS1",kind="crc"}"#, 1.0),
        (
            "garbage nobody sent still counts for the bus",
            r#"edgeproof_bus_frame_errors_total{bus="/dev/ttyS1",kind="garbage"}"#,
            1.0,
        ),
        (
            "every kind exists at 0",
            r#"edgeproof_bus_frame_errors_total{bus="/dev/ttyS1",kind="truncated"}"#,
            0.0,
        ),
        (
            "crc for the unit",
            r#"edgeproof_device_frame_errors_total{device="meter-3",kind="crc"}"#,
            1.0,
        ),
        ("discarded bytes", r#"edgeproof_bus_discarded_bytes_total{bus="/dev/ttyS1"}"#, 7.0),
    ];
    for (name, series, want) in cases {
        assert_eq!(value(&text, series), Some(*want), "{name}: {series}\n{text}");
    }
    assert_eq!(
        value(&text, r#"edgeproof_device_frame_errors_total{device="meter-3",kind="garbage"}"#),
        None,
        "garbage not from a unit is not put on one"
    );
}

/// The metric names are a contract with every dashboard and alert built on them: renaming one
/// silently breaks those. This list is written out by hand on purpose — a change to a name
/// must change this test too, in the same commit, and be announced in the CHANGELOG.
#[test]
fn metric_names_are_pinned() {
    let pinned: &[(&[names::MetricDef], &[&str])] = &[
        (
            names::ALL,
            &[
                "edgeproof_build_info",
                "edgeproof_device_polls_total",
                "edgeproof_device_requests_total",
                "edgeproof_device_poll_errors_total",
                "edgeproof_device_poll_duration_seconds",
                "edgeproof_device_points_read_total",
                "edgeproof_device_modbus_exceptions_total",
                "edgeproof_device_overruns_total",
                "edgeproof_device_connected",
                "edgeproof_bus_requests_total",
                "edgeproof_bus_frame_errors_total",
                "edgeproof_bus_discarded_bytes_total",
                "edgeproof_device_frame_errors_total",
                "edgeproof_journal_entries",
                "edgeproof_journal_samples",
                "edgeproof_journal_bytes",
                "edgeproof_journal_file_bytes",
                "edgeproof_journal_oldest_entry_age_seconds",
                "edgeproof_journal_queued_samples",
                "edgeproof_journal_committed_seq",
                "edgeproof_journal_appended_entries_total",
                "edgeproof_journal_appended_samples_total",
                "edgeproof_journal_acknowledged_entries_total",
                "edgeproof_journal_acknowledged_samples_total",
                "edgeproof_journal_dropped_entries_total",
                "edgeproof_journal_dropped_samples_total",
                "edgeproof_journal_queue_full_drops_total",
                "edgeproof_journal_queue_full_dropped_samples_total",
                "edgeproof_journal_undecodable_entries_total",
                "edgeproof_journal_commit_errors_total",
                "edgeproof_journal_disk_full_total",
                "edgeproof_publish_published_total",
                "edgeproof_publish_acknowledged_total",
                "edgeproof_publish_payload_bytes_total",
                "edgeproof_publish_in_flight",
                "edgeproof_publish_mqtt_connected",
                "edgeproof_publish_reconnects_total",
                "edgeproof_publish_connect_failures_total",
                "edgeproof_evidence_witness_submissions_total",
                "edgeproof_evidence_witness_cosigned_size",
            ],
        ),
        (names::WITNESS, &["edgeproof_witness_requests_total", "edgeproof_witness_races_total"]),
        (
            names::COLLECT,
            &[
                "edgeproof_collect_messages_total",
                "edgeproof_collect_records_stored_total",
                "edgeproof_collect_duplicates_total",
                "edgeproof_collect_checkpoints_stored_total",
                "edgeproof_collect_anomalies_total",
                "edgeproof_collect_batches_committed_total",
                "edgeproof_collect_db_errors_total",
            ],
        ),
    ];
    for (defs, want) in pinned {
        let got: Vec<&str> = defs.iter().map(|d| d.name).collect();
        assert_eq!(
            &got, want,
            "a metric was renamed, added or removed: update this list and the CHANGELOG"
        );
    }
}
