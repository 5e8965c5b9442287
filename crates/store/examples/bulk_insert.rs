//! Bulk-insert throughput of the `SQLite` store: N AXB bindings in transactions of B.
//!
//! `cargo run --release -p pn-store --example bulk_insert -- [COUNT] [BATCH] [full|normal] [DIR]`
//! (defaults: 100000, 256, full, a fresh temporary directory). Also times the startup load
//! (`for_each_binding`) of what it wrote.

use std::error::Error;
use std::time::Instant;

use pn_bindings::{
    AppId, AxbBinding, Binding, BindingId, BindingKind, CallControls, CallDirection, RecordSettings, UnixTime,
};
use pn_numbers::E164;
use pn_store::Store;
use pn_store::sqlite::{SqliteOptions, SqliteStore};

fn number(digits: u64) -> Result<E164, Box<dyn Error>> {
    E164::from_digits(digits).ok_or_else(|| format!("bad number {digits}").into())
}

fn binding(id: u64) -> Result<Binding, Box<dyn Error>> {
    Ok(Binding {
        id: BindingId(id),
        subscription_id: format!("sub-{id:016x}"),
        app: AppId(1),
        created_at: UnixTime(1_700_000_000),
        updated_at: UnixTime(1_700_000_000),
        expires_at: Some(UnixTime(1_700_000_000 + (id % 86_400) as i64)),
        duration_secs: Some(86_400),
        record: RecordSettings::default(),
        user_data: Some(format!("order-{id}")),
        kind: BindingKind::Axb(AxbBinding {
            x: number(8_617_000_000_000 + id % 10_000)?,
            a: number(8_613_800_000_000 + id)?,
            b: number(8_613_900_000_000 + id)?,
            direction: CallDirection::Both,
            controls: CallControls::default(),
        }),
    })
}

fn main() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let count: u64 = args.first().map_or(Ok(100_000), |s| s.parse())?;
    let batch: u64 = args.get(1).map_or(Ok(256), |s| s.parse())?.max(1);
    let synchronous_full = args.get(2).is_none_or(|s| s != "normal");
    let temp = tempfile::TempDir::new()?;
    let dir = args.get(3).map_or_else(|| temp.path().to_path_buf(), Into::into);

    let store = SqliteStore::open(
        &dir,
        SqliteOptions {
            synchronous_full,
            ..SqliteOptions::default()
        },
    )?;
    let start = Instant::now();
    let mut id = 1;
    while id <= count {
        let mut tx = store.begin()?;
        let end = (id + batch).min(count + 1);
        for i in id..end {
            tx.put_binding(&binding(i)?)?;
        }
        tx.commit()?;
        id = end;
    }
    let insert = start.elapsed();
    let commits = count.div_ceil(batch);
    println!(
        "inserted {count} bindings in {commits} commits of {batch} (synchronous={}): {:.2?} = {:.0} bindings/s, {:.2?}/commit",
        if synchronous_full { "FULL" } else { "NORMAL" },
        insert,
        count as f64 / insert.as_secs_f64(),
        insert / u32::try_from(commits.max(1))?,
    );

    let start = Instant::now();
    let mut loaded = 0_u64;
    store.reader()?.for_each_binding(&mut |_| loaded += 1)?;
    let load = start.elapsed();
    println!(
        "for_each_binding loaded {loaded} in {load:.2?} = {:.0} bindings/s",
        loaded as f64 / load.as_secs_f64()
    );
    Ok(())
}
