//! Crash-safe file writes (temp file, fsync, rename) and the advisory lock that serialises writers.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Who may read a file we write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileMode {
    /// Readable by everyone, writable by the owner (0644).
    Public,
    /// Readable and writable by the owner only (0600; owner, SYSTEM and Administrators on Windows).
    OwnerOnly,
}

/// Writes `bytes` to `path` so that a reader (or a crash at any instant) sees either the old
/// file or the new one, never a mix: write a temp file beside it, fsync, rename over, fsync the folder.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: FileMode) -> io::Result<()> {
    let dir = parent_dir(path);
    fs::create_dir_all(&dir)?;
    // On Windows an owner-only file is born in a restricted folder (see `private`).
    let tmp = super::private::stage(temp_path(path), mode == FileMode::OwnerOnly)?;
    let result = (|| {
        let mut file = open_new(&tmp, mode)?;
        keep_owner(&file, path, &dir)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        drop(file);
        restrict(&tmp, mode)?;
        fs::rename(&tmp, path)?;
        sync_dir(&dir);
        Ok(())
    })();
    if result.is_err() {
        // The temp file is ours alone; removing it keeps the folder tidy after a failed write.
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Removes temp files that a writer of `path` left behind when it was killed mid-write.
/// Call only while holding `path`'s [`FileLock`]: then no other writer of it is running.
pub fn remove_stale_temps(path: &Path) {
    let Some(name) = path.file_name().map(|n| n.to_string_lossy().into_owned()) else {
        return;
    };
    let prefix = format!(".{name}.");
    let Ok(entries) = fs::read_dir(parent_dir(path)) else {
        return;
    };
    for entry in entries.flatten() {
        let file = entry.file_name().to_string_lossy().into_owned();
        if file.starts_with(&prefix) && file.ends_with(".tmp") {
            let _ = fs::remove_file(entry.path());
        }
    }
}

fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

fn temp_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "file".to_owned());
    let nonce: u64 = rand::random();
    parent_dir(path).join(format!(".{name}.{}.{nonce:016x}.tmp", std::process::id()))
}

#[cfg(unix)]
fn open_new(path: &Path, mode: FileMode) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    let bits = match mode {
        FileMode::Public => 0o644,
        FileMode::OwnerOnly => 0o600,
    };
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(bits)
        .open(path)
}

#[cfg(not(unix))]
fn open_new(path: &Path, _mode: FileMode) -> io::Result<File> {
    OpenOptions::new().write(true).create_new(true).open(path)
}

#[cfg(unix)]
fn restrict(path: &Path, mode: FileMode) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    // The umask may have narrowed the create mode; set it exactly so 0644 stays readable.
    let bits = match mode {
        FileMode::Public => 0o644,
        FileMode::OwnerOnly => 0o600,
    };
    fs::set_permissions(path, fs::Permissions::from_mode(bits))
}

#[cfg(windows)]
fn restrict(path: &Path, mode: FileMode) -> io::Result<()> {
    if mode == FileMode::Public {
        return Ok(());
    }
    // icacls is on every supported Windows; it spares us unsafe ACL code. SIDs, not names,
    // so localised Windows (e.g. "Administratoren") works: S-1-5-18 SYSTEM, S-1-5-32-544 Administrators.
    let user = std::env::var("USERNAME").unwrap_or_default();
    let mut cmd = std::process::Command::new("icacls");
    cmd.arg(path)
        .arg("/inheritance:r")
        .arg("/grant:r")
        .arg("*S-1-5-18:F")
        .arg("*S-1-5-32-544:F");
    if !user.is_empty() {
        cmd.arg(format!("{user}:F"));
    }
    let status = cmd.stdout(std::process::Stdio::null()).status()?;
    if status.success() {
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "icacls could not restrict access to the private key (exit {status})"
        )))
    }
}

#[cfg(not(any(unix, windows)))]
fn restrict(_path: &Path, _mode: FileMode) -> io::Result<()> {
    Ok(())
}

/// As root, a file we write keeps the owner of the file it replaces, and a new one takes its
/// folder's owner: an instance given to a service account (`service --install --username`)
/// stays readable by that account after root edits its configuration or certificate.
#[cfg(unix)]
fn keep_owner(file: &File, path: &Path, dir: &Path) -> io::Result<()> {
    use std::os::unix::fs::MetadataExt;
    if !rustix::process::geteuid().is_root() {
        return Ok(());
    }
    let Ok(meta) = fs::metadata(path).or_else(|_| fs::metadata(dir)) else {
        return Ok(());
    };
    if meta.uid() == 0 && meta.gid() == 0 {
        return Ok(());
    }
    std::os::unix::fs::fchown(file, Some(meta.uid()), Some(meta.gid()))
}

#[cfg(not(unix))]
fn keep_owner(_file: &File, _path: &Path, _dir: &Path) -> io::Result<()> {
    Ok(())
}

#[cfg(unix)]
fn sync_dir(dir: &Path) {
    // Makes the rename itself durable; a failure here cannot lose the old or new content.
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

#[cfg(not(unix))]
fn sync_dir(_dir: &Path) {}

/// An exclusive advisory lock on `<file>.lock`, held until dropped. The manager, the CLI
/// and the agent all take it around read-modify-write of a config, so no update is lost.
#[derive(Debug)]
pub struct FileLock {
    file: File,
    path: PathBuf,
}

impl FileLock {
    /// Waits up to `timeout` for the lock beside `target`.
    pub fn acquire(target: &Path, timeout: Duration) -> io::Result<FileLock> {
        let mut name = target.as_os_str().to_owned();
        name.push(".lock");
        let path = PathBuf::from(name);
        fs::create_dir_all(parent_dir(&path))?;
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)?;
        // Root's lock file in a service account's folder must stay openable by that account.
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            let dir = parent_dir(&path);
            if let (Ok(lock), Ok(folder)) = (file.metadata(), fs::metadata(&dir))
                && rustix::process::geteuid().is_root()
                && lock.uid() != folder.uid()
            {
                std::os::unix::fs::fchown(&file, Some(folder.uid()), Some(folder.gid()))?;
            }
        }
        match file.try_lock() {
            Ok(()) => return Ok(FileLock { file, path }),
            Err(fs::TryLockError::WouldBlock) => {}
            Err(fs::TryLockError::Error(e)) => return Err(e),
        }
        // Contended: the wait sleeps, so keep it off the async runtime's workers.
        off_runtime(move || wait_for_lock(file, path, timeout))
    }

    /// [`FileLock::acquire`] on the blocking pool, for async callers on any runtime flavour.
    pub async fn acquire_async(target: PathBuf, timeout: Duration) -> io::Result<FileLock> {
        tokio::task::spawn_blocking(move || FileLock::acquire(&target, timeout))
            .await
            .unwrap_or_else(|e| Err(io::Error::other(e)))
    }

    /// The lock file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Runs a blocking wait so that it does not starve the tasks of the runtime it is called
/// from: on a multi-thread runtime the worker hands its other tasks to another thread first.
/// (A current-thread runtime cannot do that; outside any runtime there is nothing to starve.)
fn off_runtime<T>(f: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(f)
        }
        _ => f(),
    }
}

fn wait_for_lock(file: File, path: PathBuf, timeout: Duration) -> io::Result<FileLock> {
    let start = Instant::now();
    loop {
        std::thread::sleep(Duration::from_millis(20));
        match file.try_lock() {
            Ok(()) => return Ok(FileLock { file, path }),
            Err(fs::TryLockError::WouldBlock) if start.elapsed() < timeout => {}
            Err(fs::TryLockError::WouldBlock) => {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!(
                        "another Tentacle process (manager, CLI or agent) held the lock for more than {} s: {}",
                        timeout.as_secs(),
                        path.display()
                    ),
                ));
            }
            Err(fs::TryLockError::Error(e)) => return Err(e),
        }
    }
}

impl Drop for FileLock {
    fn drop(&mut self) {
        let _ = self.file.unlock();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_content_and_leaves_no_temp_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.toml");
        write_atomic(&path, b"one", FileMode::Public).unwrap();
        write_atomic(&path, b"two", FileMode::Public).unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "two");
        let names: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1, "only the target file remains");
    }

    #[cfg(unix)]
    #[test]
    fn owner_only_files_are_0600() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key.pem");
        write_atomic(&path, b"secret", FileMode::OwnerOnly).unwrap();
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }

    /// One runtime worker, and a task that must wait for the lock: the other tasks on that
    /// worker keep running meanwhile. Here the holder lets go only when another task pings
    /// it, so a wait that sleeps on the worker never gets the lock.
    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn waiting_for_the_lock_does_not_stall_the_runtime() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("c.toml");
        let held = FileLock::acquire(&target, Duration::from_secs(1)).unwrap();
        let (ping, pinged) = std::sync::mpsc::channel::<()>();
        let holder = std::thread::Builder::new()
            .name("lock holder".into())
            .spawn(move || {
                let _ = pinged.recv_timeout(Duration::from_secs(20));
                drop(held);
            })
            .unwrap();
        let waiter = {
            let target = target.clone();
            tokio::spawn(
                async move { FileLock::acquire(&target, Duration::from_secs(5)).map(|_| ()) },
            )
        };
        let pinger = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(200)).await;
            let _ = ping.send(());
        });
        let got = waiter.await.unwrap();
        assert!(
            got.is_ok(),
            "the waiter starved the task that frees the lock: {got:?}"
        );
        pinger.await.unwrap();
        holder.join().unwrap();
    }

    #[test]
    fn second_locker_times_out_with_a_clear_message() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("c.toml");
        let _held = FileLock::acquire(&target, Duration::from_secs(1)).unwrap();
        let err = FileLock::acquire(&target, Duration::from_millis(100)).unwrap_err();
        assert!(err.to_string().contains("held the lock"), "{err}");
    }
}
