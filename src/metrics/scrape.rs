//! Metrics read at scrape time from the atomics other stages keep: the journal's
//! [`JournalCounters`] and the publisher's [`PublishCounters`]. Those stages do not depend on prometheus; they count into plain
//! atomics and this collector turns one snapshot per scrape into metric families. Reading the
//! value itself (rather than copying deltas into prometheus counters) means nothing can drift
//! or be counted twice, and a stage that is restarted with fresh counters shows up as an
//! ordinary counter reset.
//!
//! A stage that is not attached exports nothing (absent, not a fake 0).

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use prometheus::core::{Collector, Desc};
use prometheus::proto::{self, MetricFamily, MetricType};

use super::names::{self, Kind, MetricDef};
use crate::journal::{CountersSnapshot, JournalCounters};
use crate::model::now_ms;
use crate::publish::counters::{PublishCounters, PublishSnapshot};

/// The counters of the stages attached so far; swapped when a stage is (re)started.
#[derive(Debug, Default)]
pub(super) struct Attached {
    pub(super) journal: Mutex<Option<Arc<JournalCounters>>>,
    pub(super) publish: Mutex<Option<Arc<PublishCounters>>>,
}

/// A poisoned lock only means another thread panicked while swapping an `Arc`; the value is
/// still a valid `Option<Arc<_>>`.
pub(super) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The registered collector.
pub(super) struct ScrapeCollector {
    attached: Arc<Attached>,
    descs: Vec<Desc>,
}

impl ScrapeCollector {
    pub(super) fn new(attached: Arc<Attached>) -> prometheus::Result<Self> {
        // The defs come from the same functions `collect` uses, so the two cannot disagree.
        let journal = journal_values(&CountersSnapshot::default(), 0).map(|(def, _)| def);
        let publish = publish_values(&PublishSnapshot::default()).map(|(def, _)| def);
        let descs = journal
            .iter()
            .chain(&publish)
            .map(|d| Desc::new(d.name.into(), d.help.into(), Vec::new(), Default::default()))
            .collect::<prometheus::Result<_>>()?;
        Ok(Self { attached, descs })
    }
}

impl Collector for ScrapeCollector {
    fn desc(&self) -> Vec<&Desc> {
        self.descs.iter().collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let mut out = Vec::new();
        let journal = lock(&self.attached.journal).clone();
        if let Some(j) = journal {
            out.extend(journal_values(&j.snapshot(), now_ms()).iter().map(|(d, v)| family(d, *v)));
        }
        let publish = lock(&self.attached.publish).clone();
        if let Some(p) = publish {
            out.extend(publish_values(&p.snapshot()).iter().map(|(d, v)| family(d, *v)));
        }
        out
    }
}

/// Every journal figure with the metric it is exported as; `now_ms` dates the oldest entry.
pub(super) fn journal_values(s: &CountersSnapshot, now_ms: u64) -> [(MetricDef, f64); 18] {
    [
        (names::JOURNAL_ENTRIES, s.entries as f64),
        (names::JOURNAL_SAMPLES, s.samples as f64),
        (names::JOURNAL_BYTES, s.used_bytes as f64),
        (names::JOURNAL_FILE_BYTES, s.file_bytes as f64),
        (names::JOURNAL_OLDEST_AGE, oldest_age_seconds(s.oldest_ts_ms, now_ms)),
        (names::JOURNAL_QUEUED_SAMPLES, s.queued_samples as f64),
        (names::JOURNAL_COMMITTED_SEQ, s.committed_seq as f64),
        (names::JOURNAL_APPENDED_ENTRIES, s.appended_entries as f64),
        (names::JOURNAL_APPENDED_SAMPLES, s.appended_samples as f64),
        (names::JOURNAL_ACKED_ENTRIES, s.acked_entries as f64),
        (names::JOURNAL_ACKED_SAMPLES, s.acked_samples as f64),
        (names::JOURNAL_DROPPED_ENTRIES, s.dropped_entries_total as f64),
        (names::JOURNAL_DROPPED_SAMPLES, s.dropped_samples_total as f64),
        (names::JOURNAL_QUEUE_FULL_DROPS, s.queue_full_entries as f64),
        (names::JOURNAL_QUEUE_FULL_SAMPLES, s.queue_full_samples as f64),
        (names::JOURNAL_UNDECODABLE, s.undecodable_entries as f64),
        (names::JOURNAL_COMMIT_ERRORS, s.commit_errors as f64),
        (names::JOURNAL_DISK_FULL, s.disk_full as f64),
    ]
}

/// Seconds since `oldest_ts_ms`; 0 for an empty journal (timestamp 0) and for an entry
/// stamped in the future (the clock was stepped back), so the gauge never goes negative.
pub(super) fn oldest_age_seconds(oldest_ts_ms: u64, now_ms: u64) -> f64 {
    if oldest_ts_ms == 0 {
        return 0.0;
    }
    now_ms.saturating_sub(oldest_ts_ms) as f64 / 1000.0
}

/// Every publisher figure with the metric it is exported as.
fn publish_values(s: &PublishSnapshot) -> [(MetricDef, f64); 7] {
    [
        (names::PUBLISH_PUBLISHED, s.published as f64),
        (names::PUBLISH_ACKNOWLEDGED, s.acknowledged as f64),
        (names::PUBLISH_BYTES, s.bytes as f64),
        (names::PUBLISH_IN_FLIGHT, s.in_flight as f64),
        (names::PUBLISH_CONNECTED, s.connected as f64),
        (names::PUBLISH_RECONNECTS, s.reconnects as f64),
        (names::PUBLISH_CONNECT_FAILURES, s.connect_failures as f64),
    ]
}

/// One unlabelled counter or gauge family holding `value`.
fn family(def: &MetricDef, value: f64) -> MetricFamily {
    let mut metric = proto::Metric::default();
    let kind = match def.kind {
        Kind::Counter => {
            let mut c = proto::Counter::default();
            c.set_value(value);
            metric.set_counter(c);
            MetricType::COUNTER
        }
        // Scrape-time values are never histograms; a def marked so is exported as a gauge
        // rather than panicking in a scrape.
        Kind::Gauge | Kind::Histogram => {
            let mut g = proto::Gauge::default();
            g.set_value(value);
            metric.set_gauge(g);
            MetricType::GAUGE
        }
    };
    let mut mf = MetricFamily::default();
    mf.set_name(def.name.to_owned());
    mf.set_help(def.help.to_owned());
    mf.set_field_type(kind);
    mf.set_metric(vec![metric]);
    mf
}
