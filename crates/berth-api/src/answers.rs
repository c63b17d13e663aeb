//! Small answers of the container and exec routes, in Docker's wire format: the ID of what a
//! create made, a wait's exit, a container's processes.

use serde::{Deserialize, Serialize};

/// `POST /containers/create` (with `Warnings`) and `POST /containers/{id}/exec` (without).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct IdResponse {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warnings: Option<Vec<String>>,
}

/// `POST /containers/{id}/wait`: `Error` is null, not left out, when the wait succeeded.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct WaitResponse {
    pub status_code: i64,
    #[serde(default)]
    pub error: Option<WaitError>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct WaitError {
    pub message: String,
}

/// `GET /containers/{id}/top`: `ps`'s column titles and one row of cells per process.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TopResponse {
    pub titles: Vec<String>,
    pub processes: Vec<Vec<String>>,
}

/// `POST /containers/prune`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ContainerPruneReport {
    pub containers_deleted: Vec<String>,
    pub space_reclaimed: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_successful_wait_says_error_null() {
        let w = WaitResponse {
            status_code: 3,
            error: None,
        };
        assert_eq!(
            serde_json::to_value(&w).unwrap(),
            json!({"StatusCode": 3, "Error": null})
        );
        let w = WaitResponse {
            status_code: -1,
            error: Some(WaitError {
                message: "gone".into(),
            }),
        };
        assert_eq!(
            serde_json::to_value(&w).unwrap(),
            json!({"StatusCode": -1, "Error": {"Message": "gone"}})
        );
    }

    #[test]
    fn an_exec_create_answer_has_no_warnings_key() {
        let r = IdResponse {
            id: "abc".into(),
            warnings: None,
        };
        assert_eq!(serde_json::to_value(&r).unwrap(), json!({"Id": "abc"}));
    }
}
