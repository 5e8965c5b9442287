//! The axum router, built from [`crate::routes::ROUTES`], with request metrics and JSON fallbacks.

use std::time::Instant;

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{MethodRouter, delete, get, post, put};

use crate::extract::ResultTag;
use crate::handlers::{admin, ax, axb, axe, axyb, media, service};
use crate::routes::{ROUTES, RouteId};
use crate::state::ApiState;

/// The method router of one route.
fn handler(id: RouteId) -> MethodRouter<ApiState> {
    match id {
        RouteId::AxbBind => post(axb::bind),
        RouteId::AxbModify => put(axb::modify),
        RouteId::AxbUnbind => delete(axb::unbind),
        RouteId::AxbQuery => get(axb::query),
        RouteId::AxBind => post(ax::bind),
        RouteId::AxModify => put(ax::modify),
        RouteId::AxUnbind => delete(ax::unbind),
        RouteId::AxQuery => get(ax::query),
        RouteId::AxTempCallee => put(ax::temp_callee),
        RouteId::AxeBind => post(axe::bind),
        RouteId::AxeModify => put(axe::modify),
        RouteId::AxeUnbind => delete(axe::unbind),
        RouteId::AxeQuery => get(axe::query),
        RouteId::AxybBind => post(axyb::bind),
        RouteId::AxybUnbind => delete(axyb::unbind),
        RouteId::AxybQuery => get(axyb::query),
        RouteId::AdminCreateApp => post(admin::create_app),
        RouteId::AdminListApps => get(admin::list_apps),
        RouteId::AdminGetApp => get(admin::get_app),
        RouteId::AdminUpdateApp => put(admin::update_app),
        RouteId::AdminImportNumbers => post(admin::import_numbers),
        RouteId::AdminListNumbers => get(admin::list_numbers),
        RouteId::AdminSetNumber => put(admin::set_number),
        RouteId::AdminRetireNumber => delete(admin::retire_number),
        RouteId::AdminRouteTrace => get(admin::route_trace),
        RouteId::AdminPutPrompt => {
            put(media::put_prompt).layer(DefaultBodyLimit::max(media::PROMPT_BODY_LIMIT))
        }
        RouteId::AdminListPrompts => get(media::list_prompts),
        RouteId::AdminGetPrompt => get(media::get_prompt),
        RouteId::AdminDeletePrompt => delete(media::delete_prompt),
        RouteId::RecordUrl => get(media::record_url),
        RouteId::RecordFile => get(media::record_file),
        RouteId::OpenApi => get(service::openapi),
        RouteId::Metrics => get(service::metrics),
        RouteId::Healthz => get(service::healthz),
    }
}

/// The provisioning API, admin API, `/openapi.json`, `/metrics` and `/healthz`, ready to serve.
pub fn router(state: ApiState) -> Router {
    let mut paths: Vec<(&'static str, MethodRouter<ApiState>)> = Vec::new();
    for route in ROUTES {
        let mr = handler(route.id);
        match paths.iter_mut().find(|(p, _)| *p == route.path) {
            Some((_, existing)) => *existing = std::mem::take(existing).merge(mr),
            None => paths.push((route.path, mr)),
        }
    }
    let mut router = Router::new();
    for (path, mr) in paths {
        router = router.route(path, mr.fallback(service::method_not_allowed));
    }
    router
        .fallback(service::not_found)
        .layer(DefaultBodyLimit::max(state.config().max_body_bytes))
        .layer(middleware::from_fn_with_state(state.clone(), track))
        .with_state(state)
}

/// Counts every request by route template, method and resultcode, and observes its latency.
async fn track(State(state): State<ApiState>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let path = req
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str)
        .to_owned();
    let method = req.method().as_str().to_owned();
    let response = next.run(req).await;
    let code = response
        .extensions()
        .get::<ResultTag>()
        .map_or_else(|| response.status().as_str().to_owned(), |t| t.0.to_owned());
    let m = state.metrics();
    m.api_requests
        .with_label_values(&[path.as_str(), method.as_str(), code.as_str()])
        .inc();
    m.api_latency
        .with_label_values(&[path.as_str(), method.as_str()])
        .observe(started.elapsed().as_secs_f64());
    response
}
