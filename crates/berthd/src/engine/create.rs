//! `create`: a request resolved and checked, then stored; nothing is stored when it is refused.

use super::image;
use super::model::{Container, ContainerSpec, NetworkRequest, State, Status};
use super::{io, names, new_container_id, Engine, EngineError, Result, CONTAINERS};
use berth_net::endpoint::parse_mac;
use chrono::Utc;
use std::net::IpAddr;

pub(super) fn valid_name(name: &str) -> bool {
    let mut c = name.chars();
    matches!(c.next(), Some(x) if x.is_ascii_alphanumeric())
        && c.all(|x| x.is_ascii_alphanumeric() || matches!(x, '_' | '.' | '-'))
}

/// Parses `NAME:IP` (`host-gateway` stands for the default bridge's gateway).
pub fn parse_extra_host(entry: &str, host_gateway: IpAddr) -> Result<(String, IpAddr)> {
    let bad = || {
        EngineError::BadRequest(format!(
            "invalid argument \"{entry}\" for \"--add-host\" flag: bad format for add-host: \"{entry}\""
        ))
    };
    let (name, ip) = entry.split_once(':').ok_or_else(bad)?;
    if name.is_empty() {
        return Err(bad());
    }
    let ip = if ip == "host-gateway" {
        host_gateway
    } else {
        ip.trim_matches(|c| c == '[' || c == ']')
            .parse()
            .map_err(|_| bad())?
    };
    Ok((name.to_string(), ip))
}

impl Engine {
    /// Resolves and checks a create request; nothing is stored when it is refused.
    #[tracing::instrument(name = "create", skip_all, fields(name = %spec.name, image = %spec.image))]
    pub async fn create(&self, mut spec: ContainerSpec) -> Result<Container> {
        super::validate::spec(&spec)?;
        // The map lock is taken for moments only: the network checks below wait on the
        // network layer, which may be busy making another container's sandbox.
        // Docker's words: on this 404 the docker CLI (and berth's) pulls the image and retries.
        let img = image::find(&self.state.lock().await.images, &spec.image)
            .cloned()
            .ok_or_else(|| {
                EngineError::NotFound(format!(
                    "No such image: {}",
                    image::normalize_ref(&spec.image)
                ))
            })?;
        // As Docker: the image's labels are the container's too, its own winning on a clash.
        for (k, v) in &img.labels {
            spec.labels.entry(k.clone()).or_insert_with(|| v.clone());
        }
        let id = new_container_id();
        spec.name = spec.name.trim_start_matches('/').to_string();
        if !spec.name.is_empty() && !valid_name(&spec.name) {
            return Err(EngineError::BadRequest(format!(
                "Invalid container name ({}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed",
                spec.name
            )));
        }
        if spec.network_mode.is_empty() || spec.network_mode == "default" {
            spec.network_mode = "bridge".into();
        }
        // The docker CLI keys the primary endpoint by the mode's name, which may be "default".
        for (n, _) in spec.networks.iter_mut() {
            if n == "default" {
                *n = "bridge".into();
            }
        }
        let mode = spec.network_mode.clone();
        if mode.starts_with("container:") {
            if !spec.hostname.is_empty() {
                return Err(EngineError::BadRequest(
                    "conflicting options: hostname and the network mode".into(),
                ));
            }
            if !spec.dns.is_empty() || !spec.dns_search.is_empty() || !spec.dns_options.is_empty() {
                return Err(EngineError::BadRequest(
                    "conflicting options: dns and the network mode".into(),
                ));
            }
            if !spec.extra_hosts.is_empty() {
                return Err(EngineError::BadRequest(
                    "conflicting options: custom host-to-IP mapping and the network mode".into(),
                ));
            }
            spec.networks.clear();
        } else if mode == "host" || mode == "none" {
            spec.networks.clear();
            if mode == "host" {
                // Docker's "Published ports are discarded when using host network mode".
                spec.ports.clear();
                spec.publish_all = false;
            }
        } else {
            // The mode names the first network; it must exist now. Not a 404: on any 404 from
            // create the docker CLI concludes the image is missing and tries to pull it, so it
            // would never show this message (Docker itself fails later, at start).
            let first = self
                .ctl
                .get(&mode)
                .await
                .map_err(|_| EngineError::BadRequest(format!("network {mode} not found")))?;
            if !spec
                .networks
                .iter()
                .any(|(n, _)| n == &mode || n == &first.name || n == &first.id)
            {
                spec.networks
                    .insert(0, (mode.clone(), NetworkRequest::default()));
            }
            for (n, req) in &spec.networks {
                let net = self
                    .ctl
                    .get(n)
                    .await
                    .map_err(|_| EngineError::BadRequest(format!("network {n} not found")))?;
                if (req.ipv4.is_some() || req.ipv6.is_some()) && net.predefined {
                    return Err(EngineError::BadRequest(
                        "user specified IP address is supported on user defined networks only"
                            .into(),
                    ));
                }
                if let Some(mac) = &req.mac {
                    parse_mac(mac).ok_or_else(|| {
                        EngineError::BadRequest(format!("invalid MAC address: {mac}"))
                    })?;
                }
            }
        }
        if !spec.mac_address.is_empty() && parse_mac(&spec.mac_address).is_none() {
            return Err(EngineError::BadRequest(format!(
                "invalid MAC address: {}",
                spec.mac_address
            )));
        }
        let gw = self.host_gateway().await;
        for h in &spec.extra_hosts {
            parse_extra_host(h, gw)?;
        }
        for d in &spec.dns {
            d.parse::<IpAddr>().map_err(|_| {
                EngineError::BadRequest(format!(
                    "invalid argument \"{d}\" for \"--dns\" flag: {d} is not an ip address"
                ))
            })?;
        }
        // A fixed host port berth already publishes fails here, before a container exists.
        self.ctl.check_ports(&spec.ports)?;
        for (k, v) in &spec.run.kernel.sysctls {
            super::kernelopts::sysctl(k, v, &spec.run.kernel, &spec.network_mode)?;
        }
        if spec.run.kernel.host_uts() && !(spec.hostname.is_empty() && spec.domainname.is_empty()) {
            return Err(EngineError::BadRequest(
                "Conflicting options: hostname and the UTS mode (--uts host)".into(),
            ));
        }
        self.mounts_from(&mut spec.run).await?;
        super::runopts::validate(&spec.run)?;
        let rootfs = image::rootfs(&self.paths.images, &img);
        super::runopts::resolve_user(&spec.run.user, &rootfs)?;
        super::runopts::resolve_groups(&spec.run.kernel.group_add, &rootfs)?;
        if spec.run.init {
            super::runopts::init_binary()?;
        }
        super::runopts::prepare_binds(&spec.run.mounts)?;
        self.prepare_volumes(&mut spec.run.mounts)?;
        // From here to the insert, under the map lock: the name, and the containers this one
        // refers to, are checked against the same state the record joins.
        let mut st = self.state.lock().await;
        if spec.name.is_empty() {
            spec.name = names::pick(&id, |n| st.containers.values().any(|c| c.name == n));
        }
        if let Some(other) = st.containers.values().find(|c| c.name == spec.name) {
            return Err(EngineError::Conflict(format!(
                "Conflict. The container name \"/{}\" is already in use by container \"{}\". You have to remove (or rename) that container to be able to reuse that name.",
                spec.name, other.id
            )));
        }
        if let Some(target) = spec.network_mode.strip_prefix("container:") {
            Self::lookup(&st, target)
                .map_err(|_| EngineError::NotFound(format!("No such container: {target}")))?;
        }
        for (target, _) in &spec.links {
            Self::lookup(&st, target).map_err(|_| {
                // A 400 for the same reason as a missing network: a 404 makes the docker CLI pull.
                EngineError::BadRequest(format!(
                    "could not get container for {target}: No such container: {target}"
                ))
            })?;
        }
        let hostname = if spec.run.kernel.host_uts() {
            // The host's name, which the container sees through the shared namespace.
            std::fs::read_to_string("/proc/sys/kernel/hostname")
                .map(|h| h.trim().to_string())
                .unwrap_or_default()
        } else if spec.hostname.is_empty() {
            id[..12].to_string()
        } else {
            spec.hostname.clone()
        };
        let c = Container {
            id: id.clone(),
            name: spec.name.clone(),
            created: Utc::now(),
            image_id: img.id.clone(),
            spec,
            hostname,
            state: State {
                status: Status::Created,
                pid: 0,
                exit_code: 0,
                started_at: None,
                finished_at: None,
                error: String::new(),
                manually_stopped: false,
                restart_count: 0,
                releasing: false,
                removing: false,
                paused: false,
            },
            sandbox_id: None,
            sandbox_key: String::new(),
        };
        let dir = c.dir(&self.paths.containers);
        {
            use std::os::unix::fs::DirBuilderExt;
            // Its config and logs may hold secrets: the daemon's group may pass, no one else.
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o710)
                .create(&dir)
                .map_err(io(format!("create {}", dir.display())))?;
        }
        self.store.put(CONTAINERS, &c.id, &c)?;
        self.publish(&c.id, Some(&c));
        st.containers.insert(c.id.clone(), c.clone());
        self.container_event(&c, "create");
        Ok(c)
    }

    /// `--volumes-from`: the volumes and bind mounts of other containers, at the same
    /// targets, read-only if asked (or if they were); the container's own mounts win.
    async fn mounts_from(&self, run: &mut super::runopts::RunOptions) -> Result<()> {
        use super::runopts::MountKind;
        let st = self.state.lock().await;
        for v in run.kernel.volumes_from.clone() {
            let (name, ro) = super::kernelopts::parse_volumes_from(&v)?;
            let other = Self::lookup(&st, name).map_err(|_| {
                // A 400: on a 404 from create the docker CLI would pull the image.
                EngineError::BadRequest(format!("No such container: {name} (--volumes-from)"))
            })?;
            for m in &other.spec.run.mounts {
                if m.kind == MountKind::Tmpfs || run.mounts.iter().any(|x| x.target == m.target) {
                    continue;
                }
                let mut m = m.clone();
                m.read_only = ro.unwrap_or(m.read_only);
                // The volume stays the other container's: removing this one keeps it.
                m.anonymous = false;
                m.create_source = false;
                run.mounts.push(m);
            }
        }
        Ok(())
    }

    pub(super) async fn host_gateway(&self) -> IpAddr {
        self.ctl
            .get("bridge")
            .await
            .ok()
            .and_then(|b| b.subnets.first().map(|s| s.gateway))
            .unwrap_or(IpAddr::from([172, 17, 0, 1]))
    }
}
