//! `service --install --username`: gives that account its instance's home, configuration and key (ownership, owner-only modes) and nobody else.

#[cfg(unix)]
use std::path::Path;
use std::path::PathBuf;

use super::ServiceError;

/// The instance files a service account needs.
#[derive(Debug, Clone)]
pub struct InstanceFiles {
    /// The configuration file.
    pub config: PathBuf,
    /// The home folder (logs, work, status, heartbeat).
    pub home: PathBuf,
    /// The certificate and private key, when the instance has one.
    pub certificate: Option<PathBuf>,
}

/// Makes `user` the owner of the home, the configuration's folder and the key (recursively),
/// with owner-only folders and files where secrets live, and lets it reach them through the
/// folders above (search permission only). Returns one line per change, for the install output.
#[cfg(unix)]
pub fn grant(user: &str, files: &InstanceFiles) -> Result<Vec<String>, ServiceError> {
    use std::os::unix::fs::PermissionsExt;
    let (uid, gid) = lookup(user)?;
    if !rustix::process::geteuid().is_root() {
        if rustix::process::geteuid().as_raw() == uid {
            return Ok(Vec::new());
        }
        return Err(ServiceError::Invalid(format!(
            "Giving the account {user} this instance's files needs root: run the install with sudo"
        )));
    }
    let io = |what: &'static str, path: &Path| {
        let path = path.to_path_buf();
        move |source| ServiceError::Io { what, path, source }
    };
    let mut said = Vec::new();
    let config_dir = files
        .config
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    std::fs::create_dir_all(&files.home).map_err(io("create the home folder", &files.home))?;
    let mut owned = vec![files.home.clone()];
    // A folder shared with other instances (the config root itself) is never given away:
    // then only the instance's own files are.
    let shared = config_dir.join("instances").is_dir();
    if !shared && !files.home.starts_with(&config_dir) && !config_dir.starts_with(&files.home) {
        owned.push(config_dir.clone());
    } else if !shared && files.home.starts_with(&config_dir) && files.home != config_dir {
        owned[0] = config_dir.clone();
    }
    if let Some(cert) = &files.certificate
        && let Some(dir) = cert.parent()
        && !dir.starts_with(&config_dir)
    {
        owned.push(dir.to_path_buf());
    }
    for top in &owned {
        chown_tree(top, uid, gid).map_err(io("change the owner of", top))?;
        // Closed to everyone else: the config folder holds the key, the home holds scripts' work.
        std::fs::set_permissions(top, std::fs::Permissions::from_mode(0o700))
            .map_err(io("restrict", top))?;
        said.push(format!(
            "Gave {user} {} (owner, mode 700, everything inside owned by {user})",
            top.display()
        ));
    }
    for secret in std::iter::once(&files.config).chain(files.certificate.as_ref()) {
        if secret.exists() {
            std::os::unix::fs::lchown(secret, Some(uid), Some(gid))
                .map_err(io("change the owner of", secret))?;
            std::fs::set_permissions(secret, std::fs::Permissions::from_mode(0o600))
                .map_err(io("restrict", secret))?;
            said.push(format!(
                "{} is readable by {user} only (mode 600)",
                secret.display()
            ));
        }
    }
    for top in &owned {
        said.extend(open_path_to(top, uid, gid, user)?);
    }
    Ok(said)
}

/// On Windows the SCM gives the account nothing, and no ACL is changed here yet (it has never
/// run on Windows): the install output names the icacls lines that give the account its files.
#[cfg(not(unix))]
pub fn grant(user: &str, files: &InstanceFiles) -> Result<Vec<String>, ServiceError> {
    let mut said = vec![format!(
        "The files of this instance were not given to {user}; to let the service read them, run as Administrator:"
    )];
    said.push(format!(
        "  icacls \"{}\" /grant \"{user}:(OI)(CI)F\"",
        files.home.display()
    ));
    for file in std::iter::once(&files.config).chain(files.certificate.as_ref()) {
        said.push(format!(
            "  icacls \"{}\" /grant \"{user}:R\"",
            file.display()
        ));
    }
    Ok(said)
}

/// The account's user and primary group ids, through NSS (`id`), so directory accounts work.
#[cfg(unix)]
fn lookup(user: &str) -> Result<(u32, u32), ServiceError> {
    let id = |flag: &str| -> Result<u32, ServiceError> {
        let out = std::process::Command::new("id")
            .arg(flag)
            .arg("--")
            .arg(user)
            .output()
            .map_err(|source| ServiceError::Spawn {
                program: "id".into(),
                source,
                hint: String::new(),
            })?;
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .ok()
            .filter(|_| out.status.success())
            .ok_or_else(|| {
                ServiceError::Invalid(format!(
                    "There is no account named {user} on this machine: create it first (useradd --system {user}) or pass another --username"
                ))
            })
    };
    Ok((id("-u")?, id("-g")?))
}

/// `chown -R` without following symbolic links.
#[cfg(unix)]
fn chown_tree(path: &Path, uid: u32, gid: u32) -> std::io::Result<()> {
    std::os::unix::fs::lchown(path, Some(uid), Some(gid))?;
    let meta = std::fs::symlink_metadata(path)?;
    if meta.is_dir() {
        for entry in std::fs::read_dir(path)? {
            chown_tree(&entry?.path(), uid, gid)?;
        }
    }
    Ok(())
}

/// Adds search permission (x, never read) for others on each folder above `path` that the
/// account could not pass through, so it can reach its files; says which.
#[cfg(unix)]
fn open_path_to(path: &Path, uid: u32, gid: u32, user: &str) -> Result<Vec<String>, ServiceError> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let mut said = Vec::new();
    for dir in path.ancestors().skip(1) {
        if dir.as_os_str().is_empty() {
            continue;
        }
        let Ok(meta) = std::fs::metadata(dir) else {
            continue;
        };
        let mode = meta.mode();
        let can_pass = if meta.uid() == uid {
            mode & 0o100 != 0
        } else if meta.gid() == gid {
            mode & 0o010 != 0
        } else {
            mode & 0o001 != 0
        };
        if !can_pass {
            std::fs::set_permissions(
                dir,
                std::fs::Permissions::from_mode((mode | 0o001) & 0o7777),
            )
            .map_err(|source| ServiceError::Io {
                what: "let the service account pass through",
                path: dir.to_path_buf(),
                source,
            })?;
            said.push(format!(
                "{} lets others pass through (search only, no listing) so {user} reaches its files",
                dir.display()
            ));
        }
    }
    Ok(said)
}
