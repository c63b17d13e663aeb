//! Docker Engine API types shared by `berthd` and the `berth` CLI.
//!
//! Field names follow the Docker Engine API (v1.51) so that the stock docker CLI and berth's own CLI
//! decode the same bytes. Only what berth serves is modelled; unknown incoming fields are ignored.

pub mod answers;
pub mod container;
pub mod detach;
pub mod event;
pub mod exec;
pub mod image;
pub mod network;
pub mod network_connect;
pub mod network_create;
pub mod ports;
pub mod progress;
pub mod stats;
pub mod system;
pub mod timestamp;
pub mod topology;
pub mod volume;

use serde::{Deserialize, Serialize};

/// The API version berthd speaks (the one docker CLI v28 negotiates).
pub const API_VERSION: &str = "1.51";
/// The oldest API version accepted in a `/v1.xx/` path prefix.
pub const MIN_API_VERSION: &str = "1.24";
/// Default socket of the daemon.
pub const DEFAULT_SOCKET: &str = "/run/berth/berth.sock";
/// Default host URL of the daemon.
pub const DEFAULT_HOST: &str = "unix:///run/berth/berth.sock";

/// Body of every error response, as Docker sends it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ErrorResponse {
    pub message: String,
}

/// For fields where clients send `null` to mean "not set" (docker-py does so for every IPAM
/// field it has no value for): null decodes as the type's default.
pub fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// Parses `"1.xx"` into its minor number, if it is a 1.x version.
pub fn api_minor(version: &str) -> Option<u32> {
    let minor = version.strip_prefix("1.")?;
    minor.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_minor_parses_versions() {
        assert_eq!(api_minor("1.51"), Some(51));
        assert_eq!(api_minor("1.24"), Some(24));
        assert_eq!(api_minor("2.0"), None);
        assert_eq!(api_minor("1.x"), None);
    }
}
