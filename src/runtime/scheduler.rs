//! The molecule scheduler (the supervisor of `gt run`): reconcile, then
//! dispatch ready steps onto polecats until the molecule is done.
//!
//! Everything that matters is in the store. The scheduler's memory holds
//! only the sessions it watches, and it rebuilds that from the leases on
//! start: live sessions are adopted (pid + start time), dead ones are judged
//! by their status file (closed, failed, or requeued), and closed steps
//! never run again because only an `open` step can be leased.

mod sandbox;
mod starter;
mod syncer;
mod turn;

use super::prime;
use super::proc;
use super::session::{self, SessionSpec};
use super::RuntimeError;
use crate::store::agents::address;
use crate::store::events::TownEvent;
use crate::store::leases::{self, FailOutcome, Failure};
use crate::store::{issues, Issue, Status, Store};
use crate::town::{AgentConfig, DoneMode};
use rusqlite::{params, OptionalExtension};
use serde::Serialize;
use starter::{Exit, Job, Note, Starter};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::{Duration, Instant};
use syncer::Syncer;
use tokio::sync::mpsc;
use turn::{Judged, Leased, Ready, Unrecorded, Verdict};

/// Git sandboxes: each polecat gets a worktree of `base`.
#[derive(Debug, Clone)]
pub struct GitSandbox {
    pub repo: PathBuf,
    pub base: git2::Oid,
    pub worktrees: PathBuf,
    /// The cwd relative to the repository's top: steps run there in the worktree.
    pub subdir: PathBuf,
}

/// How to drive one molecule.
#[derive(Debug, Clone)]
pub struct RunConfig {
    pub jobs: usize,
    pub agent_name: String,
    pub agent: AgentConfig,
    pub max_attempts: i64,
    pub backoff_ms: u64,
    pub step_timeout: Option<Duration>,
    pub town: Option<PathBuf>,
    /// `""` outside a town.
    pub rig: String,
    pub git: Option<GitSandbox>,
    /// Where steps run without git sandboxes.
    pub workdir: PathBuf,
    pub runtime_dir: PathBuf,
    /// How often to look at the store and at adopted sessions.
    pub tick: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Completed,
    Failed,
    Stalled,
    Interrupted,
}

#[derive(Debug, Clone, Serialize)]
pub struct StepReport {
    pub id: String,
    pub title: String,
    pub status: Status,
    pub attempts: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub molecule: String,
    pub title: String,
    pub outcome: Outcome,
    pub steps: usize,
    pub closed: usize,
    pub blocked: usize,
    pub open: usize,
    pub in_progress: usize,
    pub sessions_started: usize,
    pub adopted: usize,
    pub retries: usize,
    pub resumed: bool,
    pub elapsed_secs: f64,
    pub steps_per_sec: f64,
    /// Steps that did not close: blocked, waiting, or still leased elsewhere.
    pub unfinished: Vec<StepReport>,
}

/// What the progress display is told.
pub enum RunEvent<'a> {
    Begin {
        total: usize,
        done: usize,
        resumed: bool,
    },
    Started {
        step: &'a str,
        title: &'a str,
        polecat: &'a str,
    },
    Adopted {
        step: &'a str,
        title: &'a str,
    },
    Closed {
        step: &'a str,
        title: &'a str,
        secs: f64,
    },
    Failed {
        step: &'a str,
        title: &'a str,
        error: &'a str,
        outcome: &'a FailOutcome,
    },
    Note(&'a str),
}

pub trait Reporter {
    fn event(&mut self, e: RunEvent<'_>);
}

/// A reporter that prints nothing.
pub struct Silent;
impl Reporter for Silent {
    fn event(&mut self, _e: RunEvent<'_>) {}
}

struct Running {
    gen: i64,
    /// The agent generation claimed for the session (0 when adopted).
    agent_gen: i64,
    title: String,
    polecat: String,
    started: Instant,
    pid: Option<i64>,
    pid_start: Option<i64>,
    status: session::StatusRecord,
    /// The step's log, once the session ended (see [`Scheduler::keep_log`]).
    log: PathBuf,
    /// Where its output goes while it runs: its polecat's live log.
    live_log: PathBuf,
    /// Our child (its exit is awaited; also while it is being started).
    child: bool,
    deadline: Option<Instant>,
    killed: Option<&'static str>,
}

pub struct Scheduler<'a> {
    store: &'a mut Store,
    root: String,
    cfg: RunConfig,
    running: HashMap<String, Running>,
    free: Vec<String>,
    notes_tx: mpsc::UnboundedSender<Note>,
    notes_rx: mpsc::UnboundedReceiver<Note>,
    /// Starts sessions off this thread (made when the run starts).
    starter: Option<Starter>,
    started_count: usize,
    adopted: usize,
    retries: usize,
    resumed: bool,
    interrupted: bool,
    last_version: i64,
    /// The connection's own `synchronous` level when it fsyncs every commit
    /// (`FULL`/`EXTRA`): the run commits at `NORMAL`, the [`Syncer`] makes
    /// the commits durable off this thread, and [`Scheduler::sync_point`]
    /// (idle, end) waits for the disk.
    durable_sync: Option<i64>,
    /// The store's write counter at the last sync point.
    synced_version: i64,
    /// The store's write counter at the last kick of the syncer.
    kicked_version: i64,
    /// This connection's row changes at the last look for a kick.
    kicked_changes: u64,
    syncer: Option<Syncer>,
    /// The connection's own `wal_autocheckpoint` while the syncer
    /// checkpoints instead.
    autocheckpoint: Option<i64>,
    /// The molecule's bound vars, as every step's environment.
    var_env: Vec<(String, String)>,
    /// Sessions started since the last turn: the next turn that writes
    /// records them, or the next tick's turn.
    unrecorded: Vec<Unrecorded>,
    /// A tick passed: the next turn writes even if only to record sessions.
    record_now: bool,
    /// Work may have become ready without an exit of ours (the start, a
    /// tick that may follow someone else's write or a backoff's end, a
    /// session that failed to start): the next turn looks.
    look_for_work: bool,
    /// Exits judged since the last turn (the next turn applies them).
    judged: Vec<Judged>,
    turn_ctx: Rc<turn::Ctx>,
    /// The polecats' worktrees, kept open across their steps.
    worktrees: sandbox::Worktrees,
    /// When the JSONL was last brought current during the run, and how
    /// long until the next time.
    jsonl_flushed: Instant,
    jsonl_every: Duration,
    /// An export failed during the run (said once; the end retries).
    jsonl_warned: bool,
}

/// At most this many starter threads: enough to overlap a few worktree
/// preparations with their disk waits on a small machine.
const STARTERS: usize = 4;

/// Prepared statements kept by the run's connection.
const STATEMENT_CACHE: usize = 256;

/// How often a run brings the JSONL current (the store defers it during a
/// run; see `run::run_prepared`): every second, or less often when a flush
/// is slow (a big ledger), so that flushing takes at most 1/20 of the run.
const JSONL_EVERY: Duration = Duration::from_secs(1);
const JSONL_SHARE: u32 = 20;

fn step_file(dir: &Path, kind: &str, step: &str, gen: i64, ext: &str) -> PathBuf {
    dir.join(kind).join(format!("{step}.{gen}{ext}"))
}

impl<'a> Scheduler<'a> {
    pub fn new(store: &'a mut Store, root: &str, cfg: RunConfig) -> Self {
        let (notes_tx, notes_rx) = mpsc::unbounded_channel();
        let free = (0..cfg.jobs.max(1))
            .rev()
            .map(crate::town::pool_name)
            .collect();
        let var_env = issues::get(store.conn(), root)
            .map(|r| crate::formula::shell::molecule_env(&r.metadata))
            .unwrap_or_default();
        let turn_ctx = Rc::new(turn::Ctx {
            rig: cfg.rig.clone(),
            root: root.to_string(),
            agent_name: cfg.agent_name.clone(),
            worktrees: cfg.git.as_ref().map(|g| g.worktrees.clone()),
            is_shell: cfg.agent.is_shell(),
            max_attempts: cfg.max_attempts,
            backoff_ms: cfg.backoff_ms,
        });
        Scheduler {
            store,
            root: root.to_string(),
            cfg,
            running: HashMap::new(),
            free,
            notes_tx,
            notes_rx,
            starter: None,
            started_count: 0,
            adopted: 0,
            retries: 0,
            resumed: false,
            interrupted: false,
            last_version: -1,
            durable_sync: None,
            synced_version: -1,
            kicked_version: -1,
            kicked_changes: u64::MAX,
            syncer: None,
            autocheckpoint: None,
            var_env,
            unrecorded: Vec::new(),
            record_now: false,
            look_for_work: true,
            judged: Vec::new(),
            turn_ctx,
            worktrees: sandbox::Worktrees::default(),
            jsonl_flushed: Instant::now(),
            jsonl_every: JSONL_EVERY,
            jsonl_warned: false,
        }
    }

    fn set_synchronous(&self, level: i64) -> Result<(), RuntimeError> {
        self.set_pragma("synchronous", level)
    }

    fn pragma(&self, name: &str) -> Result<i64, RuntimeError> {
        self.store
            .conn()
            .query_row(&format!("PRAGMA {name}"), [], |r| r.get(0))
            .map_err(|e| crate::store::StoreError::from(e).into())
    }

    fn set_pragma(&self, name: &str, value: i64) -> Result<(), RuntimeError> {
        self.store
            .conn()
            .query_row(&format!("PRAGMA {name} = {value}"), [], |_| Ok(()))
            .optional()
            .map(|_| ())
            .map_err(|e| crate::store::StoreError::from(e).into())
    }

    /// Commit at `NORMAL` from now on if the store fsyncs every commit: a
    /// commit still survives a supervisor crash (it is in the WAL), and
    /// [`Scheduler::sync_point`] makes it durable before the supervisor waits.
    fn relax_commits(&mut self) -> Result<(), RuntimeError> {
        let level = self.pragma("synchronous")?;
        if level >= 2 {
            self.durable_sync = Some(level);
            self.set_synchronous(1)?;
        }
        Ok(())
    }

    /// One fsync'd commit that makes every commit since the last sync point
    /// durable (the WAL is written in order): a step's close, the next
    /// step's lease and its session record cost one fsync together.
    fn sync_point(&mut self) -> Result<(), RuntimeError> {
        self.flush_jsonl_every(self.jsonl_every);
        let Some(level) = self.durable_sync else {
            return Ok(());
        };
        if self.store.data_version()? == self.synced_version {
            return Ok(());
        }
        self.set_synchronous(level)?;
        let done = self.store.write(|_| Ok::<_, RuntimeError>(()));
        self.set_synchronous(1)?;
        done?;
        self.synced_version = self.store.data_version()?;
        Ok(())
    }

    /// Bring the JSONL current if `every` has passed since the last time,
    /// so that git users see a long run's progress. A failure is a note:
    /// the changes are saved, and the end of the run (or the next command)
    /// exports them.
    fn flush_jsonl_every(&mut self, every: Duration) {
        if self.jsonl_flushed.elapsed() < every {
            return;
        }
        let t0 = Instant::now();
        let flushed = self.store.flush_export();
        self.jsonl_flushed = Instant::now();
        self.jsonl_every = JSONL_EVERY.max(t0.elapsed() * JSONL_SHARE);
        if let Err(e) = flushed {
            if !self.jsonl_warned {
                self.jsonl_warned = true;
                eprintln!("warning: exporting issues.jsonl during the run failed: {e}");
            }
        }
    }

    /// Hand the commits since the last kick to the syncer (durable soon,
    /// off this thread); without one (it could not start), a sync point.
    fn kick_sync(&mut self) -> Result<(), RuntimeError> {
        if self.durable_sync.is_none() {
            return Ok(());
        }
        // This connection's row changes cost nothing to ask, the store's
        // write counter a query: most loops wrote nothing.
        let changes = self.store.conn().total_changes();
        if changes == self.kicked_changes {
            return Ok(());
        }
        self.kicked_changes = changes;
        let v = self.store.data_version()?;
        if v == self.kicked_version || v == self.synced_version {
            return Ok(());
        }
        self.kicked_version = v;
        if self.syncer.is_none() {
            let db = self.store.dir().join(crate::store::DB_FILE);
            let wal = self
                .store
                .dir()
                .join(format!("{}-wal", crate::store::DB_FILE));
            self.syncer = Syncer::new(&db, &wal).ok();
            if self.syncer.is_some() {
                // The syncer checkpoints from now on, off this thread.
                self.autocheckpoint = Some(self.pragma("wal_autocheckpoint")?);
                self.set_pragma("wal_autocheckpoint", 0)?;
            }
        }
        match &self.syncer {
            Some(s) => {
                s.kick();
                Ok(())
            }
            None => self.sync_point(),
        }
    }

    /// Where the session of lease `(step, gen)` says how it ended: one
    /// journal per molecule (one supervisor drives a molecule at a time).
    fn status_of(&self, step: &str, gen: i64) -> session::StatusRecord {
        session::StatusRecord {
            journal: self
                .cfg
                .runtime_dir
                .join("status")
                .join(format!("{}.journal", self.root)),
            key: format!("{step}.{gen}"),
        }
    }

    /// A polecat's live log in this molecule: its sessions write there one
    /// after another, and [`Scheduler::keep_log`] moves a session's output
    /// to the step's own log when it ends. A step that prints nothing
    /// creates no file.
    fn live_log(&self, polecat: &str) -> PathBuf {
        self.cfg
            .runtime_dir
            .join("logs")
            .join(format!("{}.{polecat}.out", self.root))
    }

    /// A session ended: its output (if any, or if it failed) becomes the
    /// step's log, and its polecat's next session starts a new live log.
    fn keep_log(live_log: &Path, log: &Path, failed: bool) {
        let printed = std::fs::metadata(live_log).is_ok_and(|m| m.len() > 0);
        if printed || failed {
            let _ = std::fs::rename(live_log, log);
        }
    }

    /// Drive the molecule to the end. Returns the summary.
    pub async fn run(mut self, rep: &mut dyn Reporter) -> Result<Summary, RuntimeError> {
        let t0 = Instant::now();
        // Sessions start on starter threads even without worktrees: the
        // scheduler sleeps while a session starts, which on a busy machine
        // measured a millisecond per chain step faster than starting it on
        // this thread (2.5 vs 1.6 ms median from exit to next start).
        self.starter = Some(
            Starter::new(self.notes_tx.clone(), self.cfg.jobs.clamp(1, STARTERS))
                .map_err(|e| RuntimeError::Io(format!("cannot start the session starter: {e}")))?,
        );
        // A turn runs more distinct statements than the default cache
        // holds (16): without room, every turn would parse them again.
        self.store
            .conn()
            .set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        self.relax_commits()?;
        self.reconcile(rep)?;
        let (total, done) = self.counts()?;
        rep.event(RunEvent::Begin {
            total,
            done,
            resumed: self.resumed,
        });
        let mut tick = tokio::time::interval(self.cfg.tick);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .map_err(|e| RuntimeError::Io(format!("cannot watch SIGTERM: {e}")))?;
        let outcome = loop {
            self.turn(rep)?;
            if self.running.is_empty() {
                self.sync_point()?;
                if self.interrupted {
                    break Outcome::Interrupted;
                }
                if self.root_closed()? {
                    break Outcome::Completed;
                }
                match self.next_retry_at()? {
                    Some(wait) => {
                        tokio::time::sleep(wait.min(Duration::from_secs(1))).await;
                        self.look_for_work = true;
                        continue;
                    }
                    None => {
                        break if self.count_status(Status::Blocked)? > 0 {
                            Outcome::Failed
                        } else {
                            Outcome::Stalled
                        };
                    }
                }
            }
            self.flush_jsonl_every(self.jsonl_every);
            self.kick_sync()?;
            tokio::select! {
                Some(n) = self.notes_rx.recv() => {
                    let mut notes = vec![n];
                    while let Ok(n) = self.notes_rx.try_recv() {
                        notes.push(n);
                    }
                    self.handle_notes(notes, rep)?;
                }
                _ = tick.tick() => {
                    self.poll()?;
                }
                _ = tokio::signal::ctrl_c() => {
                    self.interrupt(rep);
                }
                _ = term.recv() => {
                    self.interrupt(rep);
                }
            }
        };
        self.sync_point()?;
        if let Some(s) = self.syncer.take() {
            s.wait().map_err(RuntimeError::Io)?;
        }
        if let Some(pages) = self.autocheckpoint.take() {
            self.set_pragma("wal_autocheckpoint", pages)?;
        }
        if let Some(level) = self.durable_sync.take() {
            self.set_synchronous(level)?;
        }
        self.summary(outcome, t0.elapsed())
    }

    fn interrupt(&mut self, rep: &mut dyn Reporter) {
        if self.interrupted {
            return;
        }
        self.interrupted = true;
        rep.event(RunEvent::Note(
            "interrupted: stopping sessions; their steps go back to open (resume with `gt run MOLECULE-ID`)",
        ));
        for r in self.running.values_mut() {
            r.killed = Some("interrupt");
            if let Some(pid) = r.pid {
                proc::kill_group(pid, proc::SIGKILL);
            }
        }
    }

    // ----- reconcile -------------------------------------------------------

    /// Look at every leased, unfinished step: adopt live sessions, judge dead ones.
    fn reconcile(&mut self, rep: &mut dyn Reporter) -> Result<(), RuntimeError> {
        let all = leases::under(self.store.conn(), &self.root)?;
        self.resumed = !all.is_empty();
        if self.resumed {
            let (pid, _) = proc::me();
            let root = self.root.clone();
            self.store.write(|tx| {
                tx.emit(
                    &root,
                    &TownEvent::Restart {
                        agent: None,
                        lease: None,
                        supervisor: Some(pid),
                    },
                )
            })?;
        }
        let mut exits = Vec::new();
        let journal = session::read_journal(&self.status_of(&self.root, 0).journal);
        // A wrapper between fork and exec still shows the dead supervisor's
        // command line; on a busy machine that can last a while. One second
        // in all, however many sessions were starting.
        let look_until = Instant::now() + Duration::from_secs(1);
        for l in all {
            let status = issues::get(self.store.conn(), &l.step_id)?.status;
            if !matches!(status, Status::InProgress | Status::Hooked) {
                continue;
            }
            let rec = self.status_of(&l.step_id, l.generation);
            let said = journal.get(&rec.key).copied();
            let (pid, pid_start, said) = match l.pid {
                Some(p) => (Some(p), l.pid_start, said),
                None => {
                    let (p, said) = unrecorded_session(&rec, said, look_until);
                    (p, p.and_then(proc::start_time), said)
                }
            };
            let code = match said {
                Some(session::SessionState::Exited(c)) => Some(c),
                _ => None,
            };
            let polecat = l
                .holder
                .as_deref()
                .and_then(|h| h.rsplit('/').next())
                .unwrap_or("unknown")
                .to_string();
            self.free.retain(|n| n != &polecat);
            let title = issues::get(self.store.conn(), &l.step_id)?.title;
            let log = step_file(
                &self.cfg.runtime_dir,
                "logs",
                &l.step_id,
                l.generation,
                ".log",
            );
            let live_log = self.live_log(&polecat);
            let live = pid.is_some_and(|p| proc::alive(p, pid_start));
            self.running.insert(
                l.step_id.clone(),
                Running {
                    gen: l.generation,
                    agent_gen: 0,
                    title: title.clone(),
                    polecat: polecat.clone(),
                    started: Instant::now(),
                    pid,
                    pid_start,
                    status: rec,
                    log: log.clone(),
                    live_log: live_log.clone(),
                    child: false,
                    deadline: self.cfg.step_timeout.map(|t| Instant::now() + t),
                    killed: None,
                },
            );
            if live {
                let (step, gen) = (l.step_id.clone(), l.generation);
                let rig = self.cfg.rig.clone();
                let journal = self.status_of(&step, gen).journal;
                let sf = journal.display().to_string();
                let lg = log.display().to_string();
                let live_lg = live_log.display().to_string();
                let recorded = l.pid.is_some();
                self.store.write(|tx| -> Result<(), RuntimeError> {
                    if !recorded {
                        tx.record_session(&step, gen, pid, pid_start, &sf, &lg)?;
                    }
                    tx.agent_session(&rig, &polecat, pid, pid_start, None, Some(&live_lg))?;
                    tx.emit(
                        &step,
                        &TownEvent::Adopt {
                            agent: Some(address(&rig, "polecat", &polecat)),
                            pid: pid.unwrap_or(0),
                        },
                    )?;
                    Ok(())
                })?;
                self.adopted += 1;
                rep.event(RunEvent::Adopted {
                    step: &l.step_id,
                    title: &title,
                });
            } else {
                // Dead: its status file says how it ended (None: it never
                // started, or was killed before it could say).
                if pid.is_none() && code.is_none() {
                    // The session was never started (the supervisor died
                    // between the lease and the spawn): give the lease back.
                    self.running.remove(&l.step_id);
                    self.free.push(polecat.clone());
                    let (step, gen) = (l.step_id.clone(), l.generation);
                    let rig = self.cfg.rig.clone();
                    self.store.write(|tx| -> Result<(), RuntimeError> {
                        tx.release_lease(&step, gen, "session never started (supervisor restart)")?;
                        tx.agent_state(&rig, &polecat, "idle", true)?;
                        Ok(())
                    })?;
                    continue;
                }
                exits.push(Exit {
                    step: l.step_id.clone(),
                    gen: l.generation,
                    code,
                });
            }
        }
        self.judge(exits)
    }

    // ----- dispatch --------------------------------------------------------

    /// One turn: one transaction (durable when the store is; see
    /// [`turn`]), then start the sessions of the steps it leased. Writes
    /// nothing when there is nothing to record, apply or start.
    fn turn(&mut self, rep: &mut dyn Reporter) -> Result<(), RuntimeError> {
        let slots = if self.interrupted {
            0
        } else {
            self.cfg
                .jobs
                .saturating_sub(self.running.len())
                .min(self.free.len())
        };
        let running: HashSet<String> = self.running.keys().cloned().collect();
        let ctx = self.turn_ctx.clone();
        // Only an exit, a tick or a failed start can make work ready that
        // the last turn did not lease.
        if self.judged.is_empty()
            && (self.unrecorded.is_empty() || !self.record_now)
            && (!self.look_for_work
                || turn::pick(self.store.conn(), &ctx, slots, &running)?.is_empty())
        {
            self.look_for_work = false;
            return Ok(());
        }
        self.record_now = false;
        self.look_for_work = false;
        let judged = std::mem::take(&mut self.judged);
        let unrecorded = std::mem::take(&mut self.unrecorded);
        let mut polecats = turn::Polecats {
            mine: self
                .free
                .iter()
                .chain(self.running.values().map(|r| &r.polecat))
                .cloned()
                .collect(),
            free: std::mem::take(&mut self.free),
        };
        let done = self.store.write(|tx| {
            turn::apply(
                tx,
                &ctx,
                &unrecorded,
                &judged,
                slots,
                &mut polecats,
                &running,
            )
        });
        self.free = polecats.free;
        let done = done?;
        for step in done.lost {
            if let Some(r) = self.running.get_mut(&step) {
                r.killed = Some("claim lost");
                if let Some(pid) = r.pid {
                    proc::kill_group(pid, proc::SIGKILL);
                }
            }
        }
        self.report_judged(&judged, done.outcomes, rep);
        for id in &done.auto_closed {
            rep.event(RunEvent::Closed {
                step: id,
                title: "",
                secs: 0.0,
            });
        }
        self.start_leased(done.leased, rep)
    }

    /// Progress events for the exits a turn applied.
    fn report_judged(
        &mut self,
        judged: &[Judged],
        outcomes: Vec<Option<FailOutcome>>,
        rep: &mut dyn Reporter,
    ) {
        for (j, o) in judged.iter().zip(outcomes) {
            match (&j.verdict, o) {
                (Verdict::Fail { error, .. }, Some(o)) => {
                    if matches!(o, FailOutcome::Retry { .. }) {
                        self.retries += 1;
                    }
                    rep.event(RunEvent::Failed {
                        step: &j.step,
                        title: &j.title,
                        error,
                        outcome: &o,
                    })
                }
                (Verdict::Release(_), _) => {}
                _ => rep.event(RunEvent::Closed {
                    step: &j.step,
                    title: &j.title,
                    secs: j.secs,
                }),
            }
        }
    }

    /// Start the sessions of the steps a turn leased. Each is recorded by
    /// the next turn; one that cannot start fails its step now.
    fn start_leased(
        &mut self,
        leased: Vec<Leased>,
        rep: &mut dyn Reporter,
    ) -> Result<(), RuntimeError> {
        for l in leased {
            let started = self.start_session(&l.ready, &l.polecat, l.gen, l.agent_gen);
            match started {
                Ok(r) => {
                    self.running.insert(l.ready.id, r);
                }
                Err(e) => {
                    let (c, err) = (&l.ready, e.to_string());
                    self.fail_start(&c.id, &c.title, &l.polecat, l.gen, &err, rep)?
                }
            }
        }
        Ok(())
    }

    fn fail_start(
        &mut self,
        step: &str,
        title: &str,
        polecat: &str,
        gen: i64,
        err: &str,
        rep: &mut dyn Reporter,
    ) -> Result<(), RuntimeError> {
        self.free.push(polecat.to_string());
        self.look_for_work = true;
        let f = Failure {
            kind: "spawn",
            error: err,
            max_attempts: self.cfg.max_attempts,
            backoff_ms: self.cfg.backoff_ms,
            permanent: false,
            log_path: None,
        };
        let rig = self.cfg.rig.clone();
        let out = self.store.write(|tx| -> Result<_, RuntimeError> {
            let o = crate::runtime::escalate::fail_step(tx, step, gen, &f)?;
            tx.agent_state(&rig, polecat, "idle", true)?;
            Ok(o)
        })?;
        rep.event(RunEvent::Failed {
            step,
            title,
            error: err,
            outcome: &out,
        });
        Ok(())
    }

    // ----- notes from the starter and the waiters ---------------------------

    fn handle_notes(
        &mut self,
        notes: Vec<Note>,
        rep: &mut dyn Reporter,
    ) -> Result<(), RuntimeError> {
        let mut exits = Vec::new();
        for n in notes {
            match n {
                Note::Spawned {
                    step,
                    gen,
                    pid,
                    pid_start,
                    child,
                    worktree,
                } => {
                    if let Some((polecat, wt)) = worktree {
                        self.worktrees.put(polecat, wt);
                    }
                    self.spawned(&step, gen, pid, pid_start, child, rep)
                }
                Note::SpawnFailed {
                    step,
                    gen,
                    error,
                    worktree,
                } => {
                    if let Some((polecat, wt)) = worktree {
                        self.worktrees.put(polecat, wt);
                    }
                    if self.running.get(&step).is_some_and(|r| r.gen == gen) {
                        if let Some(r) = self.running.remove(&step) {
                            self.fail_start(&step, &r.title, &r.polecat, gen, &error, rep)?;
                        }
                    }
                }
                Note::Exit(e) => exits.push(e),
            }
        }
        self.judge(exits)
    }

    /// A session started: watch it, and let the next turn record it. One
    /// stopped while it was being started (interrupt, timeout) is stopped now.
    fn spawned(
        &mut self,
        step: &str,
        gen: i64,
        pid: Option<i64>,
        pid_start: Option<i64>,
        child: bool,
        rep: &mut dyn Reporter,
    ) {
        let Some(r) = self.running.get_mut(step).filter(|r| r.gen == gen) else {
            if let Some(p) = pid {
                proc::kill_group(p, proc::SIGKILL);
            }
            return;
        };
        (r.pid, r.pid_start, r.child) = (pid, pid_start, child);
        if let (Some(_), Some(p)) = (r.killed, pid) {
            proc::kill_group(p, proc::SIGKILL);
        }
        self.unrecorded.push(Unrecorded {
            step: step.to_string(),
            gen,
            agent_gen: r.agent_gen,
            polecat: r.polecat.clone(),
            pid,
            pid_start,
            status_file: r.status.journal.display().to_string(),
            log: r.log.display().to_string(),
            live_log: r.live_log.display().to_string(),
        });
        self.started_count += 1;
        rep.event(RunEvent::Started {
            step,
            title: &r.title,
            polecat: &r.polecat,
        });
    }

    fn start_session(
        &mut self,
        c: &Ready,
        polecat: &str,
        gen: i64,
        agent_gen: i64,
    ) -> Result<Running, RuntimeError> {
        let status = self.status_of(&c.id, gen);
        let log = step_file(&self.cfg.runtime_dir, "logs", &c.id, gen, ".log");
        let live_log = self.live_log(polecat);
        let lease = format!("{}:{gen}", c.id);
        let agent = &self.cfg.agent;
        let mut stdin = None;
        let id = crate::runtime::spawn::SessionIdentity {
            town: self.cfg.town.as_deref(),
            beads_dir: self.store.dir(),
            rig: &self.cfg.rig,
            role: "polecat",
            name: polecat,
            agent_name: &self.cfg.agent_name,
            generation: agent_gen,
            lease: Some((&c.id, gen)),
            molecule: Some(&self.root),
        };
        // The session's own variables come last, so they win.
        let mut env = self.var_env.clone();
        env.extend(id.env(agent));
        let command = if agent.is_shell() {
            c.run.clone().unwrap_or_default()
        } else {
            let step = issues::get(self.store.conn(), &c.id)?;
            let root = issues::get(self.store.conn(), &self.root)?;
            let text = prime::step_prompt(&step, &root, agent.done, &lease);
            let pf = step_file(&self.cfg.runtime_dir, "prompts", &c.id, gen, ".md");
            let (cmd, feed) = super::session::agent_command(agent, &text, &pf, &mut env)?;
            stdin = feed;
            cmd
        };
        let spec = SessionSpec {
            name: format!("gt-{polecat}"),
            command,
            // The run's directory, or the worktree the starter prepares.
            cwd: self.cfg.workdir.clone(),
            env,
            stdin,
            log: live_log.clone(),
            status: status.clone(),
            provider: agent.provider,
        };
        // The step runs in its polecat's worktree (prepared by the starter)
        // unless it or the run needs no isolation.
        let sandbox = self
            .cfg
            .git
            .as_ref()
            .filter(|_| c.isolation.as_deref() != Some("none"))
            .map(|g| sandbox::Sandbox {
                git: g.clone(),
                polecat: polecat.to_string(),
                open: self.worktrees.take(polecat),
            });
        let job = Job {
            step: c.id.clone(),
            gen,
            spec,
            sandbox,
        };
        let queued = self.starter.as_ref().is_some_and(|s| s.start(job));
        if !queued {
            return Err(RuntimeError::Io(format!(
                "cannot start a session for {}: the session starter is gone",
                c.id
            )));
        }
        Ok(Running {
            gen,
            agent_gen,
            title: c.title.clone(),
            polecat: polecat.to_string(),
            started: Instant::now(),
            pid: None,
            pid_start: None,
            status,
            log,
            live_log,
            child: true,
            deadline: self.cfg.step_timeout.map(|t| Instant::now() + t),
            killed: None,
        })
    }

    // ----- exits -----------------------------------------------------------

    /// Judge ended sessions; the next turn applies the verdicts.
    fn judge(&mut self, exits: Vec<Exit>) -> Result<(), RuntimeError> {
        for e in exits {
            let Some(r) = self.running.get(&e.step) else {
                continue;
            };
            if r.gen != e.gen {
                continue;
            }
            let Some(r) = self.running.remove(&e.step) else {
                continue;
            };
            self.free.push(r.polecat.clone());
            // Whatever the step started in the background ends with it.
            if let Some(pid) = r.pid {
                proc::kill_leftovers(pid);
            }
            // Our child's exit status is the wrapper's; an adopted session
            // said it in the journal.
            let code = match e.code {
                Some(c) => Some(c),
                None if !r.child => session::read_status(&r.status),
                None => None,
            };
            let verdict = if self.is_closed(&e.step)? {
                Verdict::AlreadyClosed
            } else if r.killed == Some("interrupt") {
                Verdict::Release("interrupted")
            } else if r.killed == Some("closed") {
                Verdict::AlreadyClosed
            } else if r.killed == Some("timeout") {
                Verdict::Fail {
                    kind: "timeout",
                    error: format!(
                        "ran longer than the step timeout ({}s) and was killed",
                        self.cfg
                            .step_timeout
                            .map(|t| t.as_secs_f64())
                            .unwrap_or(0.0)
                    ),
                    permanent: false,
                }
            } else {
                match code {
                    Some(0) if self.cfg.agent.done == DoneMode::Exit => Verdict::Close,
                    Some(0) => Verdict::Fail {
                        kind: "failed",
                        error: format!("the agent exited 0 without closing its step (`bd close {}`)", e.step),
                        permanent: false,
                    },
                    Some(c @ (126 | 127)) => Verdict::Fail {
                        kind: "failed",
                        error: format!("command not found or not executable (exit {c}); fix the step's `run` or the agent command"),
                        permanent: true,
                    },
                    Some(c) => Verdict::Fail {
                        kind: "failed",
                        error: format!("exit status {c}"),
                        permanent: false,
                    },
                    None => Verdict::Fail {
                        kind: "crash",
                        error: "the session died without an exit status (killed or crashed)".into(),
                        permanent: false,
                    },
                }
            };
            Self::keep_log(&r.live_log, &r.log, matches!(verdict, Verdict::Fail { .. }));
            self.judged.push(Judged {
                step: e.step,
                gen: e.gen,
                title: r.title,
                secs: r.started.elapsed().as_secs_f64(),
                polecat: r.polecat,
                verdict,
                log: r.log.display().to_string(),
            });
        }
        Ok(())
    }

    // ----- polling ---------------------------------------------------------

    fn poll(&mut self) -> Result<(), RuntimeError> {
        self.record_now = true;
        self.look_for_work = true;
        let now = Instant::now();
        let mut dead = Vec::new();
        for (step, r) in self.running.iter_mut() {
            if let (Some(d), None) = (r.deadline, r.killed) {
                if now >= d {
                    r.killed = Some("timeout");
                    if let Some(pid) = r.pid {
                        proc::kill_group(pid, proc::SIGKILL);
                    }
                }
            }
            if !r.child {
                let gone = match r.pid {
                    Some(p) => !proc::alive(p, r.pid_start),
                    None => true,
                };
                if gone {
                    dead.push(Exit {
                        step: step.clone(),
                        gen: r.gen,
                        code: None,
                    });
                }
            }
        }
        // Someone else changed the store: a person closed a running step, or
        // its lease moved on. Stop those sessions. SQLite's `data_version`
        // moves only on other connections' commits, so the supervisor's own
        // writes do not make it re-read every running step.
        let v: i64 = self
            .store
            .conn()
            .query_row("PRAGMA data_version", [], |r| r.get(0))
            .map_err(crate::store::StoreError::from)?;
        if v != self.last_version {
            self.last_version = v;
            let steps: Vec<(String, i64)> = self
                .running
                .iter()
                .map(|(s, r)| (s.clone(), r.gen))
                .collect();
            for (step, gen) in steps {
                let status = issues::get(self.store.conn(), &step)?.status;
                let cur = leases::get(self.store.conn(), &step)?.map(|l| l.generation);
                if status == Status::Closed || cur != Some(gen) {
                    if let Some(r) = self.running.get_mut(&step) {
                        if r.killed.is_none() {
                            r.killed = Some("closed");
                            if let Some(pid) = r.pid {
                                proc::kill_group(pid, proc::SIGKILL);
                            }
                        }
                    }
                }
            }
        }
        self.judge(dead)
    }

    // ----- queries ---------------------------------------------------------

    fn root_closed(&self) -> Result<bool, RuntimeError> {
        self.is_closed(&self.root)
    }

    fn is_closed(&self, id: &str) -> Result<bool, RuntimeError> {
        let status: String = self
            .store
            .conn()
            .prepare_cached("SELECT status FROM issues WHERE id = ?1")
            .and_then(|mut st| st.query_row([id], |r| r.get(0)))
            .map_err(crate::store::StoreError::from)?;
        Ok(status == Status::Closed.as_str())
    }

    fn count_status(&self, s: Status) -> Result<usize, RuntimeError> {
        let (lo, hi) = leases::step_range(&self.root);
        let n: i64 = self
            .store
            .conn()
            .query_row(
                "SELECT count(*) FROM issues WHERE id >= ?1 AND id < ?2 AND status = ?3",
                params![lo, hi, s.as_str()],
                |r| r.get(0),
            )
            .map_err(crate::store::StoreError::from)?;
        Ok(n as usize)
    }

    fn counts(&self) -> Result<(usize, usize), RuntimeError> {
        let (lo, hi) = leases::step_range(&self.root);
        let (t, d): (i64, i64) = self
            .store
            .conn()
            .query_row(
                "SELECT count(*), coalesce(sum(status = 'closed'), 0) FROM issues WHERE id >= ?1 AND id < ?2",
                params![lo, hi],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .map_err(crate::store::StoreError::from)?;
        Ok((t as usize, d as usize))
    }

    /// How long until the earliest open step in backoff may run again.
    fn next_retry_at(&self) -> Result<Option<Duration>, RuntimeError> {
        let (lo, hi) = leases::step_range(&self.root);
        let nb: Option<String> = self
            .store
            .conn()
            .query_row(
                "SELECT min(l.not_before) FROM issues i INDEXED BY issues_open_unblocked JOIN leases l ON l.step_id = i.id
                 WHERE i.id >= ?1 AND i.id < ?2 AND i.status = 'open' AND i.blocked = 0 AND l.not_before IS NOT NULL",
                params![lo, hi],
                |r| r.get(0),
            )
            .map_err(crate::store::StoreError::from)?;
        let Some(nb) = nb else { return Ok(None) };
        let now = leases::parse_micros(&crate::store::ids::now()).unwrap_or(0);
        let at = leases::parse_micros(&nb).unwrap_or(now);
        Ok(Some(Duration::from_micros((at - now).max(1_000) as u64)))
    }

    fn summary(&self, outcome: Outcome, elapsed: Duration) -> Result<Summary, RuntimeError> {
        let conn = self.store.conn();
        let root = issues::get(conn, &self.root)?;
        let steps = issues::subtree(conn, &self.root)?;
        let leases: BTreeMap<String, leases::Lease> = leases::under(conn, &self.root)?
            .into_iter()
            .map(|l| (l.step_id.clone(), l))
            .collect();
        let steps: Vec<&Issue> = steps.iter().filter(|i| i.id != self.root).collect();
        let n = |s: Status| steps.iter().filter(|i| i.status == s).count();
        let closed = n(Status::Closed);
        let unfinished = steps
            .iter()
            .filter(|i| i.status != Status::Closed)
            .map(|i| {
                let l = leases.get(&i.id);
                StepReport {
                    id: i.id.clone(),
                    title: i.title.clone(),
                    status: i.status,
                    attempts: l.map(|l| l.attempts).unwrap_or(0),
                    last_error: l.and_then(|l| l.last_error.clone()),
                    log: l.and_then(|l| l.log_path.clone()),
                }
            })
            .collect();
        let secs = elapsed.as_secs_f64();
        Ok(Summary {
            molecule: self.root.clone(),
            title: root.title,
            outcome,
            steps: steps.len(),
            closed,
            blocked: n(Status::Blocked),
            open: n(Status::Open),
            in_progress: n(Status::InProgress) + n(Status::Hooked),
            sessions_started: self.started_count,
            adopted: self.adopted,
            retries: self.retries,
            resumed: self.resumed,
            elapsed_secs: secs,
            steps_per_sec: if secs > 0.0 {
                self.started_count as f64 / secs
            } else {
                0.0
            },
            unfinished,
        })
    }
}

/// Where a leased session stands when the store has no pid for it (its
/// supervisor died before recording it): the pid its journal names, if that
/// process is its wrapper or is gone (the journal then says how it ended),
/// and the journal's last word. A session that was starting is looked for
/// by its command line; one that moved on since `said` was read is read
/// again. Taking a started session for one that never started would run
/// its step twice.
fn unrecorded_session(
    rec: &session::StatusRecord,
    said: Option<session::SessionState>,
    look_until: Instant,
) -> (Option<i64>, Option<session::SessionState>) {
    use session::SessionState::{Exited, Running, Starting};
    let needle = rec.cmdline_needle();
    let mut said = said;
    loop {
        match said {
            Some(Running(p))
                if proc::cmdline_contains(p, &needle) || proc::start_time(p).is_none() =>
            {
                return (Some(p), said)
            }
            Some(Starting) => {
                if let Some(p) = proc::find_by_cmdline(&needle) {
                    return (Some(p), Some(Running(p)));
                }
                // It may have said its pid, or ended, since `said` was read.
                let now = session::session_state(rec);
                if now != said {
                    said = now;
                    continue;
                }
                if Instant::now() >= look_until {
                    return (None, said);
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            Some(Running(_)) | Some(Exited(_)) | None => return (None, said),
        }
    }
}
