//! The writer's idle release ([`crate::engine::idle`]): once per quiet period after writes, never without them,
//! and the store works on after it.

use std::time::Duration;

use super::*;

/// Polls `done` every 10 ms for up to 10 s.
async fn wait_until(done: impl Fn() -> bool) {
    for _ in 0..1000 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("not within 10 s");
}

#[tokio::test]
async fn the_idle_writer_gives_back_the_caches_once_per_quiet_period() {
    let dir = tempfile::TempDir::new().unwrap();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(dir.path(), SqliteOptions::default()).unwrap());
    let metrics = Metrics::new().unwrap();
    let config = EngineConfig {
        idle_release_ms: 200,
        ..EngineConfig::default()
    };
    let engine = super::super::Provisioner::start(
        store.clone(),
        Arc::new(BindingTable::new()),
        metrics.clone(),
        config,
    )
    .unwrap();
    let releases = || metrics.store_memory_releases.get();
    let append = |n: u32| {
        engine.append_outbox(Arc::from(vec![OutboxRow::pending(
            OutboxKind::Cdr,
            AppId(1),
            format!("{{\"n\":{n}}}"),
        )]))
    };

    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(releases(), 0, "released with nothing written");

    append(1).await.unwrap();
    wait_until(|| releases() == 1).await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(releases(), 1, "released again with nothing written since");

    // A burst, then quiet: released again after it (writes closer than the quiet period do not each release).
    for n in 2..12 {
        append(n).await.unwrap();
    }
    wait_until(|| releases() >= 2).await;
    let after_burst = releases();
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(releases(), after_burst);

    // Housekeeping every 50 ms (the switch sweeps every second) neither counts as a write nor delays the
    // release after one.
    let sweeping = tokio::spawn({
        let engine = engine.clone();
        async move {
            loop {
                engine.sweep(UnixTime(0)).await.unwrap();
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    });
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(releases(), after_burst, "a sweep released");
    append(12).await.unwrap();
    wait_until(|| releases() == after_burst + 1).await;
    sweeping.abort();

    // The store works on after a release: every row is there.
    append(13).await.unwrap();
    assert_eq!(store.reader().unwrap().outbox_count().unwrap(), 13);
}
