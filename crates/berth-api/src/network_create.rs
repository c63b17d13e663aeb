//! `POST /networks/create`: the body decoded as the daemon takes it, and (with the `net`
//! feature) the controller's request made from it. One path for berthd and the fuzz target,
//! so what is fuzzed is what the API runs.

use crate::network::NetworkCreateRequest;

/// Decodes a create body: an empty one is refused, and a malformed one names the field at
/// fault (`IPAM.Config[0].Subnet: invalid type: ...`). The network rules themselves are the
/// controller's to check.
pub fn decode(body: &[u8]) -> Result<NetworkCreateRequest, String> {
    if body.is_empty() {
        return Err("request body is empty: expected a JSON network configuration".into());
    }
    let de = &mut serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        if path.is_empty() || path == "." {
            format!("invalid JSON in request body: {}", e.inner())
        } else {
            format!("invalid JSON in request body: {path}: {}", e.inner())
        }
    })
}

#[cfg(feature = "net")]
impl From<NetworkCreateRequest> for berth_net::controller::CreateNetwork {
    /// The request with every `null` of the wire resolved: no subnets, no options.
    fn from(req: NetworkCreateRequest) -> Self {
        use berth_net::controller::SubnetRequest;
        let ipam = req.ipam.unwrap_or_default();
        let subnets = ipam
            .config
            .unwrap_or_default()
            .into_iter()
            .map(|c| SubnetRequest {
                subnet: c.subnet,
                gateway: c.gateway,
                ip_range: c.ip_range,
                aux_addresses: c.auxiliary_addresses,
            })
            .collect();
        berth_net::controller::CreateNetwork {
            name: req.name,
            driver: req.driver,
            internal: req.internal,
            attachable: req.attachable,
            ingress: req.ingress,
            config_only: req.config_only,
            config_from: req.config_from.map(|c| c.network).unwrap_or_default(),
            scope: req.scope,
            enable_ipv4: req.enable_ipv4,
            enable_ipv6: req.enable_ipv6.unwrap_or(false),
            ipam_driver: ipam.driver,
            ipam_options: ipam.options.unwrap_or_default(),
            subnets,
            options: req.options.unwrap_or_default(),
            labels: req.labels.unwrap_or_default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_and_malformed_bodies_say_what_is_wrong() {
        assert!(decode(b"").unwrap_err().contains("request body is empty"));
        let e = decode(br#"{"Name": "n", "IPAM": {"Config": [{"Subnet": 5}]}}"#).unwrap_err();
        assert!(e.contains("IPAM.Config[0].Subnet: invalid type"), "{e}");
        let e = decode(b"{").unwrap_err();
        assert!(e.starts_with("invalid JSON in request body: "), "{e}");
        let req = decode(br#"{"Name": "n", "IPAM": null, "Options": null}"#).unwrap();
        assert_eq!(req.name, "n");
    }

    #[cfg(feature = "net")]
    #[test]
    fn nulls_become_empty_in_the_controllers_request() {
        let req = decode(
            br#"{"Name": "p", "IPAM": {"Driver": null, "Config": [{"Subnet": "10.9.0.0/24",
            "IPRange": null, "Gateway": null, "AuxiliaryAddresses": null}], "Options": null},
            "EnableIPv6": null}"#,
        )
        .unwrap();
        let c = berth_net::controller::CreateNetwork::from(req);
        assert_eq!(c.subnets.len(), 1);
        assert_eq!(c.subnets[0].subnet, "10.9.0.0/24");
        assert!(c.subnets[0].ip_range.is_empty() && !c.enable_ipv6);
        assert!(c.ipam_options.is_empty() && c.options.is_empty());
    }
}
