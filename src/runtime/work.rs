//! Town work: `gt sling`, the polecat session, `gt hook`, `gt prime`,
//! `gt done`, `gt heartbeat`.

use super::prime;
use super::session::SessionSpec;
use super::spawn::{self, SessionIdentity};
use super::RuntimeError;
use crate::molecule::{self, PourOptions};
use crate::store::agents::{self, address, AgentRow, AgentUpdate};
use crate::store::events::TownEvent;
use crate::store::leases::{self, LeaseRequest};
use crate::store::{issues, Issue, IssueType, Status, Store, StoreError, Update};
use crate::town::{rigs, worktree, AgentConfig, Town};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub struct SlingRequest {
    pub target: String,
    pub rig: String,
    pub agent: Option<String>,
    pub vars: BTreeMap<String, String>,
    pub cwd: PathBuf,
    /// Hook only; do not start the session.
    pub no_start: bool,
    /// This polecat of the rig (created when new; refused when busy).
    pub polecat: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SlingResult {
    pub bead: String,
    pub rig: String,
    pub polecat: String,
    pub address: String,
    pub generation: i64,
    pub agent: String,
    pub worktree: String,
    pub branch: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub convoy: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pid: Option<i64>,
    pub poured: bool,
}

/// Hook `bead` on the agent `u` describes, in one transaction: lease it
/// (open to hooked) to the agent's address, write the agent row, then
/// `before` (if any) and the `hook` event. `None` when the bead is not
/// open. Returns (lease generation, agent generation).
pub(crate) fn hook_tx(
    tx: &crate::store::Tx<'_>,
    bead: &str,
    u: &AgentUpdate<'_>,
    before: Option<&TownEvent>,
) -> Result<Option<(i64, i64)>, RuntimeError> {
    let addr = address(u.rig, u.role, u.name);
    let Some(lease) = tx.lease_as(
        bead,
        &LeaseRequest {
            holder: addr.clone(),
            agent: u.agent.unwrap_or_default().to_string(),
            worktree: u.worktree.map(str::to_string),
        },
        Status::Hooked,
    )?
    else {
        return Ok(None);
    };
    let gen = tx.agent_upsert(u)?;
    if let Some(e) = before {
        tx.emit(bead, e)?;
    }
    tx.emit(
        bead,
        &TownEvent::Hook {
            agent: addr,
            lease: lease.generation,
        },
    )?;
    Ok(Some((lease.generation, gen)))
}

/// The bead a sling means: an existing issue, or a formula poured now
/// (`--var` applies only to a formula). Returns (bead, poured).
fn bead_or_pour(
    store: &mut Store,
    target: &str,
    vars: &BTreeMap<String, String>,
    cwd: &Path,
) -> Result<(String, bool), RuntimeError> {
    match issues::resolve(store.conn(), store.prefix(), target) {
        Ok(id) => {
            if !vars.is_empty() {
                return Err(RuntimeError::usage(
                    format!("--var applies to a formula, but {id} is an existing bead"),
                    "drop --var, or sling a formula",
                ));
            }
            Ok((id, false))
        }
        Err(StoreError::NotFound { .. }) => {
            let proto = molecule::load_proto(target, cwd, vars).map_err(|e| match e {
                molecule::MolError::Cook(text) => RuntimeError::Usage {
                    message: format!("`{target}` is neither a bead in this town nor a formula:\n{text}"),
                    help: Some("pass a bead id (`bd list`), a formula name (`gt formula list`) or a *.formula.toml path".into()),
                },
                e => e.into(),
            })?;
            let r = molecule::pour(
                store,
                &proto,
                &PourOptions {
                    vars: vars.clone(),
                    ..Default::default()
                },
            )?;
            Ok((r.new_epic_id, true))
        }
        Err(e) => Err(e.into()),
    }
}

/// `gt sling BEAD|FORMULA mayor`: hook the work on the Mayor (no worktree:
/// the Mayor works from the town root) and nudge it; a running Mayor sees
/// the nudge now, a stopped one at its next prime.
pub fn hook_on_mayor(
    town: &Town,
    target: &str,
    vars: &BTreeMap<String, String>,
    cwd: &Path,
) -> Result<(String, bool), RuntimeError> {
    let mut store = town.store()?;
    let (bead, poured) = bead_or_pour(&mut store, target, vars, cwd)?;
    let mayor = agents::get(store.conn(), "", "mayor")?;
    if let Some(h) = mayor.as_ref().and_then(|m| m.hooked_bead.clone()) {
        if h != bead && issues::get(store.conn(), &h)?.status != Status::Closed {
            return Err(RuntimeError::usage(
                format!("the mayor already has {h} on its hook"),
                "wait for it to finish, or hand it back first",
            ));
        }
    }
    let (agent_name, _) = town.agent_for("mayor", None, None)?;
    let root = town.root.display().to_string();
    let state = mayor.as_ref().map_or("idle", |m| m.state.as_str());
    // Keep the agent a running Mayor was started as.
    let agent_name = mayor
        .as_ref()
        .and_then(|m| m.agent.clone())
        .unwrap_or(agent_name);
    store.write(|tx| -> Result<(), RuntimeError> {
        let u = AgentUpdate {
            rig: "",
            name: "mayor",
            role: "mayor",
            state,
            worktree: Some(&root),
            branch: None,
            hooked_bead: Some(&bead),
            agent: Some(&agent_name),
            bump_generation: false,
        };
        hook_tx(tx, &bead, &u, None)?.ok_or_else(|| {
            RuntimeError::usage(format!("{bead} is not open"), "only open work is slung")
        })?;
        Ok(())
    })?;
    let dir = crate::coord::address::Directory::load(Some(town), store.conn())?;
    let from = crate::coord::mail::identity(store.actor());
    crate::coord::nudge::send(
        &mut store,
        &dir,
        "mayor",
        &from,
        &format!("Work is on your hook: {bead}. `gt hook` shows it."),
        None,
    )?;
    Ok((bead, poured))
}

/// `gt sling BEAD|FORMULA RIG`.
pub fn sling(town: &Town, req: &SlingRequest) -> Result<SlingResult, RuntimeError> {
    if let Some(n) = &req.polecat {
        crate::ids::validate_name("polecat name", n).map_err(|e| {
            RuntimeError::usage(
                e.to_string(),
                "polecat names use letters, digits, `-` and `_`",
            )
        })?;
    }
    let mut store = town.store()?;
    let rig = rigs::get(&store, &req.rig)?;
    super::rig_state::refuse_docked(town, &rig.name)?;
    // A rig whose repository is gone fails here, before anything changes.
    let repo = rigs::open_repo(&rig)?;
    let base = rigs::fetch_base(&repo, &rig)?;
    let (agent_name, agent) = town.agent_for("polecat", Some(&rig.name), req.agent.as_deref())?;
    super::run::check_program(&agent_name, &agent)?;

    // The bead: an issue, or a formula poured now.
    let (bead, poured) = bead_or_pour(&mut store, &req.target, &req.vars, &req.cwd)?;
    let issue = issues::get(store.conn(), &bead)?;
    if issue.status == Status::Closed {
        return Err(RuntimeError::usage(
            format!("{bead} is closed; a closed bead is never slung"),
            format!("reopen it first with `bd reopen {bead}` if it needs more work"),
        ));
    }
    if agent.is_shell() && step_run(&issue).is_none() {
        return Err(RuntimeError::usage(
            format!("the `shell` agent runs a step's `run` command, and {bead} has none"),
            "sling it with an AI agent (--agent claude), or run a formula with `gt run`",
        ));
    }

    // Caps on working polecats: the rig's counts the rig, the town's the town.
    let rig_cap = town.rig_settings(&rig.name)?.max_polecats;
    let town_cap = town.settings()?.max_polecats;
    // One transaction: pick a polecat, hook the bead, lease it, auto-convoy.
    let actor = store.actor().to_string();
    let rig_name = rig.name.clone();
    let rig_dir = town.rig_dir(&rig.name);
    let out = store.write(|tx| -> Result<_, RuntimeError> {
        let cur = issues::get(tx.conn(), &bead)?;
        if cur.status != Status::Open {
            let who = cur.assignee.clone().unwrap_or_else(|| "nobody".into());
            return Err(RuntimeError::usage(
                format!(
                    "{bead} is {} (assigned to {who}); it cannot be slung again",
                    cur.status
                ),
                "only an open bead can be slung; `gt hook` and `gt agents` show who has it",
            ));
        }
        let all = agents::list(tx.conn())?;
        check_caps(&all, &rig_name, rig_cap, town_cap)?;
        let free = |a: &AgentRow| a.role == "polecat" && a.state == "idle" && a.claimable();
        let named = match &req.polecat {
            Some(n) => match all.iter().find(|a| a.rig == rig_name && &a.name == n) {
                Some(a) if !free(a) => {
                    return Err(RuntimeError::usage(
                        format!("{} is busy ({})", a.address(), a.state),
                        "sling to the rig and a free polecat is picked",
                    ))
                }
                _ => Some(n.clone()),
            },
            None => None,
        };
        let polecat = named
            .or_else(|| {
                all.iter()
                    .find(|a| a.rig == rig_name && free(a))
                    .map(|a| a.name.clone())
            })
            .unwrap_or_else(|| {
                (0..)
                    .map(crate::town::pool_name)
                    .find(|n| !all.iter().any(|a| a.rig == rig_name && &a.name == n))
                    .unwrap_or_else(|| "polecat".into())
            });
        let addr = address(&rig_name, "polecat", &polecat);
        let wt = rig_dir.join("polecats").join(&polecat);
        let branch = worktree::polecat_branch(&polecat, &bead);
        let wt_s = wt.display().to_string();
        let (lease_gen, gen) = hook_tx(
            tx,
            &bead,
            &AgentUpdate {
                rig: &rig_name,
                name: &polecat,
                role: "polecat",
                state: "spawning",
                worktree: Some(&wt_s),
                branch: Some(&branch),
                hooked_bead: Some(&bead),
                agent: Some(&agent_name),
                bump_generation: true,
            },
            Some(&TownEvent::Sling {
                rig: rig_name.clone(),
                polecat: polecat.clone(),
            }),
        )?
        .ok_or_else(|| {
            RuntimeError::usage(format!("{bead} was taken meanwhile"), "pick another bead")
        })?;
        // The auto-convoy: unless an open convoy tracks the bead.
        let convoy = crate::coord::convoy::ensure_for_bead(tx, &bead, &actor)?;
        Ok((polecat, addr, wt, branch, lease_gen, gen, convoy))
    })?;
    let (polecat, addr, wt, branch, lease_gen, _agent_gen, convoy) = out;

    // The sandbox, then the session (the hook is already visible).
    let setup = worktree::prepare(
        &repo,
        &wt,
        &format!("{}-{polecat}", rig.name),
        &branch,
        base,
    );
    if let Err(e) = setup {
        unhook(
            &mut store,
            &rig.name,
            &polecat,
            &bead,
            lease_gen,
            &format!("worktree: {}", e.message()),
        )?;
        return Err(RuntimeError::Io(format!(
            "cannot create the worktree {} for {polecat}: {}; the bead is open again",
            wt.display(),
            e.message()
        )));
    }
    let mut pid = None;
    if !req.no_start {
        let row = agents::get(store.conn(), &rig.name, &polecat)?
            .ok_or_else(|| RuntimeError::Io(format!("agent {addr} vanished")))?;
        match start_polecat(town, &mut store, &row, &agent_name, &agent) {
            Ok(p) => pid = Some(p),
            Err(e) => {
                unhook(
                    &mut store,
                    &rig.name,
                    &polecat,
                    &bead,
                    lease_gen,
                    &e.to_string(),
                )?;
                return Err(e);
            }
        }
    }
    Ok(SlingResult {
        bead,
        rig: rig.name,
        polecat,
        address: addr,
        generation: lease_gen,
        agent: agent_name,
        worktree: wt.display().to_string(),
        branch,
        convoy,
        pid,
        poured,
    })
}

/// Refuse a sling that would exceed `max_polecats` of the rig (its working
/// polecats) or of the town (every rig's working polecats).
fn check_caps(
    all: &[AgentRow],
    rig: &str,
    rig_cap: Option<usize>,
    town_cap: Option<usize>,
) -> Result<(), RuntimeError> {
    let busy =
        |a: &&AgentRow| a.role == "polecat" && matches!(a.state.as_str(), "spawning" | "working");
    if let Some(cap) = rig_cap {
        let n = all.iter().filter(busy).filter(|a| a.rig == rig).count();
        if n >= cap {
            return Err(RuntimeError::usage(
                format!("rig `{rig}` already has {n} working polecat(s), its cap (max_polecats = {cap})"),
                "wait for one to finish (`gt agents`), or raise max_polecats in the rig's settings/config.json",
            ));
        }
    }
    if let Some(cap) = town_cap {
        let n = all.iter().filter(busy).count();
        if n >= cap {
            return Err(RuntimeError::usage(
                format!("the town already has {n} working polecat(s) across its rigs, its cap (max_polecats = {cap})"),
                "wait for one to finish (`gt agents`), or raise max_polecats in the town's settings/config.json",
            ));
        }
    }
    Ok(())
}

fn step_run(i: &Issue) -> Option<String> {
    i.metadata
        .get("step")
        .and_then(|s| s.get("run"))
        .and_then(|r| r.as_str())
        .filter(|r| !r.trim().is_empty())
        .map(|r| r.to_string())
}

/// Give a hook back after a failed start (nothing silently half-done).
fn unhook(
    store: &mut Store,
    rig: &str,
    polecat: &str,
    bead: &str,
    gen: i64,
    why: &str,
) -> Result<(), RuntimeError> {
    store.write(|tx| -> Result<(), RuntimeError> {
        tx.release_lease(bead, gen, why)?;
        tx.update(
            bead,
            &Update {
                assignee: Some(None),
                ..Default::default()
            },
        )?;
        tx.agent_state(rig, polecat, "idle", true)?;
        Ok(())
    })
}

/// Start (or restart) the session of a polecat on its hooked bead, in its
/// worktree. The caller holds the claim on `row` (see [`super::spawn`]).
/// Returns the session's pid.
pub fn start_polecat(
    town: &Town,
    store: &mut Store,
    row: &AgentRow,
    agent_name: &str,
    agent: &AgentConfig,
) -> Result<i64, RuntimeError> {
    let bead = row
        .hooked_bead
        .clone()
        .ok_or_else(|| RuntimeError::Io(format!("{} has nothing on its hook", row.address())))?;
    let issue = issues::get(store.conn(), &bead)?;
    let lease = leases::get(store.conn(), &bead)?
        .ok_or_else(|| RuntimeError::Io(format!("{bead} has no lease")))?;
    let rt = town.runtime_dir();
    let root = issues::root_of(store.conn(), &bead)?;
    let is_mol = issues::get(store.conn(), &root)?.issue_type == IssueType::Molecule;
    let beads_dir = town.beads_dir();
    let id = SessionIdentity {
        town: Some(&town.root),
        beads_dir: &beads_dir,
        rig: &row.rig,
        role: &row.role,
        name: &row.name,
        agent_name,
        generation: row.generation,
        lease: Some((&bead, lease.generation)),
        molecule: is_mol.then_some(root.as_str()),
    };
    let mut env = id.env(agent);
    let cwd = row
        .worktree
        .clone()
        .map(PathBuf::from)
        .unwrap_or_else(|| town.root.clone());
    let mut stdin = None;
    let command = if agent.is_shell() {
        step_run(&issue).unwrap_or_default()
    } else {
        env.extend(super::launch::prepare(&rt, agent, &cwd)?);
        let text = if agent.cli.has_hooks() {
            // Its SessionStart hook primes it; the first prompt says go.
            prime::polecat_beacon(&row.address(), &bead)
        } else {
            let mol = if is_mol {
                molecule::current(store, Some(&root), &row.address()).ok()
            } else {
                None
            };
            prime::prime_text(&row.role, &row.address(), Some(&issue), mol.as_ref())
        };
        let pf = rt
            .join("prompts")
            .join(format!("{bead}.{}.md", lease.generation));
        let (cmd, feed) = super::session::agent_command(agent, &text, &pf, &mut env)?;
        stdin = feed;
        cmd
    };
    // A rig-less agent (a dog) is named by its role.
    let label = if row.rig.is_empty() {
        format!("{}-{}", row.role, row.name)
    } else {
        format!("{}-{}", row.rig, row.name)
    };
    let spec = SessionSpec {
        name: format!("gt-{label}"),
        command,
        cwd,
        env,
        stdin,
        log: rt.join("logs").join(format!("{label}.log")),
        status: session_status(town, &bead, lease.generation),
        provider: agent.provider.resolved(),
    };
    spawn::start_detached(store, &id, &spec)
}

/// Where a slung polecat's session on lease `(bead, gen)` says how it
/// ended (the witness reads it).
pub fn session_status(town: &Town, bead: &str, gen: i64) -> super::session::StatusRecord {
    super::session::StatusRecord::own(
        town.runtime_dir()
            .join("status")
            .join(format!("{bead}.{gen}")),
    )
}

/// Start a fresh session (a new generation) for a polecat whose work is on
/// its hook and whose session is not running (`gt session start|restart`).
pub fn resume_polecat(town: &Town, row: &AgentRow) -> Result<i64, RuntimeError> {
    let addr = row.address();
    let bead = row.hooked_bead.clone().ok_or_else(|| {
        RuntimeError::usage(
            format!("{addr} has nothing on its hook; there is no session to start"),
            "`gt sling BEAD RIG` gives a polecat work",
        )
    })?;
    if row.session_alive() {
        return Err(RuntimeError::usage(
            format!("{addr} is already running (pid {})", row.pid.unwrap_or(0)),
            "`gt session restart` starts it fresh",
        ));
    }
    let (agent_name, agent) = town.agent_for("polecat", Some(&row.rig), row.agent.as_deref())?;
    super::run::check_program(&agent_name, &agent)?;
    let mut store = town.store()?;
    store.write(|tx| {
        tx.agent_upsert(&AgentUpdate {
            rig: &row.rig,
            name: &row.name,
            role: &row.role,
            state: "spawning",
            worktree: row.worktree.as_deref(),
            branch: row.branch.as_deref(),
            hooked_bead: Some(&bead),
            agent: Some(&agent_name),
            bump_generation: true,
        })
    })?;
    let fresh = agents::get(store.conn(), &row.rig, &row.name)?
        .ok_or_else(|| RuntimeError::Io(format!("agent {addr} vanished")))?;
    start_polecat(town, &mut store, &fresh, &agent_name, &agent)
}

/// Who am I, as an agent with a row (see [`super::identity`]).
pub fn whoami(town: &Town, store: &Store, cwd: &Path) -> Result<AgentRow, RuntimeError> {
    super::identity::whoami_row(town, store, cwd)
}

#[derive(Debug, Serialize)]
pub struct HookView {
    pub agent: AgentRow,
    pub address: String,
    pub bead: Option<Issue>,
}

/// `gt hook`: what is on my hook.
pub fn hook(town: &Town, cwd: &Path) -> Result<HookView, RuntimeError> {
    let store = town.store()?;
    let me = whoami(town, &store, cwd)?;
    let bead = match &me.hooked_bead {
        Some(b) => Some(issues::get(store.conn(), b)?),
        None => None,
    };
    Ok(HookView {
        address: me.address(),
        agent: me,
        bead,
    })
}

#[derive(Debug, Serialize)]
pub struct DoneResult {
    pub bead: String,
    /// None with `--no-merge`.
    pub merge_request: Option<String>,
    pub pushed_for_review: bool,
    pub branch: String,
    pub head_sha: String,
    pub committed: bool,
}

/// How a polecat hands its finished work in (`gt done` flags).
#[derive(Debug, Clone, Default)]
pub struct DoneOptions {
    /// Merge into this branch instead of the rig's merge target.
    pub target: Option<String>,
    /// The polecat ran the gates on a branch already on the target's tip:
    /// the refinery skips them when the merge is a fast-forward.
    pub pre_verified: bool,
    /// The polecat's own account of its worktree (`clean`, `uncommitted`, ...).
    pub cleanup_status: Option<String>,
    /// Push the branch for review instead of queueing a merge.
    pub no_merge: bool,
}

/// The git states a polecat may report with `--cleanup-status`.
pub const CLEANUP_STATUSES: &[&str] = &["clean", "uncommitted", "stash", "unpushed", "unknown"];

impl DoneOptions {
    fn check(&self) -> Result<(), RuntimeError> {
        if let Some(c) = &self.cleanup_status {
            if !CLEANUP_STATUSES.contains(&c.as_str()) {
                return Err(RuntimeError::usage(
                    format!("unknown cleanup status `{c}`"),
                    format!("valid: {}", CLEANUP_STATUSES.join(", ")),
                ));
            }
        }
        if let Some(t) = &self.target {
            if !git2::Reference::is_valid_name(&format!("refs/heads/{t}")) {
                return Err(RuntimeError::usage(
                    format!("`{t}` is not a valid branch name"),
                    "pass the branch to merge into, e.g. --target main",
                ));
            }
        }
        Ok(())
    }
}

/// `gt done`: commit leftover work, record the branch as ready to merge
/// (a `merge-request` issue), set the bead `in_progress`, free the polecat.
pub fn done(town: &Town, cwd: &Path, opts: &DoneOptions) -> Result<DoneResult, RuntimeError> {
    let store = town.store()?;
    let me = whoami(town, &store, cwd)?;
    drop(store);
    done_with(town, &me, opts)
}

/// `gt done` on behalf of agent `me` (the witness uses it for exit 0).
pub fn done_as(town: &Town, me: &AgentRow) -> Result<DoneResult, RuntimeError> {
    done_with(town, me, &DoneOptions::default())
}

/// `gt done` as `me`, with the caller's options.
pub fn done_with(
    town: &Town,
    me: &AgentRow,
    opts: &DoneOptions,
) -> Result<DoneResult, RuntimeError> {
    opts.check()?;
    let mut store = town.store()?;
    let bead = me.hooked_bead.clone().ok_or_else(|| {
        RuntimeError::usage(
            format!("{} has nothing on its hook", me.address()),
            "`gt hook` shows the hook; nothing to hand in",
        )
    })?;
    let lease_env = leases::lease_from_env()?;
    let lease = leases::get(store.conn(), &bead)?
        .ok_or_else(|| RuntimeError::Io(format!("{bead} has no lease")))?;
    if let Some((step, gen)) = &lease_env {
        if step == &bead && *gen != lease.generation {
            return Err(StoreError::StaleLease {
                id: bead.clone(),
                have: *gen,
                current: lease.generation,
                status: issues::get(store.conn(), &bead)?.status.to_string(),
            }
            .into());
        }
    }
    // Done means done: every step of a molecule on the hook is closed.
    super::finish::refuse_open_steps(&store, &bead)?;
    let status = issues::get(store.conn(), &bead)?.status;
    if status == Status::Closed {
        return Err(RuntimeError::usage(
            format!("{bead} is already closed"),
            "nothing to hand in; your hook will be cleared by the witness",
        ));
    }
    let wt = me
        .worktree
        .clone()
        .ok_or_else(|| RuntimeError::Io(format!("{} has no worktree", me.address())))?;
    let (rig, name) = (me.rig.clone(), me.name.clone());
    store.write(|tx| tx.agent_state(&rig, &name, "exiting", false))?;
    let committed = worktree::commit_all(
        Path::new(&wt),
        &format!("{bead}: work by {}", me.address()),
        &me.address(),
    )?;
    let head = worktree::head_sha(Path::new(&wt))?;
    let branch = me.branch.clone().unwrap_or_default();
    let gen = lease.generation;
    if opts.no_merge {
        return push_for_review(
            town,
            &mut store,
            me,
            &bead,
            &branch,
            &head,
            committed.is_some(),
        );
    }
    let mr = store.write(|tx| -> Result<String, RuntimeError> {
        // The one way a merge request is made (it also writes the `done` event).
        let mr = crate::coord::mq::enqueue_tx(
            tx,
            &crate::coord::mq::NewMr {
                bead: bead.clone(),
                rig: rig.clone(),
                branch: branch.clone(),
                head_sha: head.clone(),
                polecat: Some(name.clone()),
                generation: Some(gen),
                priority: None,
                target: opts.target.clone(),
                pre_verified: opts.pre_verified,
                cleanup_status: opts.cleanup_status.clone(),
            },
        )?;
        let cur = issues::get(tx.conn(), &bead)?;
        if cur.status != Status::InProgress {
            tx.update(
                &bead,
                &Update {
                    status: Some(Status::InProgress),
                    ..Default::default()
                },
            )?;
        }
        tx.agent_state(&rig, &name, "idle", true)?;
        Ok(mr.id)
    })?;
    mail_back(
        town,
        &mut store,
        me,
        &bead,
        &format!("{bead} is done: {branch} at {head} is queued to merge as {mr}."),
    )?;
    Ok(DoneResult {
        bead,
        merge_request: Some(mr),
        pushed_for_review: false,
        branch,
        head_sha: head,
        committed: committed.is_some(),
    })
}

/// `gt sling --mail-back`: tell whoever slung `bead` that it is handed in.
fn mail_back(
    town: &Town,
    store: &mut Store,
    me: &AgentRow,
    bead: &str,
    text: &str,
) -> Result<(), RuntimeError> {
    let issue = issues::get(store.conn(), bead)?;
    let Some(to) = issue.metadata.get("mail_back").and_then(|v| v.as_str()) else {
        return Ok(());
    };
    let dir = crate::coord::address::Directory::load(Some(town), store.conn())?;
    crate::coord::mail::send(
        store,
        &dir,
        &crate::coord::mail::Outgoing {
            from: me.address(),
            to: to.to_string(),
            subject: format!("Done: {}", issue.title),
            body: text.to_string(),
            kind: "reply".into(),
            sender_gen: Some(me.generation),
            ..Default::default()
        },
    )?;
    Ok(())
}

/// Commit whatever is left in `me`'s worktree (before a hand-back, so no
/// work is lost). Returns the new commit, if there was anything to commit.
pub fn commit_hooked_work(me: &AgentRow) -> Result<Option<String>, RuntimeError> {
    let (Some(wt), Some(bead)) = (&me.worktree, &me.hooked_bead) else {
        return Ok(None);
    };
    let c = worktree::commit_all(
        Path::new(wt),
        &format!("{bead}: work by {}", me.address()),
        &me.address(),
    )?;
    Ok(c.map(|o| o.to_string()))
}

/// `gt done --no-merge`: push the branch to the rig's origin for a person
/// to review, note it on the bead (which stays in progress) and tell the
/// overseer; no merge request is queued.
fn push_for_review(
    town: &Town,
    store: &mut Store,
    me: &AgentRow,
    bead: &str,
    branch: &str,
    head: &str,
    committed: bool,
) -> Result<DoneResult, RuntimeError> {
    let cfg = town.merge_config_in(store.conn(), &me.rig)?;
    match crate::town::git::push(&cfg.repo, &cfg.remote, &cfg.url, head, branch, true)? {
        crate::town::git::Pushed::Ok => {}
        crate::town::git::Pushed::Rejected(line) => {
            return Err(RuntimeError::Io(format!(
                "the origin refused branch {branch}: {line}"
            )))
        }
    }
    let (rig, name, addr) = (me.rig.clone(), me.name.clone(), me.address());
    let note = format!(
        "{addr}: branch {branch} at {} pushed to {} for review (not merged)",
        &head[..head.len().min(12)],
        cfg.url
    );
    store.write(|tx| -> Result<(), RuntimeError> {
        tx.comment(bead, &note)?;
        tx.event(bead, "done", Some("no_merge"), None, Some(branch))?;
        tx.agent_state(&rig, &name, "idle", true)?;
        Ok(())
    })?;
    let dir = crate::coord::address::Directory::load(Some(town), store.conn())?;
    crate::coord::mail::send(
        store,
        &dir,
        &crate::coord::mail::Outgoing {
            from: addr,
            to: "overseer".into(),
            subject: format!("Review: {branch} ({bead})"),
            body: note,
            kind: "review".into(),
            sender_gen: Some(me.generation),
            ..Default::default()
        },
    )?;
    mail_back(
        town,
        store,
        me,
        bead,
        &format!("{bead} is done: {branch} at {head} was pushed for review."),
    )?;
    Ok(DoneResult {
        bead: bead.to_string(),
        merge_request: None,
        pushed_for_review: true,
        branch: branch.to_string(),
        head_sha: head.to_string(),
        committed,
    })
}

/// `gt heartbeat`: refresh the lease named by `GT_LEASE` (stale refused).
pub fn heartbeat(cwd: &Path) -> Result<String, RuntimeError> {
    let Some((step, gen)) = leases::lease_from_env()? else {
        return Err(RuntimeError::usage(
            "GT_LEASE is not set",
            "heartbeats come from sessions, which get GT_LEASE=<step>:<generation> from the supervisor",
        ));
    };
    let mut store = Store::discover(cwd)?;
    store.write(|tx| tx.heartbeat(&step, gen))?;
    Ok(format!("{step}:{gen}"))
}
