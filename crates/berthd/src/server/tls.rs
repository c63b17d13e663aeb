//! TLS for TCP listeners: rustls with the ring provider, TLS 1.2 and 1.3, and with `--tlsverify`
//! a client certificate signed by the configured CA, as dockerd's `--tlsverify`.

use crate::config::TlsSettings;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read TLS {what} {path}: {message}")]
    Read {
        what: &'static str,
        path: PathBuf,
        message: String,
    },
    #[error("TLS {what} {path} contains no {expected}")]
    Empty {
        what: &'static str,
        path: PathBuf,
        expected: &'static str,
    },
    #[error("TLS key {key} does not match the certificate in {cert}")]
    KeyMismatch { key: PathBuf, cert: PathBuf },
    #[error("cannot use TLS certificate {cert} with key {key}: {message}")]
    Unusable {
        cert: PathBuf,
        key: PathBuf,
        message: String,
    },
    #[error("cannot use CA certificate file {path}: {message}")]
    BadCa { path: PathBuf, message: String },
}

fn read_err(what: &'static str, path: &Path, e: rustls::pki_types::pem::Error) -> TlsError {
    let message = match e {
        rustls::pki_types::pem::Error::Io(io) => io.to_string(),
        other => format!("not valid PEM: {other}"),
    };
    TlsError::Read {
        what,
        path: path.to_path_buf(),
        message,
    }
}

/// Every certificate in a PEM file; a file without one is an error naming it.
fn certificates(what: &'static str, path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| read_err(what, path, e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| read_err(what, path, e))?;
    if certs.is_empty() {
        return Err(TlsError::Empty {
            what,
            path: path.to_path_buf(),
            expected: "PEM certificate",
        });
    }
    Ok(certs)
}

fn private_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| match e {
        rustls::pki_types::pem::Error::NoItemsFound => TlsError::Empty {
            what: "key",
            path: path.to_path_buf(),
            expected: "PEM private key",
        },
        e => read_err("key", path, e),
    })
}

/// Loads and checks the certificates, so a bad file stops the start (and `--validate`).
pub fn server_config(s: &TlsSettings) -> Result<Arc<ServerConfig>, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let chain = certificates("certificate", &s.cert)?;
    let key = private_key(&s.key)?;
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| TlsError::Unusable {
            cert: s.cert.clone(),
            key: s.key.clone(),
            message: e.to_string(),
        })?;
    let builder = if s.verify {
        let mut roots = RootCertStore::empty();
        for c in certificates("CA certificate", &s.ca)? {
            roots.add(c).map_err(|e| TlsError::BadCa {
                path: s.ca.clone(),
                message: e.to_string(),
            })?;
        }
        let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
            .build()
            .map_err(|e| TlsError::BadCa {
                path: s.ca.clone(),
                message: e.to_string(),
            })?;
        builder.with_client_cert_verifier(verifier)
    } else {
        builder.with_no_client_auth()
    };
    let mut cfg = builder.with_single_cert(chain, key).map_err(|e| match e {
        rustls::Error::InconsistentKeys(_) => TlsError::KeyMismatch {
            key: s.key.clone(),
            cert: s.cert.clone(),
        },
        e => TlsError::Unusable {
            cert: s.cert.clone(),
            key: s.key.clone(),
            message: e.to_string(),
        },
    })?;
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(cfg))
}

/// The first byte of a TLS connection is a handshake record (22); anything else on a TLS port
/// is most likely a plain HTTP client, which gets Go's answer so `docker` shows the cause.
pub const HANDSHAKE_RECORD: u8 = 0x16;
pub const PLAIN_HTTP_ANSWER: &[u8] =
    b"HTTP/1.0 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: 48\r\nConnection: close\r\n\r\nClient sent an HTTP request to an HTTPS server.\n";
