//! Optional TLS on the webhook listener (`--tls-cert`, `--tls-key`), with rustls. The certificate
//! and key are read again on SIGHUP; a failed reload keeps the current ones.

use std::path::PathBuf;
use std::sync::Arc;

use arc_swap::ArcSwap;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::TlsAcceptor;

/// The current acceptor and where it came from.
pub struct TlsConfig {
    cert: PathBuf,
    key: PathBuf,
    acceptor: ArcSwap<TlsAcceptor>,
}

impl TlsConfig {
    /// Loads the certificate chain and key; the error says which file and what is wrong.
    pub fn load(cert: PathBuf, key: PathBuf) -> anyhow::Result<TlsConfig> {
        let acceptor = build(&cert, &key)?;
        Ok(TlsConfig {
            cert,
            key,
            acceptor: ArcSwap::from_pointee(acceptor),
        })
    }

    pub fn acceptor(&self) -> TlsAcceptor {
        self.acceptor.load().as_ref().clone()
    }

    /// Reads the files again; keeps the old acceptor if they are invalid.
    pub fn reload(&self) {
        match build(&self.cert, &self.key) {
            Ok(a) => {
                self.acceptor.store(Arc::new(a));
                tracing::info!(cert = %self.cert.display(), "TLS certificate reloaded");
            }
            Err(e) => {
                tracing::error!("TLS reload rejected, keeping the current certificate: {e:#}")
            }
        }
    }
}

fn build(cert: &PathBuf, key: &PathBuf) -> anyhow::Result<TlsAcceptor> {
    use anyhow::Context;
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .with_context(|| format!("cannot read --tls-cert {}", cert.display()))?
        .collect::<Result<_, _>>()
        .with_context(|| {
            format!(
                "--tls-cert {} is not a PEM certificate chain",
                cert.display()
            )
        })?;
    if certs.is_empty() {
        anyhow::bail!("--tls-cert {} holds no certificate", cert.display());
    }
    let key = PrivateKeyDer::from_pem_file(key).with_context(|| {
        format!(
            "--tls-key {} holds no usable PEM private key",
            key.display()
        )
    })?;
    let provider = Arc::new(tokio_rustls::rustls::crypto::aws_lc_rs::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .context("the TLS certificate and key do not fit together")?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}
