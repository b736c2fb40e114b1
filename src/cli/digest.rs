//! `edgeproof digest BUNDLE CAPTURE`: recompute every `usage` record's per-device digest from
//! a capture of the data messages (`mosquitto_sub -v -t '<prefix>/data/#'` output: lines
//! `TOPIC PAYLOAD`) and list the devices and intervals that differ, and the journal seqs the
//! capture lacks. Exit 0 every digest matches, 1 a digest differs, 2 the bundle or the
//! capture could not be read. It checks content, not signatures: run `verify` for those.

use std::fs::File;
use std::io::{BufReader, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, UNIX_EPOCH};

use edgeproof::evidence::bundle::{BundleReader, Limits, Line};
use edgeproof::evidence::recompute::{check_record, Capture, DeviceCheck};

/// Arguments of `digest`.
#[derive(Debug, clap::Args)]
pub struct DigestArgs {
    /// The bundle from `edgeproof export` (JSON Lines).
    bundle: PathBuf,
    /// The captured data messages, one `TOPIC PAYLOAD` per line, as `mosquitto_sub -v`
    /// prints them (other topics are skipped).
    capture: PathBuf,
    /// List every device and interval, not only the ones that differ.
    #[arg(long)]
    all: bool,
}

/// Runs the recomputation and prints the result.
pub fn run(args: DigestArgs) -> ExitCode {
    let cannot = |msg: String| {
        eprintln!("error: {msg}");
        ExitCode::from(super::EXIT_CANNOT_RUN)
    };
    let capture = match std::fs::read(&args.capture) {
        Ok(bytes) => match Capture::read(&String::from_utf8_lossy(&bytes)) {
            Ok(c) => c,
            Err(e) => return cannot(format!("{}: {e}", args.capture.display())),
        },
        Err(e) => return cannot(format!("{}: {e}", args.capture.display())),
    };
    let file = match File::open(&args.bundle) {
        Ok(f) => f,
        Err(e) => return cannot(format!("{}: {e}", args.bundle.display())),
    };
    let mut checks: Vec<DeviceCheck> = Vec::new();
    let mut records = 0u64;
    for line in BundleReader::new(BufReader::with_capacity(1 << 16, file), Limits::default()) {
        match line {
            Ok((_, Line::Record(record))) if record["typ"] == "usage" => {
                records += 1;
                match check_record(&record, &capture) {
                    Ok(c) => checks.extend(c),
                    Err(e) => return cannot(format!("{}: {e}", args.bundle.display())),
                }
            }
            Ok(_) => {}
            Err(e) => return cannot(format!("{}: {e}", args.bundle.display())),
        }
    }
    let differ = checks.iter().filter(|c| !c.matches()).count();
    let mut out = String::new();
    report(&mut out, &args, &capture, &checks, records, differ);
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(out.as_bytes()).and_then(|_| stdout.flush());
    if differ == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(super::EXIT_NEGATIVE)
    }
}

fn report(
    s: &mut String,
    args: &DigestArgs,
    capture: &Capture,
    checks: &[DeviceCheck],
    records: u64,
    differ: usize,
) {
    use std::fmt::Write as _;
    let _ = writeln!(
        s,
        "capture  {} · {} data message(s) ({} line(s), re-sends counted once)",
        args.capture.display(),
        capture.len(),
        capture.data_lines
    );
    let _ = writeln!(
        s,
        "bundle   {} · {records} usage record(s), {} device interval(s)",
        args.bundle.display(),
        checks.len()
    );
    for c in checks.iter().filter(|c| args.all || !c.matches()) {
        let tag = if c.matches() { "ok  " } else { "DIFF" };
        let _ = write!(
            s,
            "[{tag}] device {} interval {} – {} (usage seq {}): {} message(s), {} value(s)",
            c.device,
            time(c.start_ms),
            time(c.end_ms),
            c.record_seq,
            c.messages,
            c.values
        );
        if !c.matches() {
            if c.values_missing() > 0 {
                let _ = write!(
                    s,
                    "; the record counts {} value(s) read: messages missing from the capture",
                    c.points_read
                );
            } else {
                let _ = write!(s, "; the values differ from what the gateway recorded");
            }
            let _ = write!(s, " (recorded {}, recomputed {})", c.claimed, c.recomputed);
        }
        let _ = writeln!(s);
    }
    for (a, b) in capture.seq_gaps() {
        let _ = writeln!(
            s,
            "missing  data message(s) seq {a}–{b} ({} message(s)) are not in the capture",
            b - a + 1
        );
    }
    let verdict = if differ == 0 {
        "every usage digest recomputes from the data messages".to_string()
    } else {
        format!("{differ} of {} device interval(s) do not recompute", checks.len())
    };
    let _ = writeln!(s, "verdict  {verdict}");
}

fn time(ms: u64) -> String {
    humantime::format_rfc3339_millis(UNIX_EPOCH + Duration::from_millis(ms)).to_string()
}
