//! Agent configs: built-in presets, `settings/config.json` entries, and
//! which agent a role uses.

use super::{Settings, TownError};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// How a session says its step is done.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum DoneMode {
    /// Exit status 0 closes the step (the supervisor closes it under the lease).
    #[default]
    Exit,
    /// The agent must run `bd close $GT_STEP`; exiting without it is a failure.
    Close,
}

/// Where the session runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    /// A headless child process; output to a log file.
    #[default]
    Exec,
    /// An interactive tmux session on the town's socket (needs `tmux`).
    Tmux,
    /// tmux where it is installed, else exec (the presets' default).
    Auto,
}

impl Provider {
    /// `Auto` decided: tmux when installed, else exec.
    pub fn resolved(self) -> Provider {
        match self {
            Provider::Auto if program_exists("tmux") => Provider::Tmux,
            Provider::Auto => Provider::Exec,
            p => p,
        }
    }
}

/// Which coding-agent CLI a command runs: decides the hooks gt writes, the
/// town-owned config, and the checks made before launch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Cli {
    /// Any program: no hooks; the prompt is its only context.
    #[default]
    Generic,
    /// Claude Code: `.claude/settings.json` hooks, town-owned `CLAUDE_CONFIG_DIR`.
    Claude,
    Codex,
    Gemini,
    Opencode,
}

impl Cli {
    /// Does this CLI run gt's hooks (SessionStart prime, UserPromptSubmit
    /// mail/nudge confirmation, Stop heartbeat)?
    pub fn has_hooks(self) -> bool {
        self == Cli::Claude
    }

    /// How to install the CLI, for "not installed" errors.
    pub fn install_hint(self) -> Option<&'static str> {
        Some(match self {
            Cli::Claude => "npm install -g @anthropic-ai/claude-code",
            Cli::Codex => "npm install -g @openai/codex",
            Cli::Gemini => "npm install -g @google/gemini-cli",
            Cli::Opencode => "npm install -g opencode-ai",
            Cli::Generic => return None,
        })
    }
}

/// One agent: a command line plus how it finishes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentConfig {
    /// The headless command line (exec provider). `{prompt}` is replaced by
    /// the shell-quoted prompt, `{model}` by `model`. Without `{prompt}` the
    /// prompt arrives on stdin. The `shell` preset has an empty command: it
    /// runs the step's `run`.
    pub command: String,
    /// The interactive command line (tmux provider); `{prompt}` is the first
    /// prompt. Without it, tmux sessions run `command`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interactive: Option<String>,
    /// Which CLI this is (hooks, config, checks).
    #[serde(default, skip_serializing_if = "is_generic")]
    pub cli: Cli,
    #[serde(default)]
    pub done: DoneMode,
    #[serde(default)]
    pub provider: Provider,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    /// Attempts before a step is blocked and escalated (default 3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_attempts: Option<i64>,
    /// Kill a session that runs longer than this (seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_secs: Option<u64>,
}

impl AgentConfig {
    pub fn new(command: &str) -> Self {
        AgentConfig {
            command: command.to_string(),
            interactive: None,
            cli: Cli::Generic,
            done: DoneMode::Exit,
            provider: Provider::Exec,
            model: None,
            env: BTreeMap::new(),
            max_attempts: None,
            timeout_secs: None,
        }
    }

    /// The shell agent runs the step's `run` command itself.
    pub fn is_shell(&self) -> bool {
        self.command.trim().is_empty()
    }

    /// The command line for `provider` (already resolved): the interactive
    /// one in tmux when the agent has one.
    pub fn command_for(&self, provider: Provider) -> &str {
        match (provider.resolved(), &self.interactive) {
            (Provider::Tmux, Some(i)) => i,
            _ => &self.command,
        }
    }

    /// The program the command starts (first word), to check it exists.
    pub fn program(&self) -> Option<String> {
        let mut words = self.command.split_whitespace();
        loop {
            let w = words.next()?;
            // Skip leading `VAR=value` assignments and `exec`/`env`.
            if w.contains('=') && !w.starts_with('=') || w == "exec" || w == "env" {
                continue;
            }
            return Some(w.trim_matches(|c| c == '\'' || c == '"').to_string());
        }
    }
}

/// The roles a town knows.
pub const ROLES: &[&str] = &[
    "mayor", "polecat", "witness", "refinery", "deacon", "crew", "dog",
];

/// Names of the built-in presets.
pub const PRESETS: &[&str] = &["claude", "codex", "gemini", "opencode", "shell"];

fn is_generic(c: &Cli) -> bool {
    *c == Cli::Generic
}

/// An interactive-capable CLI preset.
fn cli_preset(cli: Cli, headless: &str, interactive: &str, model: Option<&str>) -> AgentConfig {
    let mut a = AgentConfig::new(headless);
    a.interactive = Some(interactive.to_string());
    a.cli = cli;
    a.provider = Provider::Auto;
    a.model = model.map(String::from);
    a
}

/// A built-in preset by name. The flags were checked against the real CLIs
/// (`--help` of claude-code 2.1.332, codex 0.171.0, gemini-cli 0.61.0,
/// opencode 1.18.33); see docs/agents.md.
pub fn preset(name: &str) -> Option<AgentConfig> {
    let mut a = match name {
        "shell" => AgentConfig::new(""),
        "claude" => cli_preset(
            Cli::Claude,
            "claude -p --dangerously-skip-permissions --model {model} --output-format text",
            "claude --dangerously-skip-permissions --model {model} {prompt}",
            Some("sonnet"),
        ),
        "codex" => cli_preset(
            Cli::Codex,
            "codex exec --dangerously-bypass-approvals-and-sandbox -",
            "codex --dangerously-bypass-approvals-and-sandbox {prompt}",
            None,
        ),
        "gemini" => cli_preset(
            Cli::Gemini,
            "gemini --yolo -p {prompt}",
            "gemini --yolo -i {prompt}",
            None,
        ),
        "opencode" => cli_preset(
            Cli::Opencode,
            "opencode run {prompt}",
            "opencode --prompt {prompt}",
            None,
        ),
        _ => return None,
    };
    a.done = DoneMode::Exit;
    Some(a)
}

/// Look up an agent: the rig's `agents`, then the town's, then the presets.
pub fn lookup(
    name: &str,
    town: Option<&Settings>,
    rig: Option<&Settings>,
) -> Result<AgentConfig, TownError> {
    for s in [rig, town].into_iter().flatten() {
        if let Some(a) = s.agents.get(name) {
            return Ok(a.clone());
        }
    }
    preset(name).ok_or_else(|| TownError::UnknownAgent {
        name: name.to_string(),
        valid: valid_names(town, rig),
    })
}

/// Every agent name that resolves.
pub fn valid_names(town: Option<&Settings>, rig: Option<&Settings>) -> Vec<String> {
    let mut v: Vec<String> = PRESETS.iter().map(|s| s.to_string()).collect();
    for s in [rig, town].into_iter().flatten() {
        v.extend(s.agents.keys().cloned());
    }
    v.sort();
    v.dedup();
    v
}

/// Which agent a role uses: `--agent`, then the rig's `roles.<role>.agent`,
/// then the town's, then the town's `default_agent`, then `fallback`.
pub fn agent_for_role(
    role: &str,
    flag: Option<&str>,
    town: Option<&Settings>,
    rig: Option<&Settings>,
    fallback: &str,
) -> String {
    if let Some(f) = flag.filter(|f| !f.trim().is_empty()) {
        return f.trim().to_string();
    }
    for s in [rig, town].into_iter().flatten() {
        if let Some(a) = s.roles.get(role).and_then(|r| r.agent.clone()) {
            return a;
        }
    }
    for s in [rig, town].into_iter().flatten() {
        if let Some(a) = &s.default_agent {
            return a.clone();
        }
    }
    fallback.to_string()
}

/// Is `program` runnable (an absolute/relative path that exists, or on PATH)?
pub fn program_exists(program: &str) -> bool {
    if program.contains('/') {
        return std::path::Path::new(program).is_file();
    }
    let Some(path) = std::env::var_os("PATH") else {
        return false;
    };
    std::env::split_paths(&path).any(|d| d.join(program).is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_and_programs() {
        assert!(preset("shell").unwrap().is_shell());
        assert_eq!(
            preset("claude").unwrap().program().as_deref(),
            Some("claude")
        );
        assert_eq!(
            AgentConfig::new("FOO=1 exec ./agent.sh {prompt}")
                .program()
                .as_deref(),
            Some("./agent.sh")
        );
        let e = lookup("nope", None, None).unwrap_err().to_string();
        assert!(e.contains("nope"), "{e}");
    }
}
