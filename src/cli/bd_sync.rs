//! `bd init|sync|export|import`.

use super::bd::{CliError, CliResult, Ctx};
use crate::store::{sync, Store};
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
    let dir = store.dir().display().to_string();
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
    /// Only report whether the ledger has changes not yet exported.
    #[arg(long)]
    pub status: bool,
}

pub fn sync(ctx: &Ctx, a: &SyncArgs) -> CliResult {
    let mut store = ctx.open()?;
    if a.status {
        return super::bd_ops::sync_status(ctx, &store);
    }
    let r = sync::commit(&mut store, a.message.as_deref())?;
    ctx.print(&r, || match &r.commit {
        Some(c) => format!(
            "Committed .beads/issues.jsonl as {} on {}",
            &c[..c.len().min(12)],
            r.branch.as_deref().unwrap_or("HEAD")
        ),
        None => "Nothing to commit: the ledger is up to date".into(),
    });
    Ok(())
}

pub fn export(ctx: &Ctx) -> CliResult {
    let mut store = ctx.open()?;
    let wrote = sync::export(&mut store)?;
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
