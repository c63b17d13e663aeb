//! Bounds on what one client can hold: how long a request's head (or a TLS handshake) may take
//! to arrive, and how many connections one listener keeps at once.

use std::time::Duration;

/// A request whose headers are not complete by then is cut (an idle keep-alive connection too).
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// Connections one listener serves at once; past it, accepting waits for one to end while
/// those already open go on being served.
pub const MAX_CONNECTIONS: usize = 1024;

/// The bounds in force: the constants, unless `BERTH_HEADER_READ_TIMEOUT` (seconds, fractions
/// allowed) or `BERTH_MAX_CONNECTIONS` tune them for a particular machine.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub header_read_timeout: Duration,
    pub max_connections: usize,
}

impl Limits {
    pub fn from_env() -> Limits {
        let timeout = std::env::var("BERTH_HEADER_READ_TIMEOUT")
            .ok()
            .and_then(|v| v.parse::<f64>().ok())
            .filter(|s| s.is_finite() && *s > 0.0)
            .map(Duration::from_secs_f64)
            .unwrap_or(HEADER_READ_TIMEOUT);
        let max = std::env::var("BERTH_MAX_CONNECTIONS")
            .ok()
            .and_then(|v| v.parse::<usize>().ok())
            .filter(|n| *n > 0)
            .unwrap_or(MAX_CONNECTIONS);
        Limits {
            header_read_timeout: timeout,
            max_connections: max,
        }
    }
}
