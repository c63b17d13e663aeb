//! `POST /images/create?fromImage=…`: a pull, answered as dockerd answers it. What fails before
//! any layer moves (a bad name, an unknown tag, an unreachable registry) is an error status;
//! after that the answer is a stream of JSON progress lines that ends with the digest and the
//! outcome, or with an `errorDetail` line.

use super::{ApiError, AppState};
use crate::engine::pull::Pulled;
use axum::body::{Body, Bytes};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use berth_api::progress::JsonMessage;
use std::collections::BTreeMap;

pub async fn pull(st: &AppState, from_image: &str, tag: &str) -> Result<Response, ApiError> {
    let resolved = st.engine.pull_resolve(from_image, tag).await?;
    let name = resolved.name.clone();
    let digest = resolved.digest.clone();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<JsonMessage>();
    let head = name.digest.clone().or(name.tag.clone()).unwrap_or_default();
    // The receiver is below: this send cannot fail.
    let _ = tx.send(JsonMessage {
        id: Some(head),
        ..JsonMessage::status(format!("Pulling from {}", name.path))
    });
    let engine = st.engine.clone();
    tokio::spawn(async move {
        let shown = name.tagged().unwrap_or_else(|| name.shown());
        let lines = match engine.pull(resolved, tx.clone()).await {
            Ok(outcome) => {
                let (word, img) = match outcome {
                    Pulled::UpToDate(i) => ("Image is up to date for", i),
                    Pulled::Newer(i) => ("Downloaded newer image for", i),
                };
                let attrs = BTreeMap::from([("name".to_string(), shown.clone())]);
                engine.events.emit("image", "pull", &shown, attrs);
                tracing::debug!(image = %img.id, "pull done");
                vec![
                    JsonMessage::status(format!("Digest: {digest}")),
                    JsonMessage::status(format!("Status: {word} {shown}")),
                ]
            }
            Err(e) => {
                tracing::warn!(image = %shown, error = %e, "pull failed");
                vec![JsonMessage::failed(e.to_string())]
            }
        };
        for l in lines {
            // A client that went away takes nothing more.
            let _ = tx.send(l);
        }
    });
    let stream = futures::stream::unfold(rx, |mut rx| async move {
        let line = rx.recv().await?;
        Some((
            Ok::<_, std::convert::Infallible>(Bytes::from(line.line())),
            rx,
        ))
    });
    Ok((
        [(header::CONTENT_TYPE, "application/json")],
        Body::from_stream(stream),
    )
        .into_response())
}
