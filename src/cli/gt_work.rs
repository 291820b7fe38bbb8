//! `gt sling`, `gt hook` (`gt prime`, `gt done`, `gt heartbeat`: `gt_roles.rs`).

use super::gt_run::parse_vars;
use super::gt_town::{finish, print, town};
use crate::runtime::work::{self, SlingRequest};
use crate::runtime::RuntimeError;
use clap::Args;

#[derive(Args, Debug)]
pub struct SlingArgs {
    /// A bead id or a formula to pour (with --formula or --prompt: where
    /// the work goes).
    pub target: Option<String>,
    /// Where the work goes: a rig, <rig>/polecats/<name>, mayor, or
    /// deacon/dogs[/<name>] (default: the rig you are in, or the only rig).
    pub to: Option<String>,
    /// Pour this formula and sling it.
    #[arg(long)]
    pub formula: Option<String>,
    /// Sling new work described by this text (its first line is the title).
    #[arg(long, conflicts_with = "formula")]
    pub prompt: Option<String>,
    /// Mail me when the work is handed in.
    #[arg(long)]
    pub mail_back: bool,
    /// Agent for this sling (overrides the rig's and the town's roles.polecat.agent).
    #[arg(long)]
    pub agent: Option<String>,
    #[arg(long = "var", value_name = "K=V")]
    pub vars: Vec<String>,
    /// Hook only; do not start the session.
    #[arg(long)]
    pub no_start: bool,
}

fn cwd() -> Result<std::path::PathBuf, RuntimeError> {
    std::env::current_dir()
        .map_err(|e| RuntimeError::Io(format!("cannot read the current directory: {e}")))
}

/// A new bead for `--prompt`: the first line is its title.
fn prompt_bead(t: &crate::town::Town, text: &str) -> Result<String, RuntimeError> {
    let first = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .ok_or_else(|| {
            RuntimeError::usage(
                "the prompt is empty",
                "say what the work is: --prompt \"...\"",
            )
        })?;
    let title: String = first.chars().take(80).collect();
    let mut store = t.store()?;
    let i = store.write(|tx| {
        tx.create(&crate::store::issues::NewIssue {
            title,
            description: text.to_string(),
            ..Default::default()
        })
    })?;
    Ok(i.id)
}

/// Record who gets mail when `bead` is handed in (`--mail-back`).
fn set_mail_back(t: &crate::town::Town, bead: &str) -> Result<String, RuntimeError> {
    let mut store = t.store()?;
    let me = crate::coord::mail::identity(store.actor());
    let mut meta = crate::store::issues::get(store.conn(), bead)?.metadata;
    if !meta.is_object() {
        meta = serde_json::json!({});
    }
    meta["mail_back"] = serde_json::Value::String(me.clone());
    store.write(|tx| {
        tx.update(
            bead,
            &crate::store::Update {
                metadata: Some(meta.clone()),
                ..Default::default()
            },
        )
    })?;
    Ok(me)
}

pub fn sling(a: &SlingArgs, json: bool) -> i32 {
    use crate::coord::address::Address;
    finish(
        (|| {
            let t = town()?;
            let vars = parse_vars(&a.vars)?;
            let by_flag = a.formula.is_some() || a.prompt.is_some();
            let (what, dest) = match (by_flag, &a.target, &a.to) {
                (true, _, Some(extra)) => {
                    return Err(RuntimeError::usage(
                        format!("unexpected `{extra}`: with --formula/--prompt only the destination is given"),
                        "gt sling --formula NAME [DESTINATION]",
                    ))
                }
                (true, dest, None) => (None, dest.clone()),
                (false, Some(w), dest) => (Some(w.clone()), dest.clone()),
                (false, None, _) => {
                    return Err(RuntimeError::usage(
                        "what should be slung?",
                        "gt sling BEAD|FORMULA [DESTINATION], or --formula NAME / --prompt TEXT",
                    ))
                }
            };
            let what = match (what, &a.formula, &a.prompt) {
                (Some(w), _, _) => w,
                (None, Some(f), _) => f.clone(),
                (None, None, Some(p)) => prompt_bead(&t, p)?,
                (None, None, None) => unreachable!("by_flag"),
            };
            let dest = match dest {
                Some(d) => d,
                None => crate::town::rigs::current_or_ask(&t, t.store()?.conn(), &cwd()?)?,
            };
            let parsed = Address::parse(&dest);
            let v = match parsed {
                Some(Address::Mayor) => {
                    let (bead, poured) = work::hook_on_mayor(&t, &what, &vars, &cwd()?)?;
                    serde_json::json!({"bead": bead, "address": "mayor/", "poured": poured})
                }
                Some(Address::Dogs) | Some(Address::Dog(_)) => {
                    let dog = match &parsed {
                        Some(Address::Dog(n)) => Some(n.as_str()),
                        _ => None,
                    };
                    let work = if crate::store::issues::resolve(
                        t.store()?.conn(),
                        t.store()?.prefix(),
                        &what,
                    )
                    .is_ok()
                    {
                        crate::runtime::dogs::Work::Bead(what.clone())
                    } else {
                        crate::runtime::dogs::Work::Formula(what.clone(), vars.clone())
                    };
                    let d = crate::runtime::dogs::dispatch(
                        &t,
                        &work,
                        dog,
                        a.agent.as_deref(),
                        &cwd()?,
                        a.no_start,
                    )?;
                    serde_json::to_value(&d).unwrap_or_default()
                }
                _ => {
                    let (rig, polecat) = match parsed {
                        Some(Address::Polecat(r, n)) => (r, Some(n)),
                        _ => (dest.clone(), None),
                    };
                    let r = work::sling(
                        &t,
                        &SlingRequest {
                            target: what.clone(),
                            rig,
                            agent: a.agent.clone(),
                            vars: vars.clone(),
                            cwd: cwd()?,
                            no_start: a.no_start,
                            polecat,
                        },
                    )?;
                    serde_json::to_value(&r).unwrap_or_default()
                }
            };
            let mut v = v;
            if a.mail_back {
                if let Some(b) = v["bead"].as_str().map(str::to_string) {
                    v["mail_back"] = set_mail_back(&t, &b)?.into();
                }
            }
            print(json, &v, || {
                let mut s = format!(
                    "Slung {} to {}",
                    v["bead"].as_str().unwrap_or("?"),
                    v["address"].as_str().unwrap_or("?")
                );
                for (k, label) in [
                    ("agent", "agent"),
                    ("worktree", "worktree"),
                    ("branch", "branch"),
                    ("convoy", "convoy"),
                    ("pid", "session pid"),
                    ("mail_back", "mail back to"),
                ] {
                    match &v[k] {
                        serde_json::Value::Null => {}
                        serde_json::Value::String(x) => s += &format!("\n  {label}: {x}"),
                        x => s += &format!("\n  {label}: {x}"),
                    }
                }
                s
            });
            Ok(())
        })(),
        json,
    )
}

#[derive(clap::Subcommand, Debug)]
pub enum GtFormulaCommand {
    #[command(flatten)]
    Shared(super::formula::FormulaCommand),
    /// Run a formula: pour it and sling the molecule to a polecat of the rig.
    Run(FormulaRunArgs),
}

#[derive(Args, Debug)]
pub struct FormulaRunArgs {
    /// The formula.
    pub name: String,
    /// The rig (default: the rig you are in, or the only rig).
    #[arg(long)]
    pub rig: Option<String>,
    /// KEY=VALUE (repeatable; `--set` is the same).
    #[arg(long = "var", visible_alias = "set", value_name = "KEY=VALUE")]
    pub vars: Vec<String>,
    #[arg(long)]
    pub agent: Option<String>,
    /// Hook only; do not start the session.
    #[arg(long)]
    pub no_start: bool,
    /// More vars as `--KEY=VALUE` (Gas Town formulas pass inputs this way).
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "--KEY=VALUE"
    )]
    pub inputs: Vec<String>,
}

pub fn formula_run(a: &FormulaRunArgs, json: bool) -> i32 {
    finish(
        (|| {
            let t = town()?;
            let mut vars = parse_vars(&a.vars)?;
            for i in &a.inputs {
                let kv = i
                    .strip_prefix("--")
                    .and_then(|x| x.split_once('='))
                    .ok_or_else(|| {
                        RuntimeError::usage(
                            format!("unexpected `{i}`"),
                            "formula inputs are --KEY=VALUE (or --var KEY=VALUE)",
                        )
                    })?;
                vars.insert(kv.0.to_string(), kv.1.to_string());
            }
            let rig = match &a.rig {
                Some(r) => r.clone(),
                None => crate::town::rigs::current_or_ask(&t, t.store()?.conn(), &cwd()?)?,
            };
            let r = work::sling(
                &t,
                &SlingRequest {
                    target: a.name.clone(),
                    rig,
                    agent: a.agent.clone(),
                    vars,
                    cwd: cwd()?,
                    no_start: a.no_start,
                    polecat: None,
                },
            )?;
            print(json, &r, || {
                format!(
                    "Running {} as {} on {} (worktree {})",
                    a.name, r.bead, r.address, r.worktree
                )
            });
            Ok(())
        })(),
        json,
    )
}

pub fn hook(json: bool) -> i32 {
    finish(
        (|| {
            let v = work::hook(&town()?, &cwd()?)?;
            print(json, &v, || match &v.bead {
                Some(b) => format!(
                    "{} has {} on its hook: {} [{}]",
                    v.address, b.id, b.title, b.status
                ),
                None => format!("{}: the hook is empty", v.address),
            });
            Ok(())
        })(),
        json,
    )
}
