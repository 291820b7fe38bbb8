//! Network git through the user's `git` CLI: clone, fetch, push, ls-remote.
//! Credential helpers, ssh-agent, `insteadOf`, proxies and
//! `GIT_SSH_COMMAND` behave exactly as they do for `git`. Local work
//! (worktrees, commits, rebases) stays on git2.

use super::{Result, TownError};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The remote every rig clone has.
pub const ORIGIN: &str = "origin";

/// Refspec that mirrors the origin's branches as remote-tracking refs.
const TRACKING: &str = "+refs/heads/*:refs/remotes/origin/*";

/// Longest a fetch or push may take before it is killed.
const NETWORK_TIMEOUT: Duration = Duration::from_secs(600);

/// What `git` printed, and whether it succeeded.
struct GitOutput {
    ok: bool,
    stdout: String,
    stderr: String,
}

/// Run `git args` (in `dir` when given). Non-interactive: no terminal
/// prompt ever blocks a refinery or a daemon. `timeout` kills git.
fn git(dir: Option<&Path>, args: &[&str], timeout: Duration) -> std::io::Result<GitOutput> {
    let mut cmd = Command::new("git");
    if let Some(d) = dir {
        cmd.arg("-C").arg(d);
    }
    let mut child = cmd
        .args(args)
        .env("GIT_TERMINAL_PROMPT", "0")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let drain = |r: Option<Box<dyn std::io::Read + Send>>| {
        std::thread::spawn(move || {
            let mut s = String::new();
            if let Some(mut r) = r {
                let _ = r.read_to_string(&mut s);
            }
            s
        })
    };
    let out = drain(child.stdout.take().map(|r| Box::new(r) as _));
    let err = drain(child.stderr.take().map(|r| Box::new(r) as _));
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait()? {
            break Some(s);
        }
        if start.elapsed() >= timeout {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let mut stderr = err.join().unwrap_or_default();
    if status.is_none() {
        stderr += &format!("\n(killed after {} s)", timeout.as_secs());
    }
    Ok(GitOutput {
        ok: status.is_some_and(|s| s.success()),
        stdout: out.join().unwrap_or_default(),
        stderr,
    })
}

fn remote_error(op: &str, url: &str, message: String) -> TownError {
    TownError::Remote {
        op: op.to_string(),
        url: url.to_string(),
        message: message.trim().to_string(),
    }
}

/// Run a network git command; its failure names the URL and git's message.
fn network(dir: Option<&Path>, op: &str, url: &str, args: &[&str]) -> Result<GitOutput> {
    let out = git(dir, args, NETWORK_TIMEOUT).map_err(|e| {
        remote_error(
            op,
            url,
            format!("cannot run `git` ({e}); install git and make sure it is on PATH"),
        )
    })?;
    if !out.ok {
        return Err(remote_error(op, url, out.stderr));
    }
    Ok(out)
}

/// Turn `URL|PATH` into what `git clone` takes and what the rig records:
/// URLs (`https://`, `ssh://`, `file://`, `git@host:owner/repo`) stay as
/// they are; a local path becomes absolute.
pub fn clone_source(url: &str, cwd: &Path) -> String {
    let scp_like = url
        .split_once(':')
        .is_some_and(|(host, _)| !host.contains('/') && host.len() > 1);
    if url.contains("://") || scp_like {
        return url.to_string();
    }
    let p = Path::new(url);
    let abs = if p.is_absolute() {
        p.to_path_buf()
    } else {
        cwd.join(p)
    };
    abs.canonicalize().unwrap_or(abs).display().to_string()
}

/// `git clone --bare URL DEST`, then track the origin's branches as
/// `refs/remotes/origin/*`. Returns the origin's default branch (its HEAD).
pub fn clone_bare(url: &str, dest: &Path) -> Result<Option<String>> {
    let d = dest.display().to_string();
    network(
        None,
        "clone",
        url,
        &["clone", "--bare", "--quiet", "--", url, &d],
    )?;
    let local = |args: &[&str]| git(Some(dest), args, NETWORK_TIMEOUT);
    local(&["config", &format!("remote.{ORIGIN}.fetch"), TRACKING])
        .map_err(|e| TownError::io(dest, e))?;
    fetch(dest, url)?;
    Ok(local_head(dest))
}

/// The branch HEAD of a local repository points at, if it exists.
fn local_head(repo: &Path) -> Option<String> {
    let r = git2::Repository::open_bare(repo).ok()?;
    let head = r.find_reference("HEAD").ok()?;
    let target = head.symbolic_target()?.to_string();
    let branch = target.strip_prefix("refs/heads/")?.to_string();
    let tracked = format!("refs/remotes/{ORIGIN}/{branch}");
    (r.find_reference(&target).is_ok() || r.find_reference(&tracked).is_ok()).then_some(branch)
}

/// Fetch every branch of the origin into `refs/remotes/origin/*`.
pub fn fetch(repo: &Path, url: &str) -> Result<()> {
    network(
        Some(repo),
        "fetch",
        url,
        &["fetch", "--quiet", "--prune", ORIGIN, TRACKING],
    )?;
    Ok(())
}

/// The outcome of a push the remote may refuse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pushed {
    Ok,
    /// The remote branch moved meanwhile (non-fast-forward): fetch, rebuild, retry.
    Rejected(String),
}

/// Push commit `sha` to `refs/heads/<branch>` of `remote` (a remote name
/// or a URL). `force` for a rebased pull-request branch.
pub fn push(
    repo: &Path,
    remote: &str,
    url: &str,
    sha: &str,
    branch: &str,
    force: bool,
) -> Result<Pushed> {
    let spec = format!("{}{sha}:refs/heads/{branch}", if force { "+" } else { "" });
    let out = git(
        Some(repo),
        &["push", "--porcelain", "--quiet", remote, &spec],
        NETWORK_TIMEOUT,
    )
    .map_err(|e| remote_error("push", url, format!("cannot run `git` ({e})")))?;
    if out.ok {
        return Ok(Pushed::Ok);
    }
    // Porcelain: `!\t<src>:<dst>\t[rejected] (fetch first)`.
    let refused = out
        .stdout
        .lines()
        .find(|l| l.starts_with('!'))
        .map(str::to_string);
    match refused {
        Some(line) if line.contains("[rejected]") => Ok(Pushed::Rejected(line)),
        Some(line) => Err(remote_error("push", url, format!("{line}\n{}", out.stderr))),
        None => Err(remote_error("push", url, out.stderr)),
    }
}

/// The default branch a remote advertises (`git ls-remote --symref URL
/// HEAD`), within `timeout`. `None` when the remote has no HEAD (empty).
pub fn remote_default_branch(
    repo: Option<&Path>,
    url: &str,
    timeout: Duration,
) -> Result<Option<String>> {
    let out = git(repo, &["ls-remote", "--symref", url, "HEAD"], timeout)
        .map_err(|e| remote_error("ls-remote", url, format!("cannot run `git` ({e})")))?;
    if !out.ok {
        return Err(remote_error("ls-remote", url, out.stderr));
    }
    Ok(out.stdout.lines().find_map(|l| {
        let rest = l.strip_prefix("ref: refs/heads/")?;
        Some(rest.split('\t').next()?.to_string())
    }))
}

/// `refs/remotes/origin/<branch>`.
pub fn tracking_ref(branch: &str) -> String {
    format!("refs/remotes/{ORIGIN}/{branch}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clone_sources() {
        let cwd = Path::new("/nonexistent/cwd");
        for u in [
            "https://github.com/you/repo.git",
            "ssh://git@host/owner/repo",
            "git@github.com:owner/repo.git",
            "file:///srv/repo.git",
        ] {
            assert_eq!(clone_source(u, cwd), u);
        }
        assert_eq!(clone_source("rel/repo", cwd), "/nonexistent/cwd/rel/repo");
        assert_eq!(clone_source("/abs/repo", cwd), "/abs/repo");
    }
}
