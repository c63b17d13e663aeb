//! An in-memory runtime for the engine's unit tests: containers are entries, processes are
//! PIDs that end when a test (or a signal) says so, and every exit wakes its watchers as a
//! pidfd would.

use super::{ExecProcess, ExitFuture, RunRequest, Runtime, RuntimeError, Started};
use nix::sys::signal::Signal;
use std::collections::{BTreeMap, BTreeSet};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::watch;

#[derive(Default)]
struct State {
    next_pid: u32,
    /// Container ID → its init's PID (0 once the init has ended).
    containers: BTreeMap<String, u32>,
    /// PID → exit code, once ended.
    exited: BTreeMap<u32, i32>,
    /// PID → a channel that carries the exit code when the process ends.
    watchers: BTreeMap<u32, watch::Sender<Option<i32>>>,
    /// Executables `run` refuses, with the runtime's words.
    refuse: BTreeMap<String, String>,
    /// PIDs that ignore SIGTERM.
    ignore_term: BTreeSet<u32>,
    runs: usize,
}

/// Holds the next `delete` until a test opens it: the runtime still forgetting a container.
#[derive(Default)]
struct DeleteGate {
    hold_next: bool,
    open: bool,
}

pub struct FakeRuntime {
    gate: Mutex<DeleteGate>,
    gate_moved: std::sync::Condvar,
    state: Mutex<State>,
    root: PathBuf,
    /// How long `run` takes, so that tests can land operations in the middle of a start.
    run_delay: Mutex<Duration>,
}

impl FakeRuntime {
    pub fn new(root: PathBuf) -> FakeRuntime {
        FakeRuntime {
            gate: Mutex::default(),
            gate_moved: std::sync::Condvar::new(),
            state: Mutex::new(State {
                next_pid: 1000,
                ..Default::default()
            }),
            root,
            run_delay: Mutex::new(Duration::ZERO),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `run` of a container whose command starts with `exe` fails with `message`.
    pub fn refuse(&self, exe: &str, message: &str) {
        self.lock().refuse.insert(exe.into(), message.into());
    }

    pub fn set_run_delay(&self, d: Duration) {
        *self.run_delay.lock().unwrap_or_else(|p| p.into_inner()) = d;
    }

    /// The next `delete` blocks until [`FakeRuntime::open_delete`].
    pub fn hold_next_delete(&self) {
        let mut g = self.gate.lock().unwrap_or_else(|p| p.into_inner());
        g.hold_next = true;
        g.open = false;
    }

    pub fn open_delete(&self) {
        self.gate.lock().unwrap_or_else(|p| p.into_inner()).open = true;
        self.gate_moved.notify_all();
    }

    fn pass_gate(&self) {
        let mut g = self.gate.lock().unwrap_or_else(|p| p.into_inner());
        if std::mem::take(&mut g.hold_next) {
            while !g.open {
                g = self.gate_moved.wait(g).unwrap_or_else(|p| p.into_inner());
            }
        }
    }

    /// The container's init ends with `code`, as if it had exited by itself.
    pub fn exit(&self, id: &str, code: i32) -> bool {
        let mut st = self.lock();
        let Some(pid) = st.containers.get(id).copied().filter(|p| *p != 0) else {
            return false;
        };
        Self::end(&mut st, pid, code);
        true
    }

    pub fn ignore_term(&self, id: &str) {
        let mut st = self.lock();
        if let Some(pid) = st.containers.get(id).copied() {
            st.ignore_term.insert(pid);
        }
    }

    fn end(st: &mut State, pid: u32, code: i32) {
        for pid_ref in st.containers.values_mut() {
            if *pid_ref == pid {
                *pid_ref = 0;
            }
        }
        st.exited.insert(pid, code);
        if let Some(w) = st.watchers.get(&pid) {
            w.send_replace(Some(code));
        }
    }

    /// Containers the runtime knows (running or not).
    pub fn known(&self) -> Vec<String> {
        self.lock().containers.keys().cloned().collect()
    }

    pub fn runs(&self) -> usize {
        self.lock().runs
    }

    /// A container the runtime holds without the engine having asked (as a crash leaves it).
    pub fn plant(&self, id: &str) -> u32 {
        let mut st = self.lock();
        st.next_pid += 1;
        let pid = st.next_pid;
        st.containers.insert(id.into(), pid);
        pid
    }

    fn first_arg(bundle: &Path) -> Option<String> {
        let text = std::fs::read_to_string(bundle.join("config.json")).ok()?;
        let v: serde_json::Value = serde_json::from_str(&text).ok()?;
        v["process"]["args"][0].as_str().map(str::to_string)
    }
}

impl Runtime for FakeRuntime {
    fn run(&self, req: &RunRequest) -> Result<Started, RuntimeError> {
        let delay = *self.run_delay.lock().unwrap_or_else(|p| p.into_inner());
        if !delay.is_zero() {
            std::thread::sleep(delay);
        }
        let exe = Self::first_arg(&req.bundle).unwrap_or_default();
        let mut st = self.lock();
        st.runs += 1;
        if st.containers.contains_key(&req.id) {
            return Err(RuntimeError::Failed {
                what: "run".into(),
                stderr: format!("container with id exists: {}", req.id),
            });
        }
        if let Some(msg) = st.refuse.get(&exe) {
            return Err(RuntimeError::Start(msg.clone()));
        }
        st.next_pid += 1;
        let pid = st.next_pid;
        st.containers.insert(req.id.clone(), pid);
        Ok(Started {
            pid,
            ..Started::default()
        })
    }

    fn exec_tty(&self, _id: &str, _p: &ExecProcess) -> Result<(u32, OwnedFd), RuntimeError> {
        Err(RuntimeError::Failed {
            what: "exec failed".into(),
            stderr: "the fake runtime has no terminals".into(),
        })
    }

    fn exec_command(&self, _id: &str, p: &ExecProcess) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new("/bin/true");
        cmd.args(p.args);
        cmd
    }

    fn signal(&self, pid: u32, sig: Signal) -> Result<(), RuntimeError> {
        let mut st = self.lock();
        if st.exited.contains_key(&pid) || !st.containers.values().any(|p| *p == pid) {
            return Err(RuntimeError::Signal {
                pid,
                source: nix::errno::Errno::ESRCH,
            });
        }
        let ends = match sig {
            Signal::SIGKILL => true,
            Signal::SIGTERM | Signal::SIGINT => !st.ignore_term.contains(&pid),
            _ => false,
        };
        if ends {
            Self::end(&mut st, pid, 128 + sig as i32);
        }
        Ok(())
    }

    fn freeze(&self, id: &str, _frozen: bool) -> Result<(), RuntimeError> {
        match self.lock().containers.get(id) {
            Some(pid) if *pid != 0 => Ok(()),
            _ => Err(RuntimeError::Failed {
                what: "pause".into(),
                stderr: format!("container {id} is not running"),
            }),
        }
    }

    fn delete(&self, id: &str, force: bool) -> Result<(), RuntimeError> {
        self.pass_gate();
        let mut st = self.lock();
        match st.containers.get(id).copied() {
            None => Err(RuntimeError::Failed {
                what: "delete".into(),
                stderr: format!("container {id} does not exist"),
            }),
            Some(pid) if pid != 0 && !force => Err(RuntimeError::Failed {
                what: "delete".into(),
                stderr: format!("cannot delete container {id} that is not stopped"),
            }),
            Some(pid) => {
                if pid != 0 {
                    Self::end(&mut st, pid, 137);
                }
                st.containers.remove(id);
                Ok(())
            }
        }
    }

    fn list(&self) -> Result<Vec<String>, RuntimeError> {
        Ok(self.known())
    }

    fn wait_exit(&self, pid: u32) -> ExitFuture {
        let mut rx = {
            let mut st = self.lock();
            let known = st.exited.get(&pid).copied();
            st.watchers
                .entry(pid)
                .or_insert_with(|| watch::channel(known).0)
                .subscribe()
        };
        Box::pin(async move {
            match rx.wait_for(|c| c.is_some()).await {
                Ok(code) => code.unwrap_or(255),
                Err(_) => 255,
            }
        })
    }

    fn try_reap(&self, pid: u32) -> Option<i32> {
        let st = self.lock();
        if let Some(code) = st.exited.get(&pid) {
            return Some(*code);
        }
        // A PID nobody started is gone, as a process that ended while the daemon was away.
        (!st.containers.values().any(|p| *p == pid)).then_some(255)
    }

    fn ns_path(&self, p: &Path) -> PathBuf {
        p.to_path_buf()
    }

    fn cgroup_parent(&self) -> &str {
        "/berth-fake-cgroup-parent-that-does-not-exist"
    }

    fn state_root(&self) -> &Path {
        &self.root
    }
}
