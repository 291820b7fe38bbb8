//! How a coding-agent CLI is launched: the checks made before launch (so a
//! session never dies at once for a reason gt could have told), the files a
//! CLI needs (Claude Code's hooks and its town-owned config), and the
//! command line for the provider.
//!
//! Claude Code (measured on 2.1.332): as root it refuses
//! `--dangerously-skip-permissions` unless `IS_SANDBOX=1`; a fresh config
//! shows blocking first-run dialogs (onboarding, folder trust, custom API
//! key, bypass-permissions warning); hooks load only in a trusted folder.
//! gt keeps a config of its own per town (`CLAUDE_CONFIG_DIR` =
//! `<town>/.beads/runtime/claude`) with those states accepted, and never
//! writes the user's `~/.claude.json`.

use super::RuntimeError;
use crate::town::agents::{program_exists, Cli};
use crate::town::{AgentConfig, Provider};
use serde_json::{json, Map, Value};
use std::path::{Path, PathBuf};

/// Environment variables a session inherits explicitly (a tmux server keeps
/// the environment of whoever started it, so these are passed with `-e`).
const PASSED_PREFIXES: &[&str] = &[
    "ANTHROPIC_",
    "CLAUDE_CODE_",
    "OPENAI_",
    "GEMINI_",
    "GOOGLE_",
];
const PASSED_NAMES: &[&str] = &["IS_SANDBOX", "HOME", "LANG", "TERM"];

fn env_var(k: &str) -> Option<String> {
    std::env::var(k).ok().filter(|v| !v.is_empty())
}

/// The value `k` will have in the session: the agent's `env`, else ours.
fn session_env(agent: &AgentConfig, k: &str) -> Option<String> {
    agent.env.get(k).cloned().or_else(|| env_var(k))
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// Checks before launch: the program is installed, tmux exists for the tmux
/// provider, and Claude Code will not refuse to start or stop at a first-run
/// screen (root without `IS_SANDBOX=1`; no login; an agent-owned
/// `CLAUDE_CONFIG_DIR` never set up). Each failure names the cause and the
/// fix. `gt sling`, `gt mayor start`, the patrol roles and crew call this.
pub fn preflight(name: &str, agent: &AgentConfig) -> Result<(), RuntimeError> {
    match problems(name, agent, None).into_iter().next() {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// Every problem [`preflight`] would refuse for, not just the first (for
/// `gt doctor`). With the town's runtime directory, the town-owned Claude
/// Code config is checked too.
pub fn problems(name: &str, agent: &AgentConfig, runtime_dir: Option<&Path>) -> Vec<RuntimeError> {
    if agent.is_shell() {
        return Vec::new();
    }
    let mut out = Vec::new();
    let provider = agent.provider.resolved();
    let line = agent.command_for(provider);
    let program = AgentConfig::new(line).program().unwrap_or_default();
    if program.is_empty() {
        out.push(RuntimeError::usage(
            format!("agent `{name}` has an empty command"),
            format!("set one with `gt config agent set {name} \"COMMAND ARGS\"`"),
        ));
    } else if !program_exists(&program) {
        let install = agent
            .cli
            .install_hint()
            .map(|h| format!("install it (`{h}`), "))
            .unwrap_or_else(|| format!("install `{program}`, "));
        out.push(RuntimeError::usage(
            format!("agent `{name}` runs `{program}`, which is not installed (not found on PATH)"),
            format!("{install}fix the command with `gt config agent set {name} \"COMMAND ARGS\"`, or pick another agent with --agent"),
        ));
    }
    if provider == Provider::Tmux && !program_exists("tmux") {
        out.push(RuntimeError::usage(
            format!("agent `{name}` runs in tmux, which is not installed"),
            "install tmux (`apt-get install tmux`), or set the agent's provider to exec",
        ));
    }
    if agent.cli == Cli::Claude {
        out.extend(claude_problems(name, agent, line, runtime_dir));
    }
    out
}

fn claude_problems(
    name: &str,
    agent: &AgentConfig,
    line: &str,
    runtime_dir: Option<&Path>,
) -> Vec<RuntimeError> {
    let mut out = Vec::new();
    if line.contains("--dangerously-skip-permissions")
        && is_root()
        && session_env(agent, "IS_SANDBOX").as_deref() != Some("1")
    {
        out.push(RuntimeError::usage(
            format!("agent `{name}` runs Claude Code with --dangerously-skip-permissions as root, which Claude Code refuses (it would exit at once)"),
            "run gt as a normal user; or, on a disposable sandbox (container, VM), `export IS_SANDBOX=1` before `gt start`/`gt sling` (gt passes it to the town's sessions)",
        ));
    }
    let has_key = ["ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN"]
        .iter()
        .any(|k| session_env(agent, k).is_some());
    if !has_key && user_credentials().is_none() && !agent.env.contains_key("CLAUDE_CONFIG_DIR") {
        out.push(RuntimeError::usage(
            "Claude Code has no login for the town's sessions (no ANTHROPIC_API_KEY or ANTHROPIC_AUTH_TOKEN, and no ~/.claude/.credentials.json); its login screen would block every session",
            "set ANTHROPIC_API_KEY, or run `claude` once yourself and log in with /login",
        ));
    }
    // The agent's own config dir is the user's to set up: gt never edits
    // it, so a fresh one would stop every session at onboarding.
    if let Some(dir) = agent.env.get("CLAUDE_CONFIG_DIR") {
        let state = Path::new(dir).join(".claude.json");
        let onboarded = read_json(&state)
            .ok()
            .is_some_and(|m| m.get("hasCompletedOnboarding") == Some(&json!(true)));
        if !onboarded {
            out.push(RuntimeError::usage(
                format!("agent `{name}` sets CLAUDE_CONFIG_DIR={dir}, whose Claude Code has not finished onboarding ({} has no hasCompletedOnboarding); every session would stop at the first-run screens", state.display()),
                format!("run `CLAUDE_CONFIG_DIR={dir} claude` once and finish its setup, or drop env.CLAUDE_CONFIG_DIR from the agent so gt keeps a town-owned config with those screens accepted"),
            ));
        }
    } else if let Some(rt) = runtime_dir {
        let dir = claude_config_dir(rt);
        for f in [dir.join(".claude.json"), dir.join("settings.json")] {
            if let Err(e) = read_json(&f) {
                out.push(RuntimeError::usage(
                    format!("the town's Claude Code config cannot be prepared: {e}"),
                    format!(
                        "remove {} (gt writes it again at the next launch)",
                        f.display()
                    ),
                ));
            }
        }
    }
    out
}

/// The user's Claude Code login file, if any (read, never written).
fn user_credentials() -> Option<PathBuf> {
    let dir = env_var("CLAUDE_CONFIG_DIR")
        .map(PathBuf::from)
        .or_else(|| env_var("HOME").map(|h| Path::new(&h).join(".claude")))?;
    let f = dir.join(".credentials.json");
    f.is_file().then_some(f)
}

/// What a session of `agent` in `cwd` needs besides gt's own variables:
/// the CLI's files are written and its environment returned (never a key
/// the agent config's own `env` sets: that one wins).
pub fn prepare(
    runtime_dir: &Path,
    agent: &AgentConfig,
    cwd: &Path,
) -> Result<Vec<(String, String)>, RuntimeError> {
    let mut env: Vec<(String, String)> = std::env::vars()
        .filter(|(k, v)| {
            !v.is_empty()
                && !agent.env.contains_key(k)
                && (PASSED_NAMES.contains(&k.as_str())
                    || PASSED_PREFIXES.iter().any(|p| k.starts_with(p)))
        })
        .collect();
    if agent.cli == Cli::Claude {
        write_claude_hooks(cwd)?;
        if !agent.env.contains_key("CLAUDE_CONFIG_DIR") {
            let dir = claude_config_dir(runtime_dir);
            let key = session_env(agent, "ANTHROPIC_API_KEY")
                .or_else(|| session_env(agent, "ANTHROPIC_AUTH_TOKEN"));
            write_claude_config(&dir, cwd, key.as_deref())?;
            env.retain(|(k, _)| k != "CLAUDE_CONFIG_DIR");
            env.push(("CLAUDE_CONFIG_DIR".into(), dir.display().to_string()));
        }
        // A pinned install must not replace itself mid-run.
        env.push(("DISABLE_AUTOUPDATER".into(), "1".into()));
    }
    Ok(env)
}

/// The town's own Claude Code config directory.
pub fn claude_config_dir(runtime_dir: &Path) -> PathBuf {
    runtime_dir.join("claude")
}

fn io(path: &Path, e: impl std::fmt::Display) -> RuntimeError {
    RuntimeError::Io(format!("{}: {e}", path.display()))
}

fn read_json(path: &Path) -> Result<Map<String, Value>, RuntimeError> {
    match std::fs::read_to_string(path) {
        Ok(t) if t.trim().is_empty() => Ok(Map::new()),
        Ok(t) => match serde_json::from_str(&t) {
            Ok(Value::Object(m)) => Ok(m),
            _ => Err(RuntimeError::usage(
                format!("{} is not a JSON object", path.display()),
                "fix or remove it; gt rewrites only the keys it owns",
            )),
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Map::new()),
        Err(e) => Err(io(path, e)),
    }
}

fn write_json(path: &Path, v: &Map<String, Value>) -> Result<(), RuntimeError> {
    if let Some(d) = path.parent() {
        std::fs::create_dir_all(d).map_err(|e| io(d, e))?;
    }
    let text = serde_json::to_string_pretty(v).map_err(|e| io(path, e))?;
    // Write beside, then rename: a running session may read it any time.
    let tmp = path.with_extension(format!("gt-{}.tmp", std::process::id()));
    std::fs::write(&tmp, text + "\n").map_err(|e| io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| io(path, e))
}

/// The first-run states accepted in the town's config: onboarding done,
/// `cwd` trusted, the API key approved, the bypass-permissions warning
/// acknowledged. The user's login is linked in (never copied or changed).
pub fn write_claude_config(
    dir: &Path,
    cwd: &Path,
    api_key: Option<&str>,
) -> Result<(), RuntimeError> {
    let _lock = lock(dir)?;
    let state = dir.join(".claude.json");
    let mut m = read_json(&state)?;
    m.insert("hasCompletedOnboarding".into(), json!(true));
    let projects = m
        .entry("projects")
        .or_insert_with(|| json!({}))
        .as_object_mut()
        .ok_or_else(|| io(&state, "`projects` is not an object"))?;
    let p = projects
        .entry(cwd.display().to_string())
        .or_insert_with(|| json!({}));
    if let Some(o) = p.as_object_mut() {
        o.insert("hasTrustDialogAccepted".into(), json!(true));
    }
    if let Some(key) = api_key {
        let tail: String = key
            .chars()
            .rev()
            .take(20)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        let r = m
            .entry("customApiKeyResponses")
            .or_insert_with(|| json!({"approved": [], "rejected": []}));
        if let Some(approved) = r.get_mut("approved").and_then(|a| a.as_array_mut()) {
            if !approved.iter().any(|a| a == &json!(tail)) {
                approved.push(json!(tail));
            }
        }
    }
    write_json(&state, &m)?;
    let settings = dir.join("settings.json");
    let mut s = read_json(&settings)?;
    if s.get("skipDangerousModePermissionPrompt") != Some(&json!(true)) {
        s.insert("skipDangerousModePermissionPrompt".into(), json!(true));
        write_json(&settings, &s)?;
    }
    let creds = dir.join(".credentials.json");
    if let (Some(user), false) = (user_credentials(), creds.exists()) {
        let _ = std::os::unix::fs::symlink(user, &creds);
    }
    Ok(())
}

/// An exclusive lock on the config directory while gt edits it.
fn lock(dir: &Path) -> Result<std::fs::File, RuntimeError> {
    use fs4::fs_std::FileExt;
    std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
    let p = dir.join(".gt.lock");
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&p)
        .map_err(|e| io(&p, e))?;
    f.lock_exclusive().map_err(|e| io(&p, e))?;
    Ok(f)
}

/// The hooks gt owns, by Claude Code event.
fn gt_hooks() -> Vec<(&'static str, String)> {
    let gt = std::env::current_exe()
        .map(|p| crate::formula::vars::shell_quote(&p.display().to_string()))
        .unwrap_or_else(|_| "gt".into());
    vec![
        ("SessionStart", format!("{gt} prime --hook")),
        ("PreCompact", format!("{gt} prime --hook")),
        (
            "UserPromptSubmit",
            format!("{gt} mail check --inject --hook"),
        ),
        ("Stop", format!("{gt} heartbeat --hook")),
    ]
}

fn is_gt_hook(entry: &Value) -> bool {
    entry["hooks"].as_array().is_some_and(|hs| {
        hs.iter().any(|h| {
            h["command"].as_str().is_some_and(|c| {
                c.ends_with(" prime --hook")
                    || c.ends_with(" check --inject --hook")
                    || c.ends_with(" heartbeat --hook")
            })
        })
    })
}

/// Write gt's hooks into `cwd/.claude/settings.json`, keeping every other
/// key and hook. When the repository tracks that file, the hooks go to
/// `settings.local.json` instead, so gt never changes committed files; the
/// file is excluded from git either way.
pub fn write_claude_hooks(cwd: &Path) -> Result<PathBuf, RuntimeError> {
    let repo = git2::Repository::discover(cwd).ok();
    let tracked = repo.as_ref().is_some_and(|r| {
        let rel = cwd
            .strip_prefix(r.workdir().unwrap_or(cwd))
            .unwrap_or(Path::new(""))
            .join(".claude/settings.json");
        r.index()
            .ok()
            .is_some_and(|i| i.get_path(&rel, 0).is_some())
    });
    let file = cwd.join(".claude").join(if tracked {
        "settings.local.json"
    } else {
        "settings.json"
    });
    let mut m = read_json(&file)?;
    let hooks = m
        .entry("hooks")
        .or_insert_with(|| json!({}))
        .as_object_mut()
        .ok_or_else(|| io(&file, "`hooks` is not an object"))?;
    for (event, command) in gt_hooks() {
        let list = hooks.entry(event).or_insert_with(|| json!([]));
        if !list.is_array() {
            *list = json!([]);
        }
        let arr = list.as_array_mut().expect("made an array above");
        arr.retain(|e| !is_gt_hook(e));
        arr.push(json!({"hooks": [{"type": "command", "command": command}]}));
    }
    write_json(&file, &m)?;
    if let Some(r) = repo {
        exclude_from_git(&r, ".claude/")?;
    }
    Ok(file)
}

/// Add `pattern` to the repository's `info/exclude` (shared by worktrees).
fn exclude_from_git(repo: &git2::Repository, pattern: &str) -> Result<(), RuntimeError> {
    // A worktree's git dir names the shared one in its `commondir` file.
    let own = repo.path();
    let common = std::fs::read_to_string(own.join("commondir"))
        .map(|c| own.join(c.trim()))
        .unwrap_or_else(|_| own.to_path_buf());
    let f = common.join("info").join("exclude");
    let text = std::fs::read_to_string(&f).unwrap_or_default();
    if text.lines().any(|l| l.trim() == pattern) {
        return Ok(());
    }
    if let Some(d) = f.parent() {
        std::fs::create_dir_all(d).map_err(|e| io(d, e))?;
    }
    let sep = if text.is_empty() || text.ends_with('\n') {
        ""
    } else {
        "\n"
    };
    std::fs::write(&f, format!("{text}{sep}{pattern}\n")).map_err(|e| io(&f, e))
}

/// The command line for a session of `agent` on `provider` with `prompt`:
/// `{model}` and `{prompt}` substituted shell-quoted; without `{prompt}`
/// the prompt goes on stdin (the returned file).
pub fn command_line(
    agent: &AgentConfig,
    provider: Provider,
    prompt: &str,
    prompt_file: &Path,
) -> (String, Option<PathBuf>) {
    let q = crate::formula::vars::shell_quote;
    let cmd = agent
        .command_for(provider)
        .replace("{model}", &q(agent.model.as_deref().unwrap_or("")));
    if cmd.contains("{prompt}") {
        (cmd.replace("{prompt}", &q(prompt)), None)
    } else {
        (cmd, Some(prompt_file.to_path_buf()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hooks_keep_foreign_entries_and_replace_ours() {
        let t = tempfile::tempdir().unwrap();
        let f = t.path().join(".claude/settings.json");
        std::fs::create_dir_all(f.parent().unwrap()).unwrap();
        std::fs::write(
            &f,
            r#"{"model": "opus", "hooks": {"Stop": [{"hooks": [{"type": "command", "command": "mine"}]}]}}"#,
        )
        .unwrap();
        write_claude_hooks(t.path()).unwrap();
        write_claude_hooks(t.path()).unwrap();
        let v: Value = serde_json::from_str(&std::fs::read_to_string(&f).unwrap()).unwrap();
        assert_eq!(v["model"], "opus");
        let stop = v["hooks"]["Stop"].as_array().unwrap();
        assert_eq!(stop.len(), 2, "{stop:?}");
        assert_eq!(stop[0]["hooks"][0]["command"], "mine");
        assert!(v["hooks"]["SessionStart"][0]["hooks"][0]["command"]
            .as_str()
            .unwrap()
            .ends_with(" prime --hook"));
    }

    #[test]
    fn config_accepts_first_run_states() {
        let t = tempfile::tempdir().unwrap();
        let cwd = t.path().join("wt");
        write_claude_config(t.path(), &cwd, Some("sk-abcdefghijklmnopqrstuvwxyz")).unwrap();
        write_claude_config(t.path(), &cwd, Some("sk-abcdefghijklmnopqrstuvwxyz")).unwrap();
        let v: Value =
            serde_json::from_str(&std::fs::read_to_string(t.path().join(".claude.json")).unwrap())
                .unwrap();
        assert_eq!(v["hasCompletedOnboarding"], true);
        assert_eq!(
            v["projects"][cwd.display().to_string()]["hasTrustDialogAccepted"],
            true
        );
        assert_eq!(
            v["customApiKeyResponses"]["approved"],
            json!(["ghijklmnopqrstuvwxyz"])
        );
        let s: Value =
            serde_json::from_str(&std::fs::read_to_string(t.path().join("settings.json")).unwrap())
                .unwrap();
        assert_eq!(s["skipDangerousModePermissionPrompt"], true);
    }
}
