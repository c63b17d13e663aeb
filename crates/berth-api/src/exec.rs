//! The exec routes' bodies and answers in Docker's wire format: what `POST
//! /containers/{id}/exec` and `POST /exec/{id}/start` take (berth's CLI sends, berthd reads the
//! same types), and `GET /exec/{id}/json`.

use serde::{Deserialize, Serialize};

/// `POST /containers/{id}/exec`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ExecCreateBody {
    pub attach_stdin: bool,
    pub attach_stdout: bool,
    pub attach_stderr: bool,
    pub tty: bool,
    pub cmd: Option<Vec<String>>,
    pub env: Option<Vec<String>>,
    pub working_dir: String,
    pub detach_keys: String,
    /// `-u USER[:GROUP]`: names are looked up in the container's /etc/passwd and /etc/group.
    pub user: String,
    pub privileged: bool,
}

/// `POST /exec/{id}/start`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ExecStartBody {
    pub detach: bool,
    pub tty: bool,
}

/// `GET /exec/{id}/json`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ExecInspect {
    #[serde(rename = "ID")]
    pub id: String,
    pub running: bool,
    pub exit_code: Option<i32>,
    pub process_config: ProcessConfig,
    pub open_stdin: bool,
    pub open_stdout: bool,
    pub open_stderr: bool,
    #[serde(rename = "ContainerID")]
    pub container_id: String,
    pub pid: u32,
}

/// The exec's command as Docker splits it (lower-case keys, as Docker's).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ProcessConfig {
    pub tty: bool,
    pub entrypoint: Option<String>,
    pub arguments: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_docker_clis_exec_body_decodes() {
        let b: ExecCreateBody = serde_json::from_value(json!({
            "User": "", "Privileged": false, "Tty": true, "AttachStdin": true,
            "AttachStderr": true, "AttachStdout": true, "Detach": false,
            "DetachKeys": "", "Env": null, "WorkingDir": "", "Cmd": ["sh"]
        }))
        .unwrap();
        assert!(b.tty && b.attach_stdin);
        assert_eq!(b.cmd, Some(vec!["sh".to_string()]));
        assert_eq!(b.env, None);
    }

    #[test]
    fn an_exec_inspect_is_dockers_shape() {
        let v = serde_json::to_value(ExecInspect {
            id: "e1".into(),
            process_config: ProcessConfig {
                tty: false,
                entrypoint: Some("ls".into()),
                arguments: vec!["-l".into()],
            },
            ..ExecInspect::default()
        })
        .unwrap();
        assert_eq!(v["ID"], "e1");
        assert_eq!(v["ExitCode"], serde_json::Value::Null);
        assert_eq!(
            v["ProcessConfig"],
            json!({"tty": false, "entrypoint": "ls", "arguments": ["-l"]})
        );
        assert!(
            v.get("ContainerID").is_some() && v.get("Pid").is_some(),
            "{v}"
        );
    }
}
