//! `/containers` and `/images`: create, start, stop, kill, restart, wait, remove, list, inspect,
//! logs; import, list, inspect, remove images.

use super::{ApiError, AppState};
use crate::engine::{ContainerSpec, EngineError, NetworkRequest, Status};
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{SecondsFormat, Utc};
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

// ------------------------------------------------------------------ create

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct CreateBody {
    hostname: String,
    domainname: String,
    env: Option<Vec<String>>,
    cmd: Option<Vec<String>>,
    entrypoint: Option<Vec<String>>,
    image: String,
    working_dir: String,
    labels: Option<BTreeMap<String, String>>,
    mac_address: String,
    tty: bool,
    open_stdin: bool,
    stdin_once: bool,
    exposed_ports: Option<BTreeMap<String, Value>>,
    host_config: Option<HostConfigBody>,
    networking_config: Option<NetworkingConfigBody>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct HostConfigBody {
    network_mode: String,
    auto_remove: bool,
    extra_hosts: Option<Vec<String>>,
    dns: Option<Vec<String>>,
    dns_search: Option<Vec<String>>,
    dns_options: Option<Vec<String>>,
    links: Option<Vec<String>>,
    port_bindings: Option<BTreeMap<String, Value>>,
    publish_all_ports: bool,
    restart_policy: Option<RestartBody>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct RestartBody {
    name: String,
    maximum_retry_count: u32,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct NetworkingConfigBody {
    endpoints_config: Option<BTreeMap<String, EndpointBody>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct EndpointBody {
    #[serde(rename = "IPAMConfig")]
    ipam_config: Option<IpamBody>,
    aliases: Option<Vec<String>>,
    mac_address: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct IpamBody {
    #[serde(rename = "IPv4Address")]
    ipv4: String,
    #[serde(rename = "IPv6Address")]
    ipv6: String,
}

fn parse_ip(kind: &str, text: &str) -> Result<Option<std::net::IpAddr>, ApiError> {
    if text.is_empty() {
        return Ok(None);
    }
    let ip: std::net::IpAddr = text
        .parse()
        .map_err(|_| ApiError::bad_request(format!("invalid {kind} address: {text}")))?;
    if (kind == "IPv4") != ip.is_ipv4() {
        return Err(ApiError::bad_request(format!(
            "invalid {kind} address: {text}"
        )));
    }
    Ok(Some(ip))
}

pub async fn create(
    State(st): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let shape: Value = super::json_body(&body)?;
    crate::engine::validate::create_body(&shape)?;
    let b: CreateBody = super::json_body(&body)?;
    let raw: Value = super::json_body(&body)?;
    super::run_options::refuse_unsupported(&raw)?;
    let run = super::run_options::parse(&raw)?;
    if b.image.is_empty() {
        return Err(ApiError::bad_request(
            "no image specified: Image is required",
        ));
    }
    let hc = b.host_config.unwrap_or_default();
    let rp = hc.restart_policy.as_ref();
    let restart = crate::engine::RestartPolicy::new(
        rp.map(|r| r.name.as_str()).unwrap_or(""),
        rp.map(|r| r.maximum_retry_count).unwrap_or(0),
    )?;
    if hc.auto_remove && restart.name != "no" {
        return Err(ApiError::bad_request(
            "conflicting options: --restart and --rm",
        ));
    }
    let mut links = Vec::new();
    for l in hc.links.clone().unwrap_or_default() {
        // "name:alias" from the docker CLI; "/name:/me/alias" from older clients.
        let (name, alias) = l.split_once(':').unwrap_or((&l, &l));
        let name = name.trim_start_matches('/').to_string();
        let alias = alias.rsplit('/').next().unwrap_or(alias).to_string();
        if name.is_empty() || alias.is_empty() {
            return Err(ApiError::bad_request(format!(
                "invalid link {l}: expected NAME[:ALIAS]"
            )));
        }
        links.push((name, alias));
    }
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
        let ipam = ep.ipam_config.unwrap_or_default();
        networks.push((
            name,
            NetworkRequest {
                ipv4: parse_ip("IPv4", &ipam.ipv4)?,
                ipv6: parse_ip("IPv6", &ipam.ipv6)?,
                aliases: ep.aliases.unwrap_or_default(),
                mac: (!ep.mac_address.is_empty()).then_some(ep.mac_address),
            },
        ));
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
        Json(json!({"Id": c.id, "Warnings": warnings})),
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
            Ok(code) => json!({"StatusCode": code, "Error": null}),
            Err(e) => json!({"StatusCode": -1, "Error": {"Message": e.to_string()}}),
        };
        Ok::<_, std::io::Error>(Bytes::from(format!("{v}\n")))
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
) -> Result<Json<Value>, ApiError> {
    let c = st.engine.container(&id).await?;
    let img = st.engine.image_by_id(&c.image_id).await;
    let args = c.args(img.as_ref());
    let (nets, legacy) = super::container_list::networks_json(&st, &c).await;
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
    let tmpfs: BTreeMap<&str, String> = r
        .mounts
        .iter()
        .filter(|m| m.kind == MountKind::Tmpfs)
        .map(|m| (m.target.as_str(), m.options.join(",")))
        .collect();
    let anon: BTreeMap<&str, Value> = r
        .mounts
        .iter()
        .filter(|m| m.anonymous)
        .map(|m| (m.target.as_str(), json!({})))
        .collect();
    let volumes = if anon.is_empty() {
        Value::Null
    } else {
        json!(anon)
    };
    let mut ns = json!({
        "Bridge": "",
        "SandboxID": c.sandbox_id.clone().unwrap_or_default(),
        "SandboxKey": c.sandbox_key,
        // Docker shows no ports for a container that is not running.
        "Ports": if c.sandbox_id.is_some() { super::ports::ports_json(&exposed, &published) } else { json!({}) },
        "Networks": nets,
    });
    for (k, v) in legacy.as_object().into_iter().flatten() {
        ns[k] = v.clone();
    }
    let health_cfg = match st.engine.health_config(&c).await {
        Some(h) => Some(h),
        None => c.spec.run.healthcheck.clone(),
    };
    let mut out = json!({
        "Id": c.id,
        "Created": c.created.to_rfc3339_opts(SecondsFormat::Nanos, true),
        "Path": args.first().cloned().unwrap_or_default(),
        "Args": args.iter().skip(1).collect::<Vec<_>>(),
        "State": {
            "Status": if st.engine.is_paused(&c.id) { "paused" } else { c.state.name() },
            "Running": c.state.status == Status::Running,
            "Paused": st.engine.is_paused(&c.id), "Restarting": false, "OOMKilled": false, "Dead": false,
            "Pid": c.state.pid,
            "ExitCode": c.state.exit_code,
            "Error": c.state.error,
            "StartedAt": ts(c.state.started_at),
            "FinishedAt": ts(c.state.finished_at),
        },
        "Image": c.image_id,
        "ResolvConfPath": etc("resolv.conf"),
        "HostnamePath": etc("hostname"),
        "HostsPath": etc("hosts"),
        "LogPath": etc("stdout.log"),
        "Name": format!("/{}", c.name),
        "RestartCount": c.state.restart_count,
        "Driver": "overlay",
        "Platform": "linux",
        "HostConfig": {
            "NetworkMode": c.spec.network_mode,
            "AutoRemove": c.spec.auto_remove,
            "Dns": c.spec.dns, "DnsOptions": c.spec.dns_options, "DnsSearch": c.spec.dns_search,
            "ExtraHosts": if c.spec.extra_hosts.is_empty() { Value::Null } else { json!(c.spec.extra_hosts) },
            "Links": if c.spec.links.is_empty() { Value::Null } else {
                json!(c.spec.links.iter().map(|(n, a)| format!("/{n}:/{}/{a}", c.name)).collect::<Vec<_>>())
            },
            "PortBindings": super::ports::bindings_json(&c.spec.ports),
            "PublishAllPorts": c.spec.publish_all,
            "RestartPolicy": {"Name": c.spec.restart.name, "MaximumRetryCount": c.spec.restart.max_retries},
            // Logs are kept as Docker's json-file driver keeps them (compose reads the type).
            "LogConfig": {"Type": "json-file", "Config": {}},
            "Binds": binds,
            "Tmpfs": tmpfs,
            "ReadonlyRootfs": r.read_only, "Privileged": r.privileged,
            "CapAdd": r.cap_add, "CapDrop": r.cap_drop,
            "Memory": r.memory, "MemorySwap": r.memory_swap, "NanoCpus": r.nano_cpus,
            "CpuShares": r.cpu_shares, "PidsLimit": if r.pids_limit > 0 { json!(r.pids_limit) } else { Value::Null },
            "Init": r.init,
            "SecurityOpt": if r.no_new_privileges { json!(["no-new-privileges"]) } else { Value::Null },
        },
        "Mounts": super::volumes::mounts(&st, &c),
        "Config": {
            "Hostname": c.hostname,
            "Domainname": c.spec.domainname,
            "Env": c.spec.env,
            "Cmd": c.spec.cmd,
            "Entrypoint": c.spec.entrypoint,
            "Image": c.spec.image,
            "WorkingDir": c.spec.working_dir,
            "Labels": c.spec.labels,
            "ExposedPorts": super::ports::exposed_json(&exposed),
            "User": r.user,
            "Volumes": volumes,
            "Tty": c.spec.tty, "OpenStdin": c.spec.open_stdin, "StdinOnce": c.spec.stdin_once,
            "AttachStdin": c.spec.open_stdin && c.spec.stdin_once,
            "AttachStdout": false, "AttachStderr": false,
        },
        "NetworkSettings": ns,
    });
    out["Config"]["Healthcheck"] = super::health::config_json(health_cfg.as_ref());
    if let Some(h) = st.engine.health(&c.id) {
        out["State"]["Health"] = super::health::state_json(&h);
    }
    Ok(Json(out))
}

/// Docker's multiplexed log stream: frames of [stream, 0, 0, 0, size (u32 BE)] + payload; a
/// terminal container's log is one raw stream, as Docker sends it.
pub async fn logs(
    State(st): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let on = |k: &str| matches!(q.get(k).map(String::as_str), Some("1" | "true" | "True"));
    let opts = super::log_options::parse(&q)?;
    // As Docker's: following a container that is not running prints its logs and ends.
    let running = st.engine.container(&id).await?.state.status == Status::Running;
    if on("follow") && running {
        return super::attach::follow_body(&st, &id, on("stdout"), on("stderr"), true, opts.tail)
            .await;
    }
    let tty = st.engine.container(&id).await?.spec.tty;
    let (out, err) = st.engine.logs(&id).await?;
    let mut body = Vec::new();
    for (stream, data, wanted) in [(1u8, out, on("stdout")), (2u8, err, on("stderr"))] {
        if !wanted {
            continue;
        }
        let data = match opts.tail {
            Some(n) => data[super::log_options::tail_start(&data, n)..].to_vec(),
            None => data,
        };
        if tty {
            body.extend_from_slice(&data);
            continue;
        }
        for chunk in data.split_inclusive(|b| *b == b'\n') {
            body.extend_from_slice(&[stream, 0, 0, 0]);
            body.extend_from_slice(&(chunk.len() as u32).to_be_bytes());
            body.extend_from_slice(chunk);
        }
    }
    let kind = if tty {
        super::stream::RAW
    } else {
        super::stream::MUX
    };
    Ok(([(header::CONTENT_TYPE, kind)], Body::from(body)).into_response())
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
        return Err(ApiError::not_found(format!(
            "pull access denied for {from}: berth has no registry; import a root filesystem (berth import FILE {from}) or load a saved image (berth load -i FILE)"
        )));
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
    let line = format!("{}\n", json!({"status": img.id}));
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
        out.push_str(&json!({"stream": format!("{l}\n")}).to_string());
        out.push('\n');
    }
    Ok(([(header::CONTENT_TYPE, "application/json")], out).into_response())
}

/// An image event, named by the reference it concerns (or the image's first tag, or its ID).
fn image_event(st: &AppState, i: &crate::engine::image::Image, action: &str, name: Option<String>) {
    let name = name
        .or_else(|| i.repo_tags.first().cloned())
        .unwrap_or_else(|| i.id.clone());
    let attrs = BTreeMap::from([("name".to_string(), name)]);
    st.engine.events.emit("image", action, &i.id, attrs);
}

fn image_summary(i: &crate::engine::image::Image) -> Value {
    json!({
        "Id": i.id, "ParentId": "", "RepoTags": i.repo_tags, "RepoDigests": [],
        "Created": i.created.timestamp(), "Size": i.size, "SharedSize": -1,
        "Labels": {}, "Containers": -1,
    })
}

/// `GET /images/json` with Docker's filters: `reference` (globs), `dangling`, `label`,
/// `before`/`since` (an image), `until` (a time).
pub async fn images(
    State(st): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Vec<Value>>, ApiError> {
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
    // berth keeps no image labels yet: a label filter matches only what has none to match.
    let no_labels = BTreeMap::new();
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
                && f.labels(&no_labels)
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
) -> Result<Json<Value>, ApiError> {
    let i = st.engine.image(&name).await?;
    Ok(Json(json!({
        "Id": i.id, "RepoTags": i.repo_tags, "RepoDigests": [], "Parent": "", "Comment": "Imported",
        "Created": i.created.to_rfc3339_opts(SecondsFormat::Nanos, true),
        "Config": {"Cmd": i.cmd, "Entrypoint": i.entrypoint, "Env": i.env, "WorkingDir": i.working_dir},
        "Architecture": "amd64", "Os": "linux", "Size": i.size,
        "RootFS": {"Type": "layers", "Layers": []},
    })))
}

pub async fn image_remove(
    State(st): State<AppState>,
    Path(name): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Vec<Value>>, ApiError> {
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
                Some((k, v)) => json!({ k: v }),
                None => json!({ "Deleted": l }),
            })
            .collect(),
    ))
}
