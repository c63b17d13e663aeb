//! `POST /networks/create`: the body decoded as the daemon takes it. berth-net makes the
//! controller's request from it (`berth_net::controller::wire`). One path for berthd and the
//! fuzz target, so what is fuzzed is what the API runs.

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
}
