//! Starts the real `marquee` binary on `127.0.0.1:0` with a fresh data dir, reads its ready
//! line, and talks to it over HTTP.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use serde_json::{Value, json};

pub(crate) const ADMIN_EMAIL: &str = "admin@example.com";
pub(crate) const ADMIN_PASSWORD: &str = "admin-secret-1";

/// A data dir removed when dropped.
pub(crate) struct DataDir(pub PathBuf);

impl DataDir {
    pub(crate) fn new() -> Self {
        static N: AtomicU32 = AtomicU32::new(0);
        let path = std::env::temp_dir().join(format!(
            "marquee-e2e-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&path);
        Self(path)
    }
}

impl Drop for DataDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// An HTTP answer: status and body (JSON when it parses).
#[derive(Debug)]
pub(crate) struct Reply {
    pub status: u16,
    pub text: String,
    pub headers: Vec<(String, String)>,
    /// The body as sent (`text` is empty unless it is UTF-8).
    pub bytes: Vec<u8>,
}

impl Reply {
    pub(crate) fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text))
    }

    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// Asserts the status and, for errors, the platform's error shape.
    #[track_caller]
    pub(crate) fn expect(self, status: u16) -> Self {
        assert_eq!(self.status, status, "body: {}", self.text);
        if status >= 400 {
            let body = self.json();
            assert!(body["error"].is_string() && body["message"].is_string(), "error shape: {body}");
        }
        self
    }
}

/// Adds `Authorization: Bearer <token>` when there is a token.
fn bearer<B>(req: ureq::RequestBuilder<B>, token: Option<&str>) -> ureq::RequestBuilder<B> {
    match token {
        Some(token) => req.header("Authorization", format!("Bearer {token}")),
        None => req,
    }
}

/// A running `marquee up`.
pub(crate) struct Server {
    child: Child,
    pub base: String,
    agent: ureq::Agent,
}

impl Server {
    /// Starts on a fresh data dir owned by `dir`.
    pub(crate) fn start(dir: &DataDir) -> Self {
        Self::start_with(&dir.0, &[])
    }

    pub(crate) fn start_with(data_dir: &Path, env: &[(&str, &str)]) -> Self {
        Self::start_as(&["up"], data_dir, env)
    }

    /// Starts `marquee <part…>` (`up`, `control`, `runtime --only gala`).
    pub(crate) fn start_as(part: &[&str], data_dir: &Path, env: &[(&str, &str)]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_marquee"))
            .args(part)
            .args(["--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir)
            .env("MARQUEE_ADMIN_EMAIL", ADMIN_EMAIL)
            .env("MARQUEE_ADMIN_PASSWORD", ADMIN_PASSWORD)
            .env("RUST_LOG", "warn")
            // Tests drive many clients from one address; the rate-limit tests turn limits on.
            .env("MARQUEE_NO_RATE_LIMITS", "true")
            .env("MARQUEE_CONSOLE_DIR", concat!(env!("CARGO_MANIFEST_DIR"), "/../web/dist"))
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("failed to start marquee");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            if let Some(Ok(line)) = lines.next() {
                let _ = tx.send(line);
            }
            // Anything more on stdout breaks the contract of exactly one line.
            if let Some(line) = lines.map_while(Result::ok).next() {
                panic!("unexpected stdout line: {line}");
            }
        });
        let line = rx.recv_timeout(Duration::from_secs(120)).expect("marquee did not print its ready line");
        let base = line
            .strip_prefix("marquee listening on ")
            .unwrap_or_else(|| panic!("unexpected ready line: {line}"))
            .to_string();
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(60)))
            .max_idle_connections(128)
            .max_idle_connections_per_host(64)
            // Well inside the server's idle timeout, so a pooled connection is never reused
            // just as the server closes it.
            .max_idle_age(Duration::from_secs(5))
            .build();
        Self { child, base, agent: config.into() }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn finish(response: Result<http::Response<ureq::Body>, ureq::Error>) -> Reply {
        let mut response = response.expect("request failed");
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_str().unwrap_or("").to_string()))
            .collect();
        let bytes = response.body_mut().with_config().limit(64 << 20).read_to_vec().unwrap_or_default();
        let text = String::from_utf8(bytes.clone()).unwrap_or_default();
        Reply { status, text, headers, bytes }
    }

    pub(crate) fn get(&self, path: &str, token: Option<&str>) -> Reply {
        self.get_with(path, token, &[])
    }

    pub(crate) fn get_with(&self, path: &str, token: Option<&str>, headers: &[(&str, &str)]) -> Reply {
        let mut req = bearer(self.agent.get(self.url(path)), token);
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        Self::finish(req.call())
    }

    pub(crate) fn delete(&self, path: &str, token: Option<&str>) -> Reply {
        Self::finish(bearer(self.agent.delete(self.url(path)), token).call())
    }

    /// POSTs a raw body, as JSON unless `headers` name another Content-Type.
    pub(crate) fn post_raw(&self, path: &str, token: Option<&str>, headers: &[(&str, &str)], body: &str) -> Reply {
        let mut req = bearer(self.agent.post(self.url(path)), token);
        if !headers.iter().any(|(name, _)| name.eq_ignore_ascii_case("content-type")) {
            req = req.header("Content-Type", "application/json");
        }
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        Self::finish(req.send(body))
    }

    pub(crate) fn patch(&self, path: &str, token: Option<&str>, body: &Value) -> Reply {
        self.send_json(self.agent.patch(self.url(path)), token, body)
    }

    pub(crate) fn put(&self, path: &str, token: Option<&str>, body: &Value) -> Reply {
        self.send_json(self.agent.put(self.url(path)), token, body)
    }

    fn send_json(&self, req: ureq::RequestBuilder<ureq::typestate::WithBody>, token: Option<&str>, body: &Value) -> Reply {
        Self::finish(bearer(req.header("Content-Type", "application/json"), token).send(body.to_string()))
    }

    /// POSTs raw bytes (`application/wasm`).
    pub(crate) fn post_bytes(&self, path: &str, token: Option<&str>, body: &[u8]) -> Reply {
        self.upload(path, token, "application/wasm", body)
    }

    /// POSTs raw bytes of a type.
    pub(crate) fn upload(&self, path: &str, token: Option<&str>, content_type: &str, body: &[u8]) -> Reply {
        Self::finish(bearer(self.agent.post(self.url(path)).header("Content-Type", content_type), token).send(body))
    }

    pub(crate) fn post(&self, path: &str, token: Option<&str>, body: &Value) -> Reply {
        self.post_raw(path, token, &[], &body.to_string())
    }

    /// Signs up (if needed) and logs in; returns the access token.
    pub(crate) fn account(&self, email: &str, role: &str) -> String {
        let password = "a-good-password";
        let signup = self.post("/api/v1/auth/signup", None, &json!({"email": email, "password": password, "role": role}));
        assert!(signup.status == 201 || signup.status == 409, "{signup:?}");
        self.login(email, password)
    }

    pub(crate) fn login(&self, email: &str, password: &str) -> String {
        let reply = self.post("/api/v1/auth/login", None, &json!({"email": email, "password": password})).expect(200);
        reply.json()["access_token"].as_str().unwrap().to_string()
    }

    pub(crate) fn admin(&self) -> String {
        self.login(ADMIN_EMAIL, ADMIN_PASSWORD)
    }

    /// Deploys and asserts the 201.
    pub(crate) fn deploy(&self, token: &str, namespace: &str, template: &str, params: Value) -> Value {
        let body = json!({"namespace": namespace, "template": template, "params": params});
        self.post("/api/v1/performances", Some(token), &body).expect(201).json()
    }

    pub(crate) fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// SIGTERM, then waits for the exit.
    pub(crate) fn stop(mut self) -> ExitStatus {
        unsafe { libc::kill(self.pid(), libc::SIGTERM) };
        let status = self.child.wait().unwrap();
        std::mem::forget(self);
        status
    }

    /// SIGKILL: a crash.
    pub(crate) fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        std::mem::forget(self);
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls `check` for up to five seconds: what one process publishes reaches another within
/// milliseconds (`marquee-bench` measures it), not at once, and a test machine is busy.
pub(crate) fn soon(what: &str, check: impl Fn() -> bool) {
    within(Duration::from_secs(5), what, check)
}

/// Polls `check` for up to `limit`.
pub(crate) fn within(limit: Duration, what: &str, check: impl Fn() -> bool) {
    let deadline = std::time::Instant::now() + limit;
    while !check() {
        assert!(std::time::Instant::now() < deadline, "{what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The contract's example performance.
pub(crate) fn gala_params() -> Value {
    json!({
        "title": "Spring Gala", "venue": "Hall A",
        "sessions": [{"id": "s1", "starts_at": "2027-03-01T19:00:00Z"}],
        "sections": [{"name": "R", "price": 120000, "rows": 10, "seats_per_row": 20},
                     {"name": "S", "price": 80000, "capacity": 300}],
        "hold_ttl_seconds": 600,
        "per_buyer_limit": 4
    })
}

/// A one-session performance with these sections and a generous per-buyer limit.
pub(crate) fn house(sections: Value) -> Value {
    json!({
        "title": "House", "venue": "Hall",
        "sessions": [{"id": "s1", "starts_at": "2027-03-01T19:00:00Z"}],
        "sections": sections,
        "per_buyer_limit": 100
    })
}

/// A buyer (buyer@example.com) holds and pays for seat R-1-1 of session s1 in `ns`.
pub(crate) fn buy_one(server: &Server, ns: &str) {
    let buyer = server.account("buyer@example.com", "buyer");
    let hold = server.post(&format!("/p/{ns}/api/holds"), Some(&buyer), &json!({"session": "s1", "seats": ["R-1-1"]})).expect(201).json();
    let id = hold["hold_id"].as_str().unwrap();
    server.post(&format!("/p/{ns}/api/holds/{id}/confirm"), Some(&buyer), &json!({"payment": {"card": "4242424242424242"}})).expect(201);
}

/// Every order of `ns` in its seller's list, page by page (500 a page, the most one may be).
pub(crate) fn all_orders(server: &Server, token: &str, ns: &str) -> Vec<Value> {
    let mut all = Vec::new();
    loop {
        let page = server.get(&format!("/api/v1/performances/{ns}/orders?limit=500&offset={}", all.len()), Some(token)).expect(200);
        let total: usize = page.header("x-total-count").expect("a total").parse().unwrap();
        all.extend(page.json().as_array().unwrap().iter().cloned());
        if all.len() >= total {
            return all;
        }
    }
}
