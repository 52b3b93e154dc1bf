//! Checks of the built MSI through `msiinfo export`: both exes, the Start-menu shortcut, the major-upgrade rows and the launch action.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

/// wix/tentacle.wxs's UpgradeCode. It must never change: it is how a new MSI finds and replaces
/// the installed one.
pub const UPGRADE_CODE: &str = "{95843794-6E8D-4D2A-8597-5863878DC811}";

/// The tables the checks read.
const TABLES: [&str; 9] = [
    "File",
    "Component",
    "Directory",
    "Shortcut",
    "Upgrade",
    "Property",
    "CustomAction",
    "InstallExecuteSequence",
    "ServiceControl",
];

/// One table: its rows, each a column → value map.
pub type Table = Vec<BTreeMap<String, String>>;

/// Reads the tables from the MSI at `path` with msiinfo and checks them.
pub fn check_msi(path: &Path) -> Result<(), String> {
    let tables = read_tables(path)?;
    check_tables(&tables)
}

/// Extracts the MSI with msiextract and compares each exe with the staged one it was built
/// from, byte for byte: the cabinet really holds the binaries we built.
pub fn check_payload(path: &Path, stage: &Path) -> Result<(), String> {
    let tmp = crate::package_tests::TempDir::new("xtask-msi")?;
    crate::package_tests::stdout_of(
        Command::new("msiextract")
            .arg("-C")
            .arg(&tmp.path)
            .arg(path),
    )?;
    for exe in crate::dist::BINARIES.map(|b| format!("{b}.exe")) {
        // msiextract writes "<install folder name>/<file>".
        let got = tmp.path.join("Tentacle Manager").join(&exe);
        let want = stage.join(&exe);
        let same = match (std::fs::read(&got), std::fs::read(&want)) {
            (Ok(a), Ok(b)) => a == b,
            (Err(e), _) => return Err(format!("the MSI holds no {exe} ({}: {e})", got.display())),
            (_, Err(e)) => return Err(format!("cannot read {}: {e}", want.display())),
        };
        if !same {
            return Err(format!("the MSI's {exe} differs from {}", want.display()));
        }
    }
    Ok(())
}

/// `msiinfo export PATH TABLE` for every table the checks need.
pub fn read_tables(path: &Path) -> Result<BTreeMap<String, Table>, String> {
    let mut tables = BTreeMap::new();
    for name in TABLES {
        let out = Command::new("msiinfo")
            .arg("export")
            .arg(path)
            .arg(name)
            .output()
            .map_err(|e| format!("msiinfo could not be started (apt-get install msitools): {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "msiinfo export {} {name} failed: {}",
                path.display(),
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        let text = String::from_utf8_lossy(&out.stdout);
        tables.insert(name.to_owned(), parse_table(&text)?);
    }
    Ok(tables)
}

/// Parses msiinfo's IDT export: a line of column names, a line of column types, a line naming
/// the table and its keys, then one tab-separated row per line. An absent table exports nothing.
pub fn parse_table(text: &str) -> Result<Table, String> {
    let mut lines = text.lines();
    let Some(header) = lines.next() else {
        return Ok(Vec::new());
    };
    let columns: Vec<&str> = header.split('\t').collect();
    // Column types, then "Table<TAB>Key...".
    let _types = lines.next();
    let _table = lines.next();
    let mut rows = Vec::new();
    for line in lines.filter(|l| !l.is_empty()) {
        let cells: Vec<&str> = line.split('\t').collect();
        if cells.len() > columns.len() {
            return Err(format!(
                "an msiinfo row has {} cells for {} columns: {line:?}",
                cells.len(),
                columns.len()
            ));
        }
        let row = columns
            .iter()
            .enumerate()
            .map(|(i, c)| {
                (
                    (*c).to_owned(),
                    cells.get(i).copied().unwrap_or("").to_owned(),
                )
            })
            .collect();
        rows.push(row);
    }
    Ok(rows)
}

fn get<'a>(row: &'a BTreeMap<String, String>, column: &str) -> &'a str {
    row.get(column).map(String::as_str).unwrap_or("")
}

fn table<'a>(tables: &'a BTreeMap<String, Table>, name: &str) -> &'a [BTreeMap<String, String>] {
    tables.get(name).map(Vec::as_slice).unwrap_or(&[])
}

/// A File row's long name: WiX writes `SHORT~1.EXE|long-name.exe`, wixl the long name alone.
fn long_name(file_name: &str) -> &str {
    file_name.rsplit('|').next().unwrap_or(file_name)
}

/// Every problem found, or Ok.
pub fn check_tables(tables: &BTreeMap<String, Table>) -> Result<(), String> {
    let mut problems: Vec<String> = Vec::new();
    let files = table(tables, "File");
    let components = table(tables, "Component");
    let directories = table(tables, "Directory");

    // Both exes, non-empty, in 64-bit components under Program Files\Tentacle Manager.
    let mut manager_key = None;
    for exe in ["tentacle.exe", "tentacle-manager.exe"] {
        let Some(file) = files.iter().find(|f| long_name(get(f, "FileName")) == exe) else {
            problems.push(format!("File: no row installs {exe}"));
            continue;
        };
        if exe == "tentacle-manager.exe" {
            manager_key = Some(get(file, "File").to_owned());
        }
        if get(file, "FileSize").parse::<u64>().unwrap_or(0) == 0 {
            problems.push(format!("File: {exe} is empty"));
        }
        let component = components
            .iter()
            .find(|c| get(c, "Component") == get(file, "Component_"));
        match component {
            None => problems.push(format!("Component: {exe} has no component row")),
            Some(c) => {
                let attributes = get(c, "Attributes").parse::<u32>().unwrap_or(0);
                if attributes & 256 == 0 {
                    problems.push(format!(
                        "Component: {exe}'s component is not 64-bit (Win64=\"yes\")"
                    ));
                }
                let dir = get(c, "Directory_");
                let folder = directories.iter().find(|d| get(d, "Directory") == dir);
                let under_program_files = folder.is_some_and(|d| {
                    get(d, "Directory_Parent") == "ProgramFiles64Folder"
                        && long_name(get(d, "DefaultDir")) == "Tentacle Manager"
                });
                if !under_program_files {
                    problems.push(format!(
                        "Directory: {exe} is not installed to [ProgramFiles64Folder]Tentacle Manager"
                    ));
                }
            }
        }
    }

    // Per machine.
    let property = |name: &str| {
        table(tables, "Property")
            .iter()
            .find(|p| get(p, "Property") == name)
            .map(|p| get(p, "Value").to_owned())
    };
    if property("ALLUSERS").as_deref() != Some("1") {
        problems.push("Property: ALLUSERS is not 1, so the MSI is not per-machine".to_owned());
    }
    if property("UpgradeCode").as_deref() != Some(UPGRADE_CODE) {
        problems.push(format!(
            "Property: UpgradeCode is {:?}, not the product's {UPGRADE_CODE}",
            property("UpgradeCode")
        ));
    }

    // The Start-menu shortcut opens the manager.
    let shortcut = table(tables, "Shortcut").iter().find(|s| {
        get(s, "Directory_") == "ProgramMenuFolder"
            && long_name(get(s, "Name")) == "Tentacle Manager"
    });
    match shortcut {
        None => problems.push(
            "Shortcut: no \"Tentacle Manager\" shortcut in the Start menu (ProgramMenuFolder)"
                .to_owned(),
        ),
        Some(s) => {
            let target = get(s, "Target");
            let to_manager = target == "[INSTALLDIR]tentacle-manager.exe"
                || manager_key
                    .as_deref()
                    .is_some_and(|k| target == format!("[#{k}]"));
            if !to_manager {
                problems.push(format!(
                    "Shortcut: the Start-menu shortcut points at {target:?}, not tentacle-manager.exe"
                ));
            }
        }
    }

    // Major upgrades: one Upgrade row with our code that removes (not only detects) every
    // earlier, equal or later version.
    let upgrade = table(tables, "Upgrade")
        .iter()
        .find(|u| get(u, "UpgradeCode") == UPGRADE_CODE);
    match upgrade {
        None => problems.push(format!("Upgrade: no row for UpgradeCode {UPGRADE_CODE}")),
        Some(u) => {
            let attributes = get(u, "Attributes").parse::<u32>().unwrap_or(0);
            // msidbUpgradeAttributesOnlyDetect = 2.
            if attributes & 2 != 0 {
                problems.push("Upgrade: the row only detects, so old versions stay".to_owned());
            }
            if get(u, "VersionMin") != "0.0.0" || !get(u, "VersionMax").is_empty() {
                problems.push(format!(
                    "Upgrade: versions {}..{} do not cover every installed version",
                    get(u, "VersionMin"),
                    get(u, "VersionMax")
                ));
            }
            let action_property = get(u, "ActionProperty");
            let secure = property("SecureCustomProperties").unwrap_or_default();
            if action_property.is_empty() || !secure.split(';').any(|p| p == action_property) {
                problems.push(format!(
                    "Upgrade: ActionProperty {action_property:?} is not in SecureCustomProperties, so a per-machine install ignores it"
                ));
            }
        }
    }

    // Sequencing: old version removed right after InstallInitialize; the manager launched after
    // InstallFinalize, only on a fresh install or upgrade with the full UI.
    let sequence = table(tables, "InstallExecuteSequence");
    let seq = |action: &str| {
        sequence
            .iter()
            .find(|r| get(r, "Action") == action)
            .and_then(|r| get(r, "Sequence").parse::<i64>().ok())
    };
    match (seq("InstallInitialize"), seq("RemoveExistingProducts"), seq("InstallFiles")) {
        (Some(init), Some(rep), Some(files)) if init < rep && rep < files => {}
        (init, rep, files) => problems.push(format!(
            "InstallExecuteSequence: RemoveExistingProducts ({rep:?}) is not between InstallInitialize ({init:?}) and InstallFiles ({files:?})"
        )),
    }

    let launch = table(tables, "CustomAction")
        .iter()
        .find(|a| get(a, "Action") == "LaunchManager");
    match launch {
        None => problems.push("CustomAction: no LaunchManager action".to_owned()),
        Some(a) => {
            // 18 = run an installed file; +64 continue on error, +128 async: 210 = asyncNoWait.
            if get(a, "Type") != "210" {
                problems.push(format!(
                    "CustomAction: LaunchManager has type {}, not 210 (run installed file, async, no wait)",
                    get(a, "Type")
                ));
            }
            if manager_key.as_deref() != Some(get(a, "Source")) {
                problems.push(format!(
                    "CustomAction: LaunchManager runs file {:?}, not tentacle-manager.exe",
                    get(a, "Source")
                ));
            }
        }
    }
    let launch_row = sequence
        .iter()
        .find(|r| get(r, "Action") == "LaunchManager");
    match (launch_row, seq("InstallFinalize")) {
        (Some(row), Some(finalize)) => {
            let at = get(row, "Sequence").parse::<i64>().unwrap_or(0);
            if at <= finalize {
                problems.push(format!(
                    "InstallExecuteSequence: LaunchManager ({at}) runs before InstallFinalize ({finalize})"
                ));
            }
            let condition = get(row, "Condition");
            if !condition.contains("NOT Installed") || !condition.contains("UILevel") {
                problems.push(format!(
                    "InstallExecuteSequence: LaunchManager's condition {condition:?} would also open the manager on uninstall, repair or a silent install"
                ));
            }
        }
        _ => problems.push(
            "InstallExecuteSequence: LaunchManager or InstallFinalize is not scheduled".to_owned(),
        ),
    }

    // The default instance's service is stopped (not removed) on install and uninstall.
    let stop = table(tables, "ServiceControl")
        .iter()
        .find(|s| get(s, "Name") == "OctopusDeploy Tentacle");
    match stop {
        None => problems.push(
            "ServiceControl: the default instance's service (OctopusDeploy Tentacle) is not stopped"
                .to_owned(),
        ),
        Some(s) => {
            let event = get(s, "Event").parse::<u32>().unwrap_or(0);
            // 0x02 stop on install, 0x20 stop on uninstall; 0x08/0x80 would delete the service.
            if event & 0x22 != 0x22 || event & 0x88 != 0 {
                problems.push(format!(
                    "ServiceControl: event {event} does not mean \"stop on install and uninstall, never delete\" (34)"
                ));
            }
        }
    }

    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::workspace::{Workspace, find_on_path};

    /// Builds the MSI from wix/tentacle.wxs with two small stand-in exes, so the sources are
    /// checked on every machine with wixl, cross compiler or not. None (with a note) without wixl.
    fn build_sample() -> Option<(std::path::PathBuf, BTreeMap<String, Table>)> {
        if find_on_path("wixl").is_none() || find_on_path("msiinfo").is_none() {
            eprintln!(
                "wixl/msiinfo are not installed (apt-get install wixl msitools): MSI table test skipped"
            );
            return None;
        }
        let ws = Workspace::new().unwrap();
        let dir = std::env::temp_dir().join(format!("xtask-msi-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        #[allow(clippy::disallowed_methods)]
        {
            std::fs::write(dir.join("tentacle.exe"), b"MZ stand-in agent").unwrap();
            std::fs::write(dir.join("tentacle-manager.exe"), b"MZ stand-in manager").unwrap();
        }
        std::fs::copy(
            ws.root.join("assets/icons/tentacle-manager.ico"),
            dir.join("tentacle-manager.ico"),
        )
        .unwrap();
        let msi = dir.join("sample.msi");
        let out = crate::dist::wixl_command(&ws, &dir, &msi).output().unwrap();
        assert!(
            out.status.success(),
            "wixl failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let tables = read_tables(&msi).unwrap();
        check_payload(&msi, &dir).unwrap();
        // A payload that is not what was staged is caught.
        #[allow(clippy::disallowed_methods)]
        std::fs::write(dir.join("tentacle.exe"), b"MZ something else").unwrap();
        let e = check_payload(&msi, &dir).unwrap_err();
        assert!(e.contains("tentacle.exe differs"), "{e}");
        Some((dir, tables))
    }

    #[test]
    fn the_wix_sources_build_an_msi_that_passes_and_each_defect_is_caught() {
        let Some((dir, tables)) = build_sample() else {
            return;
        };
        let _ = std::fs::remove_dir_all(&dir);
        check_tables(&tables).unwrap();

        let broken = |edit: &dyn Fn(&mut BTreeMap<String, Table>)| {
            let mut t = tables.clone();
            edit(&mut t);
            check_tables(&t).unwrap_err()
        };
        let set =
            |t: &mut BTreeMap<String, Table>, name: &str, key: (&str, &str), col: &str, v: &str| {
                for row in t.get_mut(name).unwrap() {
                    if row.get(key.0).map(String::as_str) == Some(key.1) {
                        row.insert(col.to_owned(), v.to_owned());
                    }
                }
            };

        let e = broken(&|t| {
            t.get_mut("File")
                .unwrap()
                .retain(|r| get(r, "FileName") != "tentacle.exe")
        });
        assert!(e.contains("no row installs tentacle.exe"), "{e}");
        let e = broken(&|t| t.get_mut("Shortcut").unwrap().clear());
        assert!(e.contains("Shortcut: no \"Tentacle Manager\""), "{e}");
        let e = broken(&|t| {
            set(
                t,
                "Upgrade",
                ("ActionProperty", "WIX_UPGRADE_DETECTED"),
                "Attributes",
                "258",
            )
        });
        assert!(e.contains("only detects"), "{e}");
        let e = broken(&|t| {
            set(
                t,
                "Property",
                ("Property", "UpgradeCode"),
                "Value",
                "{00000000-0000-0000-0000-000000000000}",
            )
        });
        assert!(e.contains("UpgradeCode"), "{e}");
        let e = broken(&|t| set(t, "CustomAction", ("Action", "LaunchManager"), "Type", "18"));
        assert!(e.contains("not 210"), "{e}");
        let e = broken(&|t| {
            set(
                t,
                "InstallExecuteSequence",
                ("Action", "LaunchManager"),
                "Condition",
                "",
            )
        });
        assert!(e.contains("on uninstall"), "{e}");
        let e = broken(&|t| {
            set(
                t,
                "InstallExecuteSequence",
                ("Action", "RemoveExistingProducts"),
                "Sequence",
                "6700",
            )
        });
        assert!(e.contains("RemoveExistingProducts"), "{e}");
        let e = broken(&|t| {
            set(
                t,
                "Component",
                ("Component", "ManagerExe"),
                "Attributes",
                "0",
            )
        });
        assert!(e.contains("not 64-bit"), "{e}");
        let e = broken(&|t| {
            set(
                t,
                "ServiceControl",
                ("Name", "OctopusDeploy Tentacle"),
                "Event",
                "170",
            )
        });
        assert!(e.contains("never delete"), "{e}");
    }

    #[test]
    fn parses_idt_exports() {
        let text = "Action\tType\tSource\tTarget\tExtendedType\ns72\ti2\tS72\tS255\tI4\nCustomAction\tAction\nLaunchManager\t210\tManagerExe\t\t\n";
        let rows = parse_table(text).unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(get(&rows[0], "Type"), "210");
        assert_eq!(get(&rows[0], "Target"), "");
        assert!(parse_table("").unwrap().is_empty());
        assert!(parse_table("A\tB\nx\ty\nT\tA\n1\t2\t3\n").is_err());
        assert_eq!(
            long_name("TENTAC~1.EXE|tentacle-manager.exe"),
            "tentacle-manager.exe"
        );
        assert_eq!(long_name("tentacle.exe"), "tentacle.exe");
    }
}
