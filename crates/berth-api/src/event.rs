//! `GET /events`: one message a line, in Docker's wire format.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EventMessage {
    #[serde(rename = "Type")]
    pub kind: String,
    #[serde(rename = "Action")]
    pub action: String,
    #[serde(rename = "Actor")]
    pub actor: Actor,
    pub scope: String,
    /// Unix seconds.
    pub time: i64,
    #[serde(rename = "timeNano")]
    pub time_nano: i64,
    /// The old fields of container events, which docker-py still reads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Actor {
    #[serde(rename = "ID")]
    pub id: String,
    pub attributes: BTreeMap<String, String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_network_event_has_no_old_fields() {
        let e = EventMessage {
            kind: "network".into(),
            action: "create".into(),
            actor: Actor {
                id: "n1".into(),
                attributes: BTreeMap::from([("name".into(), "x".into())]),
            },
            scope: "local".into(),
            time: 1,
            time_nano: 1_000_000_000,
            ..EventMessage::default()
        };
        assert_eq!(
            serde_json::to_value(&e).unwrap(),
            json!({"Type": "network", "Action": "create", "Actor": {"ID": "n1", "Attributes": {"name": "x"}},
                   "scope": "local", "time": 1, "timeNano": 1_000_000_000i64})
        );
    }
}
