//! The wire's network create body (berth-api) made into the controller's request: every `null`
//! of the wire resolved here, so the controller sees plain values.

use berth_api::network::NetworkCreateRequest;

impl From<NetworkCreateRequest> for super::CreateNetwork {
    /// The request with every `null` of the wire resolved: no subnets, no options.
    fn from(req: NetworkCreateRequest) -> Self {
        use super::SubnetRequest;
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
        super::CreateNetwork {
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
    use super::super::CreateNetwork;
    use berth_api::network_create::decode;

    #[test]
    fn nulls_become_empty_in_the_controllers_request() {
        let req = decode(
            br#"{"Name": "p", "IPAM": {"Driver": null, "Config": [{"Subnet": "10.9.0.0/24",
            "IPRange": null, "Gateway": null, "AuxiliaryAddresses": null}], "Options": null},
            "EnableIPv6": null}"#,
        )
        .unwrap();
        let c = CreateNetwork::from(req);
        assert_eq!(c.subnets.len(), 1);
        assert_eq!(c.subnets[0].subnet, "10.9.0.0/24");
        assert!(c.subnets[0].ip_range.is_empty() && !c.enable_ipv6);
        assert!(c.ipam_options.is_empty() && c.options.is_empty());
    }
}
