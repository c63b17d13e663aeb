//! Endpoints of global networks: the address claim and the endpoint record are written in one
//! compare-and-swap transaction under the owning node's lease, so two nodes never hold one
//! address, and a node that dies lets go of its addresses when its lease runs out.

use std::collections::HashSet;
use std::net::Ipv4Addr;

use crate::error::{ClusterError, Result};
use crate::ipam;
use crate::keys::Keys;
use crate::model::{decode, encode, EndpointRecord, EndpointSpec, IpClaim, NetworkRecord};
use crate::store::{ClusterStore, Compare, KeyRange, LeaseId, Txn, TxnOp};

/// Claims give up after this many lost races (each retry widens the choice, see ipam).
const MAX_ATTEMPTS: u32 = 64;

fn check_endpoint_name(name: &str) -> Result<()> {
    if name.is_empty() || name.contains('/') {
        return Err(ClusterError::Invalid(format!(
            "invalid endpoint name {name:?}: it must be non-empty and have no '/'"
        )));
    }
    Ok(())
}

/// The addresses claimed in a network, read from the claim keys alone.
async fn used_addresses(
    store: &dyn ClusterStore,
    keys: &Keys,
    net: &str,
) -> Result<HashSet<Ipv4Addr>> {
    let prefix = keys.ips(net);
    let r = store.get_keys(KeyRange::Prefix(prefix.clone())).await?;
    Ok(r.kvs
        .iter()
        .filter_map(|kv| kv.key.strip_prefix(prefix.as_str())?.parse().ok())
        .collect())
}

/// Joins an endpoint of `node` to a global network: an address (the requested one or a free
/// one) and the endpoint record, both under `lease`.
pub async fn claim(
    store: &dyn ClusterStore,
    keys: &Keys,
    node: &str,
    lease: LeaseId,
    network_id: &str,
    spec: &EndpointSpec,
) -> Result<EndpointRecord> {
    check_endpoint_name(&spec.name)?;
    let got = store.get(KeyRange::Key(keys.network(network_id))).await?;
    let Some(kv) = got.kvs.first() else {
        return Err(ClusterError::NotFound(format!(
            "network {network_id} not found"
        )));
    };
    let net: NetworkRecord = decode(kv)?;
    if let Some(ip) = spec.ip {
        ipam::check_requested(&net, ip)?;
    }
    let ep_key = keys.endpoint(&net.id, &spec.name);
    for attempt in 0..MAX_ATTEMPTS {
        let ip = match spec.ip {
            Some(ip) => ip,
            None => {
                let used = used_addresses(store, keys, &net.id).await?;
                ipam::choose_address(&net, &used, attempt).ok_or_else(|| {
                    ClusterError::Exhausted(format!(
                        "no available IPv4 addresses on this network's address pools: {} ({})",
                        net.name, net.id
                    ))
                })?
            }
        };
        let rec = EndpointRecord {
            network_id: net.id.clone(),
            name: spec.name.clone(),
            aliases: spec.aliases.clone(),
            ip,
            mac: spec.mac.clone(),
            node: node.to_string(),
            container_id: spec.container_id.clone(),
        };
        let claim = IpClaim {
            endpoint: spec.name.clone(),
            node: node.to_string(),
        };
        let ip_key = keys.ip(&net.id, ip);
        let txn = Txn {
            when: vec![
                Compare::present(keys.network(&net.id)),
                Compare::absent(ip_key.clone()),
                Compare::absent(ep_key.clone()),
            ],
            then: vec![
                TxnOp::put(ip_key.clone(), encode(&claim), Some(lease)),
                TxnOp::put(ep_key.clone(), encode(&rec), Some(lease)),
            ],
            otherwise: vec![
                TxnOp::get(keys.network(&net.id)),
                TxnOp::get(ep_key.clone()),
            ],
        };
        let r = store.txn(txn).await?;
        if r.succeeded {
            return Ok(rec);
        }
        if r.gets.first().is_none_or(|g| g.is_empty()) {
            return Err(ClusterError::NotFound(format!(
                "network {} was removed",
                net.name
            )));
        }
        if r.gets.get(1).is_some_and(|g| !g.is_empty()) {
            return Err(ClusterError::Conflict(format!(
                "endpoint with name {} already exists in network {}",
                spec.name, net.name
            )));
        }
        if spec.ip.is_some() {
            return Err(ClusterError::Conflict(format!(
                "Address already in use: {ip} in network {}",
                net.name
            )));
        }
    }
    Err(ClusterError::Conflict(format!(
        "could not claim an address in network {}: {MAX_ATTEMPTS} tries lost to other claims",
        net.name
    )))
}

/// Leaves a network: the endpoint record and its address claim go together. An endpoint that is
/// already gone is not an error (a retried rm, or a lease that ran out).
pub async fn release(
    store: &dyn ClusterStore,
    keys: &Keys,
    network_id: &str,
    name: &str,
) -> Result<Option<EndpointRecord>> {
    let ep_key = keys.endpoint(network_id, name);
    for _ in 0..MAX_ATTEMPTS {
        let got = store.get(KeyRange::Key(ep_key.clone())).await?;
        let Some(kv) = got.kvs.first() else {
            return Ok(None);
        };
        let rec: EndpointRecord = decode(kv)?;
        let txn = Txn {
            when: vec![Compare::mod_revision(ep_key.clone(), kv.mod_revision)],
            then: vec![
                TxnOp::delete(ep_key.clone()),
                TxnOp::delete(keys.ip(network_id, rec.ip)),
            ],
            otherwise: vec![],
        };
        if store.txn(txn).await?.succeeded {
            return Ok(Some(rec));
        }
    }
    Err(ClusterError::Conflict(format!(
        "could not release endpoint {name}: it kept changing"
    )))
}

/// Every endpoint of one network, or of all global networks.
pub async fn list(
    store: &dyn ClusterStore,
    keys: &Keys,
    network_id: Option<&str>,
) -> Result<Vec<EndpointRecord>> {
    let prefix = match network_id {
        Some(n) => keys.endpoints(n),
        None => keys.all_endpoints(),
    };
    let r = store.get(KeyRange::Prefix(prefix)).await?;
    r.kvs.iter().map(decode).collect()
}
