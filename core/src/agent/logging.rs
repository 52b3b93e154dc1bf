//! Agent logs: `<home>/Logs/OctopusTentacle.txt.<date>[.<part>]`, rolled daily and by size with a cap per file and in total, plus the console when run in the foreground.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use tracing_appender::non_blocking::WorkerGuard;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, fmt};

/// The log file's name prefix, as Tentacle names it.
pub const LOG_FILE: &str = "OctopusTentacle.txt";

/// Starts logging to `logs_dir` (and stderr when `console`). Keep the guard alive for all of
/// `main`: dropping it flushes and stops the file writer. `TENTACLE_LOG` sets the level (info).
pub fn init(logs_dir: &Path, console: bool) -> std::io::Result<WorkerGuard> {
    std::fs::create_dir_all(logs_dir)?;
    // The non-blocking writer's thread does the file work, rolling included, off the runtime.
    let appender = RollingFile::new(logs_dir, RollLimits::default());
    let (writer, guard) = tracing_appender::non_blocking(appender);
    let filter =
        || EnvFilter::try_from_env("TENTACLE_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let file_layer = fmt::layer()
        .with_writer(writer)
        .with_ansi(false)
        .with_target(false)
        .with_filter(filter());
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let console_layer = console.then(|| {
        fmt::layer()
            .with_writer(std::io::stderr)
            .with_ansi(ansi)
            .with_target(false)
            .with_filter(filter())
    });
    // A second initialisation (tests starting two agents in one process) keeps the first subscriber.
    let _ = tracing_subscriber::registry()
        .with(file_layer)
        .with(console_layer)
        .try_init();
    Ok(guard)
}

/// How much log is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RollLimits {
    /// A file is rolled before it grows past this.
    pub max_file: u64,
    /// The oldest files are deleted while all of them together are larger than this.
    pub max_total: u64,
    /// Days of logs kept at most.
    pub keep_days: usize,
}

impl Default for RollLimits {
    fn default() -> Self {
        RollLimits {
            max_file: 10 * 1024 * 1024,
            max_total: 100 * 1024 * 1024,
            keep_days: 7,
        }
    }
}

/// The log file writer: one file per UTC day (`OctopusTentacle.txt.2026-12-01`), continued in
/// numbered parts (`….2026-12-01.0001`) when a file reaches its cap, so that names sort in
/// the order they were written (the manager shows the greatest). A flood of log lines can
/// fill at most [`RollLimits::max_total`] of disk.
#[derive(Debug)]
pub struct RollingFile {
    dir: PathBuf,
    limits: RollLimits,
    current: Option<Current>,
}

#[derive(Debug)]
struct Current {
    file: File,
    date: String,
    part: u32,
    size: u64,
}

impl RollingFile {
    /// Writes under `dir` within `limits`; files are opened on the first write.
    pub fn new(dir: &Path, limits: RollLimits) -> RollingFile {
        RollingFile {
            dir: dir.to_path_buf(),
            limits,
            current: None,
        }
    }

    fn name(date: &str, part: u32) -> String {
        if part == 0 {
            format!("{LOG_FILE}.{date}")
        } else {
            format!("{LOG_FILE}.{date}.{part:04}")
        }
    }

    /// Our log files in `dir` with their sizes, oldest name first.
    fn listing(&self) -> Vec<(String, u64)> {
        let mut out: Vec<(String, u64)> = std::fs::read_dir(&self.dir)
            .into_iter()
            .flatten()
            .filter_map(Result::ok)
            .filter_map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                let meta = e.metadata().ok()?;
                (meta.is_file() && name.starts_with(&format!("{LOG_FILE}.")))
                    .then_some((name, meta.len()))
            })
            .collect();
        out.sort();
        out
    }

    /// Opens the file for `date`, continuing the last part written today (after a restart)
    /// unless it is full.
    fn open(&mut self, date: String, at_least: u32) -> std::io::Result<()> {
        let today = Self::name(&date, 0);
        let mut part = self
            .listing()
            .iter()
            .filter(|(n, _)| n.starts_with(&today))
            .filter_map(|(n, _)| match &n[today.len()..] {
                "" => Some(0),
                rest => rest.strip_prefix('.').and_then(|p| p.parse::<u32>().ok()),
            })
            .max()
            .unwrap_or(0)
            .max(at_least);
        let mut path = self.dir.join(Self::name(&date, part));
        let mut size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        if size >= self.limits.max_file {
            part += 1;
            path = self.dir.join(Self::name(&date, part));
            size = 0;
        }
        let file = OpenOptions::new().create(true).append(true).open(&path)?;
        self.current = Some(Current {
            file,
            date,
            part,
            size,
        });
        self.prune();
        Ok(())
    }

    /// Deletes the oldest files beyond the day and size caps (never the current one).
    fn prune(&self) {
        let current = self
            .current
            .as_ref()
            .map(|c| Self::name(&c.date, c.part))
            .unwrap_or_default();
        let mut files = self.listing();
        let day = |n: &str| n[LOG_FILE.len() + 1..].chars().take(10).collect::<String>();
        loop {
            // Room is kept for the current file to grow to its cap.
            let total: u64 = files
                .iter()
                .filter(|(n, _)| *n != current)
                .map(|(_, s)| s)
                .sum::<u64>()
                + self.limits.max_file;
            let mut days: Vec<String> = files.iter().map(|(n, _)| day(n)).collect();
            days.dedup();
            let Some((oldest, _)) = files.first() else {
                return;
            };
            if *oldest == current
                || (total <= self.limits.max_total && days.len() <= self.limits.keep_days)
            {
                return;
            }
            let _ = std::fs::remove_file(self.dir.join(oldest));
            files.remove(0);
        }
    }
}

impl Write for RollingFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let date = utc_date(SystemTime::now());
        match &self.current {
            Some(c) if c.date != date => self.open(date, 0)?,
            None => self.open(date, 0)?,
            Some(c) if c.size > 0 && c.size + buf.len() as u64 > self.limits.max_file => {
                let next = c.part + 1;
                self.open(date, next)?
            }
            Some(_) => {}
        }
        let Some(c) = self.current.as_mut() else {
            return Err(std::io::Error::other("no log file is open"));
        };
        c.file.write_all(buf)?;
        c.size += buf.len() as u64;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self.current.as_mut() {
            Some(c) => c.file.flush(),
            None => Ok(()),
        }
    }
}

/// `YYYY-MM-DD` in UTC (the civil-from-days algorithm, to avoid a date crate here).
fn utc_date(t: SystemTime) -> String {
    let secs = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let z = (secs / 86_400) as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn dates_are_utc_calendar_days() {
        let at = |s: u64| utc_date(SystemTime::UNIX_EPOCH + Duration::from_secs(s));
        assert_eq!(at(0), "1970-01-01");
        assert_eq!(at(951_782_400), "2000-02-29");
        assert_eq!(at(1_796_083_199), "2026-11-30");
        assert_eq!(at(1_796_083_200), "2026-12-01");
    }

    #[test]
    fn a_flood_of_lines_rolls_by_size_and_stays_under_the_total_cap() {
        let dir = tempfile::tempdir().unwrap();
        // Yesterday's file and a stranger that must be left alone.
        let old = dir.path().join(format!("{LOG_FILE}.2000-01-01"));
        File::create(&old).unwrap().write_all(&[b'x'; 300]).unwrap();
        File::create(dir.path().join("other.txt")).unwrap();
        let limits = RollLimits {
            max_file: 1000,
            max_total: 3500,
            keep_days: 7,
        };
        let mut w = RollingFile::new(dir.path(), limits);
        let line = [b'y'; 99];
        for _ in 0..1000 {
            w.write_all(&line).unwrap();
            w.write_all(b"\n").unwrap();
        }
        w.flush().unwrap();
        let files = w.listing();
        let total: u64 = files.iter().map(|(_, s)| s).sum();
        assert!(total <= 3500, "{files:?}");
        assert!(files.iter().all(|(_, s)| *s <= 1000), "{files:?}");
        assert!(files.len() >= 3, "{files:?}");
        assert!(!old.exists(), "the oldest file goes first");
        assert!(dir.path().join("other.txt").exists());
        let today = utc_date(SystemTime::now());
        let newest = files.last().unwrap().0.clone();
        assert!(
            newest.starts_with(&format!("{LOG_FILE}.{today}.")),
            "{newest}"
        );
        // A restart continues the newest part rather than starting over at part 0.
        drop(w);
        let mut again = RollingFile::new(dir.path(), limits);
        again.write_all(b"after restart\n").unwrap();
        let newest_after = again.listing().last().unwrap().0.clone();
        assert!(newest_after >= newest, "{newest_after} < {newest}");
    }
}
