//! The first half of a pull: which server to ask and how (HTTPS, HTTPS without verification,
//! plain HTTP), then the manifest (an index resolved to linux/amd64) and the image config.
//! Everything that can make a pull fail before any layer moves fails here, so the API can still
//! answer with an error status.

use super::{Mirror, PullRef, RegistryOptions};
use crate::error::{invalid, ImageError, Result};
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::errors::OciDistributionError;
use oci_client::manifest::OciDescriptor;
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};

/// A manifest found and its config read: what [`Resolved::fetch`] downloads.
pub struct Resolved {
    pub(super) client: Client,
    pub(super) reference: Reference,
    pub name: PullRef,
    /// The server asked (`host[:port]`): the registry, or the mirror for a Docker Hub name.
    pub registry: String,
    /// What the name points at: the manifest list's digest when it is one, else the manifest's.
    pub digest: String,
    pub(super) config: Vec<u8>,
    pub(super) config_digest: String,
    pub(super) layers: Vec<OciDescriptor>,
}

impl Resolved {
    /// The image's ID: its config's digest.
    pub fn image_id(&self) -> &str {
        &self.config_digest
    }

    /// Docker's short layer IDs (12 hex of each layer's digest), in order.
    pub fn layer_ids(&self) -> Vec<String> {
        self.layers.iter().map(|l| short(&l.digest)).collect()
    }
}

pub(super) fn short(digest: &str) -> String {
    let hex = digest.split_once(':').map(|(_, h)| h).unwrap_or(digest);
    hex.chars().take(12).collect()
}

/// How one attempt reaches the server.
#[derive(Clone, Copy, Debug)]
enum Transport {
    Https,
    HttpsUnverified,
    Http,
}

/// Finds what `name` points at, asking the registry it names (or a mirror, for Docker Hub).
pub async fn resolve(opts: &RegistryOptions, name: &PullRef) -> Result<Resolved> {
    // reqwest is built without a provider of its own: ring, as everywhere else in berth. An
    // error only says one is installed already, which is all that is needed.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let Some(domain) = &name.domain else {
        return from_mirrors(opts, name).await;
    };
    let addrs = if opts.needs_lookup(domain) {
        lookup(domain).await
    } else {
        Vec::new()
    };
    let tries: &[Transport] = if opts.is_insecure(domain, &addrs) {
        // As dockerd: HTTPS without verifying the certificate first, then plain HTTP.
        &[Transport::HttpsUnverified, Transport::Http]
    } else {
        &[Transport::Https]
    };
    let reference = reference_for(name, domain, None);
    attempt(name, domain, reference, tries).await
}

/// A Docker Hub name goes to the mirrors in order, never to Docker Hub itself: berth runs
/// without internet, so what no mirror has is not found.
async fn from_mirrors(opts: &RegistryOptions, name: &PullRef) -> Result<Resolved> {
    if opts.mirrors.is_empty() {
        return Err(ImageError::NotFound(format!(
            "pull access denied for {}: {} is a Docker Hub name and berth does not reach Docker Hub \
             (it runs without internet). Pull from a registry by its address (HOST[:PORT]/NAME), \
             set registry-mirrors in daemon.json, or use berth load / berth import",
            name.familiar(),
            name.shown()
        )));
    }
    let mut last = None;
    for m in &opts.mirrors {
        let tries: &[Transport] = if m.http {
            &[Transport::Http]
        } else if opts.is_insecure(&m.host, &[]) {
            &[Transport::HttpsUnverified, Transport::Http]
        } else {
            &[Transport::Https]
        };
        let reference = reference_for(name, "docker.io", Some(m));
        match attempt(name, &m.host, reference, tries).await {
            Ok(r) => return Ok(r),
            Err(e) => {
                tracing::info!(mirror = %m.url(), image = %name.shown(), error = %e, "mirror cannot serve the pull");
                last = Some(e);
            }
        }
    }
    Err(last.unwrap_or_else(|| invalid("no mirror to pull from")))
}

fn reference_for(name: &PullRef, registry: &str, mirror: Option<&Mirror>) -> Reference {
    let mut r = match &name.digest {
        Some(d) => Reference::with_digest(registry.to_string(), name.path.clone(), d.clone()),
        None => Reference::with_tag(
            registry.to_string(),
            name.path.clone(),
            name.manifest_ref().to_string(),
        ),
    };
    if let Some(m) = mirror {
        r.set_mirror_registry(m.host.clone());
    }
    r
}

async fn lookup(domain: &str) -> Vec<std::net::IpAddr> {
    let target = if domain.contains(':') {
        domain.to_string()
    } else {
        format!("{domain}:443")
    };
    match tokio::net::lookup_host(target).await {
        Ok(it) => it.map(|a| a.ip()).collect(),
        Err(e) => {
            tracing::debug!(registry = domain, error = %e, "cannot resolve a registry's name");
            Vec::new()
        }
    }
}

async fn attempt(
    name: &PullRef,
    registry: &str,
    reference: Reference,
    tries: &[Transport],
) -> Result<Resolved> {
    let mut last = None;
    for (i, t) in tries.iter().enumerate() {
        let client = Client::try_from(client_config(*t)).map_err(|e| {
            ImageError::Registry(format!(
                "cannot set up a client for registry {registry}: {e}"
            ))
        })?;
        let got = client
            .pull_manifest_and_config_and_list_digest(&reference, &RegistryAuth::Anonymous)
            .await;
        match got {
            Ok((manifest, digest, config, list_digest)) => {
                return Ok(Resolved {
                    client,
                    reference,
                    name: name.clone(),
                    registry: registry.to_string(),
                    digest: list_digest.unwrap_or(digest),
                    config: config.into_bytes(),
                    config_digest: manifest.config.digest.clone(),
                    layers: manifest.layers,
                });
            }
            // Only a transport failure is worth the next way in; an answer is final.
            Err(OciDistributionError::RequestError(e)) if i + 1 < tries.len() => {
                tracing::debug!(registry, transport = ?t, error = %e, "trying the next way to reach the registry");
                last = Some(e.to_string());
            }
            Err(e) => return Err(describe(name, registry, e)),
        }
    }
    Err(ImageError::Registry(format!(
        "cannot reach registry {registry}: {}",
        last.unwrap_or_default()
    )))
}

fn client_config(t: Transport) -> ClientConfig {
    ClientConfig {
        protocol: match t {
            Transport::Http => ClientProtocol::Http,
            Transport::Https | Transport::HttpsUnverified => ClientProtocol::Https,
        },
        accept_invalid_certificates: matches!(t, Transport::HttpsUnverified),
        platform_resolver: Some(Box::new(oci_client::client::linux_amd64_resolver)),
        connect_timeout: Some(std::time::Duration::from_secs(15)),
        read_timeout: Some(std::time::Duration::from_secs(60)),
        user_agent: concat!("berth/", env!("CARGO_PKG_VERSION")),
        ..Default::default()
    }
}

/// The registry's error in Docker's words.
pub(super) fn describe(name: &PullRef, registry: &str, e: OciDistributionError) -> ImageError {
    use oci_client::errors::OciErrorCode as C;
    match e {
        OciDistributionError::RegistryError { envelope, .. } => {
            let first = envelope.errors.first();
            let text = envelope
                .errors
                .iter()
                .map(|e| format!("{}: {}", code_text(&e.code), e.message))
                .collect::<Vec<_>>()
                .join(", ");
            match first.map(|e| &e.code) {
                Some(C::ManifestUnknown) => ImageError::NotFound(format!(
                    "manifest for {} not found: {text}",
                    name.shown()
                )),
                Some(C::NameUnknown) => ImageError::NotFound(format!(
                    "repository {} not found: {text}",
                    name.familiar()
                )),
                Some(C::Unauthorized | C::Denied) => ImageError::NotFound(format!(
                    "pull access denied for {}, repository does not exist or may require 'docker login': {text}",
                    name.familiar()
                )),
                _ => ImageError::Registry(format!(
                    "error from registry {registry} for {}: {text}",
                    name.shown()
                )),
            }
        }
        OciDistributionError::UnauthorizedError { .. }
        | OciDistributionError::AuthenticationFailure(_) => ImageError::NotFound(format!(
            "pull access denied for {}, repository does not exist or may require 'docker login': berth pulls anonymously",
            name.familiar()
        )),
        OciDistributionError::ImageManifestNotFoundError(_) => ImageError::NotFound(format!(
            "no matching manifest for linux/amd64 in the manifest list entries of {}",
            name.shown()
        )),
        OciDistributionError::UnsupportedSchemaVersionError(v) => ImageError::Invalid(format!(
            "{} has a schema {v} manifest: berth pulls Docker v2 schema 2 and OCI manifests only",
            name.shown()
        )),
        OciDistributionError::UnsupportedMediaTypeError(t) => ImageError::Invalid(format!(
            "{} has a manifest of type {t}: berth pulls Docker v2 schema 2 and OCI manifests and indexes only",
            name.shown()
        )),
        OciDistributionError::DigestError(d) => ImageError::Registry(format!(
            "registry {registry} sent content for {} that does not match its digest: {d}",
            name.shown()
        )),
        OciDistributionError::RequestError(r) => {
            ImageError::Registry(format!("cannot reach registry {registry}: {r}"))
        }
        other => ImageError::Registry(format!(
            "pulling {} from {registry} failed: {other}",
            name.shown()
        )),
    }
}

/// `MANIFEST_UNKNOWN` → `manifest unknown`, as distribution's errcode describes itself.
fn code_text(code: &oci_client::errors::OciErrorCode) -> String {
    serde_json::to_value(code)
        .ok()
        .and_then(|v| v.as_str().map(|s| s.to_lowercase().replace('_', " ")))
        .unwrap_or_else(|| format!("{code:?}").to_lowercase())
}
