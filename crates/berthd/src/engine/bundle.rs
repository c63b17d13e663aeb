//! The OCI bundle of a container: config.json from oci-spec's runc-like defaults, adjusted for
//! the container's command, environment, hostname, namespaces and generated /etc files.

use super::{EngineError, Result};
use oci_spec::runtime::{
    Capabilities, Capability, LinuxCapabilities, LinuxNamespace, LinuxNamespaceBuilder,
    LinuxNamespaceType, Mount, MountBuilder, Spec,
};
use std::path::{Path, PathBuf};

pub struct BundleSpec<'a> {
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub cwd: String,
    pub hostname: String,
    pub domainname: String,
    /// The network namespace to join; `None` shares the daemon's (host mode).
    pub netns: Option<&'a Path>,
    /// (file on the host, path in the container) bind mounts: /etc/hosts and friends.
    pub etc_files: Vec<(PathBuf, &'static str)>,
    /// `-t`: the process gets a terminal from the runtime.
    pub terminal: bool,
    /// Where the runtime makes the container's cgroups (`/berth/<id>`).
    pub cgroups_path: String,
}

fn bind(src: &Path, dst: &str) -> Result<Mount> {
    MountBuilder::default()
        .destination(dst)
        .typ("bind")
        .source(src)
        .options(vec!["rbind".to_string(), "rprivate".to_string()])
        .build()
        .map_err(|e| EngineError::Io(format!("bundle mount {dst}: {e}")))
}

fn ns(typ: LinuxNamespaceType, path: Option<&Path>) -> Result<LinuxNamespace> {
    let mut b = LinuxNamespaceBuilder::default().typ(typ);
    if let Some(p) = path {
        b = b.path(p);
    }
    b.build()
        .map_err(|e| EngineError::Io(format!("bundle namespace: {e}")))
}

/// Docker's default capability set: NET_RAW among them, so that ping works as root.
fn docker_capabilities() -> LinuxCapabilities {
    use Capability::*;
    let set: Capabilities = [
        Chown,
        DacOverride,
        Fsetid,
        Fowner,
        Mknod,
        NetRaw,
        Setgid,
        Setuid,
        Setfcap,
        Setpcap,
        NetBindService,
        SysChroot,
        Kill,
        AuditWrite,
    ]
    .into_iter()
    .collect();
    let mut caps = LinuxCapabilities::default();
    caps.set_bounding(Some(set.clone()));
    caps.set_effective(Some(set.clone()));
    caps.set_permitted(Some(set));
    caps.set_inheritable(None);
    caps.set_ambient(None);
    caps
}

/// Writes `<bundle>/config.json`; the root filesystem is `<bundle>/rootfs`.
pub fn write(bundle: &Path, b: &BundleSpec) -> Result<()> {
    let mut spec = Spec::default();
    spec.set_hostname(Some(b.hostname.clone()));
    if !b.domainname.is_empty() {
        spec.set_domainname(Some(b.domainname.clone()));
    }
    if let Some(root) = spec.root_mut() {
        root.set_path(bundle.join("rootfs"));
        root.set_readonly(Some(false));
    }
    if let Some(p) = spec.process_mut() {
        p.set_terminal(Some(b.terminal));
        p.set_capabilities(Some(docker_capabilities()));
        p.set_args(Some(b.args.clone()));
        p.set_env(Some(b.env.clone()));
        p.set_cwd(PathBuf::from(if b.cwd.is_empty() { "/" } else { &b.cwd }));
    }
    let mut mounts = spec.mounts().clone().unwrap_or_default();
    for (src, dst) in &b.etc_files {
        mounts.push(bind(src, dst)?);
    }
    spec.set_mounts(Some(mounts));
    if let Some(linux) = spec.linux_mut() {
        // Hybrid cgroups: the host's cgroup namespace, as Docker does on cgroup v1.
        let mut namespaces = vec![
            ns(LinuxNamespaceType::Pid, None)?,
            ns(LinuxNamespaceType::Ipc, None)?,
            ns(LinuxNamespaceType::Uts, None)?,
            ns(LinuxNamespaceType::Mount, None)?,
        ];
        if let Some(path) = b.netns {
            namespaces.push(ns(LinuxNamespaceType::Network, Some(path))?);
        }
        linux.set_namespaces(Some(namespaces));
        linux.set_cgroups_path(Some(PathBuf::from(&b.cgroups_path)));
    }
    let path = bundle.join("config.json");
    spec.save(&path)
        .map_err(|e| EngineError::Io(format!("write {}: {e}", path.display())))?;
    // The container's environment is in it, secrets included: the daemon's alone.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).map_err(|source| {
        EngineError::Os {
            context: format!("make {} private", path.display()),
            source,
        }
    })
}
