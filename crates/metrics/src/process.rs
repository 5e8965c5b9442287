//! What the process is: `pn_build_info{version, commit}` (always 1) and the standard `process_*` metrics
//! (CPU seconds, resident and virtual memory, open and max file descriptors, threads, start time) from
//! the prometheus crate's Linux process collector.

use prometheus::{IntGaugeVec, Opts, Registry};

use crate::MetricsError;

/// Registers the build-info gauge (`version`, `commit` labels) and the process collector.
pub(crate) fn register(registry: &Registry, version: &str, commit: &str) -> Result<(), MetricsError> {
    let info = IntGaugeVec::new(
        Opts::new(
            "pn_build_info",
            "The running build: always 1, with the version and the commit it was built from",
        ),
        &["version", "commit"],
    )?;
    info.with_label_values(&[version, commit]).set(1);
    registry.register(Box::new(info))?;
    #[cfg(target_os = "linux")]
    registry.register(Box::new(
        prometheus::process_collector::ProcessCollector::for_self(),
    ))?;
    Ok(())
}
