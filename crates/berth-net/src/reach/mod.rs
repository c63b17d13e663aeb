//! `network check`: why can (or can't) A reach B? The verdict is worked out over berth's model
//! of what it programmed ([`model`], [`facts`] from its records), then again over what the
//! kernel really holds (the ruleset and sets read back, the interfaces on the path, the routes
//! inside the containers at its ends, the bridges' forwarding entries it crosses, the VXLAN
//! entries of an overlay crossing), and any
//! disagreement between the two is reported. An optional probe sends one real connection
//! attempt. Everything here but [`observe`] and [`probe`] is pure.

pub mod codes;
pub mod facts;
pub mod fdb;
pub mod model;
pub mod observe;
pub mod probe;
pub mod readback;
pub mod routes;
pub mod userchain;
pub mod verdict;
pub mod vxlan;

#[cfg(test)]
mod overlay_tests;
#[cfg(test)]
mod tests;

pub use codes::Code;
pub use facts::Facts;
pub use model::Topology;
pub use verdict::{evaluate, parse_port, Hop, Links, Party, Query, Verdict};

use serde::Serialize;

/// The kernel's side of a check.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KernelView {
    /// False when berth does not manage the firewall or the ruleset could not be read.
    pub checked: bool,
    pub agrees: bool,
    pub reachable: bool,
    pub code: Option<Code>,
    pub reason: Option<String>,
    /// How berth's tables differ from its records (all of them, not only this path's).
    pub differences: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The result of one connection attempt.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProbeResult {
    /// `tcp`, `icmp`, or `none` when nothing could be sent.
    pub method: String,
    pub target: String,
    /// `connected`, `refused` (the path works, nothing listens), `replied`, `timeout`, or why
    /// nothing was sent.
    pub outcome: String,
    pub reachable: Option<bool>,
    pub agrees: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    pub src: String,
    pub dst: String,
    pub port: Option<String>,
    pub reachable: bool,
    pub code: Option<Code>,
    pub hint: Option<String>,
    pub reason: Option<String>,
    pub path: Vec<Hop>,
    pub notes: Vec<String>,
    pub kernel: KernelView,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub probe: Option<ProbeResult>,
    /// Where a probe connects (after DNAT), if anywhere.
    #[serde(skip)]
    pub target: Option<(std::net::IpAddr, Option<u16>)>,
}

/// The kernel's state as read for one check.
pub struct Observed {
    pub facts: Facts,
    pub links: Links,
    /// The kernel's routes inside the containers at the ends, for what the path needs.
    pub routes: Vec<routes::Seen>,
    /// The bridges' forwarding entries for the MACs the path crosses a bridge to.
    pub fdb: Vec<fdb::Seen>,
    /// The overlay networks' VXLAN entries for the remote endpoints the path reaches.
    pub vxlan: Vec<vxlan::Seen>,
}

/// Checks `q` over the model and, when given, over what the kernel holds.
pub fn check(
    topo: &Topology,
    model: &Facts,
    kernel: Result<Option<&Observed>, String>,
    q: &Query,
    names: (&str, &str, Option<&str>),
) -> Result<Report, String> {
    // The user chain is the user's, not berth's: the model takes it from the kernel too.
    let with_user;
    let model = match &kernel {
        Ok(Some(obs)) => {
            with_user = Facts {
                user: obs.facts.user.clone(),
                ..model.clone()
            };
            &with_user
        }
        _ => model,
    };
    let m = evaluate(topo, model, None, q)?;
    let kernel = match kernel {
        Ok(Some(obs)) => {
            let mut k = evaluate(topo, &obs.facts, Some(&obs.links), q)?;
            // The firewall and interfaces let it through; the routes at the ends must too.
            if k.reachable {
                let routes = obs.routes.iter().find_map(routes::Seen::problem);
                let fdb = obs.fdb.iter().find_map(fdb::Seen::problem);
                let vxlan = || obs.vxlan.iter().find_map(vxlan::Seen::problem);
                if let Some((code, why)) = routes
                    .map(|r| (Code::NoRoute, r))
                    .or(fdb.map(|f| (Code::FdbMismatch, f)))
                    .or_else(vxlan)
                {
                    k.reachable = false;
                    k.code = Some(code);
                    k.reason = Some(why);
                }
            }
            KernelView {
                checked: true,
                agrees: k.reachable == m.reachable && k.code == m.code,
                reachable: k.reachable,
                code: k.code,
                reason: k.reason,
                differences: Facts::differences(model, &obs.facts),
                error: None,
            }
        }
        Ok(None) => KernelView {
            checked: false,
            agrees: true,
            reachable: m.reachable,
            code: m.code,
            reason: None,
            differences: vec![],
            error: Some("berth does not manage the firewall here (--iptables=false)".into()),
        },
        Err(e) => KernelView {
            checked: false,
            agrees: true,
            reachable: m.reachable,
            code: m.code,
            reason: None,
            differences: vec![],
            error: Some(e),
        },
    };
    Ok(Report {
        src: names.0.to_string(),
        dst: names.1.to_string(),
        port: names.2.map(str::to_string),
        reachable: m.reachable,
        code: m.code,
        hint: m.code.map(|c| c.hint().to_string()),
        reason: m.reason,
        path: m.path,
        notes: m.notes,
        kernel,
        probe: None,
        target: m.target,
    })
}
