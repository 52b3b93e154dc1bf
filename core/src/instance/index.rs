//! The instance index: one small record per instance naming its config file, unique case-insensitively.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::InstanceError;
use super::atomic::{FileLock, FileMode, write_atomic};
use super::config::{LOCK_TIMEOUT, TentacleConfig};
use super::name::{self, DEFAULT_INSTANCE};
use super::root::ConfigRoot;

/// One instance as the index knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceRecord {
    /// The instance name as created.
    pub name: String,
    /// The absolute path of its TOML configuration.
    pub config: PathBuf,
}

impl InstanceRecord {
    /// True for the default instance (`Tentacle`).
    pub fn is_default(&self) -> bool {
        self.name.eq_ignore_ascii_case(DEFAULT_INSTANCE)
    }
}

/// The set of instances under one config root.
#[derive(Debug, Clone)]
pub struct Instances {
    root: ConfigRoot,
}

impl Instances {
    /// The instances under `root`.
    pub fn new(root: ConfigRoot) -> Instances {
        Instances { root }
    }

    /// The instances for this process (see [`ConfigRoot::discover`]).
    pub fn discover() -> Result<Instances, InstanceError> {
        Ok(Instances::new(ConfigRoot::discover()?))
    }

    /// Where they live.
    pub fn root(&self) -> &ConfigRoot {
        &self.root
    }

    fn record_path(&self, name: &str) -> PathBuf {
        self.root
            .index_dir()
            .join(format!("{}.toml", name::index_key(name)))
    }

    /// All instances, the default one first, the rest by name.
    pub fn list(&self) -> Result<Vec<InstanceRecord>, InstanceError> {
        let dir = self.root.index_dir();
        let entries = match fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(InstanceError::io("read the instance index", &dir, e)),
        };
        let mut records = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| InstanceError::io("read the instance index", &dir, e))?;
            let path = entry.path();
            let is_record = path.extension().is_some_and(|x| x == "toml")
                && !path
                    .file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with('.'));
            if is_record {
                records.push(read_record(&path)?);
            }
        }
        records.sort_by(|a, b| {
            b.is_default()
                .cmp(&a.is_default())
                .then_with(|| a.name.to_lowercase().cmp(&b.name.to_lowercase()))
        });
        Ok(records)
    }

    /// The instance called `name`, compared case-insensitively.
    pub fn find(&self, name: &str) -> Result<InstanceRecord, InstanceError> {
        let path = self.record_path(name.trim());
        if path.is_file() {
            return read_record(&path);
        }
        Err(self.not_found(name))
    }

    /// `--instance` if given; otherwise `Tentacle`, else the only instance, as Tentacle does.
    pub fn select(&self, name: Option<&str>) -> Result<InstanceRecord, InstanceError> {
        if let Some(name) = name {
            return self.find(name);
        }
        if let Ok(found) = self.find(DEFAULT_INSTANCE) {
            return Ok(found);
        }
        let all = self.list()?;
        match all.len() {
            0 => Err(self.not_found(DEFAULT_INSTANCE)),
            1 => Ok(all
                .into_iter()
                .next()
                .ok_or_else(|| self.not_found(DEFAULT_INSTANCE))?),
            _ => Err(InstanceError::Ambiguous {
                names: all
                    .iter()
                    .map(|r| r.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            }),
        }
    }

    fn not_found(&self, name: &str) -> InstanceError {
        let names: Vec<String> = self
            .list()
            .unwrap_or_default()
            .into_iter()
            .map(|r| r.name)
            .collect();
        let available = if names.is_empty() {
            "No instances exist yet.".to_owned()
        } else {
            format!("Available instances: {}.", names.join(", "))
        };
        InstanceError::NotFound {
            name: name.trim().to_owned(),
            available,
        }
    }

    /// Creates an instance: its index record and, when missing, an empty config.
    /// `config` relative to `home` (as Tentacle does); `home` defaults to the config's folder.
    /// An existing config file at that path is kept and reused, so deleting and
    /// re-creating an instance does not lose its settings.
    pub fn create(
        &self,
        name: &str,
        config: Option<&Path>,
        home: Option<&Path>,
    ) -> Result<InstanceRecord, InstanceError> {
        let name = name::validate(name)?;
        let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
        let home = home.map(|h| absolute(&cwd, h));
        let config_path = match (config, &home) {
            (Some(c), Some(h)) => absolute(h, c),
            (Some(c), None) => absolute(&cwd, c),
            (None, Some(h)) => h.join("tentacle.toml"),
            (None, None) => self.root.default_instance_dir(&name).join("tentacle.toml"),
        };
        let home = home.unwrap_or_else(|| {
            config_path
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or_else(|| cwd.clone())
        });

        let index_dir = self.root.index_dir();
        fs::create_dir_all(&index_dir)
            .map_err(|e| InstanceError::io("create the instance index folder", &index_dir, e))?;
        // One lock for the whole index so two creators cannot both see "free".
        let _lock = FileLock::acquire(&index_dir.join("index"), LOCK_TIMEOUT)
            .map_err(|e| InstanceError::io("lock the instance index", &index_dir, e))?;
        if let Ok(existing) = self.find(&name) {
            return Err(InstanceError::Duplicate {
                existing: existing.name,
            });
        }

        if config_path.exists() {
            // Reuse it, but only if it is a config we can read.
            TentacleConfig::load(&config_path)?;
        } else {
            fs::create_dir_all(&home)
                .map_err(|e| InstanceError::io("create the home folder", &home, e))?;
            TentacleConfig::new(&name, home.clone()).create(&config_path)?;
        }

        let record = InstanceRecord {
            name: name.clone(),
            config: config_path,
        };
        let text = toml::to_string(&record).map_err(|e| InstanceError::Serialize(e.to_string()))?;
        let record_path = self.record_path(&name);
        // Written whole under a temp name, then linked into place: the link fails if the name
        // is taken, and a crash never leaves an empty or half-written record behind.
        let tmp = index_dir.join(format!(
            ".{}.{}.tmp",
            name::index_key(&name),
            std::process::id()
        ));
        let result = (|| {
            let mut file = OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .open(&tmp)?;
            file.write_all(text.as_bytes())?;
            file.sync_all()?;
            fs::hard_link(&tmp, &record_path)
        })();
        let _ = fs::remove_file(&tmp);
        result.map_err(|e| InstanceError::io("write the instance index", &record_path, e))?;
        Ok(record)
    }

    /// Removes the index record. Like Tentacle, the config, home folder and service stay.
    pub fn delete(&self, name: &str) -> Result<InstanceRecord, InstanceError> {
        let record = self.find(name)?;
        let path = self.record_path(&record.name);
        fs::remove_file(&path)
            .map_err(|e| InstanceError::io("remove the instance index entry", &path, e))?;
        Ok(record)
    }

    /// Points an existing record at another config file (used when moving an instance).
    pub fn relocate(&self, name: &str, config: &Path) -> Result<InstanceRecord, InstanceError> {
        let mut record = self.find(name)?;
        record.config = config.to_path_buf();
        let text = toml::to_string(&record).map_err(|e| InstanceError::Serialize(e.to_string()))?;
        let path = self.record_path(&record.name);
        write_atomic(&path, text.as_bytes(), FileMode::Public)
            .map_err(|e| InstanceError::io("write the instance index", &path, e))?;
        Ok(record)
    }
}

fn absolute(base: &Path, p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        base.join(p)
    }
}

fn read_record(path: &Path) -> Result<InstanceRecord, InstanceError> {
    let text = fs::read_to_string(path)
        .map_err(|e| InstanceError::io("read the instance index", path, e))?;
    toml::from_str(&text).map_err(|e| InstanceError::IndexDamaged {
        path: path.to_path_buf(),
        message: e.message().trim().to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn instances() -> (tempfile::TempDir, Instances) {
        let dir = tempfile::tempdir().unwrap();
        let inst = Instances::new(ConfigRoot::at(dir.path()));
        (dir, inst)
    }

    #[test]
    fn create_find_list_delete() {
        let (_d, inst) = instances();
        inst.create("Web", None, None).unwrap();
        inst.create("Tentacle", None, None).unwrap();
        inst.create("api", None, None).unwrap();
        let names: Vec<_> = inst.list().unwrap().into_iter().map(|r| r.name).collect();
        assert_eq!(names, ["Tentacle", "api", "Web"]);
        assert_eq!(inst.find("WEB").unwrap().name, "Web");
        let rec = inst.delete("web").unwrap();
        assert!(rec.config.exists(), "delete-instance keeps the config");
        assert!(inst.find("Web").is_err());
    }

    #[test]
    fn duplicates_are_case_insensitive() {
        let (_d, inst) = instances();
        inst.create("Web", None, None).unwrap();
        let err = inst.create("WEB", None, None).unwrap_err().to_string();
        assert!(err.contains("already exists"), "{err}");
    }

    #[test]
    fn select_follows_tentacle_rules() {
        let (_d, inst) = instances();
        assert!(matches!(
            inst.select(None),
            Err(InstanceError::NotFound { .. })
        ));
        inst.create("Only", None, None).unwrap();
        assert_eq!(inst.select(None).unwrap().name, "Only");
        inst.create("Other", None, None).unwrap();
        assert!(matches!(
            inst.select(None),
            Err(InstanceError::Ambiguous { .. })
        ));
        inst.create("Tentacle", None, None).unwrap();
        assert_eq!(inst.select(None).unwrap().name, "Tentacle");
    }

    #[test]
    fn recreate_reuses_existing_config() {
        let (_d, inst) = instances();
        let rec = inst.create("Web", None, None).unwrap();
        TentacleConfig::update(&rec.config, |c| {
            c.communication.port = 12000;
            Ok::<_, InstanceError>(())
        })
        .unwrap();
        inst.delete("Web").unwrap();
        let again = inst.create("Web", None, None).unwrap();
        assert_eq!(
            TentacleConfig::load(&again.config)
                .unwrap()
                .communication
                .port,
            12000
        );
    }
}
