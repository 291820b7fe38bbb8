//! The axum routes: pages, assets, the live stream, and the actions. Every
//! action calls the library function its CLI command calls.

use super::live::{self, LogTail};
use super::render::{self, View};
use super::security::{self, check_csrf};
use super::{App, DashError, Result};
use crate::coord::address::Directory;
use crate::coord::{convoy, mail, mq, nudge};
use crate::runtime::work::{self, SlingRequest};
use axum::extract::{Form, Query, State};
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::sse::{KeepAlive, Sse};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use std::collections::HashMap;
use std::sync::Arc;

pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/", get(page))
        .route("/agents", get(page))
        .route("/agent", get(page))
        .route("/convoys", get(page))
        .route("/convoys/{id}", get(page))
        .route("/molecules", get(page))
        .route("/molecules/{id}", get(page))
        .route("/mq", get(page))
        .route("/mail", get(page))
        .route("/feed", get(page))
        .route("/static/style.css", get(style))
        .route("/static/app.js", get(script))
        .route("/live", get(live_stream))
        .route("/action/sling", post(sling))
        .route("/action/nudge", post(nudge_action))
        .route("/action/convoy", post(convoy_action))
        .route("/action/mail", post(mail_action))
        .route("/action/mq/retry", post(mq_retry))
        .route("/action/mq/reject", post(mq_reject))
        .fallback(not_found)
        .layer(axum::middleware::from_fn_with_state(
            app.clone(),
            security::guard,
        ))
        .with_state(app)
}

fn html(status: StatusCode, body: String) -> Response {
    (
        status,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body,
    )
        .into_response()
}

fn status_of(e: &DashError) -> StatusCode {
    match e {
        DashError::NotFound(_) => StatusCode::NOT_FOUND,
        DashError::Csrf => StatusCode::FORBIDDEN,
        e if e.is_usage() => StatusCode::BAD_REQUEST,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

fn error_response(app: &App, e: &DashError) -> Response {
    let status = status_of(e);
    let title = status.canonical_reason().unwrap_or("Error");
    html(
        status,
        render::error_page(app, title, &e.to_string(), e.help().as_deref()),
    )
}

/// Run blocking store work off the async thread.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f).await.unwrap_or_else(|e| {
        Err(DashError::Runtime(crate::runtime::RuntimeError::Io(
            format!("the request failed: {e}"),
        )))
    })
}

async fn page(
    State(app): State<Arc<App>>,
    uri: Uri,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let Some(view) = View::parse(uri.path(), &q) else {
        return not_found(State(app)).await;
    };
    let flash: Option<(String, String)> = q
        .get("ok")
        .map(|m| ("ok".to_string(), m.clone()))
        .or_else(|| q.get("err").map(|m| ("err".to_string(), m.clone())));
    let a = app.clone();
    let out = blocking(move || {
        a.with_store(|s| {
            render::page(
                &a,
                s,
                &view,
                flash.as_ref().map(|(k, t)| (k.as_str(), t.as_str())),
            )
        })
    })
    .await;
    match out {
        Ok(body) => html(StatusCode::OK, body),
        Err(e) => error_response(&app, &e),
    }
}

async fn not_found(State(app): State<Arc<App>>) -> Response {
    error_response(
        &app,
        &DashError::NotFound("no such page; the menu lists every view".into()),
    )
}

async fn style() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=300"),
        ],
        render::STYLE,
    )
        .into_response()
}

async fn script() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=300"),
        ],
        render::SCRIPT,
    )
        .into_response()
}

/// `GET /live?view=/molecules/X&after=N[&log=OFFSET]`: the page's SSE stream.
async fn live_stream(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let href = q.get("view").map(String::as_str).unwrap_or("/");
    let Some(view) = View::parse_href(href) else {
        return (StatusCode::BAD_REQUEST, "unknown view").into_response();
    };
    // A reconnecting EventSource says where it was.
    let resumed = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<i64>().ok());
    let after = q
        .get("after")
        .and_then(|a| a.parse::<i64>().ok())
        .into_iter()
        .chain(resumed)
        .max()
        .unwrap_or(0);
    let log = match (&view, q.get("log").and_then(|o| o.parse::<u64>().ok())) {
        (View::Agent(addr), Some(offset)) => {
            let a = app.clone();
            let addr = addr.clone();
            let path = blocking(move || {
                a.with_store(|s| {
                    Ok(crate::runtime::daemon::find_agent(s, &addr)
                        .ok()
                        .and_then(|r| r.log_path))
                })
            })
            .await
            .ok()
            .flatten();
            path.map(|p| LogTail {
                path: p.into(),
                offset,
            })
        }
        _ => None,
    };
    let mut resp = Sse::new(live::stream(app, view, after, log))
        .keep_alive(KeepAlive::default())
        .into_response();
    resp.headers_mut().insert(
        header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("no-store"),
    );
    resp
}

type Fields = HashMap<String, String>;

fn field<'a>(f: &'a Fields, name: &str, what: &str) -> Result<&'a str> {
    f.get(name)
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .ok_or_else(|| DashError::usage(format!("{what} is missing"), format!("fill in `{name}`")))
}

/// The page to go back to: a local path only.
fn back(f: &Fields) -> String {
    match f.get("_back") {
        Some(b) if b.starts_with('/') && !b.starts_with("//") && !b.contains('\\') => {
            b.split(['?', '#']).next().unwrap_or("/").to_string()
                + &b.split_once('?')
                    .map(|(_, q)| {
                        let kept: Vec<&str> = q
                            .split('&')
                            .filter(|kv| !kv.starts_with("ok=") && !kv.starts_with("err="))
                            .collect();
                        if kept.is_empty() || kept == [""] {
                            String::new()
                        } else {
                            format!("?{}", kept.join("&"))
                        }
                    })
                    .unwrap_or_default()
        }
        _ => "/".into(),
    }
}

fn wants_json(h: &HeaderMap) -> bool {
    h.get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("application/json"))
}

/// Answer an action: JSON for the page's script, else a redirect back with
/// the outcome in the address.
fn answer(app: &App, headers: &HeaderMap, f: &Fields, r: Result<String>) -> Response {
    let json = wants_json(headers);
    match r {
        Ok(msg) if json => (
            StatusCode::OK,
            axum::Json(serde_json::json!({"ok": true, "message": msg})),
        )
            .into_response(),
        Ok(msg) => redirect_with(&back(f), "ok", &msg),
        Err(e) if json => {
            let mut message = e.to_string();
            if let Some(h) = e.help() {
                message += &format!(" ({h})");
            }
            (
                status_of(&e),
                axum::Json(serde_json::json!({"ok": false, "message": message})),
            )
                .into_response()
        }
        Err(e @ (DashError::Csrf | DashError::Runtime(_) | DashError::Template(_)))
            if !e.is_usage() =>
        {
            error_response(app, &e)
        }
        Err(e) => {
            let mut message = e.to_string();
            if let Some(h) = e.help() {
                message += &format!(" ({h})");
            }
            redirect_with(&back(f), "err", &message)
        }
    }
}

fn redirect_with(to: &str, key: &str, msg: &str) -> Response {
    let sep = if to.contains('?') { '&' } else { '?' };
    Redirect::to(&format!("{to}{sep}{key}={}", render::enc(msg))).into_response()
}

/// Check the CSRF field, then run `act` off the async thread.
async fn act(
    app: Arc<App>,
    headers: HeaderMap,
    f: Fields,
    act: impl FnOnce(&App, &Fields) -> Result<String> + Send + 'static,
) -> Response {
    if let Err(e) = check_csrf(&app, f.get("_csrf").map(String::as_str).unwrap_or("")) {
        return answer(&app, &headers, &f, Err(e));
    }
    let (a, fields) = (app.clone(), f.clone());
    let r = blocking(move || act(&a, &fields)).await;
    answer(&app, &headers, &f, r)
}

fn directory(app: &App, store: &crate::store::Store) -> Result<Directory> {
    Ok(Directory::load(Some(&app.town), store.conn())?)
}

/// Like the CLI after a ledger change: the JSONL is current, or the
/// failure of its export is reported.
fn export(store: &mut crate::store::Store) -> Result<()> {
    store.flush_export()?;
    Ok(())
}

async fn sling(State(app): State<Arc<App>>, headers: HeaderMap, Form(f): Form<Fields>) -> Response {
    act(app, headers, f, |app, f| {
        let r = work::sling(
            &app.town,
            &SlingRequest {
                target: field(f, "bead", "the bead (or formula) to sling")?.to_string(),
                rig: field(f, "rig", "the rig")?.to_string(),
                agent: f
                    .get("agent")
                    .map(|a| a.trim().to_string())
                    .filter(|a| !a.is_empty()),
                vars: Default::default(),
                cwd: app.town.root.clone(),
                no_start: false,
                polecat: None,
            },
        )?;
        Ok(format!(
            "Slung {} to {} (agent {}, generation {})",
            r.bead, r.address, r.agent, r.generation
        ))
    })
    .await
}

async fn nudge_action(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Form(f): Form<Fields>,
) -> Response {
    act(app, headers, f, |app, f| {
        let mut store = app.writer()?;
        let dir = directory(app, &store)?;
        let from = mail::identity(store.actor());
        let n = nudge::send(
            &mut store,
            &dir,
            field(f, "agent", "the agent to nudge")?,
            &from,
            field(f, "message", "the nudge message")?,
            None,
        )?;
        Ok(format!(
            "nudge {} queued for {}; it is delivered at the agent's next prime",
            n.id, n.target
        ))
    })
    .await
}

async fn convoy_action(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Form(f): Form<Fields>,
) -> Response {
    act(app, headers, f, |app, f| {
        let mut store = app.writer()?;
        let dir = directory(app, &store)?;
        let beads: Vec<String> = field(f, "beads", "the beads to track")?
            .split([',', ' ', '\n', '\t'])
            .map(str::trim)
            .filter(|b| !b.is_empty())
            .map(str::to_string)
            .collect();
        let notify: Vec<String> = f
            .get("notify")
            .map(|n| {
                n.split([',', ' '])
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        let notify = convoy::check_notify(&dir, &notify)?;
        let owner = store.actor().to_string();
        let c = convoy::create(
            &mut store,
            &convoy::NewConvoy {
                name: field(f, "name", "the convoy's name")?.to_string(),
                beads,
                owner,
                notify,
                human: true,
                auto: false,
            },
        )?;
        export(&mut store)?;
        Ok(format!("created convoy {} \"{}\"", c.id, c.title))
    })
    .await
}

async fn mail_action(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Form(f): Form<Fields>,
) -> Response {
    act(app, headers, f, |app, f| {
        let mut store = app.writer()?;
        let dir = directory(app, &store)?;
        let from = mail::identity(store.actor());
        let ids = mail::send(
            &mut store,
            &dir,
            &mail::Outgoing {
                from,
                to: field(f, "to", "the recipient")?.to_string(),
                subject: field(f, "subject", "the subject")?.to_string(),
                body: f.get("body").cloned().unwrap_or_default(),
                kind: "notification".into(),
                ..Default::default()
            },
        )?;
        Ok(format!("sent {} message(s)", ids.len()))
    })
    .await
}

async fn mq_retry(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Form(f): Form<Fields>,
) -> Response {
    act(app, headers, f, |app, f| {
        let mut store = app.writer()?;
        let m = mq::retry(&mut store, field(f, "mr", "the merge request")?)?;
        export(&mut store)?;
        Ok(format!("{} is queued again", m.id))
    })
    .await
}

async fn mq_reject(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Form(f): Form<Fields>,
) -> Response {
    act(app, headers, f, |app, f| {
        let mut store = app.writer()?;
        let reason = f
            .get("reason")
            .map(|r| r.trim())
            .filter(|r| !r.is_empty())
            .unwrap_or("rejected by hand");
        let m = mq::reject(&mut store, field(f, "mr", "the merge request")?, reason)?;
        export(&mut store)?;
        Ok(format!(
            "rejected {}; {} reopened with a MERGE REJECTION note",
            m.id, m.bead
        ))
    })
    .await
}
