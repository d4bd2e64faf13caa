//! A `redis-server` of one's own in a temp dir, on a Unix socket (no port to race for), with the
//! settings a durable store needs and, as a platform's Redis must have, an ACL user with a
//! password and the `default` user off: what tests and benchmarks start, never a shared server.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// The ACL user every `LocalRedis` has.
pub(crate) const USER: &str = "marquee";

/// Who may use the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Only the user `USER`, with a password; the `default` user is off.
    Password,
    /// Anyone: the `default` user on without a password (what `marquee` refuses by default,
    /// but on a Unix socket or loopback), on the socket and on a TCP port of every address.
    Open,
    /// As `Password`, and also a TLS port on `localhost` with a certificate of a CA made here.
    Tls,
}

/// A `redis-server` this process started for a test or a benchmark, stopped when dropped.
pub struct LocalRedis {
    child: Child,
    setup: Setup,
}

/// How the server is started, each time the same.
struct Setup {
    dir: PathBuf,
    fsync: &'static str,
    access: Access,
    password: String,
    /// The plain TCP port (`Open`) or the TLS port (`Tls`).
    tcp_port: Option<u16>,
}

impl LocalRedis {
    /// Starts `redis-server` in a fresh temp dir named after `name`, AOF on with `appendfsync`
    /// set to `fsync` (`always` for a durable store), for the user `USER` with a password.
    pub fn start(name: &str, fsync: &'static str) -> Result<Self> {
        Self::start_with(name, fsync, Access::Password)
    }

    /// As [`LocalRedis::start`], reachable as `access` says.
    pub fn start_with(name: &str, fsync: &'static str, access: Access) -> Result<Self> {
        let dir = std::env::temp_dir().join(format!("marquee-redis-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).with_context(|| format!("failed to create {}", dir.display()))?;
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_nanos();
        let password = format!("{:x}{:x}", nanos, std::process::id());
        if access == Access::Tls {
            make_certificates(&dir)?;
        }
        let tcp_port = match access {
            Access::Password => None,
            Access::Open | Access::Tls => Some(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port()),
        };
        let setup = Setup { dir, fsync, access, password, tcp_port };
        Ok(Self { child: setup.spawn()?, setup })
    }

    /// The Unix socket's URL, with the user and password.
    pub fn url(&self) -> String {
        let socket = self.setup.dir.join("redis.sock");
        match self.setup.access {
            Access::Open => format!("unix://{}", socket.display()),
            _ => format!("unix://{}?user={USER}&pass={}", socket.display(), self.setup.password),
        }
    }

    /// With [`Access::Tls`]: `rediss://` to `localhost`, with the user and password.
    pub fn tls_url(&self) -> Option<String> {
        let port = self.setup.tcp_port.filter(|_| self.setup.access == Access::Tls)?;
        Some(format!("rediss://{USER}:{}@localhost:{port}", self.setup.password))
    }

    /// With [`Access::Open`]: the TCP port by this machine's address on its network (the one
    /// its default route leaves from), as a client elsewhere would name it; `None` on a machine
    /// with no such address.
    pub fn network_url(&self) -> Option<String> {
        let port = self.setup.tcp_port.filter(|_| self.setup.access == Access::Open)?;
        // Connecting a UDP socket sends nothing; it only picks the outgoing address.
        let probe = std::net::UdpSocket::bind("0.0.0.0:0").ok()?;
        probe.connect("192.0.2.1:9").or_else(|_| probe.connect("8.8.8.8:9")).ok()?;
        let address = probe.local_addr().ok()?.ip();
        (!address.is_loopback() && !address.is_unspecified()).then(|| format!("redis://{address}:{port}"))
    }

    /// The CA that signed the TLS port's certificate (for `--store-ca`).
    pub fn ca_file(&self) -> PathBuf {
        self.setup.dir.join("ca.crt")
    }

    /// Stops the server where it is (SIGSTOP) until [`resume`](Self::resume): a Redis that
    /// answers nothing, so each call times out, and what was sent meanwhile is applied later.
    pub fn pause(&self) -> Result<()> {
        signal(self.child.id(), "STOP")
    }

    /// Lets a paused server go on.
    pub fn resume(&self) -> Result<()> {
        signal(self.child.id(), "CONT")
    }

    /// Refuses writes to the directory of performances (an ACL on its key), every other key
    /// as before, until called again with `false`: a store that takes some steps and not others.
    pub fn freeze_directory(&self, frozen: bool) -> Result<()> {
        // Every key but `{dir}:performances` stays writable. A key a script names needs read
        // and write from one pattern, hence `~` (both) rather than `%W~`.
        let keys: &[&str] = match frozen {
            true => &["%R~*", "~{p:*", "~{id}*", "~{cat}*", "~rate:*", "~{dir}:counters:*", "~{dir}:secret:*", "~{dir}:component:*", "~{dir}:serving:*"],
            false => &["~*"],
        };
        self.set_user(self.setup.user(), &[&["resetkeys"], keys].concat())
    }

    /// `ACL SETUSER user rules…`, as the user the URL names.
    pub fn set_user(&self, user: &str, rules: &[&str]) -> Result<()> {
        self.cli(&[&["ACL", "SETUSER", user], rules].concat()).map(drop)
    }

    /// Runs a command with `redis-cli` as the user the URL names; what it printed.
    pub fn cli(&self, command: &[&str]) -> Result<String> {
        let output = Command::new("redis-cli")
            .arg("-s")
            .arg(self.setup.dir.join("redis.sock"))
            .args(["--user", self.setup.user()])
            .env("REDISCLI_AUTH", &self.setup.password)
            .args(command)
            .output()
            .context("failed to run redis-cli (apt-get install redis-tools)")?;
        anyhow::ensure!(output.status.success(), "redis-cli {} failed", command.join(" "));
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }

    /// kill -9, then a new server on the same append-only file.
    pub fn crash_and_restart(&mut self) -> Result<()> {
        self.child.kill()?;
        self.child.wait()?;
        self.child = self.setup.spawn()?;
        Ok(())
    }
}

impl Setup {
    /// The user the URL names.
    fn user(&self) -> &'static str {
        if self.access == Access::Open { "default" } else { USER }
    }

    fn spawn(&self) -> Result<Child> {
        let dir = &self.dir;
        let socket = dir.join("redis.sock");
        let _ = std::fs::remove_file(&socket);
        let mut command = Command::new("redis-server");
        let plain_port = self.tcp_port.filter(|_| self.access == Access::Open).unwrap_or(0);
        command
            .args(["--port", &plain_port.to_string(), "--unixsocket"])
            .arg(&socket)
            .arg("--dir")
            .arg(dir)
            .args(["--appendonly", "yes", "--appendfsync", self.fsync, "--save", ""]);
        if self.access == Access::Open {
            // As an exposed server is: it answers whoever reaches the port.
            command.args(["--protected-mode", "no"]);
        } else {
            // The default user is off but keeps every command: Redis 7.0 replays the AOF's
            // transactions under its rules, and without them drops every scripted write.
            command.args(["--user", "default", "off", "~*", "&*", "+@all", "--user", USER, "on", &format!(">{}", self.password), "~*", "&*", "+@all"]);
        }
        if let Some(port) = self.tcp_port.filter(|_| self.access == Access::Tls) {
            command.args(["--tls-port", &port.to_string(), "--tls-auth-clients", "no"]);
            for (flag, file) in [("--tls-cert-file", "server.crt"), ("--tls-key-file", "server.key"), ("--tls-ca-cert-file", "ca.crt")] {
                command.arg(flag).arg(dir.join(file));
            }
        }
        let mut child = command.stdout(Stdio::null()).spawn().context("failed to start redis-server (apt-get install redis-server)")?;
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
}

/// A CA and a certificate for `localhost` signed by it, made with `openssl` in `dir`.
fn make_certificates(dir: &std::path::Path) -> Result<()> {
    let openssl = |args: &[&str]| -> Result<()> {
        let output = Command::new("openssl").args(args).current_dir(dir).output().context("failed to run openssl")?;
        anyhow::ensure!(output.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&output.stderr));
        Ok(())
    };
    openssl(&["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=marquee test CA", "-keyout", "ca.key", "-out", "ca.crt"])?;
    openssl(&["req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost", "-keyout", "server.key", "-out", "server.csr"])?;
    std::fs::write(dir.join("san.ext"), "subjectAltName=DNS:localhost\n")?;
    openssl(&["x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-days", "2", "-extfile", "san.ext", "-out", "server.crt"])
}

fn signal(pid: u32, name: &str) -> Result<()> {
    let status = Command::new("kill").arg(format!("-{name}")).arg(pid.to_string()).status().context("failed to run kill")?;
    anyhow::ensure!(status.success(), "kill -{name} {pid} failed");
    Ok(())
}

impl Drop for LocalRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.setup.dir);
    }
}
