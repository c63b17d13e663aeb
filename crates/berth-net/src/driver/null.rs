//! The `null` driver of the `none` network: a sandbox with only its loopback, no kernel objects
//! of its own and no endpoints.

use super::{Deferred, DriverConfig, Join, Leave, NetworkDriver, NewNetwork};
use crate::error::{NetError, NetResult};
use crate::network::Network;
use crate::sys::Kernel;
use async_trait::async_trait;

pub struct Null;

fn refused() -> NetError {
    NetError::Forbidden(
        "container cannot be connected to multiple networks with one of the networks in private (none) mode".into(),
    )
}

#[async_trait]
impl NetworkDriver for Null {
    fn name(&self) -> &'static str {
        "null"
    }

    fn configure(&self, _new: &NewNetwork<'_>) -> NetResult<DriverConfig> {
        Err(NetError::Forbidden(
            "only one instance of \"null\" network is allowed".into(),
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
