//! TLS configurations from PEM files: the internal connections' mutual TLS and the REST
//! server's TLS. rustls with the ring provider, TLS 1.2 and 1.3, its safe defaults.
//!
//! The files keep Flink's roles and names: a *keystore* holds a certificate chain and its
//! private key (one PEM file with both), a *truststore* the CA certificates trusted. Flink reads
//! them as JKS or PKCS#12; Weir reads PEM.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig};

/// The name every internal certificate carries and every internal client asks for.
pub const INTERNAL_SERVER_NAME: &str = "weir-internal";

/// Why TLS could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A PEM file could not be read or holds nothing usable.
    #[error("cannot read {what} from {path}: {message}")]
    Pem {
        /// What the file should hold, e.g. "the certificate chain".
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// Why it could not be used.
        message: String,
    },
    /// rustls refused the certificates or key (e.g. a key that does not match the certificate).
    #[error("TLS configuration refused: {0}")]
    Rustls(#[from] rustls::Error),
    /// The trusted CA could not be used to verify clients.
    #[error("cannot verify clients with the trusted CA: {0}")]
    Verifier(#[from] rustls::server::VerifierBuilderError),
}

fn pem_error(what: &'static str, path: &Path, message: impl ToString) -> TlsError {
    TlsError::Pem { what, path: path.to_path_buf(), message: message.to_string() }
}

/// Reads every certificate of a PEM file; at least one.
pub fn load_certificates(path: &Path, what: &'static str) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certificates = CertificateDer::pem_file_iter(path)
        .map_err(|e| pem_error(what, path, e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem_error(what, path, e))?;
    if certificates.is_empty() {
        return Err(pem_error(what, path, "no CERTIFICATE block in the file"));
    }
    Ok(certificates)
}

/// Reads the private key of a PEM file (PKCS#8, PKCS#1 or SEC1).
fn load_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| pem_error("the private key", path, e))
}

/// Trust anchors from a PEM file of CA certificates.
pub fn load_roots(path: &Path) -> Result<RootCertStore, TlsError> {
    let mut roots = RootCertStore::empty();
    for certificate in load_certificates(path, "the trusted CA certificates")? {
        roots.add(certificate).map_err(|e| pem_error("the trusted CA certificates", path, e))?;
    }
    Ok(roots)
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The internal connections' mutual TLS: both ends show a certificate signed by the cluster's
/// CA. Cheap to clone.
#[derive(Clone)]
pub struct InternalTls {
    server: Arc<ServerConfig>,
    client: Arc<ClientConfig>,
}

impl std::fmt::Debug for InternalTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("InternalTls")
    }
}

impl InternalTls {
    /// Loads this process's certificate chain and key (`keystore`) and the cluster CA it trusts
    /// (`truststore`), both PEM files.
    pub fn load(keystore: &Path, truststore: &Path) -> Result<InternalTls, TlsError> {
        let chain = load_certificates(keystore, "the certificate chain")?;
        let key = load_key(keystore)?;
        let roots = Arc::new(load_roots(truststore)?);
        let verifier = WebPkiClientVerifier::builder_with_provider(roots.clone(), provider()).build()?;
        let mut server = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()?
            .with_client_cert_verifier(verifier)
            .with_single_cert(chain.clone(), key.clone_key())?;
        // The receiving side of a data channel never writes: tickets it would send after the
        // handshake would only sit unread.
        server.send_tls13_tickets = 0;
        let client = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_client_auth_cert(chain, key)?;
        Ok(InternalTls { server: Arc::new(server), client: Arc::new(client) })
    }

    /// The configuration for accepting internal connections (client certificates required).
    pub fn server(&self) -> Arc<ServerConfig> {
        self.server.clone()
    }

    /// The configuration for opening internal connections (showing our certificate).
    pub fn client(&self) -> Arc<ClientConfig> {
        self.client.clone()
    }

    /// The name internal clients ask for.
    pub fn server_name() -> ServerName<'static> {
        ServerName::DnsName(rustls::pki_types::DnsName::try_from(INTERNAL_SERVER_NAME).expect("a valid DNS name"))
    }

    /// A blocking server-side session over `stream`, handshake done; fails unless the peer shows
    /// a certificate of the cluster.
    pub fn accept_blocking<S: io::Read + io::Write>(
        &self,
        mut stream: S,
    ) -> io::Result<rustls::StreamOwned<rustls::ServerConnection, S>> {
        let mut connection = rustls::ServerConnection::new(self.server()).map_err(io::Error::other)?;
        while connection.is_handshaking() {
            connection.complete_io(&mut stream)?;
        }
        Ok(rustls::StreamOwned::new(connection, stream))
    }

    /// A blocking client-side session over `stream`, handshake done.
    pub fn connect_blocking<S: io::Read + io::Write>(
        &self,
        mut stream: S,
    ) -> io::Result<rustls::StreamOwned<rustls::ClientConnection, S>> {
        let mut connection =
            rustls::ClientConnection::new(self.client(), Self::server_name()).map_err(io::Error::other)?;
        while connection.is_handshaking() {
            connection.complete_io(&mut stream)?;
        }
        Ok(rustls::StreamOwned::new(connection, stream))
    }
}

/// The REST server's TLS: its certificate and key; clients are not asked for one (the bearer
/// token authenticates them).
#[derive(Clone)]
pub struct RestTls {
    server: Arc<ServerConfig>,
}

impl std::fmt::Debug for RestTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RestTls")
    }
}

impl RestTls {
    /// Loads the REST server's certificate chain and key from a PEM keystore.
    pub fn load(keystore: &Path) -> Result<RestTls, TlsError> {
        let chain = load_certificates(keystore, "the certificate chain")?;
        let key = load_key(keystore)?;
        let mut server = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(chain, key)?;
        // HTTP/1.1 only: the REST server (axum without its http2 feature) speaks nothing else.
        server.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(RestTls { server: Arc::new(server) })
    }

    /// The server configuration.
    pub fn server(&self) -> Arc<ServerConfig> {
        self.server.clone()
    }
}
