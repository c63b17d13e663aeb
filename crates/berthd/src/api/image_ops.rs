//! `POST /images/{name}/tag`, `POST /images/prune` and `GET /images/get` (also
//! `/images/{name}/get`): naming, pruning and saving images, with Docker's answers and events.

use super::containers::image_event;
use super::filters::{parse_time, Filters};
use super::{ApiError, AppState};
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::Response;
use axum::Json;
use berth_api::image::{DeleteItem, ImagePruneReport};
use std::collections::HashMap;

/// The filters `/images/prune` accepts, as Docker's.
const PRUNE_KEYS: &[&str] = &["dangling", "label", "label!", "until"];

pub async fn tag(
    State(st): State<AppState>,
    Path(name): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<StatusCode, ApiError> {
    let repo = q.get("repo").map(String::as_str).unwrap_or_default();
    let tag = q.get("tag").map(String::as_str).unwrap_or_default();
    let (img, target) = st.engine.tag(&name, repo, tag).await?;
    image_event(&st, &img, "tag", Some(target));
    Ok(StatusCode::CREATED)
}

/// Docker's `dangling=false` (the CLI's `-a`) prunes every unused image, tagged or not.
pub async fn prune(
    State(st): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<ImagePruneReport>, ApiError> {
    let f = Filters::from_query(&q, PRUNE_KEYS)?;
    let all = f.bool("dangling") == Some(false);
    let until = match f.get("until").first() {
        Some(v) => Some(parse_time("until", v)?),
        None => None,
    };
    // As Docker's: `label` prunes only what carries every one, `label!` spares what carries any.
    let pruned = st
        .engine
        .prune_images(all, |i| {
            !f.labels(&i.labels)
                || f.labels_denied(&i.labels)
                || until.is_some_and(|t| i.created >= t)
        })
        .await?;
    let mut deleted = Vec::new();
    let mut reclaimed = 0u64;
    for img in &pruned {
        for t in &img.repo_tags {
            deleted.push(DeleteItem::Untagged(t.clone()));
            image_event(&st, img, "untag", Some(t.clone()));
        }
        deleted.push(DeleteItem::Deleted(img.id.clone()));
        image_event(&st, img, "delete", None);
        reclaimed += img.size;
    }
    Ok(Json(ImagePruneReport {
        // Docker answers null, not [], when nothing went.
        images_deleted: (!deleted.is_empty()).then_some(deleted),
        space_reclaimed: reclaimed,
    }))
}

/// `GET /images/get?names=A&names=B`: one archive of several images.
pub async fn save_many(
    State(st): State<AppState>,
    Query(q): Query<Vec<(String, String)>>,
) -> Result<Response, ApiError> {
    let mut names = Vec::new();
    for (k, v) in q {
        match k.as_str() {
            "names" => names.push(v),
            "platform" if v.is_empty() => {}
            "platform" => {
                return Err(ApiError::bad_request(format!(
                    "platform {v}: berth saves the image it has, for this machine's platform; leave --platform out"
                )))
            }
            _ => {}
        }
    }
    save(st, names).await
}

pub async fn save_one(
    State(st): State<AppState>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    save(st, vec![name]).await
}

/// Streams the archive as it is written; a failure after the first byte ends the body with an
/// error, so the client never takes a cut archive for a whole one.
async fn save(st: AppState, names: Vec<String>) -> Result<Response, ApiError> {
    let prepared = st.engine.save_images(&names).await?;
    for n in &names {
        if let Ok(img) = st.engine.image(n).await {
            image_event(&st, &img, "save", Some(n.clone()));
        }
    }
    let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<Bytes>>(4);
    tokio::task::spawn_blocking(move || {
        let mut w = std::io::BufWriter::with_capacity(256 * 1024, Sender(tx.clone()));
        let r = prepared.write(&mut w).and_then(|()| {
            use std::io::Write;
            w.flush()
        });
        if let Err(e) = r {
            tracing::warn!(error = %e, "save ended before the archive was complete");
            // The receiver is gone when the client left: then nobody needs to know.
            let _ = tx.blocking_send(Err(e));
        }
    });
    let stream = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    let mut resp = Response::new(Body::from_stream(stream));
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/x-tar"),
    );
    Ok(resp)
}

/// The writing end of a streamed body.
struct Sender(tokio::sync::mpsc::Sender<std::io::Result<Bytes>>);

impl std::io::Write for Sender {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .blocking_send(Ok(Bytes::copy_from_slice(buf)))
            .map_err(|_| {
                std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the client went away")
            })?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
