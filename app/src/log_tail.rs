//! Reading the agent's log without reading all of it: the newest rolled file, its tail, new lines as they come, in a bounded ring of lines.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// The agent's log file prefix (`OctopusTentacle.txt.2026-12-01` once rolled daily).
pub const LOG_PREFIX: &str = tentacle_core::agent::logging::LOG_FILE;
/// How much of the end of a file is read when it is opened (a log of any size costs at most this).
pub const TAIL_BYTES: u64 = 256 * 1024;
/// At most this much is read per look; a log that grew more in between is skipped ahead.
pub const READ_LIMIT: u64 = 1024 * 1024;
/// Lines kept in memory.
pub const MAX_LINES: usize = 5000;
/// A line longer than this is cut (a runaway line must not hold the memory bound hostage).
pub const MAX_LINE: usize = 4096;

/// A log line's level, as tracing's fmt layer writes it after the timestamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// TRACE.
    Trace,
    /// DEBUG.
    Debug,
    /// INFO.
    Info,
    /// WARN.
    Warn,
    /// ERROR.
    Error,
}

impl Level {
    /// The word shown in the filter.
    pub fn word(self) -> &'static str {
        match self {
            Level::Trace => "Trace",
            Level::Debug => "Debug",
            Level::Info => "Info",
            Level::Warn => "Warn",
            Level::Error => "Error",
        }
    }
}

/// One line of the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    /// Its level; `None` for continuation lines (a multi-line message, a backtrace).
    pub level: Option<Level>,
    /// The text as written.
    pub text: String,
}

impl LogLine {
    /// Parses the level from "2026-12-01T10:00:00.000000Z  WARN message".
    pub fn parse(text: String) -> LogLine {
        let level = text.split_whitespace().take(2).find_map(|word| match word {
            "ERROR" => Some(Level::Error),
            "WARN" => Some(Level::Warn),
            "INFO" => Some(Level::Info),
            "DEBUG" => Some(Level::Debug),
            "TRACE" => Some(Level::Trace),
            _ => None,
        });
        LogLine { level, text }
    }

    /// The text after the timestamp and level ("message").
    pub fn message(&self) -> &str {
        let Some(level) = self.level else {
            return &self.text;
        };
        let word = level.word().to_ascii_uppercase();
        self.text
            .find(&word)
            .map_or(&self.text, |i| self.text[i + word.len()..].trim_start())
    }
}

/// The newest log file in `dir` (rolled files sort by date in their name), if any.
pub fn newest_log(dir: &Path) -> Option<PathBuf> {
    let entries = std::fs::read_dir(dir).ok()?;
    entries
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with(LOG_PREFIX))
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .map(|e| e.path())
        .max()
}

/// A followed log: the file, how far it was read, and the last [`MAX_LINES`] lines.
#[derive(Debug)]
pub struct LogTail {
    dir: PathBuf,
    /// True: follow the newest log in `dir`; false: one file.
    follow_dir: bool,
    file: Option<PathBuf>,
    /// How far the file was read; `None` before the first look.
    offset: Option<u64>,
    partial: Vec<u8>,
    /// The lines kept, oldest first.
    pub lines: VecDeque<LogLine>,
    /// Lines dropped from the front since the view opened (so a view can keep its place).
    pub dropped: u64,
    /// Bytes skipped because the log grew faster than it was read (shown as a note).
    pub skipped: u64,
}

impl LogTail {
    /// Follows the newest log in `dir` (which need not exist yet).
    pub fn new(dir: &Path) -> LogTail {
        LogTail {
            dir: dir.to_path_buf(),
            follow_dir: true,
            file: None,
            offset: None,
            partial: Vec::new(),
            lines: VecDeque::new(),
            dropped: 0,
            skipped: 0,
        }
    }

    /// A single file (a script's output) rather than a log folder.
    pub fn file(path: &Path) -> LogTail {
        let mut tail = LogTail::new(path.parent().unwrap_or(Path::new(".")));
        tail.follow_dir = false;
        tail.file = Some(path.to_path_buf());
        tail
    }

    /// The file being read.
    pub fn path(&self) -> Option<&Path> {
        self.file.as_deref()
    }

    /// The folder followed.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Reads what is new; returns true when lines were added. Never reads more than
    /// [`READ_LIMIT`]; a rolled or truncated file is started again from its tail.
    pub fn poll(&mut self) -> std::io::Result<bool> {
        if self.follow_dir {
            let newest = newest_log(&self.dir);
            if newest != self.file {
                self.file = newest;
                self.offset = None;
            }
        }
        let Some(path) = self.file.clone() else {
            return Ok(false);
        };
        let mut file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(e),
        };
        let len = file.metadata()?.len();
        // Where to read from, and whether that is mid-line (a tail, or a skip ahead).
        let (mut start, mut mid_line) = match self.offset {
            Some(at) if at <= len => (at, false),
            // First look, or truncated or replaced: the tail only.
            _ => {
                self.partial.clear();
                let at = len.saturating_sub(TAIL_BYTES);
                (at, at > 0)
            }
        };
        if len - start > READ_LIMIT {
            self.skipped += len - READ_LIMIT - start;
            start = len - READ_LIMIT;
            mid_line = true;
            self.partial.clear();
        }
        self.offset = Some(len);
        if start == len {
            return Ok(false);
        }
        file.seek(SeekFrom::Start(start))?;
        let mut bytes = Vec::new();
        file.take(len - start).read_to_end(&mut bytes)?;
        self.offset = Some(start + bytes.len() as u64);
        let mut chunk = &bytes[..];
        if mid_line {
            chunk = match chunk.iter().position(|b| *b == b'\n') {
                Some(i) => &chunk[i + 1..],
                None => &[],
            };
        }
        let mut added = false;
        for piece in chunk.split_inclusive(|b| *b == b'\n') {
            if piece.last() != Some(&b'\n') {
                self.partial.extend_from_slice(piece);
                self.partial.truncate(MAX_LINE);
                continue;
            }
            let mut line = std::mem::take(&mut self.partial);
            line.extend_from_slice(&piece[..piece.len() - 1]);
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            line.truncate(MAX_LINE);
            self.push(LogLine::parse(String::from_utf8_lossy(&line).into_owned()));
            added = true;
        }
        Ok(added)
    }

    fn push(&mut self, line: LogLine) {
        if self.lines.len() == MAX_LINES {
            self.lines.pop_front();
            self.dropped += 1;
        }
        self.lines.push_back(line);
    }
}

/// The last ERROR (else WARN) message in the newest log of `dir`, for "Crashed …: <last error>".
/// Reads at most [`TAIL_BYTES`].
pub fn last_error(dir: &Path) -> Option<String> {
    let mut tail = LogTail::new(dir);
    tail.poll().ok()?;
    let find = |level| {
        tail.lines
            .iter()
            .rev()
            .find(|l| l.level == Some(level))
            .map(|l| l.message().to_owned())
    };
    find(Level::Error).or_else(|| find(Level::Warn))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn append(path: &Path, text: &str) {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .unwrap();
        f.write_all(text.as_bytes()).unwrap();
    }

    #[test]
    fn levels_and_messages_parse() {
        let l = LogLine::parse("2026-12-01T10:00:00.123456Z  WARN polling: refused".into());
        assert_eq!(l.level, Some(Level::Warn));
        assert_eq!(l.message(), "polling: refused");
        let c = LogLine::parse("   at frame 3".into());
        assert_eq!(c.level, None);
        assert_eq!(c.message(), "   at frame 3");
    }

    #[test]
    fn follows_the_newest_file_and_only_complete_lines() {
        let dir = tempfile::tempdir().unwrap();
        let mut tail = LogTail::new(dir.path());
        assert!(!tail.poll().unwrap(), "no log yet is not an error");
        let old = dir.path().join(format!("{LOG_PREFIX}.2026-11-30"));
        append(&old, "2026-11-30T10:00:00Z  INFO old\n");
        assert!(tail.poll().unwrap());
        let new = dir.path().join(format!("{LOG_PREFIX}.2026-12-01"));
        append(
            &new,
            "2026-12-01T10:00:00Z  INFO one\n2026-12-01T10:00:01Z ERROR tw",
        );
        assert!(tail.poll().unwrap());
        assert_eq!(tail.lines.back().unwrap().message(), "one");
        append(&new, "o\n");
        assert!(tail.poll().unwrap());
        assert_eq!(tail.lines.back().unwrap().message(), "two");
        assert_eq!(tail.lines.back().unwrap().level, Some(Level::Error));
        assert!(!tail.poll().unwrap());
        assert_eq!(last_error(dir.path()).as_deref(), Some("two"));
    }

    #[test]
    fn a_huge_log_costs_only_its_tail_and_the_ring_is_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(LOG_PREFIX);
        let line = format!("2026-12-01T10:00:00Z  INFO {}\n", "x".repeat(90));
        append(&path, &line.repeat(40_000)); // ~4.8 MB
        let mut tail = LogTail::new(dir.path());
        tail.poll().unwrap();
        assert!(tail.lines.len() <= (TAIL_BYTES as usize / line.len()) + 1);
        assert!(
            tail.lines.iter().all(|l| l.level == Some(Level::Info)),
            "no cut first line"
        );
        append(&path, &line.repeat(20_000)); // more than READ_LIMIT at once
        tail.poll().unwrap();
        assert!(tail.skipped > 0);
        assert_eq!(tail.lines.len(), MAX_LINES);
        assert!(tail.dropped > 0);
        // Truncation (a new file under the same name) starts again.
        std::fs::File::create(&path).unwrap();
        append(&path, "2026-12-01T11:00:00Z ERROR fresh\n");
        tail.poll().unwrap();
        assert_eq!(tail.lines.back().unwrap().message(), "fresh");
    }
}
