//! The embedded DNS server at 127.0.0.11 of every sandbox on a user-defined network: container
//! names, aliases and short IDs of the networks the asking sandbox is on, and forwarding of the
//! rest to the daemon's upstream servers.

pub mod answer;
pub mod forward;
pub mod records;
pub mod server;

pub use records::{EndpointRecord, Records};
pub use server::Resolver;

/// Where containers find the resolver, as in Docker.
pub const RESOLVER_ADDR: std::net::Ipv4Addr = std::net::Ipv4Addr::new(127, 0, 0, 11);
