//! The real tray over D-Bus: the built manager under `dbus-run-session` and Xvfb registers a StatusNotifierItem whose tooltip and menu are `tray_tooltip`/`tray_menu`, and its Quit item ends the manager.

use std::process::Command;

/// Runs the shell `script` inside a private D-Bus session and X display.
fn under_dbus_and_xvfb(script: &str, root: &std::path::Path) -> std::process::Output {
    let runtime = tempfile::tempdir().expect("a runtime folder");
    Command::new("dbus-run-session")
        .args(["--", "xvfb-run", "-a", "-s", "-screen 0 1024x768x24", "sh", "-c", script])
        .env("MANAGER", env!("CARGO_BIN_EXE_tentacle-manager"))
        .env("TENTACLE_CONFIG_ROOT", root)
        .env("XDG_RUNTIME_DIR", runtime.path())
        .output()
        .expect("dbus-run-session and xvfb-run (apt packages dbus, xvfb, libglib2.0-bin; cargo xtask test installs them)")
}

#[test]
fn tray_menu_is_served_over_dbus_and_quit_ends_the_manager() {
    let root = tempfile::tempdir().expect("a config root");
    // Waits (bounded) for the item, reads tooltip and menu, clicks Quit, and waits (bounded)
    // for the manager to exit by itself.
    let script = r#"
"$MANAGER" & PID=$!
for i in $(seq 1 80); do
  NAME=$(gdbus call --session --dest org.freedesktop.DBus --object-path /org/freedesktop/DBus --method org.freedesktop.DBus.ListNames | tr ',' '\n' | grep -o "org.kde.StatusNotifierItem-$PID-[0-9]*" | head -1)
  [ -n "$NAME" ] && break
  sleep 0.25
done
[ -n "$NAME" ] || { echo "NO TRAY ITEM"; kill $PID; exit 1; }
echo "TOOLTIP $(gdbus call --session --dest $NAME --object-path /StatusNotifierItem --method org.freedesktop.DBus.Properties.Get org.kde.StatusNotifierItem ToolTip | grep -o "'Tentacle[^']*'")"
LAYOUT=$(gdbus call --session --dest $NAME --object-path /MenuBar --method com.canonical.dbusmenu.GetLayout -- 0 -1 '[]')
echo "$LAYOUT"
QUIT=$(echo "$LAYOUT" | grep -o "([0-9]*, {'label': <'Quit'>" | grep -o '[0-9][0-9]*' | head -1)
echo "QUIT ITEM $QUIT"
gdbus call --session --dest $NAME --object-path /MenuBar --method com.canonical.dbusmenu.Event -- "$QUIT" clicked '<0>' 0
for i in $(seq 1 40); do kill -0 $PID 2>/dev/null || { wait $PID; echo "MANAGER EXITED $?"; exit 0; }; sleep 0.25; done
echo "MANAGER STILL RUNNING"; kill $PID; exit 1
"#;
    let output = under_dbus_and_xvfb(script, root.path());
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    // No instance yet: the tooltip says so, and only Open, Quit (and nothing instance-bound) are enabled.
    assert!(
        stdout.contains("TOOLTIP 'Tentacle: no instance yet'"),
        "{stdout}"
    );
    for label in [
        "Open Tentacle Manager",
        "Start service",
        "Stop service",
        "Run checks",
        "Quit",
    ] {
        assert!(
            stdout.contains(&format!("'label': <'{label}'>")),
            "{label} missing:\n{stdout}"
        );
    }
    assert!(
        stdout.contains("{'enabled': <false>, 'label': <'Run checks'>}"),
        "{stdout}"
    );
    assert!(stdout.contains("MANAGER EXITED 0"), "{stdout}\n{stderr}");
}
