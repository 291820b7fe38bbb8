//! Versioned schema migrations. `PRAGMA user_version` holds the number of
//! migrations applied. A database with a higher version than this build knows
//! is refused (see [`StoreError::SchemaTooNew`]).

use super::error::{Result, StoreError};
use rusqlite::{Connection, TransactionBehavior};
use std::path::Path;

/// Migration `i` takes the schema from version `i` to `i + 1`. Append only;
/// never edit a released migration.
pub const MIGRATIONS: &[&str] = &[
    // 1: the core ledger.
    r#"
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE issues (
    id                  TEXT PRIMARY KEY,
    title               TEXT NOT NULL,
    description         TEXT NOT NULL DEFAULT '',
    design              TEXT NOT NULL DEFAULT '',
    acceptance_criteria TEXT NOT NULL DEFAULT '',
    notes               TEXT NOT NULL DEFAULT '',
    status              TEXT NOT NULL DEFAULT 'open',
    issue_type          TEXT NOT NULL DEFAULT 'task',
    priority            INTEGER NOT NULL DEFAULT 2 CHECK (priority BETWEEN 0 AND 4),
    assignee            TEXT,
    metadata            TEXT NOT NULL DEFAULT '{}',
    ephemeral           INTEGER NOT NULL DEFAULT 0,
    created_at          TEXT NOT NULL,
    updated_at          TEXT NOT NULL,
    closed_at           TEXT,
    close_reason        TEXT,
    created_by          TEXT NOT NULL DEFAULT '',
    -- Materialised readiness, maintained incrementally by store::ready.
    open_blockers       INTEGER NOT NULL DEFAULT 0,
    waits_unsat         INTEGER NOT NULL DEFAULT 0,
    anc_blocked         INTEGER NOT NULL DEFAULT 0,
    blocked             INTEGER NOT NULL DEFAULT 0,
    children_open       INTEGER NOT NULL DEFAULT 0,
    children_closed     INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX issues_ready ON issues (priority, created_at, id)
    WHERE status = 'open' AND blocked = 0 AND ephemeral = 0;
CREATE INDEX issues_status ON issues (status, priority);
CREATE INDEX issues_assignee ON issues (assignee) WHERE assignee IS NOT NULL;
CREATE INDEX issues_ephemeral ON issues (ephemeral) WHERE ephemeral = 1;

CREATE TABLE deps (
    issue_id   TEXT NOT NULL REFERENCES issues(id) ON DELETE CASCADE,
    depends_on TEXT NOT NULL REFERENCES issues(id) ON DELETE CASCADE,
    type       TEXT NOT NULL,
    metadata   TEXT,
    created_at TEXT NOT NULL,
    created_by TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (issue_id, depends_on, type)
) WITHOUT ROWID;
CREATE INDEX deps_target ON deps (depends_on, type, issue_id);

CREATE TABLE labels (
    issue_id TEXT NOT NULL REFERENCES issues(id) ON DELETE CASCADE,
    label    TEXT NOT NULL,
    PRIMARY KEY (issue_id, label)
) WITHOUT ROWID;
CREATE INDEX labels_label ON labels (label, issue_id);

CREATE TABLE comments (
    id         INTEGER PRIMARY KEY,
    issue_id   TEXT NOT NULL REFERENCES issues(id) ON DELETE CASCADE,
    author     TEXT NOT NULL,
    text       TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX comments_issue ON comments (issue_id);

-- Append-only audit log. No foreign key: events outlive deleted issues.
CREATE TABLE events (
    id       INTEGER PRIMARY KEY,
    issue_id TEXT NOT NULL,
    at       TEXT NOT NULL,
    actor    TEXT NOT NULL,
    kind     TEXT NOT NULL,
    field    TEXT,
    old      TEXT,
    new      TEXT
);
CREATE INDEX events_issue ON events (issue_id, id);

-- Deletions of persistent issues, exported so that a merge can carry them.
CREATE TABLE tombstones (
    id         TEXT PRIMARY KEY,
    deleted_at TEXT NOT NULL,
    deleted_by TEXT NOT NULL DEFAULT ''
) WITHOUT ROWID;
"#,
    // 2: runtime (leases, agents, rigs)
    r#"
-- One row per step the runtime has ever leased. A lease is (step, generation):
-- a close or heartbeat that carries an older generation is refused.
CREATE TABLE leases (
    step_id      TEXT PRIMARY KEY,
    generation   INTEGER NOT NULL DEFAULT 0,
    attempts     INTEGER NOT NULL DEFAULT 0,
    holder       TEXT,
    agent        TEXT,
    pid          INTEGER,
    pid_start    INTEGER,
    status_file  TEXT,
    log_path     TEXT,
    worktree     TEXT,
    leased_at    TEXT,
    heartbeat_at TEXT,
    not_before   TEXT,
    last_error   TEXT
) WITHOUT ROWID;

-- Agents (polecats, mayor, crew): persistent identity plus the current session.
CREATE TABLE agents (
    name        TEXT NOT NULL,
    rig         TEXT NOT NULL DEFAULT '',
    role        TEXT NOT NULL,
    state       TEXT NOT NULL CHECK (state IN ('spawning', 'working', 'idle', 'exiting', 'stuck', 'dead')),
    generation  INTEGER NOT NULL DEFAULT 0,
    pid         INTEGER,
    pid_start   INTEGER,
    worktree    TEXT,
    branch      TEXT,
    hooked_bead TEXT,
    agent       TEXT,
    session     TEXT,
    log_path    TEXT,
    respawns    INTEGER NOT NULL DEFAULT 0,
    updated_at  TEXT NOT NULL,
    PRIMARY KEY (rig, name)
) WITHOUT ROWID;
CREATE INDEX agents_hooked ON agents (hooked_bead) WHERE hooked_bead IS NOT NULL;

-- Rigs of a town: a project managed as a bare repository.
CREATE TABLE rigs (
    name           TEXT PRIMARY KEY,
    url            TEXT NOT NULL,
    repo           TEXT NOT NULL,
    prefix         TEXT NOT NULL,
    default_branch TEXT NOT NULL,
    created_at     TEXT NOT NULL
) WITHOUT ROWID;
"#,
    // 3: coordination (mail, nudges, merge queue). Independent of the
    // runtime's tables.
    r#"
-- Mail: one row per recipient (a group send fans out). `unread` is a column
-- so that the inbox index (recipient, unread, id) answers `gt mail inbox`
-- and `gt mail check` without scanning.
CREATE TABLE mail (
    id             INTEGER PRIMARY KEY,
    thread         INTEGER,
    reply_to       INTEGER,
    sender         TEXT NOT NULL,
    recipient      TEXT NOT NULL,
    subject        TEXT NOT NULL,
    body           TEXT NOT NULL DEFAULT '',
    kind           TEXT NOT NULL DEFAULT 'notification',
    sender_gen     INTEGER,
    recipient_gen  INTEGER,
    about          TEXT,
    about_gen      INTEGER,
    created_at     TEXT NOT NULL,
    unread         INTEGER NOT NULL DEFAULT 1,
    read_at        TEXT
);
CREATE INDEX mail_inbox ON mail (recipient, unread, id);
CREATE INDEX mail_thread ON mail (thread, id) WHERE thread IS NOT NULL;

-- The latest session generation seen for each agent address (written by
-- the runtime at spawn through coord::mail::set_generation, and by every
-- message a generation-carrying sender writes).
CREATE TABLE agent_generations (
    address    TEXT PRIMARY KEY,
    generation INTEGER NOT NULL,
    updated_at TEXT NOT NULL
) WITHOUT ROWID;

-- Nudges queued for an agent's next prime (or confirmed tmux delivery).
CREATE TABLE nudges (
    id          INTEGER PRIMARY KEY,
    target      TEXT NOT NULL,
    sender      TEXT NOT NULL,
    message     TEXT NOT NULL,
    sender_gen  INTEGER,
    target_gen  INTEGER,
    created_at  TEXT NOT NULL,
    state       TEXT NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'delivered', 'expired')),
    attempts    INTEGER NOT NULL DEFAULT 0,
    last_error  TEXT,
    delivered_at TEXT,
    delivered_by TEXT
);
CREATE INDEX nudges_pending ON nudges (target, state, id);

-- One row per refinery attempt at a merge request (the MR itself is an
-- issue of type merge-request). `candidate` is the commit that would become
-- the target tip: written before the fast-forward, so a refinery that dies
-- between the git update and the store transaction can finish the
-- bookkeeping on its next run.
CREATE TABLE mq_runs (
    id          INTEGER PRIMARY KEY,
    mr_id       TEXT NOT NULL,
    rig         TEXT NOT NULL,
    started_at  TEXT NOT NULL,
    finished_at TEXT,
    outcome     TEXT,
    failure     TEXT,
    command     TEXT,
    output_tail TEXT,
    base        TEXT,
    candidate   TEXT
);
CREATE INDEX mq_runs_mr ON mq_runs (mr_id, id);
CREATE INDEX mq_runs_rig ON mq_runs (rig, id);
CREATE INDEX events_kind ON events (kind, id);
"#,
    // 4: supervisor: who owns an agent identity (the process that claimed it
    // in the transaction that leased its work), and typed event payloads.
    r#"
ALTER TABLE agents ADD COLUMN owner_pid INTEGER;
ALTER TABLE agents ADD COLUMN owner_start INTEGER;
ALTER TABLE events ADD COLUMN payload TEXT;
"#,
    // 5: a molecule's ready steps by id range (the scheduler's query), so a
    // run costs O(ready steps) whatever else the store holds.
    r#"
CREATE INDEX issues_open_unblocked ON issues (id) WHERE status = 'open' AND blocked = 0;
"#,
    // 6: recovery and O(change) export. `db_id` names this database, so an
    // export state written for another database (deleted, rebuilt, replaced)
    // is never trusted. `jsonl_pending` logs every issue whose JSONL line may
    // have changed, filled by triggers so that no writer can forget it; the
    // export rewrites only those lines.
    r#"
INSERT OR IGNORE INTO meta (key, value) VALUES ('db_id', lower(hex(randomblob(16))));
CREATE TABLE jsonl_pending (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id  TEXT NOT NULL
);
CREATE TRIGGER jsonl_issue_ins AFTER INSERT ON issues WHEN NEW.ephemeral = 0
BEGIN INSERT INTO jsonl_pending (id) VALUES (NEW.id); END;
CREATE TRIGGER jsonl_issue_upd AFTER UPDATE OF id, title, description, design, acceptance_criteria,
    notes, status, issue_type, priority, assignee, metadata, ephemeral, created_at, updated_at,
    closed_at, close_reason, created_by ON issues WHEN NEW.ephemeral = 0 OR OLD.ephemeral = 0
BEGIN INSERT INTO jsonl_pending (id) VALUES (NEW.id); INSERT INTO jsonl_pending (id) SELECT OLD.id WHERE OLD.id <> NEW.id; END;
CREATE TRIGGER jsonl_issue_del AFTER DELETE ON issues WHEN OLD.ephemeral = 0
BEGIN INSERT INTO jsonl_pending (id) VALUES (OLD.id); END;
CREATE TRIGGER jsonl_dep_ins AFTER INSERT ON deps
BEGIN INSERT INTO jsonl_pending (id) VALUES (NEW.issue_id); END;
CREATE TRIGGER jsonl_dep_upd AFTER UPDATE ON deps
BEGIN INSERT INTO jsonl_pending (id) VALUES (NEW.issue_id); INSERT INTO jsonl_pending (id) SELECT OLD.issue_id WHERE OLD.issue_id <> NEW.issue_id; END;
CREATE TRIGGER jsonl_dep_del AFTER DELETE ON deps
BEGIN INSERT INTO jsonl_pending (id) VALUES (OLD.issue_id); END;
CREATE TRIGGER jsonl_label_ins AFTER INSERT ON labels
BEGIN INSERT INTO jsonl_pending (id) VALUES (NEW.issue_id); END;
CREATE TRIGGER jsonl_label_del AFTER DELETE ON labels
BEGIN INSERT INTO jsonl_pending (id) VALUES (OLD.issue_id); END;
CREATE TRIGGER jsonl_comment_ins AFTER INSERT ON comments
BEGIN INSERT INTO jsonl_pending (id) VALUES (NEW.issue_id); END;
CREATE TRIGGER jsonl_comment_upd AFTER UPDATE ON comments
BEGIN INSERT INTO jsonl_pending (id) VALUES (NEW.issue_id); END;
CREATE TRIGGER jsonl_comment_del AFTER DELETE ON comments
BEGIN INSERT INTO jsonl_pending (id) VALUES (OLD.issue_id); END;
CREATE TRIGGER jsonl_tomb_ins AFTER INSERT ON tombstones
BEGIN INSERT INTO jsonl_pending (id) VALUES (NEW.id); END;
CREATE TRIGGER jsonl_tomb_upd AFTER UPDATE ON tombstones
BEGIN INSERT INTO jsonl_pending (id) VALUES (NEW.id); END;
CREATE TRIGGER jsonl_tomb_del AFTER DELETE ON tombstones
BEGIN INSERT INTO jsonl_pending (id) VALUES (OLD.id); END;
"#,
    // 7: archived mail leaves the inbox but stays readable (`gt mail archive`).
    r#"
ALTER TABLE mail ADD COLUMN archived_at TEXT;
"#,
];

pub fn latest() -> i64 {
    MIGRATIONS.len() as i64
}

/// Bring `conn` up to the latest schema, or refuse a newer one.
pub fn migrate(conn: &mut Connection, path: &Path) -> Result<()> {
    let current: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    check_version(current, path)?;
    if current == latest() {
        return Ok(());
    }
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    // Someone else may have migrated while we waited for the lock.
    let current: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    check_version(current, path)?;
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        tx.execute_batch(sql)?;
        tx.execute_batch(&format!("PRAGMA user_version = {}", i + 1))?;
    }
    tx.commit()?;
    Ok(())
}

fn check_version(found: i64, path: &Path) -> Result<()> {
    if found > latest() {
        return Err(StoreError::SchemaTooNew {
            path: path.to_path_buf(),
            found,
            supported: latest(),
        });
    }
    Ok(())
}
