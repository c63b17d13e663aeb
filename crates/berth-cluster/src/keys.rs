//! Where each record lives in etcd. One place, so the layout can be read at a glance:
//!
//! ```text
//! P/nodes/<node>                  node record, under the node's lease
//! P/networks/<id>                 global network record
//! P/names/<name>                  network name claim → id (cluster-unique names)
//! P/vnis/<vni>                    VNI claim → network id
//! P/guard/networks                bumped by every network create and remove (serialises them)
//! P/ips/<net>/<ip>                address claim → endpoint, under the owning node's lease
//! P/endpoints/<net>/<name>        endpoint record, under the owning node's lease
//! ```

#[derive(Debug, Clone)]
pub struct Keys {
    prefix: String,
}

impl Keys {
    pub fn new(prefix: &str) -> Keys {
        Keys {
            prefix: prefix.trim_end_matches('/').to_string(),
        }
    }
    pub fn prefix(&self) -> &str {
        &self.prefix
    }
    pub fn nodes(&self) -> String {
        format!("{}/nodes/", self.prefix)
    }
    pub fn node(&self, id: &str) -> String {
        format!("{}/nodes/{id}", self.prefix)
    }
    pub fn networks(&self) -> String {
        format!("{}/networks/", self.prefix)
    }
    pub fn network(&self, id: &str) -> String {
        format!("{}/networks/{id}", self.prefix)
    }
    pub fn name(&self, name: &str) -> String {
        format!("{}/names/{name}", self.prefix)
    }
    pub fn vnis(&self) -> String {
        format!("{}/vnis/", self.prefix)
    }
    pub fn vni(&self, vni: u32) -> String {
        format!("{}/vnis/{vni}", self.prefix)
    }
    pub fn guard(&self) -> String {
        format!("{}/guard/networks", self.prefix)
    }
    pub fn ips(&self, net: &str) -> String {
        format!("{}/ips/{net}/", self.prefix)
    }
    pub fn ip(&self, net: &str, ip: std::net::Ipv4Addr) -> String {
        format!("{}/ips/{net}/{ip}", self.prefix)
    }
    pub fn all_endpoints(&self) -> String {
        format!("{}/endpoints/", self.prefix)
    }
    pub fn endpoints(&self, net: &str) -> String {
        format!("{}/endpoints/{net}/", self.prefix)
    }
    pub fn endpoint(&self, net: &str, name: &str) -> String {
        format!("{}/endpoints/{net}/{name}", self.prefix)
    }
}
