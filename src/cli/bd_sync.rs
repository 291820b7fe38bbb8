//! `bd init|sync|export|import`.

use super::bd::{CliError, CliResult, Ctx};
use crate::store::{gitsync, sync, Store};
use clap::Args;

#[derive(Args, Debug)]
pub struct InitArgs {
    /// Id prefix for new issues.
    #[arg(long, default_value = "bd")]
    pub prefix: String,
}

pub fn init(ctx: &Ctx, a: &InitArgs) -> CliResult {
    let store = match std::env::var_os("BEADS_DIR").filter(|d| !d.is_empty()) {
        Some(d) => Store::init_dir(std::path::Path::new(&d), &a.prefix)?,
        None => Store::init(&ctx.cwd()?, &a.prefix)?,
    };
    let driver = gitsync::install_merge_driver(store.dir())?;
    let dir = store.dir().display().to_string();
    if let Some(attrs) = &driver {
        if !ctx.json {
            println!(
                "Registered the beads merge driver for issues.jsonl ({} and .git/config)",
                attrs.display()
            );
        }
    }
    ctx.print(
        &serde_json::json!({"dir": dir, "prefix": store.prefix()}),
        || format!("Initialized beads in {dir} (prefix {})", store.prefix()),
    );
    Ok(())
}

#[derive(Args, Debug)]
pub struct SyncArgs {
    /// Commit message.
    #[arg(short, long)]
    pub message: Option<String>,
    /// Commit the ledger only: no fetch, merge or push.
    #[arg(long)]
    pub local: bool,
    /// Only report whether the ledger has changes not yet exported.
    #[arg(long)]
    pub status: bool,
}

pub fn sync(ctx: &Ctx, a: &SyncArgs) -> CliResult {
    let mut store = ctx.open()?;
    if a.status {
        return super::bd_ops::sync_status(ctx, &store);
    }
    let opts = gitsync::SyncOptions {
        message: a.message.clone(),
        local_only: a.local,
    };
    let r = gitsync::round_trip(&mut store, &opts)?;
    for c in &r.conflicts {
        eprintln!("conflict resolved: {c}");
    }
    ctx.print(&r, || {
        let mut out = Vec::new();
        match r.commits.first() {
            Some(c) => out.push(format!(
                "Committed .beads/issues.jsonl as {} on {}",
                &c[..c.len().min(12)],
                r.branch.as_deref().unwrap_or("HEAD")
            )),
            None => out.push("Nothing to commit: the ledger is up to date".into()),
        }
        match &r.remote {
            None if a.local => {}
            None => {
                out.push("No remote (or the branch has no upstream): committed locally only".into())
            }
            Some(remote) => {
                if r.merged {
                    out.push(format!(
                        "Merged changes from {remote} ({} conflict(s) resolved by newest update)",
                        r.conflicts.len()
                    ));
                }
                if r.pushed {
                    out.push(format!("Pushed to {remote}"));
                }
            }
        }
        out.join("\n")
    });
    Ok(())
}

#[derive(Args, Debug)]
pub struct MergeDriverArgs {
    /// The common ancestor's version (%O).
    pub base: std::path::PathBuf,
    /// Our version (%A); the merge result is written here.
    pub ours: std::path::PathBuf,
    /// Their version (%B).
    pub theirs: std::path::PathBuf,
}

/// `bd merge-driver %O %A %B`, called by git for issues.jsonl.
pub fn merge_driver(a: &MergeDriverArgs) -> CliResult {
    let conflicts = gitsync::merge_driver(&a.base, &a.ours, &a.theirs)?;
    for c in conflicts {
        eprintln!("beads merge: {c}");
    }
    Ok(())
}

#[derive(Args, Debug)]
pub struct ExportArgs {
    /// Write even if that drops lines of issues the database lacks (and no
    /// tombstone covers): only after checking they were meant to go.
    #[arg(long)]
    pub force: bool,
}

pub fn export(ctx: &Ctx, a: &ExportArgs) -> CliResult {
    let mut store = ctx.open()?;
    let wrote = sync::export_with(&mut store, a.force)? != sync::Exported::Unchanged;
    let path = store.jsonl_path().display().to_string();
    ctx.print(&serde_json::json!({"path": path, "written": wrote}), || {
        if wrote {
            format!("Exported {path}")
        } else {
            format!("{path} is up to date")
        }
    });
    Ok(())
}

pub fn import(ctx: &Ctx) -> CliResult {
    let mut store = ctx.open()?;
    if !store.jsonl_path().is_file() {
        return Err(CliError::other(format!(
            "{} does not exist; nothing to import",
            store.jsonl_path().display()
        )));
    }
    let r = sync::import_now(&mut store)?;
    ctx.exported(&mut store)?;
    ctx.print(&r, || {
        format!(
            "Imported: {} created, {} updated, {} deleted, {} unchanged, {} kept (local newer)",
            r.created, r.updated, r.deleted, r.unchanged, r.kept_local
        )
    });
    Ok(())
}
