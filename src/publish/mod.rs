//! Northbound: publishes journal entries to an MQTT broker (MQTT 3.1.1, QoS 1, rumqttc +
//! rustls) and releases each entry from the journal only when the broker's PUBACK for exactly
//! that entry has arrived.
//!
//! # What happens behind the scenes
//!
//! 1. [`Publisher::new`] compiles `[mqtt]` once: rumqttc options (clean session, keep-alive,
//!    `max_inflight`, Last Will `offline` retained QoS 1 on `<prefix>/status`), the password
//!    (`password_file` read now), the rustls config (ring provider only; server verification
//!    against `ca_file` or the system bundle; mTLS with `cert_file` + `key_file`). A bad file
//!    or `protocol = "v5"` is a [`PublishError`] here; nothing at run time is.
//! 2. [`Publisher::run`] opens a connection: a **fresh** `AsyncClient` + `EventLoop`, the event
//!    loop polled by its own task which forwards every event, in order, over a channel.
//! 3. After CONNACK it publishes `online` (retained, QoS 1), then reads the journal from the
//!    oldest unacknowledged entry and keeps up to `max_inflight` publishes unacknowledged:
//!    one message per stored batch on `<prefix>/data/<device>` ([`payload`], [`topics`]).
//!    When the journal has nothing more it waits on the journal's commit watch.
//! 4. Each PUBACK is matched to its entry ([`inflight`]); the released seqs go to
//!    [`Backlog::ack`] in batches (every PUBACK that is ready at once, up to 256).
//! 5. Any connection error ends the connection: client, event loop, task and correlation
//!    state are dropped, the delay comes from [`crate::backoff`] (exponential with jitter, cap 30 s),
//!    and step 2 starts over. The journal keeps filling meanwhile; nothing else waits for the
//!    broker. Connect/disconnect is logged once per state change ([`link`]), each failure as
//!    one line naming the broker and the cause ([`diagnose`]), e.g.
//!    `TLS handshake with broker 10.0.0.5:8883 failed: invalid peer certificate: UnknownIssuer
//!    — check mqtt.ca_file (…)`.
//! 6. When the cancellation token fires: no new entries are taken; outstanding PUBACKs are
//!    awaited up to the drain timeout; acks are flushed; `offline` is published (retained) and
//!    awaited briefly; DISCONNECT is sent (so the broker discards the Last Will).
//!
//! A watchdog drops a connection on which messages are in flight but no PUBACK has arrived for
//! 60 s: a broker (or a middlebox) that silently swallowed a window would otherwise keep the
//! link alive through pings while nothing moves.
//!
//! The journal is reached through the small [`Backlog`] trait (read oldest unacknowledged,
//! ack, commit watch), implemented for [`crate::journal::JournalHandle`] and, for tests and
//! benches, by [`MemoryBacklog`].
//!
//! # Delivery guarantee
//!
//! At least once, in journal order per connection, without gaps. *Acknowledged* means a PUBACK
//! was received for that entry's own PUBLISH; only then is [`Backlog::ack`] called for its seq.
//! Every entry that was handed to the client but not acknowledged when a connection ends is
//! published again on the next connection (receivers de-duplicate by `seq`). If the journal
//! fails an ack, the entry stays stored and is sent again later — a duplicate, never a loss.
//!
//! # `historical`
//!
//! A data message has `"historical": true` when its batch was **committed to the journal
//! before the current broker connection was established**: its seq is ≤ the journal's
//! committed seq read right after CONNACK. So: everything left over from before a restart or
//! an outage, and everything re-sent after a reconnect, is historical; everything committed
//! while the connection is up is live (`false`), even if a slow broker makes it wait in the
//! journal for a while. The flag is decided per send, so the same seq may arrive once live and
//! later, re-sent, as historical.
//!
//! # Why a PUBACK releases exactly its own entry
//!
//! rumqttc's `publish` does not return the packet id, and the Vector MQTT sink documents that
//! it cannot trace rumqttc outcomes back to events. We derive the mapping from the event
//! stream. The argument rests on these facts about rumqttc 0.25.1 (`eventloop.rs`, `state.rs`)
//! and MQTT 3.1.1:
//!
//! - **F1 — one connection, one event loop, never re-polled after an error.** Each connection
//!   gets a new `EventLoop` (new `MqttState`, empty `pending`) with `clean_session = true`. The
//!   driver task stops polling at the first error. rumqttc replays old publishes only from
//!   `EventLoop::pending`, which `clean()` fills *on* an error for the *next* poll — a poll we
//!   never make — and a new event loop starts with it empty. So no publish from an earlier
//!   connection is ever sent, or reported, on a later one; with a clean session the broker
//!   keeps no state for us either, so it cannot acknowledge one.
//! - **F2 — one FIFO of requests.** Only this module's task sends requests to the client, over
//!   rumqttc's single flume channel, and the event loop takes them out in order
//!   (`next_request`). `try_publish` either enqueues (`Ok`, and only then do we record it) or
//!   does not. The channel holds `max_inflight + 8`, so within our window it never refuses;
//!   if it does anyway, the connection is ended rather than guessed about.
//! - **F3 — exactly one `Outgoing::Publish(pkid)` per QoS 1 publish, in request order.**
//!   `MqttState::outgoing_publish` assigns the next packet id and pushes
//!   `Event::Outgoing(Outgoing::Publish(pkid))` before the packet is written. If that id is
//!   still unacknowledged (a broker acking out of order), it instead parks the publish as
//!   `collision`, pushes `AwaitAck`, and the event loop takes **no further request** until
//!   the PUBACK for that id arrives (`select` disables the request branch while `collision` is
//!   set and `pending` is empty, which F1 guarantees); `handle_incoming_puback` then pushes
//!   `Incoming::PubAck(pkid)` followed by `Outgoing::Publish(pkid)` for the parked publish. The
//!   only other sources of `Outgoing::Publish` are `pending` replays (excluded by F1) and QoS 0
//!   publishes (we send none; packet id 0 is rejected).
//! - **F4 — events arrive in the order rumqttc produced them.** `MqttState` pushes events onto
//!   one queue and `poll` returns them front first; the driver forwards them over an ordered
//!   channel. `Outgoing::Publish(pkid)` is queued before the PUBLISH is written, hence before
//!   any PUBACK for it can be read.
//! - **F5 — PUBACKs name a publish in flight.** MQTT 3.1.1 §4.3.2: the receiver answers each
//!   QoS 1 PUBLISH with one PUBACK carrying its packet id, and §2.3.1: a packet id is reusable
//!   only after that PUBACK. rumqttc additionally fails the connection on a PUBACK whose id
//!   holds no publish (`StateError::Unsolicited`), and since we stop polling at the error, the
//!   already-queued `Incoming` event for it is never delivered.
//!
//! From F2–F4, the n-th `Outgoing::Publish` on a connection is the n-th publish we queued on
//! it. [`inflight::Inflight`] records exactly that: `queue` appends to a FIFO (status messages
//! included, so they take their place and do not shift data), `on_sent(pkid)` files the FIFO's
//! head under `pkid`, `on_puback(pkid)` removes and returns what is filed under `pkid`.
//!
//! **No entry is deleted before its own PUBACK.** A seq reaches [`Backlog::ack`] only as
//! `Released::Data(seq)` from `on_puback(pkid)`; that requires `pkid` to be filed to `seq`,
//! which happened at `seq`'s own `Outgoing::Publish(pkid)` on this connection (F2–F4), and
//! `pkid` cannot have been re-filed since — re-filing needs a new `Outgoing::Publish(pkid)`,
//! which rumqttc emits only after the PUBACK for the previous use (F3), and `on_sent` refuses
//! a `pkid` still filed (`PacketIdInUse`). A PUBACK that arrives on this connection for that
//! `pkid` therefore answers `seq`'s PUBLISH (F5). The correlation state lives and dies with the
//! connection (F1), so a PUBACK can never meet a mapping from another connection.
//!
//! **No gaps.** Entries are read in seq order and handed to the client in that order; an
//! entry leaves the journal only through such an ack (or the journal's own, counted,
//! eviction when full). At every connection end the unacknowledged entries are simply
//! forgotten here and the next connection reads again from the oldest unacknowledged one
//! (acks already received are flushed to the journal first, so they are not re-sent).
//!
//! **When the model is contradicted** — a send with nothing queued, a packet id still filed,
//! packet id 0 — [`inflight::CorrelationError`] ends the connection instead of guessing; the
//! entries are re-sent. A PUBACK for an id with nothing filed releases nothing and is logged.
//!
//! # Evidence
//!
//! With [`Publisher::with_evidence`], each connection also drains a second backlog: the stored
//! evidence records go to `<prefix>/evidence` (QoS 1, in seq order, ahead of data in the shared
//! window) and the latest signed checkpoint to `<prefix>/checkpoint` (QoS 1, retained) after
//! every connect and every new checkpoint ([`evidence`], `session/evidence.rs`). They are
//! queued as [`inflight::Tag::Evidence`] and [`inflight::Tag::Checkpoint`] in the same FIFO, so
//! the argument above holds for them word for word: a record is marked acknowledged in its
//! store only by `Released::Evidence(seq)` from the PUBACK of its own PUBLISH, and every
//! record not acknowledged when a connection ends is read again on the next. On shutdown the
//! publisher looks once more for records (the recorder's `shutdown` record and final
//! checkpoint are written just before it is stopped) and waits for their PUBACKs within the
//! same drain bound as data.
//!
//! # Not done yet
//!
//! MQTT 5 (`protocol = "v5"`) is rejected at start with a clear error.

pub mod backlog;
pub mod counters;
pub mod diagnose;
pub mod error;
pub mod evidence;
pub mod inflight;
mod journal_backlog;
pub mod link;
pub mod payload;
pub mod publisher;
mod session;
pub mod tls;
pub mod topics;

#[cfg(test)]
mod broker_tests;

pub use backlog::{Backlog, BacklogEntry, MemoryBacklog};
pub use counters::{PublishCounters, PublishSnapshot};
pub use error::PublishError;
pub use evidence::{CheckpointNote, EvidenceEntry, EvidenceFeed, MemoryEvidence};
pub use publisher::{run, Publisher, DEFAULT_DRAIN_TIMEOUT};
