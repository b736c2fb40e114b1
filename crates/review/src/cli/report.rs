//! `edgeproof report BUNDLE --public-key FILE --html out.html [--json out.json]`: the
//! reviewer's report over a bundle (see `edgeproof_evidence::report`). The bundle is verified
//! first; a report is written either way, with the verdict on top. `--db DB --gateway ID`
//! reports from an archive written by `edgeproof collect`: the gateway's bundle is rebuilt
//! from it (`edgeproof_review::archive::export`) and goes the same way; what the collector refused
//! (bad signatures, conflicting records, bad checkpoints) is listed on stderr and makes the
//! exit 1.
//!
//! Exit 0: report written, bundle intact · 1: report written, bundle tampered or incomplete ·
//! 2: no report (unreadable bundle or key, bad arguments, output not writable).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use edgeproof_evidence::cosignature::WitnessKey;
use edgeproof_evidence::keys::{PublicKey, VerifierKey};
use edgeproof_evidence::report::calendar::{format_ms, parse_time};
use edgeproof_evidence::report::{html, report_file, ReportOptions, UtcOffset};
use edgeproof_evidence::verify::VerifyOptions;
use edgeproof_review::archive::{Anomaly, AnomalyKind};

/// Where the evidence comes from.
pub enum Source {
    /// A bundle file.
    Bundle(PathBuf),
    /// A gateway's log in an archive written by `edgeproof collect`.
    Archive {
        /// `--db`.
        db: String,
        /// `--gateway`.
        gateway: String,
    },
}

/// Arguments of `report`.
pub struct ReportArgs {
    /// The evidence.
    pub source: Source,
    /// The gateway's public key from enrolment (with an archive: default the registered one).
    pub public_key: Option<PathBuf>,
    /// Witness keys the reviewer trusts.
    pub witness_keys: Vec<PathBuf>,
    /// HTML output.
    pub html: PathBuf,
    /// JSON output.
    pub json: Option<PathBuf>,
    /// Day boundaries.
    pub utc_offset: String,
    /// Period start.
    pub from: Option<String>,
    /// Period end.
    pub to: Option<String>,
    /// Expected gateway id.
    pub expect_gateway: Option<String>,
    /// Expected USCC.
    pub uscc: Option<String>,
    /// Expected project.
    pub project: Option<String>,
    /// Longest lag for a record to count as timely witnessed.
    pub max_witness_lag: std::time::Duration,
    /// End of the default period (default: now).
    pub at: Option<String>,
}

/// Writes the report(s).
pub fn run(args: ReportArgs) -> ExitCode {
    let cannot = |msg: String| {
        eprintln!("error: {msg}");
        ExitCode::from(super::EXIT_CANNOT_RUN)
    };
    let offset = match UtcOffset::parse(&args.utc_offset) {
        Ok(o) => o,
        Err(e) => return cannot(format!("--utc-offset: {e}")),
    };
    let mut times = [None, None, None];
    let flags = [("--from", &args.from), ("--to", &args.to), ("--at", &args.at)];
    for (slot, (flag, t)) in times.iter_mut().zip(flags) {
        if let Some(t) = t {
            match parse_time(t, offset) {
                Ok(ms) => *slot = Some(ms),
                Err(e) => return cannot(format!("{flag}: {e}")),
            }
        }
    }
    let given = match args.public_key.as_deref().map(PublicKey::load).transpose() {
        Ok(k) => k,
        Err(e) => return cannot(format!("--public-key: {e}")),
    };
    let mut witnesses = Vec::new();
    for path in &args.witness_keys {
        match VerifierKey::load(path)
            .and_then(|v| WitnessKey::from_vkey(v, &path.display().to_string()))
        {
            Ok(w) => witnesses.push(w),
            Err(e) => return cannot(format!("--witness-key: {e}")),
        }
    }
    // From an archive: rebuild the gateway's bundle into a temporary file first.
    let (bundle, registered, collected, _cleanup) = match &args.source {
        Source::Bundle(path) => (path.clone(), None, Vec::new(), None),
        Source::Archive { db, gateway } => match rebuild(db, gateway, &witnesses) {
            Ok((path, key, anomalies)) => {
                (path.clone(), Some(key), anomalies, Some(RemoveOnDrop(path)))
            }
            Err(e) => return cannot(format!("{e:#}")),
        },
    };
    let Some(key) = given.or(registered) else {
        return cannot("--public-key is required with a bundle".into());
    };
    let mut verify = VerifyOptions::new(key);
    verify.witnesses = witnesses;
    verify.gateway = args.expect_gateway.clone();
    verify.uscc = args.uscc.clone();
    verify.project = args.project.clone();
    verify.max_witness_lag_ms = u64::try_from(args.max_witness_lag.as_millis()).unwrap_or(u64::MAX);
    let at_ms = times[2].unwrap_or_else(edgeproof_evidence::report::analysis::now_ms);
    let opts = ReportOptions { offset, from_ms: times[0], to_ms: times[1], at_ms: Some(at_ms) };
    let (report, verdict) = match report_file(&bundle, &verify, opts) {
        Ok(r) => r,
        Err(e) => return cannot(e.to_string()),
    };
    if let Err(e) = write(&args.html, html::render(&report).as_bytes()) {
        return cannot(e);
    }
    if let Some(path) = &args.json {
        let text = match serde_json::to_vec_pretty(&report) {
            Ok(t) => t,
            Err(e) => return cannot(format!("cannot encode the report as JSON: {e}")),
        };
        if let Err(e) = write(path, &text) {
            return cannot(e);
        }
    }
    let unexplained = report
        .gaps
        .iter()
        .filter(|g| g.class == edgeproof_evidence::report::GapClass::Unexplained)
        .count();
    println!(
        "{} · {} – {} · {} records · coverage {}.{}% · witnessed coverage {}.{}% · networked {} ({}) · {} gaps ({} unexplained) · {} findings",
        if verdict.intact { "INTACT 完整" } else { "FAILED 未通过" },
        format_ms(report.period.from_ms, offset),
        format_ms(report.period.to_ms, offset),
        report.header.records,
        report.coverage_ppm / 10_000,
        report.coverage_ppm / 1_000 % 10,
        report.witnessed_coverage_ppm / 10_000,
        report.witnessed_coverage_ppm / 1_000 % 10,
        report.networking.active,
        report.networking.band,
        report.gaps.len(),
        unexplained,
        report.anomalies.len()
    );
    println!("wrote {}", args.html.display());
    if let Some(p) = &args.json {
        println!("wrote {}", p.display());
    }
    // What the collector saw that the rebuilt bundle cannot show: records it refused (bad
    // signatures, conflicting re-signed records, unreadable ones) and bad checkpoints. Gaps
    // are in the verdict already.
    for a in &collected {
        let seqs = a.seqs.map_or(String::new(), |s| format!("{s}: "));
        eprintln!("archive anomaly {} (seen {}×): {seqs}{}", a.kind.as_str(), a.count, a.detail);
    }
    if verdict.intact && collected.is_empty() {
        ExitCode::SUCCESS
    } else if verdict.intact {
        eprintln!(
            "the rebuilt bundle verifies, but the collector recorded {} anomalies for this \
             gateway (above)",
            collected.len()
        );
        ExitCode::from(super::EXIT_NEGATIVE)
    } else {
        eprintln!(
            "the bundle did not verify: failed checks {:?}; see the report",
            verdict.failed()
        );
        ExitCode::from(super::EXIT_NEGATIVE)
    }
}

/// Rebuilds `gateway`'s bundle from the archive `db` into a temporary file (cosignature lines
/// the collector kept apart included when they verify under one of `witnesses`); returns its
/// path, the registered key, and the anomalies the collector recorded for it other than gaps.
fn rebuild(
    db: &str,
    gateway: &str,
    witnesses: &[WitnessKey],
) -> anyhow::Result<(PathBuf, PublicKey, Vec<Anomaly>)> {
    use anyhow::Context as _;
    super::runtime().block_on(async {
        let archive = edgeproof_review::archive::Archive::open_existing(db).await?;
        let reg = archive
            .registrations()
            .await?
            .into_iter()
            .find(|r| r.gateway == gateway)
            .with_context(|| format!("--gateway {gateway:?} is not registered in {db}"))?;
        let key = PublicKey::parse(&reg.public_key, &format!("registered key of {gateway}"))?;
        let path = std::env::temp_dir()
            .join(format!("edgeproof-report-{}-{gateway}.jsonl", std::process::id()));
        let file = std::fs::File::create(&path)
            .with_context(|| format!("cannot create {}", path.display()))?;
        let mut out = std::io::BufWriter::new(file);
        let guard = RemoveOnDrop(path.clone());
        let n = edgeproof_review::archive::export::write_bundle_for(
            &archive, &reg, witnesses, &mut out,
        )
        .await?;
        std::mem::forget(guard);
        tracing::info!(gateway, records = n, "rebuilt the bundle from the archive");
        let anomalies = archive
            .anomalies(Some(&reg.origin))
            .await?
            .into_iter()
            .filter(|a| a.kind != AnomalyKind::Gap)
            .collect();
        Ok((path, key, anomalies))
    })
}

/// Removes a temporary file when dropped.
struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Writes a whole file (via a temporary file in the same directory and a rename).
fn write(path: &Path, bytes: &[u8]) -> Result<(), String> {
    let mut name = path.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(format!(".tmp-{}", std::process::id()));
    let tmp = path.with_file_name(name);
    std::fs::write(&tmp, bytes)
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|e| format!("{}: {e}", path.display()))
}
