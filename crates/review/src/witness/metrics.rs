//! The witness's metrics: a registry of its own (the agent's families make no sense here),
//! served on `GET /metrics` of the witness's port. Names in [`edgeproof::metrics::names`].

use prometheus::{IntCounter, IntCounterVec, Opts, Registry, TextEncoder};
use tracing::error;

use edgeproof::metrics::names::{self, MetricDef};

/// Counters of one witness process.
pub struct WitnessMetrics {
    registry: Registry,
    requests: IntCounterVec,
    races: IntCounter,
}

fn opts(def: &MetricDef) -> Opts {
    Opts::new(def.name, def.help)
}

impl WitnessMetrics {
    /// A fresh registry; every outcome series exists at 0.
    pub fn new() -> Self {
        // Fails only for an invalid or duplicate name in names.rs (a bug the tests catch).
        Self::try_new().expect("witness metric definitions in metrics/names.rs are valid")
    }

    fn try_new() -> prometheus::Result<Self> {
        let registry = Registry::new();
        let requests =
            IntCounterVec::new(opts(&names::WITNESS_REQUESTS), names::WITNESS_REQUESTS.labels)?;
        registry.register(Box::new(requests.clone()))?;
        for outcome in names::WITNESS_OUTCOMES {
            requests.with_label_values(&[*outcome]);
        }
        let races = IntCounter::with_opts(opts(&names::WITNESS_RACES))?;
        registry.register(Box::new(races.clone()))?;
        Ok(WitnessMetrics { registry, requests, races })
    }

    /// Counts one answered request; `outcome` is one of [`names::WITNESS_OUTCOMES`].
    pub fn request(&self, outcome: &'static str) {
        debug_assert!(names::WITNESS_OUTCOMES.contains(&outcome), "{outcome}");
        self.requests.with_label_values(&[outcome]).inc();
    }

    /// Counts one lost compare-and-swap race.
    pub fn race(&self) {
        self.races.inc();
    }

    /// Prometheus text.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if let Err(e) = TextEncoder::new().encode_utf8(&self.registry.gather(), &mut out) {
            error!("witness: cannot encode metrics: {e}");
        }
        out
    }
}

impl Default for WitnessMetrics {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_witness_family_and_outcome_is_rendered() {
        let m = WitnessMetrics::new();
        m.request("fork");
        m.race();
        let text = m.render();
        for def in names::WITNESS {
            assert!(
                text.contains(&format!("# TYPE {} ", def.name)),
                "{} missing:\n{text}",
                def.name
            );
        }
        for o in names::WITNESS_OUTCOMES {
            assert!(text.contains(&format!("outcome=\"{o}\"")), "{o} missing:\n{text}");
        }
        assert!(text.contains("edgeproof_witness_requests_total{outcome=\"fork\"} 1"), "{text}");
        assert!(text.contains("edgeproof_witness_races_total 1"), "{text}");
    }
}
