//! `exec`: another process in a running container, through the runtime's `exec`, with its
//! stdout and stderr streamed back in Docker's framing.

use super::{Engine, EngineError, Result, Status};
use std::collections::BTreeMap;
use std::process::Stdio;

#[derive(Debug, Clone)]
pub struct ExecSpec {
    pub cmd: Vec<String>,
    pub env: Vec<String>,
    pub working_dir: String,
    pub attach_stdin: bool,
    pub tty: bool,
}

#[derive(Debug, Clone)]
pub struct ExecState {
    pub id: String,
    pub container_id: String,
    pub spec: ExecSpec,
    pub running: bool,
    pub exit_code: Option<i32>,
    pub pid: u32,
}

#[derive(Default)]
pub struct Execs {
    pub by_id: BTreeMap<String, ExecState>,
}

impl Engine {
    pub async fn exec_create(&self, container: &str, spec: ExecSpec) -> Result<String> {
        let c = self.container(container).await?;
        if c.state.status != Status::Running {
            return Err(EngineError::Conflict(format!(
                "Container {} is not running",
                c.id
            )));
        }
        if spec.cmd.is_empty() {
            return Err(EngineError::BadRequest("No exec command specified".into()));
        }
        if spec.tty {
            return Err(EngineError::BadRequest(
                "exec with a terminal (-t) is not supported by this berth yet; run it without -t"
                    .into(),
            ));
        }
        let id = berth_net::network::new_id();
        self.execs.lock().await.by_id.insert(
            id.clone(),
            ExecState {
                id: id.clone(),
                container_id: c.id,
                spec,
                running: false,
                exit_code: None,
                pid: 0,
            },
        );
        Ok(id)
    }

    pub async fn exec_inspect(&self, id: &str) -> Result<ExecState> {
        self.execs
            .lock()
            .await
            .by_id
            .get(id)
            .cloned()
            .ok_or_else(|| EngineError::NotFound(format!("No such exec instance: {id}")))
    }

    /// Starts the process; the caller streams its pipes and then reports the exit.
    pub async fn exec_start(&self, id: &str) -> Result<tokio::process::Child> {
        let mut execs = self.execs.lock().await;
        let ex = execs
            .by_id
            .get_mut(id)
            .ok_or_else(|| EngineError::NotFound(format!("No such exec instance: {id}")))?;
        if ex.running || ex.exit_code.is_some() {
            return Err(EngineError::Conflict(format!(
                "Error: Exec command {id} has already run"
            )));
        }
        let c = self.container(&ex.container_id).await?;
        if c.state.status != Status::Running {
            return Err(EngineError::Conflict(format!(
                "Container {} is not running",
                c.id
            )));
        }
        let mut cmd = tokio::process::Command::new(&self.runtime.binary);
        cmd.arg("--root").arg(&self.runtime.root).arg("exec");
        for e in &ex.spec.env {
            cmd.arg("--env").arg(e);
        }
        if !ex.spec.working_dir.is_empty() {
            cmd.arg("--cwd").arg(&ex.spec.working_dir);
        }
        cmd.arg(&c.id)
            .args(&ex.spec.cmd)
            .stdin(if ex.spec.attach_stdin {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let child = cmd.spawn().map_err(|e| {
            EngineError::Runtime(format!("cannot run {}: {e}", self.runtime.binary.display()))
        })?;
        ex.running = true;
        ex.pid = child.id().unwrap_or(0);
        Ok(child)
    }

    pub async fn exec_finished(&self, id: &str, code: i32) {
        if let Some(ex) = self.execs.lock().await.by_id.get_mut(id) {
            ex.running = false;
            ex.exit_code = Some(code);
        }
    }
}
