//! berth's own API, beside Docker's, under `/berth/`:
//!
//! - `GET /berth/topology`: hosts, networks, containers, endpoints, ports and links (JSON).
//! - `GET /berth/topology/stream`: the same as server-sent events, one `topology` event at once
//!   and another whenever an event of the daemon (`/events`) changed it.
//! - `GET /berth/check?src=A&dst=B[&port=P[/PROTO]][&probe=1]`: the reachability verdict,
//!   worked out over berth's records and over the kernel's state read back, with any
//!   disagreement between them; 404 when a container named does not exist, 400 on a bad port.

use super::{ApiError, AppState};
use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use berth_net::reach::{self, observe, Facts, Party, Query as Question, Topology};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::OnceLock;
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;

/// One netlink connection for reading interfaces, made on first use.
fn observer() -> Result<&'static observe::Observer, String> {
    static OBS: OnceLock<Result<observe::Observer, String>> = OnceLock::new();
    OBS.get_or_init(|| observe::Observer::connect().map_err(|e| format!("netlink: {e}")))
        .as_ref()
        .map_err(Clone::clone)
}

/// The host's addresses outside berth's bridges: what `outside` connects to.
async fn host_addrs(topo: &Topology) -> Vec<IpAddr> {
    let gateways: Vec<IpAddr> = topo.networks.iter().flat_map(|n| n.gateways()).collect();
    let all = match observer() {
        Ok(o) => o.addresses().await.unwrap_or_else(|e| {
            tracing::warn!(error = %e, "cannot list the host's addresses");
            Vec::new()
        }),
        Err(e) => {
            tracing::warn!(error = %e, "cannot list the host's addresses");
            Vec::new()
        }
    };
    all.into_iter().filter(|a| !gateways.contains(a)).collect()
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

async fn full_topology(st: &AppState) -> (Topology, berth_net::firewall::FirewallState) {
    let (mut topo, fw) = st.engine.reach_state().await;
    topo.host.name = hostname();
    topo.host.addrs = host_addrs(&topo).await;
    topo.host.br_netfilter = observe::br_netfilter();
    (topo, fw)
}

pub async fn topology(State(st): State<AppState>) -> Json<Topology> {
    Json(full_topology(&st).await.0)
}

/// How long a quiet stream waits before a comment, so a client that went away is noticed.
const KEEP_ALIVE: Duration = Duration::from_secs(10);

/// Server-sent events: the topology now, then again after each event of the daemon's event
/// stream (containers, networks) that changed it. It follows the events rather than polling:
/// a quiet daemon sends nothing but a comment now and then.
pub async fn topology_stream(State(st): State<AppState>) -> Response {
    // Subscribed before the first snapshot: a change made in between is an event after it.
    let (_, rx) = st.engine.events.subscribe(None);
    let stream = futures::stream::unfold(
        (st, rx, String::new(), true),
        |(st, mut rx, last, mut stale)| async move {
            loop {
                if stale {
                    let text =
                        serde_json::to_string(&full_topology(&st).await.0).unwrap_or_default();
                    if text != last {
                        let event = format!("event: topology\ndata: {text}\n\n");
                        return Some((Ok::<_, std::io::Error>(event), (st, rx, text, false)));
                    }
                }
                match tokio::time::timeout(KEEP_ALIVE, rx.recv()).await {
                    // Missed events (a slow client) still mean "something changed".
                    Ok(Ok(_)) | Ok(Err(RecvError::Lagged(_))) => stale = true,
                    Ok(Err(RecvError::Closed)) => return None,
                    Err(_) => {
                        return Some((Ok(": keep-alive\n\n".to_string()), (st, rx, last, false)))
                    }
                }
            }
        },
    );
    (
        [
            (header::CONTENT_TYPE, "text/event-stream"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        Body::from_stream(stream),
    )
        .into_response()
}

fn flag(q: &HashMap<String, String>, key: &str) -> Result<bool, ApiError> {
    match q.get(key).map(String::as_str) {
        None | Some("") | Some("0") | Some("false") => Ok(false),
        Some("1") | Some("true") => Ok(true),
        Some(other) => Err(ApiError::bad_request(format!(
            "invalid {key}={other}: use 1 or 0"
        ))),
    }
}

pub async fn check(
    State(st): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<reach::Report>, ApiError> {
    let get = |k: &str| -> Result<String, ApiError> {
        match q.get(k).map(|s| s.trim()).filter(|s| !s.is_empty()) {
            Some(v) => Ok(v.to_string()),
            None => Err(ApiError::bad_request(format!(
                "{k} is required: a container (name or ID), host, outside, or an IP address"
            ))),
        }
    };
    let (src, dst) = (get("src")?, get("dst")?);
    let port_text = q.get("port").filter(|p| !p.is_empty()).cloned();
    let port = match &port_text {
        Some(p) => Some(reach::parse_port(p).map_err(ApiError::bad_request)?),
        None => None,
    };
    let probe = flag(&q, "probe")?;
    let (topo, fw) = full_topology(&st).await;
    let question = Question {
        src: Party::parse(&src),
        dst: Party::parse(&dst),
        port,
    };
    // Unknown names are the caller's mistake: 404 before any kernel work.
    for p in [&question.src, &question.dst] {
        if let Party::Container(name) = p {
            topo.knows(name).map_err(ApiError::not_found)?;
        }
    }
    let model = Facts::from_model(&fw);
    let observed = if topo.host.firewall {
        match observer() {
            Ok(o) => observe::for_question(o, &topo, &model, &question)
                .await
                .map(Some),
            Err(e) => Err(e),
        }
    } else {
        Ok(None)
    };
    let mut report = reach::check(
        &topo,
        &model,
        observed.as_ref().map(Option::as_ref).map_err(Clone::clone),
        &question,
        (&src, &dst, port_text.as_deref()),
    )
    .map_err(ApiError::not_found)?;
    if probe {
        report.probe = Some(run_probe(&topo, &question, &report).await);
    }
    Ok(Json(report))
}

async fn run_probe(topo: &Topology, q: &Question, r: &reach::Report) -> reach::ProbeResult {
    let none = |why: &str| reach::ProbeResult {
        method: "none".into(),
        target: String::new(),
        outcome: format!("not probed: {why}"),
        reachable: None,
        agrees: None,
    };
    let netns = match &q.src {
        Party::Host => None,
        Party::Outside => return none("berth has no namespace on the outside machine"),
        Party::Container(name) => match topo.container(name) {
            Ok(c) if c.network_mode == "host" => None,
            Ok(c) => match &c.sandbox_key {
                Some(k) => Some(std::path::PathBuf::from(k)),
                None => return none(&format!("container {} is not running", c.name)),
            },
            Err(_) if !topo.remote(name).0.is_empty() => {
                return none(&format!("{name} runs on another host: probe from there"))
            }
            Err(e) => return none(&e),
        },
        Party::Ip(ip) => match topo
            .containers
            .iter()
            .find(|c| c.endpoints.iter().any(|e| e.addrs().any(|a| a == *ip)))
        {
            Some(c) => c.sandbox_key.as_ref().map(std::path::PathBuf::from),
            None => return none("the source address is not a container's"),
        },
    };
    // Connect where the verdict says traffic goes before any DNAT: the address asked for.
    let target = match (&q.dst, r.target) {
        (Party::Ip(ip), _) => *ip,
        (Party::Host, _) => topo
            .host
            .addrs
            .first()
            .copied()
            .unwrap_or(IpAddr::from([127, 0, 0, 1])),
        (_, Some((ip, _))) => ip,
        (_, None) => return none("the verdict names no address to connect to"),
    };
    let port = q.port;
    let mut result = tokio::task::spawn_blocking(move || {
        reach::probe::probe(netns, target, port, Duration::from_millis(1500))
    })
    .await
    .unwrap_or_else(|e| none(&format!("probe task failed: {e}")));
    result.agrees = result.reachable.map(|ok| ok == r.reachable);
    result
}
