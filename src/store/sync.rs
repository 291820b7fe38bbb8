//! Keeping `.beads/issues.jsonl` and the database in step, and committing
//! the JSONL with git.
//!
//! The JSONL (plus git history) is the record; the database is derived.
//! `export-state.json` (local, git-ignored) says which database (`db_id`)
//! wrote the file, up to which `jsonl_pending` sequence number, and the
//! file's stamp (size, mtime, inode) right after. The file is trusted only
//! when all three match: otherwise (a new or rebuilt database, a file changed
//! by git or a person) the file is imported first, then rewritten in full.
//! A trusted file is brought current by writing the lines of the issues
//! logged in `jsonl_pending` since into it in place (O(change) rendering;
//! only the bytes from the first changed line on move, within the page
//! cache, never fsynced). The state marks an in-place write under way and
//! the boot it happened in, so a file a crash or a restart may have torn is
//! rewritten from the database. No export drops a line of an issue the
//! database lacks unless a tombstone says it was deleted
//! ([`StoreError::ExportRefused`]).
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
    /// An in-place write of the file began and has not finished: if this
    /// is still set when the next export takes the lock, a crash tore it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    writing: bool,
    /// The kernel boot the file was written in. The file is never fsynced
    /// (the database is the durable copy), so after a restart its pages
    /// may not all have reached the disk.
    #[serde(default)]
    boot: String,
}

/// This boot of the kernel (Linux: `/proc/sys/kernel/random/boot_id`;
/// empty elsewhere, where a restart is not detected).
fn boot_id() -> String {
    std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct Stamp {
    len: u64,
    mtime_ns: u128,
    ino: u64,
}

fn stamp(path: &Path) -> Option<Stamp> {
    stamp_of(&std::fs::metadata(path).ok()?)
}

fn stamp_of(md: &std::fs::Metadata) -> Option<Stamp> {
    use std::os::unix::fs::MetadataExt;
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
        && !st.writing
        && st.boot == boot_id()
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
    let boot = boot_id();
    let file = stamp(path);
    let ours = !st.db_id.is_empty() && st.db_id == id;
    // Our own write may have left the file torn: a crash during an in-place
    // write, or a restart before its pages reached the disk.
    let suspect = ours && file.is_some() && (st.writing || st.boot != boot);
    let trusted = ours && st.stamp == file && !suspect;
    let mut force = force;
    if suspect {
        // Untouched since our last whole write (same stamp): the database
        // holds every line. Otherwise take what parses: git may have
        // changed the file since.
        if st.writing || st.stamp != file {
            import_torn(store, path)?;
        }
        force = true;
    } else if !trusted && file.is_some() {
        import_file(store, path)?;
    }
    let (seq, outcome, after) = {
        let conn = store.conn();
        let tx = conn.unchecked_transaction()?;
        let seq = pending_seq(&tx)?;
        if trusted && seq <= st.seq {
            (st.seq, Exported::Unchanged, file)
        } else {
            let changed: Vec<String> = if trusted && file.is_some() {
                let mut q =
                    tx.prepare("SELECT DISTINCT id FROM jsonl_pending WHERE seq > ?1 ORDER BY id")?;
                let rows = q.query_map([st.seq], |r| r.get(0))?;
                rows.collect::<rusqlite::Result<_>>()?
            } else {
                Vec::new()
            };
            let (outcome, after) = if trusted && file.is_some() && changed.len() <= SPLICE_LIMIT {
                // One handle for the search, the write and the stamp: a file
                // git replaces meanwhile is not taken for ours.
                let old = SortedFile::open(path)?;
                if old.stamp() != file {
                    return Err(StoreError::io(
                        path,
                        std::io::Error::other(
                            "it was replaced while being exported; the next bd command brings it current",
                        ),
                    ));
                }
                let edits = plan_splice(&tx, path, &old, &changed, force)?;
                if !edits.is_empty() {
                    let mark = State {
                        writing: true,
                        ..st.clone()
                    };
                    write_state(&dir, &mark)?;
                    write_in_place(path, &old.file, &edits, CHUNK)?;
                }
                (Exported::Spliced(changed.len()), old.stamp())
            } else {
                rewrite(&tx, path, force)?;
                (Exported::Rewritten, stamp(path))
            };
            tx.commit()?;
            (seq, outcome, after)
        }
    };
    if outcome != Exported::Unchanged {
        write_state(
            &dir,
            &State {
                db_id: id,
                seq,
                stamp: after,
                writing: false,
                boot,
            },
        )?;
    }
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
    /// Open for reading and writing in place.
    fn open(path: &Path) -> Result<SortedFile> {
        let file = File::options()
            .read(true)
            .write(true)
            .open(path)
            .map_err(|e| StoreError::io(path, e))?;
        let len = file.metadata().map_err(|e| StoreError::io(path, e))?.len();
        Ok(SortedFile { file, len })
    }

    /// The stamp of this handle's file as it is now.
    fn stamp(&self) -> Option<Stamp> {
        stamp_of(&self.file.metadata().ok()?)
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
}

/// One line to replace: the old bytes `start..end` (empty for a new
/// line) become `line` (empty for a dropped line).
struct Edit {
    start: u64,
    end: u64,
    line: Vec<u8>,
}

/// Where the lines of `changed` (sorted) go in the trusted file, found by
/// binary search, and what they become; a line that renders as it is drops
/// out. Refuses, before anything is written, to drop the line of an issue
/// the database lacks.
fn plan_splice(
    conn: &Connection,
    path: &Path,
    old: &SortedFile,
    changed: &[String],
    force: bool,
) -> Result<Vec<Edit>> {
    let io = |e| StoreError::io(path, e);
    let mut lacking = Vec::new();
    let mut edits = Vec::new();
    let mut pos = 0;
    for id in changed {
        let at = old.lower_bound(pos, id.as_bytes()).map_err(io)?;
        let (end, at_id) = if at < old.len {
            old.line(at).map_err(io)?
        } else {
            (at, None)
        };
        let had = at_id.as_deref() == Some(id.as_bytes());
        let end = if had { end } else { at };
        pos = end;
        let line = match jsonl::render_one(conn, id)? {
            Some(line) => {
                let mut line = line.into_bytes();
                line.push(b'\n');
                line
            }
            None if had => {
                lacking.push(id.clone());
                Vec::new()
            }
            None => continue,
        };
        if had && old.read(at, (end - at) as usize).map_err(io)? == line {
            continue;
        }
        edits.push(Edit {
            start: at,
            end,
            line,
        });
    }
    if !lacking.is_empty() && !force {
        return Err(StoreError::ExportRefused {
            path: path.to_path_buf(),
            ids: lacking,
        });
    }
    Ok(edits)
}

/// Apply `edits` (in file order) to the file in place. The head before the
/// first edit is not touched, nor a tail that keeps its offset; what moves
/// is streamed through a buffer of the old bytes not yet written back (the
/// net growth so far plus one chunk), then the file is cut to length. No
/// new file and no fsync: a crash midway is caught by `State::writing`, a
/// restart by `State::boot`.
fn write_in_place(path: &Path, file: &File, edits: &[Edit], chunk: usize) -> Result<()> {
    let io = |e| StoreError::io(path, e);
    let Some(first) = edits.first() else {
        return Ok(());
    };
    let old_len = file.metadata().map_err(io)?.len();
    let mut mv = Mover::new(file, old_len, first.start, chunk);
    for e in edits {
        mv.copy_old(e.start).map_err(io)?;
        mv.emit(&e.line).map_err(io)?;
        mv.skip_old(e.end);
    }
    if !mv.in_step() {
        mv.copy_old(old_len).map_err(io)?;
    }
    mv.flush().map_err(io)?;
    if mv.w < mv.r {
        // Only when the whole tail moved up: the file shrank.
        file.set_len(mv.w).map_err(io)?;
    }
    Ok(())
}

/// Moves a file's bytes in place: the old bytes from `r` on are read (into
/// `ahead`) before the write cursor `w` can overwrite them.
struct Mover<'a> {
    file: &'a File,
    old_len: u64,
    /// The next old byte not yet consumed.
    r: u64,
    /// The old bytes `r..r + ahead.len()`, already read (`Ahead`).
    ahead: Ahead,
    /// Where `out` goes.
    w: u64,
    out: Vec<u8>,
    /// How much it reads and writes at once.
    chunk: usize,
}

/// A queue of bytes: taken from the front, grown at the back.
#[derive(Default)]
struct Ahead {
    buf: Vec<u8>,
    head: usize,
}

impl Ahead {
    fn len(&self) -> usize {
        self.buf.len() - self.head
    }

    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The next `n` bytes, taken off the queue.
    fn take(&mut self, n: usize) -> &[u8] {
        self.head += n;
        &self.buf[self.head - n..self.head]
    }

    /// `n` new bytes at the back, to be filled.
    fn grow(&mut self, n: usize) -> &mut [u8] {
        self.buf.drain(..self.head);
        self.head = 0;
        let at = self.buf.len();
        self.buf.resize(at + n, 0);
        &mut self.buf[at..]
    }
}

/// How much the mover reads and writes at once (small enough to stay in
/// cache and to reuse its buffers instead of faulting in fresh pages).
const CHUNK: usize = 128 << 10;

impl<'a> Mover<'a> {
    fn new(file: &'a File, old_len: u64, at: u64, chunk: usize) -> Mover<'a> {
        Mover {
            chunk,
            file,
            old_len,
            r: at,
            ahead: Ahead::default(),
            w: at,
            out: Vec::with_capacity(chunk),
        }
    }

    /// True when the rest of the old file is already where it belongs.
    fn in_step(&self) -> bool {
        self.w + self.out.len() as u64 == self.r
    }

    /// Move the old bytes `r..to` to the output.
    fn copy_old(&mut self, to: u64) -> std::io::Result<()> {
        use std::os::unix::fs::FileExt;
        while self.r < to {
            let n = if self.ahead.is_empty() {
                // Not overwritten yet: everything below `r + ahead` that
                // was written over had been read first.
                let n = ((to - self.r) as usize).min(self.chunk);
                let at = self.out.len();
                self.out.resize(at + n, 0);
                self.file.read_exact_at(&mut self.out[at..], self.r)?;
                n
            } else {
                let n = ((to - self.r) as usize).min(self.ahead.len());
                self.out.extend_from_slice(self.ahead.take(n));
                n
            };
            self.r += n as u64;
            if self.out.len() >= self.chunk {
                self.flush()?;
            }
        }
        Ok(())
    }

    /// Drop the old bytes `r..to`.
    fn skip_old(&mut self, to: u64) {
        let n = ((to - self.r) as usize).min(self.ahead.len());
        self.ahead.take(n);
        self.r = to;
    }

    fn emit(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.out.extend_from_slice(bytes);
        if self.out.len() >= self.chunk {
            self.flush()?;
        }
        Ok(())
    }

    /// Write `out` at `w`, first reading the old bytes it will cover.
    fn flush(&mut self) -> std::io::Result<()> {
        use std::os::unix::fs::FileExt;
        let want = (self.w + self.out.len() as u64).min(self.old_len);
        let loaded = self.r + self.ahead.len() as u64;
        if want > loaded {
            let buf = self.ahead.grow((want - loaded) as usize);
            self.file.read_exact_at(buf, loaded)?;
        }
        self.file.write_all_at(&self.out, self.w)?;
        self.w += self.out.len() as u64;
        self.out.clear();
        Ok(())
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

/// Import what parses of a file our own write may have torn (see
/// `State::writing`, `State::boot`): lines that do not parse are torn
/// pieces of ours, skipped and named; every whole line is reconciled as
/// usual (ours are not newer than the database, so only a change git made
/// since wins). The caller then rewrites the file from the database.
fn import_torn(store: &mut Store, path: &Path) -> Result<()> {
    let text = std::fs::read(path).map_err(|e| StoreError::io(path, e))?;
    let (records, skipped) = jsonl::parse_lenient(&String::from_utf8_lossy(&text), path);
    store.write_quiet(|tx| tx.import(&records))?;
    let skipped = if skipped.is_empty() {
        String::new()
    } else {
        let lines: Vec<String> = skipped.iter().map(usize::to_string).collect();
        format!(" (skipped torn line(s) {})", lines.join(", "))
    };
    eprintln!(
        "beads: {} was being written when bd stopped or the machine restarted; rewrote it from the database{skipped}",
        path.display()
    );
    Ok(())
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
            writing: false,
            boot: boot_id(),
        },
    )?;
    store.exported_seq = Some(seq);
    Ok(report)
}

/// Read a ledger file under the export lock, so that an in-place write in
/// progress is never read half done.
fn read_locked(dir: &Path, path: &Path) -> Result<Vec<u8>> {
    let _lock = Lock::take(dir, LOCK_FILE)?;
    std::fs::read(path).map_err(|e| StoreError::io(path, e))
}

/// The store's `issues.jsonl` as it is between writes (`None` when there is
/// none), for readers that compare it with the database (`bd sync --status`,
/// the doctor). A store whose lock cannot be taken (read-only) has no writer
/// either, so it is read as it is.
pub fn read_jsonl(store: &Store) -> Option<String> {
    let path = store.jsonl_path();
    let bytes = match read_locked(store.dir(), &path) {
        Ok(bytes) => bytes,
        Err(_) => std::fs::read(&path).ok()?,
    };
    Some(String::from_utf8_lossy(&bytes).into_owned())
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
        let Ok(bytes) = read_locked(store.dir(), &abs) else {
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

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    /// Apply edits to bytes the plain way, for comparison.
    fn applied(old: &[u8], edits: &[Edit]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut pos = 0;
        for e in edits {
            out.extend_from_slice(&old[pos..e.start as usize]);
            out.extend_from_slice(&e.line);
            pos = e.end as usize;
        }
        out.extend_from_slice(&old[pos..]);
        out
    }

    fn random_line(rng: &mut impl Rng) -> Vec<u8> {
        let n = rng.gen_range(0..40);
        let mut l: Vec<u8> = (0..n).map(|_| rng.gen_range(b'a'..=b'z')).collect();
        l.push(b'\n');
        l
    }

    #[test]
    fn in_place_edits_equal_a_rewrite_whatever_they_grow_or_shrink() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(13);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.jsonl");
        for round in 0..400 {
            let old: Vec<u8> = (0..rng.gen_range(0..60))
                .flat_map(|_| random_line(&mut rng))
                .collect();
            std::fs::write(&path, &old).unwrap();
            // Edits at increasing line boundaries: replace, insert, drop.
            let starts: Vec<usize> = std::iter::once(0)
                .chain(
                    old.iter()
                        .enumerate()
                        .filter(|(_, &b)| b == b'\n')
                        .map(|(i, _)| i + 1),
                )
                .collect();
            let mut edits = Vec::new();
            let mut k = 0;
            while k < starts.len() {
                if rng.gen_bool(0.2) {
                    let start = starts[k];
                    let (end, line) = match rng.gen_range(0..3) {
                        0 if k + 1 < starts.len() => (starts[k + 1], random_line(&mut rng)),
                        1 if k + 1 < starts.len() => (starts[k + 1], Vec::new()),
                        _ => (start, random_line(&mut rng)),
                    };
                    edits.push(Edit {
                        start: start as u64,
                        end: end as u64,
                        line,
                    });
                    if end > start {
                        k += 1;
                    }
                }
                k += 1;
            }
            let want = applied(&old, &edits);
            let chunk = rng.gen_range(1..64);
            let file = File::options().read(true).write(true).open(&path).unwrap();
            write_in_place(&path, &file, &edits, chunk).unwrap();
            assert_eq!(
                std::fs::read(&path).unwrap(),
                want,
                "round {round}, chunk {chunk}"
            );
        }
    }
}
