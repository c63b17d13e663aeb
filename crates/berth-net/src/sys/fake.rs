//! An in-memory kernel for unit tests of the layers above `sys`.

use super::{BridgeSpec, Kernel, Link, SysError, SysResult};
use async_trait::async_trait;
use ipnet::IpNet;
use std::collections::BTreeMap;
use std::sync::Mutex;

#[derive(Debug, Default)]
pub struct FakeKernel {
    state: Mutex<FakeState>,
}

#[derive(Debug, Default)]
struct FakeState {
    next_index: u32,
    links: BTreeMap<u32, Link>,
    routes: Vec<IpNet>,
    sysctls: BTreeMap<String, String>,
}

impl FakeKernel {
    pub fn new() -> Self {
        let k = FakeKernel::default();
        k.lock().next_index = 2;
        k
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, FakeState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Pretends the host has an on-link route to `net`.
    pub fn add_route(&self, net: IpNet) {
        self.lock().routes.push(net);
    }

    /// Adds a link that berth did not make.
    pub fn add_foreign_link(&self, name: &str, kind: &str) -> u32 {
        let mut s = self.lock();
        let index = s.next_index;
        s.next_index += 1;
        s.links.insert(
            index,
            Link {
                index,
                name: name.into(),
                kind: Some(kind.into()),
                alias: None,
                mtu: 1500,
                up: true,
                addrs: vec![],
            },
        );
        index
    }

    pub fn sysctl(&self, key: &str) -> Option<String> {
        self.lock().sysctls.get(key).cloned()
    }
}

fn not_found(op: &'static str, object: String) -> SysError {
    SysError::Netlink {
        op,
        object,
        message: "No such device".into(),
        errno: libc_enodev(),
    }
}

const fn libc_enodev() -> i32 {
    19
}

#[async_trait]
impl Kernel for FakeKernel {
    async fn links(&self) -> SysResult<Vec<Link>> {
        Ok(self.lock().links.values().cloned().collect())
    }

    async fn link(&self, name: &str) -> SysResult<Option<Link>> {
        Ok(self.lock().links.values().find(|l| l.name == name).cloned())
    }

    async fn create_bridge(&self, spec: &BridgeSpec) -> SysResult<u32> {
        let mut s = self.lock();
        if s.links.values().any(|l| l.name == spec.name) {
            return Err(SysError::Netlink {
                op: "create bridge",
                object: spec.name.clone(),
                message: "File exists".into(),
                errno: 17,
            });
        }
        let index = s.next_index;
        s.next_index += 1;
        s.links.insert(
            index,
            Link {
                index,
                name: spec.name.clone(),
                kind: Some("bridge".into()),
                alias: Some(spec.alias.clone()),
                mtu: spec.mtu,
                up: true,
                addrs: spec.addrs.clone(),
            },
        );
        Ok(index)
    }

    async fn configure_link(&self, index: u32, alias: &str, mtu: u32) -> SysResult<()> {
        let mut s = self.lock();
        let l = s
            .links
            .get_mut(&index)
            .ok_or_else(|| not_found("configure link", index.to_string()))?;
        l.alias = Some(alias.into());
        l.mtu = mtu;
        l.up = true;
        Ok(())
    }

    async fn add_address(&self, index: u32, addr: IpNet) -> SysResult<()> {
        let mut s = self.lock();
        let l = s
            .links
            .get_mut(&index)
            .ok_or_else(|| not_found("add address", addr.to_string()))?;
        if !l.addrs.contains(&addr) {
            l.addrs.push(addr);
        }
        Ok(())
    }

    async fn delete_link(&self, index: u32) -> SysResult<()> {
        self.lock()
            .links
            .remove(&index)
            .map(|_| ())
            .ok_or_else(|| not_found("delete link", index.to_string()))
    }

    async fn onlink_routes(&self) -> SysResult<Vec<IpNet>> {
        let s = self.lock();
        let mut routes = s.routes.clone();
        for l in s.links.values() {
            routes.extend(l.addrs.iter().map(|a| a.trunc()));
        }
        Ok(routes)
    }

    fn set_sysctl(&self, key: &str, value: &str) -> SysResult<()> {
        self.lock().sysctls.insert(key.into(), value.into());
        Ok(())
    }
}
