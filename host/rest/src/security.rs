//! Who may use the REST API: TLS (`security.ssl.rest.*`) and a bearer token
//! (`rest.authentication.token` or `rest.authentication.token-file`).
//!
//! With a token set, every route but the web UI's files needs `Authorization: Bearer <token>`;
//! anything else gets 401 with Flink's error shape. The UI's page and scripts load without it
//! and ask the user for the token. CORS preflights pass: browsers send no credentials on them.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::server::TlsStream;

use weir_config::{Configuration, keys};
use weir_security::RestTls;

use super::RestError;

/// How the REST API is protected.
#[derive(Clone, Debug, Default)]
pub struct RestSecurity {
    /// TLS for the server, when `security.ssl.rest.enabled`.
    pub tls: Option<RestTls>,
    /// The bearer token clients must send, when one is configured.
    pub token: Option<Token>,
    /// The browser origins besides the API's own that may use it.
    pub origins: AllowedOrigins,
}

/// The browser origins besides its own that may use the REST API (`web.access-control-allow-origin`).
///
/// A page on another site can make a browser send a form POST (an upload, a run) without asking
/// first, so refusing to answer it with CORS headers is not enough: a state-changing request whose
/// `Origin` is not allowed is refused outright.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum AllowedOrigins {
    /// Only the API's own origin (Weir's default; the web UI is served from it).
    #[default]
    SameOrigin,
    /// Any origin (`*`, Flink's default).
    Any,
    /// These origins (`scheme://host[:port]`) and the API's own.
    List(Vec<String>),
}

impl AllowedOrigins {
    /// Reads `web.access-control-allow-origin`.
    pub fn from_config(config: &Configuration) -> AllowedOrigins {
        match config.get(keys::WEB_ACCESS_CONTROL_ALLOW_ORIGIN).map(str::trim) {
            None | Some("") => AllowedOrigins::SameOrigin,
            Some("*") => AllowedOrigins::Any,
            Some(list) => AllowedOrigins::List(
                list.split(',')
                    .map(|o| o.trim().trim_end_matches('/').to_ascii_lowercase())
                    .filter(|o| !o.is_empty())
                    .collect(),
            ),
        }
    }

    /// Whether a request from `origin` to a server reached as `host` may proceed.
    fn allows(&self, origin: &str, host: Option<&str>) -> bool {
        let origin = origin.trim().trim_end_matches('/').to_ascii_lowercase();
        // The API's own origin: the authority the browser put in `Origin` is the one it reached.
        let authority = origin.split_once("://").map(|(_, authority)| authority);
        if authority.is_some() && authority == host.map(|h| h.trim().to_ascii_lowercase()).as_deref() {
            return true;
        }
        match self {
            AllowedOrigins::SameOrigin => false,
            AllowedOrigins::Any => true,
            AllowedOrigins::List(allowed) => allowed.contains(&origin),
        }
    }

    /// The CORS headers for the origins allowed besides the API's own; none for same-origin only.
    pub(crate) fn cors_layer(&self) -> Option<tower_http::cors::CorsLayer> {
        use tower_http::cors::{AllowOrigin, Any, CorsLayer};
        let origin = match self {
            AllowedOrigins::SameOrigin => return None,
            AllowedOrigins::Any => AllowOrigin::from(Any),
            AllowedOrigins::List(list) => AllowOrigin::list(list.iter().filter_map(|o| HeaderValue::from_str(o).ok())),
        };
        Some(CorsLayer::new().allow_origin(origin).allow_methods(Any).allow_headers(Any))
    }
}

/// Refuses state-changing requests a browser sends from an origin that is not allowed.
pub(crate) async fn refuse_cross_origin(
    State(origins): State<AllowedOrigins>,
    request: Request,
    next: Next,
) -> Response {
    let safe = matches!(*request.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    let origin = request.headers().get(header::ORIGIN).map(|v| v.to_str().unwrap_or("(not text)").to_string());
    match origin {
        Some(origin) if !safe => {
            let host = request.headers().get(header::HOST).and_then(|v| v.to_str().ok());
            if origins.allows(&origin, host) {
                return next.run(request).await;
            }
            tracing::warn!(%origin, method = %request.method(), path = request.uri().path(), "refused a cross-origin request");
            RestError::new(
                StatusCode::FORBIDDEN,
                format!(
                    "Forbidden: a {} request from another origin ({origin}); allow it with {}",
                    request.method(),
                    keys::WEB_ACCESS_CONTROL_ALLOW_ORIGIN
                ),
            )
            .into_response()
        }
        _ => next.run(request).await,
    }
}

/// A bearer token; compared in constant time and never printed.
#[derive(Clone)]
pub struct Token(Arc<str>);

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(******)")
    }
}

impl Token {
    /// Whether `offered` is this token, in time independent of where they differ.
    fn matches(&self, offered: &[u8]) -> bool {
        let expected = self.0.as_bytes();
        expected.len() == offered.len() && expected.iter().zip(offered).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
    }
}

/// Why the REST API's security could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum SecurityError {
    /// A key holds a malformed value.
    #[error(transparent)]
    Config(#[from] weir_config::ConfigError),
    /// TLS is on but a file it needs is not configured.
    #[error("{enabled} is true, but {missing} is not set")]
    Missing {
        /// The key that turns the feature on.
        enabled: &'static str,
        /// The key that must be set with it.
        missing: &'static str,
    },
    /// The keystore could not be loaded.
    #[error(transparent)]
    Tls(#[from] weir_security::TlsError),
}

impl RestSecurity {
    /// Reads the REST API's TLS and token settings.
    pub fn from_config(config: &Configuration) -> Result<RestSecurity, SecurityError> {
        let tls = if config.get_bool(keys::SSL_REST_ENABLED, false)? {
            let keystore = config
                .get_path(&[keys::SSL_REST_KEYSTORE])
                .ok_or(SecurityError::Missing { enabled: keys::SSL_REST_ENABLED, missing: keys::SSL_REST_KEYSTORE })?;
            Some(RestTls::load(&keystore)?)
        } else {
            None
        };
        let token = config.get_secret(keys::REST_AUTHENTICATION_TOKEN, keys::REST_AUTHENTICATION_TOKEN_FILE)?;
        Ok(RestSecurity { tls, token: token.map(|t| Token(t.into())), origins: AllowedOrigins::from_config(config) })
    }
}

/// Lets a request through only with the bearer token.
pub(crate) async fn require_token(State(token): State<Token>, request: Request, next: Next) -> Response {
    if request.method() == Method::OPTIONS {
        return next.run(request).await;
    }
    let offered = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .map(str::trim);
    match offered {
        Some(offered) if token.matches(offered.as_bytes()) => next.run(request).await,
        offered => {
            let why = if offered.is_some() { "the bearer token is wrong" } else { "no bearer token was sent" };
            tracing::info!(path = request.uri().path(), why, "refused a REST request");
            let mut response = RestError::new(
                StatusCode::UNAUTHORIZED,
                format!("Unauthorized: {why}. Send the cluster's token as 'Authorization: Bearer <token>'."),
            )
            .into_response();
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"weir\""));
            response
        }
    }
}

/// How long a client may take over the TLS handshake.
const HANDSHAKE_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// A listener that hands axum connections whose TLS handshake is done. Handshakes run in their
/// own tasks, so a slow or silent client delays nobody else.
pub(crate) struct TlsListener {
    ready: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    local: SocketAddr,
}

impl TlsListener {
    /// Accepts on `listener`, serving TLS with `tls`.
    pub(crate) fn new(listener: TcpListener, tls: &RestTls) -> std::io::Result<TlsListener> {
        let local = listener.local_addr()?;
        let acceptor = tokio_rustls::TlsAcceptor::from(tls.server());
        let (sender, ready) = mpsc::channel(64);
        tokio::spawn(async move {
            loop {
                let (stream, peer) = match listener.accept().await {
                    Ok(accepted) => accepted,
                    Err(error) => {
                        tracing::warn!(%error, "accepting a REST connection failed");
                        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                        continue;
                    }
                };
                if sender.is_closed() {
                    return;
                }
                let acceptor = acceptor.clone();
                let sender = sender.clone();
                tokio::spawn(async move {
                    match tokio::time::timeout(HANDSHAKE_WAIT, acceptor.accept(stream)).await {
                        Ok(Ok(stream)) => {
                            let _ = sender.send((stream, peer)).await;
                        }
                        // Plain HTTP to the TLS port, scanners, expired handshakes: not worth a warning each.
                        Ok(Err(error)) => tracing::debug!(%peer, %error, "REST TLS handshake failed"),
                        Err(_) => tracing::debug!(%peer, "REST TLS handshake timed out"),
                    }
                });
            }
        });
        Ok(TlsListener { ready, local })
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(connection) => connection,
            // The accepting task is gone (the runtime is shutting down): nothing more comes.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<SocketAddr> {
        Ok(self.local)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cross_origin_requests_need_the_origin_allowed() {
        let host = Some("127.0.0.1:8081");
        let same = AllowedOrigins::SameOrigin;
        assert!(same.allows("http://127.0.0.1:8081", host) && same.allows("https://127.0.0.1:8081/", host));
        assert!(!same.allows("http://evil.example", host) && !same.allows("null", host));
        assert!(!same.allows("http://127.0.0.1:8081", None));
        assert!(AllowedOrigins::Any.allows("http://evil.example", host));
        let mut config = Configuration::default();
        assert_eq!(AllowedOrigins::from_config(&config), AllowedOrigins::SameOrigin);
        config.set(keys::WEB_ACCESS_CONTROL_ALLOW_ORIGIN, "*");
        assert_eq!(AllowedOrigins::from_config(&config), AllowedOrigins::Any);
        config.set(keys::WEB_ACCESS_CONTROL_ALLOW_ORIGIN, "https://Dash.example/, http://b.example:81");
        let list = AllowedOrigins::from_config(&config);
        assert!(list.allows("https://dash.example", host) && list.allows("http://b.example:81", host));
        assert!(!list.allows("http://dash.example", host) && !list.allows("http://evil.example", host));
        assert!(list.cors_layer().is_some() && same.cors_layer().is_none());
    }

    #[test]
    fn tokens_match_exactly() {
        let token = Token("s3cret".into());
        assert!(token.matches(b"s3cret"));
        assert!(!token.matches(b"s3cre") && !token.matches(b"s3cret!") && !token.matches(b"S3cret"));
        assert_eq!(format!("{token:?}"), "Token(******)");
    }

    #[test]
    fn the_token_comes_from_the_key_or_its_file() {
        let dir = tempfile::tempdir().unwrap();
        let token =
            |config: &Configuration| RestSecurity::from_config(config).map(|s| s.token.map(|t| t.0.to_string()));
        let mut config = Configuration::default();
        assert!(token(&config).unwrap().is_none());
        let file = dir.path().join("token");
        std::fs::write(&file, "abc\n").unwrap();
        config.set(keys::REST_AUTHENTICATION_TOKEN_FILE, file.display().to_string());
        assert_eq!(token(&config).unwrap().as_deref(), Some("abc"));
        std::fs::write(&file, "  \n").unwrap();
        let error = token(&config).unwrap_err().to_string();
        assert!(error.contains("rest.authentication.token-file") && error.contains("the file is empty"), "{error}");
        config.set(keys::REST_AUTHENTICATION_TOKEN, "xyz");
        assert_eq!(token(&config).unwrap().as_deref(), Some("xyz"));
        config.set(keys::SSL_REST_ENABLED, "true");
        let error = RestSecurity::from_config(&config).unwrap_err().to_string();
        assert_eq!(error, "security.ssl.rest.enabled is true, but security.ssl.rest.keystore is not set");
    }
}
