//! Starting a container: its network, root filesystem, /etc files, bundle and runtime.

use super::image::Image;
use super::links::{LinkTarget, ResolvedLinks};
use super::model::{Container, State, Status};
use super::{
    bundle, cgroups, create::parse_extra_host, etcfiles, image, io, new_container_id, runtime,
    Engine, EngineError, Result,
};
use berth_net::endpoint::{parse_mac, EndpointOptions, SandboxOptions};
use chrono::Utc;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;

/// Who asks for a start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum StartBy {
    /// The API: a start by hand, which supersedes a restart the policy has pending.
    Api,
    /// The restart policy after its delay; it stands down when the container was stopped,
    /// removed or started by hand in the meantime.
    Policy { restart_count: u32 },
}

impl Engine {
    /// Starts a created or exited container.
    #[tracing::instrument(name = "start", skip(self), fields(container = %key))]
    pub async fn start_container(self: &Arc<Self>, key: &str) -> Result<()> {
        let id = self.container(key).await?.id;
        let op = self.op_lock(&id);
        let _op = op.lock().await;
        self.start_locked(&id, StartBy::Api).await
    }

    /// A start, with the container's op lock held by the caller. The map lock is held only to
    /// read the container and to record the outcome, never across the network, the root
    /// filesystem or the runtime: other containers' starts and every read go on meanwhile.
    pub(super) async fn start_locked(self: &Arc<Self>, id: &str, by: StartBy) -> Result<()> {
        // A stop answers before the runtime has forgotten the previous run; a start that came
        // first would race that delete.
        self.wait_released(id, std::time::Duration::from_secs(10))
            .await?;
        let (mut c, img, joined, targets) = {
            let mut st = self.state.lock().await;
            let mut c = Self::lookup(&st, id)?.clone();
            if c.state.removing {
                return Err(EngineError::Conflict(format!(
                    "removal of container {} is already in progress",
                    c.id
                )));
            }
            match by {
                StartBy::Policy { restart_count } => {
                    let pending = st.restarting.remove(&c.id);
                    if !pending || c.state.status != Status::Exited || c.state.manually_stopped {
                        return Ok(());
                    }
                    c.state.restart_count = restart_count;
                }
                StartBy::Api => {
                    if c.state.status == Status::Running {
                        return Err(EngineError::NotModified("container already started".into()));
                    }
                    st.restarting.remove(&c.id);
                }
            }
            let img = st.images.get(&c.image_id).cloned();
            let joined = match c.spec.network_mode.strip_prefix("container:") {
                Some(target) => {
                    let t = Self::lookup(&st, target)?.clone();
                    if t.state.status != Status::Running {
                        return Err(EngineError::Conflict(format!(
                            "cannot join network namespace of a non running container: {}",
                            t.name
                        )));
                    }
                    Some(t)
                }
                None => None,
            };
            let mut targets = Vec::new();
            for (target, alias) in &c.spec.links {
                let t = Self::lookup(&st, target)?.clone();
                if t.state.status != Status::Running {
                    return Err(EngineError::Conflict(format!(
                        "Cannot link to a non running container: /{} AS /{}/{alias}",
                        t.name, c.name
                    )));
                }
                let t_img = st.images.get(&t.image_id);
                let ports = Self::exposed_ports(&t, t_img);
                let env: Vec<String> = t_img
                    .map(|i| i.env.clone())
                    .unwrap_or_default()
                    .into_iter()
                    .chain(t.spec.env.iter().cloned())
                    .collect();
                targets.push(LinkTarget {
                    container: t,
                    ports,
                    env,
                });
            }
            (c, img, joined, targets)
        };
        if c.state.started_at.is_some() {
            // Started before: make sure the runtime has forgotten the previous run.
            let runtime = self.runtime.clone();
            let rid = c.id.clone();
            match tokio::task::spawn_blocking(move || runtime.delete(&rid, true)).await {
                Ok(Ok(())) => {}
                // Forgotten already, the usual case.
                Ok(Err(e)) => tracing::debug!(error = %e, "runtime delete before a start"),
                Err(e) => tracing::warn!(error = %e, "runtime delete before a start"),
            }
        }
        let links = self.resolve_links(&c, &targets).await;
        match self
            .launch(&mut c, img.as_ref(), joined.as_ref(), &links)
            .await
        {
            Ok(started) => {
                let pid = started.pid;
                if let Err(e) = self.keep_stdio(&c, started).await {
                    tracing::warn!(error = %e, "cannot keep the container's terminal or stdin");
                }
                c.state = State {
                    status: Status::Running,
                    pid,
                    exit_code: 0,
                    started_at: Some(Utc::now()),
                    finished_at: None,
                    error: String::new(),
                    manually_stopped: false,
                    restart_count: c.state.restart_count,
                    releasing: false,
                    removing: false,
                    paused: false,
                };
                let saved = {
                    let mut st = self.state.lock().await;
                    self.save(&mut st, c.clone()).await
                };
                if let Err(e) = saved {
                    // Running without a record would outlive every later start and removal.
                    tracing::error!(error = %e, "cannot record the start; stopping the container again");
                    self.abandon(&mut c).await;
                    return Err(e);
                }
                self.watch(c.id.clone(), pid);
                self.container_event(&c, "start");
                tracing::debug!(pid, "started");
                Ok(())
            }
            Err(e) => {
                tracing::info!(error = %e, "start failed");
                self.cleanup(&mut c).await;
                c.state.error = e.to_string();
                if let EngineError::Exec { exit_code, .. } = &e {
                    c.state.exit_code = *exit_code;
                }
                if c.spec.auto_remove {
                    // As Docker: a container removed at its exit is removed when it cannot
                    // start, so nothing is left and whoever waits for its removal returns.
                    let code = c.state.exit_code;
                    self.discard(&c, Some(code)).await?;
                } else {
                    let mut st = self.state.lock().await;
                    self.save(&mut st, c).await?;
                }
                Err(e)
            }
        }
    }

    /// Ends and releases a container whose start could not be recorded.
    async fn abandon(&self, c: &mut Container) {
        if let Err(e) = self
            .runtime
            .signal(c.state.pid, nix::sys::signal::Signal::SIGKILL)
        {
            tracing::warn!(error = %e, "cannot end an unrecorded container");
        }
        self.cleanup(c).await;
    }

    /// Network, root filesystem, /etc files, bundle, runtime: returns the init PID.
    pub(super) async fn launch(
        &self,
        c: &mut Container,
        img: Option<&Image>,
        joined: Option<&Container>,
        links: &ResolvedLinks,
    ) -> Result<runtime::Started> {
        let dir = c.dir(&self.paths.containers);
        let mode = c.spec.network_mode.clone();
        let host_resolv = std::fs::read_to_string(&self.paths.host_resolv).unwrap_or_default();
        let (hosts_file, resolv_file, hostname_file) = (
            dir.join("hosts"),
            dir.join("resolv.conf"),
            dir.join("hostname"),
        );
        let mut netns: Option<PathBuf> = None;
        // The sandbox's commit, awaited just before the runtime puts a process in it: its
        // fsync overlaps the /etc files and the bundle.
        let mut sandbox_stored = None;
        let mut etc_dir = dir.clone();
        if let Some(t) = joined {
            // container: mode shares the target's namespace and its /etc files.
            c.hostname = t.hostname.clone();
            c.sandbox_key = t.sandbox_key.clone();
            if !t.sandbox_key.is_empty() {
                netns = Some(PathBuf::from(&t.sandbox_key));
            }
            etc_dir = t.dir(&self.paths.containers);
        } else if mode == "host" {
            c.hostname = std::fs::read_to_string("/proc/sys/kernel/hostname")
                .map(|s| s.trim().to_string())
                .unwrap_or_default();
            let hosts = std::fs::read_to_string(&self.paths.host_hosts).unwrap_or_default();
            std::fs::write(&hosts_file, hosts).map_err(io("write hosts"))?;
            std::fs::write(&resolv_file, &host_resolv).map_err(io("write resolv.conf"))?;
            c.sandbox_key = String::new();
        } else {
            // A fresh sandbox per start: the previous one may still be going away.
            let networks = c
                .spec
                .networks
                .iter()
                .enumerate()
                .map(|(i, (name, req))| {
                    // --mac-address is the first network's, as in Docker.
                    let mac = req
                        .mac
                        .as_deref()
                        .or((!c.spec.mac_address.is_empty() && i == 0)
                            .then_some(c.spec.mac_address.as_str()))
                        .and_then(parse_mac);
                    let opts = EndpointOptions {
                        owner: c.id.clone(),
                        name: c.name.clone(),
                        ipv4: req.ipv4,
                        ipv6: req.ipv6,
                        mac,
                        aliases: req.aliases.clone(),
                    };
                    (name.clone(), opts)
                })
                .collect();
            let dns = c.spec.dns.iter().filter_map(|d| d.parse().ok()).collect();
            let made = self
                .ctl
                .create_sandbox_with(&new_container_id(), SandboxOptions { dns, networks })
                .await?;
            let (sb, endpoints) = (made.sandbox, made.endpoints);
            sandbox_stored = Some(made.stored);
            c.sandbox_id = Some(sb.id.clone());
            c.sandbox_key = sb.path.display().to_string();
            netns = Some(sb.path.clone());
            let first_ip = endpoints
                .first()
                .and_then(|ep| ep.ipv4.map(|a| a.addr()).or(ep.ipv6.map(|a| a.addr())));
            let mut embedded = false;
            for ep in &endpoints {
                embedded |= !self.ctl.get(&ep.network_id).await?.predefined;
            }
            if !links.holes.is_empty() {
                self.ctl.open_links(&sb.id, &links.holes).await?;
            }
            let reqs = Self::port_requests(c, img);
            if !reqs.is_empty() {
                self.ctl.publish(&sb.id, &reqs).await?;
            }
            let gw = self.host_gateway().await;
            let extra: Vec<(String, IpAddr)> = c
                .spec
                .extra_hosts
                .iter()
                .map(|h| parse_extra_host(h, gw))
                .collect::<Result<_>>()?;
            let hosts = if mode == "none" {
                etcfiles::hosts_localhost_only()
            } else {
                etcfiles::hosts(&etcfiles::HostsSpec {
                    hostname: &c.hostname,
                    domainname: &c.spec.domainname,
                    own_ip: first_ip,
                    extra: &extra,
                    links: &links.hosts,
                })
            };
            std::fs::write(&hosts_file, hosts).map_err(io("write hosts"))?;
            let dns = if c.spec.dns.is_empty() {
                &self.dns
            } else {
                &c.spec.dns
            };
            let resolv = etcfiles::resolv_conf(
                embedded,
                &host_resolv,
                if embedded { &[] } else { dns },
                &c.spec.dns_search,
                &c.spec.dns_options,
            );
            std::fs::write(&resolv_file, resolv).map_err(io("write resolv.conf"))?;
        }
        if joined.is_none() {
            std::fs::write(&hostname_file, format!("{}\n", c.hostname))
                .map_err(io("write hostname"))?;
        }
        let lower = img
            .map(|i| image::rootfs(&self.paths.images, i))
            .ok_or_else(|| {
                EngineError::NotFound(format!("image {} of this container is gone", c.image_id))
            })?;
        let run = super::runopts::Resolved {
            opts: &c.spec.run,
            ids: super::runopts::resolve_user(&c.spec.run.user, &lower)?,
            groups: super::runopts::resolve_groups(&c.spec.run.kernel.group_add, &lower)?,
            mounts: c
                .spec
                .run
                .mounts
                .iter()
                .map(|m| match m.kind {
                    super::runopts::MountKind::Bind => (Some(PathBuf::from(&m.source)), m),
                    super::runopts::MountKind::Volume => (Some(self.volume_path(&m.source)), m),
                    super::runopts::MountKind::Tmpfs => (None, m),
                })
                .collect(),
            init: if c.spec.run.init {
                Some(super::runopts::init_binary()?)
            } else {
                None
            },
        };
        let root = runtime::Overlay {
            lower,
            upper: dir.join("upper"),
            work: dir.join("work"),
            target: dir.join("rootfs"),
        };
        let mut env = img.map(|i| i.env.clone()).unwrap_or_default();
        env.push(format!("HOSTNAME={}", c.hostname));
        env.extend(links.env.iter().cloned());
        if c.spec.tty {
            // As Docker: a terminal gets a TERM unless the user sets one.
            env.push("TERM=xterm".into());
        }
        for e in &c.spec.env {
            let key = e.split('=').next().unwrap_or_default();
            env.retain(|x| x.split('=').next() != Some(key));
            env.push(e.clone());
        }
        let args = c.args(img);
        if args.is_empty() {
            return Err(EngineError::BadRequest("no command specified".into()));
        }
        let arg0 = args[0].clone();
        let cwd = if c.spec.working_dir.is_empty() {
            img.map(|i| i.working_dir.clone()).unwrap_or_default()
        } else {
            c.spec.working_dir.clone()
        };
        bundle::write(
            &dir,
            &bundle::BundleSpec {
                args,
                env,
                cwd,
                hostname: c.hostname.clone(),
                domainname: c.spec.domainname.clone(),
                netns: netns.map(|p| self.runtime.ns_path(&p)).as_deref(),
                etc_files: vec![
                    (etc_dir.join("hosts"), "/etc/hosts"),
                    (etc_dir.join("resolv.conf"), "/etc/resolv.conf"),
                    (etc_dir.join("hostname"), "/etc/hostname"),
                ],
                terminal: c.spec.tty,
                cgroups_path: cgroups::container_path(self.runtime.cgroup_parent(), &c.id),
                run,
            },
        )?;
        if let Some(stored) = sandbox_stored {
            stored.durable().await?;
        }
        let runtime = self.runtime.clone();
        let req = runtime::RunRequest {
            id: c.id.clone(),
            bundle: dir,
            root,
            io: runtime::RunIo {
                tty: c.spec.tty,
                stdin: c.spec.open_stdin,
            },
        };
        match tokio::task::spawn_blocking(move || runtime.run(&req))
            .await
            .map_err(EngineError::task("start"))?
        {
            Ok(started) => Ok(started),
            Err(runtime::RuntimeError::Start(words)) => Err(exec_failure(&words, &arg0)),
            Err(e) => Err(e.into()),
        }
    }
}

/// A process the runtime could not start, as Docker reports it: a missing executable is 127,
/// one that cannot be executed 126 (the CLIs take the code from these words), anything else
/// the runtime's own words.
pub(super) fn exec_failure(words: &str, arg0: &str) -> EngineError {
    let lower = words.to_lowercase();
    let (code, cause) = if lower.contains("permission denied") {
        (126, "permission denied")
    } else if lower.contains("no such file or directory")
        || lower.contains("executable file not found")
        || lower.contains("not found in $path")
    {
        (127, "no such file or directory")
    } else {
        return EngineError::Runtime(runtime::RuntimeError::Start(words.to_string()));
    };
    let detail = if words.contains(cause) {
        words.to_string()
    } else {
        format!("{words}: exec: \"{arg0}\": {cause}")
    };
    EngineError::Exec {
        message: format!(
            "failed to create task for container: OCI runtime create failed: {detail}: unknown"
        ),
        exit_code: code,
    }
}
