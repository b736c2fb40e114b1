//! Whether the pipeline is alive, judged from real progress: the counters the stages already
//! keep, read at each watchdog tick.
//!
//! A stage is **alive** when it moved recently, or when it has nothing to do:
//!
//! | stage | progress | idle (nothing expected) | allowance |
//! |---|---|---|---|
//! | each Modbus TCP device task | batches handed to the journal: one per wake-up, bad samples included (a dead device is not a hung task) | a device with no points | 2 × its longest poll interval + timeout × (requests per cycle + 1) + [`SLACK`] |
//! | journal writer | entries committed, or commits that failed (a full disk is not a hang) | nothing queued | max([`JOURNAL_MIN`], 50 × `flush_interval`) |
//! | publisher loop | messages published or acknowledged, connections made or failed | connected with an empty journal | max([`PUBLISH_MIN`], 3 × `keep_alive`) |
//!
//! A stage that neither moved nor was idle for longer than its allowance is **stalled**; one
//! stalled stage makes the pipeline stalled. The allowances are generous on purpose: a
//! restart is the cure for a wedged task (a deadlock, a read that never returns, a dead
//! thread), not for a slow device or an unreachable broker, which the stages already handle
//! with timeouts and backoff. The publisher's own PUBACK timeout (60 s) drops a connection on
//! which nothing is acknowledged, so [`PUBLISH_MIN`] is longer than that.
//!
//! Device tasks of other protocols are not judged yet: an OPC UA subscription sends a batch
//! only when a value changes, so "no batch" does not mean "hung" there; each protocol defines
//! its own progress in [`device_allowance`] when it needs watching.
//!
//! [`Liveness`] is the pure state machine (fed [`Progress`] snapshots and instants);
//! [`PipelineProbe`] reads the snapshots from the live counters; [`PollProgress`] and
//! [`CountingSink`] give each device task a batch counter.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::config::{Config, Device, DeviceProtocol};
use crate::journal::JournalCounters;
use crate::model::Batch;
use crate::publish::PublishCounters;
use crate::source::modbus::plan;
use crate::source::BatchSink;

/// Added to every device allowance: scheduling delays on a loaded two-core gateway.
pub const SLACK: Duration = Duration::from_secs(10);
/// The journal writer may commit nothing for this long while samples are queued.
pub const JOURNAL_MIN: Duration = Duration::from_secs(60);
/// The publisher may move nothing for this long while it has work.
pub const PUBLISH_MIN: Duration = Duration::from_secs(120);

/// One device task's progress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceProgress {
    /// Device name.
    pub name: Arc<str>,
    /// Batches the task handed on since it started (one per poll wake-up).
    pub batches: u64,
    /// How long the task may finish no cycle before it counts as stalled.
    pub allowance: Duration,
}

/// The journal writer's progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct JournalProgress {
    /// Entries committed, plus commits that failed: anything the writer finished.
    pub commits: u64,
    /// Samples accepted but not yet committed.
    pub queued_samples: u64,
}

/// The publisher's progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PublishProgress {
    /// Publishes, PUBACKs, connections made and connection attempts failed, summed.
    pub moves: u64,
    /// A broker connection is up.
    pub connected: bool,
    /// The journal holds unacknowledged entries.
    pub has_work: bool,
}

/// Every stage's progress at one moment.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Progress {
    /// Device tasks that are expected to poll.
    pub devices: Vec<DeviceProgress>,
    /// The journal writer.
    pub journal: JournalProgress,
    /// The publisher, when `[mqtt]` is configured.
    pub publish: Option<PublishProgress>,
}

/// A stage that stopped moving.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stall {
    /// A device task handed on no batch.
    Device {
        /// Device name.
        name: Arc<str>,
        /// For how long.
        idle: Duration,
    },
    /// The journal committed nothing while samples were queued.
    Journal {
        /// For how long.
        idle: Duration,
        /// Samples waiting.
        queued_samples: u64,
    },
    /// The publisher published, acknowledged and connected nothing while it had work.
    Publisher {
        /// For how long.
        idle: Duration,
    },
}

impl fmt::Display for Stall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = |d: &Duration| d.as_secs();
        match self {
            Stall::Device { name, idle } => {
                write!(f, "device {name}: no poll cycle delivered a batch for {} s", secs(idle))
            }
            Stall::Journal { idle, queued_samples } => write!(
                f,
                "journal: nothing committed for {} s with {queued_samples} samples queued",
                secs(idle)
            ),
            Stall::Publisher { idle } => write!(
                f,
                "publisher: nothing published, acknowledged or (re)connected for {} s",
                secs(idle)
            ),
        }
    }
}

/// Allowances that do not depend on one device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Allowances {
    /// For the journal writer.
    pub journal: Duration,
    /// For the publisher loop.
    pub publish: Duration,
}

impl Allowances {
    /// The allowances for `cfg` (see the module docs).
    pub fn for_config(cfg: &Config) -> Allowances {
        let journal = JOURNAL_MIN.max(cfg.journal.flush_interval.saturating_mul(50));
        let publish = cfg
            .mqtt
            .as_ref()
            .map_or(PUBLISH_MIN, |m| PUBLISH_MIN.max(m.keep_alive.saturating_mul(3)));
        Allowances { journal, publish }
    }
}

/// How long `device`'s task may hand on no batch; `None` when it is not judged (no points, or
/// a protocol whose progress is not defined yet: see the module docs).
pub fn device_allowance(device: &Device) -> Option<Duration> {
    // Other protocols: not judged until they define their progress (see the module docs).
    match &device.protocol {
        DeviceProtocol::ModbusTcp(m) => {
            let read_plan = plan(&m.points, &m.limits);
            let longest = read_plan.groups.iter().map(|g| g.poll).max()?;
            let requests = u32::try_from(read_plan.requests_per_cycle()).unwrap_or(u32::MAX);
            Some(
                longest
                    .saturating_mul(2)
                    .saturating_add(m.timeout.saturating_mul(requests.saturating_add(1)))
                    .saturating_add(SLACK),
            )
        }
        _ => None,
    }
}

#[derive(Debug, Clone, Copy)]
struct Seen {
    value: u64,
    since: Instant,
}

impl Seen {
    /// Records `value` at `now`; `idle` restarts the clock as progress does.
    fn update(&mut self, value: u64, idle: bool, now: Instant) -> Duration {
        if value != self.value || idle {
            self.value = value;
            self.since = now;
        }
        now.saturating_duration_since(self.since)
    }
}

/// The liveness judgement: remembers when each stage last moved.
#[derive(Debug)]
pub struct Liveness {
    allowances: Allowances,
    devices: HashMap<Arc<str>, Seen>,
    journal: Option<Seen>,
    publish: Option<Seen>,
}

impl Liveness {
    /// Nothing seen yet: every stage's clock starts at its first observation.
    pub fn new(allowances: Allowances) -> Liveness {
        Liveness { allowances, devices: HashMap::new(), journal: None, publish: None }
    }

    /// Replaces the allowances (after a reload).
    pub fn set_allowances(&mut self, allowances: Allowances) {
        self.allowances = allowances;
    }

    /// Takes in `progress` seen at `now`; returns every stalled stage (empty: alive).
    pub fn observe(&mut self, now: Instant, progress: &Progress) -> Vec<Stall> {
        let mut stalls = Vec::new();
        let first = |value| Seen { value, since: now };

        // Devices come and go with reloads: forget the ones no longer reported.
        self.devices.retain(|name, _| progress.devices.iter().any(|d| d.name == *name));
        for d in &progress.devices {
            let seen = self.devices.entry(d.name.clone()).or_insert_with(|| first(d.batches));
            let idle = seen.update(d.batches, false, now);
            if idle > d.allowance {
                stalls.push(Stall::Device { name: d.name.clone(), idle });
            }
        }

        let j = progress.journal;
        let seen = self.journal.get_or_insert_with(|| first(j.commits));
        let idle = seen.update(j.commits, j.queued_samples == 0, now);
        if idle > self.allowances.journal {
            stalls.push(Stall::Journal { idle, queued_samples: j.queued_samples });
        }

        match progress.publish {
            Some(p) => {
                let seen = self.publish.get_or_insert_with(|| first(p.moves));
                let idle = seen.update(p.moves, p.connected && !p.has_work, now);
                if idle > self.allowances.publish {
                    stalls.push(Stall::Publisher { idle });
                }
            }
            None => self.publish = None,
        }
        stalls
    }
}

/// Per-device batch counters, registered when a device task starts and removed when it
/// stops. Shared between the agent (which starts and stops tasks) and the watchdog.
#[derive(Debug, Default)]
pub struct PollProgress {
    devices: Mutex<Watched>,
}

/// Device name → (its batch counter, its allowance).
type Watched = BTreeMap<Arc<str>, (Arc<AtomicU64>, Duration)>;

impl PollProgress {
    /// An empty registry.
    pub fn new() -> PollProgress {
        PollProgress::default()
    }

    /// Starts watching `name` with `allowance`; returns the counter its task increments.
    pub fn register(&self, name: Arc<str>, allowance: Duration) -> Arc<AtomicU64> {
        let counter = Arc::new(AtomicU64::new(0));
        self.lock().insert(name, (counter.clone(), allowance));
        counter
    }

    /// Stops watching `name`.
    pub fn unregister(&self, name: &str) {
        self.lock().remove(name);
    }

    /// Every watched device's progress.
    pub fn snapshot(&self) -> Vec<DeviceProgress> {
        self.lock()
            .iter()
            .map(|(name, (batches, allowance))| DeviceProgress {
                name: name.clone(),
                batches: batches.load(Relaxed),
                allowance: *allowance,
            })
            .collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Watched> {
        // A panic while holding this lock leaves a plain map behind; keep using it.
        self.devices.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Wraps a device task's sink and counts the batches it hands on.
pub struct CountingSink {
    inner: Arc<dyn BatchSink>,
    batches: Arc<AtomicU64>,
}

impl CountingSink {
    /// Counts into `batches`, then passes every batch on to `inner`.
    pub fn new(inner: Arc<dyn BatchSink>, batches: Arc<AtomicU64>) -> CountingSink {
        CountingSink { inner, batches }
    }
}

impl BatchSink for CountingSink {
    fn send(&self, batch: Batch) {
        self.batches.fetch_add(1, Relaxed);
        self.inner.send(batch);
    }
}

/// Reads [`Progress`] from the live counters of a running agent.
#[derive(Debug, Clone)]
pub struct PipelineProbe {
    /// The journal's counters.
    pub journal: Arc<JournalCounters>,
    /// The publisher's counters, when `[mqtt]` is configured.
    pub publish: Option<Arc<PublishCounters>>,
    /// The device tasks' cycle counters.
    pub polls: Arc<PollProgress>,
}

impl PipelineProbe {
    /// Every stage's progress now.
    pub fn read(&self) -> Progress {
        let j = self.journal.snapshot();
        Progress {
            devices: self.polls.snapshot(),
            journal: JournalProgress {
                commits: j.appended_entries.wrapping_add(j.commit_errors),
                queued_samples: j.queued_samples,
            },
            publish: self.publish.as_ref().map(|p| {
                let p = p.snapshot();
                PublishProgress {
                    moves: p
                        .published
                        .wrapping_add(p.acknowledged)
                        .wrapping_add(p.connects)
                        .wrapping_add(p.connect_failures),
                    connected: p.connected == 1,
                    has_work: j.entries > 0,
                }
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALLOW: Allowances =
        Allowances { journal: Duration::from_secs(60), publish: Duration::from_secs(120) };

    fn device(batches: u64) -> DeviceProgress {
        DeviceProgress { name: "press-01".into(), batches, allowance: Duration::from_secs(30) }
    }

    fn progress(
        dev: u64,
        commits: u64,
        queued: u64,
        publish: Option<(u64, bool, bool)>,
    ) -> Progress {
        Progress {
            devices: vec![device(dev)],
            journal: JournalProgress { commits, queued_samples: queued },
            publish: publish.map(|(moves, connected, has_work)| PublishProgress {
                moves,
                connected,
                has_work,
            }),
        }
    }

    /// Observes `first` at t = 0 and `then` at t = `after` seconds; returns the stalls' kinds.
    fn judge(first: Progress, then: Progress, after: u64) -> Vec<&'static str> {
        let t0 = Instant::now();
        let mut l = Liveness::new(ALLOW);
        assert!(l.observe(t0, &first).is_empty(), "nothing is stalled at the first look");
        l.observe(t0 + Duration::from_secs(after), &then)
            .iter()
            .map(|s| match s {
                Stall::Device { .. } => "device",
                Stall::Journal { .. } => "journal",
                Stall::Publisher { .. } => "publisher",
            })
            .collect()
    }

    #[test]
    fn stalls_are_judged_per_stage() {
        let busy = Some((10, true, true));
        let cases: &[(&str, Progress, Progress, u64, &[&str])] = &[
            (
                "everything moved",
                progress(1, 1, 5, busy),
                progress(9, 9, 5, Some((20, true, true))),
                600,
                &[],
            ),
            (
                "device quiet within its allowance",
                progress(1, 1, 0, None),
                progress(1, 1, 0, None),
                30,
                &[],
            ),
            (
                "device quiet past its allowance",
                progress(1, 1, 0, None),
                progress(1, 1, 0, None),
                31,
                &["device"],
            ),
            (
                "journal idle with an empty queue",
                progress(1, 1, 0, None),
                progress(2, 1, 0, None),
                600,
                &[],
            ),
            (
                "journal stuck with samples queued",
                progress(1, 1, 7, None),
                progress(2, 1, 7, None),
                61,
                &["journal"],
            ),
            (
                "journal only failing commits: alive",
                progress(1, 1, 7, None),
                progress(2, 2, 7, None),
                600,
                &[],
            ),
            (
                "publisher connected and idle",
                progress(1, 1, 0, Some((3, true, false))),
                progress(2, 1, 0, Some((3, true, false))),
                600,
                &[],
            ),
            (
                "publisher connected with work, stuck",
                progress(1, 1, 0, busy),
                progress(2, 1, 0, busy),
                121,
                &["publisher"],
            ),
            (
                "publisher retrying connects: alive",
                progress(1, 1, 0, Some((3, false, true))),
                progress(2, 1, 0, Some((4, false, true))),
                600,
                &[],
            ),
            (
                "publisher reconnect loop stuck",
                progress(1, 1, 0, Some((3, false, false))),
                progress(2, 1, 0, Some((3, false, false))),
                121,
                &["publisher"],
            ),
            (
                "all three stuck",
                progress(1, 1, 7, busy),
                progress(1, 1, 7, busy),
                200,
                &["device", "journal", "publisher"],
            ),
        ];
        for (case, first, then, after, want) in cases {
            assert_eq!(judge(first.clone(), then.clone(), *after), *want, "{case}");
        }
    }

    #[test]
    fn a_device_added_by_a_reload_starts_its_own_clock() {
        let t0 = Instant::now();
        let mut l = Liveness::new(ALLOW);
        let mut p = progress(1, 1, 0, None);
        l.observe(t0, &p);
        p.devices[0].batches = 2;
        p.devices.push(DeviceProgress {
            name: "meter-01".into(),
            batches: 0,
            allowance: Duration::from_secs(30),
        });
        assert!(l.observe(t0 + Duration::from_secs(25), &p).is_empty(), "meter-01 first seen");
        p.devices[0].batches = 3;
        let stalls = l.observe(t0 + Duration::from_secs(56), &p);
        assert_eq!(stalls.len(), 1, "{stalls:?}");
        assert!(
            stalls[0].to_string().starts_with("device meter-01: no poll cycle delivered"),
            "{}",
            stalls[0]
        );
    }

    #[test]
    fn poll_progress_counts_through_the_sink() {
        struct Nowhere;
        impl BatchSink for Nowhere {
            fn send(&self, _: Batch) {}
        }
        let polls = PollProgress::new();
        let counter = polls.register("press-01".into(), Duration::from_secs(5));
        let sink = CountingSink::new(Arc::new(Nowhere), counter);
        let batch = || Batch { device: "press-01".into(), ts_ms: 0, samples: Vec::new() };
        sink.send(batch());
        sink.send(batch());
        assert_eq!(polls.snapshot()[0].batches, 2);
        polls.unregister("press-01");
        assert!(polls.snapshot().is_empty());
    }
}
