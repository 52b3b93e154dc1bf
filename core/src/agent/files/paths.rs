//! File-transfer paths: .NET-style lexical normalisation and resolving the existing part through symbolic links.

use std::ffi::OsString;
use std::path::{Component, Path, PathBuf};

/// Removes `.` and resolves `..` without touching the file system, as .NET's `GetFullPath`;
/// `..` at the root stays at the root.
pub(super) fn normalise(path: &Path) -> PathBuf {
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
pub(super) fn resolve_existing(path: &Path) -> Result<PathBuf, (PathBuf, std::io::Error)> {
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
