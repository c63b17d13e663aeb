//! `-H` values as dockerd reads them: `unix:///path`, `tcp://IP[:PORT]`, `IP:PORT`, `/path`.

use super::ConfigError;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;

/// dockerd's ports when `-H tcp://IP` names none: TLS on 2376, plain on 2375.
pub const TLS_PORT: u16 = 2376;
pub const PLAIN_PORT: u16 = 2375;

/// Where the daemon listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Listen {
    Unix(PathBuf),
    Tcp(SocketAddr),
}

/// Parses one `-H` value; `tls` picks the default port of a TCP address without one.
pub fn parse_listen(url: &str, tls: bool) -> Result<Listen, ConfigError> {
    if let Some(path) = url.strip_prefix("unix://") {
        if path.is_empty() {
            return Err(ConfigError::Invalid(format!(
                "invalid host {url}: unix:// needs a socket path"
            )));
        }
        return Ok(Listen::Unix(PathBuf::from(path)));
    }
    if url.starts_with('/') {
        return Ok(Listen::Unix(PathBuf::from(url)));
    }
    let addr = match url.split_once("://") {
        Some(("tcp", rest)) => rest,
        Some((scheme, _)) => {
            return Err(ConfigError::Invalid(format!(
                "invalid host {url}: unsupported scheme {scheme}://, use unix:///path/to.sock or tcp://IP:PORT"
            )))
        }
        // Docker reads a bare `IP:PORT` as TCP.
        None => url,
    };
    let addr = addr.trim_end_matches('/');
    let default_port = if tls { TLS_PORT } else { PLAIN_PORT };
    parse_tcp(addr, default_port)
        .map(Listen::Tcp)
        .ok_or_else(|| {
            ConfigError::Invalid(format!(
                "invalid host {url}: expected unix:///path/to.sock, tcp://IP[:PORT] or IP:PORT (IPv6 in brackets)"
            ))
        })
}

fn parse_ip(host: &str) -> Option<IpAddr> {
    match host {
        // As dockerd: `tcp://:2375` is the loopback address, never every address.
        "" | "localhost" => Some(IpAddr::V4(Ipv4Addr::LOCALHOST)),
        h => h
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(h)
            .parse()
            .ok(),
    }
}

fn parse_tcp(addr: &str, default_port: u16) -> Option<SocketAddr> {
    if let Ok(sa) = addr.parse::<SocketAddr>() {
        return Some(sa);
    }
    // A bare IPv6 address has colons of its own, so only a bracketed one takes a port.
    if let Some(ip) = parse_ip(addr) {
        return Some(SocketAddr::new(ip, default_port));
    }
    let (host, port) = addr.rsplit_once(':')?;
    let port = if port.is_empty() {
        default_port
    } else {
        port.parse().ok()?
    };
    Some(SocketAddr::new(parse_ip(host)?, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tcp(s: &str) -> Listen {
        Listen::Tcp(s.parse().unwrap())
    }

    #[test]
    fn docker_host_forms() {
        for (url, tls, want) in [
            ("tcp://0.0.0.0:2375", false, tcp("0.0.0.0:2375")),
            ("tcp://10.0.0.1", false, tcp("10.0.0.1:2375")),
            ("tcp://10.0.0.1", true, tcp("10.0.0.1:2376")),
            ("tcp://10.0.0.1:", true, tcp("10.0.0.1:2376")),
            ("192.168.253.139:2375", false, tcp("192.168.253.139:2375")),
            ("tcp://:4000", false, tcp("127.0.0.1:4000")),
            ("tcp://localhost", true, tcp("127.0.0.1:2376")),
            ("tcp://[::1]:9", false, tcp("[::1]:9")),
            ("tcp://[::1]", true, tcp("[::1]:2376")),
            ("unix:///x.sock", false, Listen::Unix("/x.sock".into())),
            ("/y.sock", false, Listen::Unix("/y.sock".into())),
        ] {
            assert_eq!(parse_listen(url, tls).unwrap(), want, "{url}");
        }
    }

    #[test]
    fn bad_hosts_are_named() {
        for url in [
            "http://1.2.3.4",
            "unix://",
            "tcp://1.2.3.4:99999",
            "tcp://nohost.example:1",
            "x",
        ] {
            let e = parse_listen(url, false).unwrap_err().to_string();
            assert!(e.contains(url), "{url}: {e}");
        }
    }
}
