//! Live updates. One watcher thread asks SQLite whether the database changed
//! (`PRAGMA data_version`, which moves on every commit by another
//! connection), tails the event log past the last id it saw, and sends the
//! new last id on a bounded broadcast channel. Each open page holds one SSE
//! stream: on a change it re-renders its summary bar and its view, sends
//! them only when they differ from what it sent before, and sends the story
//! events past its own cursor. A page that falls behind the channel skips
//! to the newest state, so no queue grows with time.

use super::render::{self, View};
use super::{App, Result};
use axum::response::sse::Event;
use std::collections::hash_map::DefaultHasher;
use std::collections::VecDeque;
use std::convert::Infallible;
use std::hash::{Hash, Hasher};
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast;

/// Slots of the broadcast channel; a slower page skips ahead.
const CHANNEL: usize = 16;
/// Events read per query while tailing.
const TAIL_BATCH: usize = 500;
/// Story events sent to a page per change (older ones are in `/feed`).
pub const FEED_ROWS: usize = 50;
/// Bytes of a session log sent per tick.
const LOG_CHUNK: u64 = 64 * 1024;

pub struct Hub {
    tx: broadcast::Sender<i64>,
}

impl Hub {
    /// Start the watcher; it stops when `stop` is set.
    pub fn start(beads_dir: PathBuf, poll: Duration, stop: Arc<AtomicBool>) -> Result<Hub> {
        let store = crate::store::Store::open_raw(&beads_dir)?;
        let (tx, _) = broadcast::channel(CHANNEL);
        let sender = tx.clone();
        std::thread::Builder::new()
            .name("dashboard-watch".into())
            .spawn(move || watch(store, poll, stop, sender))
            .map_err(|e| {
                crate::runtime::RuntimeError::Io(format!("cannot start the watcher: {e}"))
            })?;
        Ok(Hub { tx })
    }

    pub fn subscribe(&self) -> broadcast::Receiver<i64> {
        self.tx.subscribe()
    }
}

fn data_version(store: &crate::store::Store) -> i64 {
    store
        .conn()
        .query_row("PRAGMA data_version", [], |r| r.get(0))
        .unwrap_or(0)
}

fn watch(
    store: crate::store::Store,
    poll: Duration,
    stop: Arc<AtomicBool>,
    tx: broadcast::Sender<i64>,
) {
    let mut seen = data_version(&store);
    let mut last = crate::coord::feed::last_event_id(store.conn()).unwrap_or(0);
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(poll);
        let v = data_version(&store);
        if v == seen {
            continue;
        }
        seen = v;
        // Tail the log past `last`; a change without events (an agent row)
        // is still a change.
        while let Ok(batch) = crate::store::events::since(store.conn(), last, TAIL_BATCH) {
            if let Some(e) = batch.last() {
                last = e.id;
            }
            if batch.len() < TAIL_BATCH {
                break;
            }
        }
        let _ = tx.send(last);
    }
}

fn hash(s: &str) -> u64 {
    let mut h = DefaultHasher::new();
    s.hash(&mut h);
    h.finish()
}

/// A session log being followed from `offset`.
pub struct LogTail {
    pub path: PathBuf,
    pub offset: u64,
}

impl LogTail {
    /// New bytes since the last read (at most [`LOG_CHUNK`]; a log that
    /// shrank was rotated and is followed from its start).
    fn read(&mut self) -> Option<String> {
        let mut f = std::fs::File::open(&self.path).ok()?;
        let len = f.metadata().ok()?.len();
        if len < self.offset {
            self.offset = 0;
        }
        if len == self.offset {
            return None;
        }
        let start = self.offset.max(len.saturating_sub(LOG_CHUNK));
        f.seek(SeekFrom::Start(start)).ok()?;
        let mut buf = Vec::new();
        f.take(len - start).read_to_end(&mut buf).ok()?;
        self.offset = len;
        Some(String::from_utf8_lossy(&buf).replace("\r\n", "\n"))
    }
}

/// The size of a log file now (where a page's tail starts).
pub fn log_len(path: &Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

struct Client {
    app: Arc<App>,
    rx: broadcast::Receiver<i64>,
    view: View,
    after: i64,
    sent_view: u64,
    sent_summary: u64,
    log: Option<LogTail>,
    pending: VecDeque<Event>,
    fresh: bool,
    tick: tokio::time::Interval,
    closing: tokio::sync::watch::Receiver<bool>,
}

impl Client {
    /// Re-render what this page shows; queue what changed.
    async fn refresh(&mut self) {
        let app = self.app.clone();
        let view = self.view.clone();
        let after = self.after;
        let out = tokio::task::spawn_blocking(move || {
            app.with_store(|s| render::live_parts(&app, s, &view, after))
        })
        .await;
        let parts = match out {
            Ok(Ok(p)) => p,
            Ok(Err(e)) => {
                self.pending
                    .push_back(Event::default().event("problem").data(e.to_string()));
                return;
            }
            Err(_) => return,
        };
        let (hs, hv) = (hash(&parts.summary), hash(&parts.view));
        if hs != self.sent_summary {
            self.sent_summary = hs;
            self.pending
                .push_back(Event::default().event("summary").data(parts.summary));
        }
        if hv != self.sent_view {
            self.sent_view = hv;
            self.pending
                .push_back(Event::default().event("view").data(parts.view));
        }
        if parts.last_event > self.after {
            self.after = parts.last_event;
            if !parts.feed.is_empty() {
                self.pending.push_back(
                    Event::default()
                        .event("feed")
                        .id(parts.last_event.to_string())
                        .data(parts.feed),
                );
            }
        }
    }
}

/// The SSE stream of one open page.
pub fn stream(
    app: Arc<App>,
    view: View,
    after: i64,
    log: Option<LogTail>,
) -> impl futures_util::Stream<Item = std::result::Result<Event, Infallible>> {
    let rx = app.hub.subscribe();
    let closing = app.closing();
    let client = Client {
        closing,
        app,
        rx,
        view,
        after,
        sent_view: 0,
        sent_summary: 0,
        log,
        pending: VecDeque::new(),
        fresh: true,
        tick: tokio::time::interval(Duration::from_millis(500)),
    };
    futures_util::stream::unfold(client, |mut c| async move {
        loop {
            if let Some(ev) = c.pending.pop_front() {
                return Some((Ok(ev), c));
            }
            if c.fresh {
                // Whatever changed between the page's render and this stream.
                c.fresh = false;
                c.refresh().await;
                continue;
            }
            if *c.closing.borrow() {
                return None;
            }
            tokio::select! {
                _ = c.closing.changed() => return None,
                r = c.rx.recv() => match r {
                    Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {
                        // Coalesce a burst into one render.
                        while c.rx.try_recv().is_ok() {}
                        c.refresh().await;
                    }
                    Err(broadcast::error::RecvError::Closed) => return None,
                },
                _ = c.tick.tick(), if c.log.is_some() => {
                    if let Some(text) = c.log.as_mut().and_then(LogTail::read) {
                        c.pending.push_back(Event::default().event("log").data(text));
                    }
                }
            }
        }
    })
}
