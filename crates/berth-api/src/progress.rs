//! Docker's JSON message stream (`jsonmessage`): the lines `POST /images/create` (pull),
//! `/images/load` and import answer with. Absent keys are left out, except `progressDetail`,
//! which dockerd sends as `{}` for a layer without byte counts.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct JsonMessage {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(rename = "progressDetail", skip_serializing_if = "Option::is_none")]
    pub progress_detail: Option<ProgressDetail>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub progress: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream: Option<String>,
    #[serde(rename = "errorDetail", skip_serializing_if = "Option::is_none")]
    pub error_detail: Option<ErrorDetail>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ProgressDetail {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total: Option<u64>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ErrorDetail {
    pub message: String,
}

impl JsonMessage {
    /// `{"status": …}`.
    pub fn status(s: impl Into<String>) -> JsonMessage {
        JsonMessage {
            status: Some(s.into()),
            ..JsonMessage::default()
        }
    }

    /// `{"stream": …}`.
    pub fn stream(s: impl Into<String>) -> JsonMessage {
        JsonMessage {
            stream: Some(s.into()),
            ..JsonMessage::default()
        }
    }

    /// The closing line of a stream that failed: `{"errorDetail": {"message": m}, "error": m}`.
    pub fn failed(m: impl Into<String>) -> JsonMessage {
        let m = m.into();
        JsonMessage {
            error_detail: Some(ErrorDetail { message: m.clone() }),
            error: Some(m),
            ..JsonMessage::default()
        }
    }

    /// One line of the stream: the JSON and a newline.
    pub fn line(&self) -> String {
        // Strings and numbers only: encoding cannot fail.
        format!("{}\n", serde_json::to_string(self).unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn messages_leave_out_what_they_do_not_carry() {
        let v = |m: &JsonMessage| serde_json::to_value(m).unwrap();
        assert_eq!(v(&JsonMessage::status("s")), json!({"status": "s"}));
        assert_eq!(
            v(&JsonMessage::failed("no")),
            json!({"errorDetail": {"message": "no"}, "error": "no"})
        );
        let layer = JsonMessage {
            status: Some("Pull complete".into()),
            progress_detail: Some(ProgressDetail::default()),
            id: Some("abc".into()),
            ..JsonMessage::default()
        };
        assert_eq!(
            v(&layer),
            json!({"status": "Pull complete", "progressDetail": {}, "id": "abc"})
        );
        assert_eq!(JsonMessage::stream("x\n").line(), "{\"stream\":\"x\\n\"}\n");
    }
}
