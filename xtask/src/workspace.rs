//! Where the workspace is, how to call cargo, and the environment child processes get.

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result};

/// The workspace root: the parent of this crate's manifest directory, whatever the current directory is.
pub fn root() -> Result<PathBuf> {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let root = manifest.parent().with_context(|| {
        format!(
            "xtask's manifest directory has no parent: {}",
            manifest.display()
        )
    })?;
    Ok(root.to_path_buf())
}

/// The cargo that started us (`CARGO`), or `cargo` from PATH.
fn cargo_program() -> OsString {
    std::env::var_os("CARGO")
        .filter(|c| !c.is_empty())
        .unwrap_or_else(|| OsString::from("cargo"))
}

/// What every child process needs: where to run, which cargo, extra environment.
pub struct Workspace {
    pub root: PathBuf,
    cargo: OsString,
    env: Vec<(OsString, OsString)>,
    _runtime_dir: Option<RuntimeDir>,
}

impl Workspace {
    /// Finds the workspace and, if XDG_RUNTIME_DIR is unset, makes a private one for the children.
    pub fn new() -> Result<Self> {
        let root = root()?;
        let mut env = Vec::new();
        let runtime_dir = if std::env::var_os("XDG_RUNTIME_DIR").is_none_or(|v| v.is_empty()) {
            let dir = RuntimeDir::create()?;
            println!(
                "xtask: XDG_RUNTIME_DIR is not set; using a fresh private one for child processes: {}",
                dir.path.display()
            );
            env.push((
                OsString::from("XDG_RUNTIME_DIR"),
                dir.path.clone().into_os_string(),
            ));
            Some(dir)
        } else {
            None
        };
        Ok(Self {
            root,
            cargo: cargo_program(),
            env,
            _runtime_dir: runtime_dir,
        })
    }

    /// A `cargo ARGS` command that runs in the workspace root with the extra environment.
    /// stdio is inherited (the `Command` default for `status()`).
    pub fn cargo<I, S>(&self, args: I) -> Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut cmd = Command::new(&self.cargo);
        cmd.current_dir(&self.root).args(args);
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd
    }
}

/// A fresh 0700 temporary directory, removed when dropped.
struct RuntimeDir {
    path: PathBuf,
}

impl RuntimeDir {
    fn create() -> Result<Self> {
        let base = std::env::temp_dir();
        let pid = std::process::id();
        let mut last_err = None;
        for attempt in 0..100u32 {
            let path = base.join(format!("xtask-runtime-{pid}-{attempt}"));
            let mut builder = std::fs::DirBuilder::new();
            #[cfg(unix)]
            {
                use std::os::unix::fs::DirBuilderExt;
                builder.mode(0o700);
            }
            match builder.create(&path) {
                Ok(()) => return Ok(Self { path }),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => last_err = Some(e),
                Err(e) => {
                    return Err(e).with_context(|| {
                        format!("creating a temporary XDG_RUNTIME_DIR: {}", path.display())
                    });
                }
            }
        }
        Err(anyhow::anyhow!(
            "could not create a temporary XDG_RUNTIME_DIR in {}: {last_err:?}",
            base.display()
        ))
    }
}

impl Drop for RuntimeDir {
    fn drop(&mut self) {
        // Best effort: a leftover empty directory in /tmp is harmless.
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// The first executable file called `name` on PATH.
pub fn find_on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| is_executable(p))
}

#[cfg(unix)]
fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    p.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(not(unix))]
fn is_executable(p: &Path) -> bool {
    p.is_file() || p.with_extension("exe").is_file()
}

/// A command as a shell-like line for messages (program and arguments, quoted when needed).
/// The full path of `$CARGO` is shortened to `cargo`.
pub fn display_command(cmd: &Command) -> String {
    let program = cmd.get_program();
    let program = match Path::new(program).file_stem() {
        Some(stem) if stem == "cargo" => OsStr::new("cargo"),
        _ => program,
    };
    std::iter::once(program)
        .chain(cmd.get_args())
        .map(|a| quote(&a.to_string_lossy()))
        .collect::<Vec<_>>()
        .join(" ")
}

fn quote(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c));
    if plain {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_holds_the_workspace_manifest() {
        let root = root().unwrap();
        assert!(root.join("Cargo.toml").is_file());
        assert!(root.join("xtask").join("Cargo.toml").is_file());
    }

    #[test]
    fn display_quotes_only_when_needed() {
        let mut cmd = Command::new("/home/me/.cargo/bin/cargo");
        cmd.args(["test", "--", "a b", "it's", ""]);
        assert_eq!(display_command(&cmd), r"cargo test -- 'a b' 'it'\''s' ''");
    }

    #[test]
    fn runtime_dir_is_private_and_removed() {
        let dir = RuntimeDir::create().unwrap();
        let path = dir.path.clone();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = path.metadata().unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o700);
        }
        drop(dir);
        assert!(!path.exists());
    }
}
