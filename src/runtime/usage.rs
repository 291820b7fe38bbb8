//! Token usage of agent sessions, read from Claude Code's own transcripts
//! (`$CLAUDE_CONFIG_DIR/projects/<cwd, / and . as ->/<session>.jsonl`;
//! sessions gt starts use the town-owned config dir). `gt context --usage`
//! and `gt mol step context-check` read the newest transcript of a working
//! directory: the last answer's input (with cache) is what the context
//! holds. `gt costs` adds up every answer and prices it with the published
//! per-model rates (an estimate: the bill is the provider's).
//! Agents whose CLI keeps no such transcript report no usage.

use super::RuntimeError;
use serde::Serialize;
use serde_json::Value;
use std::path::{Path, PathBuf};

/// Claude models' context window, in tokens.
pub const CONTEXT_WINDOW: u64 = 200_000;

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Tokens {
    pub input: u64,
    pub output: u64,
    pub cache_write: u64,
    pub cache_read: u64,
}

impl Tokens {
    fn add(&mut self, o: &Tokens) {
        self.input += o.input;
        self.output += o.output;
        self.cache_write += o.cache_write;
        self.cache_read += o.cache_read;
    }
    /// What the model saw as input (the context it held).
    pub fn context(&self) -> u64 {
        self.input + self.cache_write + self.cache_read
    }
}

/// One answer of the model in a transcript.
#[derive(Debug, Clone)]
pub struct Answer {
    pub model: String,
    pub at: String,
    pub tokens: Tokens,
}

/// The answers in a transcript (lines that are not answers are skipped).
pub fn answers(text: &str) -> Vec<Answer> {
    let mut out = Vec::new();
    for line in text.lines() {
        let Ok(v) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        let Some(u) = v.pointer("/message/usage") else {
            continue;
        };
        let n = |k: &str| u.get(k).and_then(Value::as_u64).unwrap_or(0);
        out.push(Answer {
            model: v
                .pointer("/message/model")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
            at: v
                .get("timestamp")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
            tokens: Tokens {
                input: n("input_tokens"),
                output: n("output_tokens"),
                cache_write: n("cache_creation_input_tokens"),
                cache_read: n("cache_read_input_tokens"),
            },
        });
    }
    out
}

/// USD per million tokens: (input, output) by model family; cache writes
/// cost 1.25x input, cache reads 0.1x.
fn rates(model: &str) -> (f64, f64) {
    if model.contains("opus") {
        (15.0, 75.0)
    } else if model.contains("haiku") {
        (0.8, 4.0)
    } else {
        (3.0, 15.0)
    }
}

pub fn cost(model: &str, t: &Tokens) -> f64 {
    let (i, o) = rates(model);
    (t.input as f64 * i
        + t.cache_write as f64 * i * 1.25
        + t.cache_read as f64 * i * 0.1
        + t.output as f64 * o)
        / 1_000_000.0
}

/// The Claude config dir to read: this session's `CLAUDE_CONFIG_DIR`, else
/// the town's own.
pub fn config_dir(runtime_dir: &Path) -> PathBuf {
    match std::env::var("CLAUDE_CONFIG_DIR") {
        Ok(d) if !d.is_empty() => PathBuf::from(d),
        _ => super::launch::claude_config_dir(runtime_dir),
    }
}

/// Transcripts of sessions that ran in `cwd`, newest first.
pub fn transcripts(config: &Path, cwd: &Path) -> Vec<PathBuf> {
    let key: String = cwd
        .to_string_lossy()
        .chars()
        .map(|c| if c == '/' || c == '.' { '-' } else { c })
        .collect();
    let mut v: Vec<(std::time::SystemTime, PathBuf)> =
        std::fs::read_dir(config.join("projects").join(key))
            .map(|rd| {
                rd.flatten()
                    .filter(|e| e.path().extension().is_some_and(|x| x == "jsonl"))
                    .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
                    .collect()
            })
            .unwrap_or_default();
    v.sort_by_key(|x| std::cmp::Reverse(x.0));
    v.into_iter().map(|(_, p)| p).collect()
}

#[derive(Debug, Serialize)]
pub struct ContextUsage {
    pub transcript: Option<PathBuf>,
    pub model: Option<String>,
    /// Tokens the context held at the last answer.
    pub used: u64,
    pub window: u64,
    pub percent: u32,
}

/// How full the context of the newest session in `cwd` is.
pub fn context_usage(config: &Path, cwd: &Path) -> Result<ContextUsage, RuntimeError> {
    let Some(t) = transcripts(config, cwd).into_iter().next() else {
        return Ok(ContextUsage {
            transcript: None,
            model: None,
            used: 0,
            window: CONTEXT_WINDOW,
            percent: 0,
        });
    };
    let text = std::fs::read_to_string(&t)
        .map_err(|e| RuntimeError::Io(format!("{}: {e}", t.display())))?;
    let last = answers(&text).pop();
    let used = last
        .as_ref()
        .map_or(0, |a| a.tokens.context() + a.tokens.output);
    Ok(ContextUsage {
        transcript: Some(t),
        model: last.map(|a| a.model),
        used,
        window: CONTEXT_WINDOW,
        percent: ((used * 100) / CONTEXT_WINDOW).min(100) as u32,
    })
}

#[derive(Debug, Serialize)]
pub struct SessionCost {
    pub agent: String,
    pub role: String,
    pub rig: String,
    pub answers: usize,
    pub tokens: Tokens,
    pub usd: f64,
}

/// Usage of every agent's sessions since `since` (an RFC 3339 prefix
/// compare: `""` means all time).
pub fn costs(town: &crate::town::Town, since: &str) -> Result<Vec<SessionCost>, RuntimeError> {
    let config = config_dir(&town.runtime_dir());
    let store = town.store()?;
    let mut out = Vec::new();
    for a in crate::store::agents::list(store.conn())? {
        let cwd = match (&a.worktree, a.role.as_str()) {
            (Some(w), _) => PathBuf::from(w),
            (None, "mayor") => town.root.clone(),
            _ => continue,
        };
        let mut c = SessionCost {
            agent: a.address(),
            role: a.role.clone(),
            rig: a.rig.clone(),
            answers: 0,
            tokens: Tokens::default(),
            usd: 0.0,
        };
        for t in transcripts(&config, &cwd) {
            let text = std::fs::read_to_string(&t).unwrap_or_default();
            for ans in answers(&text)
                .into_iter()
                .filter(|x| x.at.as_str() >= since)
            {
                c.answers += 1;
                c.usd += cost(&ans.model, &ans.tokens);
                c.tokens.add(&ans.tokens);
            }
        }
        if c.answers > 0 {
            out.push(c);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_and_costs_from_a_transcript() {
        let text = r#"{"type":"user","message":{"content":"hi"}}
{"type":"assistant","timestamp":"2026-01-01T00:00:00Z","message":{"model":"claude-sonnet-4-6","usage":{"input_tokens":1000,"cache_creation_input_tokens":2000,"cache_read_input_tokens":10000,"output_tokens":500}}}
not json"#;
        let a = answers(text);
        assert_eq!(a.len(), 1);
        assert_eq!(a[0].tokens.context(), 13_000);
        let usd = cost(&a[0].model, &a[0].tokens);
        // 1000*3 + 2000*3.75 + 10000*0.3 + 500*15 = 21000 per million.
        assert!((usd - 0.021).abs() < 1e-9, "{usd}");
    }
}
