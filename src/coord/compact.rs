//! `gt compact`: the TTL policy for wisps. A wisp past its type's TTL is
//! deleted when it is closed (nothing will read it again) and promoted to a
//! permanent bead when it is still open (something is stuck, keep the
//! evidence); a wisp with comments or a `keep` label is always promoted.
//! Each run that changes something records a closed `event` bead (label
//! `compaction`) with its counts, which `gt compact report` sums up daily
//! (mail to the deacon, cc the mayor) or weekly (to the mayor).

use super::address::Directory;
use super::mail::{self, Outgoing};
use super::Result;
use crate::molecule::wisp;
use crate::store::issues::{self, IssueFilter, NewIssue};
use crate::store::{ids, Issue, IssueType, Status, Store, StoreError};
use serde::Serialize;
use std::collections::BTreeMap;

pub const LABEL: &str = "compaction";

/// The wisp's category and TTL in seconds.
pub fn category(root: &Issue) -> (&'static str, i64) {
    const H: i64 = 3600;
    let text = format!(
        "{} {} {}",
        root.title.to_lowercase(),
        root.labels.join(" "),
        root.metadata
            .get("formula")
            .and_then(|v| v.as_str())
            .unwrap_or("")
    );
    let has = |w: &str| text.contains(w);
    if has("heartbeat") || has("ping") {
        ("heartbeat", 6 * H)
    } else if has("recovery") || has("error") || has("escalat") {
        ("recovery", 7 * 24 * H)
    } else if has("patrol") || has("gc_report") || has("gc-report") {
        ("patrol", 24 * H)
    } else {
        ("default", 24 * H)
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Decision {
    pub wisp: String,
    pub title: String,
    pub category: String,
    pub age_hours: i64,
    /// delete, promote or keep.
    pub action: String,
    pub reason: String,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    pub decisions: Vec<Decision>,
    pub deleted: usize,
    pub promoted: usize,
    pub active: usize,
    pub by_category: BTreeMap<String, BTreeMap<String, usize>>,
    pub dry_run: bool,
    /// The event bead recording this run.
    pub event: Option<String>,
}

fn wisps(store: &Store) -> Result<Vec<wisp::WispInfo>> {
    wisp::list(store)
        .map_err(|e| super::CoordError::failed(format!("cannot list wisps: {e}"), None))
}

fn comments(store: &Store, id: &str) -> Result<i64> {
    Ok(store
        .conn()
        .query_row(
            "SELECT count(*) FROM comments WHERE issue_id = ?1",
            [id],
            |r| r.get(0),
        )
        .map_err(StoreError::from)?)
}

/// Decide every wisp, and (unless `dry_run`) act.
pub fn run(store: &mut Store, dry_run: bool) -> Result<Report> {
    let now = ids::parse_secs(&ids::now()).unwrap_or(0);
    let mut r = Report {
        dry_run,
        ..Default::default()
    };
    for w in wisps(store)? {
        let (cat, ttl) = category(&w.root);
        let age = now - ids::parse_secs(&w.last_activity).unwrap_or(now);
        let keep = w.root.labels.iter().any(|l| l == "keep") || comments(store, &w.root.id)? > 0;
        let (action, reason) = if age < ttl {
            ("keep", format!("younger than its TTL ({} h)", ttl / 3600))
        } else if keep {
            ("promote", "has comments or a keep label".to_string())
        } else if w.all_closed {
            ("delete", "closed and past its TTL".to_string())
        } else {
            (
                "promote",
                "still open past its TTL: something is stuck".to_string(),
            )
        };
        *r.by_category
            .entry(cat.to_string())
            .or_default()
            .entry(action.to_string())
            .or_insert(0) += 1;
        match action {
            "delete" => r.deleted += 1,
            "promote" => r.promoted += 1,
            _ => r.active += 1,
        }
        r.decisions.push(Decision {
            wisp: w.root.id.clone(),
            title: w.root.title.clone(),
            category: cat.into(),
            age_hours: age / 3600,
            action: action.into(),
            reason,
        });
    }
    if dry_run || r.deleted + r.promoted == 0 {
        return Ok(r);
    }
    let decisions = r.decisions.clone();
    let counts = serde_json::json!({
        "deleted": r.deleted, "promoted": r.promoted, "active": r.active,
        "by_category": r.by_category,
    });
    let ev = store.write(|tx| -> Result<String> {
        for d in &decisions {
            let tree: Vec<String> = issues::subtree(tx.conn(), &d.wisp)?
                .into_iter()
                .filter(|i| i.ephemeral)
                .map(|i| i.id)
                .collect();
            match d.action.as_str() {
                "delete" => {
                    tx.delete(&tree)?;
                }
                "promote" => {
                    for id in &tree {
                        tx.conn()
                            .execute(
                                "UPDATE issues SET ephemeral = 0, updated_at = ?2 WHERE id = ?1",
                                rusqlite::params![id, tx.now],
                            )
                            .map_err(StoreError::from)?;
                    }
                    tx.comment(&d.wisp, &format!("promoted by gt compact: {}", d.reason))?;
                }
                _ => {}
            }
        }
        let e = tx.create(&NewIssue {
            title: format!(
                "Compaction: {} deleted, {} promoted",
                counts["deleted"], counts["promoted"]
            ),
            issue_type: IssueType::Event,
            labels: vec![LABEL.into()],
            metadata: Some(counts.clone()),
            ..Default::default()
        })?;
        tx.close(&e.id, Some("recorded"))?;
        Ok(e.id)
    })?;
    r.event = Some(ev);
    Ok(r)
}

#[derive(Debug, Serialize)]
pub struct Digest {
    pub period: String,
    pub since: String,
    pub runs: usize,
    pub deleted: u64,
    pub promoted: u64,
    /// Open wisps right now.
    pub active: usize,
    pub promotions: Vec<String>,
    pub sent_to: Vec<String>,
    pub dry_run: bool,
}

/// `gt compact report [--weekly]`: sum the compaction events since a day
/// (or a week) ago, with today's promotions, and mail it (daily: deacon, cc
/// mayor; weekly: mayor).
pub fn report(store: &mut Store, dir: &Directory, weekly: bool, dry_run: bool) -> Result<Digest> {
    let days = if weekly { 7 } else { 1 };
    let since =
        ids::format_micros((ids::parse_secs(&ids::now()).unwrap_or(0) - days * 86_400) * 1_000_000);
    let f = IssueFilter {
        labels: vec![LABEL.into()],
        status: vec![Status::Closed],
        ..Default::default()
    };
    let events: Vec<Issue> = issues::list(store.conn(), &f)?
        .into_iter()
        .filter(|i| i.created_at >= since)
        .collect();
    let n = |i: &Issue, k: &str| i.metadata.get(k).and_then(|v| v.as_u64()).unwrap_or(0);
    let promotions: Vec<String> = issues::list(
        store.conn(),
        &IssueFilter {
            text: Some("promoted by gt compact".into()),
            ..Default::default()
        },
    )
    .unwrap_or_default()
    .into_iter()
    .filter(|i| i.updated_at >= since)
    .map(|i| format!("{} {}", i.id, i.title))
    .collect();
    let active = wisps(store)?.iter().filter(|w| !w.all_closed).count();
    let mut d = Digest {
        period: if weekly { "weekly" } else { "daily" }.into(),
        since,
        runs: events.len(),
        deleted: events.iter().map(|e| n(e, "deleted")).sum(),
        promoted: events.iter().map(|e| n(e, "promoted")).sum(),
        active,
        promotions,
        sent_to: Vec::new(),
        dry_run,
    };
    if dry_run {
        return Ok(d);
    }
    let mut body = format!(
        "Wisp compaction, {} (since {}): {} run(s), {} deleted, {} promoted; {} wisp(s) active now.",
        d.period, d.since, d.runs, d.deleted, d.promoted, d.active
    );
    if !d.promotions.is_empty() {
        body += "\n\nPromoted (look at these):";
        for p in &d.promotions {
            body += &format!("\n- {p}");
        }
    }
    let to: &[&str] = if weekly {
        &["mayor"]
    } else {
        &["deacon", "mayor"]
    };
    for t in to {
        mail::send(
            store,
            dir,
            &Outgoing {
                from: mail::identity(store.actor()),
                to: t.to_string(),
                subject: format!("Compaction {} report", d.period),
                body: body.clone(),
                kind: "report".into(),
                ..Default::default()
            },
        )?;
        d.sent_to.push(t.to_string());
    }
    Ok(d)
}
