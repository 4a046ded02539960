//! Where a cluster's folders are (the data folder, or a fallback the
//! postgres user can reach; the socket folder, or a short one when the path
//! is too long for a socket address) and making them private.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::binaries::Owner;
use super::{Cluster, PORT, PgError, Result, io_err};

impl Cluster {
    pub(super) fn make_owned_dir(&self, dir: &Path) -> Result<()> {
        fs::create_dir_all(dir).map_err(io_err(format!("creating {}", dir.display())))?;
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
            .map_err(io_err(format!("setting permissions of {}", dir.display())))?;
        if let Some(owner) = &self.owner {
            std::os::unix::fs::chown(dir, Some(owner.uid), Some(owner.gid)).map_err(io_err(
                format!("giving {} to the postgres user", dir.display()),
            ))?;
        }
        Ok(())
    }
}

/// Creates the socket folder, or checks the one there, without following a
/// symbolic link: it may be a predictable name in the shared temporary
/// folder (see [`socket_dir_for`]), where another local user could have put
/// a link or a folder of their own to catch our chmod and chown, or our
/// socket. Only a real folder owned by us (or by root, before its chown)
/// is used.
pub(super) fn private_socket_dir(dir: &Path, owner: Option<&Owner>) -> Result<()> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt};
    let ours = owner.map_or_else(|| nix::unistd::geteuid().as_raw(), |o| o.uid);
    let meta = match fs::symlink_metadata(dir) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            // Another process preparing the same folder may create it first.
            match fs::DirBuilder::new().mode(0o700).create(dir) {
                Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => {
                    return Err(io_err(format!("creating {}", dir.display()))(e));
                }
                _ => {}
            }
            fs::symlink_metadata(dir).map_err(io_err(format!("reading {}", dir.display())))?
        }
        Err(e) => return Err(io_err(format!("reading {}", dir.display()))(e)),
    };
    if !meta.file_type().is_dir() || (meta.uid() != ours && meta.uid() != 0) {
        return Err(PgError::Io {
            context: format!(
                "{} is not a folder of ours (a link, a file, or another user's folder); \
                 remove it, or choose a shorter --data-dir so the socket stays inside it",
                dir.display()
            ),
            source: std::io::Error::from(std::io::ErrorKind::PermissionDenied),
        });
    }
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
        .map_err(io_err(format!("setting permissions of {}", dir.display())))?;
    if let Some(owner) = owner {
        std::os::unix::fs::lchown(dir, Some(owner.uid), Some(owner.gid)).map_err(io_err(
            format!("giving {} to the postgres user", dir.display()),
        ))?;
    }
    Ok(())
}

/// `<data-dir>`, unless we are root and the postgres user cannot walk down to
/// it (a data folder under /root, say): then a folder under
/// /var/lib/safepref named after the data folder's path.
pub(super) fn cluster_root(data_dir: &Path, owner: Option<&Owner>) -> PathBuf {
    let Some(owner) = owner else {
        return data_dir.to_path_buf();
    };
    if reachable_by(data_dir, owner) {
        return data_dir.to_path_buf();
    }
    let fallback = PathBuf::from("/var/lib/safepref").join(short_hash(data_dir));
    tracing::info!(
        data_dir = %data_dir.display(),
        cluster = %fallback.display(),
        "the postgres user cannot reach the data folder; keeping the cluster under /var/lib/safepref"
    );
    fallback
}

/// Whether every folder above `dir` lets `owner` pass through.
fn reachable_by(dir: &Path, owner: &Owner) -> bool {
    use std::os::unix::fs::MetadataExt;
    dir.ancestors()
        .skip(1)
        .all(|folder| match fs::metadata(folder) {
            Ok(meta) => {
                let mode = meta.mode();
                if meta.uid() == owner.uid {
                    mode & 0o100 != 0
                } else if meta.gid() == owner.gid {
                    mode & 0o010 != 0
                } else {
                    mode & 0o001 != 0
                }
            }
            Err(_) => false,
        })
}

fn short_hash(path: &Path) -> String {
    let digest = Sha256::digest(path.as_os_str().as_encoded_bytes());
    hex::encode(&digest[..8])
}

/// The socket folder: `<root>/run`, or a short folder under /tmp when that
/// path would be too long for a Unix socket address (108 bytes on Linux).
pub(super) fn socket_dir_for(root: &Path) -> PathBuf {
    let preferred = root.join("run");
    let socket_path_len = preferred.as_os_str().len() + format!("/.s.PGSQL.{PORT}.lock").len();
    if socket_path_len < 100 {
        preferred
    } else {
        std::env::temp_dir().join(format!("safepref-{}", short_hash(root)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_link_or_a_strangers_folder_is_never_taken_for_the_socket_folder() {
        let base = tempfile::tempdir().unwrap();
        let target = base.path().join("elsewhere");
        fs::create_dir(&target).unwrap();
        let link = base.path().join("safepref-link");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let err = private_socket_dir(&link, None).unwrap_err().to_string();
        assert!(err.contains("is not a folder of ours"), "{err}");

        let fresh = base.path().join("safepref-fresh");
        private_socket_dir(&fresh, None).unwrap();
        let mode = fs::metadata(&fresh).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
        private_socket_dir(&fresh, None).expect("our own folder is used again");

        if nix::unistd::geteuid().is_root() {
            let strangers = base.path().join("safepref-strangers");
            fs::create_dir(&strangers).unwrap();
            std::os::unix::fs::chown(&strangers, Some(65534), Some(65534)).unwrap();
            let err = private_socket_dir(&strangers, None)
                .unwrap_err()
                .to_string();
            assert!(err.contains("is not a folder of ours"), "{err}");
        }
    }

    #[test]
    fn processes_making_the_socket_folder_at_once_all_succeed() {
        let base = tempfile::tempdir().unwrap();
        for round in 0..20 {
            let dir = base.path().join(format!("run-{round}"));
            let start = std::sync::Barrier::new(8);
            std::thread::scope(|s| {
                let made: Vec<_> = (0..8)
                    .map(|_| {
                        s.spawn(|| {
                            start.wait();
                            private_socket_dir(&dir, None).map_err(|e| e.to_string())
                        })
                    })
                    .collect();
                for one in made {
                    assert_eq!(one.join().unwrap(), Ok(()), "round {round}");
                }
            });
        }
    }

    #[test]
    fn long_roots_get_a_short_socket_folder() {
        let long = PathBuf::from("/x".repeat(60));
        assert!(socket_dir_for(&long).starts_with(std::env::temp_dir()));
        assert_eq!(
            socket_dir_for(Path::new("/srv/data")),
            PathBuf::from("/srv/data/run")
        );
    }
}
