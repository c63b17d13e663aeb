//! `network connect` and `network disconnect` of containers, live when they run.

use super::{etcfiles, io, Container, Engine, EngineError, NetworkRequest, Result, Status};
use berth_net::driver::DriverKind;
use berth_net::endpoint::{parse_mac, EndpointOptions};
use berth_net::NetError;

impl Engine {
    fn network_mode_refusal(c: &Container, target_is_host: bool) -> Option<EngineError> {
        let mode = c.spec.network_mode.as_str();
        if mode == "host" || target_is_host {
            return Some(EngineError::Net(NetError::Forbidden(
                "container cannot be disconnected from host network or connected to host network"
                    .into(),
            )));
        }
        if mode == "none" {
            return Some(EngineError::Net(NetError::Forbidden(
                "container cannot be connected to multiple networks with one of the networks in private (none) mode".into(),
            )));
        }
        if mode.starts_with("container:") {
            return Some(EngineError::Net(NetError::Forbidden(
                "container sharing network namespace with another container or host cannot be connected to any other network".into(),
            )));
        }
        None
    }

    /// `network connect`: a running container gets a new interface at once; a stopped one gets
    /// it at its next start.
    #[tracing::instrument(name = "connect", skip_all, fields(container = %container, network = %network))]
    pub async fn connect(&self, container: &str, network: &str, req: NetworkRequest) -> Result<()> {
        let mut st = self.state.lock().await;
        let mut c = Self::lookup(&st, container)?.clone();
        let net = self
            .ctl
            .get(network)
            .await
            .map_err(|_| EngineError::NotFound(format!("network {network} not found")))?;
        if let Some(e) = Self::network_mode_refusal(&c, net.kind() == DriverKind::Host) {
            return Err(e);
        }
        if net.kind() == DriverKind::Null {
            return Err(EngineError::Net(NetError::Forbidden(
                "container cannot be connected to multiple networks with one of the networks in private (none) mode".into(),
            )));
        }
        for (n, _) in &c.spec.networks {
            if let Ok(existing) = self.ctl.get(n).await {
                if existing.id == net.id {
                    return Err(EngineError::Net(NetError::Forbidden(format!(
                        "endpoint with name {} already exists in network {}",
                        c.name, net.name
                    ))));
                }
            }
        }
        if (req.ipv4.is_some() || req.ipv6.is_some()) && net.predefined {
            return Err(EngineError::BadRequest(
                "user specified IP address is supported on user defined networks only".into(),
            ));
        }
        if let (Status::Running, Some(sb)) = (c.state.status, c.sandbox_id.clone()) {
            self.ctl
                .attach(
                    &sb,
                    &net.id,
                    EndpointOptions {
                        owner: c.id.clone(),
                        name: c.name.clone(),
                        ipv4: req.ipv4,
                        ipv6: req.ipv6,
                        mac: req.mac.as_deref().and_then(parse_mac),
                        aliases: req.aliases.clone(),
                    },
                )
                .await?;
            if !net.predefined {
                // Now on a user-defined network: the embedded resolver takes over, as Docker.
                let host_resolv =
                    std::fs::read_to_string(&self.paths.host_resolv).unwrap_or_default();
                let resolv = etcfiles::resolv_conf(
                    true,
                    &host_resolv,
                    &[],
                    &c.spec.dns_search,
                    &c.spec.dns_options,
                );
                let path = c.dir(&self.paths.containers).join("resolv.conf");
                // Written in place: the container's bind mount follows the same inode.
                std::fs::write(&path, resolv).map_err(io("update resolv.conf"))?;
            }
        }
        c.spec.networks.push((net.name.clone(), req));
        self.save(&mut st, c).await
    }

    /// `network disconnect`: the interface goes at once from a running container.
    #[tracing::instrument(name = "disconnect", skip_all, fields(container = %container, network = %network))]
    pub async fn disconnect(&self, container: &str, network: &str, force: bool) -> Result<()> {
        let mut st = self.state.lock().await;
        let found = Self::lookup(&st, container).cloned();
        let net = self
            .ctl
            .get(network)
            .await
            .map_err(|_| EngineError::NotFound(format!("network {network} not found")))?;
        let mut c = match found {
            Ok(c) => c,
            Err(e) => {
                if force {
                    return Ok(());
                }
                return Err(e);
            }
        };
        if net.kind() == DriverKind::Host || c.spec.network_mode == "host" {
            return Err(EngineError::Net(NetError::Forbidden(
                "container cannot be disconnected from host network or connected to host network"
                    .into(),
            )));
        }
        let mut idx = None;
        for (i, (n, _)) in c.spec.networks.iter().enumerate() {
            if self
                .ctl
                .get(n)
                .await
                .map(|x| x.id == net.id)
                .unwrap_or(false)
            {
                idx = Some(i);
            }
        }
        let Some(i) = idx else {
            return Err(EngineError::Net(NetError::Forbidden(format!(
                "container {} is not connected to network {}",
                c.id, net.name
            ))));
        };
        if let (Status::Running, Some(sb)) = (c.state.status, c.sandbox_id.clone()) {
            self.ctl.detach(&sb, &net.id).await?;
        }
        c.spec.networks.remove(i);
        if c.spec.network_mode == net.name || c.spec.network_mode == net.id {
            // The primary network went: the next one, if any, becomes the mode (Docker keeps the
            // mode string; a start would then fail, which helps nobody).
            c.spec.network_mode = c
                .spec
                .networks
                .first()
                .map(|(n, _)| n.clone())
                .unwrap_or_else(|| "none".into());
        }
        self.save(&mut st, c).await
    }
}
