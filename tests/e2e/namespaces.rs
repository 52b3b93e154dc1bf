//! Runs one e2e test again inside Linux namespaces it creates (`unshare`), after a set-up shell script, so a test can change sysctls or mounts without touching the machine.

use std::process::Command;

use tentacle_tests::have;

/// Set in the copy of a test that runs inside the namespaces.
pub const INSIDE: &str = "TENTACLE_TEST_INSIDE_NAMESPACE";

/// True in the copy that runs inside.
pub fn inside() -> bool {
    std::env::var_os(INSIDE).is_some()
}

/// Re-runs the test `name` (its full path in the e2e binary) under `unshare <kinds>` after
/// `setup` (sh, `set -e`), and returns what it printed; panics if it failed or ran nothing.
/// `kinds` are unshare's flags without the user namespace (e.g. `"n"`, `"m"`); a user
/// namespace is added when not root. Returns None (after printing SKIPPED and the fix) when
/// this machine will not make the namespaces.
pub fn rerun_inside(kinds: &str, setup: &str, name: &str) -> Option<String> {
    if !have("unshare") {
        println!("SKIPPED: unshare is missing; install it with: apt-get install util-linux");
        return None;
    }
    let flags = if is_root() {
        format!("-{kinds}")
    } else {
        format!("-r{kinds}")
    };
    let probe = Command::new("unshare").args([&flags, "true"]).output();
    if !probe.as_ref().is_ok_and(|o| o.status.success()) {
        println!(
            "SKIPPED: this machine does not let the test create namespaces (unshare {flags} true: {}); run the tests as root, or enable unprivileged user namespaces with: sysctl -w kernel.unprivileged_userns_clone=1",
            probe
                .map(|o| String::from_utf8_lossy(&o.stderr).trim().to_owned())
                .unwrap_or_else(|e| e.to_string())
        );
        return None;
    }
    let me = std::env::current_exe().unwrap();
    let script =
        format!("set -e\n{setup}\nexec \"$0\" \"$1\" --exact --nocapture --test-threads=1");
    let out = Command::new("timeout")
        .args(["120", "unshare", &flags, "sh", "-c", &script])
        .arg(&me)
        .arg(name)
        .env(INSIDE, "1")
        .output()
        .unwrap();
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "the namespaced run failed:\n{text}");
    assert!(
        text.contains("1 passed"),
        "the namespaced run ran nothing:\n{text}"
    );
    Some(text)
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}
