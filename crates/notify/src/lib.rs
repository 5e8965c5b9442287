//! pn-notify: the delivery core of pnswitch's pushes to the apps' URLs (call events, CDRs, SMS and
//! X-number status notifications, reference §3, §4, §7.1, §7.2).
//!
//! # I/O contract
//!
//! Sans-IO: nothing here reads the clock, owns a socket, sleeps or spawns (`clippy.toml` bans
//! `Instant::now`/`SystemTime::now`; `tests/run-all.sh` checks that no runtime crate is a dependency).
//! Every input carries `now`; the outputs are values for a driver (the thin HTTP sender, built later) to act on.
//!
//! The driver reads undelivered outbox rows from the store and hands them in as [`Entry`]s
//! ([`Notifier::enqueue`]), reports each push's HTTP result ([`Notifier::handle_result`]: a 2xx is
//! [`PushOutcome::Delivered`], anything else, a timeout or a connect error is [`PushOutcome::Failed`]), calls
//! [`Notifier::handle_timeout`] when the last deadline is reached, and hands dead letters back when an operator
//! asks for them ([`Notifier::replay`]). After each input it drains [`Notifier::poll_output`]:
//!
//! - [`Output::Push`]: POST [`Push::body`] (signed with the app's secret) to the app's URL for [`Push::kind`];
//! - [`Output::Delivered`]: mark these entries delivered in the store (their push got a 2xx);
//! - [`Output::DeadLettered`]: mark these entries dead in the store (their last retry failed);
//! - [`Output::Timeout`]: the next deadline, always the last output of a drain; call `handle_timeout` then.
//!
//! Delivery is at least once: an entry is reported delivered only after the 2xx of a push that carried it; a
//! failed push puts all its entries back, each on its own retry schedule ([`NotifyConfig`]). The core holds
//! at most [`NotifyConfig::max_entries`] entries: beyond that `enqueue` refuses ([`NotifyError::Full`]) and the
//! driver leaves the rows in the store and offers them again once entries have left (delivered or dead).

pub mod body;
pub mod config;
pub mod entry;
pub mod error;
pub mod notifier;

pub use config::NotifyConfig;
pub use entry::{Entry, EntryId, Output, Push, PushId, PushKind, PushOutcome};
pub use error::NotifyError;
pub use notifier::Notifier;
