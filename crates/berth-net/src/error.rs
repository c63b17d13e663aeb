//! Errors of the network layer. Each variant is a kind a caller can act on (the API maps them to
//! Docker's status codes); the message names the bad value and what is allowed.

use crate::sys::SysError;
use berth_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum NetError {
    /// The request is malformed or asks for something not allowed (HTTP 400).
    #[error("{0}")]
    InvalidParameter(String),
    /// A named network (or other object) does not exist (HTTP 404).
    #[error("{0}")]
    NotFound(String),
    /// The request clashes with existing state, such as a name in use (HTTP 409).
    #[error("{0}")]
    Conflict(String),
    /// The operation is refused on this object, such as removing a predefined network (HTTP 403).
    #[error("{0}")]
    Forbidden(String),
    /// A host port cannot be published: berth or another program holds it (HTTP 409, with
    /// Docker's "port is already allocated").
    #[error("{0}")]
    PortAllocation(String),
    /// The kernel refused (HTTP 500).
    #[error("{context}: {source}")]
    Kernel {
        context: String,
        #[source]
        source: SysError,
    },
    /// The cluster store answered with a failure (HTTP 500).
    #[error("{0}")]
    Cluster(String),
    /// The cluster store cannot be reached (HTTP 503): "cluster store unavailable: …". Nothing
    /// was changed; the same request succeeds once etcd answers again.
    #[error("{0}")]
    Unavailable(String),
    /// The store failed (HTTP 500).
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub type NetResult<T> = Result<T, NetError>;

/// What kind of failure an error is, whatever layer it comes from: the one thing the API edge
/// needs to pick Docker's status code, so that the mapping exists once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The request is malformed or asks for something not allowed (400).
    InvalidParameter,
    /// The object named does not exist (404).
    NotFound,
    /// The request clashes with existing state (409).
    Conflict,
    /// The operation is refused on this object (403).
    Forbidden,
    /// Nothing to do (304).
    NotModified,
    /// Berth, the kernel or the store failed (500).
    Internal,
    /// A service berth depends on (the cluster store) does not answer; retry later (503).
    Unavailable,
}

impl NetError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            NetError::InvalidParameter(_) => ErrorKind::InvalidParameter,
            NetError::NotFound(_) => ErrorKind::NotFound,
            NetError::Conflict(_) => ErrorKind::Conflict,
            NetError::Forbidden(_) => ErrorKind::Forbidden,
            // A port someone else holds is a clash with the host's state, not berth failing.
            NetError::PortAllocation(_) => ErrorKind::Conflict,
            NetError::Unavailable(_) => ErrorKind::Unavailable,
            NetError::Kernel { .. } | NetError::Store(_) | NetError::Cluster(_) => {
                ErrorKind::Internal
            }
        }
    }

    pub fn kernel(context: impl Into<String>) -> impl FnOnce(SysError) -> NetError {
        let context = context.into();
        move |source| NetError::Kernel { context, source }
    }
}
