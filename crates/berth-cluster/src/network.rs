//! Global networks: the record, its cluster-unique name, its VNI and its subnet are claimed in
//! one transaction, guarded by a key every create and remove bumps, so two nodes creating at
//! once can never both take a name, a VNI or overlapping subnets.

use std::collections::{BTreeSet, HashSet};

use ipnet::Ipv4Net;

use crate::error::{ClusterError, Result};
use crate::ipam;
use crate::keys::Keys;
use crate::model::{decode, encode, now_secs, EndpointRecord, NetworkRecord, NetworkSpec};
use crate::store::{ClusterStore, Compare, KeyRange, Txn, TxnOp};

/// Creates and removes retry this often when another node changed the set of networks under
/// them; each retry works on fresh data, so a lost race costs one round trip.
const MAX_ATTEMPTS: u32 = 16;

pub fn check_name(name: &str) -> Result<()> {
    let ok = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if !ok {
        return Err(ClusterError::Invalid(format!(
            "invalid network name {name:?}: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
        )));
    }
    Ok(())
}

pub async fn list(store: &dyn ClusterStore, keys: &Keys) -> Result<Vec<NetworkRecord>> {
    let r = store.get(KeyRange::Prefix(keys.networks())).await?;
    r.kvs.iter().map(decode).collect()
}

/// By full id, full name, or unique id prefix (Docker's lookup order).
pub async fn find(store: &dyn ClusterStore, keys: &Keys, what: &str) -> Result<NetworkRecord> {
    let all = list(store, keys).await?;
    if let Some(n) = all.iter().find(|n| n.id == what || n.name == what) {
        return Ok(n.clone());
    }
    let mut by_prefix = all
        .iter()
        .filter(|n| !what.is_empty() && n.id.starts_with(what));
    match (by_prefix.next(), by_prefix.next()) {
        (Some(n), None) => Ok(n.clone()),
        (Some(_), Some(_)) => Err(ClusterError::Invalid(format!(
            "network {what} is ambiguous (more than one global network has that id prefix)"
        ))),
        _ => Err(ClusterError::NotFound(format!("network {what} not found"))),
    }
}

pub async fn create(
    store: &dyn ClusterStore,
    keys: &Keys,
    spec: &NetworkSpec,
    node: &str,
) -> Result<NetworkRecord> {
    check_name(&spec.name)?;
    ipam::check_spec(spec)?;
    if spec.id.is_empty() || spec.id.contains('/') {
        return Err(ClusterError::Invalid(format!(
            "invalid network id {:?}",
            spec.id
        )));
    }
    for _ in 0..MAX_ATTEMPTS {
        let guard = store.get(KeyRange::Key(keys.guard())).await?;
        let guard_rev = guard.kvs.first().map(|kv| kv.mod_revision).unwrap_or(0);
        let nets = list(store, keys).await?;
        if nets.iter().any(|n| n.name == spec.name) {
            return Err(ClusterError::Conflict(format!(
                "network with name {} already exists",
                spec.name
            )));
        }
        if nets.iter().any(|n| n.id == spec.id) {
            return Err(ClusterError::Conflict(format!(
                "network with id {} already exists",
                spec.id
            )));
        }
        let taken: Vec<Ipv4Net> = nets
            .iter()
            .map(|n| n.subnet)
            .chain(spec.avoid.iter().copied())
            .collect();
        let subnet = match spec.subnet {
            Some(s) => {
                if let Some(other) = nets.iter().find(|n| ipam::overlaps(n.subnet, s)) {
                    return Err(ClusterError::Conflict(format!(
                        "invalid pool request: Pool overlaps with other one on this address \
                         space: {s} overlaps {} of global network {}",
                        other.subnet, other.name
                    )));
                }
                s
            }
            None => ipam::pick_subnet(&taken).ok_or_else(|| {
                ClusterError::Exhausted(
                    "could not find an available, non-overlapping IPv4 address pool among the \
                     defaults to assign to the network"
                        .into(),
                )
            })?,
        };
        let used: BTreeSet<u32> = nets.iter().map(|n| n.vni).collect();
        let vni = match spec.vni {
            Some(v) => {
                if let Some(other) = nets.iter().find(|n| n.vni == v) {
                    return Err(ClusterError::Conflict(format!(
                        "VNI {v} is already used by global network {}",
                        other.name
                    )));
                }
                v
            }
            None => ipam::pick_vni(&used)
                .ok_or_else(|| ClusterError::Exhausted("no free VNI left".into()))?,
        };
        let rec = NetworkRecord {
            id: spec.id.clone(),
            name: spec.name.clone(),
            driver: "overlay".into(),
            subnet,
            gateway: spec
                .gateway
                .unwrap_or_else(|| ipam::default_gateway(subnet)),
            ip_range: spec.ip_range,
            vni,
            attachable: spec.attachable,
            internal: spec.internal,
            mtu: spec.mtu,
            options: spec.options.clone(),
            labels: spec.labels.clone(),
            created_by: node.to_string(),
            created: now_secs(),
        };
        let txn = Txn {
            when: vec![
                Compare::mod_revision(keys.guard(), guard_rev),
                Compare::absent(keys.network(&rec.id)),
                Compare::absent(keys.name(&rec.name)),
                Compare::absent(keys.vni(vni)),
            ],
            then: vec![
                TxnOp::put(keys.network(&rec.id), encode(&rec), None),
                TxnOp::put(keys.name(&rec.name), rec.id.clone(), None),
                TxnOp::put(keys.vni(vni), rec.id.clone(), None),
                TxnOp::put(keys.guard(), rec.id.clone(), None),
            ],
            otherwise: vec![TxnOp::get(keys.name(&rec.name))],
        };
        let r = store.txn(txn).await?;
        if r.succeeded {
            return Ok(rec);
        }
        if r.gets.first().is_some_and(|g| !g.is_empty()) {
            return Err(ClusterError::Conflict(format!(
                "network with name {} already exists",
                spec.name
            )));
        }
    }
    Err(ClusterError::Conflict(format!(
        "could not create network {}: the set of global networks kept changing ({MAX_ATTEMPTS} tries)",
        spec.name
    )))
}

/// Removes a network no node has endpoints on; its name, VNI and subnet become free.
pub async fn remove(store: &dyn ClusterStore, keys: &Keys, id: &str) -> Result<NetworkRecord> {
    for _ in 0..MAX_ATTEMPTS {
        let got = store.get(KeyRange::Key(keys.network(id))).await?;
        let Some(kv) = got.kvs.first() else {
            return Err(ClusterError::NotFound(format!("network {id} not found")));
        };
        let rec: NetworkRecord = decode(kv)?;
        let txn = Txn {
            when: vec![
                Compare::mod_revision(keys.network(id), kv.mod_revision),
                Compare::none_under(keys.endpoints(id)),
            ],
            then: vec![
                TxnOp::delete(keys.network(id)),
                TxnOp::delete(keys.name(&rec.name)),
                TxnOp::delete(keys.vni(rec.vni)),
                TxnOp::Delete(KeyRange::Prefix(keys.ips(id))),
                TxnOp::put(keys.guard(), id, None),
            ],
            otherwise: vec![
                TxnOp::get(keys.network(id)),
                TxnOp::Get(KeyRange::Prefix(keys.endpoints(id))),
            ],
        };
        let r = store.txn(txn).await?;
        if r.succeeded {
            return Ok(rec);
        }
        let eps = r.gets.get(1).cloned().unwrap_or_default();
        if !eps.is_empty() {
            let nodes: BTreeSet<String> = eps
                .iter()
                .filter_map(|kv| decode::<EndpointRecord>(kv).ok())
                .map(|e| e.node)
                .collect();
            return Err(ClusterError::Conflict(format!(
                "error while removing network: network {} id {} has active endpoints (on nodes: {})",
                rec.name,
                rec.id,
                nodes.into_iter().collect::<Vec<_>>().join(", ")
            )));
        }
    }
    Err(ClusterError::Conflict(format!(
        "could not remove network {id}: it kept changing ({MAX_ATTEMPTS} tries)"
    )))
}

/// The ids of the nodes that have endpoints on the network (`Peers` of network inspect).
pub async fn peer_nodes(store: &dyn ClusterStore, keys: &Keys, id: &str) -> Result<Vec<String>> {
    let r = store.get(KeyRange::Prefix(keys.endpoints(id))).await?;
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for kv in &r.kvs {
        let e: EndpointRecord = decode(kv)?;
        if seen.insert(e.node.clone()) {
            out.push(e.node);
        }
    }
    out.sort();
    Ok(out)
}
