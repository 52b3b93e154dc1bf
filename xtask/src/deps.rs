//! Debian/Ubuntu packages that `cargo xtask run` and `cargo xtask test` need, and installing the missing ones with apt.

use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};

use crate::workspace::{display_command, find_on_path};

/// Which subcommand a package group is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Need {
    /// Needed to start the GUI (`cargo xtask run`), and so by the tests too.
    Run,
    /// Needed only by `cargo xtask test`.
    Test,
}

/// A group of packages with the reason they are needed.
pub struct Group {
    pub need: Need,
    pub why: &'static str,
    pub packages: &'static [&'static str],
}

/// Every package the xtask subcommands install, grouped by who needs it.
/// `run` installs the `Need::Run` groups; `test` installs all of them.
pub const PACKAGES: &[Group] = &[
    // The GUI (eframe/winit/wgpu) dlopens these at run time; no -dev packages are needed to build.
    Group {
        need: Need::Run,
        why: "X11 libraries the GUI dlopens",
        packages: &[
            "libx11-6",
            "libx11-xcb1",
            "libxcursor1",
            "libxrandr2",
            "libxi6",
            "libxkbcommon-x11-0",
        ],
    },
    Group {
        need: Need::Run,
        why: "Wayland libraries the GUI dlopens",
        packages: &["libxkbcommon0", "libwayland-client0", "libwayland-egl1"],
    },
    Group {
        need: Need::Run,
        why: "OpenGL/EGL and Mesa drivers (wgpu's GL fallback, llvmpipe without a GPU)",
        packages: &["libegl1", "libgl1", "libgl1-mesa-dri"],
    },
    // Also what egui_kittest snapshot tests render with when there is no GPU (lavapipe).
    Group {
        need: Need::Run,
        why: "Vulkan loader and Mesa Vulkan drivers (wgpu's preferred backend, lavapipe without a GPU)",
        packages: &["libvulkan1", "mesa-vulkan-drivers"],
    },
    // Certificate tests: cross-check thumbprints and PFX files with the openssl CLI.
    Group {
        need: Need::Test,
        why: "openssl CLI for the certificate interop tests",
        packages: &["openssl"],
    },
    // Halibut transport tests: a real HTTP CONNECT proxy (plain, 403 on a refused port, Basic auth).
    Group {
        need: Need::Test,
        why: "tinyproxy, a real HTTP CONNECT proxy for the Halibut transport tests",
        packages: &["tinyproxy-bin"],
    },
    // The welcome page must satisfy a real HTTP client over our TLS, as a browser would.
    Group {
        need: Need::Test,
        why: "curl, a real HTTPS client for the welcome-page tests",
        packages: &["curl"],
    },
    // GUI end-to-end tests: start tentacle-manager on a virtual X display, drive it, screenshot it.
    Group {
        need: Need::Test,
        why: "virtual X display (xvfb-run) for the GUI end-to-end tests",
        packages: &["xvfb", "xauth"],
    },
    Group {
        need: Need::Test,
        why: "xdotool and ImageMagick to drive and screenshot the GUI in end-to-end tests",
        packages: &["xdotool", "imagemagick"],
    },
    // Tray tests: the ksni tray talks D-Bus; tests run it under dbus-run-session.
    Group {
        need: Need::Test,
        why: "dbus-run-session for the tray (D-Bus StatusNotifierItem) tests",
        packages: &["dbus", "libglib2.0-bin"],
    },
    // Polling over 443 through a real reverse proxy (seed 003): nginx's stream module, run
    // with a private config on loopback. Its default site is kept from starting (policy-rc.d).
    Group {
        need: Need::Test,
        why: "nginx with the stream module as the 443-style TLS pass-through proxy in agent tests",
        packages: &["nginx", "libnginx-mod-stream"],
    },
    // Packages (`cargo xtask test` step `packages`): build the MSI and read its tables, give
    // cargo-deb dpkg-shlibdeps for $auto, strip the staged binaries, read the .rpm back and
    // validate the desktop entry. The .deb test installs it, so its Depends must be installable.
    Group {
        need: Need::Test,
        why: "wixl and msiinfo to build and check the Windows MSI",
        packages: &["wixl", "msitools"],
    },
    // The Windows suite (`cargo xtask test` step `wine`): cross-build with mingw (also the
    // harness's shim DLL and stand-in powershell.exe), run under Wine 8; `ip`/`unshare` for
    // the namespaced dual-stack and missing-interpreter e2e tests.
    Group {
        need: Need::Test,
        why: "mingw-w64 and Wine to cross-build the Windows binaries and run them in the wine step",
        packages: &["gcc-mingw-w64-x86-64", "wine", "wine64"],
    },
    Group {
        need: Need::Test,
        why: "ip and unshare for the e2e tests that make their own network and mount namespaces",
        packages: &["iproute2", "util-linux"],
    },
    Group {
        need: Need::Test,
        why: "dpkg-dev (dpkg-shlibdeps), binutils (strip), rpm and desktop-file-validate for the Linux packages",
        packages: &["dpkg-dev", "binutils", "rpm", "desktop-file-utils"],
    },
    // Agent end-to-end tests: look for and stop agent processes (ps, pgrep, kill).
    Group {
        need: Need::Test,
        why: "ps/pgrep/kill for the agent process end-to-end tests",
        packages: &["procps"],
    },
    // `tentacle firewall` and the checks' firewall repair: the real ufw, run inside a network and
    // mount namespace the test makes; python3 serves as a real process that holds a port.
    Group {
        need: Need::Test,
        why: "ufw and python3 for the firewall and port-holder repair tests",
        packages: &["ufw", "python3"],
    },
];

/// The groups a subcommand needs: `Run` gives the run groups, `Test` gives all.
pub fn groups_for(need: Need) -> impl Iterator<Item = &'static Group> {
    PACKAGES
        .iter()
        .filter(move |g| need == Need::Test || g.need == Need::Run)
}

/// Makes sure every package `need` requires is installed, installing missing ones with apt.
///
/// On systems without dpkg/apt it prints the package names and returns `Ok`; the caller carries on.
/// Set `XTASK_SKIP_APT=1` to skip the check entirely.
pub fn ensure(need: Need) -> Result<()> {
    let label = match need {
        Need::Run => "run",
        Need::Test => "test",
    };
    let groups: Vec<&Group> = groups_for(need).collect();
    let all: Vec<&str> = groups
        .iter()
        .flat_map(|g| g.packages.iter().copied())
        .collect();

    if std::env::var_os("XTASK_SKIP_APT").is_some_and(|v| !v.is_empty() && v != "0") {
        println!(
            "xtask: XTASK_SKIP_APT is set, not checking the {} system packages `{label}` needs: {}",
            all.len(),
            all.join(" ")
        );
        return Ok(());
    }

    if find_on_path("dpkg-query").is_none() || find_on_path("apt-get").is_none() {
        println!(
            "xtask: dpkg-query/apt-get not found, so this is not Debian or Ubuntu and I can't install system packages."
        );
        println!(
            "xtask: `{label}` expects these Debian package names (or your system's equivalents):"
        );
        print_groups(groups.iter().copied(), |_| true);
        println!("xtask: carrying on without them.");
        return Ok(());
    }

    let mut missing: Vec<&str> = Vec::new();
    for pkg in &all {
        if !is_installed(pkg)? {
            missing.push(pkg);
        }
    }
    if missing.is_empty() {
        println!(
            "xtask: all {} system packages `{label}` needs are installed.",
            all.len()
        );
        return Ok(());
    }

    println!(
        "xtask: installing {} missing system package(s) that `{label}` needs:",
        missing.len()
    );
    print_groups(groups.iter().copied(), |p| missing.contains(&p));

    let sudo = use_sudo()?;
    // A failed update (say one broken third-party source) need not stop the install; warn and try.
    if let Err(e) = run_apt(apt_command(sudo, ["update"]), &missing) {
        eprintln!("xtask: warning: {e:#}; trying the install anyway");
    }
    let install = apt_command(
        sudo,
        ["install", "-y", "--no-install-recommends"]
            .into_iter()
            .chain(missing.iter().copied()),
    );
    // Packages like nginx start their default service on install; tests only run private
    // instances, so tell invoke-rc.d not to start anything while apt runs.
    let guard = PolicyRcGuard::install(sudo);
    let result = run_apt(install, &missing);
    drop(guard);
    result?;

    let still: Vec<&str> = missing
        .iter()
        .copied()
        .filter(|p| !matches!(is_installed(p), Ok(true)))
        .collect();
    if !still.is_empty() {
        bail!(
            "apt-get finished but these packages are still not installed: {}",
            still.join(" ")
        );
    }
    println!("xtask: installed {}.", missing.join(" "));
    Ok(())
}

/// `/usr/sbin/policy-rc.d` answering 101 ("action forbidden") for as long as it lives, unless
/// the machine already has one of its own.
struct PolicyRcGuard {
    sudo: bool,
    created: bool,
}

const POLICY_RC: &str = "/usr/sbin/policy-rc.d";

impl PolicyRcGuard {
    fn install(sudo: bool) -> PolicyRcGuard {
        if std::path::Path::new(POLICY_RC).exists() {
            return PolicyRcGuard {
                sudo,
                created: false,
            };
        }
        let script =
            format!("printf '#!/bin/sh\\nexit 101\\n' > {POLICY_RC} && chmod 755 {POLICY_RC}");
        let mut cmd = if sudo {
            let mut c = Command::new("sudo");
            c.arg("sh").arg("-c").arg(&script);
            c
        } else {
            let mut c = Command::new("sh");
            c.arg("-c").arg(&script);
            c
        };
        let created = cmd.status().is_ok_and(|s| s.success());
        PolicyRcGuard { sudo, created }
    }
}

impl Drop for PolicyRcGuard {
    fn drop(&mut self) {
        if !self.created {
            return;
        }
        let mut cmd = if self.sudo {
            let mut c = Command::new("sudo");
            c.arg("rm").arg("-f").arg(POLICY_RC);
            c
        } else {
            let mut c = Command::new("rm");
            c.arg("-f").arg(POLICY_RC);
            c
        };
        let _ = cmd.status();
    }
}

/// Prints each group that has at least one package matching `keep`, with its reason.
fn print_groups<'a>(groups: impl Iterator<Item = &'a Group>, keep: impl Fn(&str) -> bool) {
    for g in groups {
        let pkgs: Vec<&str> = g.packages.iter().copied().filter(|p| keep(p)).collect();
        if !pkgs.is_empty() {
            println!("    {}  ({})", pkgs.join(" "), g.why);
        }
    }
}

/// True when `dpkg-query` reports the package as "install ok installed".
fn is_installed(pkg: &str) -> Result<bool> {
    let out = Command::new("dpkg-query")
        .args(["-W", "-f=${Status}", pkg])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .with_context(|| format!("running dpkg-query for {pkg}"))?;
    // A missing package makes dpkg-query exit 1 with an empty stdout; that is "not installed".
    Ok(status_is_installed(&String::from_utf8_lossy(&out.stdout)))
}

/// Parses `dpkg-query -f='${Status}'` output. Several architectures of one package print
/// their statuses back to back, so any "install ok installed" counts.
fn status_is_installed(status: &str) -> bool {
    status.contains("install ok installed")
}

/// Whether apt must run through sudo (not root). Fails when it must but sudo is missing.
fn use_sudo() -> Result<bool> {
    if is_root() {
        return Ok(false);
    }
    match find_on_path("sudo") {
        Some(_) => {
            println!("xtask: not running as root, so using sudo (it may ask for your password).");
            Ok(true)
        }
        None => bail!(
            "not running as root and sudo is not installed; install the packages above as root, or set XTASK_SKIP_APT=1 to skip this step"
        ),
    }
}

/// Whether `id -u` says 0. If `id` can't be run, assume not root (sudo will then say if it is needed).
fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .is_some_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// `apt-get ARGS` with DEBIAN_FRONTEND=noninteractive, through `sudo` when asked.
fn apt_command<'a>(sudo: bool, args: impl IntoIterator<Item = &'a str>) -> Command {
    let mut cmd = if sudo {
        // sudo resets the environment, so pass the variable on its command line.
        let mut c = Command::new("sudo");
        c.args(["DEBIAN_FRONTEND=noninteractive", "apt-get"]);
        c
    } else {
        Command::new("apt-get")
    };
    cmd.env("DEBIAN_FRONTEND", "noninteractive");
    cmd.args(args);
    cmd
}

fn run_apt(mut cmd: Command, missing: &[&str]) -> Result<()> {
    println!("xtask: $ {}", display_command(&cmd));
    let status = cmd
        .status()
        .with_context(|| format!("starting {}", display_command(&cmd)))?;
    if !status.success() {
        bail!(
            "{} failed ({status}); install these packages yourself, or set XTASK_SKIP_APT=1 to skip this step: {}",
            display_command(&cmd),
            missing.join(" ")
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_groups_are_a_subset_of_test_groups() {
        let run: Vec<&str> = groups_for(Need::Run)
            .flat_map(|g| g.packages.iter().copied())
            .collect();
        let test: Vec<&str> = groups_for(Need::Test)
            .flat_map(|g| g.packages.iter().copied())
            .collect();
        assert_eq!(run.len(), 14);
        assert!(run.iter().all(|p| test.contains(p)));
        for extra in [
            "openssl",
            "xvfb",
            "xauth",
            "xdotool",
            "imagemagick",
            "dbus",
            "procps",
        ] {
            assert!(test.contains(&extra) && !run.contains(&extra), "{extra}");
        }
    }

    #[test]
    fn no_package_is_listed_twice() {
        let mut all: Vec<&str> = PACKAGES
            .iter()
            .flat_map(|g| g.packages.iter().copied())
            .collect();
        let n = all.len();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), n);
    }

    #[test]
    fn dpkg_status_parsing() {
        assert!(status_is_installed("install ok installed"));
        assert!(status_is_installed(
            "install ok installedinstall ok installed"
        ));
        assert!(!status_is_installed(""));
        assert!(!status_is_installed("deinstall ok config-files"));
        assert!(!status_is_installed("unknown ok not-installed"));
    }

    #[test]
    fn sudo_passes_debian_frontend_on_its_command_line() {
        let cmd = apt_command(true, ["install", "-y", "xvfb"]);
        assert_eq!(
            display_command(&cmd),
            "sudo DEBIAN_FRONTEND=noninteractive apt-get install -y xvfb"
        );
        let cmd = apt_command(false, ["update"]);
        assert_eq!(display_command(&cmd), "apt-get update");
    }
}
