//! `/volumes`: create, list (with Docker's filters), inspect, remove, prune; and the `Mounts`
//! of a container as inspect and list show them.

use super::filters::Filters;
use super::{ApiError, AppState};
use crate::engine::runopts::MountKind;
use crate::engine::volumes::Volume;
use crate::engine::Container;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use berth_api::volume as api;
use chrono::SecondsFormat;
use std::collections::HashMap;

const LIST_KEYS: &[&str] = &["dangling", "driver", "label", "name"];
const PRUNE_KEYS: &[&str] = &["all", "label"];

fn to_api(st: &AppState, v: &Volume) -> api::Volume {
    api::Volume {
        name: v.name.clone(),
        driver: "local".into(),
        mountpoint: st.engine.volume_path(&v.name).display().to_string(),
        created_at: v.created.to_rfc3339_opts(SecondsFormat::Secs, true),
        labels: v.labels.clone(),
        scope: "local".into(),
        options: Default::default(),
    }
}

/// A container's mounts, as Docker's `Mounts`.
pub fn mounts(st: &AppState, c: &Container) -> Vec<api::MountPoint> {
    c.spec
        .run
        .mounts
        .iter()
        .map(|m| {
            let (name, source, driver) = match m.kind {
                MountKind::Volume => (
                    m.source.clone(),
                    st.engine.volume_path(&m.source).display().to_string(),
                    "local".to_string(),
                ),
                MountKind::Bind => (String::new(), m.source.clone(), String::new()),
                MountKind::Tmpfs => (String::new(), String::new(), String::new()),
            };
            api::MountPoint {
                typ: m.kind.as_str().into(),
                name,
                source,
                destination: m.target.clone(),
                driver,
                mode: if m.kind == MountKind::Volume {
                    "z".into()
                } else {
                    String::new()
                },
                rw: !m.read_only,
                propagation: if m.kind == MountKind::Bind {
                    "rprivate".into()
                } else {
                    String::new()
                },
            }
        })
        .collect()
}

pub async fn create(State(st): State<AppState>, body: Bytes) -> Result<Response, ApiError> {
    let req: api::VolumeCreateRequest = if body.is_empty() {
        Default::default()
    } else {
        super::json_body(&body)?
    };
    // Cluster volumes (`--scope`, `--sharing`, `--availability`, ...) are swarm's.
    super::run_options::refuse_unmodelled(&req.unmodelled, &[], "")?;
    let v = st
        .engine
        .volume_create(Some(req.name), &req.driver, &req.driver_opts, req.labels)
        .await?;
    Ok((StatusCode::CREATED, Json(to_api(&st, &v))).into_response())
}

pub async fn list(
    State(st): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<api::VolumeList>, ApiError> {
    let f = Filters::from_query(&q, LIST_KEYS)?;
    let used = st.engine.volumes_in_use().await;
    let volumes = st
        .engine
        .volumes()
        .await?
        .into_iter()
        .filter(|v| {
            f.any("name", |n| v.name.contains(n))
                && f.any("driver", |d| d == "local")
                && f.labels(&v.labels)
                && f.bool("dangling")
                    .is_none_or(|d| d != used.contains(&v.name))
        })
        .map(|v| to_api(&st, &v))
        .collect();
    Ok(Json(api::VolumeList {
        volumes,
        warnings: vec![],
    }))
}

pub async fn inspect(
    State(st): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<api::Volume>, ApiError> {
    Ok(Json(to_api(&st, &st.engine.volume(&name).await?)))
}

pub async fn remove(
    State(st): State<AppState>,
    Path(name): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<StatusCode, ApiError> {
    let force = matches!(
        q.get("force").map(String::as_str),
        Some("1" | "true" | "True")
    );
    st.engine.volume_remove(&name, force).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// As Docker's (API 1.42+): anonymous volumes only, unless `all=true`.
pub async fn prune(
    State(st): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<api::VolumePruneResponse>, ApiError> {
    let f = Filters::from_query(&q, PRUNE_KEYS)?;
    let all = f.any("all", |v| matches!(v, "true" | "1")) && f.has("all");
    let (volumes_deleted, space_reclaimed) = st
        .engine
        .volume_prune(|v| (!all && !v.anonymous) || !f.labels(&v.labels))
        .await?;
    Ok(Json(api::VolumePruneResponse {
        volumes_deleted,
        space_reclaimed,
    }))
}
