//! The client subcommands of `marquee`: thin calls to a running platform's API, with the
//! API's own error messages shown as they are.

use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::Duration;

use std::collections::BTreeMap;

use anyhow::{Context, Result, bail};
use marquee_api::{Component, DeployRequest, Deployed, ErrorBody, LoginRequest, Performance, TemplateSummary, TokenPair};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

/// A platform to talk to.
pub struct Client {
    url: String,
    token: Option<String>,
    agent: ureq::Agent,
}

impl Client {
    /// A client of the control plane at `url`, sending `token` as the bearer where a call needs one.
    pub fn new(url: &str, token: Option<String>) -> Self {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(120)))
            .build()
            .into();
        Self { url: url.trim_end_matches('/').to_string(), token, agent }
    }

    fn token(&self) -> Result<&str> {
        self.token.as_deref().context("this command needs a token: --token or MARQUEE_TOKEN (see `marquee login`)")
    }

    /// Sends a request and returns the answer, or the API's error as an error.
    fn call<T: DeserializeOwned>(&self, method: &str, path: &str, body: Option<(&str, Vec<u8>)>, auth: bool) -> Result<T> {
        let url = format!("{}{path}", self.url);
        let mut request = http::Request::builder().method(method).uri(&url);
        if auth {
            request = request.header("authorization", format!("Bearer {}", self.token()?));
        }
        let response = match body {
            Some((content_type, bytes)) => {
                let request = request.header("content-type", content_type).body(bytes)?;
                self.agent.run(request)
            }
            None => self.agent.run(request.body(())?),
        };
        let mut response = response.with_context(|| format!("cannot reach {}", self.url))?;
        let status = response.status().as_u16();
        let text = response.body_mut().with_config().limit(64 << 20).read_to_string()?;
        if status >= 400 {
            let Ok(e) = serde_json::from_str::<ErrorBody>(&text) else { bail!("{status}: {text}") };
            let field = e.field.map(|f| format!(" ({f})")).unwrap_or_default();
            bail!("{status} {}: {}{field}", e.error, e.message);
        }
        serde_json::from_str(&text).with_context(|| format!("{url} answered what this client cannot read: {text}"))
    }

    fn get<T: DeserializeOwned>(&self, path: &str, auth: bool) -> Result<T> {
        self.call("GET", path, None, auth)
    }

    fn post<T: DeserializeOwned>(&self, path: &str, body: &impl Serialize, auth: bool) -> Result<T> {
        self.call("POST", path, Some(("application/json", serde_json::to_vec(body)?)), auth)
    }

    /// Logs in and returns the access token.
    pub fn login(&self, email: &str, password: &str) -> Result<String> {
        let request = LoginRequest { email: email.into(), password: password.into(), mode: Default::default() };
        let pair: TokenPair = self.post("/api/v1/auth/login", &request, false)?;
        Ok(pair.access_token)
    }

    /// The templates: name, description.
    pub fn templates(&self) -> Result<Vec<Vec<String>>> {
        let list: Vec<TemplateSummary> = self.get("/api/v1/templates", false)?;
        Ok(list.into_iter().map(|t| vec![t.name, t.description]).collect())
    }

    /// The caller's performances: name, template, title, address.
    pub fn performances(&self) -> Result<Vec<Vec<String>>> {
        let list: Vec<Performance> = self.get("/api/v1/performances", true)?;
        Ok(list.into_iter().map(|p| vec![p.namespace, p.template, text(&p.params["title"]), p.public_url.unwrap_or(p.url)]).collect())
    }

    /// The caller's components: name, version, digest.
    pub fn components(&self) -> Result<Vec<Vec<String>>> {
        let list: Vec<Component> = self.get("/api/v1/components", true)?;
        Ok(list.into_iter().map(|c| vec![c.name, c.version, c.digest]).collect())
    }

    /// Uploads a component file, showing a spinner while the platform checks and compiles it.
    pub fn push(&self, file: &Path, name: &str, version: &str) -> Result<Component> {
        let bytes = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
        let spinner = indicatif::ProgressBar::new_spinner();
        spinner.enable_steady_tick(Duration::from_millis(100));
        spinner.set_message(format!("uploading and compiling {} ({} KiB)", file.display(), bytes.len() / 1024));
        let path = format!("/api/v1/components?name={name}&version={version}");
        let result = self.call("POST", &path, Some(("application/wasm", bytes)), true);
        spinner.finish_and_clear();
        result
    }

    /// Writes a backup of the platform (admin) to `to`: into a file beside it first, checked
    /// whole, then renamed, so `to` is never a half-written backup.
    pub fn backup(&self, to: &Path) -> Result<u64> {
        let request = http::Request::builder()
            .method("GET")
            .uri(format!("{}/api/v1/admin/backup", self.url))
            .header("authorization", format!("Bearer {}", self.token()?))
            .body(())?;
        // A backup takes as long as the store is large.
        let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).timeout_global(None).build().into();
        let mut response = agent.run(request).with_context(|| format!("cannot reach {}", self.url))?;
        if response.status().as_u16() >= 400 {
            let status = response.status().as_u16();
            let text = response.body_mut().read_to_string()?;
            let Ok(e) = serde_json::from_str::<ErrorBody>(&text) else { bail!("{status}: {text}") };
            bail!("{status} {}: {}", e.error, e.message);
        }
        let partial = to.with_extension("partial");
        // Owner-only: a backup holds the token keys and the ticket signing key.
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&partial)
            .with_context(|| format!("cannot create {}", partial.display()))?;
        let written = std::io::copy(&mut response.body_mut().with_config().limit(u64::MAX).reader(), &mut file)
            .with_context(|| format!("the backup stopped coming; {} is incomplete", partial.display()))?;
        file.sync_all()?;
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        runtime.block_on(marquee_backup::verify(&partial))?;
        std::fs::rename(&partial, to).with_context(|| format!("cannot rename {} to {}", partial.display(), to.display()))?;
        Ok(written)
    }

    /// Deploys a performance from a template, with parameters from a file and `--set`s.
    pub fn deploy(&self, namespace: &str, template: &str, params: Value, components: BTreeMap<String, String>) -> Result<Deployed> {
        let request = DeployRequest { namespace: namespace.into(), template: template.into(), params, components };
        self.post("/api/v1/performances", &request, true)
    }
}

fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Prints rows as aligned columns.
pub fn print_table(header: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect();
        println!("{}", padded.join("  ").trim_end());
    };
    line(header.to_vec());
    for row in rows {
        line(row.iter().map(String::as_str).collect());
    }
}

/// Applies `path=value` to a JSON document. Paths are dotted with indices
/// (`sections[0].price`); a value that parses as JSON is taken as such (numbers, booleans,
/// arrays), anything else as a string.
pub fn set(document: &mut Value, assignment: &str) -> Result<()> {
    let (path, raw) = assignment.split_once('=').context("--set takes key=value")?;
    let value = serde_json::from_str(raw).unwrap_or_else(|_| Value::String(raw.to_string()));
    let mut node = document;
    let mut steps = Vec::new();
    for part in path.split('.') {
        let (key, indices) = part.split_once('[').map_or((part, ""), |(k, rest)| (k, rest));
        if key.is_empty() {
            bail!("--set {assignment}: empty key in {path:?}");
        }
        steps.push(Step::Key(key.to_string()));
        for index in indices.split('[').filter(|s| !s.is_empty()) {
            let n = index.trim_end_matches(']').parse().with_context(|| format!("--set {assignment}: bad index [{index}"))?;
            steps.push(Step::Index(n));
        }
    }
    let last = steps.pop().expect("a path has a step");
    for step in &steps {
        node = slot(node, step);
    }
    *slot(node, &last) = value;
    Ok(())
}

/// The place a step leads to, making the object or array (and the entry) it needs.
fn slot<'a>(node: &'a mut Value, step: &Step) -> &'a mut Value {
    match step {
        Step::Key(k) => {
            if !node.is_object() {
                *node = json!({});
            }
            node.as_object_mut().expect("made an object").entry(k.clone()).or_insert(Value::Null)
        }
        Step::Index(i) => {
            if !node.is_array() {
                *node = json!([]);
            }
            let list = node.as_array_mut().expect("made an array");
            if list.len() <= *i {
                list.resize(*i + 1, Value::Null);
            }
            &mut list[*i]
        }
    }
}

enum Step {
    Key(String),
    Index(usize),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sets_build_nested_documents() {
        let mut doc = json!({"title": "old"});
        for a in ["title=Spring Gala", "sessions[0].id=s1", "sessions[0].starts_at=2027-03-01T19:00:00Z", "sections[1].price=80000", "hold_ttl_seconds=600", "tags=[\"a\"]"] {
            set(&mut doc, a).unwrap();
        }
        assert_eq!(
            doc,
            json!({"title": "Spring Gala", "sessions": [{"id": "s1", "starts_at": "2027-03-01T19:00:00Z"}],
                   "sections": [null, {"price": 80000}], "hold_ttl_seconds": 600, "tags": ["a"]})
        );
        assert!(set(&mut doc, "no-equals-sign").is_err());
        assert!(set(&mut doc, "a[x]=1").is_err());
    }
}
