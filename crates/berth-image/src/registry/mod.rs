//! Pulling images from a registry over the v2 (OCI distribution) API, through `oci-client`:
//! which registry a name means and how to reach it (`name`, `options`), then the manifest and
//! config (`resolve`), then the layers, each verified against its digest before the confined
//! unpacker applies it (`fetch`). Docker Hub names are never sent anywhere but to a configured
//! mirror: berth runs without internet.

mod fetch;
mod name;
mod options;
mod resolve;

pub use fetch::{LayerStatus, Progress, ProgressFn};
pub use name::PullRef;
pub use options::{Insecure, Mirror, RegistryOptions};
pub use resolve::{resolve, Resolved};
