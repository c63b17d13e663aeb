//! Healthchecks: a probe run through the runtime's exec in a running container every
//! interval, the container's health (starting, healthy, unhealthy) with its failing streak and
//! last probes, and a `health_status` event at each change, as Docker's.
//!
//! Health belongs to one run of a container (its init's PID). It is kept in memory and
//! written after each probe to `health.json` in the container's directory (replaced whole, no
//! fsync: a crash loses at most the last probe), so a daemon restart finds the health of a
//! running container where it was and goes on probing it, and a stopped container still shows
//! its last health. A new run starts from "starting", as Docker's.

use super::runtime::ExecProcess;
use super::{Engine, EngineError, Result, Status};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, VecDeque};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

/// Docker's defaults for what a healthcheck leaves at zero.
const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
const DEFAULT_RETRIES: u32 = 3;
/// Probes kept for `State.Health.Log`.
const KEPT_PROBES: usize = 5;
/// Bytes of a probe's output kept, as Docker's.
const MAX_OUTPUT: usize = 4096;
/// Docker refuses durations below a millisecond (other than 0, "the default").
const MIN_DURATION_NS: i64 = 1_000_000;

/// A healthcheck as asked for (Config.Healthcheck): durations in nanoseconds, 0 for "inherit
/// or default".
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthConfig {
    /// `[]` inherit the image's, `["NONE"]` none, `["CMD", args..]`, `["CMD-SHELL", cmd]`.
    pub test: Vec<String>,
    pub interval_ns: i64,
    pub timeout_ns: i64,
    pub start_period_ns: i64,
    pub retries: i64,
}

impl HealthConfig {
    /// Checks what Docker checks: a known test form and no negative or sub-millisecond values.
    pub fn validate(&self) -> Result<()> {
        match self.test.first().map(String::as_str) {
            None | Some("NONE") => {}
            Some("CMD" | "CMD-SHELL") if self.test.len() > 1 => {}
            Some("CMD" | "CMD-SHELL") => {
                return Err(EngineError::BadRequest(format!(
                    "Healthcheck.Test {:?} has no command",
                    self.test
                )))
            }
            Some(other) => {
                return Err(EngineError::BadRequest(format!(
                    "Healthcheck.Test: unknown type {other:?}; use NONE, CMD or CMD-SHELL"
                )))
            }
        }
        for (what, ns) in [
            ("Interval", self.interval_ns),
            ("Timeout", self.timeout_ns),
            ("StartPeriod", self.start_period_ns),
        ] {
            if ns != 0 && ns < MIN_DURATION_NS {
                return Err(EngineError::BadRequest(format!(
                    "{what} in Healthcheck cannot be less than 1ms (got {ns}ns)"
                )));
            }
        }
        if self.retries < 0 {
            return Err(EngineError::BadRequest(format!(
                "Retries in Healthcheck cannot be negative (got {})",
                self.retries
            )));
        }
        Ok(())
    }

    /// The container's healthcheck over the image's, as Docker merges them: the container's
    /// test (unless empty) and each non-zero value of the container's.
    pub fn merged(container: Option<&HealthConfig>, image: Option<&HealthConfig>) -> Option<Self> {
        let mut h = match (container, image) {
            (None, None) => return None,
            (Some(c), None) => c.clone(),
            (None, Some(i)) => i.clone(),
            (Some(c), Some(i)) => {
                let pick = |a: i64, b: i64| if a != 0 { a } else { b };
                HealthConfig {
                    test: if c.test.is_empty() {
                        i.test.clone()
                    } else {
                        c.test.clone()
                    },
                    interval_ns: pick(c.interval_ns, i.interval_ns),
                    timeout_ns: pick(c.timeout_ns, i.timeout_ns),
                    start_period_ns: pick(c.start_period_ns, i.start_period_ns),
                    retries: pick(c.retries, i.retries),
                }
            }
        };
        if h.test.is_empty() || h.test[0] == "NONE" {
            return None;
        }
        h.retries = h.retries.max(0);
        Some(h)
    }

    /// The probe's argv.
    fn argv(&self) -> Vec<String> {
        match self.test.first().map(String::as_str) {
            Some("CMD-SHELL") => vec!["/bin/sh".into(), "-c".into(), self.test[1..].join(" ")],
            _ => self.test.iter().skip(1).cloned().collect(),
        }
    }

    fn duration(ns: i64, default: Duration) -> Duration {
        if ns > 0 {
            Duration::from_nanos(ns as u64)
        } else {
            default
        }
    }

    fn interval(&self) -> Duration {
        Self::duration(self.interval_ns, DEFAULT_INTERVAL)
    }

    fn timeout(&self) -> Duration {
        Self::duration(self.timeout_ns, DEFAULT_TIMEOUT)
    }

    fn retries(&self) -> u32 {
        match self.retries {
            0 => DEFAULT_RETRIES,
            n => u32::try_from(n).unwrap_or(u32::MAX),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HealthStatus {
    Starting,
    Healthy,
    Unhealthy,
}

impl HealthStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            HealthStatus::Starting => "starting",
            HealthStatus::Healthy => "healthy",
            HealthStatus::Unhealthy => "unhealthy",
        }
    }
}

/// One probe's outcome (an entry of `State.Health.Log`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Probe {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub exit_code: i64,
    pub output: String,
}

/// A container's health during one run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    pub status: HealthStatus,
    pub failing_streak: u32,
    pub log: VecDeque<Probe>,
    /// The init of the run this health belongs to.
    pid: u32,
}

impl Health {
    fn new(pid: u32) -> Self {
        Health {
            status: HealthStatus::Starting,
            failing_streak: 0,
            log: VecDeque::new(),
            pid,
        }
    }

    /// Takes a probe's result in, as Docker does: a success makes it healthy; a failure counts
    /// towards `retries` unless the container is still starting within its start period.
    fn record(&mut self, probe: Probe, retries: u32, in_start_period: bool) {
        if probe.exit_code == 0 {
            self.failing_streak = 0;
            self.status = HealthStatus::Healthy;
        } else if !(self.status == HealthStatus::Starting && in_start_period) {
            self.failing_streak = self.failing_streak.saturating_add(1);
            if self.failing_streak >= retries {
                self.status = HealthStatus::Unhealthy;
            }
        }
        if self.log.len() == KEPT_PROBES {
            self.log.pop_front();
        }
        self.log.push_back(probe);
    }
}

/// The file a container's health is kept in, in its directory.
const FILE: &str = "health.json";

/// The health of every container that has a healthcheck, by container ID.
#[derive(Default)]
pub struct Monitors {
    by_id: std::sync::Mutex<BTreeMap<String, Health>>,
}

impl Monitors {
    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Health>> {
        self.by_id.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Engine {
    /// The container's health, if it has a healthcheck and has run: from memory, else as a
    /// daemon before this one left it.
    pub fn health(&self, id: &str) -> Option<Health> {
        if let Some(h) = self.health.lock().get(id).cloned() {
            return Some(h);
        }
        let h = self.stored_health(id)?;
        Some(
            self.health
                .lock()
                .entry(id.to_string())
                .or_insert(h)
                .clone(),
        )
    }

    fn health_file(&self, id: &str) -> std::path::PathBuf {
        self.paths.containers.join(id).join(FILE)
    }

    /// The health written by the last probe, if any (and readable: a torn or foreign file is
    /// as good as none, the next probe writes it again).
    fn stored_health(&self, id: &str) -> Option<Health> {
        let text = std::fs::read(self.health_file(id)).ok()?;
        serde_json::from_slice(&text)
            .map_err(
                |e| tracing::warn!(container = %id, error = %e, "unreadable health file; ignored"),
            )
            .ok()
    }

    /// Writes a container's health next to its record: a new file renamed over the old one.
    fn persist_health(&self, id: &str, h: &Health) {
        let path = self.health_file(id);
        let tmp = path.with_extension("json.tmp");
        // Probe output may hold what the container prints: the daemon's alone, as its log.
        let write = |b: Vec<u8>| {
            use std::io::Write;
            use std::os::unix::fs::OpenOptionsExt;
            std::fs::OpenOptions::new()
                .create(true)
                .write(true)
                .truncate(true)
                .mode(0o600)
                .open(&tmp)?
                .write_all(&b)
        };
        let written = serde_json::to_vec(h)
            .map_err(std::io::Error::other)
            .and_then(write)
            .and_then(|()| std::fs::rename(&tmp, &path));
        if let Err(e) = written {
            tracing::warn!(container = %id, error = %e, "cannot write the container's health; a daemon restart starts it again");
        }
    }

    /// The healthcheck a container runs: its own over its image's.
    pub async fn health_config(&self, c: &super::Container) -> Option<HealthConfig> {
        let img = self.image_by_id(&c.image_id).await;
        let of_image = img.and_then(|i| i.healthcheck).map(|h| HealthConfig {
            test: h.test,
            interval_ns: h.interval_ns,
            timeout_ns: h.timeout_ns,
            start_period_ns: h.start_period_ns,
            retries: h.retries,
        });
        HealthConfig::merged(c.spec.run.healthcheck.as_ref(), of_image.as_ref())
    }

    /// Forgets a removed container's health.
    pub(super) fn forget_health(&self, id: &str) {
        self.health.lock().remove(id);
    }

    /// Starts probing a container's run (init `pid`) if it has a healthcheck; the monitor ends
    /// with the run.
    pub(super) fn monitor_health(self: &Arc<Self>, id: String, pid: u32) {
        let me = self.clone();
        tokio::spawn(async move {
            let Ok(c) = me.container(&id).await else {
                return;
            };
            let Some(cfg) = me.health_config(&c).await else {
                return;
            };
            let started = c.state.started_at.unwrap_or_else(Utc::now);
            // The same run after a daemon restart goes on from where it was.
            let health = me
                .stored_health(&id)
                .filter(|h| h.pid == pid)
                .unwrap_or_else(|| Health::new(pid));
            me.persist_health(&id, &health);
            me.health.lock().insert(id.clone(), health);
            me.health_loop(&c, pid, &cfg, started).await;
        });
    }

    fn same_run(&self, id: &str, pid: u32) -> bool {
        self.read_view()
            .get(id)
            .is_some_and(|c| c.state.status == Status::Running && c.state.pid == pid)
    }

    async fn health_loop(
        &self,
        c: &super::Container,
        pid: u32,
        cfg: &HealthConfig,
        started: DateTime<Utc>,
    ) {
        let start_period = chrono::Duration::nanoseconds(cfg.start_period_ns.max(0));
        loop {
            // An exit wakes the monitor, so it ends with the run rather than an interval later.
            let exited = self.exited.notified();
            tokio::select! {
                _ = tokio::time::sleep(cfg.interval()) => {}
                _ = exited => {}
            }
            if !self.same_run(&c.id, pid) {
                break;
            }
            if self.is_paused(&c.id) {
                // As Docker's: a paused container is not probed.
                continue;
            }
            let probe = self.probe(&c.id, cfg).await;
            let in_start_period = probe.start - started < start_period;
            let changed = {
                let mut all = self.health.lock();
                let Some(h) = all.get_mut(&c.id).filter(|h| h.pid == pid) else {
                    break;
                };
                let before = h.status;
                h.record(probe, cfg.retries(), in_start_period);
                let now = h.clone();
                drop(all);
                self.persist_health(&c.id, &now);
                (now.status != before).then_some(now.status)
            };
            if let Some(now) = changed {
                tracing::info!(container = %c.name, health = now.as_str(), "health changed");
                self.container_event(c, &format!("health_status: {}", now.as_str()));
            }
        }
    }

    /// Runs the probe once through the runtime's exec, within the healthcheck's timeout.
    async fn probe(&self, id: &str, cfg: &HealthConfig) -> Probe {
        let start = Utc::now();
        let args = cfg.argv();
        let mut cmd = self.runtime.exec_command(
            id,
            &ExecProcess {
                args: &args,
                env: &[],
                cwd: "",
                // As Docker's: the probe runs as the container's own user.
                user: None,
            },
        );
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let (exit_code, mut output) = match cmd.spawn() {
            Err(e) => (-1, format!("cannot run the healthcheck: {e}")),
            Ok(child) => {
                match tokio::time::timeout(cfg.timeout(), child.wait_with_output()).await {
                    Err(_) => (
                        -1,
                        format!(
                            "Health check exceeded timeout ({})",
                            humantime(cfg.timeout())
                        ),
                    ),
                    Ok(Err(e)) => (-1, format!("cannot run the healthcheck: {e}")),
                    Ok(Ok(out)) => {
                        let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
                        text.push_str(&String::from_utf8_lossy(&out.stderr));
                        (i64::from(out.status.code().unwrap_or(-1)), text)
                    }
                }
            }
        };
        if output.len() > MAX_OUTPUT {
            let mut cut = MAX_OUTPUT;
            while !output.is_char_boundary(cut) {
                cut -= 1;
            }
            output.truncate(cut);
        }
        Probe {
            start,
            end: Utc::now(),
            exit_code,
            output,
        }
    }
}

/// A duration as Go prints one (`30s`, `1.5s`, `200ms`), for Docker's timeout message.
fn humantime(d: Duration) -> String {
    if d.as_millis() < 1000 {
        format!("{}ms", d.as_millis())
    } else {
        let s = d.as_secs_f64();
        format!("{}s", (s * 1000.0).round() / 1000.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn probe(code: i64) -> Probe {
        Probe {
            start: Utc::now(),
            end: Utc::now(),
            exit_code: code,
            output: String::new(),
        }
    }

    #[test]
    fn streak_and_start_period() {
        let mut h = Health::new(1);
        h.record(probe(1), 2, true);
        assert_eq!(h.status, HealthStatus::Starting);
        assert_eq!(
            h.failing_streak, 0,
            "a failure in the start period does not count"
        );
        h.record(probe(1), 2, false);
        assert_eq!(h.failing_streak, 1);
        assert_eq!(h.status, HealthStatus::Starting);
        h.record(probe(1), 2, false);
        assert_eq!(h.status, HealthStatus::Unhealthy);
        h.record(probe(0), 2, false);
        assert_eq!(h.status, HealthStatus::Healthy);
        assert_eq!(h.failing_streak, 0);
        for _ in 0..10 {
            h.record(probe(0), 2, false);
        }
        assert_eq!(h.log.len(), KEPT_PROBES);
    }

    #[test]
    fn merge_and_validate() {
        let img = HealthConfig {
            test: vec!["CMD".into(), "true".into()],
            interval_ns: 5_000_000_000,
            retries: 7,
            ..Default::default()
        };
        let mine = HealthConfig {
            interval_ns: 2_000_000_000,
            ..Default::default()
        };
        let m = HealthConfig::merged(Some(&mine), Some(&img)).unwrap();
        assert_eq!(m.test, img.test, "an empty test inherits the image's");
        assert_eq!(m.interval_ns, 2_000_000_000);
        assert_eq!(m.retries, 7);
        let none = HealthConfig {
            test: vec!["NONE".into()],
            ..Default::default()
        };
        assert!(HealthConfig::merged(Some(&none), Some(&img)).is_none());
        let shell = HealthConfig {
            test: vec!["CMD-SHELL".into(), "test -f /x".into()],
            ..Default::default()
        };
        assert_eq!(shell.argv(), vec!["/bin/sh", "-c", "test -f /x"]);
        assert!(HealthConfig {
            test: vec!["BOGUS".into()],
            ..Default::default()
        }
        .validate()
        .is_err());
        assert!(HealthConfig {
            test: vec!["CMD".into(), "true".into()],
            interval_ns: 10,
            ..Default::default()
        }
        .validate()
        .is_err());
        assert_eq!(humantime(Duration::from_millis(200)), "200ms");
        assert_eq!(humantime(Duration::from_secs(30)), "30s");
    }
}
