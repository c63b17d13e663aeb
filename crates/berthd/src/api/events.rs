//! `GET /events`: Docker's event stream, one JSON object a line, with `since`, `until` and
//! filters (type, event, container, network, image, volume, label).

use super::filters::{parse_time, Filters};
use super::{ApiError, AppState};
use crate::engine::events::Event;
use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use berth_api::event::{Actor, EventMessage};
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use tokio::sync::broadcast::error::RecvError;

const KEYS: &[&str] = &[
    "type",
    "event",
    "container",
    "network",
    "image",
    "volume",
    "label",
    "scope",
];

/// A time in Docker's `since`/`until`: Unix seconds (with an optional fraction), or what
/// filters take (durations back from now, RFC 3339).
fn when(key: &str, v: &str) -> Result<DateTime<Utc>, ApiError> {
    if let Some((s, frac)) = v.split_once('.') {
        if let (Ok(s), Ok(n)) = (s.parse::<i64>(), format!("{frac:0<9}")[..9].parse::<u32>()) {
            return DateTime::from_timestamp(s, n)
                .ok_or_else(|| ApiError::bad_request(format!("invalid {key} time {v}")));
        }
    }
    parse_time(key, v)
}

fn keep(f: &Filters, e: &Event) -> bool {
    let name = e.attributes.get("name").map(String::as_str).unwrap_or("");
    let object = |key: &str, typ: &str| {
        !f.has(key)
            || (e.typ == typ
                && f.get(key)
                    .iter()
                    .any(|v| v == name || (!v.is_empty() && e.id.starts_with(v.as_str()))))
    };
    // As Docker's: `container=` keeps container events only; `image=` also a container's image.
    let image_ok = !f.has("image")
        || f.get("image").iter().any(|v| {
            e.attributes.get("image").is_some_and(|i| i == v)
                || (e.typ == "image" && (name == v || e.id == *v))
        });
    f.any("type", |t| t == e.typ)
        // As Docker's: `health_status`, `exec_create` and `exec_start` also match their
        // actions with a detail (`health_status: healthy`).
        && f.any("event", |a| {
            a == e.action
                || (matches!(a, "health_status" | "exec_create" | "exec_start")
                    && e.action.starts_with(&format!("{a}:")))
        })
        && f.any("scope", |s| s == "local")
        && object("container", "container")
        && object("network", "network")
        && object("volume", "volume")
        && image_ok
        && f.labels(&e.attributes)
}

fn line(e: &Event) -> Bytes {
    let old = e.typ == "container";
    let m = EventMessage {
        kind: e.typ.to_string(),
        action: e.action.clone(),
        actor: Actor {
            id: e.id.clone(),
            attributes: e.attributes.clone(),
        },
        scope: "local".into(),
        time: e.time_nano / 1_000_000_000,
        time_nano: e.time_nano,
        // The old fields, which docker-py still reads.
        status: old.then(|| e.action.clone()),
        id: old.then(|| e.id.clone()),
        from: old.then(|| e.attributes.get("image").cloned().unwrap_or_default()),
    };
    // Strings and a map of strings: encoding cannot fail.
    Bytes::from(format!(
        "{}\n",
        serde_json::to_string(&m).unwrap_or_default()
    ))
}

pub async fn events(
    State(st): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let f = Filters::from_query(&q, KEYS)?;
    let since = q
        .get("since")
        .filter(|s| !s.is_empty())
        .map(|s| when("since", s))
        .transpose()?;
    let until = q
        .get("until")
        .filter(|s| !s.is_empty())
        .map(|s| when("until", s))
        .transpose()?;
    let nanos = |t: DateTime<Utc>| t.timestamp_nanos_opt().unwrap_or(i64::MAX);
    let until_ns = until.map(nanos);
    let (past, rx) = st.engine.events.subscribe(since.map(nanos));
    let past: Vec<Event> = past
        .into_iter()
        .filter(|e| until_ns.is_none_or(|u| e.time_nano <= u))
        .filter(|e| keep(&f, e))
        .collect();
    let stream = futures::stream::unfold(
        (past.into_iter(), rx, f),
        move |(mut past, mut rx, f)| async move {
            if let Some(e) = past.next() {
                return Some((Ok::<_, std::io::Error>(line(&e)), (past, rx, f)));
            }
            let next = next_live(&mut rx, &f, until_ns);
            let item = match until {
                Some(u) => {
                    let left = (u - Utc::now()).to_std().unwrap_or_default();
                    tokio::time::timeout(left, next).await.ok().flatten()
                }
                None => next.await,
            };
            item.map(|b| (Ok(b), (past, rx, f)))
        },
    );
    Ok((
        [(header::CONTENT_TYPE, "application/json")],
        Body::from_stream(stream),
    )
        .into_response())
}

/// The next live event that passes the filters; None once `until` is passed or the daemon stops.
async fn next_live(
    rx: &mut tokio::sync::broadcast::Receiver<Event>,
    f: &Filters,
    until_ns: Option<i64>,
) -> Option<Bytes> {
    loop {
        match rx.recv().await {
            Ok(e) if until_ns.is_some_and(|u| e.time_nano > u) => return None,
            Ok(e) if keep(f, &e) => return Some(line(&e)),
            Ok(_) => continue,
            Err(RecvError::Lagged(n)) => {
                tracing::warn!(missed = n, "an /events follower fell behind");
                continue;
            }
            Err(RecvError::Closed) => return None,
        }
    }
}
