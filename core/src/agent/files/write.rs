//! Placing an upload: the free-space check, the hashed copy into a temp file beside the target, fsync and rename, and cleaning up after a failure.

use std::ffi::OsString;
use std::fs::File;
use std::io::{Read, Write};
use std::path::Path;

use sha1::{Digest, Sha1};

#[cfg(unix)]
use super::FREE_SPACE_MARGIN;
use super::{COPY_CHUNK, FileTransferError, io};
use crate::halibut::connection::ReceivedStream;

#[cfg(unix)]
pub(super) fn ensure_free_space(dir: &Path, length: u64) -> Result<(), FileTransferError> {
    let stats = rustix::fs::statvfs(dir)
        .map_err(|e| io("check the free space of", dir)(std::io::Error::from(e)))?;
    let available = stats.f_bavail.saturating_mul(stats.f_frsize);
    let required = length
        .saturating_add(length / 10)
        .saturating_add(FREE_SPACE_MARGIN);
    if available < required {
        return Err(FileTransferError::NotEnoughSpace {
            dir: dir.to_path_buf(),
            available,
            length,
            required,
        });
    }
    Ok(())
}

#[cfg(not(unix))]
pub(super) fn ensure_free_space(_dir: &Path, _length: u64) -> Result<(), FileTransferError> {
    // No portable free-space query without unsafe code; the write itself reports a full disk.
    Ok(())
}

/// Copies the spooled stream into a temp file beside `target`, hashing it, fsyncs it and renames
/// it over `target`. On error the temp file is removed (by `NamedTempFile`'s drop) and `target`
/// is untouched.
pub(super) fn write_atomically(
    stream: &ReceivedStream,
    dir: &Path,
    name: &std::ffi::OsStr,
    target: &Path,
) -> Result<(String, u64), FileTransferError> {
    let mut source =
        File::open(stream.path()).map_err(io("read the received upload", stream.path()))?;
    let mut prefix = OsString::from(".");
    prefix.push(name);
    prefix.push(".");
    let mut builder = tempfile::Builder::new();
    builder.prefix(&prefix).suffix(".upload");
    #[cfg(unix)]
    {
        // 0666 filtered by the umask, as a file .NET creates.
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(0o666));
    }
    let mut temp = builder
        .tempfile_in(dir)
        .map_err(io("create a temp file in", dir))?;
    let mut hasher = Sha1::new();
    let mut buf = vec![0u8; COPY_CHUNK];
    let mut total = 0u64;
    loop {
        let n = match source.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(io("read the received upload", stream.path())(e)),
        };
        hasher.update(&buf[..n]);
        temp.write_all(&buf[..n])
            .map_err(io("write the upload to", target))?;
        total += n as u64;
    }
    if total != stream.length {
        return Err(FileTransferError::LengthMismatch {
            path: target.to_path_buf(),
            declared: stream.length,
            actual: total,
        });
    }
    temp.flush().map_err(io("write the upload to", target))?;
    temp.as_file()
        .sync_all()
        .map_err(io("flush the upload to disk at", target))?;
    temp.persist(target)
        .map_err(|e| io("move the upload into place at", target)(e.error))?;
    sync_dir(dir);
    Ok((hex::encode(hasher.finalize()), total))
}

/// After a failed upload, removes the folders it created (from `dir` up to, not including,
/// `existing`), but only while they are empty, so a concurrent upload's folders survive.
pub(super) fn remove_created_folders(dir: &Path, existing: &Path) {
    for d in dir.ancestors().take_while(|d| *d != existing) {
        if std::fs::remove_dir(d).is_err() {
            break;
        }
    }
}

/// Makes the rename durable; the file is complete either way, so a failure is only logged.
pub(super) fn sync_dir(dir: &Path) {
    #[cfg(unix)]
    if let Err(e) = File::open(dir).and_then(|d| d.sync_all()) {
        tracing::warn!(dir = %dir.display(), error = %e, "cannot fsync the folder after an upload");
    }
    #[cfg(not(unix))]
    let _ = dir;
}
