//! A minimal HTTP/1.1 client over one keep-alive connection, and the server under test.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, Result};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use marquee_api::{DeployRequest, LoginRequest, SignupRequest, TokenPair};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio::io::AsyncBufReadExt;
use tokio::net::TcpStream;

pub(crate) struct Conn {
    sender: http1::SendRequest<Full<Bytes>>,
    host: String,
}

impl Conn {
    pub(crate) async fn connect(addr: &str) -> Result<Self> {
        let stream = TcpStream::connect(addr).await.with_context(|| format!("connect {addr}"))?;
        stream.set_nodelay(true)?;
        let (sender, conn) = http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(conn);
        Ok(Self { sender, host: addr.to_string() })
    }

    pub(crate) async fn send(&mut self, method: &str, path: &str, token: Option<&str>, body: Option<&impl Serialize>) -> Result<(u16, Bytes)> {
        let mut req = hyper::Request::builder().method(method).uri(path).header("host", &self.host);
        if let Some(token) = token {
            req = req.header("authorization", format!("Bearer {token}"));
        }
        let body = match body {
            Some(v) => {
                req = req.header("content-type", "application/json");
                Full::new(Bytes::from(serde_json::to_vec(v)?))
            }
            None => Full::new(Bytes::new()),
        };
        self.sender.ready().await?;
        let response = self.sender.send_request(req.body(body)?).await?;
        let status = response.status().as_u16();
        let bytes = response.into_body().collect().await?.to_bytes();
        Ok((status, bytes))
    }

    pub(crate) async fn get(&mut self, path: &str) -> Result<(u16, Bytes)> {
        self.send("GET", path, None, None::<&()>).await
    }

    /// POSTs JSON and insists on `expect`, returning the answer.
    pub(crate) async fn post_json<T: DeserializeOwned>(&mut self, path: &str, token: Option<&str>, body: &impl Serialize, expect: u16) -> Result<T> {
        let (status, bytes) = self.send("POST", path, token, Some(body)).await?;
        anyhow::ensure!(status == expect, "POST {path}: {status} {}", String::from_utf8_lossy(&bytes));
        Ok(serde_json::from_slice(&bytes)?)
    }

    /// Deploys a `seated` performance.
    pub(crate) async fn deploy(&mut self, token: &str, namespace: &str, params: Value) -> Result<()> {
        let request = DeployRequest { namespace: namespace.into(), template: "seated".into(), params, components: Default::default() };
        self.post_json::<Value>("/api/v1/performances", Some(token), &request, 201).await?;
        Ok(())
    }

    /// Signs up an account and returns its access token.
    pub(crate) async fn account(&mut self, email: &str, role: &str) -> Result<String> {
        let password = "bench-password".to_string();
        let signup = SignupRequest { email: email.into(), password: password.clone(), role: role.into() };
        self.post_json::<Value>("/api/v1/auth/signup", None, &signup, 201).await?;
        let login = LoginRequest { email: email.into(), password, mode: Default::default() };
        Ok(self.post_json::<TokenPair>("/api/v1/auth/login", None, &login, 200).await?.access_token)
    }
}

/// `marquee up` on a free port with a fresh data dir, killed and cleaned on drop.
pub(crate) struct Server {
    child: tokio::process::Child,
    pub addr: String,
    dir: PathBuf,
}

impl Server {
    /// Starts `marquee <part>` (`up`, `control`, `runtime`) on a data dir of its own.
    pub(crate) async fn start(marquee: &Path, part: &str, store: Option<&str>) -> Result<Self> {
        static STARTED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = STARTED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("marquee-bench-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        Self::start_in(marquee, part, store, dir).await
    }

    /// Kills the process and starts `marquee up` again on the same data dir.
    pub(crate) async fn restart(mut self, marquee: &Path) -> Result<Self> {
        self.child.kill().await?;
        let dir = std::mem::take(&mut self.dir);
        Self::start_in(marquee, "up", None, dir).await
    }

    async fn start_in(marquee: &Path, part: &str, store: Option<&str>, dir: PathBuf) -> Result<Self> {
        let mut child = tokio::process::Command::new(marquee)
            .args([part, "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(&dir)
            .env("MARQUEE_ADMIN_PASSWORD", "bench-admin-password")
            .env("RUST_LOG", "warn")
            // One load generator on loopback is not a bot farm.
            .env("MARQUEE_NO_RATE_LIMITS", "true")
            .args(store.map(|url| ["--store", url]).into_iter().flatten())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()?;
        let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
        let line = tokio::time::timeout(Duration::from_secs(600), lines.next_line()).await??.context("no ready line")?;
        let addr = line.strip_prefix("marquee listening on http://").context("unexpected ready line")?.to_string();
        Ok(Self { child, addr, dir })
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.id().unwrap_or(0)
    }

    /// Resident set size of the server process, in KiB.
    pub(crate) fn rss_kib(&self) -> Result<u64> {
        rss_kib(self.pid())
    }

    /// CPU time the server process has used so far (user and system).
    pub(crate) fn cpu_time(&self) -> Result<Duration> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid()))?;
        // The fields after the command name, which may itself hold spaces: utime and stime
        // are the 12th and 13th of them, in clock ticks.
        let fields: Vec<&str> = stat.rsplit_once(')').context("/proc stat")?.1.split_whitespace().collect();
        let ticks: u64 = fields[11].parse::<u64>()? + fields[12].parse::<u64>()?;
        Ok(Duration::from_secs_f64(ticks as f64 / clock_ticks_per_second()? as f64))
    }

    /// Logs the platform's admin in and returns its access token.
    pub(crate) async fn admin(&self) -> Result<String> {
        let login = LoginRequest { email: "admin@marquee.local".into(), password: "bench-admin-password".into(), mode: Default::default() };
        Ok(Conn::connect(&self.addr).await?.post_json::<TokenPair>("/api/v1/auth/login", None, &login, 200).await?.access_token)
    }

    /// Signs up a seller and returns its access token.
    pub(crate) async fn seller(&self) -> Result<String> {
        Conn::connect(&self.addr).await?.account("bench@example.com", "seller").await
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
        if !self.dir.as_os_str().is_empty() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// Resident set size of process `pid`, in KiB.
pub(crate) fn rss_kib(pid: u32) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).context("no VmRSS")?;
    Ok(line.split_whitespace().nth(1).context("VmRSS value")?.parse()?)
}

fn clock_ticks_per_second() -> Result<u64> {
    let out = std::process::Command::new("getconf").arg("CLK_TCK").output().context("getconf CLK_TCK")?;
    Ok(String::from_utf8(out.stdout)?.trim().parse()?)
}

/// The value below which `p` of the sorted samples fall.
pub(crate) fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let index = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[index]
}

pub(crate) fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}
