//! The /etc/hosts, /etc/resolv.conf and /etc/hostname a container sees, generated as Docker
//! generates them.

use std::net::IpAddr;

const LOCALHOST: &str = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n";

/// What goes into a container's hosts file.
#[derive(Debug, Default)]
pub struct HostsSpec<'a> {
    pub hostname: &'a str,
    pub domainname: &'a str,
    /// The container's own address on its first network, if any.
    pub own_ip: Option<IpAddr>,
    /// `--add-host NAME:IP`, in order.
    pub extra: &'a [(String, IpAddr)],
    /// `--link`: (address, "alias shortid name") lines, one-way.
    pub links: &'a [(IpAddr, String)],
}

pub fn hosts(spec: &HostsSpec) -> String {
    let mut out = String::from(LOCALHOST);
    for (name, ip) in spec.extra {
        out.push_str(&format!("{ip}\t{name}\n"));
    }
    for (ip, names) in spec.links {
        out.push_str(&format!("{ip}\t{names}\n"));
    }
    if let Some(ip) = spec.own_ip {
        if spec.domainname.is_empty() {
            out.push_str(&format!("{ip}\t{}\n", spec.hostname));
        } else {
            out.push_str(&format!(
                "{ip}\t{}.{} {}\n",
                spec.hostname, spec.domainname, spec.hostname
            ));
        }
    }
    out
}

/// Name servers from a resolv.conf text.
pub fn nameservers(resolv: &str) -> Vec<String> {
    resolv
        .lines()
        .filter_map(|l| l.trim().strip_prefix("nameserver"))
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

fn is_loopback(server: &str) -> bool {
    server
        .parse::<IpAddr>()
        .map(|ip| ip.is_loopback())
        .unwrap_or(false)
}

/// A container's resolv.conf. On user-defined networks the embedded resolver answers
/// (127.0.0.11); elsewhere the daemon's upstream servers are copied, minus loopback ones that
/// would point into the container itself.
pub fn resolv_conf(
    embedded_dns: bool,
    host_resolv: &str,
    dns: &[String],
    search: &[String],
    options: &[String],
) -> String {
    let mut out = String::new();
    let host_search: Vec<String> = host_resolv
        .lines()
        .filter_map(|l| l.trim().strip_prefix("search"))
        .flat_map(|s| s.split_whitespace().map(str::to_string))
        .collect();
    let search = if search.is_empty() {
        &host_search
    } else {
        search
    };
    if !search.is_empty() {
        out.push_str(&format!("search {}\n", search.join(" ")));
    }
    if embedded_dns {
        out.push_str("nameserver 127.0.0.11\n");
        let mut opts = vec!["ndots:0".to_string()];
        opts.extend(options.iter().filter(|o| !o.starts_with("ndots:")).cloned());
        if let Some(nd) = options.iter().find(|o| o.starts_with("ndots:")) {
            opts[0] = nd.clone();
        }
        out.push_str(&format!("options {}\n", opts.join(" ")));
        return out;
    }
    let servers: Vec<String> = if dns.is_empty() {
        nameservers(host_resolv)
            .into_iter()
            .filter(|s| !is_loopback(s))
            .collect()
    } else {
        dns.to_vec()
    };
    for s in &servers {
        out.push_str(&format!("nameserver {s}\n"));
    }
    if !options.is_empty() {
        out.push_str(&format!("options {}\n", options.join(" ")));
    }
    out
}

/// Only the localhost lines: `none` mode.
pub fn hosts_localhost_only() -> String {
    LOCALHOST.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_like_docker() {
        let extra = vec![
            ("foo.example".to_string(), "10.1.2.3".parse().unwrap()),
            ("bar".to_string(), "10.1.2.4".parse().unwrap()),
        ];
        let h = hosts(&HostsSpec {
            hostname: "myhost",
            domainname: "",
            own_ip: Some("172.17.0.6".parse().unwrap()),
            extra: &extra,
            links: &[("172.17.0.3".parse().unwrap(), "db aeec421904d5 b2".into())],
        });
        assert!(h.starts_with("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"));
        assert!(
            h.ends_with(
                "10.1.2.3\tfoo.example\n10.1.2.4\tbar\n172.17.0.3\tdb aeec421904d5 b2\n172.17.0.6\tmyhost\n"
            ),
            "{h}"
        );
        let h = hosts(&HostsSpec {
            hostname: "myhost",
            domainname: "dom.example",
            own_ip: Some("192.168.0.4".parse().unwrap()),
            extra: &[],
            links: &[],
        });
        assert!(
            h.ends_with("192.168.0.4\tmyhost.dom.example myhost\n"),
            "{h}"
        );
    }

    #[test]
    fn resolv_conf_like_docker() {
        let host = "nameserver 127.0.0.53\nnameserver 10.0.0.2\nsearch corp\n";
        assert_eq!(
            resolv_conf(false, host, &[], &[], &[]),
            "search corp\nnameserver 10.0.0.2\n"
        );
        assert_eq!(
            resolv_conf(
                false,
                host,
                &["10.9.9.9".into()],
                &["corp.example".into()],
                &["ndots:3".into()]
            ),
            "search corp.example\nnameserver 10.9.9.9\noptions ndots:3\n"
        );
        assert_eq!(
            resolv_conf(
                true,
                "",
                &["10.9.9.9".into()],
                &["corp.example".into()],
                &[]
            ),
            "search corp.example\nnameserver 127.0.0.11\noptions ndots:0\n"
        );
    }
}
