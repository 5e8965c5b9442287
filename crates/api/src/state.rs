//! The shared state of every request: config, store, routing table, metrics, engine, authenticator, clock.

use std::sync::Arc;

use pn_bindings::{App, BindingTable, RoutePolicy, UnixTime};
use pn_metrics::Metrics;
use pn_store::Store;

use crate::ApiConfig;
use crate::auth::Authenticator;
use crate::engine::EngineHandle;

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
    authenticator: Authenticator,
    clock: Clock,
    route_policy: RoutePolicy,
}

impl ApiState {
    /// Builds the state; the clock is the system clock (see [`ApiState::with_clock`]).
    pub fn new(
        config: ApiConfig,
        store: Arc<dyn Store>,
        table: Arc<BindingTable>,
        metrics: Metrics,
        engine: EngineHandle,
    ) -> Self {
        let authenticator = Authenticator::new(config.auth.clone());
        Self {
            inner: Arc::new(Inner {
                config,
                store,
                table,
                metrics,
                engine,
                authenticator,
                clock: Arc::new(crate::time::system_now),
                route_policy: RoutePolicy::default(),
            }),
        }
    }

    /// The same state reading time from `clock` (tests inject a fixed or stepping clock).
    #[must_use]
    pub fn with_clock(self, clock: Clock) -> Self {
        let inner = Arc::try_unwrap(self.inner).unwrap_or_else(|shared| Inner {
            config: shared.config.clone(),
            store: shared.store.clone(),
            table: shared.table.clone(),
            metrics: shared.metrics.clone(),
            engine: shared.engine.clone(),
            authenticator: Authenticator::new(shared.config.auth.clone()),
            clock: shared.clock.clone(),
            route_policy: shared.route_policy,
        });
        Self {
            inner: Arc::new(Inner { clock, ..inner }),
        }
    }

    /// The same state with the call path's routing policy (used by the admin route trace).
    #[must_use]
    pub fn with_route_policy(self, route_policy: RoutePolicy) -> Self {
        let inner = Arc::try_unwrap(self.inner).unwrap_or_else(|shared| Inner {
            config: shared.config.clone(),
            store: shared.store.clone(),
            table: shared.table.clone(),
            metrics: shared.metrics.clone(),
            engine: shared.engine.clone(),
            authenticator: Authenticator::new(shared.config.auth.clone()),
            clock: shared.clock.clone(),
            route_policy: shared.route_policy,
        });
        Self {
            inner: Arc::new(Inner {
                route_policy,
                ..inner
            }),
        }
    }

    /// The call path's routing policy.
    pub fn route_policy(&self) -> &RoutePolicy {
        &self.inner.route_policy
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
