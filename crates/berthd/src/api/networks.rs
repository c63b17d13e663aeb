//! `/networks`: list, inspect, create, remove, prune.

use super::{ApiError, AppState};
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use berth_api::network as api;
use berth_api::network_connect::{ConnectBody, DisconnectBody};
use berth_net::controller::CreateNetwork;
use berth_net::Network;
use chrono::SecondsFormat;
use std::collections::{BTreeMap, HashMap};

/// The API shape of a stored network.
pub fn to_api(n: &Network) -> api::Network {
    let config = n
        .subnets
        .iter()
        .map(|s| api::IpamConfig {
            subnet: s.subnet.to_string(),
            ip_range: s.ip_range.map(|r| r.to_string()).unwrap_or_default(),
            // Docker hides a gateway it chose for a user's subnet; berth always shows the one in use.
            gateway: s.gateway.to_string(),
            auxiliary_addresses: s
                .aux
                .iter()
                .map(|(k, v)| (k.clone(), v.to_string()))
                .collect(),
        })
        .collect();
    api::Network {
        name: n.name.clone(),
        id: n.id.clone(),
        created: n.created.to_rfc3339_opts(SecondsFormat::Nanos, true),
        scope: n.scope.clone(),
        driver: n.driver.name().into(),
        enable_ipv4: n.enable_ipv4,
        enable_ipv6: n.enable_ipv6,
        ipam: api::Ipam {
            driver: n.ipam_driver.clone(),
            options: if n.predefined {
                None
            } else {
                Some(n.ipam_options.clone())
            },
            config: Some(config),
        },
        internal: n.internal,
        attachable: n.attachable,
        ingress: false,
        config_from: api::ConfigReference::default(),
        config_only: false,
        containers: BTreeMap::new(),
        options: n.options.clone(),
        labels: n.labels.clone(),
    }
}

/// A network event: its name and driver, and the container for connect and disconnect.
fn network_event(st: &AppState, n: &Network, action: &str, container: Option<String>) {
    let mut attrs = BTreeMap::from([
        ("name".to_string(), n.name.clone()),
        ("type".to_string(), n.driver.name().to_string()),
    ]);
    if let Some(c) = container {
        attrs.insert("container".into(), c);
    }
    st.engine.events.emit("network", action, &n.id, attrs);
}

fn filters(q: &HashMap<String, String>) -> Result<api::Filters, ApiError> {
    match q.get("filters") {
        Some(raw) => api::parse_filters(raw).map_err(ApiError::bad_request),
        None => Ok(api::Filters::new()),
    }
}

pub async fn list(
    State(st): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Vec<api::Network>>, ApiError> {
    let nets = st.ctl.list(&filters(&q)?).await?;
    Ok(Json(nets.iter().map(to_api).collect()))
}

pub async fn inspect(
    State(st): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let net = st.ctl.get(&id).await?;
    let mut out = to_api(&net);
    for ep in st.ctl.network_endpoints(&net.id).await {
        out.containers.insert(
            ep.owner.clone(),
            api::EndpointResource {
                name: ep.name.clone(),
                endpoint_id: ep.id.clone(),
                mac_address: berth_net::endpoint::format_mac(&ep.mac),
                ipv4_address: ep.ipv4.map(|a| a.to_string()).unwrap_or_default(),
                ipv6_address: ep.ipv6.map(|a| a.to_string()).unwrap_or_default(),
            },
        );
    }
    let mut out = serde_json::to_value(out).map_err(|e| {
        ApiError::from(berth_net::NetError::InvalidParameter(format!(
            "cannot encode network {}: {e}",
            net.name
        )))
    })?;
    // A global network lists the hosts with endpoints on it, as Docker's classic overlay.
    if net.scope == "global" {
        let peers: Vec<serde_json::Value> = st
            .ctl
            .peers(&net.id)
            .await?
            .into_iter()
            .map(|(name, ip)| serde_json::json!({ "Name": name, "IP": ip }))
            .collect();
        out["Peers"] = serde_json::Value::Array(peers);
    }
    Ok(Json(out))
}

pub async fn connect(
    State(st): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    let b: ConnectBody = super::json_body(&body)?;
    let req = super::containers::network_request(b.endpoint_config.unwrap_or_default())?;
    st.engine.connect(&b.container, &id, req).await?;
    if let (Ok(n), Ok(c)) = (
        st.ctl.get(&id).await,
        st.engine.container(&b.container).await,
    ) {
        network_event(&st, &n, "connect", Some(c.id));
    }
    Ok(StatusCode::OK)
}

pub async fn disconnect(
    State(st): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    let b: DisconnectBody = super::json_body(&body)?;
    let c = st.engine.container(&b.container).await.ok();
    st.engine.disconnect(&b.container, &id, b.force).await?;
    if let (Ok(n), Some(c)) = (st.ctl.get(&id).await, c) {
        network_event(&st, &n, "disconnect", Some(c.id));
    }
    Ok(StatusCode::OK)
}

pub async fn create(State(st): State<AppState>, body: Bytes) -> Result<Response, ApiError> {
    let req = berth_api::network_create::decode(&body).map_err(ApiError::bad_request)?;
    let net = st.ctl.create(CreateNetwork::from(req)).await?;
    network_event(&st, &net, "create", None);
    Ok((
        StatusCode::CREATED,
        Json(api::NetworkCreateResponse {
            id: net.id,
            warning: String::new(),
        }),
    )
        .into_response())
}

pub async fn remove(
    State(st): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let net = st.ctl.get(&id).await?;
    st.ctl.remove(&id).await?;
    network_event(&st, &net, "destroy", None);
    Ok(StatusCode::NO_CONTENT)
}

pub async fn prune(
    State(st): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<api::NetworkPruneResponse>, ApiError> {
    let removed = st.ctl.prune(&filters(&q)?).await?;
    Ok(Json(api::NetworkPruneResponse {
        networks_deleted: Some(removed),
    }))
}
