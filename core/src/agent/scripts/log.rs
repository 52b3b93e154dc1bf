//! `Output.log`: one JSON array `["stdout"|"stderr"|"debug", text, RFC 3339 time]` per line of script output, appended as it arrives and read back in bounded pages by log sequence (E7).
//!
//! Memory stays bounded however much a script prints: lines live on disk, and only a sparse
//! index (one byte offset per [`INDEX_STRIDE`] entries) is kept to seek to a sequence quickly.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::contracts::{ProcessOutput, ProcessOutputSource};

/// One byte offset is remembered per this many entries.
pub const INDEX_STRIDE: u64 = 1024;
/// Most entries one GetStatus returns.
pub const MAX_PAGE_LINES: usize = 10_000;
/// Most text bytes one GetStatus returns (keeps a response far below Halibut's message limit).
pub const MAX_PAGE_BYTES: usize = 4 * 1024 * 1024;
/// Longer output lines are split into pieces of this size.
pub const MAX_LINE_BYTES: usize = 256 * 1024;

struct Inner {
    writer: Option<BufWriter<File>>,
    /// Entries in the file.
    count: u64,
    /// Bytes in the file.
    bytes: u64,
    /// `index[k]` = offset of entry `k * INDEX_STRIDE`.
    index: Vec<u64>,
}

/// A script's log file.
pub struct ScriptLog {
    path: PathBuf,
    inner: Mutex<Inner>,
}

impl std::fmt::Debug for ScriptLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScriptLog")
            .field("path", &self.path)
            .finish()
    }
}

/// One page of log entries.
#[derive(Debug, Clone, Default)]
pub struct LogPage {
    /// The entries.
    pub logs: Vec<ProcessOutput>,
    /// max(caller's sequence, sequence after the last entry read) (E7).
    pub next: i64,
}

fn encode(source: ProcessOutputSource, text: &str, at: ::bson::DateTime) -> String {
    let time = at
        .try_to_rfc3339_string()
        .unwrap_or_else(|_| "1970-01-01T00:00:00Z".to_owned());
    let mut line = serde_json::to_string(&(source.as_str(), text, time)).unwrap_or_else(|_| {
        "[\"stderr\",\"(unencodable log line)\",\"1970-01-01T00:00:00Z\"]".into()
    });
    line.push('\n');
    line
}

fn decode(line: &str) -> Option<ProcessOutput> {
    let (source, text, time): (String, Option<String>, Option<String>) =
        serde_json::from_str(line.trim_end()).ok()?;
    let source = ProcessOutputSource::parse(&source)?;
    let occurred = ::bson::DateTime::parse_rfc3339_str(time?).ok()?;
    Some(ProcessOutput {
        source: source as i32,
        occurred,
        text: text?,
    })
}

impl ScriptLog {
    /// Opens (creating if needed) the log at `path`, indexing what it already holds.
    pub fn open(path: &Path) -> std::io::Result<ScriptLog> {
        // Script output can echo secrets: owner-only from creation.
        let file = super::private::open_append(path)?;
        let mut inner = Inner {
            writer: None,
            count: 0,
            bytes: 0,
            index: Vec::new(),
        };
        let mut reader = BufReader::new(File::open(path)?);
        let mut line = Vec::new();
        loop {
            line.clear();
            let n = reader.read_until(b'\n', &mut line)?;
            if n == 0 || line.last() != Some(&b'\n') {
                // A torn final line (crash mid-write) is left for readers to report.
                break;
            }
            if inner.count.is_multiple_of(INDEX_STRIDE) {
                inner.index.push(inner.bytes);
            }
            inner.count += 1;
            inner.bytes += n as u64;
        }
        inner.writer = Some(BufWriter::with_capacity(64 * 1024, file));
        Ok(ScriptLog {
            path: path.to_path_buf(),
            inner: Mutex::new(inner),
        })
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves consistent counters; keep going.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Appends one entry now (buffered; see [`ScriptLog::flush`]).
    pub fn append(&self, source: ProcessOutputSource, text: &str) -> std::io::Result<()> {
        self.append_at(source, text, ::bson::DateTime::now())
    }

    /// Appends one entry with its capture time.
    pub fn append_at(
        &self,
        source: ProcessOutputSource,
        text: &str,
        at: ::bson::DateTime,
    ) -> std::io::Result<()> {
        let line = encode(source, text, at);
        let mut inner = self.lock();
        let Some(w) = inner.writer.as_mut() else {
            return Err(std::io::Error::other("the script log is closed"));
        };
        w.write_all(line.as_bytes())?;
        if inner.count.is_multiple_of(INDEX_STRIDE) {
            let at = inner.bytes;
            inner.index.push(at);
        }
        inner.count += 1;
        inner.bytes += line.len() as u64;
        Ok(())
    }

    /// Writes buffered entries to the file.
    pub fn flush(&self) -> std::io::Result<()> {
        match self.lock().writer.as_mut() {
            Some(w) => w.flush(),
            None => Ok(()),
        }
    }

    /// Flushes and closes the file handle (before the workspace is deleted).
    pub fn close(&self) {
        let mut inner = self.lock();
        if let Some(mut w) = inner.writer.take() {
            let _ = w.flush();
        }
    }

    /// Entries written so far.
    pub fn count(&self) -> u64 {
        self.lock().count
    }

    /// Reads the entries after sequence `after` (blocking I/O: call from a blocking task).
    pub fn read_page(
        &self,
        after: i64,
        max_lines: usize,
        max_bytes: usize,
    ) -> std::io::Result<LogPage> {
        let start = after.max(0) as u64;
        let (count, offset, skip) = {
            let mut inner = self.lock();
            if let Some(w) = inner.writer.as_mut() {
                w.flush()?;
            }
            if start >= inner.count {
                return Ok(LogPage {
                    logs: Vec::new(),
                    next: after.max(inner.count as i64),
                });
            }
            let slot = (start / INDEX_STRIDE) as usize;
            let offset = inner.index.get(slot).copied().unwrap_or(0);
            let skip = if inner.index.get(slot).is_some() {
                start - slot as u64 * INDEX_STRIDE
            } else {
                start
            };
            (inner.count, offset, skip)
        };
        let mut reader = BufReader::new(File::open(&self.path)?);
        reader.seek(SeekFrom::Start(offset))?;
        let mut seq = start - skip;
        let mut line = Vec::new();
        let mut page = LogPage::default();
        let mut bytes = 0usize;
        let mut last_time = None;
        while seq < count && page.logs.len() < max_lines && bytes < max_bytes {
            line.clear();
            if reader.read_until(b'\n', &mut line)? == 0 {
                break;
            }
            if seq < start {
                seq += 1;
                continue;
            }
            match std::str::from_utf8(&line).ok().and_then(decode) {
                Some(entry) => {
                    bytes += entry.text.len() + 64;
                    last_time = Some(entry.occurred);
                    page.logs.push(entry);
                }
                None => {
                    page.logs.push(ProcessOutput {
                        source: ProcessOutputSource::StdErr as i32,
                        occurred: last_time.unwrap_or_else(::bson::DateTime::now),
                        text: format!(
                            "Corrupt Tentacle log at line {seq}, no more logs will be read"
                        ),
                    });
                    return Ok(LogPage {
                        logs: page.logs,
                        next: after.max(seq as i64),
                    });
                }
            }
            seq += 1;
        }
        page.next = after.max(seq as i64);
        Ok(page)
    }

    /// Reads with the default page limits.
    pub fn read(&self, after: i64) -> std::io::Result<LogPage> {
        self.read_page(after, MAX_PAGE_LINES, MAX_PAGE_BYTES)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_are_bounded_contiguous_and_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("Output.log");
        let log = ScriptLog::open(&path).unwrap();
        for i in 0..5000 {
            let src = if i % 2 == 0 {
                ProcessOutputSource::StdOut
            } else {
                ProcessOutputSource::StdErr
            };
            log.append(src, &format!("line \"{i}\"\n")).unwrap();
        }
        let mut seen = 0i64;
        loop {
            let page = log.read_page(seen, 777, usize::MAX).unwrap();
            if page.logs.is_empty() {
                assert_eq!(page.next, seen);
                break;
            }
            for (k, e) in page.logs.iter().enumerate() {
                assert_eq!(e.text, format!("line \"{}\"\n", seen + k as i64));
            }
            assert!(page.logs.len() <= 777);
            seen = page.next;
        }
        assert_eq!(seen, 5000);
        // The caller ahead of the file gets its own value back (E7).
        assert_eq!(log.read(9000).unwrap().next, 9000);
        log.close();
        let again = ScriptLog::open(&path).unwrap();
        assert_eq!(again.count(), 5000);
        let page = again.read(4990).unwrap();
        assert_eq!(page.logs.len(), 10);
        assert_eq!(page.logs[0].source, ProcessOutputSource::StdOut as i32);
        assert_eq!(page.logs[1].source, ProcessOutputSource::StdErr as i32);
    }

    #[test]
    fn a_corrupt_entry_stops_reading_with_a_synthetic_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("Output.log");
        let log = ScriptLog::open(&path).unwrap();
        log.append(ProcessOutputSource::StdOut, "good").unwrap();
        log.close();
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        f.write_all(b"not json\n").unwrap();
        drop(f);
        let log = ScriptLog::open(&path).unwrap();
        log.append(ProcessOutputSource::StdOut, "after").unwrap();
        let page = log.read(0).unwrap();
        assert_eq!(page.logs.len(), 2);
        assert_eq!(page.logs[0].text, "good");
        assert!(
            page.logs[1]
                .text
                .starts_with("Corrupt Tentacle log at line 1")
        );
        assert_eq!(page.next, 1);
    }
}
