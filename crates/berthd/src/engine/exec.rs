//! `exec`: another process in a running container, through the runtime's `exec`, with its
//! stdout and stderr streamed back in Docker's framing, or on a terminal (`-t`).

use super::fd::Pipe;
use super::runopts::Ids;
use super::runtime::ExecProcess;
use super::{Engine, EngineError, Result, Status};
use std::collections::BTreeMap;
use std::process::Stdio;
use std::sync::Arc;

#[derive(Debug, Clone)]
pub struct ExecSpec {
    pub cmd: Vec<String>,
    pub env: Vec<String>,
    pub working_dir: String,
    pub attach_stdin: bool,
    pub tty: bool,
    /// `-u` as given; empty runs as the container's own user.
    pub user: String,
    pub privileged: bool,
}

#[derive(Debug, Clone)]
pub struct ExecState {
    pub id: String,
    pub container_id: String,
    pub spec: ExecSpec,
    pub running: bool,
    pub exit_code: Option<i32>,
    pub pid: u32,
    /// `spec.user` resolved against the container's files when the exec was created.
    pub ids: Option<Ids>,
    /// The terminal's master while a `-t` process runs.
    pub tty: Option<Arc<Pipe>>,
}

/// A started exec: its pipes, or its terminal.
pub enum ExecIo {
    Pipes(tokio::process::Child),
    Tty { pid: u32, master: Arc<Pipe> },
}

#[derive(Default)]
pub struct Execs {
    pub by_id: BTreeMap<String, ExecState>,
}

impl Engine {
    #[tracing::instrument(name = "exec_create", skip_all, fields(container = %container))]
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
        self.refuse_if_paused(&c.id, "exec")?;
        if spec.privileged {
            // runc/crun exec take capabilities one by one and no device or seccomp change, so
            // Docker's --privileged exec cannot be given faithfully: refused, not approximated.
            return Err(EngineError::BadRequest(
                "exec --privileged is not supported by berth: start the container with --privileged instead".into(),
            ));
        }
        let ids = if spec.user.is_empty() {
            None
        } else {
            let root = std::path::PathBuf::from(format!("/proc/{}/root", c.state.pid));
            Some(super::runopts::resolve_user(&spec.user, &root)?)
        };
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
                ids,
                tty: None,
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

    /// Starts the process; the caller streams its pipes or terminal and then reports the exit.
    #[tracing::instrument(name = "exec_start", skip_all, fields(exec = %id))]
    pub async fn exec_start(&self, id: &str) -> Result<ExecIo> {
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
        self.refuse_if_paused(&c.id, "exec")?;
        if ex.spec.tty {
            let (runtime, cid, spec, ids) =
                (self.runtime.clone(), c.id.clone(), ex.spec.clone(), ex.ids);
            let (pid, master) = tokio::task::spawn_blocking(move || {
                runtime.exec_tty(
                    &cid,
                    &ExecProcess {
                        args: &spec.cmd,
                        env: &spec.env,
                        cwd: &spec.working_dir,
                        user: ids.map(|i| (i.uid, i.gid)),
                    },
                )
            })
            .await
            .map_err(EngineError::task("exec"))??;
            let master = Arc::new(Pipe::new(master).map_err(super::io("exec terminal"))?);
            ex.running = true;
            ex.pid = pid;
            ex.tty = Some(master.clone());
            return Ok(ExecIo::Tty { pid, master });
        }
        let mut cmd = self.runtime.exec_command(
            &c.id,
            &ExecProcess {
                args: &ex.spec.cmd,
                env: &ex.spec.env,
                cwd: &ex.spec.working_dir,
                user: ex.ids.map(|i| (i.uid, i.gid)),
            },
        );
        cmd.stdin(if ex.spec.attach_stdin {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
        let child = cmd
            .spawn()
            .map_err(super::io("cannot run the runtime's exec"))?;
        ex.running = true;
        ex.pid = child.id().unwrap_or(0);
        Ok(ExecIo::Pipes(child))
    }

    pub async fn exec_finished(&self, id: &str, code: i32) {
        if let Some(ex) = self.execs.lock().await.by_id.get_mut(id) {
            ex.running = false;
            ex.exit_code = Some(code);
            ex.tty = None;
        }
    }

    /// `exec resize`: the size of a `-t` process's terminal; others ignore it, as Docker.
    pub async fn exec_resize(&self, id: &str, rows: u16, cols: u16) -> Result<()> {
        let ex = self.exec_inspect(id).await?;
        if let Some(t) = ex.tty {
            t.resize(rows, cols).map_err(super::io(format!(
                "cannot resize the terminal of exec {id}"
            )))?;
        }
        Ok(())
    }
}

/// Waits for an adopted process (a detached exec) to end and reaps it: its exit code.
pub async fn wait_adopted(pid: u32) -> i32 {
    if super::reaper::wait_exit(pid).await.is_err() {
        while std::path::Path::new(&format!("/proc/{pid}")).exists() {
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }
    super::reaper::exit_code(pid).await
}
