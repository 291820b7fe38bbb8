//! The beads ledger: SQLite store, issues, dependencies, events, ready set,
//! JSONL export/import and git sync. See `docs/store.md`.
//!
//! Every state change runs in one `BEGIN IMMEDIATE` transaction ([`Store::write`])
//! that also appends its event rows and keeps the materialised ready set
//! current. Reads go straight to the connection.

pub mod agents;
pub mod deps;
pub mod details;
pub mod error;
pub mod events;
pub mod gitsync;
pub mod ids;
pub mod issues;
pub mod jsonl;
pub mod leases;
pub mod merge;
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
    /// Opened with `--readonly`, or the file system refuses writes.
    readonly: bool,
    /// (device, inode) of the database file when opened: a write checks it
    /// is still there, so a deleted store errors instead of "succeeding".
    db_file: Option<(u64, u64)>,
    /// The `jsonl_pending` sequence this process last saw exported.
    pub(crate) exported_seq: Option<i64>,
    /// Writes leave the JSONL to [`Store::flush_export`] (or drop).
    defer_export: bool,
    /// An export after a write failed; reported by [`Store::flush_export`].
    export_error: Option<StoreError>,
}

/// How to open a store.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Access {
    #[default]
    ReadWrite,
    /// Serve reads only; never create, migrate, import or export.
    ReadOnly,
}

/// True when this process may write in `path` (the file system is not
/// read-only and permissions allow it).
fn writable(path: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let Ok(c) = std::ffi::CString::new(path.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: `c` is a valid NUL-terminated path for the duration of the call.
    unsafe { libc::access(c.as_ptr(), libc::W_OK) == 0 }
}

fn file_id(path: &Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

/// Error if the database file was deleted or replaced under us.
fn check_present(dir: &Path, opened: Option<(u64, u64)>) -> Result<()> {
    let path = dir.join(DB_FILE);
    match opened {
        Some(id) if file_id(&path) != Some(id) => Err(StoreError::Vanished { path }),
        _ => Ok(()),
    }
}

/// SQLite says the file is not a database, or is damaged.
fn is_corrupt(e: &StoreError) -> bool {
    matches!(e, StoreError::Sqlite(rusqlite::Error::SqliteFailure(f, _))
        if matches!(f.code, rusqlite::ErrorCode::NotADatabase | rusqlite::ErrorCode::DatabaseCorrupt))
}

/// Move a damaged database aside (never delete: it may hold local state
/// worth inspecting) so that a new one can be rebuilt from the JSONL.
fn quarantine(db_path: &Path, why: &StoreError) -> Result<PathBuf> {
    let aside = db_path.with_file_name(format!("{DB_FILE}.corrupt-{}", ids::now_nanos()));
    std::fs::rename(db_path, &aside).map_err(|e| StoreError::io(db_path, e))?;
    for ext in ["-wal", "-shm"] {
        let side = PathBuf::from(format!("{}{ext}", db_path.display()));
        let _ = std::fs::rename(&side, format!("{}{ext}", aside.display()));
    }
    eprintln!(
        "beads: {} is damaged ({why}); moved it to {} and rebuilding from issues.jsonl",
        db_path.display(),
        aside.display()
    );
    Ok(aside)
}

fn sqlite_uri(path: &Path, params: &str) -> String {
    let p = path.display().to_string();
    let p = p
        .replace('%', "%25")
        .replace('?', "%3f")
        .replace('#', "%23");
    format!("file:{p}?{params}")
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
    /// Find the `.beads` directory: `$BEADS_DIR`, then the directory of
    /// beads' `$BEADS_DB` (the database file, as beads-ui sets it), then
    /// `$GT_TOWN/.beads`, then the nearest `.beads/` from `cwd` upwards.
    pub fn find_dir(cwd: &Path) -> Result<PathBuf> {
        if let Some(d) = std::env::var_os("BEADS_DIR").filter(|d| !d.is_empty()) {
            return Ok(PathBuf::from(d));
        }
        if let Some(db) = std::env::var_os("BEADS_DB").filter(|d| !d.is_empty()) {
            let db = cwd.join(db);
            if let Some(d) = db.parent().filter(|d| d.is_dir()) {
                return Ok(d.to_path_buf());
            }
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

    /// [`Store::discover`] with a chosen [`Access`].
    pub fn discover_with(cwd: &Path, access: Access) -> Result<Store> {
        Store::open_with(&Store::find_dir(cwd)?, access)
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
            "# local state; issues.jsonl and config.json are the shared ledger\nbeads.db\nbeads.db-*\nbeads.db.*\n*.lock\n*.tmp\nexport-state.json\n",
        )
        .map_err(|e| StoreError::io(dir, e))?;
        Store::open(dir)
    }

    /// Open the store in the `.beads` directory `dir`. A missing, empty or
    /// damaged database is rebuilt from `issues.jsonl`; a JSONL changed by
    /// git is imported; an export a crash interrupted is finished. On a
    /// read-only file system the store opens read-only.
    pub fn open(dir: &Path) -> Result<Store> {
        Store::open_with(dir, Access::ReadWrite)
    }

    /// [`Store::open`] with a chosen [`Access`].
    pub fn open_with(dir: &Path, access: Access) -> Result<Store> {
        let db_path = dir.join(DB_FILE);
        let target = if db_path.exists() { &db_path } else { dir };
        if access == Access::ReadOnly || (dir.is_dir() && !writable(target)) {
            return Store::open_readonly(dir);
        }
        let mut store = Store::open_raw(dir)?;
        sync::catch_up(&mut store)?;
        Ok(store)
    }

    /// Open without the JSONL catch-up (benchmarks, import itself).
    pub fn open_raw(dir: &Path) -> Result<Store> {
        let db_path = dir.join(DB_FILE);
        if !dir.join(CONFIG_FILE).is_file() && !db_path.is_file() {
            return Err(StoreError::NoStore {
                cwd: dir.to_path_buf(),
            });
        }
        let conn = match Store::open_conn(&db_path) {
            Err(e) if is_corrupt(&e) => {
                quarantine(&db_path, &e)?;
                Store::open_conn(&db_path)?
            }
            other => other?,
        };
        Store::from_conn(conn, dir, false)
    }

    /// A read-only store: the database opened read-only (immutable when the
    /// file system cannot even hold its lock files), or, with no database,
    /// an in-memory one loaded from `issues.jsonl`.
    fn open_readonly(dir: &Path) -> Result<Store> {
        use rusqlite::OpenFlags;
        let db_path = dir.join(DB_FILE);
        if !dir.join(CONFIG_FILE).is_file() && !db_path.is_file() {
            return Err(StoreError::NoStore {
                cwd: dir.to_path_buf(),
            });
        }
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_URI;
        let probe = |c: &Connection| {
            c.query_row("SELECT count(*) FROM sqlite_master", [], |r| {
                r.get::<_, i64>(0)
            })
        };
        let has_db = std::fs::metadata(&db_path).is_ok_and(|m| m.len() > 0);
        let conn = if has_db {
            let c = Connection::open_with_flags(sqlite_uri(&db_path, "mode=ro"), flags)?;
            match probe(&c) {
                Ok(_) => c,
                Err(_) => {
                    let c =
                        Connection::open_with_flags(sqlite_uri(&db_path, "immutable=1"), flags)?;
                    probe(&c)?;
                    c
                }
            }
        } else {
            let mut c = Connection::open_in_memory()?;
            schema::migrate(&mut c, &db_path)?;
            c
        };
        c_busy(&conn)?;
        let store = Store::from_conn(conn, dir, true)?;
        if !has_db {
            let path = store.jsonl_path();
            if let Ok(text) = std::fs::read_to_string(&path) {
                let records = jsonl::parse(&text, &path)?;
                let tx = store.conn.unchecked_transaction()?;
                let t = Tx {
                    tx,
                    actor: store.actor.clone(),
                    now: ids::now(),
                    prefix: store.prefix.clone(),
                };
                t.import(&records)?;
                t.tx.commit()?;
            }
        }
        Ok(store)
    }

    fn open_conn(db_path: &Path) -> Result<Connection> {
        let mut conn = Connection::open(db_path)?;
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
        schema::migrate(&mut conn, db_path)?;
        Ok(conn)
    }

    fn from_conn(conn: Connection, dir: &Path, readonly: bool) -> Result<Store> {
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
            db_file: if readonly {
                None
            } else {
                file_id(&dir.join(DB_FILE))
            },
            readonly,
            exported_seq: None,
            defer_export: false,
            export_error: None,
        })
    }

    pub fn is_readonly(&self) -> bool {
        self.readonly
    }

    /// Leave the JSONL to [`Store::flush_export`] (called on drop too) instead
    /// of bringing it current after every write: for a long-running writer
    /// that makes many small writes and flushes at its own pace.
    pub fn defer_export(&mut self, defer: bool) {
        self.defer_export = defer;
    }

    /// Bring the JSONL current now, and report an export that failed after
    /// an earlier write.
    pub fn flush_export(&mut self) -> Result<()> {
        if let Some(e) = self.export_error.take() {
            if !matches!(sync::is_current(self), Ok(true)) {
                return Err(e);
            }
        }
        if self.readonly || self.export_cached() {
            return Ok(());
        }
        sync::export(self).map(|_| ())
    }

    /// True when this process knows the file holds every logged change.
    fn export_cached(&self) -> bool {
        match self.exported_seq {
            Some(done) => sync::pending_seq(&self.conn).is_ok_and(|seq| seq <= done),
            None => false,
        }
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
    /// back on `Err`. Bumps the data version, then brings the JSONL current
    /// (the one place that does: every writer leaves it current). An export
    /// failure does not undo the committed write: it is reported by
    /// [`Store::flush_export`] and retried by the next command.
    pub fn write<T, E: From<StoreError>>(
        &mut self,
        f: impl FnOnce(&mut Tx<'_>) -> std::result::Result<T, E>,
    ) -> std::result::Result<T, E> {
        let out = self.write_quiet(f)?;
        if !self.defer_export && !self.export_cached() {
            if let Err(e) = sync::export(self) {
                self.export_error = Some(e);
            }
        }
        Ok(out)
    }

    /// [`Store::write`] without the export (import, inside the export lock).
    pub(crate) fn write_quiet<T, E: From<StoreError>>(
        &mut self,
        f: impl FnOnce(&mut Tx<'_>) -> std::result::Result<T, E>,
    ) -> std::result::Result<T, E> {
        if self.readonly {
            return Err(StoreError::ReadOnly {
                dir: self.dir.clone(),
            }
            .into());
        }
        check_present(&self.dir, self.db_file)?;
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
        if let Some(done) = self.exported_seq {
            // Log rows the file already holds are no longer needed.
            t.tx.prepare_cached("DELETE FROM jsonl_pending WHERE seq <= ?1")
                .and_then(|mut st| st.execute([done]))
                .map_err(StoreError::from)?;
        }
        let out = f(&mut t)?;
        t.tx.prepare_cached(
            "INSERT INTO meta (key, value) VALUES ('data_version', '1')
             ON CONFLICT(key) DO UPDATE SET value = CAST(value AS INTEGER) + 1",
        )
        .and_then(|mut st| st.execute([]))
        .map_err(StoreError::from)?;
        check_present(&self.dir, self.db_file)?;
        t.tx.commit().map_err(StoreError::from)?;
        Ok(out)
    }

    /// The counter bumped by every write transaction.
    pub fn data_version(&self) -> Result<i64> {
        data_version(&self.conn)
    }
}

impl Drop for Store {
    /// A process never leaves its own writes out of the JSONL.
    fn drop(&mut self) {
        if self.readonly || !(self.defer_export || self.export_error.is_some()) {
            return;
        }
        if let Err(e) = self.flush_export() {
            eprintln!("warning: issues.jsonl is not current: {e}");
            if let Some(h) = e.help() {
                eprintln!("  help: {h}");
            }
        }
    }
}

fn c_busy(conn: &Connection) -> Result<()> {
    conn.busy_timeout(std::time::Duration::from_secs(60))?;
    Ok(())
}

pub(crate) fn data_version(conn: &Connection) -> Result<i64> {
    Ok(conn
        .prepare_cached("SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'data_version'")?
        .query_row([], |r| r.get(0))
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
