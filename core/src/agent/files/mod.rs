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

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ::bson::Bson;
use serde::{Deserialize, Serialize};

use super::AgentContext;
use crate::halibut::bson::to_typed;
use crate::halibut::connection::{OutgoingStream, ReceivedStream};
use crate::halibut::message::DataStreamRef;
use crate::halibut::rpc::{BoxFuture, Reply, Service, ServiceError};
use paths::{normalise, resolve_existing};
use write::{ensure_free_space, remove_created_folders, write_atomically};

mod paths;
#[cfg(test)]
mod tests;
mod write;

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
