//! Owner-only folders, restricted before anything is put in them: the spool and work folders, and on Windows the staging folder where keys and configs are born.
//!
//! Without unsafe code we cannot pass a security descriptor to `CreateFileW`. So on Windows
//! a secret file is created inside a folder whose ACL is already restricted (inheritance
//! removed; SYSTEM, Administrators and the owner only), and inherits that ACL at creation;
//! the rename into place keeps it. No window exists in which Users can open it.

use std::io;
use std::path::{Path, PathBuf};

/// The staging folder's name, beside the files written through it.
pub const STAGING: &str = ".tentacle-private";

/// Creates `dir` (and missing parents) so that only its owner can list or open what it
/// holds: 0700 on Unix, a protected ACL on Windows. An existing `dir` is tightened too;
/// its parents are left as they are.
pub fn create_private_dir(dir: &Path) -> io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
        builder.mode(0o700);
        builder.create(dir)?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
    }
    #[cfg(windows)]
    {
        builder.create(dir)?;
        restrict_dir(dir)
    }
    #[cfg(not(any(unix, windows)))]
    {
        builder.create(dir)
    }
}

/// Where an owner-only temp file should be created before it is renamed to its place:
/// unchanged on Unix (the create mode is 0600 already), in the restricted staging folder
/// beside it on Windows.
pub(crate) fn stage(tmp: PathBuf, owner_only: bool) -> io::Result<PathBuf> {
    if !cfg!(windows) || !owner_only {
        return Ok(tmp);
    }
    let (Some(dir), Some(name)) = (tmp.parent(), tmp.file_name()) else {
        return Ok(tmp);
    };
    let staging = dir.join(STAGING);
    create_private_dir(&staging)?;
    Ok(staging.join(name))
}

/// Replaces the folder's ACL with full control for SYSTEM, Administrators and the current
/// user, inherited by everything created inside (`(OI)(CI)`). icacls, as in
/// `atomic::restrict`: SIDs, so localised Windows works.
#[cfg(windows)]
fn restrict_dir(dir: &Path) -> io::Result<()> {
    let user = std::env::var("USERNAME").unwrap_or_default();
    let mut cmd = std::process::Command::new("icacls");
    cmd.arg(dir)
        .arg("/inheritance:r")
        .arg("/grant:r")
        .arg("*S-1-5-18:(OI)(CI)F")
        .arg("*S-1-5-32-544:(OI)(CI)F");
    if !user.is_empty() {
        cmd.arg(format!("{user}:(OI)(CI)F"));
    }
    let status = cmd.stdout(std::process::Stdio::null()).status()?;
    if status.success() {
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "icacls could not make {} private to this account (exit {status})",
            dir.display()
        )))
    }
}

#[cfg(test)]
#[cfg(unix)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn private_folders_are_0700_new_or_existing() {
        let root = tempfile::tempdir().unwrap();
        let fresh = root.path().join("Temp/deeper");
        create_private_dir(&fresh).unwrap();
        assert_eq!(mode(&fresh), 0o700);
        assert_eq!(mode(&root.path().join("Temp")), 0o700);
        let old = root.path().join("Work");
        std::fs::create_dir(&old).unwrap();
        std::fs::set_permissions(&old, std::fs::Permissions::from_mode(0o755)).unwrap();
        create_private_dir(&old).unwrap();
        assert_eq!(mode(&old), 0o700);
    }

    #[test]
    fn unix_stages_in_place() {
        let tmp = PathBuf::from("/x/.key.pem.1.tmp");
        assert_eq!(stage(tmp.clone(), true).unwrap(), tmp);
    }
}
