//! The CLI's side of the daemon's TLS, as the docker CLI's: `--tlsverify` checks the daemon's
//! certificate against the CA, `--tls` alone encrypts without checking it; a client certificate
//! is presented when the files are there.

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The TLS settings the command line and environment asked for.
#[derive(Debug, Clone)]
pub struct TlsOptions {
    pub verify: bool,
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct TlsSetupError(String);

fn certs(what: &str, path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsSetupError> {
    let bad = |e: rustls::pki_types::pem::Error| {
        TlsSetupError(format!("cannot read TLS {what} {}: {e}", path.display()))
    };
    let list = CertificateDer::pem_file_iter(path)
        .map_err(bad)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(bad)?;
    if list.is_empty() {
        return Err(TlsSetupError(format!(
            "TLS {what} {} contains no PEM certificate",
            path.display()
        )));
    }
    Ok(list)
}

/// The rustls client configuration for `opts`.
pub fn client_config(opts: &TlsOptions) -> Result<Arc<ClientConfig>, TlsSetupError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| TlsSetupError(e.to_string()))?;
    let builder = if opts.verify {
        let mut roots = RootCertStore::empty();
        for c in certs("CA certificate", &opts.ca)? {
            roots.add(c).map_err(|e| {
                TlsSetupError(format!("cannot use CA file {}: {e}", opts.ca.display()))
            })?;
        }
        builder.with_root_certificates(roots)
    } else {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(Unchecked(provider)))
    };
    // Docker presents the client certificate whenever both files exist.
    let cfg = if opts.cert.exists() && opts.key.exists() {
        let chain = certs("certificate", &opts.cert)?;
        let key = PrivateKeyDer::from_pem_file(&opts.key).map_err(|e| {
            TlsSetupError(format!("cannot read TLS key {}: {e}", opts.key.display()))
        })?;
        builder.with_client_auth_cert(chain, key).map_err(|e| {
            TlsSetupError(format!(
                "cannot use TLS certificate {} with key {}: {e}",
                opts.cert.display(),
                opts.key.display()
            ))
        })?
    } else {
        builder.with_no_client_auth()
    };
    Ok(Arc::new(cfg))
}

/// The name the daemon's certificate must carry: the host part of the address.
pub fn server_name(addr: &str) -> Result<ServerName<'static>, TlsSetupError> {
    let host = match addr.rsplit_once(':') {
        Some((h, p)) if p.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => addr,
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    ServerName::try_from(host.to_string())
        .map_err(|e| TlsSetupError(format!("invalid host name {host} for TLS: {e}")))
}

/// `--tls` without `--tlsverify`: the connection is encrypted but the daemon is not checked,
/// as docker's; its signatures are still verified so the handshake is sound.
#[derive(Debug)]
struct Unchecked(Arc<CryptoProvider>);

impl ServerCertVerifier for Unchecked {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
