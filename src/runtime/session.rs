//! Session providers. Every session runs inside a tiny POSIX-shell wrapper
//! that appends `<key> pid <pid>` to its status journal first and
//! `<key> <exit status>` last (see [`StatusRecord`]), so a supervisor that
//! restarts after a crash can adopt a live session (pid + start time) or
//! learn how a dead one ended.
//!
//! - `exec`: a headless child process in its own process group, stdout and
//!   stderr appended to the log file.
//! - `tmux`: a detached tmux session (optional); the pane's output is piped
//!   to the same log file.

use crate::town::Provider;
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Stdio;

/// The wrapper. `$1` is the status journal, `$2` the session's key in it;
/// the command is `$GT_CMD`, its stdin `$GT_STDIN` (or nothing). The
/// command is `eval`ed in the wrapper itself (no second shell: a step is
/// the wrapper plus its command), with no positional parameters; the exit
/// trap records its status, also when it ends with `exit` or `set -e`.
/// Appending to an existing journal creates no file: creating files is a
/// real part of a no-op step's cost.
const WRAPPER: &str = r#"__gt_journal=$1 __gt_key=$2
shift 2
echo "$__gt_key pid $$" >> "$__gt_journal"
trap 'echo "$__gt_key $?" >> "$__gt_journal"' EXIT
if [ -n "$GT_STDIN" ]; then eval "$GT_CMD" < "$GT_STDIN"; else eval "$GT_CMD" < /dev/null; fi"#;

/// Where a session's wrapper says how it is: lines `<key> pid <pid>` (it
/// runs) and `<key> <status>` (it ended) appended to `journal`. The
/// sessions of one `gt run` share one journal, keyed `<step>.<lease gen>`;
/// an agent session started on its own has a journal to itself. Lines are
/// short single writes to an `O_APPEND` file, so concurrent sessions never
/// interleave; the last line of a key wins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusRecord {
    pub journal: PathBuf,
    /// No whitespace (step ids and generations, session labels).
    pub key: String,
}

impl StatusRecord {
    /// The journal of one session alone.
    pub fn own(journal: PathBuf) -> StatusRecord {
        StatusRecord {
            journal,
            key: "session".into(),
        }
    }

    /// What identifies the wrapper of this session in its command line
    /// (`/proc/<pid>/cmdline`, arguments NUL-separated).
    pub fn cmdline_needle(&self) -> String {
        format!("{}\0{}\0", self.journal.display(), self.key)
    }
}

/// What a status journal says about one session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionState {
    /// About to start (`<key> new`): the wrapper may be running without
    /// having said its pid yet.
    Starting,
    /// Its wrapper is running (or died without a word: check the pid).
    Running(i64),
    Exited(i32),
}

/// Every session's last word in the journal `journal` (empty when it does
/// not exist). A `<key> new` line (written before a start) forgets what an
/// earlier session under the same key said, and reads as `Starting`.
pub fn read_journal(journal: &Path) -> HashMap<String, SessionState> {
    let mut out = HashMap::new();
    let Ok(text) = std::fs::read(journal) else {
        return out;
    };
    for line in String::from_utf8_lossy(&text).lines() {
        let Some((key, word)) = line.split_once(' ') else {
            continue;
        };
        let state = match word.strip_prefix("pid ") {
            Some(p) => p.trim().parse().ok().map(SessionState::Running),
            None if word.trim() == "new" => Some(SessionState::Starting),
            None => word.trim().parse().ok().map(SessionState::Exited),
        };
        match state {
            Some(s) => out.insert(key.to_string(), s),
            None => out.remove(key),
        };
    }
    out
}

/// The last word of one session.
pub fn session_state(rec: &StatusRecord) -> Option<SessionState> {
    read_journal(&rec.journal).remove(&rec.key)
}

/// How a session ended: `Some(code)`, or `None` while it runs or when the
/// wrapper never said (killed, crashed).
pub fn read_status(rec: &StatusRecord) -> Option<i32> {
    match session_state(rec)? {
        SessionState::Exited(c) => Some(c),
        SessionState::Starting | SessionState::Running(_) => None,
    }
}

/// What to start.
#[derive(Debug, Clone)]
pub struct SessionSpec {
    /// Session name (tmux session name; log label).
    pub name: String,
    /// The shell command line to run.
    pub command: String,
    pub cwd: PathBuf,
    pub env: Vec<(String, String)>,
    /// A file to feed on stdin (the prompt), if any.
    pub stdin: Option<PathBuf>,
    pub log: PathBuf,
    pub status: StatusRecord,
    pub provider: Provider,
}

/// A started session.
pub enum Started {
    /// Our child: its exit is awaited.
    Child(tokio::process::Child),
    /// Not our child (tmux pane, or detached): watched through its pid.
    Detached { pid: i64 },
}

impl Started {
    pub fn pid(&self) -> Option<i64> {
        match self {
            Started::Child(c) => c.id().map(|p| p as i64),
            Started::Detached { pid } => Some(*pid),
        }
    }
}

/// Open the log (appending) and say `<key> new` in the journal, making
/// their directories only when they are missing (a run makes them once).
fn prepare_files(spec: &SessionSpec) -> std::io::Result<std::fs::File> {
    let mut journal = open_append(&spec.status.journal)?;
    journal.write_all(format!("{} new\n", spec.status.key).as_bytes())?;
    open_append(&spec.log)
}

fn open_append(path: &Path) -> std::io::Result<std::fs::File> {
    let open = || {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
    };
    match open() {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if let Some(d) = path.parent() {
                std::fs::create_dir_all(d)?;
            }
            open()
        }
        r => r,
    }
}

fn base_env(spec: &SessionSpec) -> Vec<(String, String)> {
    let mut env = spec.env.clone();
    env.push(("GT_CMD".into(), spec.command.clone()));
    env.push((
        "GT_STDIN".into(),
        spec.stdin
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_default(),
    ));
    env
}

/// The wrapper process of an exec session: its own process group (so
/// stopping the session stops everything it started), output to the log.
fn wrapper_command(spec: &SessionSpec) -> std::io::Result<std::process::Command> {
    use std::os::unix::process::CommandExt;
    let log = prepare_files(spec)?;
    let err = log.try_clone()?;
    let mut cmd = std::process::Command::new("/bin/sh");
    cmd.arg("-c")
        .arg(WRAPPER)
        .arg("gt-session")
        .arg(&spec.status.journal)
        .arg(&spec.status.key)
        .current_dir(&spec.cwd)
        .envs(base_env(spec))
        .stdin(Stdio::null())
        .stdout(Stdio::from(log))
        .stderr(Stdio::from(err))
        .process_group(0);
    Ok(cmd)
}

/// Start a session under tokio (exec: a child; tmux: detached).
pub fn start(spec: &SessionSpec) -> std::io::Result<Started> {
    match spec.provider.resolved() {
        Provider::Exec | Provider::Auto => {
            let mut cmd = tokio::process::Command::from(wrapper_command(spec)?);
            cmd.kill_on_drop(false);
            Ok(Started::Child(cmd.spawn()?))
        }
        Provider::Tmux => start_tmux(spec).map(|pid| Started::Detached { pid }),
    }
}

/// Start a session that outlives this process (used by `gt sling` and the
/// witness). Returns its pid.
pub fn start_detached(spec: &SessionSpec) -> std::io::Result<i64> {
    if spec.provider.resolved() == Provider::Tmux {
        return start_tmux(spec);
    }
    let mut child = wrapper_command(spec)?.spawn()?;
    let pid = child.id() as i64;
    // Reap it when it ends (a long-lived supervisor must not collect zombies).
    std::thread::spawn(move || child.wait());
    Ok(pid)
}

/// Kill the tmux session of `spec` (its pane's process group is killed
/// separately).
pub fn tmux_kill(spec: &SessionSpec) {
    if tmux_available() {
        let _ = tmux(&socket_of(spec))
            .args(["kill-session", "-t", &spec.name])
            .output();
    }
}

/// The tmux socket of the town (or run) whose runtime directory is
/// `runtime_dir`: one server per town, so names never collide across towns.
pub fn tmux_socket(runtime_dir: &Path) -> String {
    use sha2::Digest;
    let h = sha2::Sha256::digest(runtime_dir.display().to_string().as_bytes());
    format!("gt-{}", &hex::encode(h)[..10])
}

fn socket_of(spec: &SessionSpec) -> String {
    let rt = spec
        .status
        .journal
        .parent()
        .and_then(|p| p.parent())
        .unwrap_or_else(|| Path::new("/"));
    tmux_socket(rt)
}

/// A tmux command on the socket `socket`.
pub fn tmux(socket: &str) -> std::process::Command {
    let mut c = std::process::Command::new("tmux");
    c.args(["-L", socket]);
    c
}

/// Is tmux installed?
pub fn tmux_available() -> bool {
    crate::town::agents::program_exists("tmux")
}

fn start_tmux(spec: &SessionSpec) -> std::io::Result<i64> {
    if !tmux_available() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            "the tmux provider needs `tmux`, which is not installed; install it or set the agent's provider to \"exec\"",
        ));
    }
    prepare_files(spec)?;
    let sock = socket_of(spec);
    let mut cmd = tmux(&sock);
    cmd.args(["new-session", "-d", "-s", &spec.name, "-c"])
        .arg(&spec.cwd);
    for (k, v) in base_env(spec) {
        cmd.arg("-e").arg(format!("{k}={v}"));
    }
    cmd.arg("/bin/sh")
        .arg("-c")
        .arg(WRAPPER)
        .arg("gt-session")
        .arg(&spec.status.journal)
        .arg(&spec.status.key);
    let out = cmd.output()?;
    if !out.status.success() {
        return Err(std::io::Error::other(format!(
            "tmux new-session failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    let _ = tmux(&sock)
        .args(["pipe-pane", "-o", "-t", &spec.name])
        .arg(format!(
            "cat >> {}",
            crate::formula::vars::shell_quote(&spec.log.display().to_string())
        ))
        .output();
    let out = tmux(&sock)
        .args(["display-message", "-p", "-t", &spec.name, "#{pane_pid}"])
        .output()?;
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse::<i64>()
        .map_err(|_| std::io::Error::other("tmux did not report the pane's pid"))
}

/// The last `lines` lines of a log file.
pub fn tail(path: &Path, lines: usize) -> std::io::Result<String> {
    let text = std::fs::read(path)?;
    let text = String::from_utf8_lossy(&text);
    let all: Vec<&str> = text.lines().collect();
    let start = all.len().saturating_sub(lines);
    Ok(all[start..].join("\n"))
}

/// The command line for a (non-shell) agent session: the prompt is written
/// to `prompt_file` (exported as `GT_PROMPT_FILE`), `{model}` and `{prompt}`
/// are substituted shell-quoted, and without `{prompt}` the prompt goes on
/// stdin. Returns the command and the file to feed on stdin, if any.
pub fn agent_command(
    agent: &crate::town::AgentConfig,
    prompt: &str,
    prompt_file: &std::path::Path,
    env: &mut Vec<(String, String)>,
) -> Result<(String, Option<std::path::PathBuf>), super::RuntimeError> {
    if let Some(d) = prompt_file.parent() {
        std::fs::create_dir_all(d)
            .map_err(|e| super::RuntimeError::Io(format!("{}: {e}", d.display())))?;
    }
    std::fs::write(prompt_file, prompt)
        .map_err(|e| super::RuntimeError::Io(format!("{}: {e}", prompt_file.display())))?;
    env.push(("GT_PROMPT_FILE".into(), prompt_file.display().to_string()));
    Ok(super::launch::command_line(
        agent,
        agent.provider,
        prompt,
        prompt_file,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_journal_is_read_by_the_last_word_of_each_key() {
        let dir = tempfile::tempdir().unwrap();
        let j = dir.path().join("m.journal");
        std::fs::write(
            &j,
            "a.1 new\na.1 pid 41\na.1 0\nb.1 new\nb.1 pid 42\nc.1 new\na.2 new\nd.1 7\nd.1 new\n",
        )
        .unwrap();
        let got = read_journal(&j);
        assert_eq!(got.get("a.1"), Some(&SessionState::Exited(0)));
        assert_eq!(got.get("b.1"), Some(&SessionState::Running(42)));
        assert_eq!(got.get("c.1"), Some(&SessionState::Starting));
        assert_eq!(got.get("a.2"), Some(&SessionState::Starting));
        // `new` forgets what an earlier session under the key said.
        assert_eq!(got.get("d.1"), Some(&SessionState::Starting));
        assert!(read_journal(&dir.path().join("none")).is_empty());
    }
}
