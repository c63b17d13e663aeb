//! Errors of the cluster layer. Each carries what the API needs to answer with Docker's status.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum ClusterError {
    /// etcd did not answer within the bounded timeout, or refused the connection.
    #[error("cluster store unavailable: {0}")]
    Unavailable(String),
    /// etcd answered, but with an error that is not about reachability.
    #[error("cluster store error: {0}")]
    Store(String),
    #[error("{0}")]
    NotFound(String),
    /// A name, address, subnet or VNI is taken, or the object is still in use.
    #[error("{0}")]
    Conflict(String),
    /// The request itself is wrong; nothing was changed.
    #[error("{0}")]
    Invalid(String),
    /// Addresses, subnets or VNIs ran out.
    #[error("{0}")]
    Exhausted(String),
    #[error("cluster store holds a record that does not decode at {key}: {source}")]
    Corrupt {
        key: String,
        #[source]
        source: serde_json::Error,
    },
}

impl ClusterError {
    /// Docker's HTTP status for this error.
    pub fn status(&self) -> u16 {
        match self {
            ClusterError::Unavailable(_) => 503,
            ClusterError::Store(_) | ClusterError::Corrupt { .. } => 500,
            ClusterError::NotFound(_) => 404,
            ClusterError::Conflict(_) => 409,
            ClusterError::Invalid(_) => 400,
            // libnetwork reports exhausted pools as "no service".
            ClusterError::Exhausted(_) => 503,
        }
    }
}

pub type Result<T, E = ClusterError> = std::result::Result<T, E>;
