//! Per-witness metrics, pushed by the witness submission tasks: submissions by result and
//! the size last cosigned. The task logs each event with its detail (sizes, status, error);
//! these handles only count, with the witness URL as the label.

use prometheus::{IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry};

use super::names;

/// The labelled families for all witnesses, registered once per [`super::Metrics`].
#[derive(Clone)]
pub(super) struct WitnessFamilies {
    submissions: IntCounterVec,
    cosigned: IntGaugeVec,
}

impl WitnessFamilies {
    pub(super) fn register(registry: &Registry) -> prometheus::Result<Self> {
        let d = names::WITNESS_SUBMISSIONS;
        let submissions = IntCounterVec::new(Opts::new(d.name, d.help), d.labels)?;
        registry.register(Box::new(submissions.clone()))?;
        let d = names::WITNESS_COSIGNED_SIZE;
        let cosigned = IntGaugeVec::new(Opts::new(d.name, d.help), d.labels)?;
        registry.register(Box::new(cosigned.clone()))?;
        Ok(Self { submissions, cosigned })
    }

    pub(super) fn witness(&self, url: &str) -> WitnessMetrics {
        WitnessMetrics {
            results: names::WITNESS_RESULTS.map(|r| self.submissions.with_label_values(&[url, r])),
            cosigned: self.cosigned.with_label_values(&[url]),
        }
    }
}

/// One witness's handles. Cheap to clone.
#[derive(Clone, Debug)]
pub struct WitnessMetrics {
    /// Indexed like [`names::WITNESS_RESULTS`].
    results: [IntCounter; 3],
    cosigned: IntGauge,
}

impl WitnessMetrics {
    /// Counts a submission that was cosigned, at tree size `size`.
    pub fn ok(&self, size: u64) {
        self.results[0].inc();
        self.ok_size(size);
    }

    /// Sets the size the witness last cosigned (also at start, from the log).
    pub fn ok_size(&self, size: u64) {
        self.cosigned.set(i64::try_from(size).unwrap_or(i64::MAX));
    }

    /// Counts a submission the witness refused.
    pub fn refused(&self) {
        self.results[1].inc();
    }

    /// Counts a submission without a usable answer.
    pub fn failed(&self) {
        self.results[2].inc();
    }
}
