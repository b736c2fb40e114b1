//! `edgeproof verify BUNDLE --public-key FILE [--witness-key FILE]... [--json]`: the reviewer's
//! six checks over an evidence bundle. Exit 0 intact, 1 tampered or incomplete, 2 unusable
//! input (unreadable file, bad key, not a bundle, unsupported version).

use std::fs::File;
use std::io::{BufReader, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use edgeproof::evidence::cosignature::WitnessKey;
use edgeproof::evidence::keys::{PublicKey, VerifierKey};
use edgeproof::evidence::verify::{verify_bundle, Status, Verdict, VerifyOptions};

/// Arguments of `verify`.
pub struct VerifyArgs {
    /// Bundle path, `-` for stdin.
    pub bundle: PathBuf,
    /// Gateway public key file.
    pub public_key: PathBuf,
    /// Witness vkey files.
    pub witness_keys: Vec<PathBuf>,
    /// Expected gateway id.
    pub gateway: Option<String>,
    /// Expected USCC.
    pub uscc: Option<String>,
    /// Expected project.
    pub project: Option<String>,
    /// Wall vs monotonic tolerance.
    pub time_tolerance: Duration,
    /// Longest lag for a record to count as timely witnessed.
    pub max_witness_lag: Duration,
    /// JSON output.
    pub json: bool,
}

/// What the evidence can and cannot show; printed with every verdict.
pub const LIMITS_STATEMENT: &str = "This proves which records the enrolled gateway key signed, \
in which order, and that none is missing, edited or inserted (and, up to a trusted witness's \
cosignature, that none was cut off or rewritten later). It cannot prove that the devices \
behind the gateway are real machines doing real work: spot-check them on site.";

/// Runs the checks and prints the verdict.
pub fn run(args: VerifyArgs) -> ExitCode {
    let cannot = |msg: String| {
        eprintln!("error: {msg}");
        ExitCode::from(super::EXIT_CANNOT_RUN)
    };
    let key = match PublicKey::load(&args.public_key) {
        Ok(k) => k,
        Err(e) => return cannot(format!("--public-key: {e}")),
    };
    let mut opts = VerifyOptions::new(key);
    for path in &args.witness_keys {
        let w = VerifierKey::load(path)
            .and_then(|v| WitnessKey::from_vkey(v, &path.display().to_string()));
        match w {
            Ok(w) => opts.witnesses.push(w),
            Err(e) => return cannot(format!("--witness-key: {e}")),
        }
    }
    opts.gateway = args.gateway;
    opts.uscc = args.uscc;
    opts.project = args.project;
    opts.time_tolerance_ms = u64::try_from(args.time_tolerance.as_millis()).unwrap_or(u64::MAX);
    opts.max_witness_lag_ms = u64::try_from(args.max_witness_lag.as_millis()).unwrap_or(u64::MAX);
    let result = if args.bundle.as_os_str() == "-" {
        verify_bundle(std::io::stdin().lock(), &opts)
    } else {
        match File::open(&args.bundle) {
            Ok(f) => verify_bundle(BufReader::with_capacity(1 << 16, f), &opts),
            Err(e) => return cannot(format!("{}: {e}", args.bundle.display())),
        }
    };
    let verdict = match result {
        Ok(v) => v,
        Err(e) => return cannot(format!("{}: {e}", args.bundle.display())),
    };
    let out = if args.json { json(&verdict) } else { human(&verdict, &args.bundle) };
    let mut stdout = std::io::stdout().lock();
    // A closed pipe (`| head`) is not a failure of the verification.
    let _ = stdout.write_all(out.as_bytes()).and_then(|_| stdout.flush());
    if verdict.intact {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(super::EXIT_NEGATIVE)
    }
}

fn json(v: &Verdict) -> String {
    let mut value = serde_json::to_value(v).unwrap_or_default();
    if let Some(obj) = value.as_object_mut() {
        obj.insert("limits".into(), LIMITS_STATEMENT.into());
    }
    let mut s = serde_json::to_string_pretty(&value).unwrap_or_default();
    s.push('\n');
    s
}

fn human(v: &Verdict, path: &std::path::Path) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let _ = writeln!(s, "bundle   {}", path.display());
    let _ = writeln!(
        s,
        "log      {} · gateway {} · key {}",
        v.origin,
        v.gateway.as_deref().unwrap_or("?"),
        v.key_fingerprint
    );
    let _ = writeln!(
        s,
        "content  {} record(s) · {} checkpoint(s) · {} trusted cosignature(s)",
        v.records, v.checkpoints, v.cosignatures
    );
    if let Some(r) = &v.witness_reach {
        let reach = match r.last_witnessed_seq {
            Some(l) => format!("seq 0–{l} witnessed"),
            None => "no record witnessed".to_string(),
        };
        let _ = writeln!(
            s,
            "witness  {reach} · {} not yet witnessed · {} witnessed late (later than {} ms)",
            r.not_yet_witnessed, r.witnessed_late, r.max_lag_ms
        );
    }
    for c in &v.checks {
        let tag = match c.status {
            Status::Pass => "ok  ",
            Status::Fail => "FAIL",
            Status::Skipped => "skip",
        };
        let _ = writeln!(s, "[{tag}] {} {}", c.check.number(), c.check.as_str());
        for f in &c.findings {
            let _ = writeln!(s, "       {f}");
        }
        if c.omitted > 0 {
            let _ = writeln!(s, "       … and {} more", c.omitted);
        }
        for n in &c.notes {
            let _ = writeln!(s, "       ({n})");
        }
    }
    let verdict = if v.intact { "INTACT" } else { "TAMPERED OR INCOMPLETE" };
    let failed: Vec<&str> = v.failed().iter().map(|c| c.as_str()).collect();
    if failed.is_empty() {
        let _ = writeln!(s, "verdict  {verdict}");
    } else {
        let _ = writeln!(s, "verdict  {verdict} (failed: {})", failed.join(", "));
    }
    let _ = writeln!(s, "limits   {LIMITS_STATEMENT}");
    s
}
