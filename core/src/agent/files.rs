//! `IFileTransferService`: `UploadFile` and `DownloadFile`, confined to allowed folders, with atomic, fsynced writes (product §6.7).
//!
//! # Paths
//!
//! As Tentacle does, a relative `remotePath` is taken from the home folder (packages arrive as
//! `Files/<name>.nupkg`) and, off Windows, backslashes become `/`. The path is then normalised
//! lexically (`.` and `..` removed, as .NET's `Path.GetFullPath`), and `UploadResult.FullPath`
//! reports that normalised path.
//!
//! # Where transfers may go
//!
//! The agent serves [`FileTransferService::anywhere`]: as .NET Tentacle, any path the agent's
//! account can reach, except the instance's configuration and `certificates` folder (its
//! private key), refused in both directions whatever link leads there. The server is pinned by
//! thumbprint and can run any script as this account, so confining transfers adds nothing and
//! breaks artifact collection and operator-chosen package folders.
//!
//! [`FileTransferService::new`] still confines to allowed roots, for embedders that want it:
//! the normalised path's existing part is resolved through symbolic links and must then lie in
//! one of the allowed roots (themselves resolved the same way). [`default_roots`] gives the home
//! folder (workspaces, `Files`, `Tools`, `Temp`) and the applications folder (deployed packages,
//! where most artifacts are created): everything Octopus Server transfers in normal operation.
//! The OS temp folder is *not* a default root: it is shared with every local user, so serving it
//! would make the agent a confused deputy. An operator who collects artifacts from elsewhere adds
//! that folder to the roots. Inside the roots, the instance's configuration file and its
//! `certificates` folder (which holds the private key) are refused too, in both directions.
//! Refusals are `ServiceError::Failed` naming the path and the allowed roots; nothing is written.
//!
//! # Uploads
//!
//! The DataStream has already been spooled to a temp file. It is copied (hashing as it goes) into
//! a new temp file in the destination's own folder, which is fsynced and renamed over the target,
//! and the folder is fsynced. A failure at any point (disk full included) removes that temp file
//! and leaves any previous file at the target untouched. Before writing, free space is checked as
//! Tentacle does: the upload's length + 10% + 1 MiB must be available. `Hash` is the SHA-1 of the
//! saved bytes in lowercase hex, as .NET's `HashCalculator`.

use std::ffi::OsString;
use std::fs::File;
use std::io::{Read, Write};
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use ::bson::Bson;
use serde::{Deserialize, Serialize};
use sha1::{Digest, Sha1};

use super::AgentContext;
use crate::halibut::bson::to_typed;
use crate::halibut::connection::{OutgoingStream, ReceivedStream};
use crate::halibut::message::DataStreamRef;
use crate::halibut::rpc::{BoxFuture, Reply, Service, ServiceError};

/// The contract name, as a request's `service` says it.
pub const SERVICE_NAME: &str = "IFileTransferService";

/// The `$type` sent for `UploadResult`: the legacy name, as Tentacle with legacy support sends it.
pub const UPLOAD_RESULT_TYPE: &str = "Octopus.Shared.Contracts.UploadResult, Octopus.Shared";

/// The current name of `UploadResult`, also accepted on receive.
pub const UPLOAD_RESULT_TYPE_CURRENT: &str =
    "Octopus.Tentacle.Contracts.UploadResult, Octopus.Tentacle.Contracts";

const COPY_CHUNK: usize = 64 * 1024;
/// Free space kept beyond an upload's size plus 10 % (contract O12).
#[cfg(unix)]
const FREE_SPACE_MARGIN: u64 = 1024 * 1024;

/// `UploadResult { FullPath, Hash, Length }`, in .NET declaration order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadResult {
    /// The resolved absolute path.
    #[serde(rename = "FullPath")]
    pub full_path: String,
    /// SHA-1 of the saved file, 40 lowercase hex characters; null when no stream was sent.
    #[serde(rename = "Hash")]
    pub hash: Option<String>,
    /// Size of the saved file (int64).
    #[serde(rename = "Length")]
    pub length: i64,
}

/// Why a transfer failed.
#[derive(Debug, thiserror::Error)]
pub enum FileTransferError {
    /// The path is empty, null or has a NUL byte.
    #[error("the remote path {path:?} is not a usable path: {reason}")]
    InvalidPath {
        /// What the server sent.
        path: String,
        /// Why it is unusable.
        reason: &'static str,
    },
    /// The path resolves outside every allowed root.
    #[error(
        "refusing to transfer '{path}': it resolves to '{}', which is outside the folders this Tentacle allows file transfers in: {}",
        resolved.display(),
        list(roots)
    )]
    OutsideRoots {
        /// What the server sent.
        path: String,
        /// Where it leads, symbolic links resolved.
        resolved: PathBuf,
        /// The allowed roots.
        roots: Vec<PathBuf>,
    },
    /// The path is the instance's configuration or certificate store.
    #[error(
        "refusing to transfer '{path}': it resolves to '{}', this Tentacle's own configuration or certificate store; it holds the private key that proves this Tentacle's identity, so it is never sent or replaced over the wire",
        resolved.display()
    )]
    Protected {
        /// What the server sent.
        path: String,
        /// Where it leads.
        resolved: PathBuf,
        /// The allowed roots.
        roots: Vec<PathBuf>,
    },
    /// The existing part of the path could not be resolved (a dangling link, no permission…).
    #[error("cannot resolve '{path}' (at '{}'): {source}", at.display())]
    Resolve {
        /// What the server sent.
        path: String,
        /// The part that failed.
        at: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// Not enough free space for the upload.
    #[error(
        "the drive containing the directory '{}' does not have enough free disk space available for this operation to proceed: it has {available} bytes available; an upload of {length} bytes needs at least {required} bytes",
        dir.display()
    )]
    NotEnoughSpace {
        /// The destination folder.
        dir: PathBuf,
        /// Bytes available to this user.
        available: u64,
        /// The upload's length.
        length: u64,
        /// Length + 10% + 1 MiB.
        required: u64,
    },
    /// An I/O step failed.
    #[error("cannot {action} '{}': {source}", path.display())]
    Io {
        /// What was being done.
        action: &'static str,
        /// The path involved.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The spooled stream held a different number of bytes than declared.
    #[error(
        "the upload to '{}' received {actual} bytes but the DataStream declared {declared}",
        path.display()
    )]
    LengthMismatch {
        /// The destination.
        path: PathBuf,
        /// Declared length.
        declared: u64,
        /// Bytes found.
        actual: u64,
    },
    /// The request referenced a DataStream whose bytes did not arrive.
    #[error("the upload DataStream {0} did not arrive with the request")]
    MissingStream(String),
    /// The blocking worker failed.
    #[error("the file transfer worker failed: {0}")]
    Worker(String),
}

impl From<FileTransferError> for ServiceError {
    fn from(e: FileTransferError) -> ServiceError {
        ServiceError::Failed(e.to_string())
    }
}

fn list(paths: &[PathBuf]) -> String {
    if paths.is_empty() {
        return "none configured".to_owned();
    }
    paths
        .iter()
        .map(|p| format!("'{}'", p.display()))
        .collect::<Vec<_>>()
        .join(", ")
}

fn io(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> FileTransferError {
    let path = path.to_path_buf();
    move |source| FileTransferError::Io {
        action,
        path,
        source,
    }
}

/// The folders file transfers are allowed in by default: home and the applications folder.
pub fn default_roots(ctx: &AgentContext) -> Vec<PathBuf> {
    vec![ctx.home.clone(), ctx.application_directory.clone()]
}

/// `IFileTransferService`.
#[derive(Debug, Clone)]
pub struct FileTransferService {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    home: PathBuf,
    /// Tentacle's semantics: any path this account can reach (`roots` is then unused).
    anywhere: bool,
    roots: Vec<PathBuf>,
    protected: Vec<PathBuf>,
    check_free_space: bool,
}

/// A remote path, resolved.
#[derive(Debug)]
struct Resolved {
    /// Lexically normalised, as .NET's `GetFullPath` (reported back as `FullPath`).
    full: PathBuf,
    /// With symbolic links in its existing part resolved: where I/O happens.
    real: PathBuf,
    /// The (resolved) allowed root it lies in.
    root: PathBuf,
}

impl FileTransferService {
    /// Serves transfers inside `allowed_roots` (see [`default_roots`]); relative paths resolve
    /// against `ctx.home`. An empty list refuses every path.
    pub fn new(ctx: AgentContext, allowed_roots: Vec<PathBuf>) -> FileTransferService {
        let absolute = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
        let mut protected = vec![absolute(&ctx.config_path)];
        if let Some(dir) = ctx.config_path.parent() {
            protected.push(absolute(&dir.join("certificates")));
        }
        FileTransferService {
            inner: Arc::new(Inner {
                home: absolute(&ctx.home),
                anywhere: false,
                roots: allowed_roots.iter().map(|r| absolute(r)).collect(),
                protected,
                check_free_space: true,
            }),
        }
    }

    /// As Tentacle: any absolute path the agent's account can reach, relative paths from the
    /// home folder. The server is pinned by thumbprint and can run any script as this account
    /// anyway, so folders add no protection, but operations such as collecting an artifact
    /// from an operator's folder need them. The instance's configuration and certificates
    /// (its private key) are still refused, in both directions.
    pub fn anywhere(ctx: AgentContext) -> FileTransferService {
        let service = FileTransferService::new(ctx, Vec::new());
        let i = &service.inner;
        FileTransferService {
            inner: Arc::new(Inner {
                home: i.home.clone(),
                anywhere: true,
                roots: Vec::new(),
                protected: i.protected.clone(),
                check_free_space: i.check_free_space,
            }),
        }
    }

    /// The allowed roots, as given (made absolute).
    pub fn roots(&self) -> &[PathBuf] {
        &self.inner.roots
    }

    #[cfg(test)]
    fn without_free_space_check(self) -> FileTransferService {
        let i = &self.inner;
        FileTransferService {
            inner: Arc::new(Inner {
                home: i.home.clone(),
                anywhere: i.anywhere,
                roots: i.roots.clone(),
                protected: i.protected.clone(),
                check_free_space: false,
            }),
        }
    }

    async fn upload(
        &self,
        remote: String,
        stream: Option<ReceivedStream>,
    ) -> Result<UploadResult, FileTransferError> {
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || inner.upload(&remote, stream))
            .await
            .map_err(|e| FileTransferError::Worker(e.to_string()))
            .and_then(|r| r)
            .inspect_err(|e| tracing::warn!(error = %e, "file transfer failed"))
    }

    async fn download(
        &self,
        remote: String,
    ) -> Result<Option<(OutgoingStream, DataStreamRef)>, FileTransferError> {
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || inner.download(&remote))
            .await
            .map_err(|e| FileTransferError::Worker(e.to_string()))
            .and_then(|r| r)
            .inspect_err(|e| tracing::warn!(error = %e, "file transfer failed"))
    }
}

impl Inner {
    fn resolve(&self, remote: &str) -> Result<Resolved, FileTransferError> {
        let invalid = |reason| FileTransferError::InvalidPath {
            path: remote.to_owned(),
            reason,
        };
        if remote.trim().is_empty() {
            return Err(invalid("it is empty"));
        }
        if remote.contains('\0') {
            return Err(invalid("it contains a NUL character"));
        }
        let text = if cfg!(windows) {
            remote.to_owned()
        } else {
            remote.replace('\\', "/")
        };
        let full = normalise(&self.home.join(&text));
        let real = resolve_existing(&full).map_err(|(at, source)| FileTransferError::Resolve {
            path: remote.to_owned(),
            at,
            source,
        })?;
        let roots: Vec<PathBuf> = if self.anywhere {
            // The file system's root (or the path's drive or share) is the only bound.
            real.ancestors()
                .last()
                .map(Path::to_path_buf)
                .into_iter()
                .collect()
        } else {
            self.roots
                .iter()
                .filter_map(|r| resolve_existing(r).ok())
                .collect()
        };
        let Some(root) = roots.iter().find(|r| real.starts_with(r)).cloned() else {
            return Err(FileTransferError::OutsideRoots {
                path: remote.to_owned(),
                resolved: real,
                roots: self.roots.clone(),
            });
        };
        let protected = self
            .protected
            .iter()
            .filter_map(|p| resolve_existing(p).ok())
            .any(|p| real.starts_with(&p));
        if protected {
            return Err(FileTransferError::Protected {
                path: remote.to_owned(),
                resolved: real,
                roots: self.roots.clone(),
            });
        }
        Ok(Resolved { full, real, root })
    }

    fn upload(
        &self,
        remote: &str,
        stream: Option<ReceivedStream>,
    ) -> Result<UploadResult, FileTransferError> {
        let target = self.resolve(remote)?;
        let full_path = target.full.to_string_lossy().into_owned();
        let Some(stream) = stream else {
            // O11: a null DataStream writes nothing.
            tracing::info!(path = %full_path, "upload with no DataStream; nothing written");
            return Ok(UploadResult {
                full_path,
                hash: None,
                length: 0,
            });
        };
        let (Some(dir), Some(name)) = (target.real.parent(), target.real.file_name()) else {
            return Err(FileTransferError::InvalidPath {
                path: remote.to_owned(),
                reason: "it names a folder, not a file",
            });
        };
        if target.real == target.root {
            return Err(FileTransferError::InvalidPath {
                path: remote.to_owned(),
                reason: "it names an allowed folder itself, not a file in it",
            });
        }
        // The nearest folder that exists: free space is checked there, before anything is created.
        let existing = dir
            .ancestors()
            .find(|a| a.is_dir())
            .unwrap_or(dir)
            .to_path_buf();
        if self.check_free_space {
            ensure_free_space(&existing, stream.length)?;
        }
        let written = std::fs::create_dir_all(dir)
            .map_err(io("create the folder", dir))
            .and_then(|()| write_atomically(&stream, dir, name, &target.real));
        let (hash, length) = match written {
            Ok(w) => w,
            Err(e) => {
                remove_created_folders(dir, &existing);
                return Err(e);
            }
        };
        drop(stream);
        tracing::info!(path = %full_path, bytes = length, hash = %hash, "file uploaded");
        Ok(UploadResult {
            full_path,
            hash: Some(hash),
            length: i64::try_from(length).unwrap_or(i64::MAX),
        })
    }

    fn download(
        &self,
        remote: &str,
    ) -> Result<Option<(OutgoingStream, DataStreamRef)>, FileTransferError> {
        let target = self.resolve(remote)?;
        match std::fs::metadata(&target.real) {
            Ok(m) if m.is_file() => {}
            // As .NET's `File.Exists`: a folder, or nothing at all, is "no such file".
            Ok(_) => {
                tracing::info!(path = %target.full.display(), "download of a folder; returning null");
                return Ok(None);
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                tracing::info!(path = %target.full.display(), "download of a missing file; returning null");
                return Ok(None);
            }
            Err(e) => return Err(io("read", &target.real)(e)),
        }
        // Opening proves it is readable now, rather than failing later mid-response.
        File::open(&target.real).map_err(io("open", &target.real))?;
        let (out, placeholder) =
            OutgoingStream::file(&target.real).map_err(io("read the size of", &target.real))?;
        tracing::info!(path = %target.full.display(), bytes = out.length, "file download starting");
        Ok(Some((out, placeholder)))
    }
}

/// Removes `.` and resolves `..` without touching the file system, as .NET's `GetFullPath`;
/// `..` at the root stays at the root.
fn normalise(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::Prefix(_) | Component::RootDir | Component::Normal(_) => out.push(c),
            Component::CurDir => {}
            Component::ParentDir => {
                let at_root = matches!(
                    out.components().next_back(),
                    None | Some(Component::RootDir | Component::Prefix(_))
                );
                if !at_root {
                    out.pop();
                }
            }
        }
    }
    out
}

/// `path` (normalised) with its longest existing prefix resolved through symbolic links; the
/// rest, which does not exist yet, is appended as is. A dangling link is an error.
fn resolve_existing(path: &Path) -> Result<PathBuf, (PathBuf, std::io::Error)> {
    let mut existing = path.to_path_buf();
    let mut missing: Vec<OsString> = Vec::new();
    loop {
        match std::fs::symlink_metadata(&existing) {
            Ok(_) => break,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
                ) =>
            {
                match existing.file_name() {
                    Some(name) => {
                        missing.push(name.to_owned());
                        existing.pop();
                    }
                    None => return Err((existing, e)),
                }
            }
            Err(e) => return Err((existing, e)),
        }
    }
    let mut real = std::fs::canonicalize(&existing).map_err(|e| (existing, e))?;
    for name in missing.iter().rev() {
        real.push(name);
    }
    Ok(real)
}

#[cfg(unix)]
fn ensure_free_space(dir: &Path, length: u64) -> Result<(), FileTransferError> {
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
fn ensure_free_space(_dir: &Path, _length: u64) -> Result<(), FileTransferError> {
    // No portable free-space query without unsafe code; the write itself reports a full disk.
    Ok(())
}

/// Copies the spooled stream into a temp file beside `target`, hashing it, fsyncs it and renames
/// it over `target`. On error the temp file is removed (by `NamedTempFile`'s drop) and `target`
/// is untouched.
fn write_atomically(
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
fn remove_created_folders(dir: &Path, existing: &Path) {
    for d in dir.ancestors().take_while(|d| *d != existing) {
        if std::fs::remove_dir(d).is_err() {
            break;
        }
    }
}

/// Makes the rename durable; the file is complete either way, so a failure is only logged.
fn sync_dir(dir: &Path) {
    #[cfg(unix)]
    if let Err(e) = File::open(dir).and_then(|d| d.sync_all()) {
        tracing::warn!(dir = %dir.display(), error = %e, "cannot fsync the folder after an upload");
    }
    #[cfg(not(unix))]
    let _ = dir;
}

fn string_param(method: &str, value: &Bson) -> Result<String, ServiceError> {
    match value {
        Bson::String(s) => Ok(s.clone()),
        // .NET's Path.Combine throws on null inside the method.
        Bson::Null => Err(FileTransferError::InvalidPath {
            path: String::new(),
            reason: "it is null",
        }
        .into()),
        other => Err(ServiceError::BadArguments(format!(
            "{method} expects remotePath as a string, not {:?}",
            other.element_type()
        ))),
    }
}

impl Service for FileTransferService {
    fn name(&self) -> &str {
        SERVICE_NAME
    }

    fn call<'a>(
        &'a self,
        method: &'a str,
        params: Vec<Bson>,
        streams: Vec<ReceivedStream>,
    ) -> BoxFuture<'a, Result<Reply, ServiceError>> {
        Box::pin(async move {
            // Halibut compares `<method>Async` with the .NET method name, ignoring case (O15).
            if method.eq_ignore_ascii_case("UploadFile") {
                let [path, upload] = params.as_slice() else {
                    return Err(ServiceError::BadArguments(format!(
                        "UploadFile takes (remotePath, upload), but {} arguments were sent",
                        params.len()
                    )));
                };
                let remote = string_param("UploadFile", path)?;
                let stream = match upload {
                    Bson::Null => None,
                    Bson::Document(d) => {
                        let r = DataStreamRef::from_document(d).ok_or_else(|| {
                            ServiceError::BadArguments(
                                "UploadFile expects upload as a DataStream".into(),
                            )
                        })?;
                        let mut streams = streams;
                        let at = streams
                            .iter()
                            .position(|s| s.id == r.id)
                            .ok_or_else(|| FileTransferError::MissingStream(r.id.to_string()))?;
                        Some(streams.swap_remove(at))
                    }
                    other => {
                        return Err(ServiceError::BadArguments(format!(
                            "UploadFile expects upload as a DataStream, not {:?}",
                            other.element_type()
                        )));
                    }
                };
                let result = self.upload(remote, stream).await?;
                let bson = to_typed(UPLOAD_RESULT_TYPE, &result).map_err(|e| {
                    ServiceError::Failed(format!("cannot encode the upload result: {e}"))
                })?;
                Ok(Reply::value(bson))
            } else if method.eq_ignore_ascii_case("DownloadFile") {
                let [path] = params.as_slice() else {
                    return Err(ServiceError::BadArguments(format!(
                        "DownloadFile takes (remotePath), but {} arguments were sent",
                        params.len()
                    )));
                };
                let remote = string_param("DownloadFile", path)?;
                Ok(match self.download(remote).await? {
                    Some((out, placeholder)) => Reply {
                        result: Some(placeholder.to_bson_typed()),
                        streams: vec![out],
                    },
                    None => Reply::value(Bson::Null),
                })
            } else {
                Err(ServiceError::MethodNotFound)
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use ::bson::Bson;
    use sha1::{Digest, Sha1};

    use super::*;
    use crate::halibut::connection::{Connection, Limits};
    use crate::halibut::message::{Envelope, RequestMessage, ResponseMessage};
    use crate::instance::ProxySettings;

    const BOUND: Duration = Duration::from_secs(30);

    struct Fixture {
        _dir: tempfile::TempDir,
        base: PathBuf,
        ctx: AgentContext,
    }

    impl Fixture {
        fn new() -> Fixture {
            let dir = tempfile::tempdir().unwrap();
            let base = dir.path().canonicalize().unwrap();
            let home = base.join("home");
            for d in [
                &home,
                &base.join("apps"),
                &base.join("spool"),
                &base.join("outside"),
            ] {
                std::fs::create_dir_all(d).unwrap();
            }
            let ctx = AgentContext {
                instance: "Tentacle".into(),
                config_path: home.join("tentacle.toml"),
                home: home.clone(),
                application_directory: base.join("apps"),
                work_dir: home.join("Work"),
                temp_dir: base.join("spool"),
                executable: PathBuf::from("tentacle"),
                proxy: ProxySettings::default(),
                tentacle_version: crate::version::DEFAULT_REPORTED_VERSION.into(),
            };
            Fixture {
                _dir: dir,
                base,
                ctx,
            }
        }

        fn service(&self) -> FileTransferService {
            FileTransferService::new(self.ctx.clone(), default_roots(&self.ctx))
        }

        fn home(&self) -> PathBuf {
            self.ctx.home.clone()
        }

        fn outside(&self) -> PathBuf {
            self.base.join("outside")
        }

        fn spool_is_empty(&self) -> bool {
            std::fs::read_dir(&self.ctx.temp_dir)
                .unwrap()
                .next()
                .is_none()
        }
    }

    fn put(path: &Path, bytes: &[u8]) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        File::create(path).unwrap().write_all(bytes).unwrap();
    }

    fn names_in(dir: &Path) -> Vec<String> {
        let mut n: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        n.sort();
        n
    }

    /// Deterministic, incompressible-looking bytes.
    fn payload(len: usize) -> Vec<u8> {
        let mut x: u32 = 0x9e37_79b9;
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                (x >> 24) as u8
            })
            .collect()
    }

    fn limits(spool: &Path) -> Limits {
        Limits {
            temp_dir: spool.to_path_buf(),
            ..Limits::default()
        }
    }

    /// Sends `envelope` with `streams` through a real Halibut connection and reads it back, so the
    /// DataStreams arrive spooled in `spool` exactly as the agent receives them.
    async fn over_the_wire(
        envelope: Envelope,
        streams: Vec<OutgoingStream>,
        spool: &Path,
    ) -> (Envelope, Vec<ReceivedStream>) {
        let (a, b) = tokio::io::duplex(64 * 1024);
        let mut tx = Connection::new(a, limits(spool));
        let mut rx = Connection::new(b, limits(spool));
        let (sent, got) = tokio::time::timeout(BOUND, async {
            tokio::join!(
                tx.send_message(&envelope, streams),
                rx.read_message(BOUND, BOUND)
            )
        })
        .await
        .unwrap();
        sent.unwrap();
        got.unwrap().unwrap()
    }

    async fn upload_request(
        fx: &Fixture,
        remote: &str,
        bytes: &[u8],
    ) -> (Vec<Bson>, Vec<ReceivedStream>) {
        let (out, placeholder) = OutgoingStream::bytes(bytes.to_vec());
        let req = RequestMessage::new(
            SERVICE_NAME,
            "UploadFile",
            vec![Bson::String(remote.into()), placeholder.to_bson_typed()],
            1,
        );
        match over_the_wire(Envelope::Request(req), vec![out], &fx.ctx.temp_dir).await {
            (Envelope::Request(r), streams) => {
                assert_eq!(streams.len(), 1);
                (r.params, streams)
            }
            other => panic!("expected a request, got {other:?}"),
        }
    }

    async fn call(
        svc: &FileTransferService,
        method: &str,
        params: Vec<Bson>,
        streams: Vec<ReceivedStream>,
    ) -> Result<Reply, ServiceError> {
        tokio::time::timeout(BOUND, svc.call(method, params, streams))
            .await
            .expect("the call should finish in time")
    }

    async fn upload(
        fx: &Fixture,
        svc: &FileTransferService,
        remote: &str,
        bytes: &[u8],
    ) -> Result<::bson::Document, ServiceError> {
        let (params, streams) = upload_request(fx, remote, bytes).await;
        let reply = call(svc, "UploadFile", params, streams).await?;
        assert!(reply.streams.is_empty());
        match reply.result {
            Some(Bson::Document(d)) => Ok(d),
            other => panic!("UploadFile returned {other:?}"),
        }
    }

    /// DownloadFile, with the reply sent back through a connection: `None` for a null result.
    async fn download(
        fx: &Fixture,
        svc: &FileTransferService,
        remote: &str,
    ) -> Result<Option<Vec<u8>>, ServiceError> {
        let reply = call(
            svc,
            "DownloadFile",
            vec![Bson::String(remote.into())],
            Vec::new(),
        )
        .await?;
        let Some(result) = reply.result else {
            panic!("DownloadFile must return a value");
        };
        if result == Bson::Null {
            assert!(reply.streams.is_empty());
            return Ok(None);
        }
        let Bson::Document(d) = &result else {
            panic!("DownloadFile returned {result:?}");
        };
        assert_eq!(d.get_str("$type").unwrap(), "Halibut.DataStream, Halibut");
        assert!(matches!(d.get("length"), Some(Bson::Int64(_))));
        let resp = ResponseMessage::ok("r", Some(result.clone()));
        let (_, mut streams) =
            over_the_wire(Envelope::Response(resp), reply.streams, &fx.ctx.temp_dir).await;
        assert_eq!(streams.len(), 1);
        let s = streams.remove(0);
        Ok(Some(s.read_to_vec(u64::MAX).unwrap()))
    }

    fn failed(r: Result<impl std::fmt::Debug, ServiceError>) -> String {
        match r {
            Err(ServiceError::Failed(m)) => m,
            other => panic!("expected ServiceError::Failed, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn upload_then_download_round_trips_with_dotnet_hash_and_length() {
        let fx = Fixture::new();
        let svc = fx.service();
        let bytes = payload(300 * 1024 + 7);
        let target = fx.home().join("Files").join("calamari.nupkg");
        put(&target, b"an older version, replaced atomically");

        let d = upload(&fx, &svc, "Files/calamari.nupkg", &bytes)
            .await
            .unwrap();
        let keys: Vec<&str> = d.keys().map(String::as_str).collect();
        assert_eq!(keys, ["$type", "FullPath", "Hash", "Length"]);
        assert_eq!(d.get_str("$type").unwrap(), UPLOAD_RESULT_TYPE);
        assert_eq!(d.get_str("FullPath").unwrap(), target.to_str().unwrap());
        let expected_hash = hex::encode(Sha1::digest(&bytes));
        assert_eq!(expected_hash.len(), 40);
        assert_eq!(d.get_str("Hash").unwrap(), expected_hash);
        assert_eq!(d.get("Length"), Some(&Bson::Int64(bytes.len() as i64)));
        assert_eq!(std::fs::read(&target).unwrap(), bytes);
        // Nothing left beside the target, and the spooled stream is gone.
        assert_eq!(names_in(target.parent().unwrap()), ["calamari.nupkg"]);
        assert!(fx.spool_is_empty());

        let back = download(&fx, &svc, "Files/calamari.nupkg")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(Sha1::digest(&back), Sha1::digest(&bytes));
        assert_eq!(back, bytes);
        // The absolute path the upload reported works as well.
        let again = download(&fx, &svc, target.to_str().unwrap())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(again.len(), bytes.len());
    }

    #[tokio::test]
    async fn upload_creates_parent_folders_and_accepts_backslashes() {
        let fx = Fixture::new();
        let svc = fx.service();
        let d = upload(&fx, &svc, r"Files\a\b\c\tool.zip", b"zip")
            .await
            .unwrap();
        let target = fx.home().join("Files/a/b/c/tool.zip");
        assert_eq!(d.get_str("FullPath").unwrap(), target.to_str().unwrap());
        assert_eq!(std::fs::read(&target).unwrap(), b"zip");
        // An empty stream is a valid, empty file.
        let d = upload(&fx, &svc, "apps-empty.txt", b"").await.unwrap();
        assert_eq!(d.get_str("Hash").unwrap(), hex::encode(Sha1::digest(b"")));
        assert_eq!(d.get("Length"), Some(&Bson::Int64(0)));
        // The applications folder is a root too.
        let inapps = fx.ctx.application_directory.join("MyApp/1.0/web.config");
        upload(&fx, &svc, inapps.to_str().unwrap(), b"<x/>")
            .await
            .unwrap();
        assert_eq!(std::fs::read(&inapps).unwrap(), b"<x/>");
    }

    #[tokio::test]
    async fn a_null_datastream_writes_nothing() {
        let fx = Fixture::new();
        let svc = fx.service();
        let reply = call(
            &svc,
            "UploadFile",
            vec![Bson::String("Files/none.bin".into()), Bson::Null],
            Vec::new(),
        )
        .await
        .unwrap();
        let Some(Bson::Document(d)) = reply.result else {
            panic!("no result");
        };
        assert_eq!(d.get("Hash"), Some(&Bson::Null));
        assert_eq!(d.get("Length"), Some(&Bson::Int64(0)));
        assert!(!fx.home().join("Files").exists());
    }

    #[tokio::test]
    async fn download_of_a_missing_file_or_a_folder_is_null() {
        let fx = Fixture::new();
        let svc = fx.service();
        assert_eq!(download(&fx, &svc, "Files/nope.bin").await.unwrap(), None);
        assert_eq!(download(&fx, &svc, "no/such/folder/x").await.unwrap(), None);
        std::fs::create_dir_all(fx.home().join("Work")).unwrap();
        assert_eq!(download(&fx, &svc, "Work").await.unwrap(), None);
    }

    #[tokio::test]
    async fn traversal_and_absolute_paths_outside_the_roots_are_refused() {
        let fx = Fixture::new();
        let svc = fx.service();
        let before = names_in(&fx.base);
        for remote in [
            "../../etc/passwd",
            r"..\..\etc\passwd",
            "Files/../../outside/x.txt",
            "../outside/x.txt",
            "./../spool/x.txt",
        ] {
            let m = failed(upload(&fx, &svc, remote, b"pwned").await);
            assert!(m.contains(remote), "{m}");
            assert!(m.contains(fx.home().to_str().unwrap()), "{m}");
            assert!(
                m.contains(fx.ctx.application_directory.to_str().unwrap()),
                "{m}"
            );
            assert!(m.contains("outside the folders"), "{m}");
        }
        let abs = fx.outside().join("abs.txt");
        let m = failed(upload(&fx, &svc, abs.to_str().unwrap(), b"pwned").await);
        assert!(m.contains(abs.to_str().unwrap()), "{m}");
        // Nothing was written anywhere, and the spooled streams were cleaned up.
        assert_eq!(names_in(&fx.base), before);
        assert!(names_in(&fx.outside()).is_empty());
        assert!(names_in(&fx.home()).is_empty());
        assert!(fx.spool_is_empty());
        assert!(!fx.base.parent().unwrap().join("etc/passwd").exists());

        let m = failed(download(&fx, &svc, "/etc/passwd").await);
        assert!(
            m.contains("/etc/passwd") && m.contains("outside the folders"),
            "{m}"
        );
        let m = failed(download(&fx, &svc, "../../../../../../etc/passwd").await);
        assert!(m.contains("outside the folders"), "{m}");
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn symlinks_pointing_out_of_the_roots_are_refused() {
        use std::os::unix::fs::symlink;
        let fx = Fixture::new();
        let svc = fx.service();
        put(&fx.outside().join("secret.txt"), b"secret");
        symlink(fx.outside(), fx.home().join("link")).unwrap();
        symlink(fx.outside().join("secret.txt"), fx.home().join("evil.txt")).unwrap();
        symlink(fx.outside().join("gone"), fx.home().join("dangling")).unwrap();

        for remote in ["link/new.txt", "link/secret.txt", "evil.txt"] {
            let m = failed(upload(&fx, &svc, remote, b"pwned").await);
            assert!(
                m.contains(remote) && m.contains("outside the folders"),
                "{m}"
            );
            let m = failed(download(&fx, &svc, remote).await);
            assert!(
                m.contains(remote) && m.contains("outside the folders"),
                "{m}"
            );
        }
        let m = failed(upload(&fx, &svc, "dangling", b"pwned").await);
        assert!(m.contains("cannot resolve"), "{m}");
        assert_eq!(names_in(&fx.outside()), ["secret.txt"]);
        assert_eq!(
            std::fs::read(fx.outside().join("secret.txt")).unwrap(),
            b"secret"
        );

        // A link that stays inside the roots is followed.
        std::fs::create_dir_all(fx.ctx.application_directory.join("real")).unwrap();
        symlink(
            fx.ctx.application_directory.join("real"),
            fx.home().join("inner"),
        )
        .unwrap();
        upload(&fx, &svc, "inner/ok.txt", b"ok").await.unwrap();
        assert_eq!(
            std::fs::read(fx.ctx.application_directory.join("real/ok.txt")).unwrap(),
            b"ok"
        );
    }

    #[tokio::test]
    async fn the_configuration_and_certificates_are_never_transferred() {
        let fx = Fixture::new();
        let svc = fx.service();
        put(&fx.ctx.config_path, b"config");
        put(&fx.home().join("certificates/ABC.pem"), b"key");
        let m = failed(upload(&fx, &svc, "tentacle.toml", b"pwned").await);
        assert!(m.contains("configuration or certificate store"), "{m}");
        let m = failed(download(&fx, &svc, "certificates/ABC.pem").await);
        assert!(m.contains("configuration or certificate store"), "{m}");
        let m = failed(upload(&fx, &svc, "certificates/new.pem", b"pwned").await);
        assert!(m.contains("configuration or certificate store"), "{m}");
        assert_eq!(std::fs::read(&fx.ctx.config_path).unwrap(), b"config");
        assert_eq!(names_in(&fx.home().join("certificates")), ["ABC.pem"]);
        // The root itself is not a file.
        let m = failed(upload(&fx, &svc, ".", b"x").await);
        assert!(m.contains("allowed folder itself"), "{m}");
    }

    #[tokio::test]
    async fn bad_arguments_and_missing_streams() {
        let fx = Fixture::new();
        let svc = fx.service();
        assert!(matches!(
            call(
                &svc,
                "UploadFile",
                vec![Bson::String("x".into())],
                Vec::new()
            )
            .await,
            Err(ServiceError::BadArguments(_))
        ));
        assert!(matches!(
            call(&svc, "DownloadFile", vec![Bson::Int32(3)], Vec::new()).await,
            Err(ServiceError::BadArguments(_))
        ));
        assert!(matches!(
            call(&svc, "DeleteFile", Vec::new(), Vec::new()).await,
            Err(ServiceError::MethodNotFound)
        ));
        let (_, placeholder) = OutgoingStream::bytes(b"abc".to_vec());
        let m = failed(
            call(
                &svc,
                "uploadfile",
                vec![Bson::String("x".into()), placeholder.to_bson_typed()],
                Vec::new(),
            )
            .await,
        );
        assert!(m.contains("did not arrive"), "{m}");
        let m = failed(call(&svc, "DownloadFile", vec![Bson::Null], Vec::new()).await);
        assert!(m.contains("null"), "{m}");
        let m = failed(
            call(
                &svc,
                "DownloadFile",
                vec![Bson::String(String::new())],
                Vec::new(),
            )
            .await,
        );
        assert!(m.contains("empty"), "{m}");
    }

    /// A tiny tmpfs, unmounted on drop.
    struct TinyFs(PathBuf);

    impl TinyFs {
        fn mount(at: &Path, size: &str) -> Option<TinyFs> {
            std::fs::create_dir_all(at).ok()?;
            let ok = std::process::Command::new("mount")
                .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
                .arg(at)
                .stderr(std::process::Stdio::null())
                .status()
                .map(|s| s.success())
                .unwrap_or(false);
            ok.then(|| TinyFs(at.to_path_buf()))
        }
    }

    impl Drop for TinyFs {
        fn drop(&mut self) {
            let umount = |lazy: bool| {
                let mut c = std::process::Command::new("umount");
                if lazy {
                    c.arg("-l");
                }
                c.arg(&self.0)
                    .status()
                    .map(|s| s.success())
                    .unwrap_or(false)
            };
            if !umount(false) {
                umount(true);
            }
        }
    }

    #[tokio::test]
    async fn a_full_file_system_leaves_no_partial_or_temp_file() {
        let fx = Fixture::new();
        let mount_point = fx.home().join("full");
        let Some(_fs) = TinyFs::mount(&mount_point, "64k") else {
            eprintln!(
                "SKIPPED a_full_file_system_leaves_no_partial_or_temp_file: cannot mount a tmpfs here (needs root and mount permission)"
            );
            return;
        };
        let target = mount_point.join("pkg.bin");
        put(&target, b"previous");
        let bytes = payload(256 * 1024);

        // With Tentacle's free-space check, the upload is refused before anything is written.
        let m = failed(upload(&fx, &fx.service(), "full/pkg.bin", &bytes).await);
        assert!(
            m.contains("free disk space") && m.contains(mount_point.to_str().unwrap()),
            "{m}"
        );
        assert_eq!(names_in(&mount_point), ["pkg.bin"]);

        // Without it, the write itself runs out of space part-way through.
        let svc = fx.service().without_free_space_check();
        let m = failed(upload(&fx, &svc, "full/pkg.bin", &bytes).await);
        assert!(m.contains(target.to_str().unwrap()), "{m}");
        assert!(m.contains("No space left on device"), "{m}");
        assert_eq!(names_in(&mount_point), ["pkg.bin"]);
        assert_eq!(std::fs::read(&target).unwrap(), b"previous");
        assert!(fx.spool_is_empty());

        // A new file that does not fit leaves nothing at all.
        let m = failed(upload(&fx, &svc, "full/new/other.bin", &bytes).await);
        assert!(m.contains("No space left on device"), "{m}");
        assert!(!mount_point.join("new").exists());
    }
}
