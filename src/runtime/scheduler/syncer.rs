//! Group fsync off the scheduler's path. During a run the supervisor
//! commits at `synchronous = NORMAL` (a commit is in the WAL: it survives a
//! supervisor crash, which is what resume needs). The syncer thread makes
//! those commits durable against power loss by `fdatasync`ing the WAL as
//! soon as its previous sync returns, so the scheduler never waits for the
//! disk between a step's exit and its successor's start, and one fsync
//! covers every commit made while the last one ran. SQLite replays a WAL
//! only up to its last complete commit, so syncing it at any moment is safe.
//!
//! The syncer also checkpoints the WAL into the database (a `PASSIVE`
//! checkpoint on a connection of its own, which never blocks the
//! scheduler's writes) every [`CHECKPOINT_EVERY`] kicks, while the
//! scheduler's connection runs with `wal_autocheckpoint = 0`: otherwise
//! every thousandth WAL page, a commit on the scheduler's thread copies
//! the WAL and fsyncs the database (half the CPU of its commits, and a
//! disk wait between a step's exit and its successor's start).

use rusqlite::{Connection, OpenFlags};
use std::fs::File;
use std::path::Path;
use std::sync::{Arc, Condvar, Mutex};

/// Kicks (about one per scheduler turn, some 20 WAL pages each) between
/// checkpoints: about SQLite's own 1,000-page default.
pub(super) const CHECKPOINT_EVERY: u64 = 48;

#[derive(Default)]
struct State {
    /// Kicks so far, and the kick count the last finished sync covered.
    wanted: u64,
    done: u64,
    /// The kick count at the last checkpoint.
    checkpointed: u64,
    stop: bool,
    error: Option<String>,
}

type Shared = Arc<(Mutex<State>, Condvar)>;

pub(super) struct Syncer {
    shared: Shared,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Syncer {
    /// A syncer for the database `db` and its WAL file `wal`
    /// (`beads.db-wal`).
    pub fn new(db: &Path, wal: &Path) -> std::io::Result<Syncer> {
        let file = File::open(wal)?;
        let conn = Connection::open_with_flags(
            db,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(std::io::Error::other)?;
        let shared: Shared = Arc::default();
        let s = shared.clone();
        let thread = std::thread::Builder::new()
            .name("gt-syncer".into())
            .spawn(move || sync_loop(&file, &conn, &s))?;
        Ok(Syncer {
            shared,
            thread: Some(thread),
        })
    }

    /// Commits were made: sync them soon.
    pub fn kick(&self) {
        let (m, cv) = &*self.shared;
        if let Ok(mut st) = m.lock() {
            st.wanted += 1;
            cv.notify_all();
        }
    }

    /// Wait until every kick so far is synced. Returns a sync's error.
    pub fn wait(&self) -> Result<(), String> {
        let (m, cv) = &*self.shared;
        let mut st = m.lock().map_err(|_| "the syncer failed".to_string())?;
        while st.done < st.wanted && st.error.is_none() {
            st = cv.wait(st).map_err(|_| "the syncer failed".to_string())?;
        }
        st.error.clone().map_or(Ok(()), Err)
    }
}

impl Drop for Syncer {
    fn drop(&mut self) {
        let (m, cv) = &*self.shared;
        if let Ok(mut st) = m.lock() {
            st.stop = true;
            cv.notify_all();
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn sync_loop(file: &File, conn: &Connection, shared: &Shared) {
    let (m, cv) = &**shared;
    loop {
        let (target, checkpoint) = {
            let Ok(mut st) = m.lock() else { return };
            while st.wanted == st.done && !st.stop {
                st = match cv.wait(st) {
                    Ok(st) => st,
                    Err(_) => return,
                };
            }
            if st.wanted == st.done {
                return;
            }
            let checkpoint = st.wanted - st.checkpointed >= CHECKPOINT_EVERY;
            if checkpoint {
                st.checkpointed = st.wanted;
            }
            (st.wanted, checkpoint)
        };
        let res = file.sync_data();
        if checkpoint && res.is_ok() {
            // Best effort: a checkpoint that cannot run now (a reader holds
            // old frames) runs next time; nothing depends on it.
            let _ = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
        }
        let Ok(mut st) = m.lock() else { return };
        st.done = target;
        if let Err(e) = res {
            st.error
                .get_or_insert_with(|| format!("fsync of the store's WAL failed: {e}"));
        }
        cv.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kick_is_synced_before_wait_returns() {
        let t = tempfile::tempdir().unwrap();
        let db = t.path().join("beads.db");
        let conn = Connection::open(&db).unwrap();
        conn.query_row("PRAGMA journal_mode = WAL", [], |_| Ok(()))
            .unwrap();
        conn.execute_batch("PRAGMA wal_autocheckpoint = 0; CREATE TABLE t (x)")
            .unwrap();
        let wal = t.path().join("beads.db-wal");
        let before = std::fs::metadata(&db).unwrap().len();
        let s = Syncer::new(&db, &wal).unwrap();
        for i in 0..CHECKPOINT_EVERY + 5 {
            conn.execute("INSERT INTO t VALUES (?1)", [i]).unwrap();
            s.kick();
        }
        s.wait().unwrap();
        let st = s.shared.0.lock().unwrap();
        let n = CHECKPOINT_EVERY + 5;
        assert_eq!((st.wanted, st.done), (n, n));
        assert!(st.checkpointed > 0, "no checkpoint after {n} kicks");
        // The syncer's checkpoint wrote the table into the database file
        // (this connection never checkpoints).
        assert!(std::fs::metadata(&db).unwrap().len() > before);
    }

    #[test]
    fn a_missing_wal_is_an_error_not_a_silent_syncer() {
        let t = tempfile::tempdir().unwrap();
        let db = t.path().join("beads.db");
        assert!(Syncer::new(&db, &t.path().join("nope-wal")).is_err());
    }
}
