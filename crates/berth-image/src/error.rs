//! What reading an image archive or pulling an image fails with: the input's fault, the
//! registry's, or the machine's.

#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// The archive is malformed, hostile or not what was asked for (HTTP 400); the message
    /// names the entry or value.
    #[error("{0}")]
    Invalid(String),
    /// What was asked for does not exist (HTTP 404): an unknown tag or digest, a repository
    /// the registry does not have, or Docker Hub, which berth does not reach.
    #[error("{0}")]
    NotFound(String),
    /// A registry could not be reached or answered wrongly (HTTP 500); the message names it.
    #[error("{0}")]
    Registry(String),
    /// A file of berth's own could not be read or written (HTTP 500).
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

pub type Result<T> = std::result::Result<T, ImageError>;

pub(crate) fn invalid(msg: impl Into<String>) -> ImageError {
    ImageError::Invalid(msg.into())
}

pub(crate) fn io(context: impl std::fmt::Display) -> impl FnOnce(std::io::Error) -> ImageError {
    let context = context.to_string();
    move |source| ImageError::Io { context, source }
}
