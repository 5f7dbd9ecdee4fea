//! `weir certificates`: turns a cluster's security on in one command. It makes a CA, the
//! internal keystore every JobManager and TaskManager shares, a REST keystore for the given host
//! names, and a random REST token, then prints the `config.yaml` lines that use them:
//!
//! ```text
//! weir certificates --dir conf/tls >> conf/config.yaml
//! ```

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use weir_config::keys;
use weir_security::ClusterCertificates;
use weir_security::certificates::files;

#[derive(clap::Args)]
pub struct Args {
    /// Where to write the CA, keystores and token (created; must not hold a CA already).
    #[arg(long, default_value = "conf/tls")]
    dir: PathBuf,
    /// A host name or IP address clients reach the REST API at (repeatable; default: localhost,
    /// 127.0.0.1 and this machine's name).
    #[arg(long = "host", value_name = "NAME")]
    hosts: Vec<String>,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let hosts = if args.hosts.is_empty() { default_hosts() } else { args.hosts };
    let token = hex::encode(rand::random::<[u8; 32]>());
    ClusterCertificates::generate(&hosts, token)?.write(&args.dir)?;
    let dir = std::path::absolute(&args.dir)?;
    eprintln!(
        "Wrote the cluster's CA, keystores and REST token to {} (REST certificate for {}).\n\
         Keep {} offline: it signs certificates. The lines below turn TLS and the token on;\n\
         append them to the config.yaml every process and the CLI read.",
        dir.display(),
        hosts.join(", "),
        dir.join(files::CA_KEY).display()
    );
    print!("{}", config_lines(&dir));
    Ok(ExitCode::SUCCESS)
}

/// The configuration that uses the files in `dir`.
fn config_lines(dir: &Path) -> String {
    let file = |name: &str| dir.join(name).display().to_string();
    let lines = [
        (keys::SSL_INTERNAL_ENABLED, "true".to_string()),
        (keys::SSL_INTERNAL_KEYSTORE, file(files::INTERNAL)),
        (keys::SSL_INTERNAL_TRUSTSTORE, file(files::CA)),
        (keys::SSL_REST_ENABLED, "true".to_string()),
        (keys::SSL_REST_KEYSTORE, file(files::REST)),
        (keys::SSL_REST_TRUSTSTORE, file(files::CA)),
        (keys::REST_AUTHENTICATION_TOKEN_FILE, file(files::REST_TOKEN)),
    ];
    let mut text = String::from("# Written by `weir certificates`: TLS and the REST token.\n");
    for (key, value) in lines {
        text.push_str(&format!("{key}: {value}\n"));
    }
    text
}

/// localhost, 127.0.0.1 and this machine's name, if it has one.
fn default_hosts() -> Vec<String> {
    let mut hosts = vec!["localhost".to_string(), "127.0.0.1".to_string()];
    hosts.extend(super::cluster::machine_name().filter(|n| n != "localhost"));
    hosts
}
