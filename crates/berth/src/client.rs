//! The daemon client lives in the `berth-client` crate (shared with the tests and benches);
//! this path stays for the CLI's commands.

pub use berth_client::{encode, Client, ClientError, RequestBody};
