//! The device map in the log: a `config` record when a reload changes the declared devices,
//! and a `device` record when a device is identified or its fingerprint changes.

use tracing::{info, warn};

use super::bodies;
use super::writer::Recorder;
use crate::config::Config;
use crate::evidence::record::{Body, ConfigChange, Device, DeviceChange};

impl Recorder {
    /// A reload applied `cfg`: the book follows the new device list, and a `config` record is
    /// written when the device map's hash differs from the one last recorded.
    pub async fn config_changed(&mut self, cfg: &Config) {
        self.book.set_devices(cfg);
        let hash = bodies::config_hash(cfg);
        if hash == self.config_hash {
            return;
        }
        let now = bodies::declared_ids(cfg);
        let change = ConfigChange {
            hash,
            added: now.difference(&self.declared).cloned().collect(),
            removed: self.declared.difference(&now).cloned().collect(),
        };
        info!(added = ?change.added, removed = ?change.removed, "device map changed by a reload; recording it");
        if self.append_logged(Body::Config(change)).await {
            self.config_hash = hash;
            self.declared = now;
        }
        self.refresh_endpoints().await;
    }

    /// `device` records for devices identified for the first time, or whose fingerprint
    /// differs from the one last recorded.
    pub(super) async fn record_devices(&mut self) {
        for id in self.book.identities() {
            let previous = self.recorded.get(&id.id).copied();
            if previous == Some(id.fingerprint) {
                continue;
            }
            let change =
                if previous.is_some() { DeviceChange::Changed } else { DeviceChange::FirstSeen };
            match change {
                DeviceChange::Changed => {
                    warn!(device = %id.id, identity = ?id.identity, "device fingerprint changed; recording it")
                }
                DeviceChange::FirstSeen => {
                    info!(device = %id.id, identity = ?id.identity, "device identified; recording its fingerprint")
                }
            }
            let body = Device {
                id: id.id.clone(),
                protocol: id.protocol,
                endpoint: id.endpoint,
                change,
                fingerprint: id.fingerprint,
                previous_fingerprint: previous,
                identity: id.identity,
                start_time: id.start_time_ms.map(|ms| {
                    humantime::format_rfc3339_millis(
                        std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms),
                    )
                    .to_string()
                }),
            };
            if self.append_logged(Body::Device(body)).await {
                self.recorded.insert(id.id, id.fingerprint);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evidence::canonical;
    use crate::evidence::record::SignedRecord;
    use crate::evidence::recorder::writer::tests::{config, open};
    use crate::journal::{HandleOptions, Journal, JournalHandle, JournalOptions};

    #[tokio::test]
    async fn a_reload_that_changes_the_device_map_is_recorded_once() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = config(dir.path(), "");
        let (journal, _) =
            Journal::open(dir.path().join("j.sqlite3"), JournalOptions::default()).unwrap();
        let (handle, _sender, thread) =
            JournalHandle::start(journal, HandleOptions::default()).unwrap();
        let (mut rec, _) = open(&cfg, &handle).await;
        let before = rec.records();
        rec.config_changed(&cfg).await;
        assert_eq!(rec.records(), before, "same device map: nothing recorded");
        let more = config(dir.path(), "[[inventory]]\nname = \"lathe\"\n");
        rec.config_changed(&more).await;
        rec.config_changed(&more).await;
        assert_eq!(rec.records(), before + 1, "one config record for one change");
        let last = handle.read_evidence(before, 1).await.unwrap();
        let r = SignedRecord::from_json(canonical::parse(&last[0].payload).unwrap()).unwrap();
        match r.record.body {
            Body::Config(c) => assert_eq!((c.added, c.removed), (vec!["lathe".into()], vec![])),
            other => panic!("{other:?}"),
        }
        drop(rec);
        handle.shutdown().await.unwrap();
        thread.join().unwrap();
    }
}
