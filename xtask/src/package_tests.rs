//! Checks of the built Linux packages: the .deb's fields, files and scripts, a real install and
//! removal with dpkg (root only), and the .rpm's metadata and scriptlets read back with rpm.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::workspace::find_on_path;

/// Libraries the GUI dlopens, which dpkg-shlibdeps ($auto) cannot see: the .deb must depend on each.
pub const DEB_GUI_DEPENDS: &[&str] = &[
    "libx11-6",
    "libx11-xcb1",
    "libxcursor1",
    "libxi6",
    "libxkbcommon0",
    "libxkbcommon-x11-0",
    "libwayland-client0",
    "libwayland-egl1",
    "libegl1",
    "libvulkan1",
];

/// The same libraries as RPM sonames.
pub const RPM_GUI_REQUIRES: &[&str] = &[
    "libX11.so.6()(64bit)",
    "libX11-xcb.so.1()(64bit)",
    "libXcursor.so.1()(64bit)",
    "libXi.so.6()(64bit)",
    "libxkbcommon.so.0()(64bit)",
    "libxkbcommon-x11.so.0()(64bit)",
    "libwayland-client.so.0()(64bit)",
    "libwayland-egl.so.1()(64bit)",
    "libEGL.so.1()(64bit)",
    "libvulkan.so.1()(64bit)",
];

/// What both packages recommend: the file dialogs' helpers.
pub const RECOMMENDS: &[&str] = &["zenity", "xdg-desktop-portal"];

/// Files both packages install; the first three must be executable.
pub const LINUX_FILES: &[&str] = &[
    "/usr/bin/tentacle",
    "/usr/bin/tentacle-manager",
    "/usr/libexec/tentacle/instance-services",
    "/usr/share/applications/tentacle-manager.desktop",
    "/usr/share/icons/hicolor/scalable/apps/tentacle-manager.svg",
    "/usr/share/icons/hicolor/32x32/apps/tentacle-manager.png",
    "/usr/share/icons/hicolor/48x48/apps/tentacle-manager.png",
    "/usr/share/icons/hicolor/128x128/apps/tentacle-manager.png",
    "/usr/share/icons/hicolor/256x256/apps/tentacle-manager.png",
];

const PACKAGE: &str = "tentacle-manager";

type Check = Result<(), String>;

/// Runs a command and returns its stdout, or an error with its stderr.
pub(crate) fn stdout_of(cmd: &mut Command) -> Result<String, String> {
    let line = crate::workspace::display_command(cmd);
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("`{line}` could not be started: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "`{line}` failed ({}): {}",
            out.status,
            failure_text(&out)
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// A failed command's stderr, then its stdout, trimmed, for an error message.
pub(crate) fn failure_text(out: &std::process::Output) -> String {
    let err = String::from_utf8_lossy(&out.stderr);
    let std = String::from_utf8_lossy(&out.stdout);
    match (err.trim(), std.trim()) {
        ("", "") => "no output".to_owned(),
        (e, "") => e.to_owned(),
        ("", o) => o.to_owned(),
        (e, o) => format!("{e}\n(output: {o})"),
    }
}

/// The .deb: control fields, file list, maintainer scripts, the desktop entry and the packaged
/// binary; with `install` (and as root) also an install, instance creation and removal with dpkg.
pub fn check_deb(path: &Path, version: &str, install: bool) -> Check {
    if find_on_path("dpkg-deb").is_none() {
        println!(
            "== .deb: dpkg-deb is not installed (not Debian or Ubuntu?); the package was not checked"
        );
        return Ok(());
    }
    let fields = stdout_of(Command::new("dpkg-deb").arg("-f").arg(path))?;
    check_deb_control(&fields, version)?;
    let listing = stdout_of(Command::new("dpkg-deb").arg("-c").arg(path))?;
    check_deb_contents(&listing)?;
    let prerm = stdout_of(Command::new("dpkg-deb").arg("-I").arg(path).arg("prerm"))?;
    let postinst = stdout_of(Command::new("dpkg-deb").arg("-I").arg(path).arg("postinst"))?;
    check_deb_scripts(&prerm, &postinst)?;

    let tmp = TempDir::new("xtask-deb")?;
    let tree = tmp.path.join("tree");
    stdout_of(Command::new("dpkg-deb").arg("-x").arg(path).arg(&tree))?;
    check_desktop_entry(&tree.join("usr/share/applications/tentacle-manager.desktop"))?;
    let said = stdout_of(Command::new(tree.join("usr/bin/tentacle")).arg("version"))?;
    // The first line is the Tentacle version Octopus Server is shown; ours is named after it.
    if !said.contains(&format!("Tentacle Manager agent {version};")) {
        return Err(format!(
            "the packaged `tentacle version` printed {:?}, expected it to name Tentacle Manager agent {version}",
            said.trim()
        ));
    }

    if !install {
        return Ok(());
    }
    if !is_root() {
        println!(
            "== .deb: the dpkg install test needs root and was skipped (CI runs it as root; locally: sudo cargo xtask test)"
        );
        return Ok(());
    }
    crate::deb_install::install_cycle(path, version, &tmp.path)
}

fn field<'a>(fields: &'a str, name: &str) -> Option<&'a str> {
    fields.lines().find_map(|l| {
        l.strip_prefix(name)
            .and_then(|rest| rest.strip_prefix(':'))
            .map(str::trim)
    })
}

/// The package names in a Depends-style list (first alternative, no version).
fn relation_names(list: &str) -> Vec<&str> {
    list.split(',')
        .filter_map(|item| {
            item.split('|')
                .next()
                .and_then(|alt| alt.split_whitespace().next())
        })
        .collect()
}

pub fn check_deb_control(fields: &str, version: &str) -> Check {
    let mut problems = Vec::new();
    if field(fields, "Package") != Some(PACKAGE) {
        problems.push(format!(
            "Package is {:?}, not {PACKAGE}",
            field(fields, "Package")
        ));
    }
    let expected_version = format!("{version}-1");
    if field(fields, "Version") != Some(expected_version.as_str()) {
        problems.push(format!(
            "Version is {:?}, not {expected_version}",
            field(fields, "Version")
        ));
    }
    let depends = relation_names(field(fields, "Depends").unwrap_or(""));
    // libc6 comes from $auto (dpkg-shlibdeps); its absence means $auto did not run.
    for name in std::iter::once("libc6").chain(DEB_GUI_DEPENDS.iter().copied()) {
        if !depends.contains(&name) {
            problems.push(format!("Depends lacks {name}"));
        }
    }
    let recommends = relation_names(field(fields, "Recommends").unwrap_or(""));
    for name in RECOMMENDS {
        if !recommends.contains(name) {
            problems.push(format!("Recommends lacks {name}"));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!(".deb control: {}", problems.join("; ")))
    }
}

/// `dpkg-deb -c` lines: `-rwxr-xr-x root/root 123 2026-01-01 00:00 ./usr/bin/tentacle`.
pub fn check_deb_contents(listing: &str) -> Check {
    let entries: Vec<(&str, &str)> = listing
        .lines()
        .filter_map(|l| {
            let mode = l.split_whitespace().next()?;
            let path = l.split_whitespace().last()?;
            Some((mode, path.trim_start_matches('.')))
        })
        .collect();
    let mut problems = Vec::new();
    for (i, file) in LINUX_FILES.iter().enumerate() {
        match entries.iter().find(|(_, p)| p == file) {
            None => problems.push(format!("{file} is missing")),
            Some((mode, _)) if i < 3 && *mode != "-rwxr-xr-x" => {
                problems.push(format!("{file} has mode {mode}, not -rwxr-xr-x"));
            }
            Some(_) => {}
        }
    }
    // Instance data is the user's: the package must not own anything where it lives.
    for (_, p) in &entries {
        if p.starts_with("/etc/tentacle") || p.starts_with("/etc/systemd") {
            problems.push(format!(
                "the package owns {p}, where instances and their services live"
            ));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!(".deb files: {}", problems.join("; ")))
    }
}

pub fn check_deb_scripts(prerm: &str, postinst: &str) -> Check {
    let mut problems = Vec::new();
    if !prerm.contains("remove|deconfigure)")
        || !prerm.contains("/usr/libexec/tentacle/instance-services stop")
    {
        problems.push("prerm does not stop the instances' services on remove");
    }
    if !postinst.contains("/usr/libexec/tentacle/instance-services restart") {
        problems.push("postinst does not restart running instances after an upgrade");
    }
    for script in [prerm, postinst] {
        if script.contains("rm -r") || script.contains("/etc/tentacle") {
            problems.push("a maintainer script deletes or touches instance data");
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!(".deb scripts: {}", problems.join("; ")))
    }
}

/// desktop-file-validate, the freedesktop reference checker, when installed.
fn check_desktop_entry(path: &Path) -> Check {
    if find_on_path("desktop-file-validate").is_none() {
        println!(
            "== packages: desktop-file-validate is not installed (apt-get install desktop-file-utils); desktop entry not validated"
        );
        return Ok(());
    }
    // It exits 0 on hints; only errors fail, and it prints them on stdout.
    stdout_of(Command::new("desktop-file-validate").arg(path)).map(|_| ())
}

/// The .rpm read back with rpm: name and version, digests, files, requirements, weak
/// dependencies and the uninstall scriptlets.
pub fn check_rpm(path: &Path, version: &str) -> Check {
    if find_on_path("rpm").is_none() {
        println!(
            "== .rpm: rpm is not installed (apt-get install rpm); the package was not checked"
        );
        return Ok(());
    }
    let rpm = |args: &[&str]| stdout_of(Command::new("rpm").args(args).arg(path));
    let digests = rpm(&["-K", "--nosignature"])?;
    if !digests.contains("digests OK") {
        return Err(format!(".rpm: rpm -K says {:?}", digests.trim()));
    }
    let nva = rpm(&["-qp", "--qf", "%{NAME} %{VERSION} %{ARCH}"])?;
    let expected = format!("{PACKAGE} {version} x86_64");
    if nva.trim() != expected {
        return Err(format!(".rpm: it is {:?}, not {expected:?}", nva.trim()));
    }
    let files = rpm(&["-qpl"])?;
    let requires = rpm(&["-qp", "--requires"])?;
    let recommends = rpm(&["-qp", "--recommends"])?;
    let scripts = rpm(&["-qp", "--scripts"])?;
    check_rpm_metadata(&files, &requires, &recommends, &scripts)
}

pub fn check_rpm_metadata(files: &str, requires: &str, recommends: &str, scripts: &str) -> Check {
    let mut problems = Vec::new();
    let files: Vec<&str> = files.lines().map(str::trim).collect();
    for file in LINUX_FILES {
        if !files.contains(file) {
            problems.push(format!("{file} is missing"));
        }
    }
    let requires: Vec<&str> = requires
        .lines()
        .map(|l| l.split_whitespace().next().unwrap_or(""))
        .collect();
    for name in RPM_GUI_REQUIRES.iter().chain(&["/bin/sh"]) {
        if !requires.contains(name) {
            problems.push(format!("Requires lacks {name}"));
        }
    }
    let recommends: Vec<&str> = recommends
        .lines()
        .map(|l| l.split_whitespace().next().unwrap_or(""))
        .collect();
    for name in RECOMMENDS {
        if !recommends.contains(name) {
            problems.push(format!("Recommends lacks {name}"));
        }
    }
    // `rpm --scripts` prints "preuninstall scriptlet (using /bin/sh):" then the body.
    let section = |name: &str| {
        scripts
            .split_once(&format!("{name} scriptlet"))
            .map(|(_, rest)| rest.split(" scriptlet").next().unwrap_or(rest))
            .unwrap_or("")
    };
    if !section("preuninstall").contains("instance-services stop") {
        problems.push("%preun does not stop the instances' services".to_owned());
    }
    if !section("postuninstall").contains("instance-services restart") {
        problems.push("%postun does not restart running instances after an upgrade".to_owned());
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!(".rpm: {}", problems.join("; ")))
    }
}

/// Whether `id -u` says 0.
fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .ok()
        .is_some_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// A fresh temporary folder, removed when dropped.
pub(crate) struct TempDir {
    pub path: PathBuf,
}

impl TempDir {
    pub fn new(prefix: &str) -> Result<TempDir, String> {
        let base = std::env::temp_dir();
        for attempt in 0..100u32 {
            let path = base.join(format!("{prefix}-{}-{attempt}", std::process::id()));
            match std::fs::create_dir(&path) {
                Ok(()) => return Ok(TempDir { path }),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(format!("cannot create {}: {e}", path.display())),
            }
        }
        Err(format!(
            "cannot create a temporary folder in {}",
            base.display()
        ))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        // Best effort: a leftover folder in /tmp is harmless.
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD_FIELDS: &str = "Package: tentacle-manager\nVersion: 0.1.0-1\nArchitecture: amd64\nDepends: libc6 (>= 2.34), libx11-6, libx11-xcb1, libxcursor1, libxi6, libxkbcommon0, libxkbcommon-x11-0, libwayland-client0, libwayland-egl1, libegl1, libvulkan1\nRecommends: libgl1-mesa-dri, mesa-vulkan-drivers, zenity, xdg-desktop-portal\n";

    #[test]
    fn control_fields_are_checked() {
        check_deb_control(GOOD_FIELDS, "0.1.0").unwrap();
        let e = check_deb_control(&GOOD_FIELDS.replace(" libegl1,", ""), "0.1.0").unwrap_err();
        assert!(e.contains("Depends lacks libegl1"), "{e}");
        let e =
            check_deb_control(&GOOD_FIELDS.replace("libc6 (>= 2.34), ", ""), "0.1.0").unwrap_err();
        assert!(e.contains("Depends lacks libc6"), "{e}");
        let e = check_deb_control(&GOOD_FIELDS.replace(", zenity", ""), "0.1.0").unwrap_err();
        assert!(e.contains("Recommends lacks zenity"), "{e}");
        let e = check_deb_control(GOOD_FIELDS, "0.2.0").unwrap_err();
        assert!(e.contains("not 0.2.0-1"), "{e}");
    }

    fn listing() -> String {
        LINUX_FILES
            .iter()
            .enumerate()
            .map(|(i, f)| {
                let mode = if i < 3 { "-rwxr-xr-x" } else { "-rw-r--r--" };
                format!("{mode} 0/0 10 2026-01-01 00:00 .{f}\n")
            })
            .collect()
    }

    #[test]
    fn file_lists_are_checked() {
        check_deb_contents(&listing()).unwrap();
        let e = check_deb_contents(
            &listing().replace("/usr/bin/tentacle-manager\n", "/usr/bin/other\n"),
        )
        .unwrap_err();
        assert!(e.contains("/usr/bin/tentacle-manager is missing"), "{e}");
        let e = check_deb_contents(&listing().replacen("-rwxr-xr-x", "-rw-r--r--", 1)).unwrap_err();
        assert!(e.contains("/usr/bin/tentacle has mode -rw-r--r--"), "{e}");
        let e = check_deb_contents(&format!(
            "{}-rw-r--r-- 0/0 1 2026-01-01 00:00 ./etc/tentacle/x\n",
            listing()
        ))
        .unwrap_err();
        assert!(e.contains("owns /etc/tentacle/x"), "{e}");
    }

    #[test]
    fn the_real_maintainer_scripts_pass_and_a_deleting_one_fails() {
        let root = crate::workspace::root().unwrap().join("packaging");
        let read = |p: &str| std::fs::read_to_string(root.join(p)).unwrap();
        check_deb_scripts(&read("deb/prerm"), &read("deb/postinst")).unwrap();
        let e = check_deb_scripts(
            &format!("{}\nrm -rf /etc/tentacle\n", read("deb/prerm")),
            &read("deb/postinst"),
        )
        .unwrap_err();
        assert!(e.contains("instance data"), "{e}");
        let e = check_deb_scripts("#!/bin/sh\nexit 0\n", &read("deb/postinst")).unwrap_err();
        assert!(e.contains("prerm does not stop"), "{e}");
    }

    #[test]
    fn rpm_metadata_is_checked() {
        let files: String = LINUX_FILES.iter().map(|f| format!("{f}\n")).collect();
        let requires: String = RPM_GUI_REQUIRES
            .iter()
            .chain(&["/bin/sh", "libc.so.6()(64bit)"])
            .map(|r| format!("{r}\n"))
            .collect();
        let recommends = "zenity\nxdg-desktop-portal\n";
        let root = crate::workspace::root().unwrap().join("packaging/rpm");
        let scripts = format!(
            "preuninstall scriptlet (using /bin/sh):\n{}\npostuninstall scriptlet (using /bin/sh):\n{}",
            std::fs::read_to_string(root.join("preun")).unwrap(),
            std::fs::read_to_string(root.join("postun")).unwrap()
        );
        check_rpm_metadata(&files, &requires, recommends, &scripts).unwrap();
        let e = check_rpm_metadata(
            &files,
            &requires.replace("libEGL.so.1()(64bit)\n", ""),
            recommends,
            &scripts,
        )
        .unwrap_err();
        assert!(e.contains("Requires lacks libEGL.so.1()(64bit)"), "{e}");
        let e = check_rpm_metadata(&files, &requires, "zenity\n", &scripts).unwrap_err();
        assert!(e.contains("Recommends lacks xdg-desktop-portal"), "{e}");
        // The stop call moved into %postun is caught: each scriptlet is checked on its own.
        let swapped = scripts
            .replace("preuninstall", "XX")
            .replace("postuninstall", "preuninstall")
            .replace("XX", "postuninstall");
        let e = check_rpm_metadata(&files, &requires, recommends, &swapped).unwrap_err();
        assert!(e.contains("%preun does not stop"), "{e}");
    }
}
