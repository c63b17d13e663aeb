//! `GET /system/df`: the disk use of images, containers and volumes as Docker reports it (build
//! cache always empty: berth builds nothing). Sizes are measured: an image's bytes, a
//! container's writable layer, a volume's files.

use super::{ApiError, AppState};
use axum::extract::{Query, State};
use axum::Json;
use serde_json::{json, Value};
use std::collections::HashMap;

const TYPES: &[&str] = &["container", "image", "volume", "build-cache"];

pub async fn df(
    State(st): State<AppState>,
    Query(q): Query<Vec<(String, String)>>,
) -> Result<Json<Value>, ApiError> {
    let mut types = Vec::new();
    for (k, v) in &q {
        if k == "type" {
            if !TYPES.contains(&v.as_str()) {
                return Err(ApiError::bad_request(format!(
                    "invalid type {v}: allowed types are {}",
                    TYPES.join(", ")
                )));
            }
            types.push(v.as_str());
        }
    }
    let wants = |t: &str| types.is_empty() || types.contains(&t);
    // Every container, with sizes: they count images' and volumes' users too.
    let all = HashMap::from([("all".to_string(), "1".into()), ("size".into(), "1".into())]);
    let containers = super::container_list::list(State(st.clone()), Query(all))
        .await?
        .0;
    let mut out = json!({
        "LayersSize": 0,
        "Images": null,
        "Containers": null,
        "Volumes": null,
        "BuildCache": null,
    });
    if wants("image") {
        let mut layers = 0u64;
        let images: Vec<berth_api::image::ImageSummary> = st
            .engine
            .images()
            .await
            .iter()
            .map(|i| {
                layers += i.size;
                let users = containers.iter().filter(|c| c.image_id == i.id).count();
                let mut v = super::containers::image_summary(i);
                v.containers = users as i64;
                // Each image has a root filesystem of its own: nothing is shared.
                v.shared_size = 0;
                v
            })
            .collect();
        out["LayersSize"] = layers.into();
        out["Images"] = serde_json::to_value(&images)
            .map_err(|e| ApiError::internal(format!("encode images: {e}")))?;
    }
    if wants("container") {
        out["Containers"] = serde_json::to_value(&containers)
            .map_err(|e| ApiError::internal(format!("encode containers: {e}")))?;
    }
    if wants("volume") {
        let volumes = super::volumes::list(State(st.clone()), Query(HashMap::new()))
            .await?
            .0
            .volumes;
        let paths: Vec<_> = volumes
            .iter()
            .map(|v| st.engine.volume_path(&v.name))
            .collect();
        let sizes = tokio::task::spawn_blocking(move || {
            paths
                .iter()
                .map(|p| crate::engine::volumes::dir_bytes(p))
                .collect::<Vec<u64>>()
        })
        .await
        .map_err(|e| ApiError::internal(format!("measure volumes: {e}")))?;
        let mut list = Vec::with_capacity(volumes.len());
        for (v, size) in volumes.iter().zip(sizes) {
            let refs = containers
                .iter()
                .filter(|c| {
                    c.mounts
                        .iter()
                        .any(|m| m.typ == "volume" && m.name == v.name)
                })
                .count();
            let mut value = serde_json::to_value(v)
                .map_err(|e| ApiError::internal(format!("encode volume {}: {e}", v.name)))?;
            value["UsageData"] = json!({"Size": size, "RefCount": refs});
            list.push(value);
        }
        out["Volumes"] = list.into();
    }
    if wants("build-cache") {
        out["BuildCache"] = json!([]);
    }
    Ok(Json(out))
}
