//! The town's standing roles: the Mayor (always an agent session) and the
//! patrol roles (witness and refinery per rig, the deacon per town), which
//! run as supervisor code unless the town or rig assigns them an agent.
//!
//! Agent sessions of these roles run in the role's home directory
//! (Mayor: the town root; deacon: `<town>/deacon`; witness/refinery:
//! `<town>/<rig>/<role>`), on the town's tmux socket when the agent is
//! interactive, primed by their `SessionStart` hook (`gt prime --hook`).
//! Built-in patrol roles are passes of `gt daemon run`; stopping one leaves
//! a pause file the daemon honours.

use super::identity::singleton;
use super::session::{self, SessionSpec};
use super::spawn::{self, SessionIdentity};
use super::{launch, proc, RuntimeError};
use crate::store::agents::{self, AgentRow, AgentUpdate};
use crate::store::Store;
use crate::town::{AgentConfig, Town};
use serde::Serialize;
use std::path::PathBuf;

pub const PATROL_ROLES: &[&str] = &["witness", "refinery", "deacon"];

/// A standing role, in a rig for witness and refinery; a crew member (in
/// a rig, by name) is one too.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleRef {
    pub role: String,
    pub rig: Option<String>,
    /// The crew member's name (crew only).
    pub member: Option<String>,
}

impl RoleRef {
    /// Crew member `name` of `rig` (the rig must exist; the member's
    /// worktree is made by `gt crew add`, or by starting it).
    pub fn crew(town: &Town, rig: &str, name: &str) -> Result<RoleRef, RuntimeError> {
        crate::town::rigs::get(&town.store()?, rig)?;
        crate::ids::validate_name("crew name", name)
            .map_err(|e| RuntimeError::usage(e.to_string(), "e.g. `gt crew start dave`"))?;
        Ok(RoleRef {
            role: "crew".into(),
            rig: Some(rig.into()),
            member: Some(name.into()),
        })
    }

    pub fn new(town: &Town, role: &str, rig: Option<&str>) -> Result<RoleRef, RuntimeError> {
        let rig = rig.map(str::to_string).filter(|r| !r.is_empty());
        match (role, &rig) {
            ("mayor" | "deacon", Some(r)) => Err(RuntimeError::usage(
                format!("the {role} is one per town; --rig {r} does not apply"),
                format!("drop --rig: `gt {role} ...`"),
            )),
            ("witness" | "refinery", None) => {
                let store = town.store()?;
                let rigs = crate::town::rigs::list(&store)?;
                match rigs.as_slice() {
                    [only] => Ok(RoleRef {
                        role: role.into(),
                        rig: Some(only.name.clone()),
                        member: None,
                    }),
                    _ => Err(RuntimeError::usage(
                        format!("the {role} runs per rig; which rig?"),
                        format!(
                            "pass --rig NAME (rigs: {})",
                            if rigs.is_empty() {
                                "none yet; `gt rig add`".into()
                            } else {
                                rigs.iter()
                                    .map(|r| r.name.clone())
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            }
                        ),
                    )),
                }
            }
            ("witness" | "refinery", Some(r)) => {
                crate::town::rigs::get(&town.store()?, r)?;
                Ok(RoleRef {
                    role: role.into(),
                    rig,
                    member: None,
                })
            }
            ("mayor" | "deacon", None) => Ok(RoleRef {
                role: role.into(),
                rig: None,
                member: None,
            }),
            _ => Err(crate::town::TownError::UnknownRole(role.into()).into()),
        }
    }

    fn key(&self) -> (String, String) {
        match &self.member {
            Some(m) => (self.rig.clone().unwrap_or_default(), m.clone()),
            None => singleton(&self.role, self.rig.as_deref()),
        }
    }

    pub fn address(&self) -> String {
        let (rig, name) = self.key();
        agents::address(&rig, &self.role, &name)
    }

    /// The tmux session name.
    pub fn session_name(&self) -> String {
        match (&self.rig, &self.member) {
            (Some(r), Some(m)) => format!("gt-{r}-crew-{m}"),
            (Some(r), None) => format!("gt-{r}-{}", self.role),
            (None, _) => format!("gt-{}", self.role),
        }
    }

    /// Where the role's agent session runs.
    pub fn home(&self, town: &Town) -> PathBuf {
        match (self.role.as_str(), &self.rig) {
            ("mayor", _) => town.root.clone(),
            ("crew", Some(r)) => town
                .rig_dir(r)
                .join("crew")
                .join(self.member.as_deref().unwrap_or("")),
            (_, Some(r)) => town.rig_dir(r).join(&self.role),
            (role, None) => town.root.join(role),
        }
    }

    fn pause_file(&self, town: &Town) -> PathBuf {
        let label = match &self.rig {
            Some(r) => format!("{}-{r}", self.role),
            None => self.role.clone(),
        };
        town.runtime_dir().join("paused").join(label)
    }
}

/// Is the built-in `role` paused (town-wide, or for `rig`)?
pub fn paused(town: &Town, role: &str, rig: Option<&str>) -> bool {
    let dir = town.runtime_dir().join("paused");
    dir.join(role).exists() || rig.is_some_and(|r| dir.join(format!("{role}-{r}")).exists())
}

/// Is the patrol `role` of `rig` assigned an agent (so its built-in code
/// steps aside)?
pub fn runs_as_agent(town: &Town, role: &str, rig: Option<&str>) -> bool {
    let r = RoleRef {
        role: role.into(),
        rig: rig.map(str::to_string),
        member: None,
    };
    assigned_agent(town, &r, None).is_ok_and(|a| a.is_some())
}

/// The agent explicitly assigned to a patrol role (`--agent`, the rig's or
/// the town's `roles.<role>.agent`); `None` means supervisor code.
pub fn assigned_agent(
    town: &Town,
    r: &RoleRef,
    flag: Option<&str>,
) -> Result<Option<String>, RuntimeError> {
    if let Some(f) = flag.filter(|f| !f.trim().is_empty()) {
        return Ok(Some(f.trim().to_string()));
    }
    if r.role == "mayor" || r.role == "crew" {
        return Ok(Some(town.agent_for(&r.role, r.rig.as_deref(), None)?.0));
    }
    if let Some(rig) = &r.rig {
        if let Some(a) = town
            .rig_settings(rig)?
            .roles
            .get(&r.role)
            .and_then(|x| x.agent.clone())
        {
            return Ok(Some(a));
        }
    }
    Ok(town
        .settings()?
        .roles
        .get(&r.role)
        .and_then(|x| x.agent.clone()))
}

fn row(store: &Store, r: &RoleRef) -> Result<Option<AgentRow>, RuntimeError> {
    let (rig, name) = r.key();
    Ok(agents::get(store.conn(), &rig, &name)?)
}

fn alive(a: &AgentRow) -> bool {
    a.pid.is_some_and(|p| proc::alive(p, a.pid_start))
}

#[derive(Debug, Serialize)]
pub struct RoleStatus {
    pub role: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rig: Option<String>,
    pub address: String,
    /// `agent` (a session) or `supervisor` (built-in code of `gt daemon run`).
    pub mode: String,
    pub running: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pid: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    pub generation: i64,
    /// The deacon's patrols: the last one and each part's results.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub patrol: Option<super::deacon::PatrolLog>,
    /// The role's last heartbeat (`gt deacon heartbeat`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub heartbeat: Option<super::patrol::Heartbeat>,
}

pub fn status(town: &Town, r: &RoleRef, flag: Option<&str>) -> Result<RoleStatus, RuntimeError> {
    let store = town.store()?;
    let a = row(&store, r)?;
    let live = a.as_ref().is_some_and(alive);
    let agent = match (&a, live) {
        (Some(a), true) => a.agent.clone(),
        _ => assigned_agent(town, r, flag)?,
    };
    let (mode, running) = match &agent {
        Some(_) => ("agent", live),
        None => (
            "supervisor",
            super::daemon::running(town).is_some() && !paused(town, &r.role, r.rig.as_deref()),
        ),
    };
    Ok(RoleStatus {
        role: r.role.clone(),
        rig: r.rig.clone(),
        address: r.address(),
        mode: mode.into(),
        running,
        agent,
        pid: a.as_ref().filter(|_| live).and_then(|a| a.pid),
        session: a.as_ref().filter(|_| live).and_then(|a| a.session.clone()),
        state: a.as_ref().map(|a| a.state.clone()),
        generation: a.as_ref().map(|a| a.generation).unwrap_or(0),
        patrol: (r.role == "deacon")
            .then(|| super::deacon::load(town))
            .flatten(),
        heartbeat: super::patrol::last_beat(town, &r.role),
    })
}

/// Start the role: its agent session, or (patrol roles without an agent)
/// the supervisor with the role unpaused.
pub fn start(town: &Town, r: &RoleRef, flag: Option<&str>) -> Result<RoleStatus, RuntimeError> {
    let mut store = town.store()?;
    if let Some(a) = row(&store, r)?.filter(alive) {
        return Err(RuntimeError::usage(
            format!(
                "the {} is already running (pid {})",
                r.address(),
                a.pid.unwrap_or(0)
            ),
            format!(
                "`gt {} attach` to see it, `gt {} restart` to start it fresh",
                r.role, r.role
            ),
        ));
    }
    let Some(agent_name) = assigned_agent(town, r, flag)? else {
        let _ = std::fs::remove_file(r.pause_file(town));
        if super::daemon::running(town).is_none() {
            super::daemon::start(town)?;
        }
        return status(town, r, flag);
    };
    let (agent_name, cfg) = town.agent_for(&r.role, r.rig.as_deref(), Some(&agent_name))?;
    super::run::check_program(&agent_name, &cfg)?;
    if cfg.is_shell() {
        return Err(RuntimeError::usage(
            format!("the {} needs an AI agent, not `shell`", r.role),
            "pass --agent claude (or another agent)",
        ));
    }
    start_session(town, &mut store, r, &agent_name, &cfg)?;
    status(town, r, flag)
}

/// The first prompt of a role session. With hooks the context arrives
/// through `gt prime --hook`; without, it is in the prompt itself.
fn beacon(town: &Town, r: &RoleRef, cfg: &AgentConfig) -> Result<String, RuntimeError> {
    let ask = match r.role.as_str() {
        "mayor" => "You are the Mayor of this Gas Town. Your context is above (gt prime). Greet the overseer briefly and wait for instructions.".to_string(),
        "deacon" => "You are the Deacon. Run your patrol now: work the steps on your hook, then wait.".to_string(),
        "witness" => "You are this rig's Witness. Patrol now: check the polecats, nudge or escalate as needed.".to_string(),
        "crew" => format!(
            "You are {}, a crew member working in this worktree. Your context is above (gt prime). Wait for the overseer's instructions.",
            r.address()
        ),
        _ => "You are this rig's Refinery. Process the merge queue now.".to_string(),
    };
    if cfg.cli.has_hooks() {
        return Ok(ask);
    }
    let prime = super::prime::prime(town, &r.home(town)).unwrap_or_default();
    Ok(format!("{prime}\n{ask}"))
}

fn start_session(
    town: &Town,
    store: &mut Store,
    r: &RoleRef,
    agent_name: &str,
    cfg: &AgentConfig,
) -> Result<i64, RuntimeError> {
    let home = r.home(town);
    let (rig, name) = r.key();
    if r.role == "crew" && !home.exists() {
        // A crew member's home is its worktree, made as `gt crew add` does.
        crate::town::rigs::crew_add(town, &rig, &name)?;
    }
    std::fs::create_dir_all(&home)
        .map_err(|e| RuntimeError::Io(format!("{}: {e}", home.display())))?;
    let hook = match r.role.as_str() {
        "deacon" => Some(super::deacon::patrol_wisp(town, store)?),
        // Crew keep what is on their hook across sessions.
        "crew" => row(store, r)?.and_then(|a| a.hooked_bead),
        _ => None,
    };
    let gen = store.write(|tx| {
        tx.agent_upsert(&AgentUpdate {
            rig: &rig,
            name: &name,
            role: &r.role,
            state: "spawning",
            worktree: Some(&home.display().to_string()),
            branch: None,
            hooked_bead: hook.as_deref(),
            agent: Some(agent_name),
            bump_generation: true,
        })
    })?;
    let rt = town.runtime_dir();
    let label = r.session_name();
    let log = rt.join("logs").join(format!("{label}.log"));
    let status = session::StatusRecord::own(rt.join("status").join(format!("{label}.{gen}")));
    let provider = cfg.provider.resolved();
    let prompt = beacon(town, r, cfg)?;
    let pf = rt.join("prompts").join(format!("{label}.{gen}.md"));
    if let Some(d) = pf.parent() {
        std::fs::create_dir_all(d)
            .map_err(|e| RuntimeError::Io(format!("{}: {e}", d.display())))?;
    }
    std::fs::write(&pf, &prompt).map_err(|e| RuntimeError::Io(format!("{}: {e}", pf.display())))?;
    let (command, stdin) = launch::command_line(cfg, provider, &prompt, &pf);
    let beads_dir = town.beads_dir();
    let id = SessionIdentity {
        town: Some(&town.root),
        beads_dir: &beads_dir,
        rig: &rig,
        role: &r.role,
        name: &name,
        agent_name,
        generation: gen,
        lease: None,
        molecule: None,
    };
    let mut env = launch::prepare(&rt, cfg, &home)?;
    env.extend(id.env(cfg));
    env.push(("GT_PROMPT_FILE".into(), pf.display().to_string()));
    let spec = SessionSpec {
        name: label,
        command,
        cwd: home,
        env,
        stdin,
        log,
        status,
        provider,
    };
    spawn::start_detached(store, &id, &spec)
}

/// Stop the role's session (or pause the built-in role). Returns whether
/// something was running.
pub fn stop(town: &Town, r: &RoleRef) -> Result<bool, RuntimeError> {
    let mut store = town.store()?;
    let agent_mode = assigned_agent(town, r, None)?.is_some();
    match row(&store, r)? {
        // `idle` also tells the supervisor not to start it again.
        Some(a) if agent_mode || alive(&a) || a.session.is_some() => {
            let was = kill(town, &a);
            let (rig, name) = r.key();
            store.write(|tx| tx.agent_state(&rig, &name, "idle", false))?;
            Ok(was)
        }
        _ if !agent_mode => {
            let f = r.pause_file(town);
            let was = !f.exists() && super::daemon::running(town).is_some();
            if let Some(d) = f.parent() {
                std::fs::create_dir_all(d).map_err(|e| RuntimeError::Io(e.to_string()))?;
            }
            std::fs::write(&f, "paused by gt\n").map_err(|e| RuntimeError::Io(e.to_string()))?;
            Ok(was)
        }
        _ => Ok(false),
    }
}

/// Lift a pause of the built-in role (`stop` left it). Returns whether it was paused.
pub fn unpause(town: &Town, r: &RoleRef) -> Result<bool, RuntimeError> {
    match std::fs::remove_file(r.pause_file(town)) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(RuntimeError::Io(e.to_string())),
    }
}

/// Kill an agent's session: its process group and its tmux session.
pub fn kill(town: &Town, a: &AgentRow) -> bool {
    let was = alive(a);
    if let (true, Some(p)) = (was, a.pid) {
        proc::kill_group(p, proc::SIGTERM);
    }
    if let Some(s) = &a.session {
        if session::tmux_available() {
            let _ = session::tmux(&session::tmux_socket(&town.runtime_dir()))
                .args(["kill-session", "-t", &format!("={s}")])
                .output();
        }
    }
    was
}

/// `restart`: stop, then start fresh (a new generation).
pub fn restart(town: &Town, r: &RoleRef, flag: Option<&str>) -> Result<RoleStatus, RuntimeError> {
    stop(town, r)?;
    start(town, r, flag)
}

/// What `attach` did.
pub enum Attach {
    /// Attached to the tmux session (returns when the user detaches).
    Tmux,
    /// Not a tmux session: the tail of its log.
    Log(String),
    /// A built-in role: nothing to attach to.
    BuiltIn(Box<RoleStatus>),
    /// It runs in tmux, but this is no terminal to attach from: how to
    /// attach, and what its pane shows now.
    NoTerminal { attach: String, pane: String },
}

/// `attach`: start the role if it is not running, then attach to its tmux
/// session (or show its log when it runs headless).
pub fn attach(town: &Town, r: &RoleRef, flag: Option<&str>) -> Result<Attach, RuntimeError> {
    let mut st = status(town, r, flag)?;
    if !st.running {
        st = start(town, r, flag)?;
    }
    if st.mode == "supervisor" {
        return Ok(Attach::BuiltIn(Box::new(st)));
    }
    if let Some(s) = &st.session {
        let sock = session::tmux_socket(&town.runtime_dir());
        use std::io::IsTerminal;
        if !std::io::stdin().is_terminal() || !std::io::stdout().is_terminal() {
            return Ok(Attach::NoTerminal {
                attach: format!("tmux -L {sock} attach-session -t {s}"),
                pane: super::daemon::peek(town, &r.address(), 60).unwrap_or_default(),
            });
        }
        let ok = session::tmux(&sock)
            .args(["attach-session", "-t", &format!("={s}")])
            .status()
            .map(|x| x.success())
            .unwrap_or(false);
        if ok {
            return Ok(Attach::Tmux);
        }
    }
    Ok(Attach::Log(super::daemon::peek(town, &r.address(), 60)?))
}

/// The witness over standing roles, each supervisor tick: a role session
/// that died is marked `dead` (never left `working`); one whose agent asked
/// for a handoff (a cycle request) is ended and started fresh; a polecat that
/// handed its work in (`idle`) but whose interactive session still runs is
/// stopped.
pub fn watch(town: &Town, store: &mut Store) -> Result<Vec<String>, RuntimeError> {
    let mut out = Vec::new();
    for a in agents::list(store.conn())? {
        let live = alive(&a);
        let standing = a.role != "polecat";
        if take_cycle_request(town, &a) {
            kill(town, &a);
            let r = RoleRef {
                role: a.role.clone(),
                rig: Some(a.rig.clone()).filter(|r| !r.is_empty()),
                member: (a.role == "crew").then(|| a.name.clone()),
            };
            if standing {
                let cfg = town.agent_for(&a.role, r.rig.as_deref(), a.agent.as_deref())?;
                let pid = start_session(town, store, &r, &cfg.0, &cfg.1)?;
                out.push(format!(
                    "{}: handoff; started a fresh session (pid {pid})",
                    a.address()
                ));
            } else {
                // The witness starts a hooked polecat without a session.
                store.write(|tx| -> Result<(), RuntimeError> {
                    tx.agent_session(&a.rig, &a.name, None, None, None, a.log_path.as_deref())?;
                    tx.agent_state(&a.rig, &a.name, "spawning", false)?;
                    Ok(())
                })?;
                out.push(format!(
                    "{}: handoff; its session ended, a fresh one starts on its hook",
                    a.address()
                ));
            }
            continue;
        }
        if standing
            && !live
            && matches!(a.state.as_str(), "working" | "spawning")
            && a.pid.is_some()
        {
            store.write(|tx| -> Result<(), RuntimeError> {
                tx.agent_state(&a.rig, &a.name, "dead", false)?;
                tx.event(
                    &a.address(),
                    "crash",
                    Some("state"),
                    Some(&a.state),
                    Some("dead"),
                )?;
                Ok(())
            })?;
            out.push(format!(
                "{}: session ended; marked dead (`gt {} start` starts it again)",
                a.address(),
                a.role
            ));
        }
        if a.role == "polecat" && a.state == "idle" && live && a.hooked_bead.is_none() {
            kill(town, &a);
            out.push(format!("{}: handed in; stopped its session", a.address()));
        }
    }
    Ok(out)
}

fn cycle_file(town: &Town, a: &AgentRow) -> PathBuf {
    let label = if a.rig.is_empty() {
        a.name.clone()
    } else {
        format!("{}-{}", a.rig, a.name)
    };
    town.runtime_dir()
        .join("cycle")
        .join(format!("{label}.{}", a.generation))
}

/// Handoff requests no session will take: their agent is gone or has moved
/// past that generation.
pub fn stale_cycle_requests(town: &Town, all: &[AgentRow]) -> Vec<PathBuf> {
    let Ok(rd) = std::fs::read_dir(town.runtime_dir().join("cycle")) else {
        return Vec::new();
    };
    rd.flatten()
        .map(|e| e.path())
        .filter(|p| !all.iter().any(|a| cycle_file(town, a) == *p))
        .collect()
}

/// A pending handoff of this very session (its generation), consumed.
fn take_cycle_request(town: &Town, a: &AgentRow) -> bool {
    std::fs::remove_file(cycle_file(town, a)).is_ok()
}

/// `gt handoff` for a standing role or a polecat: leave a cycle request
/// for the agent's current session; the supervisor (started if needed)
/// ends that session and starts a fresh one that primes with the notes.
pub fn request_cycle(town: &Town, a: &AgentRow) -> Result<(), RuntimeError> {
    let f = cycle_file(town, a);
    if let Some(d) = f.parent() {
        std::fs::create_dir_all(d)
            .map_err(|e| RuntimeError::Io(format!("{}: {e}", d.display())))?;
    }
    std::fs::write(&f, "handoff\n")
        .map_err(|e| RuntimeError::Io(format!("{}: {e}", f.display())))?;
    if super::daemon::running(town).is_none() {
        super::daemon::start(town)?;
    }
    Ok(())
}

/// An agent the town uses, and who uses it.
#[derive(Debug, Clone)]
pub struct AgentUse {
    pub name: String,
    pub config: AgentConfig,
    /// `mayor`, `deacon`, `<rig>/polecat`, `<rig>/witness`, ...
    pub roles: Vec<String>,
}

/// The agents the town's roles would start: the Mayor's, each rig's
/// polecats' and crew's (assignment or default agent), and the patrol
/// roles' only where one is assigned (otherwise they are supervisor code).
/// Presets nobody chose are not listed; `shell` never is.
pub fn agents_in_use(town: &Town) -> Result<Vec<AgentUse>, RuntimeError> {
    let mut wanted: Vec<(String, Option<String>, String)> = Vec::new();
    let mayor = RoleRef::new(town, "mayor", None)?;
    let deacon = RoleRef::new(town, "deacon", None)?;
    for r in [&mayor, &deacon] {
        if let Some(a) = assigned_agent(town, r, None)? {
            wanted.push((r.role.clone(), None, a));
        }
    }
    for rig in crate::town::rigs::names(town.store()?.conn())? {
        for role in ["polecat", "crew"] {
            let (a, _) = town.agent_for(role, Some(&rig), None)?;
            wanted.push((role.into(), Some(rig.clone()), a));
        }
        for role in ["witness", "refinery"] {
            let r = RoleRef {
                role: role.into(),
                rig: Some(rig.clone()),
                member: None,
            };
            if let Some(a) = assigned_agent(town, &r, None)? {
                wanted.push((role.into(), Some(rig.clone()), a));
            }
        }
    }
    let mut out: Vec<AgentUse> = Vec::new();
    for (role, rig, name) in wanted {
        let (name, config) = town.agent_for(&role, rig.as_deref(), Some(&name))?;
        if config.is_shell() {
            continue;
        }
        let who = match &rig {
            Some(r) => format!("{r}/{role}"),
            None => role,
        };
        match out
            .iter_mut()
            .find(|u| u.name == name && u.config == config)
        {
            Some(u) => u.roles.push(who),
            None => out.push(AgentUse {
                name,
                config,
                roles: vec![who],
            }),
        }
    }
    Ok(out)
}

/// The crew members of `rig`: their worktrees under `<rig>/crew/`, and any
/// with a session row.
pub fn crew_members(town: &Town, rig: &str) -> Result<Vec<String>, RuntimeError> {
    let mut out: Vec<String> = std::fs::read_dir(town.rig_dir(rig).join("crew"))
        .map(|rd| {
            rd.flatten()
                .filter(|e| e.path().is_dir())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    for a in agents::list(town.store()?.conn())? {
        if a.role == "crew" && a.rig == rig {
            out.push(a.name);
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}
