//! `/containers` and `/images`: create, start, stop, kill, restart, wait, remove, list, inspect,
//! logs; import, list, inspect, remove images.

use super::{ApiError, AppState};
use crate::engine::{ContainerSpec, EngineError, NetworkRequest, Status};
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use berth_api::answers::{IdResponse, WaitError, WaitResponse};
use berth_api::container::{
    ContainerInspect, ContainerState, CreateBody, Empty, EndpointSettings, HostConfig, LogConfig,
    NetworkSettings, PortMap, RestartPolicy,
};
use berth_api::image::{DeleteItem, ImageConfig, ImageInspect, ImageSummary, RootFs};
use berth_api::progress::JsonMessage;
use chrono::{SecondsFormat, Utc};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

// ------------------------------------------------------------------ create

/// The body as berth's types, with Docker's status for a body that is not one: a 400 naming
/// the field at fault.
fn decode_create(raw: &Value) -> Result<CreateBody, ApiError> {
    berth_api::container::decode(raw)
        .map_err(|e| ApiError::bad_request(format!("invalid JSON in request body: {e}")))
}

/// An endpoint's settings as the engine's request.
pub fn network_request(ep: EndpointSettings) -> Result<NetworkRequest, ApiError> {
    super::run_options::refuse_endpoint_extras(&ep)?;
    let (ipv4, ipv6) =
        berth_api::container::endpoint_addresses(&ep.ipam_config.unwrap_or_default())
            .map_err(ApiError::bad_request)?;
    Ok(NetworkRequest {
        ipv4: ipv4.map(Into::into),
        ipv6: ipv6.map(Into::into),
        aliases: ep.aliases.unwrap_or_default(),
        mac: (!ep.mac_address.is_empty()).then_some(ep.mac_address),
    })
}

pub async fn create(
    State(st): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let raw: Value = super::json_body(&body)?;
    crate::engine::validate::create_body(&raw)?;
    crate::engine::validate::platform(q.get("platform").map_or("", String::as_str))?;
    let b = decode_create(&raw)?;
    super::run_options::refuse_unsupported(&b)?;
    let run = super::run_options::parse(&b)?;
    if b.image.is_empty() {
        return Err(ApiError::bad_request(
            "no image specified: Image is required",
        ));
    }
    berth_api::container::check(&b).map_err(ApiError::bad_request)?;
    let hc = b.host_config.unwrap_or_default();
    if !hc.runtime.is_empty() && hc.runtime != st.runtime_name {
        return Err(ApiError::bad_request(format!(
            "HostConfig.Runtime {:?} is not supported: berthd runs every container with {:?} (daemon.json default-runtime)",
            hc.runtime, st.runtime_name
        )));
    }
    let rp = hc.restart_policy.clone().unwrap_or_default();
    let restart = crate::engine::RestartPolicy::new(&rp.name, rp.maximum_retry_count)?;
    if hc.auto_remove && restart.name != "no" {
        return Err(ApiError::bad_request(
            "conflicting options: --restart and --rm",
        ));
    }
    let links = hc
        .links
        .iter()
        .flatten()
        .map(|l| berth_api::container::parse_link(l))
        .collect::<Result<Vec<_>, _>>()
        .map_err(ApiError::bad_request)?;
    if !links.is_empty() && !matches!(hc.network_mode.as_str(), "" | "default" | "bridge") {
        return Err(ApiError::bad_request(
            "--link works on the default bridge network only (user-defined networks resolve names through their DNS)",
        ));
    }
    let mut warnings = Vec::new();
    let ports = super::ports::parse_bindings(&hc.port_bindings.clone().unwrap_or_default())?;
    let exposed = super::ports::parse_exposed(&b.exposed_ports.clone().unwrap_or_default())?;
    if !ports.is_empty() || hc.publish_all_ports {
        if hc.network_mode.starts_with("container:") {
            return Err(ApiError::bad_request(
                "conflicting options: port publishing and the container type network mode",
            ));
        }
        if hc.network_mode == "host" {
            warnings.push("Published ports are discarded when using host network mode".to_string());
        }
    }
    let mut networks = Vec::new();
    for (name, ep) in b
        .networking_config
        .and_then(|n| n.endpoints_config)
        .unwrap_or_default()
    {
        networks.push((name, network_request(ep)?));
    }
    if !ports.is_empty() || hc.publish_all_ports {
        // Docker's warning for -p on a network whose driver publishes no ports (macvlan).
        let named = std::iter::once(hc.network_mode.as_str())
            .chain(networks.iter().map(|(n, _)| n.as_str()));
        warnings.extend(st.ctl.port_mapping_warnings(named).await);
    }
    let spec = ContainerSpec {
        name: q.get("name").cloned().unwrap_or_default(),
        image: b.image,
        cmd: b.cmd.unwrap_or_default(),
        entrypoint: b.entrypoint,
        env: b.env.unwrap_or_default(),
        working_dir: b.working_dir,
        hostname: b.hostname,
        domainname: b.domainname,
        labels: b.labels.unwrap_or_default(),
        network_mode: hc.network_mode,
        networks,
        extra_hosts: hc.extra_hosts.unwrap_or_default(),
        dns: hc.dns.unwrap_or_default(),
        dns_search: hc.dns_search.unwrap_or_default(),
        dns_options: hc.dns_options.unwrap_or_default(),
        auto_remove: hc.auto_remove,
        mac_address: b.mac_address,
        links,
        restart,
        ports,
        publish_all: hc.publish_all_ports,
        exposed,
        tty: b.tty,
        open_stdin: b.open_stdin,
        stdin_once: b.stdin_once,
        run,
    };
    let c = st.engine.create(spec).await?;
    Ok((
        StatusCode::CREATED,
        Json(IdResponse {
            id: c.id,
            warnings: Some(warnings),
        }),
    )
        .into_response())
}

// --------------------------------------------------------------- lifecycle

pub async fn start(
    State(st): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    match st.engine.start_container(&id).await {
        Ok(()) => Ok(StatusCode::NO_CONTENT),
        Err(EngineError::NotModified(_)) => Ok(StatusCode::NOT_MODIFIED),
        Err(e) => Err(e.into()),
    }
}

fn timeout(q: &HashMap<String, String>) -> Result<Duration, ApiError> {
    match q.get("t").or_else(|| q.get("timeout")) {
        None => Ok(Duration::from_secs(10)),
        Some(t) => t
            .parse::<i64>()
            .map(|s| Duration::from_secs(s.max(0) as u64))
            .map_err(|_| ApiError::bad_request(format!("invalid timeout {t}: expected seconds"))),
    }
}

pub async fn stop(
    State(st): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<StatusCode, ApiError> {
    match st.engine.stop(&id, timeout(&q)?).await {
        Ok(()) => Ok(StatusCode::NO_CONTENT),
        Err(EngineError::NotModified(_)) => Ok(StatusCode::NOT_MODIFIED),
        Err(e) => Err(e.into()),
    }
}

pub async fn restart(
    State(st): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<StatusCode, ApiError> {
    match st.engine.stop(&id, timeout(&q)?).await {
        Ok(()) | Err(EngineError::NotModified(_)) => {}
        Err(e) => return Err(e.into()),
    }
    st.engine.start_container(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn kill(
    State(st): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<StatusCode, ApiError> {
    let signal = q.get("signal").cloned().unwrap_or_else(|| "SIGKILL".into());
    st.engine.kill(&id, &signal).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Docker sends the headers at once and the body when the wait ends: the docker CLI waits for
/// those headers (the wait is registered) before it starts the container.
pub async fn wait(
    State(st): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    use crate::engine::WaitCondition;
    let cond = match q.get("condition").map(String::as_str) {
        None | Some("") | Some("not-running") => WaitCondition::NotRunning,
        Some("next-exit") => WaitCondition::NextExit,
        Some("removed") => WaitCondition::Removed,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "invalid condition \"{other}\": use not-running, next-exit or removed"
            )))
        }
    };
    let c = st.engine.container(&id).await?;
    let engine = st.engine.clone();
    let body = futures::stream::once(async move {
        let v = match engine.wait_for(&c.id, cond, None).await {
            Ok(code) => WaitResponse {
                status_code: code.into(),
                error: None,
            },
            Err(e) => WaitResponse {
                status_code: -1,
                error: Some(WaitError {
                    message: e.to_string(),
                }),
            },
        };
        // A number and a string: encoding cannot fail.
        let line = serde_json::to_string(&v).unwrap_or_default();
        Ok::<_, std::io::Error>(Bytes::from(format!("{line}\n")))
    });
    Ok((
        [(header::CONTENT_TYPE, "application/json")],
        Body::from_stream(body),
    )
        .into_response())
}

pub async fn remove(
    State(st): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<StatusCode, ApiError> {
    let force = matches!(
        q.get("force").map(String::as_str),
        Some("1" | "true" | "True")
    );
    st.engine.remove(&id, force).await?;
    Ok(StatusCode::NO_CONTENT)
}

// ------------------------------------------------------------ list/inspect

fn ts(t: Option<chrono::DateTime<Utc>>) -> String {
    t.map(|t| t.to_rfc3339_opts(SecondsFormat::Nanos, true))
        .unwrap_or_else(|| "0001-01-01T00:00:00Z".into())
}

pub async fn inspect(
    State(st): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<ContainerInspect>, ApiError> {
    let c = st.engine.container(&id).await?;
    let img = st.engine.image_by_id(&c.image_id).await;
    let args = c.args(img.as_ref());
    let (networks, legacy) = super::container_list::networks(&st, &c).await;
    let dir = st.containers_dir.join(&c.id);
    let etc = |f: &str| dir.join(f).display().to_string();
    let exposed = crate::engine::Engine::exposed_ports(&c, img.as_ref());
    let published = st.engine.published(&c).await;
    let r = &c.spec.run;
    use crate::engine::runopts::MountKind;
    let binds: Vec<String> = r
        .mounts
        .iter()
        .filter(|m| m.kind != MountKind::Tmpfs && !m.anonymous && m.create_source)
        .map(|m| {
            format!(
                "{}:{}{}",
                m.source,
                m.target,
                if m.read_only { ":ro" } else { "" }
            )
        })
        .collect();
    let tmpfs: BTreeMap<String, String> = r
        .mounts
        .iter()
        .filter(|m| m.kind == MountKind::Tmpfs)
        .map(|m| (m.target.clone(), m.options.join(",")))
        .collect();
    let anon: BTreeMap<String, Empty> = r
        .mounts
        .iter()
        .filter(|m| m.anonymous)
        .map(|m| (m.target.clone(), Empty))
        .collect();
    let some = |v: &Vec<String>| (!v.is_empty()).then(|| v.clone());
    let health_cfg = match st.engine.health_config(&c).await {
        Some(h) => Some(h),
        None => c.spec.run.healthcheck.clone(),
    };
    let mut host_config = HostConfig {
        network_mode: c.spec.network_mode.clone(),
        auto_remove: c.spec.auto_remove,
        dns: Some(c.spec.dns.clone()),
        dns_options: Some(c.spec.dns_options.clone()),
        dns_search: Some(c.spec.dns_search.clone()),
        extra_hosts: some(&c.spec.extra_hosts),
        links: (!c.spec.links.is_empty()).then(|| {
            c.spec
                .links
                .iter()
                .map(|(n, a)| format!("/{n}:/{}/{a}", c.name))
                .collect()
        }),
        port_bindings: Some(super::ports::bindings(&c.spec.ports)),
        publish_all_ports: c.spec.publish_all,
        restart_policy: Some(RestartPolicy {
            name: c.spec.restart.name.clone(),
            maximum_retry_count: c.spec.restart.max_retries,
        }),
        // Logs are kept as Docker's json-file driver keeps them (compose reads the type).
        log_config: Some(LogConfig {
            r#type: "json-file".into(),
            config: Some(BTreeMap::new()),
        }),
        binds: Some(binds),
        tmpfs: Some(tmpfs),
        readonly_rootfs: r.read_only,
        privileged: r.privileged,
        cap_add: Some(r.cap_add.clone()),
        cap_drop: Some(r.cap_drop.clone()),
        memory: r.memory,
        memory_swap: r.memory_swap,
        nano_cpus: r.nano_cpus,
        cpu_shares: r.cpu_shares,
        pids_limit: (r.pids_limit > 0).then_some(r.pids_limit),
        init: Some(r.init),
        security_opt: r
            .no_new_privileges
            .then(|| vec!["no-new-privileges".to_string()]),
        mounts: None,
        ..Default::default()
    };
    super::run_options::show_kernel(&r.kernel, &mut host_config);
    host_config.runtime = st.runtime_name.clone();
    let config = CreateBody {
        hostname: c.hostname.clone(),
        domainname: c.spec.domainname.clone(),
        env: Some(c.spec.env.clone()),
        cmd: Some(c.spec.cmd.clone()),
        entrypoint: c.spec.entrypoint.clone(),
        image: c.spec.image.clone(),
        working_dir: c.spec.working_dir.clone(),
        labels: Some(c.spec.labels.clone()),
        exposed_ports: super::ports::exposed_map(&exposed),
        user: r.user.clone(),
        volumes: (!anon.is_empty()).then_some(anon),
        tty: c.spec.tty,
        open_stdin: c.spec.open_stdin,
        stdin_once: c.spec.stdin_once,
        attach_stdin: c.spec.open_stdin && c.spec.stdin_once,
        attach_stdout: false,
        attach_stderr: false,
        healthcheck: health_cfg.as_ref().map(super::health::config),
        ..Default::default()
    };
    let network_settings = NetworkSettings {
        bridge: String::new(),
        sandbox_id: c.sandbox_id.clone().unwrap_or_default(),
        sandbox_key: c.sandbox_key.clone(),
        // Docker shows no ports for a container that is not running.
        ports: if c.sandbox_id.is_some() {
            super::ports::port_map(&exposed, &published)
        } else {
            PortMap::new()
        },
        networks,
        legacy,
    };
    let paused = st.engine.is_paused(&c.id);
    let inspect = ContainerInspect {
        id: c.id.clone(),
        created: c.created.to_rfc3339_opts(SecondsFormat::Nanos, true),
        path: args.first().cloned().unwrap_or_default(),
        args: args.iter().skip(1).cloned().collect(),
        state: ContainerState {
            status: if paused {
                "paused".to_string()
            } else {
                c.state.name().to_string()
            },
            running: c.state.status == Status::Running,
            paused,
            pid: c.state.pid,
            exit_code: c.state.exit_code,
            error: c.state.error.clone(),
            started_at: ts(c.state.started_at),
            finished_at: ts(c.state.finished_at),
            health: st.engine.health(&c.id).as_ref().map(super::health::state),
            ..Default::default()
        },
        image: c.image_id.clone(),
        resolv_conf_path: etc("resolv.conf"),
        hostname_path: etc("hostname"),
        hosts_path: etc("hosts"),
        log_path: etc("stdout.log"),
        name: format!("/{}", c.name),
        restart_count: c.state.restart_count,
        driver: "overlay".into(),
        platform: "linux".into(),
        host_config,
        mounts: super::volumes::mounts(&st, &c),
        config,
        network_settings,
    };
    Ok(Json(inspect))
}

/// Docker's multiplexed log stream: frames of [stream, 0, 0, 0, size (u32 BE)] + payload; a
/// terminal container's log is one raw stream, as Docker sends it.
pub async fn logs(
    State(st): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let mut opts = super::log_options::parse(&q)?;
    // As Docker's: following a container that is not running prints its logs and ends.
    opts.follow &= st.engine.container(&id).await?.state.status == Status::Running;
    super::logs::body(&st, &id, opts, true).await
}

/// `POST /containers/{id}/resize?h=&w=`: the terminal's size.
pub async fn resize(
    State(st): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<StatusCode, ApiError> {
    let (rows, cols) = super::stream::size_query(&q)?;
    st.engine.resize(&id, rows, cols).await?;
    Ok(StatusCode::OK)
}

// ------------------------------------------------------------------ images

pub async fn image_create(
    State(st): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
    body: Body,
) -> Result<Response, ApiError> {
    if let Some(from) = q.get("fromImage") {
        let tag = q.get("tag").map(String::as_str).unwrap_or("");
        return super::pull::pull(&st, from, tag).await;
    }
    match q.get("fromSrc").map(String::as_str) {
        Some("-") => {}
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "import from {other} is not supported: send the archive in the request body (fromSrc=-)"
            )))
        }
        None => return Err(ApiError::bad_request("fromSrc or fromImage is required")),
    }
    let repo = q.get("repo").cloned().unwrap_or_default();
    let tag = q.get("tag").cloned().unwrap_or_default();
    if !repo.is_empty() {
        // Refused before the body is read, so a bad name costs no upload.
        let full = if tag.is_empty() {
            repo.clone()
        } else {
            format!("{repo}:{tag}")
        };
        crate::engine::image::check_reference(&full)?;
    }
    let upload = st.engine.upload(body.into_data_stream()).await?;
    let img = st.engine.import(upload, &repo, &tag).await?;
    let named = match (repo.as_str(), tag.as_str()) {
        ("", _) => None,
        (r, "") => Some(format!("{r}:latest")),
        (r, t) => Some(format!("{r}:{t}")),
    };
    image_event(&st, &img, "import", named);
    let line = JsonMessage::status(img.id).line();
    Ok(([(header::CONTENT_TYPE, "application/json")], line).into_response())
}

pub async fn image_load(State(st): State<AppState>, body: Body) -> Result<Response, ApiError> {
    let upload = st.engine.upload(body.into_data_stream()).await?;
    let lines = st.engine.load(upload).await?;
    for i in st.engine.images().await {
        if lines
            .iter()
            .any(|l| l.contains(&i.id) || i.repo_tags.iter().any(|t| l.contains(t)))
        {
            image_event(&st, &i, "load", None);
        }
    }
    let mut out = String::new();
    for l in lines {
        out.push_str(&JsonMessage::stream(format!("{l}\n")).line());
    }
    Ok(([(header::CONTENT_TYPE, "application/json")], out).into_response())
}

/// An image event, named by the reference it concerns (or the image's first tag, or its ID).
pub(super) fn image_event(
    st: &AppState,
    i: &crate::engine::image::Image,
    action: &str,
    name: Option<String>,
) {
    let name = name
        .or_else(|| i.repo_tags.first().cloned())
        .unwrap_or_else(|| i.id.clone());
    let attrs = BTreeMap::from([("name".to_string(), name)]);
    st.engine.events.emit("image", action, &i.id, attrs);
}

pub(super) fn image_summary(i: &crate::engine::image::Image) -> ImageSummary {
    ImageSummary {
        id: i.id.clone(),
        parent_id: String::new(),
        repo_tags: i.repo_tags.clone(),
        repo_digests: i.repo_digests.clone(),
        created: i.created.timestamp(),
        size: i.size,
        shared_size: -1,
        labels: i.labels.clone(),
        containers: -1,
    }
}

/// `GET /images/json` with Docker's filters: `reference` (globs), `dangling`, `label`,
/// `before`/`since` (an image), `until` (a time).
pub async fn images(
    State(st): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Vec<ImageSummary>>, ApiError> {
    use super::filters::{reference_matches, Filters, IMAGE_KEYS};
    let f = Filters::from_query(&q, IMAGE_KEYS)?;
    let mut bounds = [None, None];
    for (i, key) in ["before", "since"].into_iter().enumerate() {
        for v in f.get(key) {
            bounds[i] = Some(st.engine.image(v).await?.created);
        }
    }
    let until = match f.get("until").first() {
        Some(v) => Some(super::filters::parse_time("until", v)?),
        None => None,
    };
    let out = st
        .engine
        .images()
        .await
        .iter()
        .filter(|i| {
            f.any("reference", |p| {
                i.repo_tags.iter().any(|t| reference_matches(p, t))
            }) && f
                .bool("dangling")
                .is_none_or(|d| d == i.repo_tags.is_empty())
                && f.labels(&i.labels)
                && bounds[0].is_none_or(|t| i.created < t)
                && bounds[1].is_none_or(|t| i.created > t)
                && until.is_none_or(|t| i.created < t)
        })
        .map(|i| {
            // As Docker's: with a reference filter an image shows only the tags that matched.
            let mut i = i.clone();
            if f.has("reference") {
                i.repo_tags
                    .retain(|t| f.get("reference").iter().any(|p| reference_matches(p, t)));
            }
            image_summary(&i)
        })
        .collect();
    Ok(Json(out))
}

pub async fn image_inspect(
    State(st): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<ImageInspect>, ApiError> {
    let i = st.engine.image(&name).await?;
    Ok(Json(ImageInspect {
        created: i.created.to_rfc3339_opts(SecondsFormat::Nanos, true),
        id: i.id,
        repo_tags: i.repo_tags,
        repo_digests: i.repo_digests,
        parent: String::new(),
        comment: "Imported".into(),
        config: ImageConfig {
            cmd: i.cmd,
            entrypoint: i.entrypoint,
            env: i.env,
            working_dir: i.working_dir,
            labels: i.labels,
        },
        architecture: "amd64".into(),
        os: "linux".into(),
        size: i.size,
        root_fs: RootFs {
            kind: "layers".into(),
            layers: Vec::new(),
        },
    }))
}

pub async fn image_remove(
    State(st): State<AppState>,
    Path(name): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Vec<DeleteItem>>, ApiError> {
    let force = matches!(
        q.get("force").map(String::as_str),
        Some("1" | "true" | "True")
    );
    let img = st.engine.image(&name).await?;
    let lines = st.engine.remove_image(&name, force).await?;
    for l in &lines {
        let (action, what) = match l.split_once(": ") {
            Some(("Untagged", t)) => ("untag", Some(t.to_string())),
            _ => ("delete", None),
        };
        image_event(&st, &img, action, what);
    }
    Ok(Json(
        lines
            .into_iter()
            .map(|l| match l.split_once(": ") {
                Some(("Untagged", v)) => DeleteItem::Untagged(v.to_string()),
                Some((_, v)) => DeleteItem::Deleted(v.to_string()),
                None => DeleteItem::Deleted(l),
            })
            .collect(),
    ))
}
