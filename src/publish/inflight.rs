//! The PUBACK ↔ journal correlation, as a pure state machine with no I/O.
//!
//! rumqttc's `AsyncClient::try_publish` does not say which packet id a publish will get, so
//! the publisher learns the mapping from the event stream. This type holds, for ONE broker
//! connection (one `AsyncClient` + `EventLoop` pair):
//!
//! - `queued`: publishes handed to the client, in the order they were handed over, that the
//!   event loop has not yet put on the wire;
//! - `sent`: packet id → publish, for publishes the event loop reported as
//!   `Outgoing::Publish(pkid)` and that have no PUBACK yet.
//!
//! Transitions (the module docs of [`crate::publish`] prove why they are right):
//!
//! | input | effect |
//! |---|---|
//! | [`Inflight::queue`] | push the tag at the back of `queued` |
//! | [`Inflight::on_sent`]`(pkid)` | pop the FRONT of `queued`, file it under `pkid` in `sent` |
//! | [`Inflight::on_puback`]`(pkid)` | remove and return what `sent` holds under `pkid` |
//! | [`Inflight::reset`] | forget everything (the connection is gone) |
//!
//! Anything that contradicts the model — a send with nothing queued, a packet id that is
//! still in use, packet id 0 — is a [`CorrelationError`]: the publisher then drops the
//! connection and resends from the journal, because guessing could release the wrong entry.
//! A PUBACK for a packet id we do not hold releases nothing ([`Released::Unknown`]).

use std::collections::{HashMap, VecDeque};

use super::payload::Presence;

/// What one publish handed to the MQTT client carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tag {
    /// A data message for the journal entry with this seq.
    Data(u64),
    /// A retained status message; occupies a place in the FIFO like any other publish.
    Status(Presence),
    /// An evidence record with this evidence seq (its own numbering, not the journal's).
    Evidence(u64),
    /// A retained checkpoint of this tree size.
    Checkpoint(u64),
}

/// The outcome of a PUBACK.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Released {
    /// The journal entry with this seq is now acknowledged by the broker.
    Data(u64),
    /// A status message was acknowledged.
    Status(Presence),
    /// The evidence record with this seq is now acknowledged by the broker.
    Evidence(u64),
    /// The checkpoint of this tree size was acknowledged.
    Checkpoint(u64),
    /// No publish on this connection holds that packet id; nothing is released.
    Unknown,
}

/// The event stream contradicts the FIFO model; the connection must be dropped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CorrelationError {
    /// `Outgoing::Publish` arrived but nothing was handed to the client.
    #[error("MQTT client sent a PUBLISH with packet id {pkid} that this publisher never queued")]
    NothingQueued {
        /// The packet id in the event.
        pkid: u16,
    },
    /// `Outgoing::Publish(pkid)` arrived while `pkid` still maps to an unacknowledged publish.
    #[error(
        "MQTT client reused packet id {pkid} for {next:?} while {held:?} still waits for its PUBACK"
    )]
    PacketIdInUse {
        /// The packet id in the event.
        pkid: u16,
        /// What the packet id maps to now.
        held: Tag,
        /// What the event would have mapped it to.
        next: Tag,
    },
    /// A QoS 1 publish always has a non-zero packet id (MQTT 3.1.1 §2.3.1).
    #[error("MQTT client sent a QoS 1 PUBLISH with packet id 0")]
    ZeroPacketId,
}

/// Correlation state for one broker connection.
#[derive(Debug, Default)]
pub struct Inflight {
    queued: VecDeque<Tag>,
    sent: HashMap<u16, Tag>,
    data: usize,
    evidence: usize,
}

impl Inflight {
    /// Empty: a fresh connection.
    pub fn new() -> Self {
        Self::default()
    }

    /// A publish carrying `tag` was handed to the client (`try_publish` returned `Ok`).
    pub fn queue(&mut self, tag: Tag) {
        match tag {
            Tag::Data(_) => self.data += 1,
            Tag::Evidence(_) => self.evidence += 1,
            Tag::Status(_) | Tag::Checkpoint(_) => {}
        }
        self.queued.push_back(tag);
    }

    /// The event loop reported `Outgoing::Publish(pkid)`: the oldest queued publish went out
    /// under `pkid`. On error nothing changes.
    pub fn on_sent(&mut self, pkid: u16) -> Result<Tag, CorrelationError> {
        if pkid == 0 {
            return Err(CorrelationError::ZeroPacketId);
        }
        let Some(&next) = self.queued.front() else {
            return Err(CorrelationError::NothingQueued { pkid });
        };
        if let Some(&held) = self.sent.get(&pkid) {
            return Err(CorrelationError::PacketIdInUse { pkid, held, next });
        }
        self.queued.pop_front();
        self.sent.insert(pkid, next);
        Ok(next)
    }

    /// The broker sent `PUBACK(pkid)`: release exactly the publish filed under `pkid`, and
    /// free the packet id for reuse.
    pub fn on_puback(&mut self, pkid: u16) -> Released {
        match self.sent.remove(&pkid) {
            Some(Tag::Data(seq)) => {
                self.data -= 1;
                Released::Data(seq)
            }
            Some(Tag::Status(p)) => Released::Status(p),
            Some(Tag::Evidence(seq)) => {
                self.evidence -= 1;
                Released::Evidence(seq)
            }
            Some(Tag::Checkpoint(size)) => Released::Checkpoint(size),
            None => Released::Unknown,
        }
    }

    /// Publishes handed to the client and not acknowledged, data and status.
    pub fn len(&self) -> usize {
        self.queued.len() + self.sent.len()
    }

    /// True when nothing is waiting for a PUBACK.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Data publishes handed to the client and not acknowledged.
    pub fn data_len(&self) -> usize {
        self.data
    }

    /// Evidence records handed to the client and not acknowledged.
    pub fn evidence_len(&self) -> usize {
        self.evidence
    }

    /// True while the given status message waits for its PUBACK.
    pub fn status_pending(&self, presence: Presence) -> bool {
        let tag = Tag::Status(presence);
        self.queued.contains(&tag) || self.sent.values().any(|t| *t == tag)
    }

    /// The connection is gone: forget every mapping. Returns the data seqs that were in
    /// flight (in no particular order); they stay in the journal and are read again (so do
    /// unacknowledged evidence records, which are not returned).
    pub fn reset(&mut self) -> Vec<u64> {
        let unacked = self
            .queued
            .drain(..)
            .chain(self.sent.drain().map(|(_, t)| t))
            .filter_map(|t| match t {
                Tag::Data(seq) => Some(seq),
                Tag::Status(_) | Tag::Evidence(_) | Tag::Checkpoint(_) => None,
            })
            .collect();
        self.data = 0;
        self.evidence = 0;
        unacked
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Presence::{Offline, Online};

    /// One step of an event script.
    #[derive(Debug, Clone, Copy)]
    enum Step {
        Queue(Tag),
        Sent(u16),
        Ack(u16),
    }
    use Step::{Ack, Queue, Sent};

    /// What a step should produce.
    #[derive(Debug, Clone, PartialEq)]
    enum Out {
        Queued,
        Mapped(Tag),
        Rejected(CorrelationError),
        Released(Released),
    }

    fn run(steps: &[Step]) -> (Vec<Out>, Inflight) {
        let mut s = Inflight::new();
        let out = steps
            .iter()
            .map(|step| match *step {
                Queue(t) => {
                    s.queue(t);
                    Out::Queued
                }
                Sent(p) => match s.on_sent(p) {
                    Ok(t) => Out::Mapped(t),
                    Err(e) => Out::Rejected(e),
                },
                Ack(p) => Out::Released(s.on_puback(p)),
            })
            .collect();
        (out, s)
    }

    fn released(outs: &[Out]) -> Vec<Released> {
        outs.iter()
            .filter_map(|o| match o {
                Out::Released(r) => Some(*r),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn scripted_event_streams() {
        use Released as R;
        use Tag::{Data as D, Status as S};
        let cases: Vec<(&str, Vec<Step>, Vec<Released>, usize)> = vec![
            (
                "fifo: n-th send maps to n-th queued",
                vec![
                    Queue(D(10)),
                    Queue(D(11)),
                    Queue(D(12)),
                    Sent(1),
                    Sent(2),
                    Sent(3),
                    Ack(2),
                    Ack(1),
                    Ack(3),
                ],
                vec![R::Data(11), R::Data(10), R::Data(12)],
                0,
            ),
            (
                "sends interleaved with queueing",
                vec![
                    Queue(D(1)),
                    Sent(1),
                    Queue(D(2)),
                    Ack(1),
                    Sent(2),
                    Queue(D(3)),
                    Sent(3),
                    Ack(3),
                ],
                vec![R::Data(1), R::Data(3)],
                1,
            ),
            (
                "status publishes hold their place and do not shift data",
                vec![
                    Queue(S(Online)),
                    Queue(D(5)),
                    Queue(D(6)),
                    Sent(1),
                    Sent(2),
                    Sent(3),
                    Ack(3),
                    Ack(1),
                    Ack(2),
                ],
                vec![R::Data(6), R::Status(Online), R::Data(5)],
                0,
            ),
            (
                "status queued between data",
                vec![
                    Queue(D(5)),
                    Queue(S(Offline)),
                    Queue(D(6)),
                    Sent(4),
                    Sent(5),
                    Sent(6),
                    Ack(5),
                    Ack(6),
                    Ack(4),
                ],
                vec![R::Status(Offline), R::Data(6), R::Data(5)],
                0,
            ),
            (
                "packet id reused after its ack maps to the new entry",
                vec![Queue(D(1)), Sent(1), Ack(1), Queue(D(2)), Sent(1), Ack(1)],
                vec![R::Data(1), R::Data(2)],
                0,
            ),
            (
                "rumqttc collision: PUBACK frees the id, then the held publish goes out under it",
                // max_inflight 2: ids 1,2 in use, 2 acked out of order, next id is 1 again
                // while 1 is unacked -> rumqttc holds the publish (AwaitAck) and sends it right
                // after PUBACK(1), under id 1.
                vec![
                    Queue(D(1)),
                    Queue(D(2)),
                    Sent(1),
                    Sent(2),
                    Ack(2),
                    Queue(D(3)),
                    Ack(1),
                    Sent(1),
                    Ack(1),
                ],
                vec![R::Data(2), R::Data(1), R::Data(3)],
                0,
            ),
            (
                "duplicate puback releases nothing the second time",
                vec![Queue(D(1)), Sent(1), Ack(1), Ack(1)],
                vec![R::Data(1), R::Unknown],
                0,
            ),
            (
                "puback for an id never sent is ignored",
                vec![Queue(D(1)), Sent(1), Ack(7)],
                vec![R::Unknown],
                1,
            ),
            (
                "puback before the send event releases nothing",
                vec![Queue(D(1)), Ack(1), Sent(1)],
                vec![R::Unknown],
                1,
            ),
            (
                "u16::MAX packet id",
                vec![Queue(D(u64::MAX)), Sent(u16::MAX), Ack(u16::MAX)],
                vec![R::Data(u64::MAX)],
                0,
            ),
        ];
        for (case, steps, want, left) in cases {
            let (outs, s) = run(&steps);
            assert!(!outs.iter().any(|o| matches!(o, Out::Rejected(_))), "{case}: {outs:?}");
            assert_eq!(released(&outs), want, "{case}");
            assert_eq!(s.len(), left, "{case}: in flight afterwards");
        }
    }

    #[test]
    fn contradictions_are_errors_and_change_nothing() {
        use Tag::Data as D;
        let cases: Vec<(&str, Vec<Step>, CorrelationError)> = vec![
            (
                "send with nothing queued",
                vec![Sent(3)],
                CorrelationError::NothingQueued { pkid: 3 },
            ),
            (
                "send beyond what was queued",
                vec![Queue(D(1)), Sent(1), Sent(2)],
                CorrelationError::NothingQueued { pkid: 2 },
            ),
            (
                "packet id still in use",
                vec![Queue(D(1)), Queue(D(2)), Sent(1), Sent(1)],
                CorrelationError::PacketIdInUse { pkid: 1, held: D(1), next: D(2) },
            ),
            ("packet id zero", vec![Queue(D(1)), Sent(0)], CorrelationError::ZeroPacketId),
        ];
        for (case, steps, want) in cases {
            let (outs, s) = run(&steps);
            assert_eq!(outs.last(), Some(&Out::Rejected(want)), "{case}");
            // The rejected step left the state as it was: replaying all but the last step
            // gives the same counts.
            let (_, before) = run(&steps[..steps.len() - 1]);
            assert_eq!((s.len(), s.data_len()), (before.len(), before.data_len()), "{case}");
        }
    }

    #[test]
    fn counts_data_and_status_separately() {
        let mut s = Inflight::new();
        s.queue(Tag::Status(Online));
        s.queue(Tag::Data(1));
        s.queue(Tag::Data(2));
        assert_eq!((s.len(), s.data_len()), (3, 2));
        assert!(s.status_pending(Online));
        assert!(!s.status_pending(Offline));
        s.on_sent(1).unwrap();
        s.on_sent(2).unwrap();
        assert_eq!(s.on_puback(1), Released::Status(Online));
        assert!(!s.status_pending(Online));
        assert_eq!(s.on_puback(2), Released::Data(1));
        assert_eq!((s.len(), s.data_len()), (1, 1));
    }

    #[test]
    fn evidence_and_checkpoints_share_the_fifo_and_are_released_as_themselves() {
        use Released as R;
        let mut s = Inflight::new();
        s.queue(Tag::Data(7));
        s.queue(Tag::Evidence(0));
        s.queue(Tag::Checkpoint(1));
        s.queue(Tag::Evidence(1));
        assert_eq!((s.len(), s.data_len(), s.evidence_len()), (4, 1, 2));
        for pkid in 1..=4 {
            s.on_sent(pkid).unwrap();
        }
        let got: Vec<Released> = [4, 2, 3, 1].into_iter().map(|p| s.on_puback(p)).collect();
        assert_eq!(got, vec![R::Evidence(1), R::Evidence(0), R::Checkpoint(1), R::Data(7)]);
        assert_eq!((s.len(), s.data_len(), s.evidence_len()), (0, 0, 0));

        s.queue(Tag::Evidence(2));
        s.queue(Tag::Data(8));
        assert_eq!(s.reset(), vec![8], "reset returns data seqs only");
        assert_eq!(s.evidence_len(), 0);
    }

    #[test]
    fn reset_on_reconnect_forgets_everything() {
        let mut s = Inflight::new();
        for seq in 1..=4 {
            s.queue(Tag::Data(seq));
        }
        s.queue(Tag::Status(Online));
        s.on_sent(1).unwrap();
        s.on_sent(2).unwrap();
        assert_eq!(s.on_puback(1), Released::Data(1));

        let mut unacked = s.reset();
        unacked.sort_unstable();
        assert_eq!(unacked, vec![2, 3, 4]);
        assert!(s.is_empty());
        assert_eq!(s.data_len(), 0);

        // A PUBACK from the old connection's numbering must not release anything now …
        assert_eq!(s.on_puback(2), Released::Unknown);
        // … and the new connection's packet id 1 maps to the new connection's first publish.
        s.queue(Tag::Data(2));
        assert_eq!(s.on_sent(1), Ok(Tag::Data(2)));
        assert_eq!(s.on_puback(1), Released::Data(2));
    }
}
