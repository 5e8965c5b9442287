//! Child processes (stopped on drop) and CPU figures from `/proc`.

use std::collections::BTreeMap;
use std::process::Child;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// A child process that is stopped (SIGTERM, then SIGKILL after 3 s) when dropped.
pub struct Guard {
    child: Child,
    name: &'static str,
}

impl Guard {
    /// Takes ownership of `child`.
    pub fn new(child: Child, name: &'static str) -> Self {
        Self { child, name }
    }

    /// The child's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether it has exited (and how).
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if self.exited().is_some() {
            return;
        }
        if let Ok(pid) = i32::try_from(self.child.id()) {
            let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline {
            if self.exited().is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        eprintln!(
            "media-load: {} did not stop on SIGTERM within 3 s: SIGKILL",
            self.name
        );
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Clock ticks per second of `/proc` CPU times.
pub fn clk_tck() -> f64 {
    nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .map_or(100.0, |t| t as f64)
}

/// User and system CPU ticks of a process (all its threads) or of one thread.
#[derive(Clone, Copy, Debug, Default)]
pub struct Cpu {
    /// utime.
    pub user: u64,
    /// stime.
    pub system: u64,
}

impl Cpu {
    /// CPU seconds used between `self` (earlier) and `later`: (user, system).
    pub fn seconds_until(self, later: Cpu) -> (f64, f64) {
        let tck = clk_tck();
        (
            later.user.saturating_sub(self.user) as f64 / tck,
            later.system.saturating_sub(self.system) as f64 / tck,
        )
    }
}

/// (comm, cpu) from the text of a `/proc/…/stat` file.
fn parse_stat(text: &str) -> Option<(String, Cpu)> {
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let comm = text.get(open + 1..close)?.to_owned();
    // After ")": state(3) ppid(4) … utime(14) stime(15): fields 3.. are at index 0..
    let fields: Vec<&str> = text.get(close + 1..)?.split_whitespace().collect();
    let user = fields.get(11)?.parse().ok()?;
    let system = fields.get(12)?.parse().ok()?;
    Some((comm, Cpu { user, system }))
}

/// CPU ticks of process `pid` (all threads, including those that exited).
pub fn process(pid: u32) -> Option<Cpu> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat(&text).map(|(_, cpu)| cpu)
}

/// CPU ticks of this process.
pub fn this_process() -> Option<Cpu> {
    process(std::process::id())
}

/// CPU ticks per live thread of `pid`, keyed by "tid comm".
pub fn threads(pid: u32) -> BTreeMap<String, Cpu> {
    let mut out = BTreeMap::new();
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return out;
    };
    for entry in dir.flatten() {
        let tid = entry.file_name().to_string_lossy().into_owned();
        if let Ok(text) = std::fs::read_to_string(entry.path().join("stat"))
            && let Some((comm, cpu)) = parse_stat(&text)
        {
            out.insert(format!("{tid} {comm}"), cpu);
        }
    }
    out
}

/// CPU ticks and name of every process (and kernel thread) on the machine, keyed by pid (a kernel worker's
/// name changes with its work item).
pub fn all_processes() -> BTreeMap<u32, (String, Cpu)> {
    let mut out = BTreeMap::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return out;
    };
    for entry in dir.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        if let Ok(text) = std::fs::read_to_string(entry.path().join("stat"))
            && let Some((comm, cpu)) = parse_stat(&text)
        {
            out.insert(pid, (comm, cpu));
        }
    }
    out
}

/// CPU seconds per process between two snapshots as ("pid name", seconds), largest first, leaving out
/// `skip`; processes only in `later` count from zero.
pub fn busiest(
    earlier: &BTreeMap<u32, (String, Cpu)>,
    later: &BTreeMap<u32, (String, Cpu)>,
    skip: &[u32],
) -> Vec<(String, f64)> {
    let mut v: Vec<(String, f64)> = later
        .iter()
        .filter(|(pid, _)| !skip.contains(pid))
        .map(|(pid, (comm, cpu))| {
            let before = earlier.get(pid).map(|(_, c)| *c).unwrap_or_default();
            let (u, s) = before.seconds_until(*cpu);
            (format!("{pid} {comm}"), u + s)
        })
        .filter(|(_, s)| *s > 0.0)
        .collect();
    v.sort_by(|a, b| b.1.total_cmp(&a.1));
    v
}

/// The machine's CPU ticks from `/proc/stat`'s first line.
#[derive(Clone, Copy, Debug, Default)]
pub struct Machine {
    /// user + nice + system + irq + softirq + steal.
    pub busy: u64,
    /// Of which softirq (the loopback receive path may be accounted here rather than to a process).
    pub softirq: u64,
    /// busy + idle + iowait.
    pub total: u64,
}

/// Reads `/proc/stat`.
pub fn machine() -> Machine {
    let text = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let Some(line) = text.lines().find(|l| l.starts_with("cpu ")) else {
        return Machine::default();
    };
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .map(|f| f.parse().unwrap_or(0))
        .collect();
    let at = |i: usize| v.get(i).copied().unwrap_or(0);
    // user nice system idle iowait irq softirq steal
    let busy = at(0) + at(1) + at(2) + at(5) + at(6) + at(7);
    Machine {
        busy,
        softirq: at(6),
        total: busy + at(3) + at(4),
    }
}

/// The kernel's UDP counters (`/proc/net/snmp`, `Udp:` lines): `InDatagrams`, `RcvbufErrors`, …
pub fn udp_counters() -> BTreeMap<String, u64> {
    let text = std::fs::read_to_string("/proc/net/snmp").unwrap_or_default();
    let mut lines = text.lines().filter(|l| l.starts_with("Udp:"));
    let (Some(names), Some(values)) = (lines.next(), lines.next()) else {
        return BTreeMap::new();
    };
    names
        .split_whitespace()
        .skip(1)
        .zip(values.split_whitespace().skip(1))
        .filter_map(|(n, v)| Some((n.to_owned(), v.parse().ok()?)))
        .collect()
}

/// `later − earlier` per counter.
pub fn delta(earlier: &BTreeMap<String, u64>, later: &BTreeMap<String, u64>) -> BTreeMap<String, u64> {
    later
        .iter()
        .map(|(k, v)| (k.clone(), v.saturating_sub(earlier.get(k).copied().unwrap_or(0))))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_line_with_spaces_in_comm() {
        let line = "1234 (pn shard) S 1 2 3 4 5 6 7 8 9 10 111 222 13 14 15";
        let (comm, cpu) = parse_stat(line).unwrap();
        assert_eq!(comm, "pn shard");
        assert_eq!((cpu.user, cpu.system), (111, 222));
    }

    #[test]
    fn own_process_is_readable() {
        assert!(this_process().is_some());
        assert!(!threads(std::process::id()).is_empty());
        assert!(machine().total > 0);
    }
}
