//! The reaper: keeps the store small by removing what no one will read
//! again. Wisps idle past an age are reaped, closed wisps and read mail past
//! an age are purged, open wisps nobody touched are closed. Gas Town runs
//! this against Dolt databases; here the town has one embedded store.

use crate::molecule::{wisp, MolError};
use crate::store::ids;
use crate::store::Store;
use serde::Serialize;

type Result<T> = std::result::Result<T, MolError>;

/// The ages, in seconds.
#[derive(Debug, Clone, Copy)]
pub struct Ages {
    pub max_age: i64,
    pub purge_age: i64,
    pub mail_age: i64,
    pub stale_age: i64,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    pub reapable_wisps: usize,
    pub purgeable_wisps: usize,
    pub purgeable_mail: i64,
    pub stale_wisps: usize,
    pub reaped: usize,
    pub purged_wisps: usize,
    pub purged_mail: usize,
    pub closed: usize,
    pub dry_run: bool,
}

fn now() -> i64 {
    ids::parse_secs(&ids::now()).unwrap_or(0)
}

fn cutoff(age: i64) -> String {
    ids::format_micros((now() - age) * 1_000_000)
}

/// Open wisp roots untouched for `stale_age`.
fn stale_wisps(store: &Store, stale_age: i64) -> Result<Vec<String>> {
    let n = now();
    Ok(wisp::list(store)?
        .into_iter()
        .filter(|w| !w.all_closed && n - ids::parse_secs(&w.last_activity).unwrap_or(n) > stale_age)
        .map(|w| w.root.id)
        .collect())
}

fn old_read_mail(store: &Store, mail_age: i64) -> Result<i64> {
    let n = store
        .conn()
        .query_row(
            "SELECT count(*) FROM mail WHERE unread = 0 AND created_at < ?1",
            [cutoff(mail_age)],
            |r| r.get(0),
        )
        .map_err(crate::store::StoreError::from)?;
    Ok(n)
}

/// Run one reaper command: `scan`, `reap`, `purge` or `auto-close`.
pub fn run(store: &mut Store, cmd: &str, ages: Ages, dry_run: bool) -> Result<Report> {
    let mut r = Report {
        dry_run,
        ..Default::default()
    };
    let closed_wisps = wisp::list(store)?
        .into_iter()
        .filter(|w| w.all_closed)
        .count();
    r.reapable_wisps = wisp::gc(store, ages.max_age, false, true)?
        .deleted_molecules
        .len();
    r.purgeable_wisps = closed_wisps;
    r.purgeable_mail = old_read_mail(store, ages.mail_age)?;
    let stale = stale_wisps(store, ages.stale_age)?;
    r.stale_wisps = stale.len();
    if dry_run {
        return Ok(r);
    }
    match cmd {
        "reap" => {
            r.reaped = wisp::gc(store, ages.max_age, false, false)?
                .deleted_molecules
                .len()
        }
        "purge" => {
            r.purged_wisps = wisp::gc(store, i64::MAX, true, false)?
                .deleted_molecules
                .len();
            let cut = cutoff(ages.mail_age);
            r.purged_mail = store.write(|tx| {
                tx.conn()
                    .execute(
                        "DELETE FROM mail WHERE unread = 0 AND created_at < ?1",
                        [&cut],
                    )
                    .map_err(crate::store::StoreError::from)
            })?;
        }
        "auto-close" => {
            store.write(|tx| {
                for id in &stale {
                    tx.close(id, Some("reaper: no activity past the stale age"))?;
                }
                Ok::<_, crate::store::StoreError>(())
            })?;
            r.closed = stale.len();
        }
        _ => {}
    }
    Ok(r)
}
