//! Received DataStreams on disk: spooled by a blocking writer fed over a bounded channel, and deleted off the async runtime.

use std::path::{Path, PathBuf};

use super::bson::Guid;

/// A DataStream received and spooled to a temp file, deleted when dropped unless persisted.
#[derive(Debug)]
pub struct ReceivedStream {
    /// Its id.
    pub id: Guid,
    /// Its length.
    pub length: u64,
    /// Always `Some` until persisted or dropped.
    file: Option<tempfile::TempPath>,
}

impl Drop for ReceivedStream {
    fn drop(&mut self) {
        // Deleting a large file can block for a while; keep that off the async workers.
        if let Some(file) = self.file.take() {
            match tokio::runtime::Handle::try_current() {
                Ok(rt) => {
                    rt.spawn_blocking(move || drop(file));
                }
                Err(_) => drop(file),
            }
        }
    }
}

impl ReceivedStream {
    pub(crate) fn new(id: Guid, length: u64, file: tempfile::TempPath) -> ReceivedStream {
        ReceivedStream {
            id,
            length,
            file: Some(file),
        }
    }

    /// Where the bytes are.
    pub fn path(&self) -> &Path {
        self.file.as_deref().unwrap_or(Path::new(""))
    }

    /// Reads it into memory; only for streams known to be small.
    pub fn read_to_vec(&self, max: u64) -> std::io::Result<Vec<u8>> {
        if self.length > max {
            return Err(std::io::Error::other(format!(
                "DataStream of {} bytes is larger than the {max} bytes this call accepts",
                self.length
            )));
        }
        std::fs::read(self.path())
    }

    /// Moves it to `dest` (same file system) or copies it, then forgets the temp file.
    pub fn persist(mut self, dest: &Path) -> std::io::Result<()> {
        let Some(file) = self.file.take() else {
            return Err(std::io::Error::other("the DataStream was already moved"));
        };
        match file.persist(dest) {
            Ok(()) => Ok(()),
            Err(e) => {
                let tmp = e.path;
                std::fs::copy(&tmp, dest)?;
                Ok(())
            }
        }
    }
}

/// Chunks queued for the spool writer: bounds the memory a fast peer over a slow disk can use.
const SPOOL_QUEUE: usize = 4;

/// Writes one received DataStream to a temp file on a blocking thread, so neither creating,
/// writing nor (on failure) deleting the file ever blocks an async worker.
pub(crate) struct Spool {
    tx: tokio::sync::mpsc::Sender<Vec<u8>>,
    done: tokio::task::JoinHandle<Result<tempfile::TempPath, String>>,
}

impl Spool {
    pub(crate) fn start(dir: PathBuf) -> Spool {
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<u8>>(SPOOL_QUEUE);
        let done = tokio::task::spawn_blocking(move || {
            use std::io::Write;
            let mut file = tempfile::NamedTempFile::new_in(&dir)
                .map_err(|e| format!("cannot create a temp file in {}: {e}", dir.display()))?;
            while let Some(chunk) = rx.blocking_recv() {
                // An empty chunk marks the end; dropping the sender instead abandons the file,
                // which is then deleted here, off the runtime.
                if chunk.is_empty() {
                    file.flush()
                        .map_err(|e| format!("cannot spool a DataStream to disk: {e}"))?;
                    return Ok(file.into_temp_path());
                }
                file.write_all(&chunk)
                    .map_err(|e| format!("cannot spool a DataStream to disk: {e}"))?;
            }
            Err("the DataStream was abandoned".to_owned())
        });
        Spool { tx, done }
    }

    pub(crate) async fn write(&mut self, chunk: Vec<u8>) -> Result<(), String> {
        if self.tx.send(chunk).await.is_err() {
            // The writer stopped: its result says why.
            return Err(match (&mut self.done).await {
                Ok(Err(e)) => e,
                Ok(Ok(_)) => "the spool writer stopped early".to_owned(),
                Err(e) => format!("the spool writer failed: {e}"),
            });
        }
        Ok(())
    }

    pub(crate) async fn finish(mut self) -> Result<tempfile::TempPath, String> {
        self.write(Vec::new()).await?;
        match self.done.await {
            Ok(r) => r,
            Err(e) => Err(format!("the spool writer failed: {e}")),
        }
    }
}
