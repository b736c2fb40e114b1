//! The collector's metrics, served on `GET /metrics` of `--metrics-listen` by
//! [`edgeproof::http`]. The source of truth is [`CollectCounters`] (the same counters the
//! periodic log line reads); each scrape renders a snapshot of them into a registry of the
//! collector's own families ([`names::COLLECT`], not the agent's). Labels are bounded: only
//! `kind` on anomalies, one of the nine [`AnomalyKind::ALL`], every one present from start.

use std::sync::atomic::AtomicU64;

use prometheus::{IntCounter, IntCounterVec, Opts, Registry, TextEncoder};
use tracing::error;

use super::counters::CollectCounters;
use crate::archive::AnomalyKind;
use edgeproof::metrics::names::{self, MetricDef};

fn opts(def: &MetricDef) -> Opts {
    Opts::new(def.name, def.help)
}

fn counter(registry: &Registry, def: &MetricDef, c: &AtomicU64) -> prometheus::Result<()> {
    let m = IntCounter::with_opts(opts(def))?;
    m.inc_by(CollectCounters::get(c));
    registry.register(Box::new(m))
}

fn snapshot(c: &CollectCounters) -> prometheus::Result<Registry> {
    let registry = Registry::new();
    counter(&registry, &names::COLLECT_MESSAGES, &c.messages)?;
    counter(&registry, &names::COLLECT_STORED, &c.stored)?;
    counter(&registry, &names::COLLECT_DUPLICATES, &c.duplicates)?;
    counter(&registry, &names::COLLECT_CHECKPOINTS, &c.checkpoints)?;
    counter(&registry, &names::COLLECT_BATCHES, &c.batches)?;
    counter(&registry, &names::COLLECT_DB_ERRORS, &c.commit_failures)?;
    let def = names::COLLECT_ANOMALIES;
    let anomalies = IntCounterVec::new(opts(&def), def.labels)?;
    for (kind, n) in AnomalyKind::ALL.iter().zip(&c.anomalies_by_kind) {
        anomalies.with_label_values(&[kind.as_str()]).inc_by(CollectCounters::get(n));
    }
    registry.register(Box::new(anomalies))?;
    Ok(registry)
}

/// Prometheus text of the collector's counters now.
pub fn render(counters: &CollectCounters) -> String {
    let mut out = String::new();
    // Fails only for an invalid or duplicate name in names.rs (a bug the test below catches).
    let encoded =
        snapshot(counters).and_then(|r| TextEncoder::new().encode_utf8(&r.gather(), &mut out));
    if let Err(e) = encoded {
        error!("collect: cannot render metrics: {e}");
    }
    out
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::archive::BatchOutcome;

    #[test]
    fn every_collect_family_and_kind_is_rendered_with_the_counters_values() {
        let c = CollectCounters::default();
        c.messages.fetch_add(7, std::sync::atomic::Ordering::Relaxed);
        c.add(&BatchOutcome {
            stored: 4,
            duplicates: 1,
            checkpoints: 1,
            anomalies: 1,
            anomalies_by_kind: BTreeMap::from([(AnomalyKind::BadSignature, 1)]),
            missing: 0,
        });
        let text = render(&c);
        for def in names::COLLECT {
            assert!(
                text.contains(&format!("# TYPE {} ", def.name)),
                "{} missing:\n{text}",
                def.name
            );
        }
        for k in AnomalyKind::ALL {
            assert!(text.contains(&format!("kind=\"{}\"", k.as_str())), "{k:?} missing:\n{text}");
        }
        for line in [
            "edgeproof_collect_messages_total 7",
            "edgeproof_collect_records_stored_total 4",
            "edgeproof_collect_duplicates_total 1",
            "edgeproof_collect_checkpoints_stored_total 1",
            "edgeproof_collect_batches_committed_total 1",
            "edgeproof_collect_db_errors_total 0",
            "edgeproof_collect_anomalies_total{kind=\"bad_signature\"} 1",
            "edgeproof_collect_anomalies_total{kind=\"conflict\"} 0",
        ] {
            assert!(text.contains(line), "{line} missing:\n{text}");
        }
    }
}
