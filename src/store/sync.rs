//! Keeping `.beads/issues.jsonl` and the database in step, and committing
//! the JSONL with git.
//!
//! The JSONL (plus git history) is the record; the database is derived.
//! `export-state.json` (local, git-ignored) says which database (`db_id`)
//! wrote the file, up to which `jsonl_pending` sequence number, and the
//! file's stamp (size, mtime, inode) right after. The file is trusted only
//! when all three match: otherwise (a new or rebuilt database, a file changed
//! by git or a person) the file is imported first, then rewritten in full.
//! A trusted file is brought current by splicing in the lines of the issues
//! logged in `jsonl_pending` since (O(change) rendering, one sequential copy
//! of the rest). No export drops a line of an issue the database lacks
//! unless a tombstone says it was deleted ([`StoreError::ExportRefused`]).
//! Export and import run under `.beads/export.lock`.

use super::error::{Result, StoreError};
use super::jsonl::{self, ImportReport};
use super::{Store, JSONL_FILE};
use fs4::fs_std::FileExt;
use rusqlite::{Connection, OptionalExtension};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

const STATE_FILE: &str = "export-state.json";
const LOCK_FILE: &str = "export.lock";
/// Above this many changed issues a full streamed render beats splicing.
const SPLICE_LIMIT: usize = 2_000;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct State {
    #[serde(default)]
    db_id: String,
    #[serde(default)]
    seq: i64,
    #[serde(default)]
    stamp: Option<Stamp>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct Stamp {
    len: u64,
    mtime_ns: u128,
    ino: u64,
}

fn stamp(path: &Path) -> Option<Stamp> {
    use std::os::unix::fs::MetadataExt;
    let md = std::fs::metadata(path).ok()?;
    let mtime_ns = md
        .modified()
        .ok()?
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?
        .as_nanos();
    Some(Stamp {
        len: md.len(),
        mtime_ns,
        ino: md.ino(),
    })
}

fn read_state(dir: &Path) -> State {
    std::fs::read_to_string(dir.join(STATE_FILE))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default()
}

fn tmp_path(path: &Path) -> PathBuf {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    path.with_file_name(format!(".{name}.{}.tmp", std::process::id()))
}

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = tmp_path(path);
    std::fs::write(&tmp, bytes).map_err(|e| StoreError::io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| StoreError::io(path, e))
}

fn write_state(dir: &Path, s: &State) -> Result<()> {
    write_atomic(&dir.join(STATE_FILE), &serde_json::to_vec(s)?)
}

/// This database's identity (`meta.db_id`, random, set at creation).
pub(crate) fn db_id(conn: &Connection) -> Result<String> {
    Ok(conn
        .query_row("SELECT value FROM meta WHERE key = 'db_id'", [], |r| {
            r.get(0)
        })
        .optional()?
        .unwrap_or_default())
}

/// The newest `jsonl_pending` sequence number (0 when none).
pub(crate) fn pending_seq(conn: &Connection) -> Result<i64> {
    Ok(
        conn.query_row("SELECT coalesce(max(seq), 0) FROM jsonl_pending", [], |r| {
            r.get(0)
        })?,
    )
}

pub(crate) struct Lock(File);

impl Lock {
    pub(crate) fn take(dir: &Path, name: &str) -> Result<Lock> {
        let path = dir.join(name);
        let f = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| StoreError::io(&path, e))?;
        f.lock_exclusive().map_err(|e| StoreError::io(&path, e))?;
        Ok(Lock(f))
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        let _ = FileExt::unlock(&self.0);
    }
}

/// What an export did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Exported {
    /// The file was already current.
    Unchanged,
    /// This many issues' lines were replaced in place.
    Spliced(usize),
    /// The whole file was rendered (first export, or after an import).
    Rewritten,
}

/// Bring `.beads/issues.jsonl` current. Imports first if the file is not
/// the one this database last wrote. Returns true if the file was written.
pub fn export(store: &mut Store) -> Result<bool> {
    Ok(export_with(store, false)? != Exported::Unchanged)
}

/// [`export`], with `force` dropping lines of issues the database lacks
/// instead of refusing.
pub fn export_with(store: &mut Store, force: bool) -> Result<Exported> {
    if store.is_readonly() {
        return Err(StoreError::ReadOnly {
            dir: store.dir().to_path_buf(),
        });
    }
    let dir = store.dir().to_path_buf();
    let _lock = Lock::take(&dir, LOCK_FILE)?;
    export_locked(store, &dir.join(JSONL_FILE), force)
}

/// True when the file is current for this database: the cheap check every
/// command makes (one file read, one stat, two indexed queries).
pub fn is_current(store: &Store) -> Result<bool> {
    let st = read_state(store.dir());
    Ok(st.db_id == db_id(store.conn())?
        && !st.db_id.is_empty()
        && st.stamp == stamp(&store.jsonl_path())
        && pending_seq(store.conn())? <= st.seq)
}

/// Open-time catch-up: rebuild a new database from the JSONL, import a
/// JSONL changed by git, and finish an export a crash interrupted. A refused
/// export is a warning here, so that read commands and `bd import` still run.
pub fn catch_up(store: &mut Store) -> Result<()> {
    if store.is_readonly() || is_current(store)? {
        return Ok(());
    }
    match export_with(store, false) {
        Err(e @ StoreError::ExportRefused { .. }) => {
            eprintln!("warning: {e}");
            if let Some(h) = e.help() {
                eprintln!("  help: {h}");
            }
            Ok(())
        }
        other => other.map(|_| ()),
    }
}

fn export_locked(store: &mut Store, path: &Path, force: bool) -> Result<Exported> {
    let dir = store.dir().to_path_buf();
    let st = read_state(&dir);
    let id = db_id(store.conn())?;
    let file = stamp(path);
    let trusted = !st.db_id.is_empty() && st.db_id == id && st.stamp == file;
    if !trusted && file.is_some() {
        import_file(store, path)?;
    }
    let (seq, outcome) = {
        let conn = store.conn();
        let tx = conn.unchecked_transaction()?;
        let seq = pending_seq(&tx)?;
        if trusted && seq <= st.seq {
            (st.seq, Exported::Unchanged)
        } else {
            let changed: Vec<String> = if trusted && file.is_some() {
                let mut q =
                    tx.prepare("SELECT DISTINCT id FROM jsonl_pending WHERE seq > ?1 ORDER BY id")?;
                let rows = q.query_map([st.seq], |r| r.get(0))?;
                rows.collect::<rusqlite::Result<_>>()?
            } else {
                Vec::new()
            };
            let outcome = if trusted && file.is_some() && changed.len() <= SPLICE_LIMIT {
                splice(&tx, path, &changed, force)?;
                Exported::Spliced(changed.len())
            } else {
                rewrite(&tx, path, force)?;
                Exported::Rewritten
            };
            tx.commit()?;
            (seq, outcome)
        }
    };
    write_state(
        &dir,
        &State {
            db_id: id,
            seq,
            stamp: stamp(path),
        },
    )?;
    store.exported_seq = Some(seq);
    Ok(outcome)
}

/// The id of a JSONL line as we write it (`{"id":"…",…`); any other shape
/// is decoded.
fn line_id(line: &[u8]) -> Option<&[u8]> {
    const HEAD: &[u8] = b"{\"id\":\"";
    let rest = line.strip_prefix(HEAD)?;
    let end = rest.iter().position(|&b| b == b'"' || b == b'\\')?;
    (rest[end] == b'"').then(|| &rest[..end])
}

fn any_line_id(line: &[u8]) -> Option<String> {
    if let Some(id) = line_id(line) {
        return Some(String::from_utf8_lossy(id).into_owned());
    }
    let v: serde_json::Value = serde_json::from_slice(line).ok()?;
    v.get("id")?.as_str().map(str::to_string)
}

/// A sorted JSONL file read in place (`pread`): finding a line costs a
/// few small reads, never a read of the whole file.
struct SortedFile {
    file: File,
    len: u64,
}

/// How much a probe reads at once (a line is usually a few hundred bytes).
const PROBE: usize = 4096;

impl SortedFile {
    fn open(path: &Path) -> Result<SortedFile> {
        let file = File::open(path).map_err(|e| StoreError::io(path, e))?;
        let len = file.metadata().map_err(|e| StoreError::io(path, e))?.len();
        Ok(SortedFile { file, len })
    }

    fn read(&self, at: u64, n: usize) -> std::io::Result<Vec<u8>> {
        use std::os::unix::fs::FileExt;
        let n = n.min((self.len - at) as usize);
        let mut buf = vec![0; n];
        self.file.read_exact_at(&mut buf, at)?;
        Ok(buf)
    }

    /// The start of the line holding byte `at` (searching back no further
    /// than `floor`, a line start).
    fn line_start(&self, floor: u64, at: u64) -> std::io::Result<u64> {
        let mut end = at;
        while end > floor {
            let from = end.saturating_sub(PROBE as u64).max(floor);
            let chunk = self.read(from, (end - from) as usize)?;
            if let Some(p) = chunk.iter().rposition(|&b| b == b'\n') {
                return Ok(from + p as u64 + 1);
            }
            end = from;
        }
        Ok(floor)
    }

    /// The line starting at `start`: its end (after the newline) and, when
    /// it has our shape, its id.
    fn line(&self, start: u64) -> std::io::Result<(u64, Option<Vec<u8>>)> {
        let mut head: Option<Vec<u8>> = None;
        let mut at = start;
        while at < self.len {
            let chunk = self.read(at, PROBE)?;
            if head.is_none() {
                let line = chunk.split(|&b| b == b'\n').next().unwrap_or(&[]);
                head = Some(line_id(line).map(<[u8]>::to_vec).unwrap_or_default());
            }
            if let Some(p) = chunk.iter().position(|&b| b == b'\n') {
                return Ok((at + p as u64 + 1, head.filter(|h| !h.is_empty())));
            }
            at += chunk.len() as u64;
        }
        Ok((self.len, head.filter(|h| !h.is_empty())))
    }

    /// The first line start at or after `from` (a line start) whose id is
    /// not less than `id`.
    fn lower_bound(&self, from: u64, id: &[u8]) -> std::io::Result<u64> {
        let (mut lo, mut hi) = (from, self.len);
        while lo < hi {
            let start = self.line_start(lo, lo + (hi - lo) / 2)?;
            let (end, line_id) = self.line(start)?;
            if line_id.as_deref().unwrap_or(b"") < id {
                lo = end;
            } else {
                hi = start;
            }
        }
        Ok(lo)
    }

    /// Copy bytes `from..to` to the end of `out`, inside the kernel
    /// (`copy_file_range`) where the file system allows.
    fn copy_to(&mut self, from: u64, to: u64, out: &mut File) -> std::io::Result<()> {
        use std::io::{Read, Seek, SeekFrom};
        if to <= from {
            return Ok(());
        }
        self.file.seek(SeekFrom::Start(from))?;
        let n = std::io::copy(&mut (&self.file).take(to - from), out)?;
        if n != to - from {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "the file shrank while it was being copied",
            ));
        }
        Ok(())
    }
}

/// Replace the lines of `changed` (sorted) in the trusted file: the
/// unchanged runs between them are copied file to file, so the cost is the
/// changed lines plus one in-kernel copy, and the file is replaced
/// atomically (tmp file + rename) as before.
fn splice(conn: &Connection, path: &Path, changed: &[String], force: bool) -> Result<()> {
    let io = |e| StoreError::io(path, e);
    let mut old = SortedFile::open(path)?;
    let tmp = tmp_path(path);
    let mut out = File::create(&tmp).map_err(|e| StoreError::io(&tmp, e))?;
    let mut lacking = Vec::new();
    let mut written = (|| -> Result<()> {
        let mut pos = 0;
        for id in changed {
            let at = old.lower_bound(pos, id.as_bytes()).map_err(io)?;
            old.copy_to(pos, at, &mut out).map_err(io)?;
            let (end, at_id) = if at < old.len {
                old.line(at).map_err(io)?
            } else {
                (at, None)
            };
            let had = at_id.as_deref() == Some(id.as_bytes());
            pos = if had { end } else { at };
            match jsonl::render_one(conn, id)? {
                Some(mut line) => {
                    line.push('\n');
                    out.write_all(line.as_bytes()).map_err(io)?;
                }
                None if had => lacking.push(id.clone()),
                None => {}
            }
        }
        let len = old.len;
        old.copy_to(pos, len, &mut out).map_err(io)
    })();
    if written.is_ok() && !lacking.is_empty() && !force {
        written = Err(StoreError::ExportRefused {
            path: path.to_path_buf(),
            ids: lacking,
        });
    }
    drop(out);
    match written {
        Ok(()) => std::fs::rename(&tmp, path).map_err(io),
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(e)
        }
    }
}

/// Render the whole file, refusing to drop an id the old file holds.
fn rewrite(conn: &Connection, path: &Path, force: bool) -> Result<()> {
    let tmp = tmp_path(path);
    let mut ids = HashSet::new();
    {
        let f = File::create(&tmp).map_err(|e| StoreError::io(&tmp, e))?;
        let mut w = std::io::BufWriter::with_capacity(1 << 20, f);
        jsonl::render_to(conn, &mut w, |id| {
            ids.insert(id.to_string());
        })?;
        w.flush().map_err(|e| StoreError::io(&tmp, e))?;
    }
    if !force {
        if let Ok(old) = std::fs::read(path) {
            let lacking: Vec<String> = old
                .split(|&b| b == b'\n')
                .filter(|l| !l.iter().all(u8::is_ascii_whitespace))
                .filter_map(any_line_id)
                .filter(|id| !ids.contains(id))
                .collect();
            if !lacking.is_empty() {
                let _ = std::fs::remove_file(&tmp);
                return Err(StoreError::ExportRefused {
                    path: path.to_path_buf(),
                    ids: lacking,
                });
            }
        }
    }
    std::fs::rename(&tmp, path).map_err(|e| StoreError::io(path, e))
}

/// Reconcile the file into the database. When the database was empty this
/// is a rebuild, and says so.
fn import_file(store: &mut Store, path: &Path) -> Result<ImportReport> {
    let text = std::fs::read(path).map_err(|e| StoreError::io(path, e))?;
    let text = String::from_utf8(text).map_err(|e| StoreError::CorruptJsonl {
        path: path.to_path_buf(),
        line: 0,
        message: format!("not UTF-8: {e}"),
    })?;
    let records = jsonl::parse(&text, path)?;
    let empty: bool = store.conn().query_row(
        "SELECT NOT EXISTS (SELECT 1 FROM issues) AND NOT EXISTS (SELECT 1 FROM tombstones)",
        [],
        |r| r.get(0),
    )?;
    let report = store.write_quiet(|tx| tx.import(&records))?;
    if empty && !records.is_empty() {
        // A fresh clone: let plain `git merge` use the ledger merge driver.
        let _ = super::gitsync::install_merge_driver(store.dir());
        eprintln!(
            "beads: rebuilt the database {} from {} ({} issues); it was new, empty or replaced",
            store.dir().join(super::DB_FILE).display(),
            path.display(),
            report.created
        );
    }
    Ok(report)
}

/// Force a full import of the JSONL (`bd import`), whatever the state says,
/// then bring the file current.
pub fn import_now(store: &mut Store) -> Result<ImportReport> {
    let dir = store.dir().to_path_buf();
    let path = dir.join(JSONL_FILE);
    let _lock = Lock::take(&dir, LOCK_FILE)?;
    let report = import_file(store, &path)?;
    // The database now holds every line of the file: rewrite it in full.
    let seq = {
        let tx = store.conn().unchecked_transaction()?;
        let seq = pending_seq(&tx)?;
        rewrite(&tx, &path, false)?;
        tx.commit()?;
        seq
    };
    write_state(
        &dir,
        &State {
            db_id: db_id(store.conn())?,
            seq,
            stamp: stamp(&path),
        },
    )?;
    store.exported_seq = Some(seq);
    Ok(report)
}

fn blob_entry(path: &str, id: git2::Oid, len: usize) -> git2::IndexEntry {
    git2::IndexEntry {
        ctime: git2::IndexTime::new(0, 0),
        mtime: git2::IndexTime::new(0, 0),
        dev: 0,
        ino: 0,
        mode: 0o100644,
        uid: 0,
        gid: 0,
        file_size: len as u32,
        id,
        flags: 0,
        flags_extended: 0,
        path: path.as_bytes().to_vec(),
    }
}

/// The user's git identity: `GIT_AUTHOR_NAME`/`GIT_AUTHOR_EMAIL`, else
/// `user.name`/`user.email` from git config; the actor only when git has no
/// identity at all.
fn signature(repo: &git2::Repository, actor: &str) -> Result<git2::Signature<'static>> {
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
    if let (Some(n), Some(e)) = (env("GIT_AUTHOR_NAME"), env("GIT_AUTHOR_EMAIL")) {
        return Ok(git2::Signature::now(&n, &e)?);
    }
    match repo.signature() {
        Ok(s) => Ok(s.to_owned()),
        Err(_) => Ok(git2::Signature::now(
            actor,
            &format!("{actor}@beads.local"),
        )?),
    }
}

/// Outcome of [`commit`].
#[derive(Debug, Clone, Serialize)]
pub struct SyncReport {
    pub exported: bool,
    /// The new commit, or `None` when the ledger was already committed.
    pub commit: Option<String>,
    pub branch: Option<String>,
}

/// Export, then commit the ledger files (only those) on the current branch
/// of the git repository that holds `.beads/`, as the user's git identity.
pub fn commit(store: &mut Store, message: Option<&str>) -> Result<SyncReport> {
    let exported = export(store)?;
    let repo = git2::Repository::discover(store.dir()).map_err(|e| {
        StoreError::Invalid(format!(
            "{} is not inside a git repository ({}); run `git init` first",
            store.dir().display(),
            e.message()
        ))
    })?;
    let workdir = repo
        .workdir()
        .ok_or_else(|| StoreError::Invalid("the git repository is bare".into()))?
        .canonicalize()
        .map_err(|e| StoreError::io(store.dir(), e))?;
    let dir = store
        .dir()
        .canonicalize()
        .map_err(|e| StoreError::io(store.dir(), e))?;
    let rel_dir = dir.strip_prefix(&workdir).map_err(|_| {
        StoreError::Invalid(format!(
            "{} is outside the work tree {}",
            dir.display(),
            workdir.display()
        ))
    })?;
    let files = [JSONL_FILE, super::CONFIG_FILE, ".gitignore"];
    let head = repo.head().ok().and_then(|h| h.peel_to_commit().ok());
    // Build the tree from HEAD plus our files only, so that whatever the
    // user has staged stays out of this commit.
    let mut idx = git2::Index::new()?;
    if let Some(h) = &head {
        idx.read_tree(&h.tree()?)?;
    }
    let mut real_index = repo.index()?;
    for f in files {
        let abs = dir.join(f);
        let Ok(bytes) = std::fs::read(&abs) else {
            continue;
        };
        let rel = rel_dir.join(f);
        let rel_str = rel.to_string_lossy().replace('\\', "/");
        let oid = repo.blob(&bytes)?;
        idx.add(&blob_entry(&rel_str, oid, bytes.len()))?;
        real_index.add_path(&rel)?;
    }
    // The merge driver's registration travels with the ledger.
    if let Ok(bytes) = std::fs::read(workdir.join(".gitattributes")) {
        if String::from_utf8_lossy(&bytes).contains("merge=beads") {
            let oid = repo.blob(&bytes)?;
            idx.add(&blob_entry(".gitattributes", oid, bytes.len()))?;
            real_index.add_path(Path::new(".gitattributes"))?;
        }
    }
    let tree_id = idx.write_tree_to(&repo)?;
    if head.as_ref().is_some_and(|h| h.tree_id() == tree_id) {
        return Ok(SyncReport {
            exported,
            commit: None,
            branch: repo
                .head()
                .ok()
                .and_then(|h| h.shorthand().map(str::to_string)),
        });
    }
    real_index.write()?;
    let tree = repo.find_tree(tree_id)?;
    let actor = store.actor().to_string();
    let sig = signature(&repo, &actor)?;
    let msg = message
        .map(str::to_string)
        .unwrap_or_else(|| format!("bd sync: update issues ({actor})"));
    let parents: Vec<&git2::Commit<'_>> = head.iter().collect();
    let oid = repo.commit(Some("HEAD"), &sig, &sig, &msg, &tree, &parents)?;
    Ok(SyncReport {
        exported,
        commit: Some(oid.to_string()),
        branch: repo
            .head()
            .ok()
            .and_then(|h| h.shorthand().map(str::to_string)),
    })
}
