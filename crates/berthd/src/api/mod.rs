//! The Docker Engine API over HTTP: routing, version prefixes, Docker's headers, error bodies.

mod archive;
mod attach;
mod berth;
mod container_list;
mod container_ops;
mod containers;
mod error;
mod events;
mod exec;
mod filters;
mod health;
mod image_ops;
mod image_path;
mod log_options;
mod logs;
mod networks;
mod ports;
mod pull;
mod run_options;
mod stream;
mod system;
mod system_df;
mod volumes;

pub use error::ApiError;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, Method, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use berth_api::{api_minor, API_VERSION, MIN_API_VERSION};
use berth_net::Controller;
use std::path::PathBuf;
use std::sync::Arc;

/// What handlers share.
#[derive(Clone)]
pub struct AppState {
    pub ctl: Arc<Controller>,
    pub data_root: PathBuf,
    pub daemon_id: String,
    pub ip_forward: bool,
    pub pools: Vec<berth_net::ipam::PoolSpec>,
    pub engine: Arc<crate::engine::Engine>,
    pub containers_dir: PathBuf,
    /// The cluster membership (disabled on a single host); `.cluster()` is the etcd handle.
    pub cluster: Arc<crate::membership::Membership>,
    /// The OCI runtime's name (daemon.json `default-runtime`), which `--runtime` may name.
    pub runtime_name: String,
}

/// The routes, without version prefixes (the outer layer strips them).
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/_ping", get(system::ping).head(system::ping))
        .route("/version", get(system::version))
        .route("/info", get(system::info))
        .route("/events", get(events::events))
        .route("/networks", get(networks::list))
        .route("/networks/create", post(networks::create))
        .route("/networks/prune", post(networks::prune))
        .route(
            "/networks/{id}",
            get(networks::inspect).delete(networks::remove),
        )
        .route("/networks/{id}/connect", post(networks::connect))
        .route("/networks/{id}/disconnect", post(networks::disconnect))
        .route("/volumes", get(volumes::list))
        .route("/volumes/create", post(volumes::create))
        .route("/volumes/prune", post(volumes::prune))
        .route(
            "/volumes/{name}",
            get(volumes::inspect).delete(volumes::remove),
        )
        .route("/containers/create", post(containers::create))
        .route("/containers/json", get(container_list::list))
        .route("/containers/prune", post(container_list::prune))
        .route("/containers/{id}/json", get(containers::inspect))
        .route("/containers/{id}/start", post(containers::start))
        .route("/containers/{id}/stop", post(containers::stop))
        .route("/containers/{id}/restart", post(containers::restart))
        .route("/containers/{id}/kill", post(containers::kill))
        .route("/containers/{id}/wait", post(containers::wait))
        .route("/containers/{id}/logs", get(containers::logs))
        .route(
            "/containers/{id}",
            axum::routing::delete(containers::remove),
        )
        .route("/containers/{id}/exec", post(exec::create))
        .route("/containers/{id}/attach", post(attach::attach))
        .route("/containers/{id}/resize", post(containers::resize))
        .route(
            "/containers/{id}/archive",
            get(archive::get)
                .head(archive::stat)
                .put(archive::put)
                .layer(axum::extract::DefaultBodyLimit::disable()),
        )
        .route("/exec/{id}/resize", post(exec::resize))
        .route("/exec/{id}/start", post(exec::start))
        .route("/exec/{id}/json", get(exec::inspect))
        // Image archives are large; every other body has JSON_BODY_LIMIT.
        .route(
            "/images/create",
            post(containers::image_create).layer(axum::extract::DefaultBodyLimit::disable()),
        )
        .route(
            "/images/load",
            post(containers::image_load).layer(axum::extract::DefaultBodyLimit::disable()),
        )
        .route("/images/json", get(containers::images))
        .route("/images/{name}/json", get(containers::image_inspect))
        .route(
            "/images/{name}",
            axum::routing::delete(containers::image_remove),
        )
        .route("/containers/{id}/rename", post(container_ops::rename))
        .route("/containers/{id}/pause", post(container_ops::pause))
        .route("/containers/{id}/unpause", post(container_ops::unpause))
        .route("/containers/{id}/top", get(container_ops::top))
        .route("/containers/{id}/stats", get(container_ops::stats))
        .route("/images/{name}/tag", post(image_ops::tag))
        .route("/images/prune", post(image_ops::prune))
        .route("/images/get", get(image_ops::save_many))
        .route("/images/{name}/get", get(image_ops::save_one))
        .route("/system/df", get(system_df::df))
        .route("/berth/topology", get(berth::topology))
        .route("/berth/topology/stream", get(berth::topology_stream))
        .route("/berth/check", get(berth::check))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
        .layer(axum::extract::DefaultBodyLimit::max(JSON_BODY_LIMIT))
        .layer(axum::middleware::from_fn(docker_headers))
}

/// Decodes a JSON request body; a malformed one is a 400 naming the problem.
pub fn json_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("invalid JSON in request body: {e}")))
}

/// The largest request body outside the image routes: a container's create body with a
/// large environment stays well below it.
pub const JSON_BODY_LIMIT: usize = 2 * 1024 * 1024;

async fn not_found(method: Method, uri: Uri) -> ApiError {
    ApiError::not_found(format!("page not found: {method} {}", uri.path()))
}

async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    ApiError {
        status: axum::http::StatusCode::METHOD_NOT_ALLOWED,
        message: format!("method {method} not allowed on {}", uri.path()),
    }
}

/// Adds the headers the docker CLI reads to negotiate (`Api-Version`, `Ostype`, `Server`).
/// Also gives every error Docker's JSON body: axum's own refusals (an oversized body, a bad
/// query string) answer in plain text.
async fn docker_headers(req: Request, next: Next) -> Response {
    use tracing::Instrument;
    // A span per request, so that every line it logs (engine and network layer included)
    // says which request it belongs to.
    let span = tracing::info_span!(
        "request",
        id = rand::random::<u32>(),
        method = %req.method(),
        path = %req.uri().path()
    );
    let started = std::time::Instant::now();
    let mut resp = error::json_error_body(next.run(req).instrument(span.clone()).await).await;
    // With the API's debug log on, one line per request with its status and how long berthd
    // took to answer (streams: until their headers), which is how compose's calls were timed.
    span.in_scope(|| {
        tracing::debug!(
            status = resp.status().as_u16(),
            micros = started.elapsed().as_micros() as u64,
            "answered"
        )
    });
    let h = resp.headers_mut();
    h.insert("Api-Version", HeaderValue::from_static(API_VERSION));
    h.insert("Ostype", HeaderValue::from_static("linux"));
    h.insert("Docker-Experimental", HeaderValue::from_static("false"));
    h.insert(
        "Server",
        HeaderValue::from_static(concat!("berth/", env!("CARGO_PKG_VERSION"), " (linux)")),
    );
    resp
}

/// Strips a `/v1.xx` prefix before routing, refusing versions berth does not speak.
pub async fn strip_version(mut req: Request<Body>, next: Next) -> Response {
    let path = req.uri().path();
    if let Some(rest) = path.strip_prefix("/v") {
        let (version, tail) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        if let Some(minor) = api_minor(version) {
            let min = api_minor(MIN_API_VERSION).unwrap_or(24);
            let max = api_minor(API_VERSION).unwrap_or(51);
            if minor < min {
                return ApiError::bad_request(format!(
                    "client version {version} is too old. Minimum supported API version is {MIN_API_VERSION}, please upgrade your client to a newer version"
                ))
                .into_response();
            }
            if minor > max {
                return ApiError::bad_request(format!(
                    "client version {version} is too new. Maximum supported API version is {API_VERSION}"
                ))
                .into_response();
            }
            let tail = if tail.is_empty() { "/" } else { tail };
            let new = match req.uri().query() {
                Some(q) => format!("{tail}?{q}"),
                None => tail.to_string(),
            };
            match new.parse::<Uri>() {
                Ok(uri) => *req.uri_mut() = uri,
                Err(_) => {
                    return ApiError::bad_request(format!("invalid path {path}")).into_response()
                }
            }
        }
    }
    let method = req.method().clone();
    image_path::rewrite(&method, req.uri_mut());
    next.run(req).await
}
