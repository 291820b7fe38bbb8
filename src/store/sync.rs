//! Keeping `.beads/issues.jsonl` and the database in step, and committing
//! the JSONL with git2.
//!
//! `export-state.json` (local, git-ignored) remembers the data version and
//! the file stamp (size, mtime) and hash of the JSONL as last written or
//! imported. A stamp that differs means git (or a person) changed the file:
//! it is imported before anything else happens, and before any export could
//! overwrite it. Export and import run under `.beads/export.lock`.

use super::error::{Result, StoreError};
use super::jsonl::{self, ImportReport};
use super::{data_version, Store, JSONL_FILE};
use fs4::fs_std::FileExt;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fs::File;
use std::path::{Path, PathBuf};

const STATE_FILE: &str = "export-state.json";
const LOCK_FILE: &str = "export.lock";

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct State {
    data_version: i64,
    stamp: Option<(u64, u128)>,
    sha256: Option<String>,
}

fn stamp(path: &Path) -> Option<(u64, u128)> {
    let md = std::fs::metadata(path).ok()?;
    let mtime = md
        .modified()
        .ok()?
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?
        .as_nanos();
    Some((md.len(), mtime))
}

fn read_state(dir: &Path) -> Option<State> {
    let text = std::fs::read_to_string(dir.join(STATE_FILE)).ok()?;
    serde_json::from_str(&text).ok()
}

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp: PathBuf = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, bytes).map_err(|e| StoreError::io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| StoreError::io(path, e))
}

fn write_state(dir: &Path, s: &State) -> Result<()> {
    write_atomic(&dir.join(STATE_FILE), &serde_json::to_vec(s)?)
}

fn sha(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

struct Lock(File);

impl Lock {
    fn take(dir: &Path) -> Result<Lock> {
        let path = dir.join(LOCK_FILE);
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

/// Import the JSONL if it changed behind our back (git merge, fresh clone).
/// Cheap when nothing changed: one `stat` and one small file read.
pub fn ensure_imported(store: &mut Store) -> Result<Option<ImportReport>> {
    let dir = store.dir().to_path_buf();
    let path = dir.join(JSONL_FILE);
    let st = read_state(&dir).unwrap_or_default();
    if stamp(&path) == st.stamp {
        return Ok(None);
    }
    let _lock = Lock::take(&dir)?;
    import_locked(store, &path)
}

fn import_locked(store: &mut Store, path: &Path) -> Result<Option<ImportReport>> {
    let dir = store.dir().to_path_buf();
    let mut st = read_state(&dir).unwrap_or_default();
    let now_stamp = stamp(path);
    if now_stamp == st.stamp {
        return Ok(None);
    }
    let Some(_) = now_stamp else {
        // The file is gone: nothing to import; the next export recreates it.
        st.stamp = None;
        st.sha256 = None;
        write_state(&dir, &st)?;
        return Ok(None);
    };
    let bytes = std::fs::read(path).map_err(|e| StoreError::io(path, e))?;
    let hash = sha(&bytes);
    let mut report = None;
    if st.sha256.as_deref() != Some(hash.as_str()) {
        let text = String::from_utf8(bytes).map_err(|e| StoreError::CorruptJsonl {
            path: path.to_path_buf(),
            line: 0,
            message: format!("not UTF-8: {e}"),
        })?;
        let records = jsonl::parse(&text, path)?;
        report = Some(store.write(|tx| tx.import(&records))?);
        // The database may now hold rows newer than the file: force an export.
        st.data_version = -1;
    }
    st.stamp = now_stamp;
    st.sha256 = Some(hash);
    write_state(&dir, &st)?;
    Ok(report)
}

/// Write `.beads/issues.jsonl` if the store changed since the last export.
/// Imports first if the file was changed by someone else. Returns true if
/// the file was rewritten.
pub fn export(store: &mut Store) -> Result<bool> {
    let dir = store.dir().to_path_buf();
    let path = dir.join(JSONL_FILE);
    let _lock = Lock::take(&dir)?;
    import_locked(store, &path)?;
    let mut st = read_state(&dir).unwrap_or_default();
    let (dv, text) = {
        let tx = store.conn().unchecked_transaction()?;
        let dv = data_version(&tx)?;
        if dv == st.data_version && st.stamp.is_some() {
            return Ok(false);
        }
        let text = jsonl::render(&tx)?;
        tx.commit()?;
        (dv, text)
    };
    let hash = sha(text.as_bytes());
    let changed = st.sha256.as_deref() != Some(hash.as_str()) || st.stamp.is_none();
    if changed {
        write_atomic(&path, text.as_bytes())?;
    }
    st.data_version = dv;
    st.stamp = stamp(&path);
    st.sha256 = Some(hash);
    write_state(&dir, &st)?;
    Ok(changed)
}

/// Force a full import of the JSONL (`bd import`), whatever the stamp says.
pub fn import_now(store: &mut Store) -> Result<ImportReport> {
    let dir = store.dir().to_path_buf();
    let path = dir.join(JSONL_FILE);
    let _lock = Lock::take(&dir)?;
    let text = std::fs::read_to_string(&path).map_err(|e| StoreError::io(&path, e))?;
    let records = jsonl::parse(&text, &path)?;
    let report = store.write(|tx| tx.import(&records))?;
    let st = State {
        data_version: -1,
        stamp: stamp(&path),
        sha256: Some(sha(text.as_bytes())),
    };
    write_state(&dir, &st)?;
    Ok(report)
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
/// of the git repository that holds `.beads/`. The author is the actor.
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
        let entry = git2::IndexEntry {
            ctime: git2::IndexTime::new(0, 0),
            mtime: git2::IndexTime::new(0, 0),
            dev: 0,
            ino: 0,
            mode: 0o100644,
            uid: 0,
            gid: 0,
            file_size: bytes.len() as u32,
            id: oid,
            flags: 0,
            flags_extended: 0,
            path: rel_str.clone().into_bytes(),
        };
        idx.add(&entry)?;
        real_index.add_path(&rel)?;
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
    let sig = git2::Signature::now(&actor, &format!("{actor}@beads.local"))?;
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
