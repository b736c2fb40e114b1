//! `edgeproof export -c FILE [--from T] [--to T] -o bundle.jsonl`: the evidence bundle of
//! EVIDENCE.md §Bundle from the gateway's own journal, checkpoint file and cosignature file
//! (the checkpoints witnesses cosigned, as cosignature lines).
//!
//! A bundle always starts at seq 0: verification needs the unbroken chain from the `enroll`
//! record. `--to` leaves out the records written after it (and the checkpoints that cover
//! any of them, which would otherwise read as a cut-off tail); `--from` only marks where the
//! period of interest starts — records before it are kept for the chain, and `report --from`
//! limits the figures. Checkpoint and cosignature lines follow the record that completes their
//! tree. The file
//! is written next to its target and renamed into place, so a reader never sees half a
//! bundle. Safe while the agent runs (SQLite WAL readers do not block it).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use edgeproof::config::{self, ConfigError};
use edgeproof::evidence::bundle::{
    checkpoint_line, cosignature_line, header_line, record_line, Header, BUNDLE_VERSION,
};
use edgeproof::evidence::canonical;
use edgeproof::evidence::checkpoint::Checkpoint;
use edgeproof::evidence::note::SignedNote;
use edgeproof::evidence::recorder::CheckpointFile;
use edgeproof::evidence::report::calendar::{parse_time, UtcOffset};
use edgeproof::journal::EvidenceReader;

/// Records read from the journal per call.
const CHUNK: usize = 1024;

/// Arguments of `export`.
pub struct ExportArgs {
    /// The gateway's config file.
    pub config: PathBuf,
    /// Start of the period of interest.
    pub from: Option<String>,
    /// Leave out records written after this.
    pub to: Option<String>,
    /// Output file.
    pub output: PathBuf,
    /// Offset for dates without one.
    pub utc_offset: String,
}

/// Writes the bundle.
pub fn run(args: ExportArgs) -> ExitCode {
    match export(&args) {
        Ok(summary) => {
            println!("{summary}");
            ExitCode::SUCCESS
        }
        Err(Failure::Negative(msg)) => {
            eprintln!("error: {msg}");
            ExitCode::from(super::EXIT_NEGATIVE)
        }
        Err(Failure::CannotRun(msg)) => {
            eprintln!("error: {msg}");
            ExitCode::from(super::EXIT_CANNOT_RUN)
        }
    }
}

enum Failure {
    /// Nothing to export (exit 1).
    Negative(String),
    /// Bad input or I/O (exit 2).
    CannotRun(String),
}

fn export(args: &ExportArgs) -> Result<String, Failure> {
    let cannot = Failure::CannotRun;
    let cfg = config::load(&args.config).map_err(|e| match e {
        e @ ConfigError::Read { .. } => cannot(e.to_string()),
        e => cannot(format!("invalid config: {e}")),
    })?;
    let offset =
        UtcOffset::parse(&args.utc_offset).map_err(|e| cannot(format!("--utc-offset: {e}")))?;
    let time = |flag: &str, t: &Option<String>| {
        t.as_deref()
            .map(|t| parse_time(t, offset).map_err(|e| cannot(format!("{flag}: {e}"))))
            .transpose()
    };
    let (from, to) = (time("--from", &args.from)?, time("--to", &args.to)?);
    if let (Some(f), Some(t)) = (from, to) {
        if f > t {
            return Err(cannot("--from is after --to".into()));
        }
    }

    let path = edgeproof::agent::journal_path(&cfg);
    if !path.exists() {
        return Err(cannot(format!("{}: no journal here (has the agent run?)", path.display())));
    }
    let journal = EvidenceReader::open(&path).map_err(|e| cannot(e.to_string()))?;
    let first = journal.read(0, 1).map_err(|e| cannot(e.to_string()))?;
    let Some(enroll) = first.first() else {
        return Err(Failure::Negative(format!(
            "{}: no evidence records (is evidence on? see `edgeproof keygen`)",
            path.display()
        )));
    };
    let enroll = canonical::parse(&enroll.payload)
        .map_err(|e| cannot(format!("{}: evidence seq 0 unreadable: {e}", path.display())))?;
    let header = Header {
        bundle: BUNDLE_VERSION,
        origin: enroll["origin"].as_str().unwrap_or_default().to_string(),
        public_key: enroll["body"]["key"].as_str().unwrap_or_default().to_string(),
    };

    // Checkpoints and the cosigned ones witnesses returned, by the tree size they cover
    // (a cosigned note right after its checkpoint).
    let dir = &cfg.gateway.data_dir;
    let read = |f: CheckpointFile| f.read().map(|s| s.notes).map_err(|e| cannot(e.to_string()));
    let checkpoints = read(CheckpointFile::in_dir(dir))?;
    let cosigned = read(CheckpointFile::cosignatures_in_dir(dir))?;
    let mut notes: Vec<(u64, bool, String)> = checkpoints
        .into_iter()
        .map(|n| (false, n))
        .chain(cosigned.into_iter().map(|n| (true, n)))
        .filter_map(|(is_cosigned, n)| {
            let note = SignedNote::parse(&n).ok()?;
            let cp = Checkpoint::parse_body(&note.text).ok()?;
            let line = if is_cosigned { cosignature_line(&n) } else { checkpoint_line(&n) };
            Some((cp.size, is_cosigned, line))
        })
        .collect();
    notes.sort_by_key(|(size, is_cosigned, _)| (*size, *is_cosigned));

    let tmp = tmp_path(&args.output);
    let file = File::create(&tmp).map_err(|e| cannot(format!("{}: {e}", tmp.display())))?;
    let mut out = BufWriter::new(file);
    let io = |e: std::io::Error| cannot(format!("{}: {e}", tmp.display()));
    out.write_all(header_line(&header).as_bytes()).map_err(io)?;
    let (mut written, mut last_wall, mut cps, mut cosigs) = (0u64, 0u64, 0usize, 0usize);
    let mut next_note = 0;
    'read: loop {
        let chunk = journal.read(written, CHUNK).map_err(|e| cannot(e.to_string()))?;
        let n = chunk.len();
        for rec in chunk {
            if let Some(to) = to {
                let wall = canonical::parse(&rec.payload)
                    .ok()
                    .and_then(|v| v["t"]["wall_ms"].as_u64())
                    .unwrap_or(0);
                if wall > to {
                    break 'read;
                }
                last_wall = wall;
            }
            out.write_all(&record_line(&rec.payload)).map_err(io)?;
            written += 1;
            while let Some((_, is_cosigned, line)) =
                notes.get(next_note).filter(|(size, _, _)| *size <= written)
            {
                out.write_all(line.as_bytes()).map_err(io)?;
                next_note += 1;
                if *is_cosigned {
                    cosigs += 1;
                } else {
                    cps += 1;
                }
            }
        }
        if n < CHUNK {
            break;
        }
    }
    out.flush().map_err(io)?;
    out.get_ref().sync_all().map_err(io)?;
    drop(out);
    std::fs::rename(&tmp, &args.output)
        .map_err(|e| cannot(format!("{}: {e}", args.output.display())))?;
    let mut summary = format!(
        "exported {written} records (seq 0–{}), {cps} checkpoints and {cosigs} cosigned \
         checkpoints of {} to {}",
        written.saturating_sub(1),
        header.origin,
        args.output.display()
    );
    if let Some(from) = from {
        summary.push_str(&format!(
            "\nnote: records before --from ({from} ms) are included: verification needs the chain \
             from seq 0; use `report --from` for the period"
        ));
    }
    if to.is_some() && written > 0 {
        summary.push_str(&format!("\nlast record included written at {last_wall} ms"));
    }
    // Count what was left out by kind: a cosignature line is not a checkpoint.
    let left: Vec<bool> = notes[next_note..].iter().map(|(_, c, _)| *c).collect();
    let (left_cps, left_cosigs) =
        (left.iter().filter(|c| !**c).count(), left.iter().filter(|c| **c).count());
    if left_cps + left_cosigs > 0 {
        summary.push_str(&format!(
            "\n{left_cps} newer checkpoint(s) and {left_cosigs} cosigned checkpoint(s) left out: \
             they cover records after --to"
        ));
    }
    Ok(summary)
}

/// `bundle.jsonl` → `bundle.jsonl.tmp-<pid>` in the same directory.
fn tmp_path(output: &Path) -> PathBuf {
    let mut name = output.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(format!(".tmp-{}", std::process::id()));
    output.with_file_name(name)
}
