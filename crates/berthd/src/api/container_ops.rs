//! `/containers/{id}/rename`, `pause`, `unpause`, `top` and `stats`.

use super::{ApiError, AppState};
use crate::engine::stats::Sample;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use berth_api::answers::TopResponse;
use berth_api::stats::{
    BlkioStats, CpuStats, CpuUsage, MemoryStats, PidsStats, Stats, StorageStats, ThrottlingData,
};
use chrono::SecondsFormat;
use std::collections::HashMap;
use std::time::Duration;

/// How often `stats` samples, as Docker's collector.
const STATS_EVERY: Duration = Duration::from_secs(1);

pub async fn rename(
    State(st): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<StatusCode, ApiError> {
    let name = q.get("name").map(String::as_str).unwrap_or("");
    st.engine.rename(&id, name).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn pause(
    State(st): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    st.engine.pause(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn unpause(
    State(st): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    st.engine.unpause(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /containers/{id}/top?ps_args=`: `{"Titles": [...], "Processes": [[...]]}`.
pub async fn top(
    State(st): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<TopResponse>, ApiError> {
    let args = q.get("ps_args").map(String::as_str).unwrap_or("");
    let (titles, processes) = st.engine.top(&id, args).await?;
    Ok(Json(TopResponse { titles, processes }))
}

fn ts(s: &Sample) -> String {
    s.read
        .map(|t| t.to_rfc3339_opts(SecondsFormat::Nanos, true))
        .unwrap_or_else(|| "0001-01-01T00:00:00Z".into())
}

fn cpu_stats(s: &Sample) -> CpuStats {
    CpuStats {
        cpu_usage: CpuUsage {
            total_usage: s.cpu_total_ns,
            usage_in_usermode: s.cpu_user_ns,
            usage_in_kernelmode: s.cpu_kernel_ns,
        },
        system_cpu_usage: s.system_cpu_ns,
        online_cpus: s.online_cpus,
        throttling_data: ThrottlingData::default(),
    }
}

/// One stats object as Docker's (API 1.41+), `pre` the previous sample.
fn stats_of(c: &crate::engine::Container, s: &Sample, pre: &Sample) -> String {
    let memory_stats = if s.read.is_some() && s.memory_limit > 0 {
        MemoryStats {
            usage: Some(s.memory_usage),
            limit: Some(s.memory_limit),
            stats: Some(s.memory_stats.clone()),
        }
    } else {
        MemoryStats::default()
    };
    let stats = Stats {
        name: format!("/{}", c.name),
        id: c.id.clone(),
        read: ts(s),
        preread: ts(pre),
        pids_stats: PidsStats {
            current: s.pids,
            limit: s.pids_limit,
        },
        blkio_stats: BlkioStats::default(),
        num_procs: 0,
        storage_stats: StorageStats::default(),
        cpu_stats: cpu_stats(s),
        precpu_stats: cpu_stats(pre),
        memory_stats,
        networks: s.networks.clone(),
    };
    // Plain numbers, strings and maps of them: encoding cannot fail.
    serde_json::to_string(&stats).unwrap_or_default()
}

/// `GET /containers/{id}/stats`: a JSON object a second while `stream` (the default), else
/// one object with the previous sample a second before it (`one-shot`: without it).
pub async fn stats(
    State(st): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let flag = |k: &str, default: bool| match q.get(k).map(String::as_str) {
        None | Some("") => Ok(default),
        Some("1" | "true" | "True") => Ok(true),
        Some("0" | "false" | "False") => Ok(false),
        Some(other) => Err(ApiError::bad_request(format!(
            "invalid {k} value {other:?}: expected true or false"
        ))),
    };
    let stream = flag("stream", true)?;
    let one_shot = flag("one-shot", false)?;
    if one_shot && stream {
        return Err(ApiError::bad_request(
            "cannot have stream=true and one-shot=true",
        ));
    }
    let (c, first) = st.engine.stats_sample(&id).await?;
    let json_type = [(header::CONTENT_TYPE, "application/json")];
    if !stream {
        let (c, s, pre) = if one_shot {
            (c, first, Sample::default())
        } else {
            tokio::time::sleep(STATS_EVERY).await;
            let (c, s) = st.engine.stats_sample(&c.id).await?;
            (c, s, first)
        };
        let line = format!("{}\n", stats_of(&c, &s, &pre));
        return Ok((json_type, line).into_response());
    }
    let engine = st.engine.clone();
    let id = c.id.clone();
    let first_line = stats_of(&c, &first, &Sample::default());
    let body = futures::stream::unfold((Some(first_line), first), move |(pending, pre)| {
        let (engine, id) = (engine.clone(), id.clone());
        async move {
            if let Some(line) = pending {
                return Some((
                    Ok::<_, std::io::Error>(Bytes::from(format!("{line}\n"))),
                    (None, pre),
                ));
            }
            tokio::time::sleep(STATS_EVERY).await;
            // A removed container ends the stream.
            let (c, s) = engine.stats_sample(&id).await.ok()?;
            let line = stats_of(&c, &s, &pre);
            Some((Ok(Bytes::from(format!("{line}\n"))), (None, s)))
        }
    });
    Ok((json_type, Body::from_stream(body)).into_response())
}
