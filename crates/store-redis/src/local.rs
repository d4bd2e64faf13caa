//! A `redis-server` of one's own in a temp dir, on a Unix socket (no port to race for), with the
//! settings a durable store needs: what tests and benchmarks start, never a shared server.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

pub struct LocalRedis {
    child: Child,
    dir: PathBuf,
    fsync: &'static str,
}

impl LocalRedis {
    /// Starts `redis-server` in a fresh temp dir named after `name`, AOF on with `appendfsync`
    /// set to `fsync` (`always` for a durable store).
    pub fn start(name: &str, fsync: &'static str) -> Result<Self> {
        let dir = std::env::temp_dir().join(format!("marquee-redis-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).with_context(|| format!("failed to create {}", dir.display()))?;
        let child = spawn(&dir, fsync)?;
        Ok(Self { child, dir, fsync })
    }

    pub fn url(&self) -> String {
        format!("unix://{}", self.dir.join("redis.sock").display())
    }

    /// Stops the server where it is (SIGSTOP) until [`resume`](Self::resume): a Redis that
    /// answers nothing, so each call times out, and what was sent meanwhile is applied later.
    pub fn pause(&self) -> Result<()> {
        signal(self.child.id(), "STOP")
    }

    pub fn resume(&self) -> Result<()> {
        signal(self.child.id(), "CONT")
    }

    /// Refuses writes to the directory of performances (an ACL on its key), every other key
    /// as before, until called again with `false`: a store that takes some steps and not others.
    pub fn freeze_directory(&self, frozen: bool) -> Result<()> {
        // Every key but `{dir}:performances` stays writable. A key a script names needs read
        // and write from one pattern, hence `~` (both) rather than `%W~`.
        let keys: &[&str] = match frozen {
            true => &["%R~*", "~{p:*", "~{id}*", "~rate:*", "~{dir}:counters:*", "~{dir}:secret:*", "~{dir}:component:*", "~{dir}:serving:*", "~{dir}:control-lease"],
            false => &["~*"],
        };
        let status = Command::new("redis-cli")
            .arg("-s")
            .arg(self.dir.join("redis.sock"))
            .args(["ACL", "SETUSER", "default", "resetkeys"])
            .args(keys)
            .stdout(Stdio::null())
            .status()
            .context("failed to run redis-cli (apt-get install redis-tools)")?;
        anyhow::ensure!(status.success(), "redis-cli ACL SETUSER failed");
        Ok(())
    }

    /// kill -9, then a new server on the same append-only file.
    pub fn crash_and_restart(&mut self) -> Result<()> {
        self.child.kill()?;
        self.child.wait()?;
        self.child = spawn(&self.dir, self.fsync)?;
        Ok(())
    }
}

fn signal(pid: u32, name: &str) -> Result<()> {
    let status = Command::new("kill").arg(format!("-{name}")).arg(pid.to_string()).status().context("failed to run kill")?;
    anyhow::ensure!(status.success(), "kill -{name} {pid} failed");
    Ok(())
}

fn spawn(dir: &PathBuf, fsync: &str) -> Result<Child> {
    let socket = dir.join("redis.sock");
    let _ = std::fs::remove_file(&socket);
    let mut child = Command::new("redis-server")
        .args(["--port", "0", "--unixsocket"])
        .arg(&socket)
        .arg("--dir")
        .arg(dir)
        .args(["--appendonly", "yes", "--appendfsync", fsync, "--save", ""])
        .stdout(Stdio::null())
        .spawn()
        .context("failed to start redis-server (apt-get install redis-server)")?;
    let started = Instant::now();
    while !socket.exists() {
        if started.elapsed() > Duration::from_secs(10) || child.try_wait()?.is_some() {
            let _ = child.kill();
            bail!("redis-server did not start in {}", dir.display());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    Ok(child)
}

impl Drop for LocalRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
