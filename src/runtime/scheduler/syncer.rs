//! Group fsync off the scheduler's path. During a run the supervisor
//! commits at `synchronous = NORMAL` (a commit is in the WAL: it survives a
//! supervisor crash, which is what resume needs). The syncer thread makes
//! those commits durable against power loss by `fdatasync`ing the WAL as
//! soon as its previous sync returns, so the scheduler never waits for the
//! disk between a step's exit and its successor's start, and one fsync
//! covers every commit made while the last one ran. SQLite replays a WAL
//! only up to its last complete commit, so syncing it at any moment is safe.

use std::fs::File;
use std::path::Path;
use std::sync::{Arc, Condvar, Mutex};

#[derive(Default)]
struct State {
    /// Kicks so far, and the kick count the last finished sync covered.
    wanted: u64,
    done: u64,
    stop: bool,
    error: Option<String>,
}

type Shared = Arc<(Mutex<State>, Condvar)>;

pub(super) struct Syncer {
    shared: Shared,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Syncer {
    /// A syncer for the WAL file `wal` (`beads.db-wal`).
    pub fn new(wal: &Path) -> std::io::Result<Syncer> {
        let file = File::open(wal)?;
        let shared: Shared = Arc::default();
        let s = shared.clone();
        let thread = std::thread::Builder::new()
            .name("gt-syncer".into())
            .spawn(move || sync_loop(&file, &s))?;
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

fn sync_loop(file: &File, shared: &Shared) {
    let (m, cv) = &**shared;
    loop {
        let target = {
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
            st.wanted
        };
        let res = file.sync_data();
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
        let wal = t.path().join("beads.db-wal");
        std::fs::write(&wal, b"frames").unwrap();
        let s = Syncer::new(&wal).unwrap();
        for _ in 0..5 {
            s.kick();
        }
        s.wait().unwrap();
        let st = s.shared.0.lock().unwrap();
        assert_eq!((st.wanted, st.done), (5, 5));
    }

    #[test]
    fn a_missing_wal_is_an_error_not_a_silent_syncer() {
        let t = tempfile::tempdir().unwrap();
        assert!(Syncer::new(&t.path().join("nope-wal")).is_err());
    }
}
