//! Sessions start off the scheduler's thread: a few starter threads
//! prepare each session's worktree (see `sandbox`) and do its fork/exec
//! while the scheduler goes on committing turns, and report back on the
//! scheduler's channel. A starter says `Spawned` before it hands the child
//! to its waiter, so a session's `Exit` never overtakes its `Spawned`.

use super::super::proc;
use super::super::session::{self, SessionSpec, Started};
use super::sandbox::{self, MainRepo, Sandbox};
use crate::town::worktree::OpenWorktree;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc as std_mpsc, Arc};
use tokio::sync::mpsc;

/// A session ended: its exit code, when it was our child.
pub(super) struct Exit {
    pub step: String,
    pub gen: i64,
    pub code: Option<i32>,
}

/// What the starters and the session waiters tell the scheduler.
pub(super) enum Note {
    /// The session of lease `(step, gen)` runs.
    Spawned {
        step: String,
        gen: i64,
        pid: Option<i64>,
        pid_start: Option<i64>,
        /// Our child (its exit is awaited), else watched through its pid.
        child: bool,
        /// The polecat's open worktree, back to the scheduler.
        worktree: Option<(String, OpenWorktree)>,
    },
    /// It could not start (its worktree, or the fork/exec, failed).
    SpawnFailed {
        step: String,
        gen: i64,
        error: String,
        worktree: Option<(String, OpenWorktree)>,
    },
    Exit(Exit),
}

/// One session to start: in `spec.cwd`, or in the sandbox's worktree.
pub(super) struct Job {
    pub step: String,
    pub gen: i64,
    pub spec: SessionSpec,
    pub sandbox: Option<Sandbox>,
}

/// The starters: one queue per thread, and how many jobs each holds. A job
/// goes to the thread with the fewest (threads waiting on one shared queue
/// woke each other on every job). Dropping it ends the threads.
pub(super) struct Starter {
    queues: Vec<(std_mpsc::Sender<Job>, Arc<AtomicUsize>)>,
}

impl Starter {
    /// Start `threads` starters reporting to `notes`. Must be called inside
    /// the tokio runtime (the children are tokio children).
    pub fn new(notes: mpsc::UnboundedSender<Note>, threads: usize) -> std::io::Result<Starter> {
        let mut queues = Vec::new();
        for i in 0..threads.max(1) {
            let (jobs, queue) = std_mpsc::channel::<Job>();
            let held = Arc::new(AtomicUsize::new(0));
            let (rt, notes, left) = (
                tokio::runtime::Handle::current(),
                notes.clone(),
                held.clone(),
            );
            std::thread::Builder::new()
                .name(format!("gt-starter-{i}"))
                .spawn(move || {
                    let _rt = rt.enter();
                    let mut main: MainRepo = None;
                    while let Ok(job) = queue.recv() {
                        start_one(job, &mut main, &notes);
                        left.fetch_sub(1, Ordering::Relaxed);
                    }
                })?;
            queues.push((jobs, held));
        }
        Ok(Starter { queues })
    }

    /// Queue a start. False when the starters are gone (the caller fails
    /// the step).
    pub fn start(&self, job: Job) -> bool {
        let Some((jobs, held)) = self
            .queues
            .iter()
            .min_by_key(|(_, held)| held.load(Ordering::Relaxed))
        else {
            return false;
        };
        held.fetch_add(1, Ordering::Relaxed);
        jobs.send(job).is_ok()
    }
}

fn start_one(job: Job, main: &mut MainRepo, notes: &mpsc::UnboundedSender<Note>) {
    let Job {
        step,
        gen,
        mut spec,
        sandbox,
    } = job;
    let mut worktree = None;
    if let Some(sb) = sandbox {
        let polecat = sb.polecat.clone();
        match sandbox::prepare(sb, main, &step) {
            Ok((cwd, wt)) => {
                spec.cwd = cwd;
                worktree = Some((polecat, wt));
            }
            Err(e) => {
                let error = format!("cannot prepare the worktree of {polecat} for {step}: {e}");
                let _ = notes.send(Note::SpawnFailed {
                    step,
                    gen,
                    error,
                    worktree: None,
                });
                return;
            }
        }
    }
    let started = match session::start(&spec) {
        Ok(s) => s,
        Err(e) => {
            let error = format!("cannot start a session for {step}: {e}");
            let _ = notes.send(Note::SpawnFailed {
                step,
                gen,
                error,
                worktree,
            });
            return;
        }
    };
    let pid = started.pid();
    let _ = notes.send(Note::Spawned {
        step: step.clone(),
        gen,
        pid,
        pid_start: pid.and_then(proc::start_time),
        child: matches!(started, Started::Child(_)),
        worktree,
    });
    if let Started::Child(mut ch) = started {
        let notes = notes.clone();
        tokio::spawn(async move {
            let code = ch.wait().await.ok().and_then(|s| s.code());
            let _ = notes.send(Note::Exit(Exit { step, gen, code }));
        });
    }
}
