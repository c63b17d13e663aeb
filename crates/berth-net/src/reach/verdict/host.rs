//! The paths that touch the host: a container to the host or the outside world, the host or
//! a client outside to a container, through the published ports' DNAT.

use super::{first_addr, hop, no_network, Block, Eval, Step};
use crate::reach::codes::Code;
use crate::reach::facts::{Dnat, Rule};
use crate::reach::model::{ContainerView, EndpointView};
use std::net::IpAddr;

impl<'a> Eval<'a> {
    /// The published port that `dport` on `addr` (None: any local address) leads to.
    pub(super) fn published(
        &self,
        addr: Option<IpAddr>,
        outside: bool,
    ) -> Result<Option<&'a Dnat>, Block> {
        let Some((port, proto)) = self.port else {
            return Ok(None);
        };
        let on_port: Vec<&Dnat> = self
            .facts
            .dnat
            .iter()
            .filter(|d| d.proto == proto && d.host_port == port)
            .collect();
        let fits = |d: &&Dnat| match (d.host_ip, addr) {
            (None, Some(a)) => d.to.is_ipv4() == a.is_ipv4(),
            (None, None) => true,
            (Some(h), Some(a)) => h == a,
            // "outside" with no address connects to the host's addresses, never its loopback.
            (Some(h), None) => !outside || !h.is_loopback(),
        };
        if let Some(d) = on_port.iter().copied().find(fits) {
            return Ok(Some(d));
        }
        if let Some(d) = on_port.first() {
            let host = d.host_ip.map(|h| h.to_string()).unwrap_or_default();
            return Err(Block(
                Code::HostAddressNotBound,
                format!("{}/{} is published on {host} only", port, proto.name()),
            ));
        }
        Ok(None)
    }

    pub(super) fn owner_of(&self, ip: IpAddr) -> Option<(&'a ContainerView, &'a EndpointView)> {
        self.topo.containers.iter().find_map(|c| {
            c.endpoints
                .iter()
                .find(|e| e.addrs().any(|a| a == ip))
                .map(|e| (c, e))
        })
    }

    pub(super) fn follow_dnat(
        &mut self,
        d: &Dnat,
        via: &str,
    ) -> Result<(&'a ContainerView, &'a EndpointView), Block> {
        let rule = if d.host_ip.is_some() {
            if d.to.is_ipv4() {
                Rule::PublishHost4
            } else {
                Rule::PublishHost6
            }
        } else if d.to.is_ipv4() {
            Rule::PublishAny4
        } else {
            Rule::PublishAny6
        };
        let hook = if via == "output" {
            Rule::PublishOutput
        } else {
            Rule::PublishPrerouting
        };
        for r in [hook, rule] {
            if self.firewall() && !self.has(r) {
                return Err(Block(
                    Code::PortNotPublished,
                    format!("{} is missing: the port is not translated", r.text()),
                ));
            }
        }
        self.path.push(hop(
            "dnat",
            &format!("{}/{}", d.host_port, d.proto.name()),
            format!("→ {}:{}", d.to, d.to_port),
        ));
        self.target = Some((d.to, Some(d.to_port)));
        let (c, e) = self.owner_of(d.to).ok_or_else(|| {
            Block(
                Code::PortNotPublished,
                format!("{}:{} belongs to no running container", d.to, d.to_port),
            )
        })?;
        if !c.running {
            return Err(Block(
                Code::ContainerNotRunning,
                format!("container {} is {}", c.name, c.status),
            ));
        }
        Ok((c, e))
    }

    pub(super) fn container_to_host(&mut self, s: &'a ContainerView, addr: Option<IpAddr>) -> Step {
        if s.endpoints.is_empty() {
            return Err(no_network(s));
        }
        // The gateway of one of its networks is on-link; any other host address is routed.
        let onlink = addr.and_then(|a| {
            s.endpoints
                .iter()
                .find(|e| [e.gateway4, e.gateway6].contains(&Some(a)))
        });
        let es = match onlink {
            Some(e) => e,
            None => self.default_endpoint(s)?,
        };
        let bs = self.bridge_of(es)?;
        let host_addr = addr.or(es.gateway4).or(es.gateway6);
        self.leave(s, es, &bs)?;
        self.path.push(hop(
            "host",
            host_addr
                .map(|a| a.to_string())
                .as_deref()
                .unwrap_or("host"),
            "",
        ));
        let fallback = addr.or(self.topo.host.addrs.first().copied()).or(host_addr);
        match self.published(addr.or(fallback), false)? {
            Some(d) => {
                let d = d.clone();
                let (c, ed) = self.follow_dnat(&d, "prerouting")?;
                let bd = self.bridge_of(ed)?;
                let saddr = first_addr(es).unwrap_or(d.to);
                let p = self.packet(&bs, &bd, saddr, d.to, Some(d.to_port));
                self.forward(&p, true)?;
                self.enter(c, ed, &bd)
            }
            None => {
                self.target = host_addr.map(|a| (a, self.port.map(|p| p.0)));
                if self.port.is_some() {
                    self.notes.push(
                        "no container publishes this port: the host's own services decide".into(),
                    );
                }
                Ok(())
            }
        }
    }

    pub(super) fn container_to_outside(
        &mut self,
        s: &'a ContainerView,
        addr: Option<IpAddr>,
    ) -> Step {
        if s.endpoints.is_empty() {
            return Err(no_network(s));
        }
        let es = self.default_endpoint(s)?;
        let bs = self.bridge_of(es)?;
        self.leave(s, es, &bs)?;
        self.path.push(hop("route", "host", "out of the host"));
        let saddr = first_addr(es)
            .ok_or_else(|| Block(Code::NoCommonNetwork, format!("{} has no address", s.name)))?;
        let daddr = addr.unwrap_or(if saddr.is_ipv4() {
            IpAddr::from([192, 0, 2, 1])
        } else {
            "2001:db8::1".parse().unwrap_or(saddr)
        });
        self.target = addr.map(|a| (a, self.port.map(|p| p.0)));
        let p = self.packet(&bs, "", saddr, daddr, self.port.map(|p| p.0));
        self.forward(&p, false)?;
        if self.firewall() && !(self.has(Rule::Masquerade) && self.facts.masq.contains(&bs)) {
            return Err(Block(
                Code::MasqueradeOff,
                format!(
                    "traffic from {bs} is not masqueraded ({} does not apply)",
                    Rule::Masquerade.text()
                ),
            ));
        }
        self.path
            .push(hop("masquerade", &bs, "source becomes the host's address"));
        self.path.push(hop(
            "outside",
            &addr
                .map(|a| a.to_string())
                .unwrap_or_else(|| "outside".into()),
            "",
        ));
        Ok(())
    }

    pub(super) fn host_to_container(&mut self, d: &'a ContainerView, addr: Option<IpAddr>) -> Step {
        let ed = self.dst_endpoint(None, d, addr)?;
        let bd = self.bridge_of(ed)?;
        let daddr = addr.or_else(|| first_addr(ed));
        self.target = daddr.map(|a| (a, self.port.map(|p| p.0)));
        self.path
            .push(hop("host", "host", "routes to the bridge's subnet"));
        self.enter(d, ed, &bd)
    }

    pub(super) fn host_to_host(&mut self, addr: Option<IpAddr>) -> Step {
        self.path.push(hop("host", "host", "the host's own stack"));
        match self.published(addr.or(Some(IpAddr::from([127, 0, 0, 1]))), false)? {
            Some(d) => {
                let d = d.clone();
                let (c, ed) = self.follow_dnat(&d, "output")?;
                let bd = self.bridge_of(ed)?;
                self.enter(c, ed, &bd)
            }
            None => {
                self.target = addr.map(|a| (a, self.port.map(|p| p.0)));
                Ok(())
            }
        }
    }

    pub(super) fn outside_to_container(
        &mut self,
        d: &'a ContainerView,
        addr: Option<IpAddr>,
    ) -> Step {
        self.path
            .push(hop("outside", "outside", "a client on another machine"));
        if let Some(a) = addr {
            // Straight to a container's own address: routed into its bridge without DNAT.
            let ed = self.dst_endpoint(None, d, Some(a))?;
            let bd = self.bridge_of(ed)?;
            self.target = Some((a, self.port.map(|p| p.0)));
            let p = self.packet(
                "",
                &bd,
                IpAddr::from([192, 0, 2, 1]),
                a,
                self.port.map(|p| p.0),
            );
            self.forward(&p, false)?;
            return self.enter(d, ed, &bd);
        }
        let Some((port, proto)) = self.port else {
            return Err(Block(
                Code::PortNotPublished,
                format!(
                    "from outside, {} is reached only on a published port: give --port HOST_PORT",
                    d.name
                ),
            ));
        };
        let mine: Vec<&Dnat> = self
            .facts
            .dnat
            .iter()
            .filter(|x| d.endpoints.iter().any(|e| e.addrs().any(|a| a == x.to)))
            .collect();
        let exact: Vec<&&Dnat> = mine
            .iter()
            .filter(|x| x.host_port == port && x.proto == proto)
            .collect();
        let Some(dn) = exact
            .iter()
            .find(|x| !x.host_ip.is_some_and(|h| h.is_loopback()))
            .or(exact.first())
        else {
            let list: Vec<String> = mine
                .iter()
                .map(|x| format!("{}/{}", x.host_port, x.proto.name()))
                .collect();
            let have = if list.is_empty() {
                "no ports".to_string()
            } else {
                list.join(", ")
            };
            return Err(Block(
                Code::PortNotPublished,
                format!(
                    "{}/{} is not published by {} (it publishes {have})",
                    port,
                    proto.name(),
                    d.name
                ),
            ));
        };
        if let Some(h) = dn.host_ip.filter(|h| h.is_loopback()) {
            return Err(Block(
                Code::HostAddressNotBound,
                format!("{port}/{} is published on {h} only", proto.name()),
            ));
        }
        let dn = (**dn).clone();
        self.path.push(hop(
            "host",
            &dn.host_ip
                .map(|h| h.to_string())
                .unwrap_or_else(|| "host addresses".into()),
            "",
        ));
        let (c, ed) = self.follow_dnat(&dn, "prerouting")?;
        let bd = self.bridge_of(ed)?;
        let p = self.packet(
            "",
            &bd,
            IpAddr::from([192, 0, 2, 1]),
            dn.to,
            Some(dn.to_port),
        );
        self.forward(&p, true)?;
        self.enter(c, ed, &bd)
    }

    pub(super) fn outside_to_host(&mut self, addr: Option<IpAddr>) -> Step {
        self.path
            .push(hop("outside", "outside", "a client on another machine"));
        if addr.is_some_and(|a| a.is_loopback()) {
            return Err(Block(
                Code::HostAddressNotBound,
                "the loopback address is not reachable from another machine".into(),
            ));
        }
        match self.published(addr, true)? {
            Some(d) => {
                let d = d.clone();
                self.path.push(hop(
                    "host",
                    &addr.map(|a| a.to_string()).unwrap_or_else(|| "host".into()),
                    "",
                ));
                let (c, ed) = self.follow_dnat(&d, "prerouting")?;
                let bd = self.bridge_of(ed)?;
                let p = self.packet("", &bd, IpAddr::from([192, 0, 2, 1]), d.to, Some(d.to_port));
                self.forward(&p, true)?;
                self.enter(c, ed, &bd)
            }
            None => {
                self.path.push(hop(
                    "host",
                    &addr.map(|a| a.to_string()).unwrap_or_else(|| "host".into()),
                    "the host's own stack",
                ));
                self.target = addr.map(|a| (a, self.port.map(|p| p.0)));
                if self.port.is_some() {
                    self.notes.push(
                        "no container publishes this port: the host's own services decide".into(),
                    );
                }
                Ok(())
            }
        }
    }
}
