//! The shared state of every request: config, store, routing table, metrics, engine, authenticator, clock.

use std::sync::Arc;

use pn_bindings::{App, BindingTable, RoutePolicy, SharedRoutePolicy, UnixTime};
use pn_metrics::Metrics;
use pn_provision::{CallControl, EngineHandle, PromptLibrary, RecordingStore};
use pn_store::Store;

use crate::ApiConfig;
use crate::auth::Authenticator;

/// The clock the API reads (injectable for tests).
pub type Clock = Arc<dyn Fn() -> UnixTime + Send + Sync>;

/// Everything a request handler needs; cheap to clone.
#[derive(Clone)]
pub struct ApiState {
    inner: Arc<Inner>,
}

struct Inner {
    config: ApiConfig,
    store: Arc<dyn Store>,
    table: Arc<BindingTable>,
    metrics: Metrics,
    engine: EngineHandle,
    authenticator: Arc<Authenticator>,
    clock: Clock,
    route_policy: SharedRoutePolicy,
    media_relay: bool,
    prompts: Option<Arc<PromptLibrary>>,
    recordings: Option<Arc<RecordingStore>>,
    recording_proxy: Option<crate::proxy::RecordingProxy>,
    call_control: Option<Arc<dyn CallControl>>,
    ready: Option<Arc<std::sync::atomic::AtomicBool>>,
    limiters: Arc<crate::limits::AppLimiters>,
}

impl ApiState {
    /// Builds the state; the clock is the system clock (see [`ApiState::with_clock`]). Media relay is assumed
    /// on ([`ApiState::with_media_relay`]); without [`ApiState::with_prompts`] only the shipped prompts exist,
    /// without [`ApiState::with_recordings`] every recording is "does not exist".
    pub fn new(
        config: ApiConfig,
        store: Arc<dyn Store>,
        table: Arc<BindingTable>,
        metrics: Metrics,
        engine: EngineHandle,
    ) -> Self {
        // Replay protection that survives restarts: nonces restored from the store, new ones committed by
        // the engine (see `pn_provision::nonces`).
        let authenticator = Arc::new(Authenticator::with_journal(
            config.auth.clone(),
            engine.nonces().clone(),
        ));
        Self {
            inner: Arc::new(Inner {
                config,
                store,
                table,
                metrics,
                engine,
                authenticator,
                clock: Arc::new(crate::time::system_now),
                route_policy: SharedRoutePolicy::default(),
                media_relay: true,
                prompts: None,
                recordings: None,
                recording_proxy: None,
                call_control: None,
                ready: None,
                limiters: Arc::default(),
            }),
        }
    }

    /// The same state with one setting changed (builders run before serving, so the state is not shared
    /// yet; if it is, the copy shares the authenticator and its replay memory).
    fn map(self, change: impl FnOnce(&mut Inner)) -> Self {
        let mut inner = Arc::try_unwrap(self.inner).unwrap_or_else(|shared| Inner {
            config: shared.config.clone(),
            store: shared.store.clone(),
            table: shared.table.clone(),
            metrics: shared.metrics.clone(),
            engine: shared.engine.clone(),
            authenticator: shared.authenticator.clone(),
            clock: shared.clock.clone(),
            route_policy: shared.route_policy.clone(),
            media_relay: shared.media_relay,
            prompts: shared.prompts.clone(),
            recordings: shared.recordings.clone(),
            recording_proxy: shared.recording_proxy.clone(),
            call_control: shared.call_control.clone(),
            ready: shared.ready.clone(),
            limiters: shared.limiters.clone(),
        });
        change(&mut inner);
        Self {
            inner: Arc::new(inner),
        }
    }

    /// The same state reading time from `clock` (tests inject a fixed or stepping clock).
    #[must_use]
    pub fn with_clock(self, clock: Clock) -> Self {
        self.map(|i| i.clock = clock)
    }

    /// The same state with the call path's routing policy (used by the admin route trace; the cell the
    /// shards read, so a reload shows here too).
    #[must_use]
    pub fn with_route_policy(self, route_policy: SharedRoutePolicy) -> Self {
        self.map(|i| i.route_policy = route_policy)
    }

    /// Whether the switch anchors media (`[media] mode = "relay"`). When false (bypass: no media plane),
    /// binds and modifies that need media (AXE, recording, any prompt) are refused with 1010002.
    #[must_use]
    pub fn with_media_relay(self, media_relay: bool) -> Self {
        self.map(|i| i.media_relay = media_relay)
    }

    /// The prompt library (admin prompt endpoints, bind-time prompt checks).
    #[must_use]
    pub fn with_prompts(self, prompts: Arc<PromptLibrary>) -> Self {
        self.map(|i| i.prompts = Some(prompts))
    }

    /// The recording store (recording download).
    #[must_use]
    pub fn with_recordings(self, recordings: Arc<RecordingStore>) -> Self {
        self.map(|i| i.recordings = Some(recordings))
    }

    /// Fetches recordings this node does not hold from the node named in their signed URL (a cluster on a
    /// shared store; see `proxy.rs`). Without it a recording missing here is 1012007.
    #[must_use]
    pub fn with_recording_proxy(self, proxy: crate::proxy::RecordingProxy) -> Self {
        self.map(|i| i.recording_proxy = Some(proxy))
    }

    /// The SIP runtime's call control (the call-stop API). Without it every call stop answers 1020152: no
    /// call is known here.
    #[must_use]
    pub fn with_call_control(self, control: Arc<dyn CallControl>) -> Self {
        self.map(|i| i.call_control = Some(control))
    }

    /// `/readyz` answers 200 only while `ready` is true (the binary clears it when it starts draining).
    #[must_use]
    pub fn with_readiness(self, ready: Arc<std::sync::atomic::AtomicBool>) -> Self {
        self.map(|i| i.ready = Some(ready))
    }

    /// Whether the switch takes new work: the engine runs, its routing table has caught up with a shared
    /// store's change feed, and, when a readiness flag is set, it is true.
    pub fn is_ready(&self) -> bool {
        self.inner.engine.is_running()
            && self.inner.engine.feed_caught_up()
            && self
                .inner
                .ready
                .as_ref()
                .is_none_or(|r| r.load(std::sync::atomic::Ordering::Acquire))
    }

    /// The apps' API flow control and allow-list.
    pub(crate) fn limiters(&self) -> &crate::limits::AppLimiters {
        &self.inner.limiters
    }

    /// The call control, when configured.
    pub fn call_control(&self) -> Option<&Arc<dyn CallControl>> {
        self.inner.call_control.as_ref()
    }

    /// Whether media is relayed (see [`ApiState::with_media_relay`]).
    pub fn media_relay(&self) -> bool {
        self.inner.media_relay
    }

    /// The prompt library, when configured.
    pub fn prompts(&self) -> Option<&Arc<PromptLibrary>> {
        self.inner.prompts.as_ref()
    }

    /// The recording proxy, when configured.
    pub(crate) fn recording_proxy(&self) -> Option<&crate::proxy::RecordingProxy> {
        self.inner.recording_proxy.as_ref()
    }

    /// The recording store, when configured.
    pub fn recordings(&self) -> Option<&Arc<RecordingStore>> {
        self.inner.recordings.as_ref()
    }

    /// Whether prompt `name` exists for `app`: its upload or a shipped default.
    pub(crate) fn prompt_exists(&self, app: pn_bindings::AppId, name: &str) -> bool {
        match self.prompts() {
            Some(lib) => lib.exists(app, name),
            None => pn_media::prompts::default_prompt(name).is_some(),
        }
    }

    /// The call path's routing policy.
    pub fn route_policy(&self) -> RoutePolicy {
        self.inner.route_policy.get()
    }

    /// The current time, from the configured clock.
    pub fn now(&self) -> UnixTime {
        (self.inner.clock)()
    }

    /// The API configuration.
    pub fn config(&self) -> &ApiConfig {
        &self.inner.config
    }

    /// The durable store (for reads; writes go through the engine).
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.inner.store
    }

    /// The routing table.
    pub fn table(&self) -> &Arc<BindingTable> {
        &self.inner.table
    }

    /// The metrics registry.
    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    /// The write engine.
    pub fn engine(&self) -> &EngineHandle {
        &self.inner.engine
    }

    /// The request authenticator.
    pub(crate) fn authenticator(&self) -> &Authenticator {
        &self.inner.authenticator
    }

    /// The app with this key, as last committed.
    pub(crate) fn app_by_key(&self, app_key: &str) -> Option<App> {
        self.inner.engine.app_by_key(app_key)
    }
}
