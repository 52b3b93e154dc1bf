//! Owner-only folders and files for script workspaces: created 0700/0600 on Unix from the first instant, never loosened by a chmod afterwards.
//!
//! A workspace holds the script body, its output and decrypted-to-encrypted sensitive
//! variables; another local user must never get a window to read them.

use std::fs::{File, OpenOptions};
use std::io;
use std::path::Path;

/// `mkdir -p` with every folder it creates owner-only (0700). Folders that already exist
/// keep their mode: the work root's parents are the operator's business.
pub fn create_dir_all(path: &Path) -> io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(path)
}

/// Creates (or truncates) `path` for writing, owner-only (0600) from creation.
pub fn create_file(path: &Path) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.write(true).create(true).truncate(true);
    owner_only(&mut options);
    options.open(path)
}

/// Opens `path` for appending, creating it owner-only (0600) when missing.
pub fn open_append(path: &Path) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.create(true).append(true);
    owner_only(&mut options);
    options.open(path)
}

#[cfg(unix)]
fn owner_only(options: &mut OpenOptions) {
    use std::os::unix::fs::OpenOptionsExt;
    options.mode(0o600);
}

#[cfg(not(unix))]
fn owner_only(_options: &mut OpenOptions) {}

#[cfg(test)]
#[cfg(unix)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn folders_and_files_are_owner_only_from_creation() {
        let dir = tempfile::tempdir().unwrap();
        let deep = dir.path().join("Work/ticket/sub");
        create_dir_all(&deep).unwrap();
        assert_eq!(mode(&dir.path().join("Work")), 0o700);
        assert_eq!(mode(&deep), 0o700);
        let f = deep.join("a.txt");
        drop(create_file(&f).unwrap());
        assert_eq!(mode(&f), 0o600);
        let log = deep.join("Output.log");
        drop(open_append(&log).unwrap());
        assert_eq!(mode(&log), 0o600);
    }
}
