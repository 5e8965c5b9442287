//! The axum router and the `OpenAPI` paths, both from the handlers' `#[utoipa::path]` annotations
//! (`utoipa-axum`), with request metrics and JSON fallbacks.

use std::time::Instant;

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::middleware::{self, Next};
use axum::response::Response;
use utoipa::OpenApi;
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouter, UtoipaMethodRouterExt};
use utoipa_axum::routes;

use crate::extract::ResultTag;
use crate::handlers::{admin, ax, axb, axe, axyb, calls, controls, media, outbox, service};
use crate::state::ApiState;

/// A path's methods, answering 405 (JSON, 1020001) to any other method.
fn path(methods: UtoipaMethodRouter<ApiState>) -> UtoipaMethodRouter<ApiState> {
    methods.map(|m| m.fallback(service::method_not_allowed))
}

/// Every route with its `OpenAPI` operation (state not yet attached).
pub(crate) fn api_router() -> OpenApiRouter<ApiState> {
    OpenApiRouter::with_openapi(crate::openapi::ApiDoc::openapi())
        .routes(path(routes!(axb::bind, axb::modify, axb::unbind, axb::query)))
        .routes(path(routes!(ax::bind, ax::modify, ax::unbind, ax::query)))
        .routes(path(routes!(ax::temp_callee)))
        .routes(path(routes!(axe::bind, axe::modify, axe::unbind, axe::query)))
        .routes(path(routes!(axyb::bind, axyb::unbind, axyb::query)))
        .routes(path(routes!(calls::call_stop)))
        .routes(path(routes!(admin::create_app, admin::list_apps)))
        .routes(path(routes!(admin::get_app, admin::update_app)))
        .routes(path(routes!(controls::get_controls, controls::put_controls)))
        .routes(path(routes!(admin::import_numbers, admin::list_numbers)))
        .routes(path(routes!(admin::set_number, admin::retire_number)))
        .routes(path(routes!(admin::route_trace)))
        .routes(path(routes!(outbox::list_outbox)))
        .routes(path(routes!(outbox::list_cdrs)))
        .routes(path(routes!(outbox::replay_outbox)))
        // The upload's own body limit; the 405 fallback comes with the path's other methods.
        .routes(routes!(media::put_prompt).layer(DefaultBodyLimit::max(media::PROMPT_BODY_LIMIT)))
        .routes(path(routes!(media::get_prompt, media::delete_prompt)))
        .routes(path(routes!(media::list_prompts)))
        .routes(path(routes!(media::record_url)))
        .routes(path(routes!(media::record_file)))
        .routes(path(routes!(service::openapi)))
        .routes(path(routes!(service::metrics)))
        .routes(path(routes!(service::healthz)))
        .routes(path(routes!(service::readyz)))
}

/// The provisioning API, admin API, `/openapi.json`, `/metrics` and `/healthz`, ready to serve.
pub fn router(state: ApiState) -> Router {
    let router: Router<ApiState> = api_router().into();
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
