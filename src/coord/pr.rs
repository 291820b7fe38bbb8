//! The refinery's `pr` strategy: push the gated branch, open the pull
//! request with `gh pr create` when `gh` is installed and authenticated
//! (else print the compare URL), record the link on the merge request, and
//! count the bead merged once the pull request is.

use super::mq::{self, MergeRequest, RunEnd};
use super::refinery::Outcome;
use super::{CoordError, Result};
use crate::store::issues::{self, Update};
use crate::store::{Status, Store};
use crate::town::git::{self, Pushed};
use crate::town::MergeConfig;
use serde_json::{json, Value};
use std::process::{Command, Stdio};

/// `host/owner/repo` of a hosted URL (https, ssh, `git@host:owner/repo`).
pub fn repo_slug(url: &str) -> Option<(String, String)> {
    let rest = if let Some((scheme, rest)) = url.split_once("://") {
        if !matches!(scheme, "https" | "http" | "ssh" | "git") {
            return None;
        }
        rest.to_string()
    } else {
        let (host, path) = url.split_once(':')?;
        format!("{host}/{path}")
    };
    let rest = rest.rsplit_once('@').map_or(rest.as_str(), |(_, r)| r);
    let mut parts = rest.trim_end_matches('/').splitn(2, '/');
    let host = parts.next()?.split(':').next()?.to_string();
    let path = parts.next()?.trim_end_matches(".git").to_string();
    (path.matches('/').count() == 1 && !host.is_empty()).then_some((host, path))
}

/// The web page that offers to open the pull request.
pub fn compare_url(url: &str, target: &str, branch: &str) -> Option<String> {
    let (host, path) = repo_slug(url)?;
    Some(format!(
        "https://{host}/{path}/compare/{target}...{branch}?expand=1"
    ))
}

fn gh(args: &[&str]) -> Option<String> {
    let o = Command::new("gh")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .ok()?;
    o.status
        .success()
        .then(|| String::from_utf8_lossy(&o.stdout).trim().to_string())
}

/// `gh` is installed and logged in to `host`.
fn gh_ready(host: &str) -> bool {
    gh(&["auth", "status", "--hostname", host]).is_some()
}

/// Open the pull request with `gh`; its URL, or `None` when gh cannot.
fn gh_create(cfg: &MergeConfig, mr: &MergeRequest, target: &str) -> Option<String> {
    let (host, path) = repo_slug(&cfg.url)?;
    if !gh_ready(&host) {
        return None;
    }
    let repo = format!("{host}/{path}");
    let title = format!("{} ({})", mr.bead, mr.branch);
    let body = format!(
        "Gas Town merge request {} for bead {}; passed the refinery's gates.",
        mr.id, mr.bead
    );
    let out = gh(&[
        "pr", "create", "--repo", &repo, "--base", target, "--head", &mr.branch, "--title", &title,
        "--body", &body,
    ])?;
    out.lines()
        .rev()
        .find(|l| l.starts_with("http"))
        .map(str::to_string)
}

/// Push the gated candidate as the branch and open (or link) its pull request.
pub fn open(
    store: &mut Store,
    cfg: &MergeConfig,
    mr: &MergeRequest,
    run: i64,
    target: &str,
    sha: &str,
) -> Result<Outcome> {
    if let Pushed::Rejected(line) =
        git::push(&cfg.repo, &cfg.remote, &cfg.url, sha, &mr.branch, true)?
    {
        return Err(CoordError::failed(
            format!(
                "{}: the forced push of {} was refused: {line}",
                cfg.url, mr.branch
            ),
            Some("check the remote's branch protection for polecat branches".into()),
        ));
    }
    let (url, via) = match gh_create(cfg, mr, target) {
        Some(u) => (Some(u), "gh"),
        None => (compare_url(&cfg.url, target, &mr.branch), "compare"),
    };
    let remote = cfg.remote.clone();
    store.write(|tx| -> Result<()> {
        tx.update(
            &mr.id,
            &Update {
                status: Some(Status::Deferred),
                metadata: Some(json!({"target": target, "pr": {"remote": remote, "branch": mr.branch, "sha": sha, "url": url, "via": via}})),
                ..Default::default()
            },
        )?;
        super::feed::emit(
            tx,
            &mr.id,
            "mr.pushed",
            json!({"bead": mr.bead, "branch": mr.branch, "remote": remote, "sha": sha, "rig": mr.rig, "agent": mr.polecat, "url": url}),
        )?;
        let link = url
            .as_deref()
            .map(|u| format!(" Pull request: {u}."))
            .unwrap_or_default();
        super::mail::send_tx(
            tx,
            &[super::address::Address::Witness(mr.rig.clone())],
            &super::mail::Outgoing {
                from: format!("{}/refinery", mr.rig),
                subject: format!("READY_FOR_REVIEW {}", mr.bead),
                body: format!("{} passed the gates and was pushed to {remote} as {} ({sha}).{link} The bead counts as merged when the pull request merges (or run `gt mq merged {}`).", mr.bead, mr.branch, mr.id),
                kind: "ready_for_review".into(),
                ..Default::default()
            },
        )?;
        mq::finish_run_tx(tx, run, &RunEnd { outcome: "pushed", ..Default::default() })
    })?;
    Ok(Outcome::Pushed {
        mr: mr.id.clone(),
        remote: cfg.remote.clone(),
        branch: mr.branch.clone(),
        sha: sha.to_string(),
        url,
    })
}

fn due(rig: &str, every: std::time::Duration) -> bool {
    use std::collections::HashMap;
    use std::sync::Mutex;
    use std::time::Instant;
    static LAST: Mutex<Option<HashMap<String, Instant>>> = Mutex::new(None);
    let Ok(mut g) = LAST.lock() else { return true };
    let m = g.get_or_insert_with(HashMap::new);
    let now = Instant::now();
    match m.get(rig) {
        Some(t) if now.duration_since(*t) < every => false,
        _ => {
            m.insert(rig.to_string(), now);
            true
        }
    }
}

/// What became of a pushed pull request.
enum PrState {
    Open,
    Merged(String),
    Closed,
}

fn state(cfg: &MergeConfig, repo: &git2::Repository, target: &str, pr: &Value) -> PrState {
    let sha = pr.get("sha").and_then(Value::as_str).unwrap_or("");
    if let (Some(url), Some((host, _))) =
        (pr.get("url").and_then(Value::as_str), repo_slug(&cfg.url))
    {
        if url.contains("/pull/") && gh_ready(&host) {
            if let Some(v) = gh(&["pr", "view", url, "--json", "state,mergeCommit"])
                .and_then(|o| serde_json::from_str::<Value>(&o).ok())
            {
                return match v["state"].as_str() {
                    Some("MERGED") => {
                        PrState::Merged(v["mergeCommit"]["oid"].as_str().unwrap_or(sha).to_string())
                    }
                    Some("CLOSED") => PrState::Closed,
                    _ => PrState::Open,
                };
            }
        }
    }
    // Without gh: merged once the pushed commit is on the target.
    match (
        git2::Oid::from_str(sha),
        repo.refname_to_id(&git::tracking_ref(target)),
    ) {
        (Ok(c), Ok(tip)) if tip == c || repo.graph_descendant_of(tip, c).unwrap_or(false) => {
            PrState::Merged(sha.to_string())
        }
        _ => PrState::Open,
    }
}

/// Pull requests of `cfg.rig` that merged (or closed) since the last look:
/// the first one found is recorded and returned.
/// In one process (the supervisor) a rig's pull requests are looked at
/// every `pr_poll_every`, not on every pass.
pub fn poll(store: &mut Store, cfg: &MergeConfig) -> Result<Option<Outcome>> {
    let waiting: Vec<MergeRequest> = mq::awaiting_pr(store.conn(), &cfg.rig)?;
    if waiting.is_empty() || !due(&cfg.rig, cfg.pr_poll_every) {
        return Ok(None);
    }
    git::fetch(&cfg.repo, &cfg.url)?;
    let repo = git2::Repository::open_bare(&cfg.repo)?;
    for mr in waiting {
        let meta = issues::get(store.conn(), &mr.id)?.metadata;
        let target = mr.target.clone().unwrap_or_else(|| cfg.target.clone());
        match state(cfg, &repo, &target, &meta["pr"]) {
            PrState::Open => {}
            PrState::Merged(sha) => {
                let landed = store.write(|tx| mq::merged_tx(tx, &mr, &sha, &target))?;
                return Ok(Some(Outcome::Merged {
                    mr: mr.id.clone(),
                    bead: mr.bead.clone(),
                    sha,
                    landed,
                }));
            }
            PrState::Closed => {
                let r = mq::Rejection {
                    failure: "pr-closed".into(),
                    command: format!("gh pr view {}", meta["pr"]["url"].as_str().unwrap_or("")),
                    output_tail: "the pull request was closed without merging".into(),
                };
                store.write(|tx| mq::rejected_tx(tx, &mr, &r))?;
                return Ok(Some(Outcome::Rejected {
                    mr: mr.id.clone(),
                    bead: mr.bead.clone(),
                    failure: r.failure,
                    command: r.command,
                }));
            }
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_and_compare_urls() {
        for u in [
            "https://github.com/you/repo.git",
            "git@github.com:you/repo.git",
            "ssh://git@github.com/you/repo",
        ] {
            assert_eq!(
                repo_slug(u),
                Some(("github.com".into(), "you/repo".into())),
                "{u}"
            );
        }
        assert_eq!(repo_slug("file:///srv/repo.git"), None);
        assert_eq!(repo_slug("/srv/repo.git"), None);
        assert_eq!(
            compare_url("https://github.com/you/repo", "main", "polecat/nux/hq-1").as_deref(),
            Some("https://github.com/you/repo/compare/main...polecat/nux/hq-1?expand=1")
        );
    }
}
