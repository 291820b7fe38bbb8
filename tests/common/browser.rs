//! Headless Chromium (Debian's `chromium`) driven over the DevTools protocol:
//! the browser the dashboard and beads-ui tests look at pages with.

use base64::Engine;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tungstenite::stream::MaybeTlsStream;
use tungstenite::{Message, WebSocket};

pub const CHROMIUM: &str = "/usr/bin/chromium";

/// Kill a child process we started when the test ends, pass or fail.
pub struct Guard(pub Child);
impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Start `cmd` with the chosen stream piped and read it until a line
/// contains `needle`; return the process and that line from the needle on.
/// The rest of the stream is drained so the child never blocks on a pipe.
pub fn spawn_until(cmd: &mut Command, stderr: bool, needle: &str, what: &str) -> (Guard, String) {
    let (out, err) = if stderr {
        (Stdio::null(), Stdio::piped())
    } else {
        (Stdio::piped(), Stdio::inherit())
    };
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .unwrap();
    let stream: Box<dyn std::io::Read + Send> = if stderr {
        Box::new(child.stderr.take().unwrap())
    } else {
        Box::new(child.stdout.take().unwrap())
    };
    let guard = Guard(child);
    let mut lines = BufReader::new(stream).lines();
    let found = loop {
        let line = lines
            .next()
            .unwrap_or_else(|| panic!("{what} exited before printing `{needle}`"))
            .unwrap();
        if let Some(i) = line.find(needle) {
            break line[i..].trim().to_string();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    (guard, found)
}

pub struct Browser {
    _proc: Guard,
    _profile: tempfile::TempDir,
    ws: WebSocket<MaybeTlsStream<TcpStream>>,
    session: String,
    next: u64,
}

impl Browser {
    pub fn launch() -> Browser {
        let profile = tempfile::tempdir().unwrap();
        let (proc, ws_url) = spawn_until(
            Command::new(CHROMIUM)
                .args([
                    "--headless",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-quic",
                    "--no-first-run",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--disable-sync",
                    "--window-size=1400,1000",
                    "--remote-debugging-port=0",
                ])
                .arg(format!("--user-data-dir={}", profile.path().display()))
                .arg("about:blank"),
            true,
            "ws://",
            "chromium",
        );
        let (ws, _) = tungstenite::connect(ws_url.as_str()).unwrap();
        if let MaybeTlsStream::Plain(s) = ws.get_ref() {
            s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        }
        let mut b = Browser {
            _proc: proc,
            _profile: profile,
            ws,
            session: String::new(),
            next: 0,
        };
        let targets = b.call("Target.getTargets", json!({}));
        let page = targets["targetInfos"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["type"] == "page")
            .expect("a page target")["targetId"]
            .clone();
        let s = b.call(
            "Target.attachToTarget",
            json!({"targetId": page, "flatten": true}),
        );
        b.session = s["sessionId"].as_str().unwrap().to_string();
        b.call("Page.enable", json!({}));
        b.call("Runtime.enable", json!({}));
        b
    }

    pub fn call(&mut self, method: &str, params: Value) -> Value {
        self.next += 1;
        let id = self.next;
        let mut msg = json!({"id": id, "method": method, "params": params});
        if !self.session.is_empty() {
            msg["sessionId"] = json!(self.session);
        }
        self.ws.send(Message::text(msg.to_string())).unwrap();
        loop {
            let m = self.ws.read().unwrap();
            let Message::Text(t) = m else { continue };
            let v: Value = serde_json::from_str(t.as_str()).unwrap();
            if v["id"] == json!(id) {
                assert!(v.get("error").is_none(), "{method}: {v}");
                return v["result"].clone();
            }
        }
    }

    pub fn eval(&mut self, expr: &str) -> Value {
        let r = self.call(
            "Runtime.evaluate",
            json!({"expression": expr, "returnByValue": true, "awaitPromise": true}),
        );
        assert!(r.get("exceptionDetails").is_none(), "{expr}: {r}");
        r["result"]["value"].clone()
    }

    /// Wait until `expr` is true (a deadline for failing, not a timing check).
    pub fn wait_for(&mut self, what: &str, expr: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if self.eval(expr) == json!(true) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let text = self.eval("document.body ? document.body.innerText : ''");
        panic!("timed out waiting for {what} ({expr}); the page reads:\n{text}");
    }

    /// Load `url` and wait for the document to be complete.
    pub fn navigate(&mut self, url: &str) {
        self.call("Page.navigate", json!({"url": url}));
        self.wait_for("the page to load", "document.readyState === 'complete'");
    }

    /// A PNG of the whole page in `dir`.
    pub fn screenshot(&mut self, dir: &Path, name: &str) -> PathBuf {
        let m = self.call("Page.getLayoutMetrics", json!({}));
        let h = m["cssContentSize"]["height"].as_f64().unwrap_or(1000.0);
        let shot = self.call(
            "Page.captureScreenshot",
            json!({"format": "png", "captureBeyondViewport": true,
                   "clip": {"x": 0, "y": 0, "width": 1400, "height": h.clamp(400.0, 4000.0), "scale": 1}}),
        );
        let png = base64::engine::general_purpose::STANDARD
            .decode(shot["data"].as_str().unwrap())
            .unwrap();
        std::fs::create_dir_all(dir).unwrap();
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png).unwrap();
        eprintln!("screenshot: {}", path.display());
        path
    }
}

/// The visible text of the first element matching `sel` ("" if none).
pub fn text_of(b: &mut Browser, sel: &str) -> String {
    b.eval(&format!(
        "(document.querySelector({sel:?}) || {{innerText: ''}}).innerText"
    ))
    .as_str()
    .unwrap_or("")
    .to_string()
}
