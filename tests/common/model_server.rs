//! A scripted Anthropic Messages API server on loopback, for driving the
//! real Claude Code CLI in tests (std only: one thread per connection).
//!
//! Claude Code sends `HEAD /api/hello`, then `POST /v1/messages?beta=true`
//! with `"stream": true`. A request that offers the `Bash` tool is a turn of
//! the agent: the test's `Script` looks at the conversation and answers with
//! one `Bash` command (a `tool_use`) or with a final text (`end_turn`). A
//! request without `Bash` (a session title, a summary) is a side request and
//! gets a short text.
#![allow(dead_code)]

use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// What the model does next.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// Run this command with the Bash tool.
    Bash(String),
    /// Say this and end the turn.
    Text(String),
}

/// A Messages-API content value (a string, or text blocks) as one text.
fn content_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Array(a) => a
            .iter()
            .filter_map(|b| b["text"].as_str())
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}

/// One agent turn as the script sees it.
pub struct Turn<'a> {
    pub body: &'a Value,
}

impl Turn<'_> {
    /// The system prompt (where SessionStart hook output lands) as one string.
    pub fn system(&self) -> String {
        content_text(&self.body["system"])
    }

    /// Every text of the conversation (prompts, hook output, tool results), in order.
    pub fn texts(&self) -> Vec<String> {
        let mut out = Vec::new();
        for m in self.body["messages"].as_array().into_iter().flatten() {
            match &m["content"] {
                Value::String(s) => out.push(s.clone()),
                Value::Array(blocks) => {
                    for b in blocks {
                        if let Some(t) = b["text"].as_str() {
                            out.push(t.to_string());
                        }
                        match &b["content"] {
                            Value::String(s) => out.push(s.clone()),
                            Value::Array(inner) => out.extend(
                                inner
                                    .iter()
                                    .filter_map(|x| x["text"].as_str().map(String::from)),
                            ),
                            _ => {}
                        }
                    }
                }
                _ => {}
            }
        }
        out
    }

    /// Everything the model has seen, system prompt included.
    pub fn all_text(&self) -> String {
        let mut s = self.system();
        for t in self.texts() {
            s.push('\n');
            s.push_str(&t);
        }
        s
    }

    /// The Bash commands the model already ran in this conversation.
    pub fn commands_run(&self) -> Vec<String> {
        let mut out = Vec::new();
        for m in self.body["messages"].as_array().into_iter().flatten() {
            for b in m["content"].as_array().into_iter().flatten() {
                if b["type"] == "tool_use" && b["name"] == "Bash" {
                    if let Some(c) = b["input"]["command"].as_str() {
                        out.push(c.to_string());
                    }
                }
            }
        }
        out
    }

    /// The output of the last tool call, if the last message carries one.
    pub fn last_tool_result(&self) -> Option<String> {
        let last = self.body["messages"].as_array()?.last()?;
        let blocks = last["content"].as_array()?;
        let r = blocks.iter().rev().find(|b| b["type"] == "tool_result")?;
        Some(content_text(&r["content"]))
    }

    /// Outputs of the tool calls made since the last typed prompt, in order.
    pub fn results_since_prompt(&self) -> Vec<String> {
        let mut since = Vec::new();
        for m in self.body["messages"].as_array().into_iter().flatten() {
            if m["role"] != "user" {
                continue;
            }
            match &m["content"] {
                Value::String(s) if !s.starts_with("<system-reminder>") => since.clear(),
                Value::Array(blocks) => {
                    for b in blocks {
                        if b["type"] == "tool_result" {
                            since.push(content_text(&b["content"]));
                        } else if b["text"]
                            .as_str()
                            .is_some_and(|t| !t.starts_with("<system-reminder>"))
                        {
                            since.clear();
                        }
                    }
                }
                _ => {}
            }
        }
        since
    }

    /// The last user prompt typed (not a tool result).
    pub fn last_prompt(&self) -> String {
        let msgs = self.body["messages"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        for m in msgs.iter().rev() {
            if m["role"] != "user" {
                continue;
            }
            match &m["content"] {
                Value::String(s) => return s.clone(),
                Value::Array(blocks) => {
                    if blocks.iter().any(|b| b["type"] == "tool_result") {
                        continue;
                    }
                    if let Some(t) = blocks
                        .iter()
                        .rev()
                        .filter_map(|b| b["text"].as_str())
                        .find(|t| !t.starts_with("<system-reminder>"))
                    {
                        return t.to_string();
                    }
                }
                _ => {}
            }
        }
        String::new()
    }
}

pub type Script = dyn Fn(&Turn<'_>) -> Reply + Send + Sync;

/// A request the server saw (for assertions).
#[derive(Debug, Clone)]
pub struct Seen {
    pub path: String,
    pub side: bool,
    pub model: String,
    pub body: Value,
}

pub struct ModelServer {
    pub port: u16,
    pub seen: Arc<Mutex<Vec<Seen>>>,
}

impl ModelServer {
    /// Start serving on 127.0.0.1 (a free port) with `script` deciding each turn.
    pub fn start(script: Arc<Script>) -> ModelServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let seen2 = seen.clone();
        std::thread::spawn(move || {
            let ids = Arc::new(AtomicU64::new(1));
            for conn in listener.incoming().flatten() {
                let (script, seen, ids) = (script.clone(), seen2.clone(), ids.clone());
                std::thread::spawn(move || {
                    let _ = serve(conn, &*script, &seen, &ids);
                });
            }
        });
        ModelServer { port, seen }
    }

    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Agent turns seen so far (requests offering Bash).
    pub fn turns(&self) -> Vec<Seen> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|s| !s.side)
            .cloned()
            .collect()
    }
}

fn serve(
    conn: TcpStream,
    script: &Script,
    seen: &Mutex<Vec<Seen>>,
    ids: &AtomicU64,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut out = conn;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let mut parts = line.split_whitespace();
        let method = parts.next().unwrap_or("").to_string();
        let path = parts.next().unwrap_or("").to_string();
        let mut len = 0usize;
        let mut chunked = false;
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h)? == 0 {
                return Ok(());
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            let lower = h.to_ascii_lowercase();
            if let Some(v) = lower.strip_prefix("content-length:") {
                len = v.trim().parse().unwrap_or(0);
            }
            if lower.starts_with("transfer-encoding:") && lower.contains("chunked") {
                chunked = true;
            }
        }
        let body = if chunked {
            read_chunked(&mut reader)?
        } else {
            let mut b = vec![0; len];
            reader.read_exact(&mut b)?;
            b
        };
        match method.as_str() {
            "HEAD" | "GET" if path.starts_with("/api/hello") => {
                respond(&mut out, 200, "text/plain", b"")?
            }
            "POST" if path.starts_with("/v1/messages/count_tokens") => respond(
                &mut out,
                200,
                "application/json",
                br#"{"input_tokens": 100}"#,
            )?,
            "POST" if path.starts_with("/v1/messages") => {
                let req: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                let side = !req["tools"]
                    .as_array()
                    .is_some_and(|t| t.iter().any(|t| t["name"] == "Bash"));
                let reply = if side {
                    Reply::Text("Gas Town session".into())
                } else {
                    script(&Turn { body: &req })
                };
                seen.lock().unwrap().push(Seen {
                    path: path.clone(),
                    side,
                    model: req["model"].as_str().unwrap_or("").to_string(),
                    body: req.clone(),
                });
                let id = ids.fetch_add(1, Ordering::SeqCst);
                let model = req["model"].as_str().unwrap_or("claude-test");
                if req["stream"].as_bool().unwrap_or(false) {
                    respond(
                        &mut out,
                        200,
                        "text/event-stream",
                        sse(id, model, &reply).as_bytes(),
                    )?
                } else {
                    let msg = message(id, model, &reply);
                    respond(
                        &mut out,
                        200,
                        "application/json",
                        msg.to_string().as_bytes(),
                    )?
                }
            }
            _ => respond(&mut out, 404, "text/plain", b"not found")?,
        }
    }
}

fn read_chunked(r: &mut impl BufRead) -> std::io::Result<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let mut size = String::new();
        r.read_line(&mut size)?;
        let n =
            usize::from_str_radix(size.trim().split(';').next().unwrap_or("0"), 16).unwrap_or(0);
        let mut chunk = vec![0; n + 2];
        r.read_exact(&mut chunk)?;
        if n == 0 {
            return Ok(body);
        }
        body.extend_from_slice(&chunk[..n]);
    }
}

fn respond(out: &mut TcpStream, code: u16, ctype: &str, body: &[u8]) -> std::io::Result<()> {
    let reason = if code == 200 { "OK" } else { "Not Found" };
    write!(
        out,
        "HTTP/1.1 {code} {reason}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: keep-alive\r\n\r\n",
        body.len()
    )?;
    out.write_all(body)?;
    out.flush()
}

fn block(id: u64, reply: &Reply) -> (Value, Value, Value, &'static str) {
    match reply {
        Reply::Bash(cmd) => {
            let input = json!({"command": cmd, "description": "scripted step"});
            (
                json!({"type": "tool_use", "id": format!("toolu_{id}"), "name": "Bash", "input": {}}),
                json!({"type": "input_json_delta", "partial_json": input.to_string()}),
                json!({"type": "tool_use", "id": format!("toolu_{id}"), "name": "Bash", "input": input}),
                "tool_use",
            )
        }
        Reply::Text(t) => (
            json!({"type": "text", "text": ""}),
            json!({"type": "text_delta", "text": t}),
            json!({"type": "text", "text": t}),
            "end_turn",
        ),
    }
}

fn message(id: u64, model: &str, reply: &Reply) -> Value {
    let (_, _, full, stop) = block(id, reply);
    json!({"id": format!("msg_{id}"), "type": "message", "role": "assistant", "model": model,
           "content": [full], "stop_reason": stop, "stop_sequence": null,
           "usage": {"input_tokens": 100, "output_tokens": 10}})
}

fn sse(id: u64, model: &str, reply: &Reply) -> String {
    let (start, delta, _, stop) = block(id, reply);
    let events = [
        (
            "message_start",
            json!({"type": "message_start", "message": {"id": format!("msg_{id}"), "type": "message", "role": "assistant", "model": model, "content": [], "stop_reason": null, "stop_sequence": null, "usage": {"input_tokens": 100, "output_tokens": 1}}}),
        ),
        (
            "content_block_start",
            json!({"type": "content_block_start", "index": 0, "content_block": start}),
        ),
        (
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 0, "delta": delta}),
        ),
        (
            "content_block_stop",
            json!({"type": "content_block_stop", "index": 0}),
        ),
        (
            "message_delta",
            json!({"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": null}, "usage": {"output_tokens": 10}}),
        ),
        ("message_stop", json!({"type": "message_stop"})),
    ];
    events
        .iter()
        .map(|(e, d)| format!("event: {e}\ndata: {d}\n\n"))
        .collect()
}
