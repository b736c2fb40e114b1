//! MQTT topic names: the user-visible contract `<prefix>/data/<device>`, `<prefix>/status`,
//! `<prefix>/evidence` and `<prefix>/checkpoint` (DESIGN.md, "Contracts users see"). Built
//! once per publisher so the send path only concatenates.

/// The topics one gateway publishes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topics {
    /// `<prefix>/data/`, ready for a device name to be appended.
    data_prefix: String,
    /// `<prefix>/status`.
    status: String,
    /// `<prefix>/evidence`.
    evidence: String,
    /// `<prefix>/checkpoint`.
    checkpoint: String,
}

impl Topics {
    /// Topics under `prefix` (the compiled `mqtt.topic_prefix`, without a trailing `/`).
    pub fn new(prefix: &str) -> Self {
        let prefix = prefix.trim_end_matches('/');
        Topics {
            data_prefix: format!("{prefix}/data/"),
            status: format!("{prefix}/status"),
            evidence: format!("{prefix}/evidence"),
            checkpoint: format!("{prefix}/checkpoint"),
        }
    }

    /// `<prefix>/data/<device>`.
    ///
    /// Config validation keeps device names to letters, digits, `-`, `_` and `.`, so this is
    /// normally a plain concatenation. A name that slipped through with a character that would
    /// change the topic's meaning (`/` adds a level, `+` and `#` are wildcards a client may not
    /// publish to, NUL is forbidden by MQTT 3.1.1 §1.5.3) has those characters replaced by `_`:
    /// a stored batch must stay publishable, or it would block the journal forever.
    pub fn data(&self, device: &str) -> String {
        let mut topic = String::with_capacity(self.data_prefix.len() + device.len().max(1));
        topic.push_str(&self.data_prefix);
        if device.is_empty() {
            topic.push('_');
        } else {
            topic.extend(device.chars().map(|c| match c {
                '/' | '+' | '#' | '\0' => '_',
                c => c,
            }));
        }
        topic
    }

    /// `<prefix>/status`: retained `online` / `offline`, also the Last Will topic.
    pub fn status(&self) -> &str {
        &self.status
    }

    /// `<prefix>/evidence`: signed evidence records, QoS 1, in seq order.
    pub fn evidence(&self) -> &str {
        &self.evidence
    }

    /// `<prefix>/checkpoint`: the latest signed checkpoint, retained.
    pub fn checkpoint(&self) -> &str {
        &self.checkpoint
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_and_status_topics() {
        let cases = [
            // (case, prefix, device, data topic, status topic)
            (
                "default prefix",
                "edgeproof/gw-demo-01",
                "press-01",
                "edgeproof/gw-demo-01/data/press-01",
                "edgeproof/gw-demo-01/status",
            ),
            ("custom prefix", "factory/a", "oven.2", "factory/a/data/oven.2", "factory/a/status"),
            ("trailing slash tolerated", "p/", "d", "p/data/d", "p/status"),
            ("slash in device stays one level", "p", "a/b", "p/data/a_b", "p/status"),
            ("wildcards replaced", "p", "a+b#", "p/data/a_b_", "p/status"),
            ("nul replaced", "p", "a\0b", "p/data/a_b", "p/status"),
            ("empty device", "p", "", "p/data/_", "p/status"),
            ("unicode kept", "p", "压机-1", "p/data/压机-1", "p/status"),
        ];
        for (case, prefix, device, data, status) in cases {
            let t = Topics::new(prefix);
            assert_eq!(t.data(device), data, "{case}");
            assert_eq!(t.status(), status, "{case}");
            assert_eq!(t.evidence(), status.replace("/status", "/evidence"), "{case}");
            assert_eq!(t.checkpoint(), status.replace("/status", "/checkpoint"), "{case}");
        }
    }
}
