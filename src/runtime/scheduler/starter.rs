//! Sessions start off the scheduler's thread: one starter thread does the
//! fork/exec (and the file preparation around it) while the scheduler goes
//! on committing turns, and reports back on the scheduler's channel. The
//! starter says `Spawned` before it hands the child to its waiter, so a
//! session's `Exit` never overtakes its `Spawned`.

use super::super::proc;
use super::super::session::{self, SessionSpec, Started};
use std::sync::mpsc as std_mpsc;
use tokio::sync::mpsc;

/// A session ended: its exit code, when it was our child.
pub(super) struct Exit {
    pub step: String,
    pub gen: i64,
    pub code: Option<i32>,
}

/// What the starter and the session waiters tell the scheduler.
pub(super) enum Note {
    /// The session of lease `(step, gen)` runs.
    Spawned {
        step: String,
        gen: i64,
        pid: Option<i64>,
        pid_start: Option<i64>,
        /// Our child (its exit is awaited), else watched through its pid.
        child: bool,
    },
    /// It could not start.
    SpawnFailed {
        step: String,
        gen: i64,
        error: String,
    },
    Exit(Exit),
}

struct Job {
    step: String,
    gen: i64,
    spec: SessionSpec,
}

/// The starter thread's queue. Dropping it ends the thread.
pub(super) struct Starter {
    jobs: std_mpsc::Sender<Job>,
}

impl Starter {
    /// Start the thread; it reports to `notes`. Must be called inside the
    /// tokio runtime (the children are tokio children).
    pub fn new(notes: mpsc::UnboundedSender<Note>) -> std::io::Result<Starter> {
        let (jobs, queue) = std_mpsc::channel::<Job>();
        let rt = tokio::runtime::Handle::current();
        std::thread::Builder::new()
            .name("gt-starter".into())
            .spawn(move || {
                let _rt = rt.enter();
                for job in queue {
                    start_one(job, &notes);
                }
            })?;
        Ok(Starter { jobs })
    }

    /// Queue the start of the session of lease `(step, gen)`. False when
    /// the starter thread is gone (the caller fails the step).
    pub fn start(&self, step: &str, gen: i64, spec: SessionSpec) -> bool {
        let job = Job {
            step: step.to_string(),
            gen,
            spec,
        };
        self.jobs.send(job).is_ok()
    }
}

fn start_one(job: Job, notes: &mpsc::UnboundedSender<Note>) {
    let Job { step, gen, spec } = job;
    let started = match session::start(&spec) {
        Ok(s) => s,
        Err(e) => {
            let error = format!("cannot start a session for {step}: {e}");
            let _ = notes.send(Note::SpawnFailed { step, gen, error });
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
    });
    if let Started::Child(mut ch) = started {
        let notes = notes.clone();
        tokio::spawn(async move {
            let code = ch.wait().await.ok().and_then(|s| s.code());
            let _ = notes.send(Note::Exit(Exit { step, gen, code }));
        });
    }
}
