//! Pinned shards (`sip.pin_shards`): shard *i* runs on the *i*-th CPU the process may use (modulo their count),
//! so a shard's calls, sockets and relay state stay in one core's caches and the scheduler never moves a busy
//! shard onto the core another shard is using. Off by default: on a box shared with other work (a load
//! generator, a database) a pinned shard cannot run on the idle core when its own is taken.

use nix::sched::{CpuSet, sched_getaffinity, sched_setaffinity};
use nix::unistd::Pid;

/// The CPUs this process may run on, in order (empty when the kernel will not say).
pub(crate) fn allowed_cpus() -> Vec<usize> {
    let Ok(set) = sched_getaffinity(Pid::from_raw(0)) else {
        return Vec::new();
    };
    (0..CpuSet::count())
        .filter(|&cpu| set.is_set(cpu).unwrap_or(false))
        .collect()
}

/// The CPU shard `index` runs on: the `index`-th of `allowed`, wrapping (`None` when none is allowed).
pub(crate) fn cpu_for_shard(allowed: &[usize], index: usize) -> Option<usize> {
    (!allowed.is_empty()).then(|| allowed[index % allowed.len()])
}

/// Pins the calling thread to `cpu`.
pub(crate) fn pin_current_thread(cpu: usize) -> std::io::Result<()> {
    let mut set = CpuSet::new();
    set.set(cpu).map_err(std::io::Error::from)?;
    sched_setaffinity(Pid::from_raw(0), &set).map_err(std::io::Error::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_take_the_allowed_cpus_in_turn() {
        assert_eq!(cpu_for_shard(&[], 0), None);
        let allowed = [2, 5, 7];
        let cpus: Vec<_> = (0..5).map(|i| cpu_for_shard(&allowed, i)).collect();
        assert_eq!(cpus, [Some(2), Some(5), Some(7), Some(2), Some(5)]);
    }

    #[test]
    fn a_pinned_thread_runs_only_on_its_cpu() {
        let allowed = allowed_cpus();
        assert!(!allowed.is_empty(), "the process may run somewhere");
        let last = *allowed.last().unwrap_or(&0);
        let on = std::thread::spawn(move || {
            pin_current_thread(last).unwrap();
            allowed_cpus()
        })
        .join()
        .unwrap();
        assert_eq!(on, [last]);
        // Only that thread: this one keeps its set.
        assert_eq!(allowed_cpus(), allowed);
    }
}
