//! What the engine's operations fail with.

use berth_net::NetError;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    /// Nothing to do (HTTP 304): start of a running container, stop of a stopped one.
    #[error("{0}")]
    NotModified(String),
    #[error("{0}")]
    Runtime(String),
    #[error("{0}")]
    Io(String),
    #[error(transparent)]
    Net(#[from] NetError),
    #[error(transparent)]
    Store(#[from] berth_store::StoreError),
}

pub type Result<T> = std::result::Result<T, EngineError>;
