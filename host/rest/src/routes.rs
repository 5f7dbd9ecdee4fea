//! The REST API's route table: the axum router and, beside it, the paths it was given, so that
//! the routes can be listed (`weir_rest::api_paths`) and every one tested behind the token.

use std::sync::Arc;

use axum::Router;
use axum::routing::MethodRouter;

use weir_cluster::jobmanager::JobManager;

/// An axum router that remembers the paths routed on it.
pub(crate) struct Routes {
    router: Router<Arc<JobManager>>,
    paths: Vec<&'static str>,
}

impl Routes {
    /// No routes yet.
    pub(crate) fn new() -> Routes {
        Routes { router: Router::new(), paths: Vec::new() }
    }

    /// Routes `path` to `methods`, as [`Router::route`].
    pub(crate) fn route(mut self, path: &'static str, methods: MethodRouter<Arc<JobManager>>) -> Routes {
        self.router = self.router.route(path, methods);
        self.paths.push(path);
        self
    }

    /// Adds `other`'s routes, as [`Router::merge`].
    pub(crate) fn merge(mut self, other: Routes) -> Routes {
        self.router = self.router.merge(other.router);
        self.paths.extend(other.paths);
        self
    }

    /// The router and its paths.
    pub(crate) fn into_parts(self) -> (Router<Arc<JobManager>>, Vec<&'static str>) {
        (self.router, self.paths)
    }
}
