//! A cluster's certificates, made here so that turning TLS on is one command: a CA, one internal
//! certificate every process of the cluster shares (server and client use, named
//! [`INTERNAL_SERVER_NAME`]), and a REST certificate for the host names clients use.
//!
//! Private keys are written readable by their owner only.

use std::io::Write;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose,
};

use crate::tls::INTERNAL_SERVER_NAME;

/// File names in the directory [`ClusterCertificates::write`] fills.
pub mod files {
    /// The CA certificate every process and client trusts.
    pub const CA: &str = "ca.pem";
    /// The CA's private key: keep it offline; it signs new certificates.
    pub const CA_KEY: &str = "ca-key.pem";
    /// The internal keystore (JobManager and TaskManagers): certificate and key.
    pub const INTERNAL: &str = "internal.pem";
    /// The REST server's keystore: certificate and key.
    pub const REST: &str = "rest.pem";
    /// The REST API's bearer token.
    pub const REST_TOKEN: &str = "rest-token";
}

/// Why certificates could not be made or written.
#[derive(Debug, thiserror::Error)]
pub enum CertificateError {
    /// rcgen could not make a key or certificate.
    #[error("cannot make the certificates: {0}")]
    Generate(#[from] rcgen::Error),
    /// A file could not be written.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// The directory already holds a CA: making a new one would lock out the running cluster.
    #[error("{0} already exists; remove it or choose another directory")]
    Exists(PathBuf),
}

/// A cluster's CA, internal and REST certificates and a REST token, in PEM.
pub struct ClusterCertificates {
    ca: String,
    ca_key: String,
    internal: String,
    rest: String,
    token: String,
}

impl ClusterCertificates {
    /// Makes a new CA and signs the internal certificate and a REST certificate for `rest_hosts`
    /// (names or IP addresses); `token` is the REST API's bearer token.
    pub fn generate(rest_hosts: &[String], token: String) -> Result<ClusterCertificates, CertificateError> {
        let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.distinguished_name.push(DnType::CommonName, "Weir cluster CA");
        ca_params.key_usages =
            vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
        let ca_key = KeyPair::generate()?;
        let ca = ca_params.self_signed(&ca_key)?;
        let ca_pem = ca.pem();
        let ca_key_pem = ca_key.serialize_pem();
        let issuer = Issuer::new(ca_params, ca_key);

        let leaf = |names: Vec<String>, common_name: &str, usages: Vec<ExtendedKeyUsagePurpose>| {
            let mut params = CertificateParams::new(names)?;
            params.distinguished_name.push(DnType::CommonName, common_name);
            params.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
            params.extended_key_usages = usages;
            let key = KeyPair::generate()?;
            let certificate = params.signed_by(&key, &issuer)?;
            // A keystore: the certificate and its key in one file.
            Ok::<_, rcgen::Error>(format!("{}{}", certificate.pem(), key.serialize_pem()))
        };
        let internal = leaf(
            vec![INTERNAL_SERVER_NAME.to_string()],
            "Weir cluster member",
            vec![ExtendedKeyUsagePurpose::ServerAuth, ExtendedKeyUsagePurpose::ClientAuth],
        )?;
        let rest = leaf(rest_hosts.to_vec(), "Weir REST API", vec![ExtendedKeyUsagePurpose::ServerAuth])?;
        Ok(ClusterCertificates { ca: ca_pem, ca_key: ca_key_pem, internal, rest, token })
    }

    /// Writes every file into `dir` (created if missing); refuses a directory that already has a CA.
    pub fn write(&self, dir: &Path) -> Result<(), CertificateError> {
        let write_error = |path: &Path, source| CertificateError::Write { path: path.to_path_buf(), source };
        std::fs::create_dir_all(dir).map_err(|e| write_error(dir, e))?;
        if dir.join(files::CA).exists() {
            return Err(CertificateError::Exists(dir.join(files::CA)));
        }
        let entries = [
            (files::CA, &self.ca, false),
            (files::CA_KEY, &self.ca_key, true),
            (files::INTERNAL, &self.internal, true),
            (files::REST, &self.rest, true),
            (files::REST_TOKEN, &self.token, true),
        ];
        for (name, content, secret) in entries {
            let path = dir.join(name);
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt;
                options.mode(if secret { 0o600 } else { 0o644 });
            }
            #[cfg(not(unix))]
            let _ = secret;
            let mut file = options.open(&path).map_err(|e| write_error(&path, e))?;
            file.write_all(content.as_bytes()).map_err(|e| write_error(&path, e))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tls::{InternalTls, RestTls};

    #[test]
    fn generated_certificates_load_and_authenticate_each_other() {
        let dir = tempfile::tempdir().unwrap();
        let made = ClusterCertificates::generate(&["localhost".into(), "127.0.0.1".into()], "t0ken".into()).unwrap();
        made.write(dir.path()).unwrap();
        let p = |name| dir.path().join(name);
        let internal = InternalTls::load(&p(files::INTERNAL), &p(files::CA)).unwrap();
        RestTls::load(&p(files::REST)).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(p(files::CA_KEY)).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        // A second run would replace the CA under a running cluster: refused.
        assert!(matches!(made.write(dir.path()), Err(CertificateError::Exists(_))));

        // A handshake between two members over a socket pair succeeds; a member of another
        // cluster is refused.
        let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
        let server = internal.clone();
        let accepted = std::thread::spawn(move || server.accept_blocking(a).map(|_| ()));
        internal.connect_blocking(b).unwrap();
        accepted.join().unwrap().unwrap();

        let other = tempfile::tempdir().unwrap();
        ClusterCertificates::generate(&[], String::new()).unwrap().write(other.path()).unwrap();
        let q = |name| other.path().join(name);
        let stranger = InternalTls::load(&q(files::INTERNAL), &q(files::CA)).unwrap();
        let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
        let server = internal.clone();
        let accepted = std::thread::spawn(move || server.accept_blocking(a).map(|_| ()));
        let client = stranger.connect_blocking(b);
        assert!(accepted.join().unwrap().is_err());
        assert!(client.is_err());
    }

    #[test]
    fn missing_or_empty_files_are_named_in_the_error() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "").unwrap();
        let error = InternalTls::load(&empty, &empty).unwrap_err().to_string();
        assert!(error.contains("the certificate chain") && error.contains("empty.pem"), "{error}");
        let error = RestTls::load(&dir.path().join("nope.pem")).unwrap_err().to_string();
        assert!(error.contains("nope.pem"), "{error}");
    }
}
