//! What the engine's operations fail with. Each error reports its [`ErrorKind`], the one thing
//! the API edge maps to a status code; causes stay attached as sources.

pub use berth_net::ErrorKind;
use berth_net::NetError;

use super::runtime::RuntimeError;

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
    /// The container's process could not be started: a missing executable (exit code 127)
    /// or one that cannot be run (126), as Docker reports them (400).
    #[error("{message}")]
    Exec { message: String, exit_code: i32 },
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    /// A file or directory of the engine's own could not be read, written or made.
    #[error("{context}: {source}")]
    Os {
        context: String,
        #[source]
        source: std::io::Error,
    },
    /// The runtime's OCI configuration could not be built or written.
    #[error("{context}: {source}")]
    Spec {
        context: String,
        #[source]
        source: oci_spec::OciSpecError,
    },
    /// A state the engine's own bookkeeping should have ruled out.
    #[error("{0}")]
    Invariant(String),
    /// The container did not reach the state asked for in time.
    #[error("{0}")]
    Timeout(String),
    /// A blocking task the operation ran on died.
    #[error("{context}: {source}")]
    Task {
        context: String,
        #[source]
        source: tokio::task::JoinError,
    },
    /// A server outside berth (an image registry) could not be reached or answered wrongly.
    #[error("{0}")]
    Upstream(String),
    #[error(transparent)]
    Net(#[from] NetError),
    #[error(transparent)]
    Store(#[from] berth_store::StoreError),
}

impl EngineError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            EngineError::BadRequest(_) | EngineError::Exec { .. } => ErrorKind::InvalidParameter,
            EngineError::NotFound(_) => ErrorKind::NotFound,
            EngineError::Conflict(_) => ErrorKind::Conflict,
            EngineError::NotModified(_) => ErrorKind::NotModified,
            EngineError::Net(e) => e.kind(),
            EngineError::Runtime(_)
            | EngineError::Os { .. }
            | EngineError::Spec { .. }
            | EngineError::Invariant(_)
            | EngineError::Task { .. }
            | EngineError::Timeout(_)
            | EngineError::Upstream(_)
            | EngineError::Store(_) => ErrorKind::Internal,
        }
    }

    pub(super) fn spec(context: impl Into<String>) -> impl FnOnce(oci_spec::OciSpecError) -> Self {
        let context = context.into();
        move |source| EngineError::Spec { context, source }
    }

    pub(super) fn task(context: impl Into<String>) -> impl FnOnce(tokio::task::JoinError) -> Self {
        let context = context.into();
        move |source| EngineError::Task { context, source }
    }
}

pub type Result<T> = std::result::Result<T, EngineError>;
