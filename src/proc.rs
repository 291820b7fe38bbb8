//! Process identity: a pid plus its start time (from `/proc/<pid>/stat`), so
//! a recycled pid is never mistaken for the session that had it.

use std::path::Path;

/// Field 22 of `/proc/<pid>/stat` (start time in clock ticks since boot).
/// `None` when the process does not exist or is a zombie.
pub fn start_time(pid: i64) -> Option<i64> {
    if pid <= 0 {
        return None;
    }
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces and parentheses: split after the last ')'.
    let rest = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // rest starts at field 3 (state); field 22 is index 19.
    if fields.first() == Some(&"Z") || fields.first() == Some(&"X") {
        return None;
    }
    fields.get(19)?.parse().ok()
}

/// Is the process `pid` with start time `start` still running?
pub fn alive(pid: i64, start: Option<i64>) -> bool {
    match (start_time(pid), start) {
        (Some(s), Some(want)) => s == want,
        (Some(_), None) => true,
        (None, _) => {
            // No /proc (not Linux): fall back to kill(pid, 0).
            !Path::new("/proc/self/stat").exists() && unsafe { libc::kill(pid as i32, 0) == 0 }
        }
    }
}

/// Does the command line of `pid` contain `needle`? (Identity check for a
/// session found through its pidfile.)
pub fn cmdline_contains(pid: i64, needle: &str) -> bool {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|b| String::from_utf8_lossy(&b).contains(needle))
        .unwrap_or(false)
}

/// A live process whose command line contains `needle`: how a resuming
/// supervisor finds a session wrapper that was started but had not yet
/// said its pid when its supervisor died. Scans `/proc` (Linux).
pub fn find_by_cmdline(needle: &str) -> Option<i64> {
    std::fs::read_dir("/proc")
        .ok()?
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i64>().ok())
        .find(|&pid| start_time(pid).is_some() && cmdline_contains(pid, needle))
}

/// Send `sig` to the process group led by `pid` (sessions are group
/// leaders), and to `pid` itself.
pub fn kill_group(pid: i64, sig: i32) {
    if pid <= 1 {
        return;
    }
    unsafe {
        libc::kill(-(pid as i32), sig);
        libc::kill(pid as i32, sig);
    }
}

/// Process groups this process started and must not leave behind (refinery
/// gates), and whether it is stopping. A supervisor that receives SIGTERM
/// calls [`stop_tracked`]: every tracked group is killed, and code waiting
/// on one sees [`stopping`] and reports an interruption, not a failure.
static TRACKED: std::sync::Mutex<Vec<i64>> = std::sync::Mutex::new(Vec::new());
static STOPPING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Untracks its process group when dropped.
pub struct TrackedGroup(i64);

impl Drop for TrackedGroup {
    fn drop(&mut self) {
        if let Ok(mut t) = TRACKED.lock() {
            t.retain(|p| *p != self.0);
        }
    }
}

/// Track the process group led by `pid` until the guard drops. If this
/// process is already stopping, the group is killed at once.
pub fn track_group(pid: i64) -> TrackedGroup {
    if let Ok(mut t) = TRACKED.lock() {
        t.push(pid);
    }
    if stopping() {
        kill_group(pid, SIGKILL);
    }
    TrackedGroup(pid)
}

/// Is this process stopping (see [`stop_tracked`])?
pub fn stopping() -> bool {
    STOPPING.load(std::sync::atomic::Ordering::SeqCst)
}

/// Begin stopping: kill every tracked process group. Returns how many.
pub fn stop_tracked() -> usize {
    STOPPING.store(true, std::sync::atomic::Ordering::SeqCst);
    let groups = TRACKED.lock().map(|t| t.clone()).unwrap_or_default();
    for g in &groups {
        kill_group(*g, SIGKILL);
    }
    groups.len()
}

/// Kill what is left of the process group `pgid` after its leader (a
/// session wrapper) ended: background processes a step forked. Only the
/// group is signalled, never a (possibly recycled) pid.
pub fn kill_leftovers(pgid: i64) {
    if pgid > 1 {
        unsafe {
            libc::kill(-(pgid as i32), SIGKILL);
        }
    }
}

pub const SIGTERM: i32 = libc::SIGTERM;
pub const SIGKILL: i32 = libc::SIGKILL;

/// This process's pid and start time (read once: the supervisor asks on
/// every lease and claim).
pub fn me() -> (i64, Option<i64>) {
    static ME: std::sync::OnceLock<(i64, Option<i64>)> = std::sync::OnceLock::new();
    *ME.get_or_init(|| {
        let pid = std::process::id() as i64;
        (pid, start_time(pid))
    })
}

/// Resident set size of this process in bytes (Linux), for benchmarks.
pub fn rss_bytes(pid: i64) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = text.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

#[cfg(test)]
mod tests {
    #[test]
    fn my_start_time_is_stable() {
        let (pid, st) = super::me();
        if std::path::Path::new("/proc/self/stat").exists() {
            assert!(st.is_some());
            assert_eq!(super::start_time(pid), st);
            assert!(super::alive(pid, st));
            assert!(!super::alive(pid, st.map(|s| s + 1)));
        }
    }
}

/// A process started by one of a town's agent sessions (its environment
/// carries that town's `GT_TOWN` and a session `GT_GENERATION`).
#[derive(Debug, Clone, serde::Serialize)]
pub struct SessionProcess {
    pub pid: i64,
    /// The process group: the session leader's pid (sessions lead their group).
    pub pgid: i64,
    pub command: String,
    /// `BD_ACTOR` of the session: the agent's address.
    pub agent: Option<String>,
    pub generation: Option<i64>,
}

/// The command line of `pid`, its arguments joined by spaces.
pub fn cmdline(pid: i64) -> String {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|b| {
            String::from_utf8_lossy(&b)
                .replace('\0', " ")
                .trim()
                .to_string()
        })
        .unwrap_or_default()
}

/// Field 5 of `/proc/<pid>/stat`: the process group.
pub fn pgid_of(pid: i64) -> Option<i64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &text[text.rfind(')')? + 1..];
    rest.split_whitespace().nth(2)?.parse().ok()
}

/// Every live process of `town_root`'s agent sessions (Linux `/proc`;
/// empty elsewhere). Processes of other users cannot be read and are skipped.
pub fn town_session_processes(town_root: &Path) -> Vec<SessionProcess> {
    let want = town_root.to_string_lossy();
    let Ok(rd) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for e in rd.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i64>().ok()) else {
            continue;
        };
        let Ok(env) = std::fs::read(format!("/proc/{pid}/environ")) else {
            continue;
        };
        let var = |k: &str| {
            env.split(|b| *b == 0).find_map(|kv| {
                let kv = String::from_utf8_lossy(kv);
                kv.strip_prefix(k)
                    .and_then(|v| v.strip_prefix('='))
                    .map(str::to_string)
            })
        };
        if var("GT_TOWN").as_deref() != Some(&want) || start_time(pid).is_none() {
            continue;
        }
        let Some(generation) = var("GT_GENERATION") else {
            continue;
        };
        let command = cmdline(pid);
        out.push(SessionProcess {
            pid,
            pgid: pgid_of(pid).unwrap_or(pid),
            command,
            agent: var("BD_ACTOR"),
            generation: generation.parse().ok(),
        });
    }
    out.sort_by_key(|p| p.pid);
    out
}
