//! The drivers of the predefined `host` and `none` networks. A container on `host` shares the
//! daemon's network namespace; one on `none` has only its loopback. Neither network has kernel
//! objects of its own or takes endpoints, so one type serves both, told apart by name and by
//! Docker's words for a refused connect.

use super::{Deferred, DriverConfig, Join, Leave, NetworkDriver, NewNetwork};
use crate::error::{NetError, NetResult};
use crate::network::Network;
use crate::sys::Kernel;
use async_trait::async_trait;

pub struct Predefined {
    name: &'static str,
    /// Docker's answer to a connect to (or from) this network.
    refusal: &'static str,
}

/// The `host` driver.
pub const HOST: Predefined = Predefined {
    name: "host",
    refusal: "container cannot be disconnected from host network or connected to host network",
};

/// The `null` driver of the `none` network.
pub const NULL: Predefined = Predefined {
    name: "null",
    refusal: "container cannot be connected to multiple networks with one of the networks in private (none) mode",
};

impl Predefined {
    fn refused(&self) -> NetError {
        NetError::Forbidden(self.refusal.into())
    }
}

#[async_trait]
impl NetworkDriver for Predefined {
    fn name(&self) -> &'static str {
        self.name
    }

    fn configure(&self, _new: &NewNetwork<'_>) -> NetResult<DriverConfig> {
        Err(NetError::Forbidden(format!(
            "only one instance of \"{}\" network is allowed",
            self.name
        )))
    }

    fn check_join(&self, _net: &Network) -> NetResult<()> {
        Err(self.refused())
    }

    async fn create(&self, _kernel: &dyn Kernel, _net: &Network) -> NetResult<()> {
        Ok(())
    }

    async fn delete(&self, _kernel: &dyn Kernel, _net: &Network) -> NetResult<()> {
        Ok(())
    }

    async fn join(&self, _cx: Join<'_>) -> NetResult<Option<u32>> {
        Err(self.refused())
    }

    async fn leave(&self, _cx: Leave<'_>) -> NetResult<Option<Deferred>> {
        Ok(None)
    }
}
