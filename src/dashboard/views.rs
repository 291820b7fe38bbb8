//! What each view shows, read straight from the store through the library
//! (agents, convoys, molecules, the merge queue, mail, the feed). Nothing
//! here parses command output; every struct is serialisable for templates.

use super::{DashError, Result};
use crate::coord::{convoy, feed, mail, mq};
use crate::runtime::{daemon, proc};
use crate::store::agents::{self, AgentRow};
use crate::store::{ids, leases, Store};
use crate::town::{agents as agent_cfg, Settings, Town};
use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;
use std::collections::HashMap;

/// A bead as a link: id, title, status.
#[derive(Debug, Clone, Serialize)]
pub struct BeadRef {
    pub id: String,
    pub title: String,
    pub status: String,
}

fn bead_ref(conn: &Connection, id: &str) -> Result<Option<BeadRef>> {
    Ok(conn
        .prepare_cached("SELECT id, title, status FROM issues WHERE id = ?1")?
        .query_row([id], |r| {
            Ok(BeadRef {
                id: r.get(0)?,
                title: r.get(1)?,
                status: r.get(2)?,
            })
        })
        .optional()?)
}

/// Something a person should look at.
#[derive(Debug, Clone, Serialize)]
pub struct Alert {
    /// `stuck`, `dead`, `dead-hook`, `rejected`
    pub kind: &'static str,
    pub subject: String,
    pub text: String,
    pub href: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct StateCount {
    pub state: &'static str,
    pub count: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub supervisor: Option<i64>,
    /// The Mayor's agent state, `None` when it never ran.
    pub mayor: Option<String>,
    pub mayor_alive: bool,
    pub agents_total: usize,
    pub agents_by_state: Vec<StateCount>,
    pub open_convoys: i64,
    pub mq_depth: i64,
    pub escalations: i64,
    pub alerts: Vec<Alert>,
}

/// One agent as the agents view shows it.
#[derive(Debug, Clone, Serialize)]
pub struct AgentInfo {
    pub address: String,
    pub name: String,
    pub rig: String,
    pub role: String,
    pub agent: Option<String>,
    pub model: Option<String>,
    pub state: String,
    pub alive: bool,
    pub generation: i64,
    pub hooked: Option<BeadRef>,
    /// The step being worked on (or next) under the hooked bead.
    pub step: Option<BeadRef>,
    pub heartbeat: Option<String>,
    pub heartbeat_age: Option<String>,
    pub log_path: Option<String>,
    pub updated_at: String,
}

/// `90s` -> `1m 30s ago`-style short ages.
pub fn age(from: &str, now_secs: i64) -> Option<String> {
    let t = ids::parse_secs(from)?;
    let d = (now_secs - t).max(0);
    Some(match d {
        0..=59 => format!("{d}s ago"),
        60..=3599 => format!("{}m {}s ago", d / 60, d % 60),
        3600..=86_399 => format!("{}h {}m ago", d / 3600, (d % 3600) / 60),
        _ => format!("{}d ago", d / 86_400),
    })
}

pub fn now_secs() -> i64 {
    ids::parse_secs(&ids::now()).unwrap_or(0)
}

/// Which model each configured agent name runs, from town and rig settings.
struct Models {
    town: Option<Settings>,
    rigs: HashMap<String, Option<Settings>>,
}

impl Models {
    fn new(town: &Town) -> Models {
        Models {
            town: town.settings().ok(),
            rigs: HashMap::new(),
        }
    }
    fn model(&mut self, town: &Town, rig: &str, agent: &str) -> Option<String> {
        let rs = self
            .rigs
            .entry(rig.to_string())
            .or_insert_with(|| {
                (!rig.is_empty())
                    .then(|| town.rig_settings(rig).ok())
                    .flatten()
            })
            .as_ref();
        agent_cfg::lookup(agent, self.town.as_ref(), rs)
            .ok()
            .and_then(|c| c.model)
    }
}

/// Every agent with its hook, current step, heartbeat and model.
pub fn agents(town: &Town, conn: &Connection, now: i64) -> Result<Vec<AgentInfo>> {
    let rows = agents::list(conn)?;
    // Two queries for all agents: heartbeats by holder, working steps by assignee.
    let mut beats: HashMap<String, String> = HashMap::new();
    let mut st = conn.prepare_cached(
        "SELECT holder, max(heartbeat_at) FROM leases WHERE holder IS NOT NULL GROUP BY holder",
    )?;
    for r in st.query_map([], |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, Option<String>>(1)?))
    })? {
        let (h, at) = r?;
        if let Some(at) = at {
            beats.insert(h, at);
        }
    }
    let mut working: HashMap<String, Vec<BeadRef>> = HashMap::new();
    let mut st = conn.prepare_cached(
        "SELECT assignee, id, title, status FROM issues
         WHERE status IN ('in_progress', 'hooked') AND assignee IS NOT NULL ORDER BY rowid",
    )?;
    for r in st.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            BeadRef {
                id: r.get(1)?,
                title: r.get(2)?,
                status: r.get(3)?,
            },
        ))
    })? {
        let (who, b) = r?;
        working.entry(who).or_default().push(b);
    }
    let mut models = Models::new(town);
    let mut out = Vec::with_capacity(rows.len());
    for a in rows {
        let address = a.address();
        let hooked = match &a.hooked_bead {
            Some(b) => bead_ref(conn, b)?,
            None => None,
        };
        let step = current_step(conn, &a, working.get(&address))?;
        let heartbeat = beats.get(&address).cloned();
        let model = a
            .agent
            .as_deref()
            .and_then(|ag| models.model(town, &a.rig, ag));
        out.push(AgentInfo {
            heartbeat_age: heartbeat.as_deref().and_then(|h| age(h, now)),
            heartbeat,
            alive: a.pid.is_some_and(|p| proc::alive(p, a.pid_start)),
            address,
            model,
            hooked,
            step,
            name: a.name,
            rig: a.rig,
            role: a.role,
            agent: a.agent,
            state: a.state,
            generation: a.generation,
            log_path: a.log_path,
            updated_at: a.updated_at,
        });
    }
    Ok(out)
}

/// The step under an agent's hook: one it is working on, else the next
/// ready step of the hooked molecule.
fn current_step(
    conn: &Connection,
    a: &AgentRow,
    working: Option<&Vec<BeadRef>>,
) -> Result<Option<BeadRef>> {
    let Some(hook) = &a.hooked_bead else {
        return Ok(None);
    };
    if let Some(w) = working {
        if let Some(b) = w.iter().find(|b| &b.id != hook) {
            return Ok(Some(b.clone()));
        }
    }
    let (lo, hi) = leases::step_range(hook);
    Ok(conn
        .prepare_cached(
            "SELECT id, title, status FROM issues WHERE id > ?1 AND id < ?2
               AND (status IN ('in_progress', 'hooked') OR (status = 'open' AND blocked = 0 AND children_open = 0))
             ORDER BY status = 'open', rowid LIMIT 1",
        )?
        .query_row(params![lo, hi], |r| {
            Ok(BeadRef {
                id: r.get(0)?,
                title: r.get(1)?,
                status: r.get(2)?,
            })
        })
        .optional()?)
}

fn count(conn: &Connection, sql: &str) -> Result<i64> {
    Ok(conn.prepare_cached(sql)?.query_row([], |r| r.get(0))?)
}

/// The summary bar.
pub fn summary(town: &Town, conn: &Connection, agents: &[AgentInfo]) -> Result<Summary> {
    let mayor = agents.iter().find(|a| a.role == "mayor");
    let agents_by_state = agents::STATES
        .iter()
        .map(|s| StateCount {
            state: s,
            count: agents.iter().filter(|a| a.state == *s).count(),
        })
        .collect();
    Ok(Summary {
        supervisor: daemon::running(town),
        mayor: mayor.map(|m| m.state.clone()),
        mayor_alive: mayor.is_some_and(|m| m.alive),
        agents_total: agents.len(),
        agents_by_state,
        open_convoys: count(
            conn,
            "SELECT count(*) FROM issues WHERE issue_type = 'convoy' AND status != 'closed'",
        )?,
        mq_depth: count(
            conn,
            "SELECT count(*) FROM issues WHERE issue_type = 'merge-request' AND status IN ('open', 'in_progress')",
        )?,
        escalations: count(
            conn,
            "SELECT count(*) FROM mail WHERE kind = 'escalation' AND unread = 1",
        )?,
        alerts: alerts(conn, agents)?,
    })
}

/// Stuck and dead agents, hooks held by dead sessions, rejected merges
/// whose bead has no newer merge request yet.
fn alerts(conn: &Connection, agents: &[AgentInfo]) -> Result<Vec<Alert>> {
    let mut out = Vec::new();
    for a in agents {
        let href = format!("/agent?addr={}", a.address);
        let holds = a
            .hooked
            .as_ref()
            .map(|b| format!(", still holds {} on its hook", b.id))
            .unwrap_or_default();
        match a.state.as_str() {
            "stuck" => out.push(Alert {
                kind: "stuck",
                subject: a.address.clone(),
                text: format!("{} is stuck (escalated){holds}", a.address),
                href,
            }),
            "dead" => out.push(Alert {
                kind: "dead",
                subject: a.address.clone(),
                text: format!("{} is dead (session gone){holds}", a.address),
                href,
            }),
            "working" | "exiting" if !a.alive && a.hooked.is_some() => out.push(Alert {
                kind: "dead-hook",
                subject: a.address.clone(),
                text: format!("{}'s session is gone{holds}", a.address),
                href,
            }),
            _ => {}
        }
    }
    let mut st = conn.prepare_cached(
        "SELECT m.id, json_extract(m.metadata, '$.bead'), m.close_reason FROM issues m
         WHERE m.issue_type = 'merge-request' AND m.status = 'closed' AND m.close_reason LIKE 'rejected%'
           AND EXISTS (SELECT 1 FROM issues b WHERE b.id = json_extract(m.metadata, '$.bead') AND b.status != 'closed')
           AND NOT EXISTS (SELECT 1 FROM deps d JOIN issues n ON n.id = d.issue_id
                           WHERE d.depends_on = json_extract(m.metadata, '$.bead') AND d.type = 'related'
                             AND n.issue_type = 'merge-request' AND n.rowid > m.rowid)
         ORDER BY m.rowid DESC LIMIT 20",
    )?;
    for r in st.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, Option<String>>(1)?,
            r.get::<_, Option<String>>(2)?,
        ))
    })? {
        let (id, bead, why) = r?;
        out.push(Alert {
            kind: "rejected",
            text: format!(
                "merge of {} was {}",
                bead.as_deref().unwrap_or("?"),
                why.as_deref().unwrap_or("rejected")
            ),
            subject: id,
            href: "/mq".into(),
        });
    }
    Ok(out)
}

/// Open convoys (and the latest closed ones) with their progress.
pub fn convoys(conn: &Connection) -> Result<Vec<convoy::ConvoySummary>> {
    let mut all = convoy::list(conn, true)?;
    // Open first, then the 20 most recent closed ones.
    all.sort_by(|a, b| {
        (a.status == "closed")
            .cmp(&(b.status == "closed"))
            .then_with(|| b.created_at.cmp(&a.created_at))
    });
    let open = all.iter().filter(|c| c.status != "closed").count();
    all.truncate(open + 20);
    Ok(all)
}

#[derive(Debug, Clone, Serialize)]
pub struct MoleculeRow {
    pub id: String,
    pub title: String,
    pub status: String,
    pub formula: Option<String>,
    pub total: i64,
    pub done: i64,
    pub working: i64,
    pub blocked: i64,
    pub assignee: Option<String>,
}

/// Molecules: open ones first, then the most recently updated closed ones.
pub fn molecules(conn: &Connection, limit: usize) -> Result<Vec<MoleculeRow>> {
    let mut st = conn.prepare_cached(
        "SELECT id, title, status, json_extract(metadata, '$.formula'), assignee FROM issues
         WHERE issue_type = 'molecule' ORDER BY status = 'closed', updated_at DESC LIMIT ?1",
    )?;
    type Head = (String, String, String, Option<String>, Option<String>);
    let heads: Vec<Head> = st
        .query_map([limit as i64], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })?
        .collect::<rusqlite::Result<_>>()?;
    let mut counts = conn.prepare_cached(
        "SELECT count(*), coalesce(sum(status = 'closed'), 0),
                coalesce(sum(status IN ('in_progress', 'hooked')), 0), coalesce(sum(status = 'blocked'), 0)
         FROM issues WHERE id > ?1 AND id < ?2",
    )?;
    let mut out = Vec::with_capacity(heads.len());
    for (id, title, status, formula, assignee) in heads {
        let (lo, hi) = leases::step_range(&id);
        let (total, done, working, blocked) = counts.query_row(params![lo, hi], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })?;
        out.push(MoleculeRow {
            id,
            title,
            status,
            formula,
            total,
            done,
            working,
            blocked,
            assignee,
        });
    }
    Ok(out)
}

/// One molecule: its steps (checklist order) and the edges of its DAG.
#[derive(Debug, Clone, Serialize)]
pub struct MoleculeDetail {
    pub view: crate::molecule::MolView,
    pub dag: super::dag::Svg,
}

pub fn molecule(store: &Store, id: &str) -> Result<MoleculeDetail> {
    let view = crate::molecule::current(store, Some(id), store.actor())?;
    let edges = step_edges(store.conn(), &view)?;
    let dag = super::dag::layout(&view.steps, &edges);
    Ok(MoleculeDetail { view, dag })
}

/// Edges among a molecule's steps: `(before, after, kind)`.
fn step_edges(
    conn: &Connection,
    v: &crate::molecule::MolView,
) -> Result<Vec<(usize, usize, String)>> {
    let index: HashMap<&str, usize> = v
        .steps
        .iter()
        .enumerate()
        .map(|(i, s)| (s.id.as_str(), i))
        .collect();
    let (lo, hi) = leases::step_range(&v.root.id);
    let mut st = conn.prepare_cached(
        "SELECT issue_id, depends_on, type FROM deps WHERE issue_id > ?1 AND issue_id < ?2
           AND type IN ('blocks', 'conditional-blocks', 'waits-for', 'parent-child')",
    )?;
    let mut out = Vec::new();
    for r in st.query_map(params![lo, hi], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
        ))
    })? {
        let (from, to, kind) = r?;
        if let (Some(&a), Some(&b)) = (index.get(to.as_str()), index.get(from.as_str())) {
            // `from` depends on `to`: `to` comes first (a parent before its children).
            out.push((a, b, kind));
        }
    }
    Ok(out)
}

/// Convoy drill-down.
pub fn convoy(conn: &Connection, prefix: &str, id: &str) -> Result<convoy::ConvoyStatus> {
    convoy::status(conn, prefix, id).map_err(|e| match e {
        crate::coord::CoordError::Store(crate::store::StoreError::NotFound { .. }) => {
            DashError::NotFound(format!("no convoy {id}"))
        }
        e => e.into(),
    })
}

#[derive(Debug, Clone, Serialize)]
pub struct MqRow {
    #[serde(flatten)]
    pub mr: mq::MergeRequest,
    pub last_failure: Option<String>,
    pub can_retry: bool,
    pub can_reject: bool,
}

/// The queue in processing order, then the latest closed requests.
pub fn merge_queue(conn: &Connection, closed: usize) -> Result<Vec<MqRow>> {
    let all = mq::list(conn, None, true)?;
    let open = all.iter().filter(|m| m.status != "closed").count();
    let mut out = Vec::new();
    for mr in all.into_iter().take(open + closed) {
        let last_failure = mq::runs(conn, &mr.id)?
            .into_iter()
            .rev()
            .find_map(|r| r.failure);
        let merged = mr.close_reason.as_deref() == Some(convoy::MERGED);
        out.push(MqRow {
            can_retry: mr.status != "open" && !merged,
            can_reject: mr.status != "closed",
            last_failure,
            mr,
        });
    }
    Ok(out)
}

#[derive(Debug, Clone, Serialize)]
pub struct Mailbox {
    pub address: String,
    pub total: i64,
    pub unread: i64,
}

/// Every address that has mail, with counts.
pub fn mailboxes(conn: &Connection) -> Result<Vec<Mailbox>> {
    let mut st = conn.prepare_cached(
        "SELECT recipient, count(*), sum(unread) FROM mail GROUP BY recipient ORDER BY recipient",
    )?;
    let rows = st.query_map([], |r| {
        Ok(Mailbox {
            address: r.get(0)?,
            total: r.get(1)?,
            unread: r.get(2)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

pub fn inbox(conn: &Connection, address: &str) -> Result<mail::Inbox> {
    Ok(mail::inbox(conn, address, false, 100)?)
}

/// The newest `n` story events, oldest first (the index on `kind` answers it).
pub fn recent_feed(conn: &Connection, n: usize) -> Result<Vec<feed::FeedEvent>> {
    Ok(feed::recent(conn, n)?)
}

/// Rigs (for the sling form).
pub fn rigs(store: &Store) -> Result<Vec<String>> {
    Ok(crate::town::rigs::list(store)?
        .into_iter()
        .map(|r| r.name)
        .collect())
}

/// Open beads that can be slung (for the sling form's suggestions).
pub fn slingable(conn: &Connection, limit: usize) -> Result<Vec<BeadRef>> {
    let mut st = conn.prepare_cached(
        "SELECT id, title, status FROM issues WHERE status = 'open' AND ephemeral = 0
           AND issue_type NOT IN ('convoy', 'merge-request', 'message', 'gate')
           AND id NOT IN (SELECT issue_id FROM deps WHERE type = 'parent-child')
         ORDER BY priority, created_at LIMIT ?1",
    )?;
    let rows = st.query_map([limit as i64], |r| {
        Ok(BeadRef {
            id: r.get(0)?,
            title: r.get(1)?,
            status: r.get(2)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// The last event id: where a page's live stream starts.
pub fn last_event_id(conn: &Connection) -> Result<i64> {
    Ok(feed::last_event_id(conn)?)
}
