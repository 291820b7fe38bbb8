//! Pages and fragments: the views, their templates (embedded, HTML-escaped
//! without exception) and the static assets.

use super::views::{self, AgentInfo};
use super::{dag, App, DashError, Result};
use crate::coord::convoy::Progress;
use crate::store::Store;
use minijinja::{AutoEscape, Environment, Value};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};

/// Characters left alone in a query value (ids and addresses stay readable).
const QUERY: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'/')
    .remove(b'~');

pub fn enc(s: &str) -> String {
    utf8_percent_encode(s, QUERY).to_string()
}

const TEMPLATES: &[(&str, &str)] = &[
    ("base.html", include_str!("templates/base.html")),
    ("summary.html", include_str!("templates/summary.html")),
    ("feed_rows.html", include_str!("templates/feed_rows.html")),
    ("bar.html", include_str!("templates/bar.html")),
    ("overview.html", include_str!("templates/overview.html")),
    ("agents.html", include_str!("templates/agents.html")),
    ("agent.html", include_str!("templates/agent.html")),
    ("convoys.html", include_str!("templates/convoys.html")),
    ("convoy.html", include_str!("templates/convoy.html")),
    ("molecules.html", include_str!("templates/molecules.html")),
    ("molecule.html", include_str!("templates/molecule.html")),
    ("mq.html", include_str!("templates/mq.html")),
    ("mail.html", include_str!("templates/mail.html")),
    ("feed.html", include_str!("templates/feed.html")),
    ("actions.html", include_str!("templates/actions.html")),
    ("nudge_form.html", include_str!("templates/nudge_form.html")),
    ("error.html", include_str!("templates/error.html")),
];

pub const STYLE: &str = include_str!("assets/style.css");
pub const SCRIPT: &str = include_str!("assets/app.js");

pub struct Templates {
    env: Environment<'static>,
}

impl Templates {
    pub fn new() -> Result<Templates> {
        let mut env = Environment::new();
        // Everything is HTML (the SVG is inline HTML too): escape always.
        env.set_auto_escape_callback(|_| AutoEscape::Html);
        for (name, text) in TEMPLATES {
            env.add_template(name, text)?;
        }
        Ok(Templates { env })
    }

    pub fn render(&self, name: &str, ctx: &BTreeMap<&'static str, Value>) -> Result<String> {
        Ok(self.env.get_template(name)?.render(ctx)?)
    }
}

/// A page of the dashboard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum View {
    Overview,
    Agents,
    Agent(String),
    Convoys,
    Convoy(String),
    Molecules,
    Molecule(String),
    Mq,
    Mail(Option<String>),
    Feed,
}

impl View {
    /// The view at `path` with query `q` (`None`: no such page).
    pub fn parse(path: &str, q: &HashMap<String, String>) -> Option<View> {
        let arg = |k: &str| q.get(k).filter(|v| !v.is_empty()).cloned();
        Some(match path.trim_end_matches('/') {
            "" => View::Overview,
            "/agents" => View::Agents,
            "/agent" => View::Agent(arg("addr")?),
            "/convoys" => View::Convoys,
            "/molecules" => View::Molecules,
            "/mq" => View::Mq,
            "/mail" => View::Mail(arg("addr")),
            "/feed" => View::Feed,
            p => {
                if let Some(id) = p.strip_prefix("/convoys/") {
                    View::Convoy(id.to_string())
                } else if let Some(id) = p.strip_prefix("/molecules/") {
                    View::Molecule(id.to_string())
                } else {
                    return None;
                }
            }
        })
    }

    /// Parse a `path?query` string (the live stream's `view` parameter).
    pub fn parse_href(href: &str) -> Option<View> {
        let (path, query) = href.split_once('?').unwrap_or((href, ""));
        let q: HashMap<String, String> = url_pairs(query);
        View::parse(path, &q)
    }

    pub fn href(&self) -> String {
        match self {
            View::Overview => "/".into(),
            View::Agents => "/agents".into(),
            View::Agent(a) => format!("/agent?addr={}", enc(a)),
            View::Convoys => "/convoys".into(),
            View::Convoy(id) => format!("/convoys/{}", enc(id)),
            View::Molecules => "/molecules".into(),
            View::Molecule(id) => format!("/molecules/{}", enc(id)),
            View::Mq => "/mq".into(),
            View::Mail(None) => "/mail".into(),
            View::Mail(Some(a)) => format!("/mail?addr={}", enc(a)),
            View::Feed => "/feed".into(),
        }
    }

    fn template(&self) -> &'static str {
        match self {
            View::Overview => "overview.html",
            View::Agents => "agents.html",
            View::Agent(_) => "agent.html",
            View::Convoys => "convoys.html",
            View::Convoy(_) => "convoy.html",
            View::Molecules => "molecules.html",
            View::Molecule(_) => "molecule.html",
            View::Mq => "mq.html",
            View::Mail(_) => "mail.html",
            View::Feed => "feed.html",
        }
    }

    fn nav(&self) -> &'static str {
        match self {
            View::Overview => "overview",
            View::Agents | View::Agent(_) => "agents",
            View::Convoys | View::Convoy(_) => "convoys",
            View::Molecules | View::Molecule(_) => "molecules",
            View::Mq => "mq",
            View::Mail(_) => "mail",
            View::Feed => "feed",
        }
    }

    fn title(&self) -> String {
        match self {
            View::Overview => "Overview".into(),
            View::Agents => "Agents".into(),
            View::Agent(a) => format!("Agent {a}"),
            View::Convoys => "Convoys".into(),
            View::Convoy(id) => format!("Convoy {id}"),
            View::Molecules => "Molecules".into(),
            View::Molecule(id) => format!("Molecule {id}"),
            View::Mq => "Merge queue".into(),
            View::Mail(a) => format!("Mail {}", a.as_deref().unwrap_or("")),
            View::Feed => "Feed".into(),
        }
    }
}

/// `a=1&b=x%2Fy` into pairs (percent- and `+`-decoded).
pub fn url_pairs(query: &str) -> HashMap<String, String> {
    query
        .split('&')
        .filter_map(|kv| kv.split_once('=').or(Some((kv, ""))))
        .filter(|(k, _)| !k.is_empty())
        .map(|(k, v)| {
            let dec = |s: &str| {
                percent_encoding::percent_decode_str(&s.replace('+', " "))
                    .decode_utf8_lossy()
                    .into_owned()
            };
            (dec(k), dec(v))
        })
        .collect()
}

/// One segment of a progress bar (SVG units: the bar is 200 wide).
#[derive(Debug, Clone, Serialize)]
pub struct Segment {
    pub class: &'static str,
    pub label: &'static str,
    pub n: i64,
    pub x: f64,
    pub w: f64,
}

pub const BAR_W: f64 = 200.0;

pub fn segments(parts: &[(&'static str, &'static str, i64)]) -> Vec<Segment> {
    let total: i64 = parts.iter().map(|p| p.2).sum();
    let mut x = 0.0;
    let mut out = Vec::new();
    for (class, label, n) in parts {
        let w = if total > 0 {
            BAR_W * *n as f64 / total as f64
        } else {
            0.0
        };
        out.push(Segment {
            class,
            label,
            n: *n,
            x,
            w,
        });
        x += w;
    }
    out
}

pub fn convoy_bar(p: &Progress) -> Vec<Segment> {
    segments(&[
        ("merged", "merged", p.merged),
        ("done", "done", p.done),
        ("current", "in progress", p.in_progress),
        ("blocked", "blocked", p.blocked),
        ("open", "open", p.open),
        ("unmerged", "closed unmerged", p.closed_unmerged),
    ])
}

#[derive(Serialize)]
struct ConvoyCard {
    #[serde(flatten)]
    summary: crate::coord::convoy::ConvoySummary,
    bar: Vec<Segment>,
}

#[derive(Serialize)]
struct MoleculeCard {
    #[serde(flatten)]
    row: views::MoleculeRow,
    bar: Vec<Segment>,
}

fn v<T: Serialize>(x: &T) -> Value {
    Value::from_serialize(x)
}

fn convoy_cards(conn: &rusqlite::Connection, open_only: bool) -> Result<Vec<ConvoyCard>> {
    Ok(views::convoys(conn)?
        .into_iter()
        .filter(|c| !open_only || c.status != "closed")
        .map(|c| ConvoyCard {
            bar: convoy_bar(&c.progress),
            summary: c,
        })
        .collect())
}

fn molecule_cards(conn: &rusqlite::Connection, limit: usize) -> Result<Vec<MoleculeCard>> {
    Ok(views::molecules(conn, limit)?
        .into_iter()
        .map(|m| MoleculeCard {
            bar: segments(&[
                ("merged", "done", m.done),
                ("current", "working", m.working),
                ("blocked", "blocked", m.blocked),
                ("open", "to do", m.total - m.done - m.working - m.blocked),
            ]),
            row: m,
        })
        .collect())
}

/// The data of one view (the keys its template reads).
fn view_data(
    app: &App,
    store: &Store,
    view: &View,
    agents: &[AgentInfo],
    ctx: &mut BTreeMap<&'static str, Value>,
) -> Result<()> {
    let conn = store.conn();
    match view {
        View::Overview => {
            ctx.insert("agents", v(&agents));
            ctx.insert("convoys", v(&convoy_cards(conn, true)?));
            ctx.insert("molecules", v(&molecule_cards(conn, 10)?));
        }
        View::Agents => {
            ctx.insert("agents", v(&agents));
        }
        View::Agent(addr) => {
            let a = agents
                .iter()
                .find(|a| a.address.trim_end_matches('/') == addr.trim_end_matches('/'))
                .ok_or_else(|| DashError::NotFound(format!("no agent {addr}")))?;
            ctx.insert("agent", v(a));
            let nudges = crate::coord::nudge::pending_nudges(conn, &a.address)?;
            ctx.insert("nudges", v(&nudges));
        }
        View::Convoys => {
            ctx.insert("convoys", v(&convoy_cards(conn, false)?));
        }
        View::Convoy(id) => {
            let st = views::convoy(conn, store.prefix(), id)?;
            ctx.insert("segs", v(&convoy_bar(&st.summary.progress)));
            ctx.insert("convoy", v(&st));
        }
        View::Molecules => {
            ctx.insert("molecules", v(&molecule_cards(conn, 200)?));
        }
        View::Molecule(id) => {
            let d = views::molecule(store, id).map_err(|e| match e {
                DashError::Runtime(crate::runtime::RuntimeError::Mol(
                    crate::molecule::MolError::Store(crate::store::StoreError::NotFound { .. }),
                )) => DashError::NotFound(format!("no molecule {id}")),
                e => e,
            })?;
            let c = &d.view.counts;
            ctx.insert(
                "segs",
                v(&segments(&[
                    ("merged", "done", c.done as i64),
                    ("current", "working", c.current as i64),
                    ("ready", "ready", c.ready as i64),
                    ("blocked", "blocked", c.blocked as i64),
                    ("open", "waiting", c.pending as i64),
                ])),
            );
            let steps: Vec<Value> = d
                .view
                .steps
                .iter()
                .map(|s| {
                    minijinja::context! {
                        id => s.id, title => s.title, status => s.status.as_str(),
                        state => dag::state_name(s.state), assignee => s.assignee,
                        indent => s.depth.saturating_sub(1),
                    }
                })
                .collect();
            ctx.insert("steps", Value::from(steps));
            ctx.insert("mol", v(&d.view));
            ctx.insert("dag", v(&d.dag));
        }
        View::Mq => {
            ctx.insert("mrs", v(&views::merge_queue(conn, 30)?));
        }
        View::Mail(addr) => {
            let addr = addr.clone().unwrap_or_else(|| "overseer".into());
            ctx.insert("mailboxes", v(&views::mailboxes(conn)?));
            ctx.insert("inbox", v(&views::inbox(conn, &addr)?));
            ctx.insert("addr", Value::from(addr));
        }
        View::Feed => {
            ctx.insert("events", v(&views::recent_feed(conn, 200)?));
        }
    }
    ctx.insert("view_template", Value::from(view.template()));
    let _ = app;
    Ok(())
}

fn base_ctx(app: &App, view: &View) -> BTreeMap<&'static str, Value> {
    let mut ctx = BTreeMap::new();
    ctx.insert("csrf", Value::from(app.csrf.clone()));
    ctx.insert("view_href", Value::from(view.href()));
    ctx.insert("nav", Value::from(view.nav()));
    ctx.insert("title", Value::from(view.title()));
    ctx.insert("town", Value::from(app.town.root.display().to_string()));
    ctx
}

/// A whole page.
pub fn page(app: &App, store: &Store, view: &View, flash: Option<(&str, &str)>) -> Result<String> {
    let conn = store.conn();
    let now = views::now_secs();
    let agents = views::agents(&app.town, conn, now)?;
    let mut ctx = base_ctx(app, view);
    ctx.insert("summary", v(&views::summary(&app.town, conn, &agents)?));
    ctx.insert("after", Value::from(views::last_event_id(conn)?));
    ctx.insert("feed", v(&views::recent_feed(conn, 30)?));
    ctx.insert("rigs", v(&views::rigs(store)?));
    ctx.insert("slingable", v(&views::slingable(conn, 200)?));
    ctx.insert(
        "addresses",
        v(&agents.iter().map(|a| a.address.clone()).collect::<Vec<_>>()),
    );
    if let Some((kind, text)) = flash {
        ctx.insert("flash", minijinja::context! { kind => kind, text => text });
    }
    view_data(app, store, view, &agents, &mut ctx)?;
    if let View::Agent(_) = view {
        let log = agents
            .iter()
            .find(|a| matches!(view, View::Agent(x) if x.trim_end_matches('/') == a.address.trim_end_matches('/')))
            .and_then(|a| a.log_path.clone());
        if let Some(path) = log {
            let p = std::path::Path::new(&path);
            let text = crate::runtime::session::tail(p, 200).unwrap_or_default();
            ctx.insert("log_text", Value::from(text));
            ctx.insert("log_offset", Value::from(super::live::log_len(p)));
        }
    }
    app.templates.render("base.html", &ctx)
}

/// What a live stream sends: the summary bar, the view, feed rows past `after`.
pub struct LiveParts {
    pub summary: String,
    pub view: String,
    pub feed: String,
    pub last_event: i64,
}

pub fn live_parts(app: &App, store: &Store, view: &View, after: i64) -> Result<LiveParts> {
    let conn = store.conn();
    let now = views::now_secs();
    let agents = views::agents(&app.town, conn, now)?;
    let mut ctx = base_ctx(app, view);
    ctx.insert("summary", v(&views::summary(&app.town, conn, &agents)?));
    let summary = app.templates.render("summary.html", &ctx)?;
    let view_html = match view_data(app, store, view, &agents, &mut ctx) {
        Ok(()) => app.templates.render(view.template(), &ctx)?,
        Err(DashError::NotFound(what)) => {
            ctx.insert("message", Value::from(format!("{what} (it is gone)")));
            app.templates.render("error.html", &ctx)?
        }
        Err(e) => return Err(e),
    };
    let last_event = views::last_event_id(conn)?;
    let rows = feed_since(conn, after)?;
    ctx.insert("feed", v(&rows));
    let feed = if rows.is_empty() {
        String::new()
    } else {
        app.templates.render("feed_rows.html", &ctx)?
    };
    Ok(LiveParts {
        summary,
        view: view_html,
        feed,
        last_event,
    })
}

/// Story events past `after` (the newest [`super::live::FEED_ROWS`]), oldest first.
fn feed_since(
    conn: &rusqlite::Connection,
    after: i64,
) -> Result<Vec<crate::coord::feed::FeedEvent>> {
    let mut rows = views::recent_feed(conn, super::live::FEED_ROWS)?;
    rows.retain(|e| e.id > after);
    Ok(rows)
}

/// An error page (status chosen by the caller).
pub fn error_page(app: &App, title: &str, message: &str, help: Option<&str>) -> String {
    let mut ctx = base_ctx(app, &View::Overview);
    ctx.insert("title", Value::from(title));
    ctx.insert("message", Value::from(message));
    ctx.insert("help", Value::from(help));
    ctx.insert("standalone", Value::from(true));
    app.templates
        .render("error.html", &ctx)
        .unwrap_or_else(|_| "error".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn views_round_trip_through_their_addresses() {
        let views = [
            View::Overview,
            View::Agents,
            View::Agent("app/polecats/nux".into()),
            View::Agent("mayor/".into()),
            View::Convoys,
            View::Convoy("hq-abc".into()),
            View::Molecules,
            View::Molecule("hq-abc".into()),
            View::Mq,
            View::Mail(None),
            View::Mail(Some("app/witness".into())),
            View::Feed,
        ];
        for v in views {
            assert_eq!(View::parse_href(&v.href()), Some(v.clone()), "{}", v.href());
        }
        assert_eq!(View::parse_href("/nope"), None);
        assert_eq!(
            View::parse_href("/agent"),
            None,
            "an agent page needs its address"
        );
        assert_eq!(
            View::parse_href("/mail?addr=a%20b&x"),
            Some(View::Mail(Some("a b".into())))
        );
        assert_eq!(enc("a b&c=d"), "a%20b%26c%3Dd");
    }

    #[test]
    fn bar_segments_fill_the_bar_in_order() {
        let s = segments(&[("merged", "merged", 1), ("open", "open", 3)]);
        assert_eq!(s[0].w, 50.0);
        assert_eq!(s[1].x, 50.0);
        assert_eq!(s[1].w, 150.0);
        assert!(segments(&[("open", "open", 0)])[0].w == 0.0);
    }

    #[test]
    fn every_embedded_template_parses() {
        Templates::new().unwrap();
    }
}
