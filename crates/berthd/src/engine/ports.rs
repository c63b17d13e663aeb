//! The ports a container exposes and publishes.

use super::image::Image;
use super::model::Container;
use super::Engine;
use berth_net::firewall::Proto;
use berth_net::portmap::{PortRequest, Published};

impl Engine {
    /// The ports to publish: `-p` bindings, then with `-P` every other exposed port (the
    /// container's and the image's) on an ephemeral port of every address.
    pub(super) fn port_requests(c: &Container, img: Option<&Image>) -> Vec<PortRequest> {
        let mut reqs = c.spec.ports.clone();
        if c.spec.publish_all {
            for (port, proto) in Self::exposed_ports(c, img) {
                if !reqs
                    .iter()
                    .any(|r| r.container_port == port && r.proto == proto)
                {
                    reqs.push(PortRequest {
                        proto,
                        container_port: port,
                        host_ip: None,
                        host_ports: None,
                    });
                }
            }
        }
        reqs
    }

    /// Every exposed port of a container: its own `--expose` and `-p`, and its image's.
    pub fn exposed_ports(c: &Container, img: Option<&Image>) -> Vec<(u16, Proto)> {
        let mut v: Vec<(u16, Proto)> = c.spec.exposed.clone();
        v.extend(c.spec.ports.iter().map(|r| (r.container_port, r.proto)));
        for e in img.map(|i| i.exposed_ports.as_slice()).unwrap_or_default() {
            let (port, proto) = e.split_once('/').unwrap_or((e, "tcp"));
            let proto = match proto {
                "udp" => Proto::Udp,
                _ => Proto::Tcp,
            };
            if let Ok(p) = port.parse() {
                v.push((p, proto));
            }
        }
        v.sort();
        v.dedup();
        v
    }

    /// The ports a container publishes now (empty when it is not running).
    pub async fn published(&self, c: &Container) -> Vec<Published> {
        match &c.sandbox_id {
            Some(sb) => self
                .ctl
                .sandbox(sb)
                .await
                .map(|s| s.ports)
                .unwrap_or_default(),
            None => Vec::new(),
        }
    }
}
