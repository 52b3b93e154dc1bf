//! The MSI under Wine's msiexec: a lower-version MSI (built by the xtask step) installs with /qn (files, Start-menu shortcut, registry), the current MSI upgrades it leaving one product, and uninstalling removes the binaries and keeps every instance.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::{Run, Wine, run, timed, windows_path};

const LIMIT: Duration = Duration::from_secs(180);

fn msiexec(w: &Wine, args: &[&str], msi: &Path) -> Run {
    let mut cmd = w.command("msiexec");
    cmd.args(args)
        .arg(windows_path(msi))
        .args(["/qn", "LAUNCHMANAGER=0"]);
    run(cmd, LIMIT)
}

fn reg_query(w: &Wine, key: &str) -> Run {
    let mut cmd = w.command("reg");
    cmd.args(["query", key, "/s"]);
    run(cmd, Duration::from_secs(60))
}

/// Every installed product's DisplayName/DisplayVersion pair from the Uninstall keys.
fn products_named(w: &Wine, name: &str) -> Vec<String> {
    let out = reg_query(
        w,
        r"HKLM\Software\Microsoft\Windows\CurrentVersion\Uninstall",
    )
    .stdout;
    let mut found = Vec::new();
    let mut this_name = false;
    for line in out.lines() {
        if line.starts_with("HKEY_") {
            this_name = false;
        }
        if line.contains("DisplayName") && line.trim_end().ends_with(name) {
            this_name = true;
        }
        if this_name && line.contains("DisplayVersion") {
            found.push(
                line.split_whitespace()
                    .last()
                    .unwrap_or_default()
                    .to_owned(),
            );
        }
    }
    found
}

#[test]
#[ignore = "needs the Wine set-up of `cargo xtask test`"]
fn install_upgrade_and_uninstall_keep_instances() {
    let w = Wine::from_env();
    let var =
        |n: &str| PathBuf::from(std::env::var_os(n).unwrap_or_else(|| panic!("{n} is not set")));
    let old = var("TENTACLE_WINE_OLD_MSI");
    let new = var("TENTACLE_WINE_MSI");
    let new_version = std::env::var("TENTACLE_WINE_MSI_VERSION").unwrap();
    let drive_c = w.prefix.join("drive_c");
    let installed = drive_c.join("Program Files").join("Tentacle Manager");
    // perMachine resolves ProgramMenuFolder to the all-users Start menu on Windows; Wine,
    // which never runs the install elevated, puts it in the installing user's.
    let user = std::env::var("USER").unwrap_or_else(|_| "root".into());
    let shortcuts = [
        drive_c.join("ProgramData/Microsoft/Windows/Start Menu/Programs/Tentacle Manager.lnk"),
        drive_c.join(format!(
            "users/{user}/AppData/Roaming/Microsoft/Windows/Start Menu/Programs/Tentacle Manager.lnk"
        )),
    ];
    let shortcut_exists = || shortcuts.iter().any(|p| p.is_file());

    timed("MSI install /qn (lower version)", || {
        let r = msiexec(&w, &["/i"], &old);
        assert_eq!(r.code, Some(0), "{r:#?}");
    });
    for exe in ["tentacle.exe", "tentacle-manager.exe"] {
        assert!(
            installed.join(exe).is_file(),
            "{exe} not installed in {}",
            installed.display()
        );
    }
    assert!(shortcut_exists(), "no Start-menu shortcut at {shortcuts:?}");
    let location = reg_query(&w, r"HKLM\Software\Tentacle Manager");
    assert!(location.stdout.contains("InstallLocation"), "{location:#?}");
    assert!(
        location.stdout.contains(r"Program Files\Tentacle Manager"),
        "{location:#?}"
    );
    assert_eq!(products_named(&w, "Tentacle Manager"), ["0.0.1"]);

    // An instance made by the installed tentacle.exe, in the machine's own place.
    let mut create = w.command(installed.join("tentacle.exe"));
    create.args(["create-instance", "--instance", "KeepMe"]);
    let r = run(create, Duration::from_secs(60));
    assert_eq!(r.code, Some(0), "{r:#?}");
    let index = |w: &Wine| {
        let mut list = w.command(installed.join("tentacle.exe"));
        list.arg("list-instances");
        run(list, Duration::from_secs(60))
    };
    assert!(index(&w).stdout.contains("KeepMe"));

    timed("MSI upgrade /qn", || {
        let r = msiexec(&w, &["/i"], &new);
        assert_eq!(r.code, Some(0), "{r:#?}");
    });
    assert_eq!(
        products_named(&w, "Tentacle Manager"),
        [new_version.as_str()],
        "the upgrade should leave exactly one product"
    );
    assert!(installed.join("tentacle.exe").is_file());

    timed("MSI uninstall /qn", || {
        let r = msiexec(&w, &["/x"], &new);
        assert_eq!(r.code, Some(0), "{r:#?}");
    });
    assert!(
        !installed.join("tentacle.exe").exists(),
        "tentacle.exe is still installed"
    );
    assert!(!installed.join("tentacle-manager.exe").exists());
    assert!(!shortcut_exists(), "the shortcut is still there");
    assert!(products_named(&w, "Tentacle Manager").is_empty());
    // The instance survives: the cross-built exe still finds it.
    let mut list = w.command(w.bin.join("tentacle.exe"));
    list.arg("list-instances");
    let r = run(list, Duration::from_secs(60));
    assert!(
        r.stdout.contains("KeepMe"),
        "the uninstall lost the instance: {r:#?}"
    );
}
