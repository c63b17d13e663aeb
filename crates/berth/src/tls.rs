//! The CLI's TLS settings come from `berth-client`; this path stays for the CLI's commands.

pub use berth_client::tls::*;
