//! Town health checks the doctor runs: settings that parse and name known
//! agents, rigs whose repository opens, whose origin answers and whose
//! default branch is still the one the rig recorded.

use super::{agents, git, rigs, Settings, Town};
use std::time::Duration;

/// How long the doctor waits for an origin to answer.
pub const REMOTE_TIMEOUT: Duration = Duration::from_secs(20);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    Ok,
    Warn,
    Error,
}

#[derive(Debug, Clone)]
pub struct Check {
    pub check: &'static str,
    pub health: Health,
    pub message: String,
    pub help: Option<String>,
}

fn check(check: &'static str, health: Health, message: String, help: Option<String>) -> Check {
    Check {
        check,
        health,
        message,
        help,
    }
}

/// Agent names a settings file uses that resolve to nothing.
fn unknown_agents(
    scope: &str,
    s: &Settings,
    town: &Settings,
    rig: Option<&Settings>,
) -> Vec<Check> {
    let valid = agents::valid_names(Some(town), rig);
    let mut uses: Vec<(String, &String)> = Vec::new();
    if let Some(a) = &s.default_agent {
        uses.push(("default_agent".into(), a));
    }
    for (role, r) in &s.roles {
        if let Some(a) = &r.agent {
            uses.push((format!("roles.{role}.agent"), a));
        }
    }
    uses.into_iter()
        .filter(|(_, a)| !valid.contains(a))
        .map(|(key, a)| {
            check(
                "settings.agents",
                Health::Error,
                format!("{scope}: `{key}` names agent `{a}`, which is not defined"),
                Some(format!(
                    "valid agents: {}; define it with `gt config agent set {a} \"COMMAND\"` or pick another",
                    valid.join(", ")
                )),
            )
        })
        .collect()
}

/// Settings parse and reference only agents that exist.
pub fn check_settings(town: &Town) -> Vec<Check> {
    let ts = match town.settings() {
        Ok(s) => s,
        Err(e) => return vec![check("settings", Health::Error, e.to_string(), e.help())],
    };
    let mut out = vec![check(
        "settings",
        Health::Ok,
        format!("{} parses", town.settings_path().display()),
        None,
    )];
    out.extend(unknown_agents("town settings", &ts, &ts, None));
    let Ok(store) = town.store() else { return out };
    for r in rigs::list(&store).unwrap_or_default() {
        match town.rig_settings(&r.name) {
            Ok(rs) => out.extend(unknown_agents(
                &format!("rig `{}` settings", r.name),
                &rs,
                &ts,
                Some(&rs),
            )),
            Err(e) => out.push(check("settings", Health::Error, e.to_string(), e.help())),
        }
    }
    out
}

/// Every rig: its clone opens, its origin answers within `timeout`, and the
/// origin's default branch is still the recorded one.
pub fn check_rigs(town: &Town, timeout: Duration) -> Vec<Check> {
    let list = match town.store().and_then(|s| rigs::list(&s)) {
        Ok(l) => l,
        Err(e) => return vec![check("town.rigs", Health::Error, e.to_string(), e.help())],
    };
    if list.is_empty() {
        return vec![check(
            "town.rigs",
            Health::Ok,
            "no rigs yet (add one with `gt rig add NAME URL`)".into(),
            None,
        )];
    }
    // One thread per rig: a slow origin costs its own timeout, not the sum.
    std::thread::scope(|sc| {
        let handles: Vec<_> = list
            .iter()
            .map(|r| sc.spawn(move || check_rig(r, timeout)))
            .collect();
        handles
            .into_iter()
            .zip(&list)
            .map(|(h, r)| {
                h.join().unwrap_or_else(|_| {
                    check(
                        "rig.origin",
                        Health::Error,
                        format!("rig `{}`: the check itself failed", r.name),
                        None,
                    )
                })
            })
            .collect()
    })
}

fn check_rig(r: &rigs::Rig, timeout: Duration) -> Check {
    if let Err(e) = rigs::open_repo(r) {
        return check("rig.repo", Health::Error, e.to_string(), e.help());
    }
    match git::remote_default_branch(Some(std::path::Path::new(&r.repo)), &r.url, timeout) {
        Err(e) => check(
            "rig.origin",
            Health::Error,
            format!("rig `{}`: origin unreachable: {e}", r.name),
            e.help(),
        ),
        Ok(Some(b)) if b != r.default_branch => check(
            "rig.branch",
            Health::Warn,
            format!(
                "rig `{}`: the origin's default branch is now `{b}`, the rig still targets `{}`",
                r.name, r.default_branch
            ),
            Some(format!("run `gt rig refresh {}` to follow it", r.name)),
        ),
        Ok(_) => check(
            "rig.origin",
            Health::Ok,
            format!(
                "rig `{}`: origin {} answers, default branch `{}`",
                r.name, r.url, r.default_branch
            ),
            None,
        ),
    }
}
