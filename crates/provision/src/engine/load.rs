//! Startup load of the routing table, and the expiry sweep.

use pn_bindings::{BindingKind, BindingTable, UnixTime};
use pn_metrics::Metrics;
use pn_store::Store;

use super::{Ctx, OpResult};
use crate::ProvisionError;

/// What [`load_table`] put into the routing table.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LoadStats {
    /// Apps loaded.
    pub apps: usize,
    /// Pool numbers loaded.
    pub numbers: usize,
    /// Live bindings loaded (AXYB relations included).
    pub bindings: usize,
    /// Expired bindings skipped (the sweeper deletes them).
    pub expired_skipped: usize,
    /// Live temporary callees loaded.
    pub temp_callees: usize,
    /// Live callback records loaded.
    pub callback_records: usize,
    /// Bindings that name at least one prompt (their [`pn_bindings::BindingMedia`] is in the table).
    pub with_media: usize,
    /// A shared store: the change feed's head in the snapshot loaded (the engine follows the feed from it).
    pub feed_head: Option<u64>,
}

/// The `mode` label of the bindings gauge: `AXB`, `AX`, `AXE`, `AXYB` (A–X parts) or `YB` (relations).
pub(crate) fn kind_label(kind: &BindingKind) -> &'static str {
    match kind {
        BindingKind::Yb(_) => "YB",
        other => other.mode().as_str(),
    }
}

/// Builds the routing table from the store at startup (apps, numbers, live bindings, temp callees, callback
/// records), skipping what expired before `now`, and sets the `bindings{mode,app}` and outbox gauges.
pub fn load_table(
    store: &dyn Store,
    table: &BindingTable,
    metrics: &Metrics,
    now: UnixTime,
) -> Result<LoadStats, ProvisionError> {
    let mut r = store.reader()?;
    let mut stats = LoadStats {
        // Read in the same snapshot as every row below.
        feed_head: r.feed_head()?,
        ..LoadStats::default()
    };
    let apps = r.apps()?;
    for app in &apps {
        table.upsert_app(app);
    }
    stats.apps = apps.len();
    super::outbox::set_gauges(metrics, r.outbox_counts()?);
    for n in r.numbers(None)? {
        table.upsert_number(&n);
        stats.numbers += 1;
    }
    metrics.bindings.reset();
    let mut counts: std::collections::HashMap<(&'static str, String), i64> = std::collections::HashMap::new();
    r.for_each_binding(&mut |b| {
        if b.is_expired(now) {
            stats.expired_skipped += 1;
            return;
        }
        table.insert_binding(&b);
        // Bindings stream in id order, so an AXYB parent precedes its relations.
        super::set_media(table, &b);
        stats.bindings += 1;
        let app = apps.iter().find(|a| a.id == b.app).map_or_else(
            || b.app.0.to_string(),
            |a| metrics.app_label.of(&a.name, &a.app_key).to_owned(),
        );
        *counts.entry((kind_label(&b.kind), app)).or_default() += 1;
    })?;
    for ((mode, app), n) in counts {
        metrics.bindings.with_label_values(&[mode, app.as_str()]).set(n);
    }
    stats.with_media = table.media_entries();
    for t in r.temp_callees()? {
        if t.expires_at > now {
            table.set_temp_callee(&t);
            stats.temp_callees += 1;
        }
    }
    for c in r.callback_records()? {
        if c.expires_at.is_none_or(|t| t > now) {
            table.set_callback_record(&c);
            stats.callback_records += 1;
        }
    }
    Ok(stats)
}

/// Deletes up to `sweep_limit` expired bindings (an AXYB binding with its relations).
pub(crate) fn sweep(ctx: &mut Ctx<'_, '_>) -> OpResult<u64> {
    let expired = ctx.tx.expired_bindings(ctx.now, ctx.config.sweep_limit)?;
    let mut removed = 0u64;
    for b in expired {
        // An earlier entry's cascade may already have deleted this one.
        if ctx.tx.binding(b.id)?.is_some() {
            ctx.remove(&b)?;
            removed += 1;
        }
    }
    let keep_from = ctx.now.plus_secs(-i64::from(ctx.config.feed_retention_secs));
    ctx.tx.prune_feed(keep_from, ctx.config.sweep_limit)?;
    Ok(removed)
}
