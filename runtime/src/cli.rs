//! The client subcommands of `marquee`: thin calls to a running platform's API, with the
//! API's own error messages shown as they are.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde_json::{Map, Value, json};

/// A platform to talk to.
pub struct Client {
    url: String,
    token: Option<String>,
    agent: ureq::Agent,
}

impl Client {
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

    /// Sends a request and returns the JSON answer, or the API's error as an error.
    fn call(&self, method: &str, path: &str, body: Option<(&str, Vec<u8>)>, auth: bool) -> Result<Value> {
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
        let value: Value = if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap_or(Value::String(text)) };
        if status >= 400 {
            let field = value["field"].as_str().map(|f| format!(" ({f})")).unwrap_or_default();
            bail!("{status} {}: {}{field}", value["error"].as_str().unwrap_or("error"), value["message"].as_str().unwrap_or(""));
        }
        Ok(value)
    }

    fn get(&self, path: &str, auth: bool) -> Result<Value> {
        self.call("GET", path, None, auth)
    }

    fn post(&self, path: &str, body: &Value, auth: bool) -> Result<Value> {
        self.call("POST", path, Some(("application/json", body.to_string().into_bytes())), auth)
    }

    /// Logs in and returns the access token.
    pub fn login(&self, email: &str, password: &str) -> Result<String> {
        let pair = self.post("/api/v1/auth/login", &json!({"email": email, "password": password}), false)?;
        Ok(pair["access_token"].as_str().context("no access_token in the answer")?.to_string())
    }

    pub fn templates(&self) -> Result<Vec<Vec<String>>> {
        let list = self.get("/api/v1/templates", false)?;
        Ok(rows(&list, |t| vec![text(&t["name"]), text(&t["description"])]))
    }

    pub fn performances(&self) -> Result<Vec<Vec<String>>> {
        let list = self.get("/api/v1/performances", true)?;
        Ok(rows(&list, |p| vec![text(&p["namespace"]), text(&p["template"]), text(&p["params"]["title"]), text(&p["url"])]))
    }

    pub fn components(&self) -> Result<Vec<Vec<String>>> {
        let list = self.get("/api/v1/components", true)?;
        Ok(rows(&list, |c| vec![text(&c["name"]), text(&c["version"]), text(&c["digest"])]))
    }

    /// Uploads a component file, showing a spinner while the platform checks and compiles it.
    pub fn push(&self, file: &Path, name: &str, version: &str) -> Result<Value> {
        let bytes = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
        let spinner = indicatif::ProgressBar::new_spinner();
        spinner.enable_steady_tick(Duration::from_millis(100));
        spinner.set_message(format!("uploading and compiling {} ({} KiB)", file.display(), bytes.len() / 1024));
        let path = format!("/api/v1/components?name={name}&version={version}");
        let result = self.call("POST", &path, Some(("application/wasm", bytes)), true);
        spinner.finish_and_clear();
        result
    }

    /// Deploys a performance from a template, with parameters from a file and `--set`s.
    pub fn deploy(&self, namespace: &str, template: &str, params: Value, components: Map<String, Value>) -> Result<Value> {
        let mut body = json!({"namespace": namespace, "template": template, "params": params});
        if !components.is_empty() {
            body["components"] = Value::Object(components);
        }
        self.post("/api/v1/performances", &body, true)
    }
}

fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn rows(list: &Value, row: impl Fn(&Value) -> Vec<String>) -> Vec<Vec<String>> {
    list.as_array().into_iter().flatten().map(row).collect()
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
