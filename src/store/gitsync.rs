//! `bd sync`: the whole round trip with the remote, through the `git` CLI
//! (the user's credentials, protocols and hooks apply).
//!
//! Under `.beads/sync.lock`: export, commit the ledger, fetch, merge the
//! upstream branch (the `beads` merge driver merges `issues.jsonl` by id),
//! import the merged file, export it back in canonical form (committed when
//! that changed the bytes), push. A push that loses a race starts over from
//! the fetch (a few times). Commits carry the user's git identity.

use super::error::{Result, StoreError};
use super::sync::{self, Lock};
use super::Store;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::process::Command;

const SYNC_LOCK: &str = "sync.lock";
/// The merge driver's name in `.gitattributes` and git config.
pub const DRIVER: &str = "beads";
const PUSH_TRIES: usize = 5;

#[derive(Debug, Clone, Default, Serialize)]
pub struct RoundTrip {
    /// The ledger commit made first, if anything changed.
    pub commit: Option<String>,
    /// Commits made locally (ledger, merge, merge normalisation).
    pub commits: Vec<String>,
    pub branch: Option<String>,
    /// The remote used, or `None` when the repository has none.
    pub remote: Option<String>,
    /// True when upstream changes were merged in.
    pub merged: bool,
    pub pushed: bool,
    /// Per-issue conflicts the merge driver resolved (newest side kept).
    pub conflicts: Vec<String>,
}

/// Options of [`round_trip`].
#[derive(Debug, Clone, Default)]
pub struct SyncOptions {
    pub message: Option<String>,
    /// Commit only: no fetch, merge or push.
    pub local_only: bool,
}

fn git_err(what: &str, out: &std::process::Output) -> StoreError {
    StoreError::Invalid(format!(
        "git {what} failed: {}",
        String::from_utf8_lossy(&out.stderr).trim()
    ))
}

fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// The driver command git runs: this `bd` by absolute path (git's shell
/// may not have it on PATH), falling back to `bd` on PATH if it moved.
fn driver_command() -> String {
    match std::env::current_exe() {
        Ok(exe) => format!(
            "{q} merge-driver %O %A %B || bd merge-driver %O %A %B",
            q = sh_quote(&exe.display().to_string())
        ),
        Err(_) => "bd merge-driver %O %A %B".into(),
    }
}

/// The `git` command for `workdir`, with the merge driver configured for
/// this invocation (works in clones that never ran `bd init`).
fn git(workdir: &Path) -> Command {
    let mut c = Command::new("git");
    c.current_dir(workdir)
        .arg("-c")
        .arg(format!("merge.{DRIVER}.name=beads JSONL merge by issue id"))
        .arg("-c")
        .arg(format!("merge.{DRIVER}.driver={}", driver_command()))
        .env("GIT_TERMINAL_PROMPT", "0");
    c
}

fn run(workdir: &Path, args: &[&str]) -> Result<std::process::Output> {
    git(workdir)
        .args(args)
        .output()
        .map_err(|e| StoreError::io(PathBuf::from("git"), e))
}

fn run_ok(workdir: &Path, args: &[&str]) -> Result<String> {
    let out = run(workdir, args)?;
    if !out.status.success() {
        return Err(git_err(&args.join(" "), &out));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// The line `.gitattributes` needs for `rel_jsonl` (path from the work tree).
fn attribute_line(rel_jsonl: &str) -> String {
    format!("{rel_jsonl} merge={DRIVER}")
}

/// Register the merge driver: `.gitattributes` (committed, so clones get it)
/// and the repository config. Called by `bd init` inside a git work tree.
pub fn install_merge_driver(beads_dir: &Path) -> Result<Option<PathBuf>> {
    let Ok(repo) = git2::Repository::discover(beads_dir) else {
        return Ok(None);
    };
    let Some(workdir) = repo.workdir().map(Path::to_path_buf) else {
        return Ok(None);
    };
    let rel = rel_jsonl(&workdir, beads_dir)?;
    let attrs = workdir.join(".gitattributes");
    let text = std::fs::read_to_string(&attrs).unwrap_or_default();
    let line = attribute_line(&rel);
    if !text.lines().any(|l| l.trim() == line) {
        let sep = if text.is_empty() || text.ends_with('\n') {
            ""
        } else {
            "\n"
        };
        std::fs::write(&attrs, format!("{text}{sep}{line}\n"))
            .map_err(|e| StoreError::io(&attrs, e))?;
    }
    let mut cfg = repo.config()?;
    cfg.set_str(
        &format!("merge.{DRIVER}.name"),
        "beads JSONL merge by issue id",
    )?;
    cfg.set_str(&format!("merge.{DRIVER}.driver"), &driver_command())?;
    Ok(Some(attrs))
}

fn rel_jsonl(workdir: &Path, beads_dir: &Path) -> Result<String> {
    let wd = workdir
        .canonicalize()
        .map_err(|e| StoreError::io(workdir, e))?;
    let bd = beads_dir
        .canonicalize()
        .map_err(|e| StoreError::io(beads_dir, e))?;
    let rel = bd.strip_prefix(&wd).map_err(|_| {
        StoreError::Invalid(format!(
            "{} is outside the work tree {}",
            bd.display(),
            wd.display()
        ))
    })?;
    Ok(rel
        .join(super::JSONL_FILE)
        .to_string_lossy()
        .replace('\\', "/"))
}

/// Make sure git uses the driver for the JSONL in this clone even when the
/// committed `.gitattributes` lacks the line (`.git/info/attributes`).
fn ensure_local_attribute(repo: &git2::Repository, workdir: &Path, beads_dir: &Path) -> Result<()> {
    let rel = rel_jsonl(workdir, beads_dir)?;
    let line = attribute_line(&rel);
    let committed = std::fs::read_to_string(workdir.join(".gitattributes")).unwrap_or_default();
    if committed.lines().any(|l| l.trim() == line) {
        return Ok(());
    }
    let info = repo.path().join("info");
    std::fs::create_dir_all(&info).map_err(|e| StoreError::io(&info, e))?;
    let path = info.join("attributes");
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    if !text.lines().any(|l| l.trim() == line) {
        std::fs::write(&path, format!("{text}{line}\n")).map_err(|e| StoreError::io(&path, e))?;
    }
    Ok(())
}

/// The remote and branch to sync with: the branch's upstream (configured:
/// true), else `origin` and the same branch name.
fn upstream(repo: &git2::Repository, branch: &str) -> Option<(String, String, bool)> {
    let cfg = repo.config().ok()?;
    let remote = cfg
        .get_string(&format!("branch.{branch}.remote"))
        .ok()
        .filter(|r| r != ".");
    let merge = cfg
        .get_string(&format!("branch.{branch}.merge"))
        .ok()
        .and_then(|m| m.strip_prefix("refs/heads/").map(str::to_string));
    match remote {
        Some(r) => Some((r, merge.unwrap_or_else(|| branch.to_string()), true)),
        None => repo
            .find_remote("origin")
            .ok()
            .map(|_| ("origin".to_string(), branch.to_string(), false)),
    }
}

/// `bd sync`: see the module doc.
pub fn round_trip(store: &mut Store, opts: &SyncOptions) -> Result<RoundTrip> {
    let dir = store.dir().to_path_buf();
    let _lock = Lock::take(&dir, SYNC_LOCK)?;
    let _inflight = Inflight::begin(&dir)?;
    let mut rt = RoundTrip::default();
    let first = sync::commit(store, opts.message.as_deref())?;
    rt.commit = first.commit.clone();
    rt.commits.extend(first.commit);
    rt.branch = first.branch.clone();
    if opts.local_only {
        return Ok(rt);
    }
    let repo = git2::Repository::discover(&dir)?;
    let workdir = repo
        .workdir()
        .ok_or_else(|| StoreError::Invalid("the git repository is bare".into()))?
        .to_path_buf();
    let Some(branch) = rt.branch.clone().filter(|b| b != "HEAD") else {
        return Err(StoreError::Invalid(
            "HEAD is detached; check out a branch before `bd sync`".into(),
        ));
    };
    let Some((remote, rbranch, configured)) = upstream(&repo, &branch) else {
        return Ok(rt);
    };
    ensure_local_attribute(&repo, &workdir, &dir)?;
    rt.remote = Some(remote.clone());
    for attempt in 0..PUSH_TRIES {
        let fetch = run(&workdir, &["fetch", "--quiet", &remote, &rbranch])?;
        let remote_has_branch = fetch.status.success();
        if !remote_has_branch {
            let msg = String::from_utf8_lossy(&fetch.stderr);
            if !msg.contains("couldn't find remote ref") {
                return Err(git_err("fetch", &fetch));
            }
            if !configured {
                // A local branch the remote never saw: publishing it is the
                // user's call (`git push -u`), not a side effect of sync.
                return Ok(rt);
            }
        } else {
            merge_fetched(store, &workdir, &mut rt, opts)?;
        }
        let push = run(
            &workdir,
            &[
                "push",
                "--quiet",
                &remote,
                &format!("HEAD:refs/heads/{rbranch}"),
            ],
        )?;
        if push.status.success() {
            rt.pushed = true;
            return Ok(rt);
        }
        let msg = String::from_utf8_lossy(&push.stderr);
        let raced = msg.contains("non-fast-forward")
            || msg.contains("fetch first")
            || msg.contains("rejected");
        if !raced || attempt + 1 == PUSH_TRIES {
            return Err(git_err("push", &push));
        }
    }
    Ok(rt)
}

/// `.beads/sync.inflight` exists while a sync runs. Finding it on entry
/// (under the sync lock, so no other sync runs) means the last sync was
/// killed; the git lock files it left behind (newer than the marker) would
/// block every later commit, so they are removed, and the user is told.
struct Inflight(PathBuf);

impl Inflight {
    fn begin(dir: &Path) -> Result<Inflight> {
        let marker = dir.join("sync.inflight");
        if let Ok(started) = std::fs::metadata(&marker).and_then(|m| m.modified()) {
            if let Ok(repo) = git2::Repository::discover(dir) {
                for lock in stale_git_locks(repo.path(), started) {
                    if std::fs::remove_file(&lock).is_ok() {
                        eprintln!(
                            "note: removed {} left by a sync that was killed",
                            lock.display()
                        );
                    }
                }
            }
        }
        std::fs::write(&marker, std::process::id().to_string())
            .map_err(|e| StoreError::io(&marker, e))?;
        Ok(Inflight(marker))
    }
}

impl Drop for Inflight {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Git's lock files (index, HEAD, packed-refs, branch refs) created at or
/// after `since`.
fn stale_git_locks(git_dir: &Path, since: std::time::SystemTime) -> Vec<PathBuf> {
    let mut candidates = vec![
        git_dir.join("index.lock"),
        git_dir.join("HEAD.lock"),
        git_dir.join("packed-refs.lock"),
    ];
    let mut dirs = vec![git_dir.join("refs").join("heads")];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.extension().is_some_and(|x| x == "lock") {
                candidates.push(p);
            }
        }
    }
    candidates
        .into_iter()
        .filter(|p| {
            std::fs::metadata(p)
                .and_then(|m| m.modified())
                .is_ok_and(|t| t >= since)
        })
        .collect()
}

/// Merge `FETCH_HEAD` into HEAD (if it is not already contained), then
/// bring the database and the canonical JSONL in step with the result.
fn merge_fetched(
    store: &mut Store,
    workdir: &Path,
    rt: &mut RoundTrip,
    opts: &SyncOptions,
) -> Result<()> {
    let contained = run(
        workdir,
        &["merge-base", "--is-ancestor", "FETCH_HEAD", "HEAD"],
    )?;
    if contained.status.success() {
        return Ok(());
    }
    let out = run(workdir, &["merge", "--no-edit", "--quiet", "FETCH_HEAD"])?;
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    rt.conflicts.extend(
        stderr
            .lines()
            .filter_map(|l| l.strip_prefix("beads merge: "))
            .map(str::to_string),
    );
    if !out.status.success() {
        let _ = run(workdir, &["merge", "--abort"]);
        return Err(StoreError::Invalid(format!(
            "merging the upstream branch failed (nothing was pushed; your commits are intact): {}{}",
            String::from_utf8_lossy(&out.stdout).trim(),
            stderr.trim()
        )));
    }
    rt.merged = true;
    rt.commits.push(run_ok(workdir, &["rev-parse", "HEAD"])?);
    // The merged file is newer than the database: import, then write it
    // back in canonical form, and commit if that changed it.
    sync::export(store)?;
    let again = sync::commit(
        store,
        Some(opts.message.as_deref().unwrap_or("bd sync: merged ledger")),
    )?;
    rt.commits.extend(again.commit);
    Ok(())
}

/// `bd merge-driver BASE OURS THEIRS`: merge into OURS; conflicts (resolved
/// by `updated_at`) are reported on stderr, one line per issue.
pub fn merge_driver(base: &Path, ours: &Path, theirs: &Path) -> Result<Vec<String>> {
    let read = |p: &Path| std::fs::read_to_string(p).map_err(|e| StoreError::io(p, e));
    let merged = super::merge::merge(&read(base)?, &read(ours)?, &read(theirs)?)?;
    std::fs::write(ours, merged.text.as_bytes()).map_err(|e| StoreError::io(ours, e))?;
    Ok(merged
        .conflicts
        .iter()
        .map(|c| {
            format!(
                "{}: both sides changed {}; kept {} (newer updated_at)",
                c.id,
                c.fields.join(", "),
                c.kept
            )
        })
        .collect())
}
