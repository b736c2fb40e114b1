//! The systemd unit (`systemd-analyze verify`), and the Debian package, built from the test
//! binary by `deploy/build-deb.sh`: its file list and control fields (`dpkg-deb -c`, `-I`),
//! then, opt-in (`--ignored`, it changes the machine), a real `dpkg -i` (root only,
//! serialized across test processes by a lock file): user, config, state directory, unit
//! verified by `systemd-analyze verify`, nothing enabled or started; an edited config survives
//! a reinstall; a config written before the install is kept without a prompt; remove and purge
//! leave nothing but the state directory.

use std::fs::File;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use crate::support::{bin, describe, run};

const CONFIG: &str = "/etc/edgeproof/edgeproof.toml";
const EXAMPLE: &str = "/etc/edgeproof/edgeproof.example.toml";
const UNIT: &str = "/lib/systemd/system/edgeproof.service";
const STATE: &str = "/var/lib/edgeproof";
/// Written into the package by build-deb.sh; marks an installation this test may remove.
const MAINTAINER: &str = "edgeproof maintainers <edgeproof@localhost>";

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The .deb of the test binary, built once per test process.
fn deb() -> &'static Path {
    static DEB: OnceLock<PathBuf> = OnceLock::new();
    DEB.get_or_init(|| {
        let out =
            Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("deb-{}", std::process::id()));
        let built = run(Command::new(repo().join("deploy/build-deb.sh"))
            .args(["--fast", "--binary"])
            .arg(bin())
            .arg("--out")
            .arg(&out));
        assert!(built.status.success(), "build-deb.sh failed\n{}", describe(&built));
        PathBuf::from(String::from_utf8_lossy(&built.stdout).trim())
    })
}

fn dpkg_deb(args: &[&str]) -> String {
    let out = run(Command::new("dpkg-deb").args(args).arg(deb()));
    assert!(out.status.success(), "dpkg-deb {args:?}\n{}", describe(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn deb_lists_binary_unit_example_config_and_its_control_fields() {
    let files = dpkg_deb(&["-c"]);
    let listed: Vec<&str> = files
        .lines()
        .filter_map(|l| l.split_whitespace().last())
        .map(|p| p.trim_start_matches('.'))
        .collect();
    for want in [
        "/usr/bin/edgeproof",
        UNIT,
        EXAMPLE,
        "/usr/share/doc/edgeproof/README.md",
        "/usr/share/doc/edgeproof/README.deploy.md",
        "/usr/share/doc/edgeproof/copyright",
    ] {
        assert!(listed.contains(&want), "{want} not in the package:\n{files}");
    }
    assert!(
        !listed.contains(&CONFIG),
        "the live config is made by postinst, not shipped:\n{files}"
    );
    for line in files.lines() {
        assert!(line.contains(" root/root "), "owned by root: {line}");
    }

    let control = dpkg_deb(&["-f"]);
    let field = |name: &str| {
        control.lines().find_map(|l| l.strip_prefix(&format!("{name}: ")).map(str::to_string))
    };
    assert_eq!(field("Package").as_deref(), Some("edgeproof"));
    assert_eq!(field("Version").as_deref(), Some(env!("CARGO_PKG_VERSION")));
    let arch = run(Command::new("dpkg").arg("--print-architecture"));
    assert_eq!(
        field("Architecture").as_deref(),
        Some(String::from_utf8_lossy(&arch.stdout).trim())
    );
    let depends = field("Depends").unwrap_or_default();
    assert!(depends.contains("libc6 (>= 2.") && depends.contains("adduser"), "{depends}");
    assert_eq!(field("Maintainer").as_deref(), Some(MAINTAINER));

    let info = dpkg_deb(&["-I"]);
    for script in ["postinst", "prerm", "postrm", "conffiles"] {
        assert!(info.contains(script), "{script} missing:\n{info}");
    }
    let conffiles = run(Command::new("sh")
        .arg("-c")
        .arg(format!("dpkg-deb --ctrl-tarfile {} | tar -xO ./conffiles", deb().display())));
    assert_eq!(String::from_utf8_lossy(&conffiles.stdout).trim(), EXAMPLE);
}

/// The unit as committed, with `ExecStart` pointed at the test binary (verify wants the
/// program to exist): no warnings from `systemd-analyze verify`. Runs without root; the
/// install test verifies the installed unit again.
#[test]
fn unit_file_passes_systemd_analyze_verify() {
    assert!(
        Path::new("/usr/bin/systemd-analyze").exists(),
        "unit_file_passes_systemd_analyze_verify needs systemd-analyze: apt-get install systemd \
         (scripts/test installs it)"
    );
    let unit = std::fs::read_to_string(repo().join("deploy/systemd/edgeproof.service")).unwrap();
    assert!(unit.contains("ExecStart=/usr/bin/edgeproof run -c /etc/edgeproof/edgeproof.toml"));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("edgeproof.service");
    let bin = bin();
    std::fs::write(&path, unit.replace("/usr/bin/edgeproof", bin.to_str().unwrap())).unwrap();
    let out = run(Command::new("systemd-analyze").arg("verify").arg(&path));
    assert!(out.status.success() && out.stderr.is_empty(), "{}", describe(&out));
}

/// Whether this process may install packages here.
fn can_install() -> Result<(), String> {
    let uid = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("Uid:")).map(str::to_string))
        .unwrap_or_default();
    if uid.split_whitespace().nth(1) != Some("0") {
        return Err("not root".into());
    }
    if !Path::new("/usr/bin/dpkg").exists() || !Path::new("/usr/sbin/adduser").exists() {
        return Err("no dpkg or adduser".into());
    }
    Ok(())
}

/// Holds an exclusive lock shared by every test process on this machine that installs the
/// package, so two test runs never install and remove it at the same time.
/// The lock is released when the file closes, on drop.
struct MachineLock {
    _file: File,
}

impl MachineLock {
    fn take() -> MachineLock {
        let f = File::create("/tmp/edgeproof-dpkg-test.lock").expect("lock file");
        // SAFETY: flock on a file descriptor this File owns; blocks until the lock is free.
        let rc = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) };
        assert_eq!(rc, 0, "flock: {}", std::io::Error::last_os_error());
        MachineLock { _file: f }
    }
}

/// Purges the package if the test fails half-way, so the machine is left as it was.
struct PurgeIfPanicking;

impl Drop for PurgeIfPanicking {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let _ = dpkg(&["--purge", "edgeproof"]);
        }
    }
}

fn dpkg(args: &[&str]) -> std::process::Output {
    // stdin closed: any conffile prompt would fail the command instead of waiting.
    run(Command::new("dpkg").args(args).stdin(Stdio::null()))
}

fn installed_maintainer() -> Option<String> {
    let out = run(Command::new("dpkg-query").args(["-W", "-f=${Maintainer}", "edgeproof"]));
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

fn purge() {
    let out = dpkg(&["--purge", "edgeproof"]);
    assert!(out.status.success(), "dpkg --purge\n{}", describe(&out));
}

fn mode(path: &str) -> u32 {
    std::fs::metadata(path).unwrap_or_else(|e| panic!("{path}: {e}")).permissions().mode() & 0o7777
}

fn gid_of(group: &str) -> u32 {
    let out = run(Command::new("getent").args(["group", group]));
    String::from_utf8_lossy(&out.stdout)
        .split(':')
        .nth(2)
        .and_then(|g| g.parse().ok())
        .unwrap_or_else(|| panic!("no group {group}"))
}

/// Changes the machine it runs on (installs the package, adds the `edgeproof` user), so it
/// is opt-in: `cargo test --workspace --test tests -- --ignored deb_installs` as root on a
/// machine you may change. It fails, never passes silently, when it cannot install.
#[test]
#[ignore = "installs the .deb with dpkg -i on this machine (root); opt in with --ignored"]
fn deb_installs_with_dpkg_keeps_configs_and_removes_cleanly() {
    if let Err(why) = can_install() {
        panic!("installing the .deb needs root, dpkg and adduser: {why}");
    }
    let deb = deb().to_str().expect("utf-8 path").to_string();
    let _lock = MachineLock::take();
    match installed_maintainer() {
        Some(m) if m == MAINTAINER => purge(), // left over from an interrupted run
        Some(m) => panic!("a real edgeproof package ({m}) is installed; not touching it"),
        None if Path::new("/etc/edgeproof").exists() => {
            panic!("/etc/edgeproof exists without the package; not touching it")
        }
        None => {}
    }
    let state_existed = Path::new(STATE).exists();
    let _cleanup = PurgeIfPanicking;

    // Fresh install: user, live config from the example, state dir; nothing enabled.
    let out = dpkg(&["-i", &deb]);
    assert!(out.status.success(), "dpkg -i\n{}", describe(&out));
    let version = run(Command::new("/usr/bin/edgeproof").arg("--version"));
    assert!(
        String::from_utf8_lossy(&version.stdout).contains(env!("CARGO_PKG_VERSION")),
        "{}",
        describe(&version)
    );
    let id = run(Command::new("id").arg("edgeproof"));
    let id = String::from_utf8_lossy(&id.stdout).into_owned();
    assert!(id.contains("(edgeproof)") && id.contains("(dialout)"), "{id}");
    let uid: u32 = id.trim_start_matches("uid=").split('(').next().unwrap().parse().unwrap();
    assert!(uid < 1000, "a system user: {id}");
    assert_eq!(std::fs::read(CONFIG).unwrap(), std::fs::read(EXAMPLE).unwrap());
    assert_eq!(mode(CONFIG), 0o640);
    assert_eq!(std::fs::metadata(CONFIG).unwrap().gid(), gid_of("edgeproof"));
    if !state_existed {
        assert_eq!(std::fs::metadata(STATE).unwrap().uid(), uid, "postinst made {STATE}");
    }
    let check = run(Command::new("/usr/bin/edgeproof").args(["check", CONFIG]));
    assert!(check.status.success(), "the installed example config is valid\n{}", describe(&check));
    assert!(
        !Path::new("/etc/systemd/system/multi-user.target.wants/edgeproof.service").exists(),
        "the package must not enable the service"
    );
    if Path::new("/usr/bin/systemd-analyze").exists() {
        let verify = run(Command::new("systemd-analyze").args(["verify", UNIT]));
        assert!(verify.status.success(), "systemd-analyze verify\n{}", describe(&verify));
        assert!(verify.stderr.is_empty(), "warnings:\n{}", describe(&verify));
    }

    // An edited config survives a reinstall (postinst runs as for an upgrade).
    let edited =
        format!("{}\n# edited by the integrator\n", std::fs::read_to_string(CONFIG).unwrap());
    std::fs::write(CONFIG, &edited).unwrap();
    let out = dpkg(&["-i", &deb]);
    assert!(out.status.success(), "dpkg -i again\n{}", describe(&out));
    assert_eq!(std::fs::read_to_string(CONFIG).unwrap(), edited);

    // Remove: program and unit gone, configuration kept.
    let out = dpkg(&["-r", "edgeproof"]);
    assert!(out.status.success(), "dpkg -r\n{}", describe(&out));
    assert!(!Path::new("/usr/bin/edgeproof").exists() && !Path::new(UNIT).exists());
    assert_eq!(std::fs::read_to_string(CONFIG).unwrap(), edited);
    assert!(Path::new(EXAMPLE).exists());

    // Purge: configuration gone, the state directory (journal, evidence) kept.
    purge();
    assert!(!Path::new("/etc/edgeproof").exists(), "purge removes /etc/edgeproof");
    assert!(Path::new(STATE).exists(), "purge keeps the journal and evidence");

    // A config written before the package: kept as is, no prompt, example beside it.
    std::fs::create_dir_all("/etc/edgeproof").unwrap();
    std::fs::write(CONFIG, "# written by hand before the package\n").unwrap();
    let out = dpkg(&["-i", &deb]);
    assert!(out.status.success(), "dpkg -i over an existing config\n{}", describe(&out));
    assert_eq!(std::fs::read_to_string(CONFIG).unwrap(), "# written by hand before the package\n");
    assert!(Path::new(EXAMPLE).exists());
    purge();
    if !state_existed {
        let _ = std::fs::remove_dir(STATE);
    }
}
