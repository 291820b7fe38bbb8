//! `gt dashboard`: a live control panel served by the `gt` binary itself.
//! See `docs/dashboard.md`.
//!
//! - `views.rs` reads each view straight from the store (library calls, no
//!   CLI text parsing); `dag.rs` lays a molecule's steps out as an SVG.
//! - `render.rs` holds the embedded minijinja templates (every value is
//!   HTML-escaped) and assets; `routes.rs` the axum handlers and the actions,
//!   which call the same library functions as the CLI.
//! - `security.rs`: loopback by default, a token off loopback, CSRF tokens
//!   and same-origin checks on every state change.
//! - `live.rs`: one watcher tails the event log when the database changes
//!   and fans out over a bounded broadcast channel; each open page gets its
//!   own SSE stream of re-rendered fragments.

pub mod dag;
pub mod live;
pub mod render;
pub mod routes;
pub mod security;
pub mod views;

use crate::coord::CoordError;
use crate::molecule::MolError;
use crate::runtime::RuntimeError;
use crate::store::StoreError;
use crate::town::{Town, TownError};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum DashError {
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    #[error("cannot render the page: {0}")]
    Template(#[from] minijinja::Error),
    #[error("{0}")]
    NotFound(String),
    #[error("the form's CSRF token is missing or stale: reload the page and try again")]
    Csrf,
    #[error("{message}")]
    Usage {
        message: String,
        help: Option<String>,
    },
}

impl DashError {
    pub fn usage(message: impl Into<String>, help: impl Into<String>) -> Self {
        DashError::Usage {
            message: message.into(),
            help: Some(help.into()),
        }
    }
    pub fn help(&self) -> Option<String> {
        match self {
            DashError::Runtime(e) => e.help(),
            DashError::Usage { help, .. } => help.clone(),
            _ => None,
        }
    }
    pub fn is_usage(&self) -> bool {
        match self {
            DashError::Runtime(e) => e.is_usage(),
            DashError::Usage { .. } => true,
            _ => false,
        }
    }
}

macro_rules! via_runtime {
    ($($t:ty),*) => {$(
        impl From<$t> for DashError {
            fn from(e: $t) -> Self {
                DashError::Runtime(RuntimeError::from(e))
            }
        }
    )*};
}
via_runtime!(StoreError, CoordError, TownError, MolError);

impl From<rusqlite::Error> for DashError {
    fn from(e: rusqlite::Error) -> Self {
        DashError::from(StoreError::from(e))
    }
}

pub type Result<T, E = DashError> = std::result::Result<T, E>;

/// How the server is reached and guarded.
#[derive(Debug, Clone)]
pub struct Config {
    pub bind: SocketAddr,
    /// Required on every request when set (always set off loopback).
    pub token: Option<String>,
    /// How often the watcher asks SQLite whether the database changed.
    pub poll: Duration,
}

impl Config {
    pub fn loopback(port: u16) -> Config {
        Config {
            bind: SocketAddr::new(IpAddr::from([127, 0, 0, 1]), port),
            token: None,
            poll: Duration::from_millis(150),
        }
    }
}

/// The server's shared state.
pub struct App {
    pub town: Town,
    pub config: Config,
    /// Compared with the `_csrf` field of every state-changing request.
    pub csrf: String,
    pub templates: render::Templates,
    pub hub: live::Hub,
    readers: Mutex<Vec<crate::store::Store>>,
    stop: Arc<AtomicBool>,
    /// Set when the server shuts down: every live stream ends.
    closing: tokio::sync::watch::Sender<bool>,
}

impl App {
    /// Open the town's store once (importing a JSONL that git changed), then
    /// start the event-log watcher.
    pub fn new(town: Town, config: Config) -> Result<Arc<App>> {
        let store = town.store()?;
        let stop = Arc::new(AtomicBool::new(false));
        let hub = live::Hub::start(town.beads_dir(), config.poll, stop.clone())?;
        Ok(Arc::new(App {
            town,
            config,
            csrf: security::random_token(),
            templates: render::Templates::new()?,
            hub,
            readers: Mutex::new(vec![store]),
            stop,
            closing: tokio::sync::watch::Sender::new(false),
        }))
    }

    /// End every live stream (so a graceful shutdown does not wait for
    /// open pages to go away).
    pub fn close(&self) {
        self.closing.send_replace(true);
    }

    pub fn closing(&self) -> tokio::sync::watch::Receiver<bool> {
        self.closing.subscribe()
    }

    /// A store connection for one render (pooled; reads only).
    pub fn with_store<T>(&self, f: impl FnOnce(&crate::store::Store) -> Result<T>) -> Result<T> {
        let pooled = self.readers.lock().ok().and_then(|mut v| v.pop());
        let store = match pooled {
            Some(s) => s,
            None => crate::store::Store::open_raw(&self.town.beads_dir())?,
        };
        let out = f(&store);
        if let Ok(mut v) = self.readers.lock() {
            if v.len() < 4 {
                v.push(store);
            }
        }
        out
    }

    /// A store for one action (writes go through the library as in the CLI).
    pub fn writer(&self) -> Result<crate::store::Store> {
        Ok(self.town.store()?)
    }
}

impl Drop for App {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// What `gt dashboard` was asked for.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub bind: IpAddr,
    pub port: u16,
    pub open: bool,
}

/// Where the off-loopback token lives: inside the town, never committed.
pub fn token_path(town: &Town) -> PathBuf {
    town.runtime_dir().join("dashboard.token")
}

/// Run the dashboard until Ctrl-C. Prints the URL (and, the one time it is
/// generated, the token).
pub fn serve(town: Town, opts: &ServeOptions) -> Result<()> {
    let mut config = Config::loopback(opts.port);
    config.bind = SocketAddr::new(opts.bind, opts.port);
    let mut new_token = None;
    if !opts.bind.is_loopback() {
        let (token, created) = security::load_or_create_token(&token_path(&town))?;
        if created {
            new_token = Some(token.clone());
        }
        config.token = Some(token);
    }
    let rt = crate::runtime::tokio_runtime()?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(config.bind)
            .await
            .map_err(|e| bind_error(config.bind, e))?;
        let addr = listener
            .local_addr()
            .map_err(|e| RuntimeError::Io(e.to_string()))?;
        let shown = if addr.ip().is_unspecified() {
            SocketAddr::new(IpAddr::from([127, 0, 0, 1]), addr.port())
        } else {
            addr
        };
        let url = format!("http://{shown}/");
        println!("Dashboard of {} at {url}", town.root.display());
        if config.token.is_some() {
            match &new_token {
                Some(t) => println!(
                    "Bound off loopback: every request needs this token (shown once, kept in {}):\n  {t}\n  open {url}?token={t}",
                    token_path(&town).display()
                ),
                None => println!(
                    "Bound off loopback: every request needs the token kept in {}\n  open {url}?token=<token>",
                    token_path(&town).display()
                ),
            }
        }
        println!("Ctrl-C stops it.");
        if opts.open {
            open_browser(&url);
        }
        let app = App::new(town, config)?;
        let router = routes::router(app.clone());
        axum::serve(listener, router)
            .with_graceful_shutdown(async move {
                let _ = tokio::signal::ctrl_c().await;
                app.close();
            })
            .await
            .map_err(|e| RuntimeError::Io(format!("the dashboard server failed: {e}")))?;
        Ok(())
    })
}

fn bind_error(addr: SocketAddr, e: std::io::Error) -> DashError {
    let help = if e.kind() == std::io::ErrorKind::AddrInUse {
        "another program uses that port: pass --port N (or --port 0 for any free port)"
    } else {
        "pass --bind with an address of this machine, e.g. 127.0.0.1"
    };
    DashError::usage(format!("cannot listen on {addr}: {e}"), help)
}

fn open_browser(url: &str) {
    let opener = std::env::var("BROWSER").unwrap_or_else(|_| "xdg-open".into());
    match std::process::Command::new(&opener)
        .arg(url)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
    {
        Ok(_) => {}
        Err(e) => {
            eprintln!("warning: cannot open a browser with `{opener}` ({e}); open {url} yourself")
        }
    }
}
