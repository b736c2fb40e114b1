//! The gateway's own copy of every checkpoint it signed: `checkpoints.jsonl` beside the
//! journal, one bundle checkpoint line (`{"checkpoint":"<signed note>"}`) per checkpoint,
//! oldest first, so `export` copies lines as they are. Cosigned checkpoints that came back
//! from witnesses go the same way into `cosignatures.jsonl` as bundle cosignature lines
//! (`{"cosignature":"<signed note with the witness lines>"}`).
//!
//! Appends are fsynced before the checkpoint is published. A crash in the middle of an
//! append leaves a torn last line: readers skip any line that does not parse (and say how
//! many), and the next append starts on a fresh line. The file is small (one ~250-byte line
//! per checkpoint; hourly for a year ≈ 2 MB) and never pruned: a reviewer may need an old
//! checkpoint that a witness cosigned.

use std::fs::OpenOptions;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use super::super::bundle::{checkpoint_line, cosignature_line, parse_line, Line};

/// File name inside the data directory.
pub const CHECKPOINTS_FILE: &str = "checkpoints.jsonl";
/// File name of the cosigned checkpoints inside the data directory.
pub const COSIGNATURES_FILE: &str = "cosignatures.jsonl";

/// Why the checkpoint file could not be used.
#[derive(Debug, thiserror::Error)]
#[error("checkpoint file {path}: {source}")]
pub struct CheckpointFileError {
    /// The file.
    pub path: PathBuf,
    /// The OS error.
    pub source: std::io::Error,
}

/// What a read of the file found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct StoredCheckpoints {
    /// The signed notes, oldest first.
    pub notes: Vec<String>,
    /// Lines that did not parse (a torn last write, or damage).
    pub skipped: usize,
}

/// The checkpoint (or cosignature) file of one gateway.
#[derive(Debug, Clone)]
pub struct CheckpointFile {
    path: PathBuf,
    cosigned: bool,
}

impl CheckpointFile {
    /// The file `checkpoints.jsonl` in `dir` (created on the first append).
    pub fn in_dir(dir: &Path) -> Self {
        CheckpointFile { path: dir.join(CHECKPOINTS_FILE), cosigned: false }
    }

    /// The file `cosignatures.jsonl` in `dir`: cosigned notes, as bundle cosignature lines.
    pub fn cosignatures_in_dir(dir: &Path) -> Self {
        CheckpointFile { path: dir.join(COSIGNATURES_FILE), cosigned: true }
    }

    /// Where it is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn err(&self) -> impl FnOnce(std::io::Error) -> CheckpointFileError + '_ {
        |source| CheckpointFileError { path: self.path.clone(), source }
    }

    /// Appends one signed note and fsyncs. Blocking: call off the async runtime.
    pub fn append(&self, note: &str) -> Result<(), CheckpointFileError> {
        let mut f = OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(&self.path)
            .map_err(self.err())?;
        let mut line = String::new();
        // A torn earlier append has no newline at the end: start a fresh line after it.
        let len = f.metadata().map_err(self.err())?.len();
        if len > 0 {
            let mut last = [0u8; 1];
            f.seek(SeekFrom::End(-1)).map_err(self.err())?;
            f.read_exact(&mut last).map_err(self.err())?;
            if last[0] != b'\n' {
                line.push('\n');
            }
        }
        line.push_str(&if self.cosigned { cosignature_line(note) } else { checkpoint_line(note) });
        f.write_all(line.as_bytes()).map_err(self.err())?;
        f.sync_data().map_err(self.err())
    }

    /// Every checkpoint stored; an absent file holds none. Blocking.
    pub fn read(&self) -> Result<StoredCheckpoints, CheckpointFileError> {
        let bytes = match std::fs::read(&self.path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Default::default()),
            Err(e) => return Err(self.err()(e)),
        };
        let mut out = StoredCheckpoints::default();
        for line in bytes.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            match (parse_line(line), self.cosigned) {
                (Ok(Line::Checkpoint(note)), false) | (Ok(Line::Cosignature(note)), true) => {
                    out.notes.push(note)
                }
                _ => out.skipped += 1,
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appends_survive_a_torn_line_and_read_back_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let file = CheckpointFile::in_dir(dir.path());
        assert_eq!(file.read().unwrap(), StoredCheckpoints::default(), "absent file");
        file.append("o\n1\nAAAA\n\n— o sig\n").unwrap();
        // A crash mid-append: half a line without its newline.
        std::fs::OpenOptions::new()
            .append(true)
            .open(file.path())
            .unwrap()
            .write_all(b"{\"checkpoint\":\"o\\n2")
            .unwrap();
        file.append("o\n3\nBBBB\n\n— o sig\n").unwrap();
        let got = file.read().unwrap();
        assert_eq!(got.notes, vec!["o\n1\nAAAA\n\n— o sig\n", "o\n3\nBBBB\n\n— o sig\n"]);
        assert_eq!(got.skipped, 1);
    }

    #[test]
    fn cosigned_notes_are_kept_as_cosignature_lines() {
        let dir = tempfile::tempdir().unwrap();
        let file = CheckpointFile::cosignatures_in_dir(dir.path());
        file.append("o\n1\nAAAA\n\n— o sig\n— w cosig\n").unwrap();
        let text = std::fs::read_to_string(file.path()).unwrap();
        assert!(text.starts_with("{\"cosignature\":"), "{text}");
        assert_eq!(file.read().unwrap().notes, vec!["o\n1\nAAAA\n\n— o sig\n— w cosig\n"]);
        assert_eq!(CheckpointFile::in_dir(dir.path()).read().unwrap().notes.len(), 0);
    }
}
