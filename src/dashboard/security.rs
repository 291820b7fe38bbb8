//! Who may talk to the dashboard.
//!
//! - On loopback, the `Host` header must name loopback too (a page on
//!   another site cannot reach us through DNS rebinding).
//! - Off loopback, every request carries the town's token: a bearer
//!   header, the cookie set by the first `?token=` visit, or `?token=`.
//! - Every state change is a POST whose `Origin` (or `Referer`) is this
//!   server and whose `_csrf` field matches the server's CSRF token.

use super::{App, DashError, Result};
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use std::io::Read;
use std::path::Path;
use std::sync::Arc;

pub const TOKEN_COOKIE: &str = "gt_dashboard_token";

/// 32 random bytes from the OS, as hex.
pub fn random_token() -> String {
    let mut buf = [0u8; 32];
    let filled = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut buf));
    if filled.is_err() {
        // No /dev/urandom: mix the clock and the process id (still unguessable
        // enough for a CSRF token; the off-loopback token is refused below).
        let seed = format!("{:?}{}", std::time::SystemTime::now(), std::process::id());
        use sha2::Digest;
        buf.copy_from_slice(&sha2::Sha256::digest(seed.as_bytes()));
    }
    hex::encode(buf)
}

/// The town's dashboard token: read it, or create it (mode 0600). Returns
/// `(token, created)`.
pub fn load_or_create_token(path: &Path) -> Result<(String, bool)> {
    if let Ok(text) = std::fs::read_to_string(path) {
        let t = text.trim();
        if t.len() >= 32 && t.chars().all(|c| c.is_ascii_hexdigit()) {
            return Ok((t.to_string(), false));
        }
        return Err(DashError::usage(
            format!("{} does not hold a valid token", path.display()),
            "delete the file; the next `gt dashboard --bind ...` creates a new token",
        ));
    }
    if !Path::new("/dev/urandom").exists() {
        return Err(DashError::usage(
            "cannot generate a token: /dev/urandom is missing",
            "bind to loopback (the default) instead",
        ));
    }
    let token = random_token();
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let io = |e: std::io::Error| {
        DashError::Runtime(crate::runtime::RuntimeError::Io(format!(
            "cannot write {}: {e}",
            path.display()
        )))
    };
    if let Some(d) = path.parent() {
        std::fs::create_dir_all(d).map_err(io)?;
    }
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(io)?;
    writeln!(f, "{token}").map_err(io)?;
    Ok((token, true))
}

/// Constant-time comparison (the token must not leak through timing).
pub fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

fn cookie_token(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == TOKEN_COOKIE)
        .map(|(_, v)| v.to_string())
}

fn bearer_token(headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(|t| t.trim().to_string())
}

fn query_param(query: Option<&str>, name: &str) -> Option<String> {
    query?
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

fn host_is_loopback(host: &str) -> bool {
    let name = if let Some(rest) = host.strip_prefix('[') {
        rest.split(']').next().unwrap_or("")
    } else {
        host.rsplit_once(':').map_or(host, |(h, _)| h)
    };
    name.eq_ignore_ascii_case("localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

fn refuse(status: StatusCode, why: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        format!("{why}\n"),
    )
        .into_response()
}

/// Is this request from a page of this server? `Origin` when sent, else
/// `Referer`; browsers send one of them on every cross-site POST.
pub fn same_origin(headers: &HeaderMap) -> bool {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        if site != "same-origin" && site != "none" {
            return false;
        }
    }
    let from = headers
        .get(header::ORIGIN)
        .or_else(|| headers.get(header::REFERER))
        .and_then(|v| v.to_str().ok());
    match from {
        None => true,
        Some(o) => {
            let rest = o
                .strip_prefix("http://")
                .or_else(|| o.strip_prefix("https://"));
            rest.is_some_and(|r| r.split('/').next() == Some(host))
        }
    }
}

/// The guard in front of every route.
pub async fn guard(State(app): State<Arc<App>>, req: Request, next: Next) -> Response {
    let headers = req.headers();
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("")
        .to_string();
    if app.config.bind.ip().is_loopback() && !host_is_loopback(&host) {
        return refuse(
            StatusCode::FORBIDDEN,
            "this dashboard answers only to loopback host names (127.0.0.1, localhost, [::1])",
        );
    }
    let mut set_cookie = None;
    if let Some(token) = &app.config.token {
        let given = bearer_token(headers).or_else(|| cookie_token(headers));
        let from_query = query_param(req.uri().query(), "token");
        let ok_header = given.as_deref().is_some_and(|g| same(g, token));
        let ok_query = from_query.as_deref().is_some_and(|g| same(g, token));
        if !ok_header && !ok_query {
            return refuse(
                StatusCode::UNAUTHORIZED,
                "this dashboard needs its token: open the URL `gt dashboard` printed (…/?token=…), \
                 or send `Authorization: Bearer <token>`; the token is kept in the town's .beads/runtime/dashboard.token",
            );
        }
        if ok_query && !ok_header {
            if req.method() == Method::GET {
                // Trade the token in the URL for a cookie, and drop it from the address bar.
                let path = req.uri().path().to_string();
                let rest: Vec<&str> = req
                    .uri()
                    .query()
                    .unwrap_or("")
                    .split('&')
                    .filter(|kv| !kv.starts_with("token=") && !kv.is_empty())
                    .collect();
                let to = if rest.is_empty() {
                    path
                } else {
                    format!("{path}?{}", rest.join("&"))
                };
                let mut resp = Redirect::to(&to).into_response();
                if let Ok(v) = HeaderValue::from_str(&cookie(token)) {
                    resp.headers_mut().insert(header::SET_COOKIE, v);
                }
                return resp;
            }
            set_cookie = Some(cookie(token));
        }
    }
    if req.method() != Method::GET && req.method() != Method::HEAD && !same_origin(req.headers()) {
        return refuse(
            StatusCode::FORBIDDEN,
            "cross-origin request refused: actions are taken from the dashboard's own pages",
        );
    }
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
             connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    if let Some(c) = set_cookie.and_then(|c| HeaderValue::from_str(&c).ok()) {
        h.insert(header::SET_COOKIE, c);
    }
    resp
}

fn cookie(token: &str) -> String {
    format!("{TOKEN_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict")
}

/// The `_csrf` field of an action must be this server's token.
pub fn check_csrf(app: &App, given: &str) -> Result<()> {
    if same(given, &app.csrf) {
        Ok(())
    } else {
        Err(DashError::Csrf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts() {
        for h in [
            "127.0.0.1:8080",
            "localhost:1",
            "[::1]:80",
            "LOCALHOST",
            "127.0.0.2",
        ] {
            assert!(host_is_loopback(h), "{h}");
        }
        for h in ["evil.example:8080", "10.0.0.1:80", "", "[fe80::1]:80"] {
            assert!(!host_is_loopback(h), "{h}");
        }
    }

    #[test]
    fn tokens_compare_whole() {
        assert!(same("abc", "abc"));
        assert!(!same("abc", "abd"));
        assert!(!same("abc", "ab"));
        assert_eq!(random_token().len(), 64);
        assert_ne!(random_token(), random_token());
    }
}
