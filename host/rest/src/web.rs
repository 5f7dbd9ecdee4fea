//! The web UI: plain HTML, CSS and JavaScript in `host/rest/web/`, embedded in the binary at build
//! time (no build step, no network at run time, nothing fetched from elsewhere), served at `/`
//! and `/web/<file>`. It is a single page that reads the same REST API as any client.

use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::RestError;
use crate::routes::Routes;

/// The UI's files: name, content type, content.
const ASSETS: &[(&str, &str, &str)] = &[
    ("index.html", "text/html; charset=utf-8", include_str!("../web/index.html")),
    ("app.js", "text/javascript; charset=utf-8", include_str!("../web/app.js")),
    ("style.css", "text/css; charset=utf-8", include_str!("../web/style.css")),
    ("favicon.svg", "image/svg+xml", include_str!("../web/favicon.svg")),
];

/// The UI's routes (outside `/v1`, which is the REST API's).
pub(super) fn routes() -> Routes {
    Routes::new().route("/", get(index)).route("/index.html", get(index)).route("/web/{file}", get(asset))
}

fn serve(name: &str) -> Option<Response> {
    let (_, content_type, body) = ASSETS.iter().find(|(n, _, _)| *n == name)?;
    let mut response = (StatusCode::OK, *body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    // The files change with the binary: always revalidate.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    Some(response)
}

async fn index() -> Response {
    serve("index.html").unwrap_or_else(|| RestError::not_found("Not found: /").into_response())
}

async fn asset(Path(file): Path<String>) -> Response {
    serve(&file).unwrap_or_else(|| {
        RestError::not_found(format!("Not found: /web/{file}. Unable to load requested file.")).into_response()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_references_only_embedded_files() {
        let (_, _, index) = ASSETS[0];
        for reference in ["web/app.js", "web/style.css", "web/favicon.svg"] {
            assert!(index.contains(reference), "index.html loads {reference}");
        }
        // Nothing from the network: no absolute URLs in what the browser loads, but for the
        // SVG namespace name (an identifier, never fetched).
        for (name, _, body) in ASSETS {
            let rest = body.replace("http://www.w3.org/2000/svg", "");
            assert!(!rest.contains("http://") && !rest.contains("https://") && !rest.contains("//cdn"), "{name}");
        }
    }
}
