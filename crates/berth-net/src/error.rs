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
    /// A host port cannot be published (HTTP 500, as Docker's "driver failed programming
    /// external connectivity").
    #[error("{0}")]
    PortAllocation(String),
    /// The kernel refused (HTTP 500).
    #[error("{context}: {source}")]
    Kernel {
        context: String,
        #[source]
        source: SysError,
    },
    /// The store failed (HTTP 500).
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub type NetResult<T> = Result<T, NetError>;

impl NetError {
    pub fn kernel(context: impl Into<String>) -> impl FnOnce(SysError) -> NetError {
        let context = context.into();
        move |source| NetError::Kernel { context, source }
    }
}
