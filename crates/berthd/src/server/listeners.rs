//! Binding the daemon's sockets: unix sockets owned by root and the API group, mode 0660 (as
//! Docker's `docker` group), and TCP sockets.

use super::ServeError;
use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use tokio::net::{TcpListener, UnixListener};

/// The group unix sockets get when none is configured, if it exists on the machine.
pub const DEFAULT_GROUP: &str = "berth";

/// The GID of the socket group: `configured` (a name or a number) must exist; without one,
/// `berth` is used when it exists, else the socket stays root's alone.
pub fn socket_group(configured: Option<&str>) -> Result<Option<u32>, ServeError> {
    let Some(name) = configured else {
        return Ok(nix::unistd::Group::from_name(DEFAULT_GROUP)
            .ok()
            .flatten()
            .map(|g| g.gid.as_raw()));
    };
    match nix::unistd::Group::from_name(name) {
        Ok(Some(g)) => Ok(Some(g.gid.as_raw())),
        _ => name
            .parse::<u32>()
            .map(Some)
            .map_err(|_| ServeError::NoGroup(name.to_string())),
    }
}

pub fn bind_unix(path: &Path, gid: Option<u32>) -> Result<UnixListener, ServeError> {
    let err = |source| ServeError::Bind {
        what: path.display().to_string(),
        source,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(err)?;
    }
    if path.exists() {
        // A live daemon answers; a stale socket file from a crash does not and is replaced.
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            return Err(ServeError::InUse(path.to_path_buf()));
        }
        std::fs::remove_file(path).map_err(err)?;
    }
    let l = UnixListener::bind(path).map_err(err)?;
    std::os::unix::fs::chown(path, Some(0), gid).map_err(err)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660)).map_err(err)?;
    Ok(l)
}

pub async fn bind_tcp(addr: SocketAddr, tls: bool) -> Result<TcpListener, ServeError> {
    if !tls {
        if addr.ip().is_loopback() {
            tracing::warn!(%addr, "listening on TCP without TLS: any local user who can reach it controls berthd");
        } else {
            tracing::warn!(%addr, "listening on TCP without TLS (--tls=false): anyone who can reach it controls berthd");
        }
    }
    TcpListener::bind(addr)
        .await
        .map_err(|source| ServeError::Bind {
            what: format!("tcp://{addr}"),
            source,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_by_name_or_number_and_a_missing_one_is_named() {
        assert_eq!(socket_group(Some("root")).unwrap(), Some(0));
        assert_eq!(socket_group(Some("4242")).unwrap(), Some(4242));
        let e = socket_group(Some("no-such-group-here"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("no-such-group-here") && e.contains("-G"), "{e}");
        // Without a setting, `berth` is used exactly when it exists.
        let exists = nix::unistd::Group::from_name(DEFAULT_GROUP)
            .ok()
            .flatten()
            .map(|g| g.gid.as_raw());
        assert_eq!(socket_group(None).unwrap(), exists);
    }
}
