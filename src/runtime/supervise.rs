//! What keeps the town supervisor up: per-key backoff, a log that says a
//! repeated error once (then counts it), and the refinery workers (one
//! thread per rig, beside the witness, never inside its loop).

use crate::town::Town;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Exponential backoff per key (an agent address, a rig): after `n`
/// consecutive failures the key waits `base * 2^n`, at most `max`.
#[derive(Debug)]
pub struct Backoff {
    base: Duration,
    max: Duration,
    failing: HashMap<String, (u32, Instant)>,
}

impl Backoff {
    pub fn new(base: Duration, max: Duration) -> Self {
        Backoff {
            base,
            max,
            failing: HashMap::new(),
        }
    }

    /// May `key` be tried now?
    pub fn ready(&self, key: &str) -> bool {
        self.failing
            .get(key)
            .is_none_or(|(_, until)| Instant::now() >= *until)
    }

    /// `key` failed again; returns how long it now waits.
    pub fn failed(&mut self, key: &str) -> Duration {
        let e = self
            .failing
            .entry(key.to_string())
            .or_insert((0, Instant::now()));
        e.0 = e.0.saturating_add(1);
        let wait = self.base.saturating_mul(1u32 << e.0.min(16)).min(self.max);
        e.1 = Instant::now() + wait;
        wait
    }

    pub fn succeeded(&mut self, key: &str) {
        self.failing.remove(key);
    }
}

/// A log where a line repeated for the same key is written once; the
/// repeats are counted and reported when the line changes, or once per
/// `window` while it keeps repeating.
#[derive(Debug)]
pub struct QuietLog {
    window: Duration,
    last: HashMap<String, (String, Instant, u64)>,
}

impl QuietLog {
    pub fn new(window: Duration) -> Self {
        QuietLog {
            window,
            last: HashMap::new(),
        }
    }

    /// The lines to write for `text` from `key` (none while it repeats).
    pub fn filter(&mut self, key: &str, text: &str) -> Vec<String> {
        let now = Instant::now();
        match self.last.get_mut(key) {
            Some((prev, since, n)) if prev == text => {
                *n += 1;
                if now.duration_since(*since) < self.window {
                    return Vec::new();
                }
                let line = format!("{text} (repeated {n} times)");
                *since = now;
                *n = 0;
                vec![line]
            }
            Some((prev, _, n)) => {
                let mut out = Vec::new();
                if *n > 0 {
                    out.push(format!("{prev} (repeated {n} more times)"));
                }
                out.push(text.to_string());
                self.last
                    .insert(key.to_string(), (text.to_string(), now, 0));
                out
            }
            None => {
                self.last
                    .insert(key.to_string(), (text.to_string(), now, 0));
                vec![text.to_string()]
            }
        }
    }

    /// Write `text` from `key` to stderr (the daemon log), quietly.
    pub fn line(&mut self, key: &str, text: &str) {
        for l in self.filter(key, text) {
            eprintln!("{} {l}", crate::store::ids::now());
        }
    }
}

/// The refinery: one worker thread per rig, each with its own store
/// connection, so a 30-minute gate never holds up the witness or another
/// rig. Stopping kills running gates ([`crate::proc::stop_tracked`]); their
/// merge requests go back to the queue.
pub struct Refineries {
    town: Town,
    tick: Duration,
    stop: Arc<AtomicBool>,
    log: Arc<Mutex<QuietLog>>,
    workers: HashMap<String, JoinHandle<()>>,
}

impl Refineries {
    pub fn new(town: Town, tick: Duration, log: Arc<Mutex<QuietLog>>) -> Self {
        Refineries {
            town,
            tick,
            stop: Arc::new(AtomicBool::new(false)),
            log,
            workers: HashMap::new(),
        }
    }

    /// Start a worker for every rig that has none (new rigs, or a worker
    /// that ended because its rig was removed and came back).
    pub fn ensure(&mut self, rigs: &[String]) {
        self.workers.retain(|_, h| !h.is_finished());
        for rig in rigs {
            if self.workers.contains_key(rig) {
                continue;
            }
            let (town, rig2, tick) = (self.town.clone(), rig.clone(), self.tick);
            let (stop, log) = (self.stop.clone(), self.log.clone());
            let h = std::thread::Builder::new()
                .name(format!("refinery-{rig}"))
                .spawn(move || worker(town, rig2, tick, stop, log));
            match h {
                Ok(h) => {
                    self.workers.insert(rig.clone(), h);
                }
                Err(e) => quiet(
                    &self.log,
                    rig,
                    &format!("refinery {rig}: cannot start: {e}"),
                ),
            }
        }
    }

    /// Stop every worker: kill running gates, then wait up to `grace` for
    /// the workers to put their merge requests back. Returns the number of
    /// gates killed.
    pub fn stop(self, grace: Duration) -> usize {
        self.stop.store(true, Ordering::SeqCst);
        let killed = crate::proc::stop_tracked();
        let deadline = Instant::now() + grace;
        for (_, h) in self.workers {
            while !h.is_finished() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
            if h.is_finished() {
                let _ = h.join();
            }
        }
        killed
    }
}

fn quiet(log: &Mutex<QuietLog>, key: &str, text: &str) {
    if let Ok(mut l) = log.lock() {
        l.line(key, text);
    }
}

/// Sleep `d` unless `stop` is set meanwhile.
fn nap(d: Duration, stop: &AtomicBool) {
    let end = Instant::now() + d;
    while !stop.load(Ordering::SeqCst) && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(20).min(end - Instant::now()));
    }
}

fn worker(
    town: Town,
    rig: String,
    tick: Duration,
    stop: Arc<AtomicBool>,
    log: Arc<Mutex<QuietLog>>,
) {
    use crate::coord::refinery::{self, Outcome};
    let key = format!("refinery:{rig}");
    let mut backoff = Backoff::new(tick, Duration::from_secs(60));
    let mut store = loop {
        match town.store() {
            Ok(s) => break s,
            Err(e) => {
                quiet(&log, &key, &format!("refinery {rig}: {e}"));
                nap(backoff.failed(&key), &stop);
                if stop.load(Ordering::SeqCst) {
                    return;
                }
            }
        }
    };
    store.set_actor(format!("{rig}/refinery"));
    while !stop.load(Ordering::SeqCst) {
        match crate::town::rigs::names(store.conn()) {
            Ok(names) if !names.contains(&rig) => return,
            _ => {}
        }
        // `gt refinery stop` pauses the built-in refinery (town or rig); a
        // refinery assigned an agent is that agent's session instead.
        if super::roles::paused(&town, "refinery", Some(&rig))
            || super::roles::runs_as_agent(&town, "refinery", Some(&rig))
        {
            nap(tick, &stop);
            continue;
        }
        match refinery::process_next(&mut store, &town, &rig) {
            Ok(Outcome::Idle { .. }) => {
                backoff.succeeded(&key);
                nap(tick, &stop);
            }
            Ok(o) => {
                backoff.succeeded(&key);
                quiet(&log, &key, &format!("refinery {rig}: {o:?}"));
            }
            Err(_) if stop.load(Ordering::SeqCst) => return,
            Err(e) => {
                quiet(&log, &key, &format!("refinery {rig}: {e}; backing off"));
                nap(backoff.failed(&key), &stop);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repeated_line_is_written_once_then_counted() {
        let mut l = QuietLog::new(Duration::from_secs(3600));
        assert_eq!(l.filter("a", "boom"), vec!["boom"]);
        assert!(l.filter("a", "boom").is_empty());
        assert!(l.filter("a", "boom").is_empty());
        assert_eq!(l.filter("b", "other"), vec!["other"]);
        assert_eq!(
            l.filter("a", "fixed"),
            vec!["boom (repeated 2 more times)", "fixed"]
        );
    }

    #[test]
    fn backoff_doubles_per_failure_and_resets() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_secs(1));
        assert!(b.ready("x"));
        assert_eq!(b.failed("x"), Duration::from_millis(200));
        assert!(!b.ready("x"));
        assert_eq!(b.failed("x"), Duration::from_millis(400));
        assert_eq!(b.failed("x"), Duration::from_millis(800));
        assert_eq!(b.failed("x"), Duration::from_secs(1));
        b.succeeded("x");
        assert!(b.ready("x"));
    }
}
