//! Whether anything in a worktree changed since it was last cleaned, without
//! looking at its files: an inotify watch on each of its directories (ignored
//! ones excepted, as `git status` ignores them too) and on its git dir (index,
//! `HEAD`). A step's writes queue their events before the step exits (the
//! kernel queues them inside the write, the rename, the close), so an empty
//! queue after the step means a clean tree, and reusing it costs no `stat`.
//!
//! Every event counts, whatever its kind (an overflow, a removed watch
//! included): the caller then runs `git status` and re-arms. Reads do not
//! count. A tree with more than [`MAX_DIRS`] directories, or a kernel that
//! refuses a watch, gets no monitor: the caller checks the tree with
//! `git status` every time.

use git2::Repository;
use rustix::fs::inotify::{self, CreateFlags, WatchFlags};
use rustix::io::Errno;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

/// More directories than this in one worktree: no monitor (inotify watches
/// are a per-user budget the rest of the machine needs too).
pub const MAX_DIRS: usize = 2000;

/// Every change to a directory's entries or to a file in it. Not `OPEN` or
/// `ACCESS`: a step that only reads leaves the tree clean. `CLOSE_WRITE`
/// catches a file written through a shared mapping (no `MODIFY` then). A
/// late `CLOSE_WRITE` of our own checkout's files (a descriptor a session
/// inherited until its exec) costs one needless `git status`, nothing worse.
fn changes() -> WatchFlags {
    WatchFlags::MODIFY
        | WatchFlags::ATTRIB
        | WatchFlags::CLOSE_WRITE
        | WatchFlags::CREATE
        | WatchFlags::DELETE
        | WatchFlags::DELETE_SELF
        | WatchFlags::MOVE_SELF
        | WatchFlags::MOVED_FROM
        | WatchFlags::MOVED_TO
        | WatchFlags::ONLYDIR
        | WatchFlags::DONT_FOLLOW
}

/// The armed monitor of one worktree.
pub struct TreeWatch {
    fd: OwnedFd,
}

impl TreeWatch {
    /// Watch the work tree of `repo` (a clean worktree) and its git dir.
    /// `None` when the tree is too large or the kernel refuses.
    pub fn arm(repo: &Repository) -> Option<TreeWatch> {
        let root = repo.workdir()?.to_path_buf();
        let fd = inotify::init(CreateFlags::CLOEXEC | CreateFlags::NONBLOCK).ok()?;
        let dirs = tree_dirs(repo, &root)?;
        for dir in &dirs {
            inotify::add_watch(&fd, dir, changes()).ok()?;
        }
        // Not `CLOSE_WRITE` in the git dir: the last close of our own
        // `HEAD.lock` can come after we drained, when a session started
        // meanwhile on another thread inherited the descriptor until its
        // exec. Git writes there by rename (and in place a write is a
        // `MODIFY`), so nothing is missed.
        inotify::add_watch(&fd, repo.path(), changes() - WatchFlags::CLOSE_WRITE).ok()?;
        Some(TreeWatch { fd })
    }

    /// True when no event arrived since the last call (or since `arm`).
    /// Events are consumed; after `false` the caller cleans and re-arms.
    pub fn quiet(&mut self) -> bool {
        let mut buf = [0u8; 4096];
        match rustix::io::read(&self.fd, &mut buf) {
            Err(Errno::AGAIN) => true,
            Ok(_) | Err(_) => false,
        }
    }

    /// Forget the events queued so far (the caller's own writes, such as
    /// moving `HEAD`).
    pub fn drain(&mut self) {
        let mut buf = [0u8; 4096];
        while matches!(rustix::io::read(&self.fd, &mut buf), Ok(n) if n > 0) {}
    }
}

/// The directories of the work tree at `root` that `git status` looks into:
/// all but ignored ones and `.git` entries (nested repositories are one
/// untracked entry to status). Symlinks are not followed. `None` past
/// [`MAX_DIRS`] or when a directory cannot be read.
fn tree_dirs(repo: &Repository, root: &Path) -> Option<Vec<PathBuf>> {
    let mut dirs = vec![root.to_path_buf()];
    let mut next = 0;
    while next < dirs.len() {
        let dir = dirs[next].clone();
        next += 1;
        for entry in std::fs::read_dir(&dir).ok()? {
            let entry = entry.ok()?;
            if entry.file_name() == ".git" || !entry.file_type().ok()?.is_dir() {
                continue;
            }
            let path = entry.path();
            let rel = path.strip_prefix(root).ok()?;
            if repo.is_path_ignored(rel).unwrap_or(false) {
                continue;
            }
            dirs.push(path);
            if dirs.len() > MAX_DIRS {
                return None;
            }
        }
    }
    Some(dirs)
}
