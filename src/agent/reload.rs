//! Reload (SIGHUP, `systemctl reload edgeproof`): pick up a changed device map without
//! losing a sample.
//!
//! 1. The file is read and fully validated first. If anything is wrong, every problem is
//!    logged with its path and the agent keeps running the config it has; nothing changes.
//! 2. The new device list is compared with the running one by name ([`diff`]): added, removed,
//!    changed (any setting or point differs), unchanged.
//! 3. Only the tasks of removed and changed devices are stopped — each finishes the cycle it is
//!    in, so its last batch still reaches the journal — then tasks for added and changed
//!    devices start. Unchanged devices' tasks are not touched: their schedules, connections
//!    and backoff state carry on.
//! 4. The journal, the publisher and `/metrics` are never touched. Changes to `[gateway]`,
//!    `[mqtt]`, `[journal]`, `[metrics]` and `[evidence]` (witnesses included) are reported
//!    as needing a restart and not applied: the running agent keeps those sections as they
//!    were.
//! 5. The change is handed to [`RunningAgent::record_config_change`], where the `config`
//!    evidence record is written.

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use sha2::{Digest, Sha256};
use tracing::{error, info, warn};

use crate::config::{self, Config, ConfigError};

use super::lifecycle::RunningAgent;
use super::tasks::task_key;

/// What a reload changed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConfigChange {
    /// SHA-256 of the file as read, lower-case hex.
    pub file_sha256: String,
    /// Devices in the new file only.
    pub added: Vec<Arc<str>>,
    /// Devices in the running config only.
    pub removed: Vec<Arc<str>>,
    /// Devices in both whose settings or points differ.
    pub changed: Vec<Arc<str>>,
    /// Devices in both, identical: their tasks are left running.
    pub unchanged: usize,
    /// Sections that differ but are applied only at the next start.
    pub restart_needed: Vec<&'static str>,
}

impl ConfigChange {
    /// Whether any device was added, removed or changed.
    pub fn devices_changed(&self) -> bool {
        !(self.added.is_empty() && self.removed.is_empty() && self.changed.is_empty())
    }
}

impl fmt::Display for ConfigChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list = |v: &[Arc<str>]| v.iter().map(|s| &**s).collect::<Vec<_>>().join(", ");
        write!(
            f,
            "added [{}], removed [{}], changed [{}], {} unchanged",
            list(&self.added),
            list(&self.removed),
            list(&self.changed),
            self.unchanged
        )
    }
}

/// Compares the running config with a new one (see the module docs).
pub fn diff(old: &Config, new: &Config) -> ConfigChange {
    let mut change = ConfigChange::default();
    for n in &new.devices {
        match old.devices.iter().find(|o| o.name == n.name) {
            None => change.added.push(n.name.clone()),
            Some(o) if o != n => change.changed.push(n.name.clone()),
            Some(_) => change.unchanged += 1,
        }
    }
    for o in &old.devices {
        if !new.devices.iter().any(|n| n.name == o.name) {
            change.removed.push(o.name.clone());
        }
    }
    let sections: [(&'static str, bool); 5] = [
        ("[gateway]", old.gateway != new.gateway),
        ("[mqtt]", old.mqtt != new.mqtt),
        ("[journal]", old.journal != new.journal),
        ("[metrics]", old.metrics != new.metrics),
        // Key, intervals and witnesses: the recorder and its witness tasks are set up once.
        ("[evidence]", old.evidence != new.evidence),
    ];
    // Sections added to the config later add their line here.
    change.restart_needed = sections.iter().filter(|(_, d)| *d).map(|(s, _)| *s).collect();
    change
}

/// Lower-case hex SHA-256.
fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

impl RunningAgent {
    /// Reloads the config file at `path` (see the module docs). On error the running config
    /// is untouched and every problem has been logged.
    pub async fn reload(&mut self, path: &Path) -> Result<ConfigChange, ConfigError> {
        info!(file = %path.display(), "reload: reading {}", path.display());
        let loaded = std::fs::read(path)
            .map_err(|source| ConfigError::Read { path: path.to_path_buf(), source })
            .and_then(|bytes| {
                let text = String::from_utf8_lossy(&bytes).into_owned();
                config::load_str(path, &text, true).map(|cfg| (cfg, sha256_hex(&bytes)))
            });
        let (new, file_sha256) = match loaded {
            Ok(ok) => ok,
            Err(e) => {
                log_refused(path, &e);
                return Err(e);
            }
        };
        let mut change = diff(&self.config, &new);
        change.file_sha256 = file_sha256;

        // Keys whose task must stop: removed and changed devices, as they run now; keys to
        // start: added and changed devices, as configured now. Unchanged keys keep running.
        let mut stop: Vec<String> = Vec::new();
        for name in change.removed.iter().chain(&change.changed) {
            if let Some(d) = self.config.devices.iter().find(|d| d.name == *name) {
                stop.push(task_key(d));
            }
        }
        for name in change.added.iter().chain(&change.changed) {
            if let Some(d) = new.devices.iter().find(|d| d.name == *name) {
                stop.push(task_key(d));
            }
        }
        stop.sort();
        stop.dedup();
        for key in &stop {
            self.devices.stop(key).await;
        }
        for d in &new.devices {
            self.metrics.device(&d.name);
        }
        self.devices.start(&new.devices);
        self.config.devices = new.devices;
        self.config.inventory = new.inventory;

        if change.devices_changed() {
            info!(
                added = ?change.added,
                removed = ?change.removed,
                changed = ?change.changed,
                unchanged = change.unchanged,
                "reload applied: {change}; unchanged devices kept polling"
            );
        } else {
            info!("reload applied: the device map is unchanged; no device task restarted");
        }
        for section in &change.restart_needed {
            warn!(
                section,
                "reload: {section} changed; it takes effect at the next start \
                 (systemctl restart edgeproof), the running agent keeps the old value"
            );
        }
        self.record_config_change(&change);
        Ok(change)
    }

    /// The hook for the `config` evidence record (EVIDENCE.md: the device map changed — hash,
    /// devices added and removed): the recorder writes it when the running device map's hash
    /// differs from the one last recorded.
    pub fn record_config_change(&self, change: &ConfigChange) {
        match &self.evidence {
            Some(evidence) => evidence.config_changed(&self.config),
            None => info!(
                sha256 = %change.file_sha256,
                "config change not recorded as evidence (evidence is off): {change}"
            ),
        }
    }

    /// The running config: the file as loaded at start, with the device map of the last
    /// applied reload.
    pub fn config(&self) -> &Config {
        &self.config
    }
}

fn log_refused(path: &Path, e: &ConfigError) {
    match e {
        ConfigError::Invalid { errors, .. } => {
            for fe in errors {
                error!(file = %path.display(), field = %fe.path, "reload refused: {fe}");
            }
            error!(
                file = %path.display(),
                "reload refused: {} problem(s) in {}; still running the previous config",
                errors.len(),
                path.display()
            );
        }
        e => error!(
            file = %path.display(),
            "reload refused: {e}; still running the previous config"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(devices: &str, extra: &str) -> Config {
        let text = format!(
            "[gateway]\nid = \"gw\"\nenterprise = \"91440300MA5DEM0A0G\"\nproject = \"P\"\n\
             data_dir = \"/tmp/x\"\n{extra}\n{devices}"
        );
        config::load_str(Path::new("t.toml"), &text, false).unwrap()
    }

    fn device(name: &str, port: u16, points: &[u16]) -> String {
        let mut t = format!(
            "[[devices]]\nname = \"{name}\"\nprotocol = \"modbus-tcp\"\naddress = \"127.0.0.1:{port}\"\n"
        );
        for a in points {
            t.push_str(&format!(
                "  [[devices.points]]\n  name = \"p{a}\"\n  area = \"holding\"\n  address = {a}\n  type = \"u16\"\n"
            ));
        }
        t
    }

    fn names(v: &[Arc<str>]) -> Vec<&str> {
        v.iter().map(|s| &**s).collect()
    }

    #[test]
    fn diff_by_device_name() {
        let a = device("a", 1, &[0]);
        let b = device("b", 2, &[0, 1]);
        let c = device("c", 3, &[0]);
        let old = config(&format!("{a}{b}{c}"), "");
        let cases: &[(&str, Config, [&[&str]; 3], usize)] = &[
            ("same file", config(&format!("{a}{b}{c}"), ""), [&[], &[], &[]], 3),
            ("reordered is unchanged", config(&format!("{c}{a}{b}"), ""), [&[], &[], &[]], 3),
            (
                "point added to b",
                config(&format!("{a}{}{c}", device("b", 2, &[0, 1, 2])), ""),
                [&[], &[], &["b"]],
                2,
            ),
            (
                "address of a moved",
                config(&format!("{}{b}{c}", device("a", 9, &[0])), ""),
                [&[], &[], &["a"]],
                2,
            ),
            (
                "c removed, d added",
                config(&format!("{a}{b}{}", device("d", 4, &[0])), ""),
                [&["d"], &["c"], &[]],
                2,
            ),
        ];
        for (case, new, [added, removed, changed], unchanged) in cases {
            let d = diff(&old, new);
            assert_eq!(names(&d.added), *added, "{case}: added");
            assert_eq!(names(&d.removed), *removed, "{case}: removed");
            assert_eq!(names(&d.changed), *changed, "{case}: changed");
            assert_eq!(d.unchanged, *unchanged, "{case}: unchanged");
            assert!(d.restart_needed.is_empty(), "{case}: {:?}", d.restart_needed);
        }
    }

    #[test]
    fn other_sections_need_a_restart() {
        let a = device("a", 1, &[0]);
        let old = config(&a, "");
        let new = config(
            &a,
            "[journal]\nmax_bytes = \"1MiB\"\n[mqtt]\nurl = \"mqtt://127.0.0.1:1\"\n\
             [evidence]\ncheckpoint_interval = \"10m\"\n",
        );
        let d = diff(&old, &new);
        assert_eq!(d.restart_needed, ["[mqtt]", "[journal]", "[evidence]"]);
        assert!(!d.devices_changed());
    }

    #[test]
    fn hash_is_sha256_hex() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
