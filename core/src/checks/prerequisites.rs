//! The check `host.prerequisites`: the programs deployment scripts and Calamari's bootstrap need on this OS (bash and its tools on Linux and macOS, PowerShell on Windows), each missing one named with its package.

use std::path::{Path, PathBuf};

use super::Outcome;

/// The programs Calamari's bash bootstrap and Octopus's scripts call, and the Debian/RHEL
/// package that provides each.
#[cfg(unix)]
const UNIX_TOOLS: [(&str, &str); 7] = [
    ("bash", "bash"),
    ("openssl", "openssl"),
    ("base64", "coreutils"),
    ("tar", "tar"),
    ("grep", "grep"),
    ("mktemp", "coreutils"),
    ("xxd", "xxd; vim-common on RHEL and older Debian"),
];

/// Bash older than this lacks what Octopus's bootstrap uses (associative arrays, `${var,,}`).
#[cfg(unix)]
const MIN_BASH_MAJOR: u32 = 4;

/// `program` in the folders of `path` (a PATH value), as the shell would find it.
pub(crate) fn find_on(path: &std::ffi::OsStr, program: &str) -> Option<PathBuf> {
    std::env::split_paths(path)
        .filter(|d| !d.as_os_str().is_empty())
        .map(|d| d.join(program))
        .find(|p| is_executable(p))
}

#[cfg(unix)]
fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(not(unix))]
fn is_executable(p: &Path) -> bool {
    p.is_file()
}

/// The first line a program prints for `args`, when it runs.
fn first_line(program: &Path, args: &[&str]) -> Option<String> {
    let out = std::process::Command::new(program)
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .ok()?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .next()
        .map(|l| l.trim().to_owned())
}

/// "GNU bash, version 5.2.15(1)-release ..." → 5.
#[cfg(unix)]
fn bash_major(line: &str) -> Option<u32> {
    let v = line.split("version ").nth(1)?;
    v.split('.').next()?.trim().parse().ok()
}

/// The check, with this process's PATH (the service's own PATH may differ: systemd gives
/// units a standard one).
pub(crate) fn check() -> Outcome {
    check_path(&std::env::var_os("PATH").unwrap_or_default())
}

#[cfg(unix)]
pub(crate) fn check_path(path: &std::ffi::OsStr) -> Outcome {
    let mut found = Vec::new();
    let mut missing = Vec::new();
    for (tool, package) in UNIX_TOOLS {
        match find_on(path, tool) {
            Some(p) => found.push((tool, p)),
            None => missing.push(format!("{tool} (package {package})")),
        }
    }
    let bash = found
        .iter()
        .find(|(t, _)| *t == "bash")
        .and_then(|(_, p)| first_line(p, &["--version"]));
    let bash_text = bash.clone().unwrap_or_else(|| "bash".to_owned());
    let names: Vec<&str> = found.iter().map(|(t, _)| *t).collect();
    if !missing.is_empty() {
        let list = missing.join(", ");
        return Outcome::fail(
            format!("Missing: {list}. Found: {}", names.join(", ")),
            "Octopus runs bash scripts here, and Calamari's bootstrap calls these programs; deployments and health checks that need them fail",
            format!("Install the missing packages (apt-get install / dnf install): {list}"),
        );
    }
    if let Some(major) = bash.as_deref().and_then(bash_major)
        && major < MIN_BASH_MAJOR
    {
        return Outcome::warn(
            format!("{bash_text}; the other tools are present"),
            format!(
                "Bash {major} is older than {MIN_BASH_MAJOR}.0, which Octopus's bash bootstrap expects"
            ),
            "Install a current bash (on macOS: brew install bash) and make it the first bash on PATH",
        );
    }
    Outcome::pass(format!("{bash_text}; found {}", names.join(", ")))
}

#[cfg(windows)]
pub(crate) fn check_path(path: &std::ffi::OsStr) -> Outcome {
    let system = std::env::var_os("SystemRoot")
        .map(|r| PathBuf::from(r).join(r"System32\WindowsPowerShell\v1.0\powershell.exe"))
        .filter(|p| p.is_file())
        .or_else(|| find_on(path, "powershell.exe"));
    let Some(ps) = system else {
        return Outcome::fail(
            "Windows PowerShell (powershell.exe) was not found",
            "Octopus runs PowerShell scripts on Windows Tentacles; every deployment and health check fails without it",
            "Enable Windows PowerShell 5.1 (Windows Management Framework 5.1 on old Windows Server)",
        );
    };
    let version = first_line(
        &ps,
        &[
            "-NonInteractive",
            "-NoProfile",
            "-Command",
            "$PSVersionTable.PSVersion.ToString()",
        ],
    );
    match version {
        Some(v)
            if v.split('.')
                .next()
                .and_then(|m| m.parse::<u32>().ok())
                .is_some_and(|m| m >= 5) =>
        {
            Outcome::pass(format!("Windows PowerShell {v} at {}", ps.display()))
        }
        Some(v) => Outcome::warn(
            format!("Windows PowerShell {v} at {}", ps.display()),
            "Octopus's scripts and Calamari expect Windows PowerShell 5.1",
            "Install Windows Management Framework 5.1",
        ),
        None => Outcome::fail(
            format!("{} did not report its version", ps.display()),
            "PowerShell does not start, so scripts cannot run",
            "Run powershell.exe -NoProfile by hand to see why (policy, a broken profile, missing .NET)",
        ),
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use crate::checks::Verdict;

    #[test]
    fn names_each_missing_tool_with_its_package() {
        let dir = tempfile::tempdir().unwrap();
        for t in ["bash", "base64", "tar", "grep", "mktemp", "xxd"] {
            if let Some(real) = find_on(&std::env::var_os("PATH").unwrap(), t) {
                std::os::unix::fs::symlink(real, dir.path().join(t)).unwrap();
            }
        }
        let o = check_path(dir.path().as_os_str());
        assert_eq!(o.verdict, Verdict::Fail);
        assert!(o.seen.contains("openssl (package openssl)"), "{}", o.seen);
        assert!(o.fix.unwrap().contains("openssl"));
    }

    #[test]
    fn reads_the_bash_major_version() {
        assert_eq!(
            bash_major("GNU bash, version 5.2.15(1)-release (x86_64-pc-linux-gnu)"),
            Some(5)
        );
        assert_eq!(
            bash_major("GNU bash, version 3.2.57(1)-release (arm64-apple-darwin23)"),
            Some(3)
        );
        assert_eq!(bash_major("zsh 5.9"), None);
    }
}
