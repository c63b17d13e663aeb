//! `POST /networks/{id}/connect` and `/disconnect`: the bodies berth's CLI sends and berthd
//! reads, as Docker's.

use crate::container::EndpointSettings;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ConnectBody {
    pub container: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endpoint_config: Option<EndpointSettings>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct DisconnectBody {
    pub container: String,
    pub force: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_docker_clis_connect_body_decodes() {
        let b: ConnectBody = serde_json::from_value(json!({
            "Container": "c1",
            "EndpointConfig": {"IPAMConfig": {"IPv4Address": "10.0.0.5"}, "Aliases": ["a"]}
        }))
        .unwrap();
        assert_eq!(b.container, "c1");
        let ep = b.endpoint_config.unwrap_or_default();
        assert_eq!(ep.aliases, Some(vec!["a".to_string()]));
        let d = DisconnectBody {
            container: "c1".into(),
            force: true,
        };
        assert_eq!(
            serde_json::to_value(&d).unwrap(),
            json!({"Container": "c1", "Force": true})
        );
    }
}
