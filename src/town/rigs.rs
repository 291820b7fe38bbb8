//! Rigs (projects cloned as bare repositories) and crew worktrees.

use super::{git, Result, Town, TownError};
use crate::store::Store;
use rusqlite::{params, OptionalExtension};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rig {
    pub name: String,
    pub url: String,
    pub repo: String,
    pub prefix: String,
    pub default_branch: String,
    pub created_at: String,
}

/// Names a rig cannot take: they are town directories or roles.
const RESERVED: &[&str] = &["settings", "mayor", "deacon", "daemon", "overseer"];

/// A rig or crew name: the crate's name grammar (`src/ids.rs`), and for a
/// rig not one of the town's own directories.
fn check_name(kind: &'static str, name: &str) -> Result<()> {
    crate::ids::validate_name(kind, name).map_err(|e| TownError::Invalid(e.to_string()))?;
    if kind == "rig name" && RESERVED.contains(&name) {
        return Err(TownError::Invalid(format!(
            "`{name}` is reserved in a town ({}); pick another rig name",
            RESERVED.join(", ")
        )));
    }
    Ok(())
}

pub fn list(store: &Store) -> Result<Vec<Rig>> {
    list_in(store.conn())
}

/// Every rig, from a connection (the refinery reads it inside its store).
pub fn list_in(conn: &rusqlite::Connection) -> Result<Vec<Rig>> {
    let mut st = conn
        .prepare_cached(
            "SELECT name, url, repo, prefix, default_branch, created_at FROM rigs ORDER BY name",
        )
        .map_err(crate::store::StoreError::from)?;
    let rows = st
        .query_map([], |r| {
            Ok(Rig {
                name: r.get(0)?,
                url: r.get(1)?,
                repo: r.get(2)?,
                prefix: r.get(3)?,
                default_branch: r.get(4)?,
                created_at: r.get(5)?,
            })
        })
        .map_err(crate::store::StoreError::from)?;
    Ok(rows
        .collect::<rusqlite::Result<_>>()
        .map_err(crate::store::StoreError::from)?)
}

/// The rig a command means when none is named: `GT_RIG`, else the rig
/// whose directory holds `cwd`, else the town's only rig.
pub fn current(town: &Town, conn: &rusqlite::Connection, cwd: &Path) -> Result<Option<String>> {
    let all = names(conn)?;
    if let Ok(r) = std::env::var("GT_RIG") {
        if all.contains(&r) {
            return Ok(Some(r));
        }
    }
    if let Ok(rel) = cwd.strip_prefix(&town.root) {
        if let Some(first) = rel.components().next() {
            let f = first.as_os_str().to_string_lossy();
            if let Some(r) = all.iter().find(|r| **r == f) {
                return Ok(Some(r.clone()));
            }
        }
    }
    Ok(match all.as_slice() {
        [only] => Some(only.clone()),
        _ => None,
    })
}

/// [`current`], or an error naming the rigs to choose from.
pub fn current_or_ask(town: &Town, conn: &rusqlite::Connection, cwd: &Path) -> Result<String> {
    current(town, conn, cwd)?.ok_or_else(|| {
        let all = names(conn).unwrap_or_default();
        TownError::Invalid(format!(
            "which rig? name one (rigs: {})",
            if all.is_empty() {
                "none yet; `gt rig add NAME URL`".to_string()
            } else {
                all.join(", ")
            }
        ))
    })
}

/// The names of every rig (the town's one registry), sorted.
pub fn names(conn: &rusqlite::Connection) -> Result<Vec<String>> {
    let mut st = conn
        .prepare_cached("SELECT name FROM rigs ORDER BY name")
        .map_err(crate::store::StoreError::from)?;
    let rows = st
        .query_map([], |r| r.get(0))
        .map_err(crate::store::StoreError::from)?;
    Ok(rows
        .collect::<rusqlite::Result<_>>()
        .map_err(crate::store::StoreError::from)?)
}

/// The branch merges of `rig` land on: its origin's default branch.
pub fn default_branch(conn: &rusqlite::Connection, rig: &str) -> Result<String> {
    conn.query_row(
        "SELECT default_branch FROM rigs WHERE name = ?1",
        [rig],
        |r| r.get(0),
    )
    .optional()
    .map_err(crate::store::StoreError::from)?
    .ok_or_else(|| TownError::UnknownRig {
        name: rig.to_string(),
        valid: names(conn).unwrap_or_default(),
    })
}

/// A rig by name, or an error that lists the valid ones.
pub fn get(store: &Store, name: &str) -> Result<Rig> {
    get_in(store.conn(), name)
}

/// [`get`] from a connection.
pub fn get_in(conn: &rusqlite::Connection, name: &str) -> Result<Rig> {
    let all = list_in(conn)?;
    let valid: Vec<String> = all.iter().map(|r| r.name.clone()).collect();
    all.into_iter()
        .find(|r| r.name == name)
        .ok_or(TownError::UnknownRig {
            name: name.to_string(),
            valid,
        })
}

/// `gt rig add NAME URL|PATH [--prefix P]`: a bare clone made by the
/// user's `git` (https, ssh, `git@host:owner/repo`, `file://`, local paths),
/// tracking the origin's branches; the rig records the origin URL and its
/// default branch.
pub fn add(town: &Town, name: &str, url: &str, prefix: Option<&str>, cwd: &Path) -> Result<Rig> {
    check_name("rig name", name)?;
    let mut store = town.store()?;
    if list(&store)?.iter().any(|r| r.name == name) {
        return Err(TownError::RigExists(name.to_string()));
    }
    let prefix = prefix.map(|p| p.to_string()).unwrap_or_else(|| {
        name.chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .take(6)
            .collect()
    });
    if !crate::store::ids::valid_prefix(&prefix) {
        return Err(TownError::Invalid(format!(
            "`{prefix}` is not a valid prefix; use letters, digits and `_`, starting with a letter (--prefix P)"
        )));
    }
    let src = git::clone_source(url, cwd);
    let dir = town.rig_dir(name);
    let repo_path = dir.join(".repo.git");
    if repo_path.exists() {
        return Err(TownError::Invalid(format!(
            "{} already exists; remove it or pick another rig name",
            repo_path.display()
        )));
    }
    let default_branch = match git::clone_bare(&src, &repo_path) {
        Ok(Some(b)) => b,
        Ok(None) => {
            forget_clone(&dir, &repo_path);
            return Err(TownError::Invalid(format!(
                "`{src}` has no commits (or no default branch); push a first commit to it, then add the rig"
            )));
        }
        Err(e) => {
            forget_clone(&dir, &repo_path);
            return Err(e);
        }
    };
    let rig = Rig {
        name: name.to_string(),
        url: src,
        repo: repo_path.display().to_string(),
        prefix,
        default_branch,
        created_at: crate::store::ids::now(),
    };
    write_record(town, &rig)?;
    let settings = dir.join(super::SETTINGS);
    if !settings.exists() {
        super::Settings {
            kind: "rig-settings".into(),
            version: 1,
            ..Default::default()
        }
        .save(&settings)?;
    }
    let r = rig.clone();
    store.write(|tx| -> Result<()> {
        tx.conn().execute(
            "INSERT INTO rigs (name, url, repo, prefix, default_branch, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![r.name, r.url, r.repo, r.prefix, r.default_branch, r.created_at],
        ).map_err(crate::store::StoreError::from)?;
        tx.event(&format!("rig:{}", r.name), "rig.added", Some("url"), None, Some(&r.url))?;
        Ok(())
    })?;
    Ok(rig)
}

/// `gt rig remove NAME`: forget the rig and delete its directory.
pub fn remove(town: &Town, name: &str) -> Result<Rig> {
    let mut store = town.store()?;
    let rig = get(&store, name)?;
    let busy: Option<String> = store
        .conn()
        .query_row(
            "SELECT name FROM agents WHERE rig = ?1 AND state IN ('spawning', 'working') LIMIT 1",
            [name],
            |r| r.get(0),
        )
        .optional()
        .map_err(crate::store::StoreError::from)?;
    if let Some(p) = busy {
        return Err(TownError::Invalid(format!(
            "rig `{name}` has a working polecat ({p}); let it finish or stop it with `gt shutdown` first"
        )));
    }
    store.write(|tx| -> Result<()> {
        tx.conn()
            .execute("DELETE FROM rigs WHERE name = ?1", [name])
            .map_err(crate::store::StoreError::from)?;
        tx.conn()
            .execute("DELETE FROM agents WHERE rig = ?1", [name])
            .map_err(crate::store::StoreError::from)?;
        tx.event(&format!("rig:{name}"), "rig.removed", None, None, None)?;
        Ok(())
    })?;
    let dir = town.rig_dir(name);
    if dir.exists() {
        std::fs::remove_dir_all(&dir).map_err(|e| TownError::io(&dir, e))?;
    }
    Ok(rig)
}

/// Open a rig's bare repository, with a clear error when it is gone.
pub fn open_repo(rig: &Rig) -> Result<git2::Repository> {
    git2::Repository::open_bare(&rig.repo).map_err(|e| {
        TownError::Invalid(format!(
            "rig `{}`: its repository {} is gone or broken ({}); re-add it with `gt rig remove {} && gt rig add {} {}`",
            rig.name,
            rig.repo,
            e.message(),
            rig.name,
            rig.name,
            rig.url
        ))
    })
}

/// The commit polecats and crew start from: the origin's default branch,
/// freshly fetched.
pub fn fetch_base(repo: &git2::Repository, rig: &Rig) -> Result<git2::Oid> {
    git::fetch(repo.path(), &rig.url)?;
    let tracking = git::tracking_ref(&rig.default_branch);
    let r = repo.find_reference(&tracking).map_err(|e| {
        TownError::Invalid(format!(
            "rig `{}`: the origin {} has no branch `{}` ({}); run `gt rig refresh {}` if its default branch changed",
            rig.name,
            rig.url,
            rig.default_branch,
            e.message(),
            rig.name
        ))
    })?;
    let oid = r.peel_to_commit()?.id();
    // Keep the clone's own branch in step, for people browsing it.
    let _ = repo.reference(
        &format!("refs/heads/{}", rig.default_branch),
        oid,
        true,
        "gt: follow origin",
    );
    Ok(oid)
}

/// `gt rig refresh NAME`: fetch, and follow the origin's default branch if
/// it moved (e.g. `master` renamed to `main`).
pub fn refresh(town: &Town, name: &str) -> Result<Rig> {
    let mut store = town.store()?;
    let mut rig = get(&store, name)?;
    let repo = open_repo(&rig)?;
    git::fetch(repo.path(), &rig.url)?;
    let now =
        git::remote_default_branch(Some(repo.path()), &rig.url, super::health::REMOTE_TIMEOUT)?;
    let Some(branch) = now.filter(|b| *b != rig.default_branch) else {
        return Ok(rig);
    };
    let old = std::mem::replace(&mut rig.default_branch, branch);
    let _ = repo.set_head(&format!("refs/heads/{}", rig.default_branch));
    write_record(town, &rig)?;
    let r = rig.clone();
    store.write(|tx| -> Result<()> {
        tx.conn()
            .execute(
                "UPDATE rigs SET default_branch = ?2 WHERE name = ?1",
                params![r.name, r.default_branch],
            )
            .map_err(crate::store::StoreError::from)?;
        tx.event(
            &format!("rig:{}", r.name),
            "rig.branch",
            Some("default_branch"),
            Some(&old),
            Some(&r.default_branch),
        )?;
        Ok(())
    })?;
    Ok(rig)
}

/// Undo a failed clone: the clone, and the rig directory if it is now empty.
fn forget_clone(dir: &Path, repo_path: &Path) {
    let _ = std::fs::remove_dir_all(repo_path);
    let _ = std::fs::remove_dir(dir);
}

fn write_record(town: &Town, rig: &Rig) -> Result<()> {
    let dir = town.rig_dir(&rig.name);
    std::fs::write(
        dir.join("config.json"),
        serde_json::to_string_pretty(rig).unwrap_or_default() + "\n",
    )
    .map_err(|e| TownError::io(&dir, e))
}

/// `gt crew add NAME --rig R`: a worktree for a person on `crew/<name>`.
pub fn crew_add(town: &Town, rig_name: &str, name: &str) -> Result<PathBuf> {
    check_name("crew name", name)?;
    let store = town.store()?;
    let rig = get(&store, rig_name)?;
    if let Some(a) =
        crate::store::agents::get(store.conn(), rig_name, name)?.filter(|a| a.role != "crew")
    {
        return Err(TownError::Invalid(format!(
            "`{name}` is already the {} {} in rig `{rig_name}`; a crew member needs a name of its own (try `gt crew add {name}-crew --rig {rig_name}`)",
            a.role,
            a.address()
        )));
    }
    let repo = open_repo(&rig)?;
    let base = fetch_base(&repo, &rig)?;
    let path = town.rig_dir(rig_name).join("crew").join(name);
    if path.exists() {
        return Err(TownError::Invalid(format!(
            "crew `{name}` already exists at {}",
            path.display()
        )));
    }
    let branch = format!("crew/{name}");
    super::worktree::prepare(&repo, &path, &format!("crew-{name}"), &branch, base)?;
    Ok(path)
}
