//! Release packaging for gateways without Debian (issue 16): the `dist` profile, the plain
//! init script's restart loop (the same never-give-up policy as the systemd unit), and, opt-in
//! because it cross-builds a static release binary, the tarball `scripts/dist` makes.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::support::{describe, run, wait_for};

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The `key = value` lines of one `[section]` of a TOML file, as written.
fn section(text: &str, name: &str) -> Vec<(String, String)> {
    let header = format!("[{name}]");
    text.lines()
        .skip_while(|l| l.trim() != header)
        .skip(1)
        .take_while(|l| !l.trim_start().starts_with('['))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect()
}

#[test]
fn the_dist_profile_is_lto_in_one_unit_stripped_and_still_unwinds() {
    let text = std::fs::read_to_string(repo().join("Cargo.toml")).unwrap();
    let dist = section(&text, "profile.dist");
    let get = |k: &str| dist.iter().find(|(key, _)| key == k).map(|(_, v)| v.as_str());
    assert_eq!(get("inherits"), Some("\"release\""), "{dist:?}");
    assert_eq!(get("lto"), Some("\"fat\""), "{dist:?}");
    assert_eq!(get("codegen-units"), Some("1"), "{dist:?}");
    assert_eq!(get("strip"), Some("true"), "{dist:?}");
    assert_eq!(get("panic"), None, "panics unwind as in release: {dist:?}");
    let features = section(&text, "features");
    assert!(
        features.iter().any(|(k, v)| k == "default" && v.contains("\"opcua\"")),
        "OPC UA is a default feature: {features:?}"
    );
}

fn alive(pid_file: &Path) -> Option<u32> {
    let pid: u32 = std::fs::read_to_string(pid_file).ok()?.trim().parse().ok()?;
    Path::new(&format!("/proc/{pid}")).exists().then_some(pid)
}

/// Regression (issue 16): a gateway without systemd had no way to run the agent as a
/// service. The init script keeps it running: a start that fails (a full disk, no network
/// yet) is retried, never given up; `stop` ends the loop and the agent.
#[tokio::test]
async fn the_init_script_restarts_a_failing_agent_and_stops_it() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // The first two runs exit 2, as `run` does when it cannot start; the third runs.
    let fake = d.join("edgeproof");
    std::fs::write(
        &fake,
        format!(
            "#!/bin/sh\n[ \"$1\" = check ] && exit 0\necho \"$@\" >> {starts}\n\
             [ $(wc -l < {starts}) -lt 3 ] && exit 2\nexec sleep 300\n",
            starts = d.join("starts").display()
        ),
    )
    .unwrap();
    run(Command::new("chmod").arg("755").arg(&fake));
    let defaults = d.join("defaults");
    std::fs::write(
        &defaults,
        format!(
            "EDGEPROOF_BIN={}\nEDGEPROOF_CONFIG={}\nEDGEPROOF_LOG={}\nEDGEPROOF_RUN_DIR={}\n\
             EDGEPROOF_RESTART_SEC=1\n",
            fake.display(),
            d.join("edgeproof.toml").display(),
            d.join("log").display(),
            d.display()
        ),
    )
    .unwrap();
    let script = repo().join("deploy/init.d/edgeproof");
    let init = |action: &str| {
        run(Command::new("sh").arg(&script).arg(action).env("EDGEPROOF_DEFAULTS", &defaults))
    };

    let out = init("start");
    assert!(out.status.success(), "{}", describe(&out));
    let agent_pid = d.join("edgeproof.pid");
    let starts = || std::fs::read_to_string(d.join("starts")).unwrap_or_default().lines().count();
    wait_for("the third start, running", Duration::from_secs(30), || {
        starts() >= 3 && alive(&agent_pid).is_some()
    })
    .await;
    let out = init("status");
    assert!(out.status.success(), "{}", describe(&out));
    let log = std::fs::read_to_string(d.join("log")).unwrap();
    assert_eq!(log.matches("exited with status 2").count(), 2, "{log}");
    assert!(std::fs::read_to_string(d.join("starts")).unwrap().starts_with("run -c "));

    let agent = alive(&agent_pid).unwrap();
    let supervisor = alive(&d.join("edgeproof.supervisor.pid")).expect("the restart loop runs");
    let out = init("stop");
    assert!(out.status.success(), "{}", describe(&out));
    wait_for("the agent and its loop gone", Duration::from_secs(30), || {
        // A zombie still has its /proc entry until reaped by init: look at the state too.
        let gone = |pid: u32| {
            std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .map_or(true, |s| s.split_whitespace().nth(2) == Some("Z"))
        };
        gone(agent) && gone(supervisor)
    })
    .await;
    assert_eq!(starts(), 3, "no start after stop");
    assert_eq!(init("status").status.code(), Some(3), "status after stop");
}

/// `scripts/dist` for x86_64: the tarball holds the static binary, the unit, the init
/// script and the example config, with their modes; the binary runs.
#[test]
#[ignore = "cross-builds a static release binary (minutes of CPU): needs `pip install ziglang \
            cargo-zigbuild` and `rustup target add x86_64-unknown-linux-musl`; run with --ignored"]
fn dist_makes_a_static_tarball_with_binary_unit_init_script_and_config() {
    let out = run(Command::new(repo().join("scripts/dist"))
        .arg("x86_64-unknown-linux-musl")
        .current_dir(repo()));
    assert!(out.status.success(), "{}", describe(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let tarball = PathBuf::from(stdout.split('\t').next().unwrap_or_default().trim());
    assert!(tarball.is_absolute() || repo().join(&tarball).exists(), "{stdout}");
    let tarball = repo().join(tarball);
    let version = env!("CARGO_PKG_VERSION");
    let top = format!("edgeproof-{version}-x86_64-unknown-linux-musl");
    let listing = run(Command::new("tar").arg("-tvzf").arg(&tarball));
    assert!(listing.status.success(), "{}", describe(&listing));
    let listing = String::from_utf8_lossy(&listing.stdout);
    for (file, mode) in [
        ("edgeproof", "-rwxr-xr-x"),
        ("edgeproof.service", "-rw-r--r--"),
        ("edgeproof.init", "-rwxr-xr-x"),
        ("edgeproof.example.toml", "-rw-r--r--"),
        ("README.md", "-rw-r--r--"),
    ] {
        let line = listing
            .lines()
            .find(|l| l.ends_with(&format!("{top}/{file}")))
            .unwrap_or_else(|| panic!("{file} missing:\n{listing}"));
        assert!(line.starts_with(mode), "{line}");
    }
    let dir = tempfile::tempdir().unwrap();
    let out = run(Command::new("tar").arg("-xzf").arg(&tarball).arg("-C").arg(dir.path()));
    assert!(out.status.success(), "{}", describe(&out));
    let bin = dir.path().join(&top).join("edgeproof");
    let ldd = run(Command::new("ldd").arg(&bin));
    let ldd = String::from_utf8_lossy(&ldd.stdout) + String::from_utf8_lossy(&ldd.stderr);
    assert!(ldd.contains("not a dynamic executable") || ldd.contains("statically linked"), "{ldd}");
    let out = run(Command::new(&bin).arg("--version"));
    assert!(out.status.success(), "{}", describe(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains(version));
    let out = run(Command::new(&bin)
        .arg("check")
        .arg(dir.path().join(&top).join("edgeproof.example.toml")));
    assert!(out.status.success(), "{}", describe(&out));
}
