//! A test subscriber: a rumqttc client that subscribes to a topic filter, collects every
//! message in arrival order, and reconnects and resubscribes across broker restarts. Plus the
//! checks every delivery test makes on the `seq` numbers it saw.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rumqttc::{AsyncClient, Event, Incoming, MqttOptions, QoS};
use serde_json::Value;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// One received message.
#[derive(Debug, Clone)]
pub struct Msg {
    /// Topic it came on.
    pub topic: String,
    /// Raw payload.
    pub payload: Vec<u8>,
    /// Whether the broker delivered it as a retained message.
    pub retain: bool,
}

impl Msg {
    /// The payload as JSON (data messages).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.payload).unwrap_or_else(|e| {
            panic!("not JSON on {}: {e}: {}", self.topic, String::from_utf8_lossy(&self.payload))
        })
    }
}

/// A subscriber to `filter` on a broker at 127.0.0.1:`port`.
pub struct Subscriber {
    msgs: Arc<Mutex<Vec<Msg>>>,
    subscribed: watch::Receiver<u64>,
    task: JoinHandle<()>,
}

impl Subscriber {
    /// Connects, subscribes (QoS 1) and returns once the first SUBACK arrived.
    pub async fn start(port: u16, filter: &str) -> Subscriber {
        let mut opts = MqttOptions::new(format!("sub-{}", fastrand::u32(..)), "127.0.0.1", port);
        opts.set_max_packet_size(1 << 20, 1 << 20);
        opts.set_keep_alive(Duration::from_secs(5));
        let (client, mut eventloop) = AsyncClient::new(opts, 10);
        let msgs = Arc::new(Mutex::new(Vec::new()));
        let (subscribed_tx, subscribed) = watch::channel(0u64);
        let sink = msgs.clone();
        let filter = filter.to_string();
        let task = tokio::spawn(async move {
            loop {
                match eventloop.poll().await {
                    // Clean session: every (re)connect needs its subscription again.
                    Ok(Event::Incoming(Incoming::ConnAck(_))) => {
                        client.try_subscribe(filter.clone(), QoS::AtLeastOnce).expect("subscribe");
                    }
                    Ok(Event::Incoming(Incoming::SubAck(_))) => {
                        subscribed_tx.send_modify(|n| *n += 1);
                    }
                    Ok(Event::Incoming(Incoming::Publish(p))) => sink.lock().unwrap().push(Msg {
                        topic: p.topic.clone(),
                        payload: p.payload.to_vec(),
                        retain: p.retain,
                    }),
                    Ok(_) => {}
                    // Broker gone: rumqttc reconnects on the next poll; don't spin.
                    Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
                }
            }
        });
        let mut s = Subscriber { msgs, subscribed, task };
        s.wait_subscribed(1).await;
        s
    }

    /// How many times a SUBACK arrived (once per connection).
    pub fn subscriptions(&self) -> u64 {
        *self.subscribed.borrow()
    }

    /// Waits until the `n`-th SUBACK (e.g. after a broker restart).
    pub async fn wait_subscribed(&mut self, n: u64) {
        tokio::time::timeout(Duration::from_secs(60), self.subscribed.wait_for(|s| *s >= n))
            .await
            .unwrap_or_else(|_| panic!("subscriber not subscribed ({n}) within 60 s"))
            .expect("subscriber task alive");
    }

    /// Every message so far, in arrival order.
    pub fn all(&self) -> Vec<Msg> {
        self.msgs.lock().unwrap().clone()
    }

    /// Messages on topics containing `/data/`, parsed, in arrival order.
    pub fn data(&self) -> Vec<Value> {
        self.all().iter().filter(|m| m.topic.contains("/data/")).map(Msg::json).collect()
    }

    /// Payloads on topics ending in `/status`, in arrival order.
    pub fn statuses(&self) -> Vec<String> {
        self.all()
            .iter()
            .filter(|m| m.topic.ends_with("/status"))
            .map(|m| String::from_utf8_lossy(&m.payload).into_owned())
            .collect()
    }

    /// Distinct data seqs seen.
    pub fn seqs(&self) -> BTreeSet<u64> {
        self.data().iter().map(seq).collect()
    }

    /// Number of data messages received so far (duplicates included).
    pub fn data_count(&self) -> usize {
        self.all().iter().filter(|m| m.topic.contains("/data/")).count()
    }
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The `seq` of a data message.
pub fn seq(v: &Value) -> u64 {
    v["seq"].as_u64().unwrap_or_else(|| panic!("no seq in {v}"))
}

/// What a stream of data messages looked like in `seq` terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeqReport {
    /// First seq seen.
    pub first: u64,
    /// Highest seq seen.
    pub last: u64,
    /// Distinct seqs.
    pub distinct: u64,
    /// Messages that repeated a seq already seen (at-least-once resends).
    pub duplicates: u64,
}

/// Checks at-least-once delivery in order: every message either repeats a seq already seen
/// (a duplicate, allowed) or is exactly one more than the highest seen so far. So the
/// distinct seqs form one gap-free run, and new seqs arrive in increasing order.
pub fn check_seqs(data: &[Value]) -> Result<SeqReport, String> {
    let mut seen = BTreeSet::new();
    let mut report = SeqReport { first: 0, last: 0, distinct: 0, duplicates: 0 };
    for (i, v) in data.iter().enumerate() {
        let s = seq(v);
        if seen.is_empty() {
            report.first = s;
            report.last = s;
        } else if seen.contains(&s) {
            report.duplicates += 1;
            continue;
        } else if s != report.last + 1 {
            let window: Vec<u64> =
                data[i.saturating_sub(5)..(i + 5).min(data.len())].iter().map(seq).collect();
            return Err(format!(
                "message #{i} has seq {s}, expected a repeat or {} (highest so far {}); \
                 seqs around it: {window:?}",
                report.last + 1,
                report.last
            ));
        } else {
            report.last = s;
        }
        seen.insert(s);
    }
    report.distinct = seen.len() as u64;
    Ok(report)
}

/// Data messages grouped by seq (the first copy of each).
pub fn by_seq(data: &[Value]) -> BTreeMap<u64, Value> {
    let mut m = BTreeMap::new();
    for v in data {
        m.entry(seq(v)).or_insert_with(|| v.clone());
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn msgs(seqs: &[u64]) -> Vec<Value> {
        seqs.iter().map(|s| json!({ "seq": s })).collect()
    }

    /// (first, last, distinct, duplicates), or `Err` for a stream that must be refused.
    type Want = Result<(u64, u64, u64, u64), ()>;

    #[test]
    fn seq_checker_cases() {
        let cases: &[(&str, &[u64], Want)] = &[
            ("in order", &[1, 2, 3], Ok((1, 3, 3, 0))),
            ("resent window after a reconnect", &[1, 2, 3, 2, 3, 4], Ok((1, 4, 4, 2))),
            ("starts late", &[7, 8], Ok((7, 8, 2, 0))),
            ("gap", &[1, 2, 4], Err(())),
            ("new seq out of order", &[1, 3, 2], Err(())),
        ];
        for (case, seqs, want) in cases {
            let got = check_seqs(&msgs(seqs))
                .map(|r| (r.first, r.last, r.distinct, r.duplicates))
                .map_err(|_| ());
            assert_eq!(&got, want, "{case}");
        }
    }
}
