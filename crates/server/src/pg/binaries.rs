//! Finding PostgreSQL's server binaries (`initdb`, `pg_ctl`, `postgres`)
//! and their major version, and the system user they run as when we are root.

use std::fs;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::{PgError, Result, SUPERUSER, run};

/// Where to look for `initdb`, `pg_ctl` and `postgres`.
#[derive(Debug, Clone)]
pub enum BinSearch {
    /// `SAFEPREF_PG_BINDIR`, then `pg_config --bindir`, then `PATH`, then
    /// `/usr/lib/postgresql/*/bin` (newest first).
    Default,
    /// Exactly these folders, in order (tests use an empty list).
    Dirs(Vec<PathBuf>),
}

impl BinSearch {
    fn candidates(&self) -> Vec<PathBuf> {
        match self {
            BinSearch::Dirs(dirs) => dirs.clone(),
            BinSearch::Default => {
                let mut dirs = Vec::new();
                if let Some(dir) = std::env::var_os("SAFEPREF_PG_BINDIR") {
                    dirs.push(PathBuf::from(dir));
                }
                if let Ok(out) = Command::new("pg_config").arg("--bindir").output()
                    && out.status.success()
                {
                    dirs.push(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()));
                }
                if let Some(path) = std::env::var_os("PATH") {
                    dirs.extend(std::env::split_paths(&path));
                }
                let mut versioned: Vec<PathBuf> = fs::read_dir("/usr/lib/postgresql")
                    .into_iter()
                    .flatten()
                    .flatten()
                    .map(|entry| entry.path().join("bin"))
                    .collect();
                versioned.sort_by_key(|p| std::cmp::Reverse(major_from_path(p)));
                dirs.extend(versioned);
                dirs
            }
        }
    }
}

fn major_from_path(bin: &Path) -> u32 {
    bin.parent()
        .and_then(|p| p.file_name())
        .and_then(|n| n.to_str())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// A folder holding the three server binaries, and their major version.
#[derive(Debug, Clone)]
pub struct Binaries {
    pub bindir: PathBuf,
    pub major: u32,
}

impl Binaries {
    pub fn locate(search: &BinSearch) -> Result<Self> {
        let candidates = search.candidates();
        let found = candidates.iter().find(|dir| {
            ["initdb", "pg_ctl", "postgres"]
                .iter()
                .all(|b| dir.join(b).is_file())
        });
        let Some(dir) = found else {
            let searched = if candidates.is_empty() {
                "nowhere: the search path is empty".to_string()
            } else {
                candidates
                    .iter()
                    .map(|d| d.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            return Err(PgError::BinariesNotFound { searched });
        };
        let bindir = fs::canonicalize(dir).unwrap_or_else(|_| dir.clone());
        let out = run(
            Command::new(bindir.join("postgres")).arg("--version"),
            "postgres --version",
        )?;
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        let major = parse_major(&text).ok_or_else(|| PgError::Command {
            what: "postgres --version".into(),
            detail: format!("could not read a version from {text:?}"),
        })?;
        Ok(Binaries { bindir, major })
    }

    pub(super) fn cmd(&self, name: &str, owner: Option<&Owner>) -> Command {
        let mut cmd = Command::new(self.bindir.join(name));
        // The postgres user may not be allowed into the caller's working folder.
        cmd.current_dir("/").stdin(Stdio::null());
        if let Some(owner) = owner {
            cmd.uid(owner.uid).gid(owner.gid);
        }
        cmd
    }
}

/// "postgres (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)" -> 15
fn parse_major(version_text: &str) -> Option<u32> {
    let after = version_text.split(')').nth(1)?.trim();
    let digits: String = after.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// The system user the server binaries run as, when we are root.
#[derive(Debug, Clone, Copy)]
pub(super) struct Owner {
    pub(super) uid: u32,
    pub(super) gid: u32,
}

pub(super) fn owner_for_current_user() -> Result<Option<Owner>> {
    if !nix::unistd::geteuid().is_root() {
        return Ok(None);
    }
    match nix::unistd::User::from_name(SUPERUSER) {
        Ok(Some(user)) => Ok(Some(Owner {
            uid: user.uid.as_raw(),
            gid: user.gid.as_raw(),
        })),
        _ => Err(PgError::NoPostgresUser),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_major_version() {
        assert_eq!(
            parse_major("postgres (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)\n"),
            Some(15)
        );
        assert_eq!(parse_major("postgres (PostgreSQL) 17beta1"), Some(17));
        assert_eq!(parse_major("garbage"), None);
    }

    #[test]
    fn an_empty_search_path_names_the_package_and_the_alternative() {
        let err = Binaries::locate(&BinSearch::Dirs(vec![]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("apt-get install postgresql"), "{err}");
        assert!(err.contains("DATABASE_URL"), "{err}");
    }
}
