//! Shared plumbing of the coordination commands (convoy, mail, nudge,
//! handoff, mq, feed, doctor): context, identity, error mapping.

use super::bd::{CliError, CliResult, Ctx};
use crate::coord::address::Directory;
use crate::coord::{mail, CoordError};
use crate::store::Store;
use crate::town::{Town, TownError};

impl From<CoordError> for CliError {
    fn from(e: CoordError) -> Self {
        CliError {
            code: if e.is_usage() { 2 } else { 1 },
            help: e.help(),
            message: e.to_string(),
        }
    }
}

/// Run a coordination command and turn its result into an exit code,
/// printing errors (and a JSON error object with `--json`).
pub fn finish(json: bool, r: CliResult) -> i32 {
    match r {
        Ok(()) => 0,
        Err(e) if e.message.is_empty() => e.code,
        Err(e) => {
            if json {
                let v = serde_json::json!({"error": e.message, "help": e.help});
                println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
            }
            eprintln!("error: {}", e.message);
            if let Some(h) = &e.help {
                eprintln!("  help: {h}");
            }
            e.code
        }
    }
}

pub fn ctx(json: bool) -> Ctx {
    Ctx {
        json,
        actor: None,
        readonly: false,
    }
}

pub fn town(ctx: &Ctx) -> CliResult<Option<Town>> {
    match Town::find(&ctx.cwd()?) {
        Ok(t) => Ok(Some(t)),
        Err(TownError::NoTown { .. }) => Ok(None),
        Err(e) => Err(CoordError::from(e).into()),
    }
}

pub fn directory(ctx: &Ctx, store: &Store) -> CliResult<Directory> {
    let t = town(ctx)?;
    Ok(Directory::load(t.as_ref(), store.conn())?)
}

/// Who runs this command, as a mail address: `--identity`, else the store
/// actor (`BD_ACTOR`, `GT_ROLE`, `$USER`) when it is an address, else
/// `overseer` (a person at the terminal).
pub fn me(store: &Store, identity: Option<&str>) -> CliResult<String> {
    match identity {
        Some(i) => match crate::coord::address::Address::parse(i) {
            Some(a) if !a.is_group() => Ok(a.to_string()),
            _ => Err(CliError::usage(
                format!("`{i}` is not an agent address"),
                Some("use e.g. mayor, overseer, <rig>/witness, <rig>/polecats/<name>".into()),
            )),
        },
        None => Ok(mail::identity(store.actor())),
    }
}
