//! The client side of berthd's Docker Engine API, shared by the `berth` CLI, the integration
//! test harness and the benchmarks, so that all three speak to the daemon the same way.
//!
//! - [`Client`]: versioned requests (`/v1.51/...`) over a unix socket, plain TCP or TLS, JSON
//!   helpers, hijacked connections for attach and exec, and request bodies streamed from a
//!   file or standard input ([`RequestBody`]) so an upload costs no memory of its size.
//! - [`Client::raw`]: one request exactly as given (any method, unversioned path) whose
//!   answer is returned whatever its status, for tests of the API surface itself.
//! - [`blocking`]: the same for synchronous callers (tests, benchmarks).

pub mod blocking;
mod body;
mod client;
pub mod tls;

pub use body::RequestBody;
pub use client::{encode, Client, ClientError, RawResponse};
