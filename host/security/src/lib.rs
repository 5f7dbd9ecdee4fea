//! Who may talk to a Weir cluster: mutual TLS on the internal connections (JobManager ↔
//! TaskManager control channel, TaskManager ↔ TaskManager data exchange), TLS on the REST API,
//! and the certificates that turn both on in one command.
//!
//! As Flink's `security.ssl.internal.*`, the internal connections authenticate both ends with
//! certificates signed by the cluster's own CA: a process without one cannot register as a
//! TaskManager, nor write into a data channel. Every internal certificate names the same
//! [`INTERNAL_SERVER_NAME`], so a certificate proves membership of the cluster, not a host name:
//! TaskManagers move between hosts and pods without new certificates.
//!
//! - [`tls`]: loading PEM files into rustls configurations.
//! - [`certificates`]: making a cluster's CA and its internal and REST certificates.

pub mod certificates;
pub mod tls;

pub use certificates::{CertificateError, ClusterCertificates};
pub use tls::{INTERNAL_SERVER_NAME, InternalTls, RestTls, TlsError};
