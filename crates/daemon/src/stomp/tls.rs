//! The TLS side of the STOMP listener: the server's certificate, and
//! client certificates required and verified against the configured CA.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{CipherSuite, RootCertStore, ServerConfig};

use super::RemoteError;

/// A rustls server config: TLS 1.2 or 1.3, the ring provider, and a
/// client certificate that chains to one of `ca`'s certificates, or no
/// handshake.
pub(crate) fn server_config(
    cert: &Path,
    key: &Path,
    ca: &Path,
) -> Result<ServerConfig, RemoteError> {
    let bad = |path: &Path, why: String| RemoteError::Tls {
        path: path.display().to_string(),
        why,
    };
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .and_then(|it| it.collect())
        .map_err(|e| bad(cert, e.to_string()))?;
    if chain.is_empty() {
        return Err(bad(cert, "no certificate in the file".into()));
    }
    let key_der = PrivateKeyDer::from_pem_file(key).map_err(|e| bad(key, e.to_string()))?;
    let mut roots = RootCertStore::empty();
    let cas: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(ca)
        .and_then(|it| it.collect())
        .map_err(|e| bad(ca, e.to_string()))?;
    for c in cas {
        roots.add(c).map_err(|e| bad(ca, e.to_string()))?;
    }
    if roots.is_empty() {
        return Err(bad(ca, "no CA certificate in the file".into()));
    }
    // ring, not aws-lc-rs: no cmake and C toolchain of its own in the
    // build. Its lack of post-quantum key exchange is why rustls marks it
    // deprecated; an engine's Java TLS stack does not offer one either.
    #[allow(deprecated)]
    let mut provider = rustls::crypto::ring::default_provider();
    // AES-128-GCM first, and the server's order wins: a 2 MB caps answer
    // is encrypted per call, and AES-128 does it in 10 rounds to
    // AES-256's 14 at a security margin nobody needs more of here.
    provider.cipher_suites.sort_by_key(|s| match s.suite() {
        CipherSuite::TLS13_AES_128_GCM_SHA256 => 0,
        CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256
        | CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 => 1,
        _ => 2,
    });
    let provider = Arc::new(provider);
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(|e| bad(ca, e.to_string()))?;
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| bad(cert, e.to_string()))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key_der)
        .map_err(|e| bad(key, e.to_string()))?;
    config.ignore_client_order = true;
    Ok(config)
}
