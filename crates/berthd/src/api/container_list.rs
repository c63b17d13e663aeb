//! `GET /containers/json`: the summaries `docker ps` shows, with Docker's filters, `limit` and
//! `size`; and `NetworkSettings.Networks`, shared with inspect.

use super::filters::{Filters, CONTAINER_KEYS};
use super::{ApiError, AppState};
use crate::engine::image::Image;
use crate::engine::{Container, Status};
use axum::extract::{Query, State};
use axum::Json;
use berth_api::answers::ContainerPruneReport;
use berth_api::container::{
    ContainerSummary, EndpointInfo, EndpointIpam, LegacyAddresses, SummaryHostConfig,
    SummaryNetworks,
};
use berth_net::controller::SandboxesView;
use chrono::{DateTime, Utc};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

fn human_since(t: DateTime<Utc>) -> String {
    let s = (Utc::now() - t).num_seconds().max(0);
    match s {
        0 => "Less than a second".into(),
        1 => "1 second".into(),
        2..=59 => format!("{s} seconds"),
        60..=119 => "About a minute".into(),
        120..=3599 => format!("{} minutes", s / 60),
        3600..=7199 => "About an hour".into(),
        _ => format!("{} hours", s / 3600),
    }
}

/// Docker's health status of a container: "none" without a healthcheck (or before its first
/// run), else its run's.
pub fn health_status(st: &AppState, c: &Container) -> &'static str {
    st.engine
        .health(&c.id)
        .map(|h| h.status.as_str())
        .unwrap_or("none")
}

fn status_text(st: &AppState, c: &Container) -> String {
    if c.state.removing {
        return "Removal In Progress".into();
    }
    match c.state.status {
        Status::Created => "Created".into(),
        Status::Running => {
            let up = format!(
                "Up {}",
                human_since(c.state.started_at.unwrap_or(c.created))
            );
            let up = match health_status(st, c) {
                "none" => up,
                "starting" => format!("{up} (health: starting)"),
                h => format!("{up} ({h})"),
            };
            if st.engine.is_paused(&c.id) {
                format!("{up} (Paused)")
            } else {
                up
            }
        }
        Status::Exited => format!(
            "Exited ({}) {} ago",
            c.state.exit_code,
            human_since(c.state.finished_at.unwrap_or(c.created))
        ),
    }
}

/// `NetworkSettings.Networks` of a container (from its endpoints while it has a sandbox, from
/// what it asked for otherwise, so that a created container shows its networks as Docker's
/// does), and the legacy top-level fields of the default bridge.
pub async fn networks(
    st: &AppState,
    c: &Container,
) -> (BTreeMap<String, EndpointInfo>, LegacyAddresses) {
    let view = st.engine.ctl.sandboxes_view(c.sandbox_id.as_deref()).await;
    networks_in(&view, c)
}

/// `networks` from a view of the network layer taken before.
fn networks_in(
    view: &SandboxesView,
    c: &Container,
) -> (BTreeMap<String, EndpointInfo>, LegacyAddresses) {
    let mut out = BTreeMap::new();
    let mut legacy = LegacyAddresses::default();
    let short = c.id[..12].to_string();
    let Some(sb) = &c.sandbox_id else {
        for (name, req) in &c.spec.networks {
            let net = view.network(name);
            let predefined = net.is_none_or(|n| n.predefined);
            let mut aliases = req.aliases.clone();
            if !predefined {
                aliases.push(short.clone());
            }
            let key = net.as_ref().map(|n| n.name.clone()).unwrap_or(name.clone());
            out.insert(
                key,
                EndpointInfo {
                    ipam_config: asked(req.ipv4, req.ipv6),
                    aliases: (!predefined).then_some(aliases),
                    mac_address: req.mac.clone().unwrap_or_default(),
                    network_id: net.as_ref().map(|n| n.id.clone()).unwrap_or_default(),
                    ..Default::default()
                },
            );
        }
        return (out, legacy);
    };
    for ep in view.endpoints(sb) {
        let Some(net) = view.network(&ep.network_id) else {
            continue;
        };
        let mut aliases = ep.aliases.clone();
        let mut dns_names = vec![c.name.clone()];
        dns_names.extend(aliases.iter().cloned());
        dns_names.push(short.clone());
        if !net.predefined {
            aliases.push(short.clone());
        }
        let info = EndpointInfo {
            ipam_config: asked(ep.requested4, ep.requested6),
            links: None,
            aliases: (!net.predefined).then_some(aliases),
            mac_address: crate::engine::Engine::mac_text(&ep.mac),
            driver_opts: None,
            network_id: net.id.clone(),
            endpoint_id: ep.id.clone(),
            gateway: ep.gateway4.map(|g| g.to_string()).unwrap_or_default(),
            ip_address: ep.ipv4.map(|a| a.addr().to_string()).unwrap_or_default(),
            ip_prefix_len: ep.ipv4.map(|a| a.prefix_len()).unwrap_or(0),
            ipv6_gateway: ep.gateway6.map(|g| g.to_string()).unwrap_or_default(),
            global_ipv6_address: ep.ipv6.map(|a| a.addr().to_string()).unwrap_or_default(),
            global_ipv6_prefix_len: ep.ipv6.map(|a| a.prefix_len()).unwrap_or(0),
            dns_names: (!net.predefined).then_some(dns_names),
        };
        if net.name == "bridge" && net.predefined {
            legacy = info.legacy();
        }
        out.insert(net.name.clone(), info);
    }
    (out, legacy)
}

/// The addresses an endpoint asked for, if any, as the API shows them.
fn asked(v4: Option<std::net::IpAddr>, v6: Option<std::net::IpAddr>) -> Option<EndpointIpam> {
    let text = |a: Option<std::net::IpAddr>| a.map(|x| x.to_string()).unwrap_or_default();
    match (v4, v6) {
        (None, None) => None,
        (a, b) => Some(EndpointIpam {
            ipv4_address: text(a),
            ipv6_address: text(b),
            ..Default::default()
        }),
    }
}

/// Bytes of regular files under `dir` (the container's writable layer), not following links.
fn dir_size(dir: &Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            match e.metadata() {
                Ok(m) if m.is_dir() => stack.push(e.path()),
                Ok(m) if m.is_file() => total += m.len(),
                _ => {}
            }
        }
    }
    total
}

struct Row {
    value: ContainerSummary,
    /// (name, ID) of each network it is on or asks for.
    networks: Vec<(String, String)>,
}

fn summary(
    st: &AppState,
    view: &SandboxesView,
    c: &Container,
    img: Option<&Image>,
    size: bool,
) -> Row {
    let (nets, _) = networks_in(view, c);
    let exposed = crate::engine::Engine::exposed_ports(c, img);
    let published = c
        .sandbox_id
        .as_deref()
        .map(|sb| view.ports(sb))
        .unwrap_or_default();
    let networks = nets
        .iter()
        .map(|(n, v)| (n.clone(), v.network_id.clone()))
        .collect();
    let (size_rw, size_root_fs) = if size {
        let rw = dir_size(&st.containers_dir.join(&c.id).join("upper"));
        (Some(rw), Some(rw + img.map(|i| i.size).unwrap_or(0)))
    } else {
        (None, None)
    };
    let value = ContainerSummary {
        id: c.id.clone(),
        names: vec![format!("/{}", c.name)],
        image: c.spec.image.clone(),
        image_id: c.image_id.clone(),
        command: c.args(img).join(" "),
        created: c.created.timestamp(),
        ports: super::ports::summary_ports(&exposed, published),
        labels: c.spec.labels.clone(),
        state: if st.engine.is_paused(&c.id) {
            "paused".to_string()
        } else {
            c.state.name().to_string()
        },
        status: status_text(st, c),
        host_config: SummaryHostConfig {
            network_mode: c.spec.network_mode.clone(),
        },
        network_settings: SummaryNetworks { networks: nets },
        mounts: super::volumes::mounts(st, c),
        size_rw,
        size_root_fs,
    };
    Row { value, networks }
}

/// What the filters name, resolved once per request.
struct Resolved {
    before: Option<DateTime<Utc>>,
    since: Option<DateTime<Utc>>,
    ancestors: Vec<String>,
}

async fn resolve(st: &AppState, f: &Filters) -> Result<Resolved, ApiError> {
    let mut times = [None, None];
    for (i, key) in ["before", "since"].into_iter().enumerate() {
        for v in f.get(key) {
            let c = st.engine.container(v).await?;
            times[i] = Some(c.created);
        }
    }
    let mut ancestors = Vec::new();
    for v in f.get("ancestor") {
        // An image that does not exist matches nothing, as Docker's.
        if let Ok(i) = st.engine.image(v).await {
            ancestors.push(i.id);
        }
    }
    Ok(Resolved {
        before: times[0],
        since: times[1],
        ancestors,
    })
}

fn keep(
    st: &AppState,
    f: &Filters,
    r: &Resolved,
    c: &Container,
    img: Option<&Image>,
    row: &Row,
) -> bool {
    let state = if st.engine.is_paused(&c.id) {
        "paused"
    } else {
        c.state.name()
    };
    let name = c.name.as_str();
    let slashed = format!("/{name}");
    let exited_ok = !f.has("exited")
        || (c.state.status == Status::Exited
            && f.get("exited")
                .iter()
                .any(|v| v.parse::<i32>().ok() == Some(c.state.exit_code)));
    let mut published: Vec<_> = c
        .spec
        .ports
        .iter()
        .map(|p| (p.container_port, p.proto))
        .collect();
    let exposed = crate::engine::Engine::exposed_ports(c, img);
    if c.spec.publish_all {
        published.extend(exposed.iter().copied());
    }
    f.regex("name", &[name, &slashed])
        && f.regex("id", &[&c.id])
        && f.labels(&c.spec.labels)
        && f.any("status", |s| s == state)
        && exited_ok
        && f.any("health", |h| h == health_status(st, c))
        && f.any("network", |n| {
            row.networks
                .iter()
                .any(|(name, id)| name == n || (!id.is_empty() && id.starts_with(n)))
        })
        && (!f.has("ancestor") || r.ancestors.contains(&c.image_id))
        && r.before.is_none_or(|t| c.created < t)
        && r.since.is_none_or(|t| c.created > t)
        && f.ports("publish", &published)
        && f.ports("expose", &exposed)
        // berth runs no swarm tasks.
        && f.bool("is-task").is_none_or(|t| !t)
        && f.any("volume", |v| {
            c.spec.run.mounts.iter().any(|m| m.source == v || m.target == v)
        })
        && f.any("isolation", |i| i == "default")
}

pub async fn list(
    State(st): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Vec<ContainerSummary>>, ApiError> {
    let on = |k: &str| matches!(q.get(k).map(String::as_str), Some("1" | "true" | "True"));
    let f = Filters::from_query(&q, CONTAINER_KEYS)?;
    let limit = match q.get("limit").map(String::as_str) {
        None | Some("") => None,
        Some(v) => match v.parse::<i64>() {
            Ok(n) if n > 0 => Some(n as usize),
            Ok(_) => None,
            Err(_) => {
                return Err(ApiError::bad_request(format!(
                    "invalid limit {v}: expected a number"
                )))
            }
        },
    };
    // As Docker's: a status filter or a limit lists stopped containers too.
    let all = on("all") || f.has("status") || limit.is_some();
    let r = resolve(&st, &f).await?;
    let mut out = Vec::new();
    let containers = st.engine.containers(all).await;
    // One copy of the images and one of the network layer per listing, and none when nothing
    // listed needs them: nothing below waits for a lock, so a listing does not queue behind
    // starts and removals once per container.
    let images = if containers.is_empty() {
        Default::default()
    } else {
        st.engine.images_by_id().await
    };
    let needs_network = containers
        .iter()
        .any(|c| c.sandbox_id.is_some() || !c.spec.networks.is_empty());
    let view = if needs_network {
        st.engine
            .ctl
            .sandboxes_view(containers.iter().filter_map(|c| c.sandbox_id.as_deref()))
            .await
    } else {
        SandboxesView::default()
    };
    for c in &containers {
        if limit.is_some_and(|n| out.len() >= n) {
            break;
        }
        let img = images.get(&c.image_id);
        let row = summary(&st, &view, c, img, on("size"));
        if keep(&st, &f, &r, c, img, &row) {
            out.push(row.value);
        }
    }
    Ok(Json(out))
}

/// `POST /containers/prune`: every stopped container (created or exited) that the filters keep
/// (`until`, `label`, `label!`), removed as `rm` removes it.
pub async fn prune(
    State(st): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<ContainerPruneReport>, ApiError> {
    let f = Filters::from_query(&q, &["until", "label", "label!"])?;
    let until = match f.get("until").first() {
        Some(v) => Some(super::filters::parse_time("until", v)?),
        None => None,
    };
    let mut deleted = Vec::new();
    let mut reclaimed = 0u64;
    for c in st.engine.containers(true).await {
        if c.state.status == Status::Running
            || until.is_some_and(|t| c.created >= t)
            || !f.labels(&c.spec.labels)
            || f.labels_denied(&c.spec.labels)
        {
            continue;
        }
        let size = dir_size(&st.containers_dir.join(&c.id).join("upper"));
        match st.engine.remove(&c.id, false).await {
            Ok(()) => {
                deleted.push(c.id.clone());
                reclaimed += size;
            }
            // Started or removed meanwhile: not this prune's to take.
            Err(e) => tracing::debug!(container = %c.name, error = %e, "not pruned"),
        }
    }
    Ok(Json(ContainerPruneReport {
        containers_deleted: deleted,
        space_reclaimed: reclaimed,
    }))
}
