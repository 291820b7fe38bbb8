//! The beads ledger: SQLite store, issues, dependencies, events, ready set,
//! JSONL export/import and git sync. See `docs/store.md`.
//!
//! Every state change runs in one `BEGIN IMMEDIATE` transaction ([`Store::write`])
//! that also appends its event rows and keeps the materialised ready set
//! current. Reads go straight to the connection.

pub mod agents;
pub mod deps;
pub mod error;
pub mod events;
pub mod ids;
pub mod issues;
pub mod jsonl;
pub mod leases;
pub mod ready;
pub mod schema;
pub mod sync;
pub mod types;

pub use error::{Result, StoreError};
pub use issues::{IssueFilter, NewIssue, Update};
pub use types::*;

use rusqlite::{Connection, OptionalExtension, TransactionBehavior};
use std::path::{Path, PathBuf};

pub const DB_FILE: &str = "beads.db";
pub const CONFIG_FILE: &str = "config.json";
pub const JSONL_FILE: &str = "issues.jsonl";

/// `.beads/config.json`: committed, shared by every clone.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Config {
    pub prefix: String,
}

pub struct Store {
    conn: Connection,
    dir: PathBuf,
    prefix: String,
    actor: String,
}

/// Who is acting: `BD_ACTOR`, else `GT_ROLE`, else `$USER`.
pub fn default_actor() -> String {
    for var in ["BD_ACTOR", "GT_ROLE", "USER", "USERNAME"] {
        if let Ok(v) = std::env::var(var) {
            if !v.trim().is_empty() {
                return v.trim().to_string();
            }
        }
    }
    "unknown".to_string()
}

impl Store {
    /// Find the `.beads` directory: `$BEADS_DIR`, then `$GT_TOWN/.beads`, then
    /// the nearest `.beads/` from `cwd` upwards.
    pub fn find_dir(cwd: &Path) -> Result<PathBuf> {
        if let Some(d) = std::env::var_os("BEADS_DIR").filter(|d| !d.is_empty()) {
            return Ok(PathBuf::from(d));
        }
        if let Some(t) = std::env::var_os("GT_TOWN").filter(|d| !d.is_empty()) {
            let d = PathBuf::from(t).join(".beads");
            if d.is_dir() {
                return Ok(d);
            }
        }
        let mut cur = Some(cwd);
        while let Some(dir) = cur {
            let d = dir.join(".beads");
            if d.join(CONFIG_FILE).is_file() || d.join(DB_FILE).is_file() {
                return Ok(d);
            }
            cur = dir.parent();
        }
        Err(StoreError::NoStore {
            cwd: cwd.to_path_buf(),
        })
    }

    /// Open the store found from `cwd` (see [`Store::find_dir`]).
    pub fn discover(cwd: &Path) -> Result<Store> {
        Store::open(&Store::find_dir(cwd)?)
    }

    /// Create `.beads/` inside `root` (a project directory) and open it.
    pub fn init(root: &Path, prefix: &str) -> Result<Store> {
        Store::init_dir(&root.join(".beads"), prefix)
    }

    /// Create a store in the `.beads` directory `dir` itself.
    pub fn init_dir(dir: &Path, prefix: &str) -> Result<Store> {
        if !ids::valid_prefix(prefix) {
            return Err(StoreError::BadPrefix(prefix.to_string()));
        }
        if dir.join(DB_FILE).exists() || dir.join(CONFIG_FILE).exists() {
            return Err(StoreError::AlreadyInitialized(dir.to_path_buf()));
        }
        std::fs::create_dir_all(dir).map_err(|e| StoreError::io(dir, e))?;
        let cfg = Config {
            prefix: prefix.to_string(),
        };
        let text = serde_json::to_string_pretty(&cfg)? + "\n";
        std::fs::write(dir.join(CONFIG_FILE), text).map_err(|e| StoreError::io(dir, e))?;
        std::fs::write(
            dir.join(".gitignore"),
            "# local state; issues.jsonl and config.json are the shared ledger\nbeads.db\nbeads.db-*\n*.lock\nexport-state.json\n",
        )
        .map_err(|e| StoreError::io(dir, e))?;
        Store::open(dir)
    }

    /// Open the store in the `.beads` directory `dir`. A missing database is
    /// rebuilt from `issues.jsonl` (fresh clone); a JSONL changed by git is
    /// imported.
    pub fn open(dir: &Path) -> Result<Store> {
        let mut store = Store::open_raw(dir)?;
        sync::ensure_imported(&mut store)?;
        Ok(store)
    }

    /// Open without the JSONL import check (benchmarks, import itself).
    pub fn open_raw(dir: &Path) -> Result<Store> {
        let cfg_path = dir.join(CONFIG_FILE);
        let db_path = dir.join(DB_FILE);
        if !cfg_path.is_file() && !db_path.is_file() {
            return Err(StoreError::NoStore {
                cwd: dir.to_path_buf(),
            });
        }
        let mut conn = Connection::open(&db_path)?;
        conn.busy_timeout(std::time::Duration::from_secs(60))?;
        // WAL lets readers run beside the one writer.
        let _mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
        let sync_mode = std::env::var("BD_SYNCHRONOUS").unwrap_or_else(|_| "FULL".into());
        let sync_mode = match sync_mode.to_ascii_uppercase().as_str() {
            "NORMAL" => "NORMAL",
            "OFF" => "OFF",
            _ => "FULL",
        };
        conn.execute_batch(&format!(
            "PRAGMA synchronous = {sync_mode}; PRAGMA foreign_keys = ON; PRAGMA temp_store = MEMORY; PRAGMA cache_size = -65536;"
        ))?;
        schema::migrate(&mut conn, &db_path)?;
        let prefix = match read_config(dir)? {
            Some(cfg) => cfg.prefix,
            None => conn
                .query_row("SELECT value FROM meta WHERE key = 'prefix'", [], |r| {
                    r.get(0)
                })
                .optional()?
                .unwrap_or_else(|| "bd".to_string()),
        };
        Ok(Store {
            conn,
            dir: dir.to_path_buf(),
            prefix,
            actor: default_actor(),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
    pub fn prefix(&self) -> &str {
        &self.prefix
    }
    pub fn actor(&self) -> &str {
        &self.actor
    }
    pub fn set_actor(&mut self, actor: impl Into<String>) {
        let a: String = actor.into();
        if !a.trim().is_empty() {
            self.actor = a.trim().to_string();
        }
    }
    pub fn jsonl_path(&self) -> PathBuf {
        self.dir.join(JSONL_FILE)
    }
    /// Read access for queries.
    pub fn conn(&self) -> &Connection {
        &self.conn
    }

    /// Run `f` in one `BEGIN IMMEDIATE` transaction. Commits on `Ok`, rolls
    /// back on `Err`. Bumps the data version that JSONL export watches.
    pub fn write<T, E: From<StoreError>>(
        &mut self,
        f: impl FnOnce(&mut Tx<'_>) -> std::result::Result<T, E>,
    ) -> std::result::Result<T, E> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(StoreError::from)?;
        let mut t = Tx {
            tx,
            actor: self.actor.clone(),
            now: ids::now(),
            prefix: self.prefix.clone(),
        };
        let out = f(&mut t)?;
        t.tx.execute(
            "INSERT INTO meta (key, value) VALUES ('data_version', '1')
             ON CONFLICT(key) DO UPDATE SET value = CAST(value AS INTEGER) + 1",
            [],
        )
        .map_err(StoreError::from)?;
        t.tx.commit().map_err(StoreError::from)?;
        Ok(out)
    }

    /// The counter bumped by every write transaction.
    pub fn data_version(&self) -> Result<i64> {
        data_version(&self.conn)
    }
}

pub(crate) fn data_version(conn: &Connection) -> Result<i64> {
    Ok(conn
        .query_row(
            "SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'data_version'",
            [],
            |r| r.get(0),
        )
        .optional()?
        .unwrap_or(0))
}

pub fn read_config(dir: &Path) -> Result<Option<Config>> {
    let path = dir.join(CONFIG_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => serde_json::from_str(&text).map(Some).map_err(|e| {
            StoreError::Invalid(format!(
                "{} is not valid: {e}; it should look like {{\"prefix\": \"bd\"}}",
                path.display()
            ))
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(StoreError::io(path, e)),
    }
}

/// A write transaction: the connection plus who acts and when.
pub struct Tx<'a> {
    pub(crate) tx: rusqlite::Transaction<'a>,
    pub actor: String,
    pub now: String,
    pub prefix: String,
}

impl Tx<'_> {
    pub fn conn(&self) -> &Connection {
        &self.tx
    }

    /// Append one event row.
    pub fn event(
        &self,
        issue_id: &str,
        kind: &str,
        field: Option<&str>,
        old: Option<&str>,
        new: Option<&str>,
    ) -> Result<()> {
        let mut st = self.tx.prepare_cached(
            "INSERT INTO events (issue_id, at, actor, kind, field, old, new) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )?;
        st.execute(rusqlite::params![
            issue_id, self.now, self.actor, kind, field, old, new
        ])?;
        Ok(())
    }
}
