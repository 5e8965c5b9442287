//! systemd `Type=notify` (`sd_notify(3)`, by the sd-notify crate): `READY=1` once the table is loaded and every
//! listener (SIP, HTTP) is bound; `WATCHDOG=1` every half of `WatchdogSec=` from the main runtime (a hung
//! runtime stops the pings and systemd restarts the service); `STOPPING=1` when shutdown begins. Each is a
//! no-op when `NOTIFY_SOCKET` is unset (not started by systemd).

use std::time::Duration;

use sd_notify::NotifyState;

/// Tells systemd the switch is serving.
pub(crate) fn ready(status: &str) {
    notify(&[NotifyState::Ready, NotifyState::Status(status)]);
}

/// Tells systemd the switch is stopping.
pub(crate) fn stopping() {
    notify(&[NotifyState::Stopping, NotifyState::Status("stopping")]);
}

/// Pings the watchdog every half of its timeout, when systemd set one (`WATCHDOG_USEC` for this process).
pub(crate) fn spawn_watchdog() -> Option<tokio::task::JoinHandle<()>> {
    let timeout = sd_notify::watchdog_enabled()?;
    let every = (timeout / 2).max(Duration::from_millis(10));
    tracing::info!(timeout_ms = timeout.as_millis(), "systemd watchdog enabled");
    Some(tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        loop {
            tick.tick().await;
            notify(&[NotifyState::Watchdog]);
        }
    }))
}

fn notify(states: &[NotifyState]) {
    if let Err(e) = sd_notify::notify(states) {
        tracing::warn!(error = %e, "notifying systemd (NOTIFY_SOCKET) failed");
    }
}
