//! The `host` driver: containers share the daemon's network namespace, so it has no kernel
//! objects and takes no endpoints.

use super::{Deferred, DriverConfig, Join, Leave, NetworkDriver, NewNetwork};
use crate::error::{NetError, NetResult};
use crate::network::Network;
use crate::sys::Kernel;
use async_trait::async_trait;

pub struct Host;

fn refused() -> NetError {
    NetError::Forbidden(
        "container cannot be disconnected from host network or connected to host network".into(),
    )
}

#[async_trait]
impl NetworkDriver for Host {
    fn name(&self) -> &'static str {
        "host"
    }

    fn configure(&self, _new: &NewNetwork<'_>) -> NetResult<DriverConfig> {
        Err(NetError::Forbidden(
            "only one instance of \"host\" network is allowed".into(),
        ))
    }

    fn check_join(&self, _net: &Network) -> NetResult<()> {
        Err(refused())
    }

    async fn create(&self, _kernel: &dyn Kernel, _net: &Network) -> NetResult<()> {
        Ok(())
    }

    async fn delete(&self, _kernel: &dyn Kernel, _net: &Network) -> NetResult<()> {
        Ok(())
    }

    async fn join(&self, _cx: Join<'_>) -> NetResult<Option<u32>> {
        Err(refused())
    }

    async fn leave(&self, _cx: Leave<'_>) -> NetResult<Option<Deferred>> {
        Ok(None)
    }
}
