//! Backups of a platform, and their restore into an empty store of either backend: one
//! mechanism over the store traits, so a backup of the embedded store restores into Redis and
//! back.
//!
//! The file is JSON Lines, format `marquee-backup` version 1: a header, one record a line
//! (`{"kind": …}`) in the order a restore needs them, and a last line `{"kind": "end",
//! "records": N, "sha256": …}` with the count of the lines before it and the sha256 of their
//! bytes. Bytes (components, posters, `kv` values) are base64. A file that lacks the last line
//! (cut off) or whose bytes do not hash to it (altered) is refused before anything is written.
//!
//! A backup is taken while the platform serves. Every order acknowledged before it began is in
//! it (orders are never deleted), and no seat is both free and sold in it: each performance's
//! orders are read twice, and the second read, which starts after the first ended, says how
//! each order of the first stands. An order that freed a seat another order took was freed
//! before the first read ended, so the second read sees it freed. Holds (unpaid, minutes long)
//! and rate-limit buckets are not kept.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, anyhow, bail};
use base64::Engine;
use marquee_store::{
    AccountRecord, Backend, BoxFuture, ComponentRow, Entry, Message, NamespaceToken, OrderRow, PerformanceRow, RefreshToken, SharedStore,
};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncBufReadExt, AsyncWrite, AsyncWriteExt};

/// What the file says it is.
pub const FORMAT: &str = "marquee-backup";
/// The format's version; a later one may add kinds of records, never change one.
pub const VERSION: u32 = 1;
/// Secrets every process of a platform shares, by name.
const SECRETS: &[&str] = &["ticket-key"];
/// Items read a page at a time.
const PAGE: usize = 500;

/// One line of a backup.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum Record {
    Header { format: String, version: u32, created_at: i64, backend: String },
    Secret { name: String, value: String },
    /// The token keys, newest first.
    TokenKeys { keys: Vec<String> },
    Account(AccountRecord),
    RefreshToken(RefreshToken),
    Template { body: String },
    /// An upload: its record, and its bytes the first time its digest comes.
    Component { row: ComponentRow, bytes: Option<String> },
    Poster { digest: String, bytes: String },
    Performance { row: PerformanceRow, archived_at: Option<i64> },
    NamespaceToken { token: NamespaceToken, hash: String, created_at: i64 },
    Kv { scope: String, key: String, value: String },
    Message(Message),
    Order { deployment: String, row: OrderRow },
    Entry { deployment: String, order: String, ticket: String, entry: Entry },
    End { records: u64, sha256: String },
}

/// What a backup holds, or what a restore put back.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    /// Accounts.
    pub accounts: u64,
    /// Performances, live and archived.
    pub performances: u64,
    /// Of those, archived.
    pub archived: u64,
    /// Uploaded components.
    pub components: u64,
    /// Orders.
    pub orders: u64,
    /// Entries at the door.
    pub entries: u64,
    /// Lines of the file, its last one left out.
    pub records: u64,
    /// Bytes of the file.
    pub bytes: u64,
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} accounts, {} performances ({} archived), {} components, {} orders, {} entries at the door ({} records, {} bytes)",
            self.accounts, self.performances, self.archived, self.components, self.orders, self.entries, self.records, self.bytes
        )
    }
}

impl Summary {
    fn count(&mut self, record: &Record) {
        match record {
            Record::Account(_) => self.accounts += 1,
            Record::Performance { archived_at, .. } => {
                self.performances += 1;
                self.archived += u64::from(archived_at.is_some());
            }
            Record::Component { .. } => self.components += 1,
            Record::Order { .. } => self.orders += 1,
            Record::Entry { .. } => self.entries += 1,
            _ => {}
        }
    }
}

/// Where the bytes of uploaded components are kept.
pub trait ComponentBytes: Send + Sync {
    /// A component's bytes by digest, if kept.
    fn get<'a>(&'a self, digest: &'a str) -> BoxFuture<'a, Option<Vec<u8>>>;
    /// Keeps a component's bytes.
    fn put<'a>(&'a self, digest: &'a str, bytes: &'a [u8]) -> BoxFuture<'a, ()>;
}

/// The pool of a data dir: `<digest>.wasm` files, compiled when a process first loads them.
struct PoolDir(PathBuf);

impl ComponentBytes for PoolDir {
    fn get<'a>(&'a self, digest: &'a str) -> BoxFuture<'a, Option<Vec<u8>>> {
        let path = self.0.join(format!("{digest}.wasm"));
        Box::pin(async move {
            match tokio::fs::read(&path).await {
                Ok(bytes) => Ok(Some(bytes)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(anyhow::Error::from(e).context(format!("cannot read {}", path.display()))),
            }
        })
    }

    fn put<'a>(&'a self, digest: &'a str, bytes: &'a [u8]) -> BoxFuture<'a, ()> {
        let (dir, bytes) = (self.0.clone(), bytes.to_vec());
        let name = format!("{digest}.wasm");
        Box::pin(async move {
            tokio::task::spawn_blocking(move || {
                std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
                marquee_store::files::write_atomically(&dir.join(name), &bytes)
            })
            .await?
        })
    }
}

/// A shared store's directory, which every process compiles from.
struct Directory(Arc<dyn SharedStore>);

impl ComponentBytes for Directory {
    fn get<'a>(&'a self, digest: &'a str) -> BoxFuture<'a, Option<Vec<u8>>> {
        self.0.component(digest)
    }

    fn put<'a>(&'a self, digest: &'a str, bytes: &'a [u8]) -> BoxFuture<'a, ()> {
        self.0.put_component(digest, bytes)
    }
}

/// Where a backend's processes keep component bytes: a shared store's directory, or the pool
/// of the data dir `data_dir` of the one process of an embedded store.
pub fn component_bytes(backend: &Backend, data_dir: &Path) -> Box<dyn ComponentBytes> {
    match &backend.shared {
        Some(shared) => Box::new(Directory(shared.clone())),
        None => Box::new(PoolDir(data_dir.join("components"))),
    }
}

fn base64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn unbase64(text: &str, what: &str) -> Result<Vec<u8>> {
    base64::engine::general_purpose::STANDARD.decode(text).with_context(|| format!("{what} is not base64"))
}

/// Writes records, hashing each line.
struct Writer<W> {
    out: W,
    hash: Sha256,
    summary: Summary,
}

impl<W: AsyncWrite + Unpin> Writer<W> {
    async fn write(&mut self, record: &Record) -> Result<()> {
        let mut line = serde_json::to_vec(record)?;
        line.push(b'\n');
        self.hash.update(&line);
        self.out.write_all(&line).await.context("cannot write the backup")?;
        self.summary.count(record);
        self.summary.records += 1;
        self.summary.bytes += line.len() as u64;
        Ok(())
    }

    async fn finish(mut self) -> Result<Summary> {
        let sha256 = hex::encode(self.hash.finalize_reset());
        let mut line = serde_json::to_vec(&Record::End { records: self.summary.records, sha256 })?;
        line.push(b'\n');
        self.out.write_all(&line).await?;
        self.out.flush().await?;
        self.summary.bytes += line.len() as u64;
        Ok(self.summary)
    }
}

/// Writes every item of a paged listing as a record: `$page` read with each `$cursor` in turn.
macro_rules! write_pages {
    ($w:expr, |$cursor:ident| $page:expr, $record:expr) => {{
        let mut $cursor: Option<String> = None;
        loop {
            let page = $page.await?;
            for item in page.items {
                $w.write(&$record(item)).await?;
            }
            match page.next {
                Some(next) => $cursor = Some(next),
                None => break,
            }
        }
    }};
}

/// Writes a backup of everything `backend` keeps (component bytes from `components`) to
/// `out`, while the platform goes on serving.
pub async fn back_up(backend: &Backend, components: &dyn ComponentBytes, out: impl AsyncWrite + Unpin) -> Result<Summary> {
    let mut w = Writer { out, hash: Sha256::new(), summary: Summary::default() };
    let now = marquee_store::clock::now_secs();
    w.write(&Record::Header { format: FORMAT.into(), version: VERSION, created_at: now, backend: backend.name.into() }).await?;
    let snapshot = &backend.snapshot;
    // Read before anything else, so every performance deployed before the backup began is in it.
    let (live, archived) = (backend.catalog.performances().await?, snapshot.archived().await?);

    for name in SECRETS {
        // The platform stored each when it first started; the candidate is never kept.
        let value = backend.secrets.secret(name, &hex::encode(rand::random::<[u8; 32]>())).await?;
        w.write(&Record::Secret { name: name.to_string(), value }).await?;
    }
    w.write(&Record::TokenKeys { keys: backend.identity.token_keys(None).await? }).await?;
    write_pages!(w, |cursor| snapshot.accounts(cursor.as_deref(), PAGE), Record::Account);
    write_pages!(w, |cursor| snapshot.refresh_tokens(cursor.as_deref(), PAGE, now), Record::RefreshToken);
    for body in backend.catalog.templates().await? {
        w.write(&Record::Template { body }).await?;
    }
    let mut written = HashSet::new();
    for row in backend.catalog.components(None).await? {
        let bytes = match written.insert(row.digest.clone()) {
            true => Some(base64(&components.get(&row.digest).await?.with_context(|| format!("the bytes of component {} are missing", row.digest))?)),
            false => None,
        };
        w.write(&Record::Component { row, bytes }).await?;
    }
    for digest in snapshot.posters().await? {
        if let Some(bytes) = backend.catalog.poster(&digest).await? {
            w.write(&Record::Poster { digest, bytes: base64(&bytes) }).await?;
        }
    }
    // Archived first: a live performance may have the name of an archived one.
    let performances: Vec<(PerformanceRow, Option<i64>)> = archived.into_iter().map(|(row, at)| (row, Some(at))).chain(live.into_iter().map(|row| (row, None))).collect();
    for (row, archived_at) in &performances {
        w.write(&Record::Performance { row: row.clone(), archived_at: *archived_at }).await?;
    }
    for (token, hash, created_at) in snapshot.namespace_tokens().await? {
        w.write(&Record::NamespaceToken { token, hash, created_at }).await?;
    }
    write_pages!(w, |cursor| snapshot.kv(cursor.as_deref(), PAGE), |(scope, key, value): (String, String, Vec<u8>)| Record::Kv {
        scope,
        key,
        value: base64(&value)
    });
    write_pages!(w, |cursor| snapshot.messages(cursor.as_deref(), PAGE), Record::Message);
    for (row, _) in &performances {
        orders(&mut w, backend, &row.deployment).await?;
    }
    w.finish().await
}

/// A deployment's orders, read twice (see the crate's doc), and its entries at the door.
async fn orders<W: AsyncWrite + Unpin>(w: &mut Writer<W>, backend: &Backend, deployment: &str) -> Result<()> {
    let snapshot = &backend.snapshot;
    let mut first = HashSet::new();
    let mut after: Option<(u64, String)> = None;
    loop {
        let page = snapshot.orders(deployment, after.as_ref().map(|(at, id)| (*at, id.as_str())), PAGE).await?;
        let Some(last) = page.last() else { break };
        after = Some((last.created_at, last.id.clone()));
        first.extend(page.into_iter().map(|o| o.id));
    }
    let mut after: Option<(u64, String)> = None;
    loop {
        let page = snapshot.orders(deployment, after.as_ref().map(|(at, id)| (*at, id.as_str())), PAGE).await?;
        let Some(last) = page.last() else { break };
        after = Some((last.created_at, last.id.clone()));
        for row in page.into_iter().filter(|o| first.contains(&o.id)) {
            w.write(&Record::Order { deployment: deployment.to_owned(), row }).await?;
        }
    }
    for (order, ticket, entry) in snapshot.entries(deployment).await? {
        if first.contains(&order) {
            w.write(&Record::Entry { deployment: deployment.to_owned(), order, ticket, entry }).await?;
        }
    }
    Ok(())
}

/// Reads a backup's lines one at a time.
struct Lines {
    reader: tokio::io::BufReader<tokio::fs::File>,
    line: Vec<u8>,
}

impl Lines {
    async fn open(path: &Path) -> Result<Self> {
        let file = tokio::fs::File::open(path).await.with_context(|| format!("cannot open {}", path.display()))?;
        Ok(Self { reader: tokio::io::BufReader::new(file), line: Vec::new() })
    }

    /// The next line, with its newline; `None` at the end.
    async fn next(&mut self) -> Result<Option<&[u8]>> {
        self.line.clear();
        let n = self.reader.read_until(b'\n', &mut self.line).await?;
        Ok((n > 0).then_some(&self.line[..]))
    }
}

/// Checks that `path` is a whole backup of this format: its last line counts and hashes the
/// lines before it. The header it starts with.
pub async fn verify(path: &Path) -> Result<(i64, String)> {
    let refused = |why: &str| anyhow!("{} is not a whole marquee backup: {why}; nothing was restored", path.display());
    let mut lines = Lines::open(path).await?;
    let mut hash = Sha256::new();
    let mut count = 0u64;
    let mut header = None;
    while let Some(line) = lines.next().await? {
        if let Ok(Record::End { records, sha256 }) = serde_json::from_slice(line) {
            if lines.next().await?.is_some() {
                return Err(refused("lines follow its end"));
            }
            if records != count || sha256 != hex::encode(hash.finalize()) {
                return Err(refused("its bytes do not match its checksum (altered or damaged)"));
            }
            return header.ok_or_else(|| refused("it has no header"));
        }
        if count == 0 {
            match serde_json::from_slice(line) {
                Ok(Record::Header { format, version, created_at, backend }) if format == FORMAT => {
                    if version > VERSION {
                        bail!("{} is a backup of format version {version}; this marquee reads version {VERSION} and older", path.display());
                    }
                    header = Some((created_at, backend));
                }
                _ => return Err(refused("it does not start with a marquee-backup header")),
            }
        }
        hash.update(line);
        count += 1;
    }
    Err(refused("it ends before its last line (cut off)"))
}

/// Restores the backup at `path` into `backend`, which must hold no platform yet; component
/// bytes go to `components`. Checks the whole file first, so a cut-off or altered one writes
/// nothing.
pub async fn restore(path: &Path, backend: &Backend, components: &dyn ComponentBytes) -> Result<Summary> {
    verify(path).await?;
    let (accounts, deployments) = (backend.identity.account_count().await?, backend.catalog.deployments().await?.len());
    let uploads = backend.catalog.components(None).await?.len();
    if accounts + deployments as u64 + uploads as u64 > 0 {
        bail!(
            "the store already holds a platform ({accounts} accounts, {deployments} performances, {uploads} components): restore into an \
             empty data dir or Redis; nothing was restored"
        );
    }
    let mut lines = Lines::open(path).await?;
    let mut summary = Summary::default();
    let mut replays = HashMap::new();
    while let Some(line) = lines.next().await? {
        summary.bytes += line.len() as u64;
        let record: Record = serde_json::from_slice(line).with_context(|| format!("line {} of the backup", summary.records + 1))?;
        if matches!(record, Record::End { .. }) {
            break;
        }
        put(backend, components, &mut replays, &record).await.with_context(|| format!("restoring line {} of the backup", summary.records + 1))?;
        summary.count(&record);
        summary.records += 1;
    }
    Ok(summary)
}

/// What each performance's orders claim, by deployment.
type Replays = HashMap<String, Box<dyn Fn(&OrderRow) -> Result<Option<marquee_store::Restored>> + Send + Sync>>;

async fn put(backend: &Backend, components: &dyn ComponentBytes, replays: &mut Replays, record: &Record) -> Result<()> {
    let (catalog, snapshot) = (&backend.catalog, &backend.snapshot);
    match record {
        Record::Header { .. } | Record::End { .. } => {}
        Record::Secret { name, value } => {
            let kept = backend.secrets.secret(name, value).await?;
            anyhow::ensure!(kept.trim() == value.trim(), "the store has another secret {name}");
        }
        Record::TokenKeys { keys } => {
            // The oldest makes the empty store's list; each newer one goes before it.
            if let Some((oldest, newer)) = keys.split_last() {
                backend.identity.token_keys(Some(oldest)).await?;
                for key in newer.iter().rev() {
                    backend.identity.add_token_key(key, keys.len()).await?;
                }
            }
        }
        Record::Account(a) => anyhow::ensure!(backend.identity.insert_account(&a.account, a.created_at).await?, "the email of account {} is taken", a.account.id),
        Record::RefreshToken(t) => snapshot.put_refresh_token(t).await?,
        Record::Template { body } => {
            let name = serde_json::from_str::<serde_json::Value>(body)?["name"].as_str().context("a template without a name")?.to_owned();
            catalog.put_template(&name, body, marquee_store::clock::now_secs()).await?;
        }
        Record::Component { row, bytes } => {
            if let Some(bytes) = bytes {
                let bytes = unbase64(bytes, "a component")?;
                anyhow::ensure!(hex::encode(Sha256::digest(&bytes)) == row.digest, "component {} does not hash to its digest", row.digest);
                components.put(&row.digest, &bytes).await?;
            }
            catalog.insert_component(row).await?;
        }
        Record::Poster { digest, bytes } => {
            let bytes = unbase64(bytes, "a poster")?;
            anyhow::ensure!(&hex::encode(Sha256::digest(&bytes)) == digest, "poster {digest} does not hash to its digest");
            catalog.put_poster(digest, &bytes, marquee_store::clock::now_secs()).await?;
        }
        Record::Performance { row, archived_at } => {
            anyhow::ensure!(catalog.insert_performance(row).await?, "performance {} is in the backup twice", row.namespace);
            if let Some(at) = archived_at {
                catalog.remove_performance(&row.namespace, &row.deployment, *at, true).await?;
            }
            let params = serde_json::from_str(&row.params).with_context(|| format!("the params of {}", row.namespace))?;
            replays.insert(row.deployment.clone(), Box::new(marquee_ticketing::replay(&params)));
        }
        Record::NamespaceToken { token, hash, created_at } => catalog.insert_namespace_token(token, hash, *created_at).await?,
        Record::Kv { scope, key, value } => backend.kv.set(scope, key, &unbase64(value, "a kv value")?).await?,
        Record::Message(m) => snapshot.put_message(m).await?,
        Record::Order { deployment, row } => {
            let claims = match replays.get(deployment) {
                Some(replay) => replay(row)?,
                None => bail!("order {} is of a performance the backup does not hold", row.id),
            };
            snapshot.put_order(deployment, row, claims.as_ref()).await?;
        }
        Record::Entry { deployment, order, ticket, entry } => snapshot.put_entry(deployment, order, ticket, entry).await?,
    }
    Ok(())
}

/// Backups written on a schedule into a directory, the newest `keep` kept.
pub struct Schedule {
    /// Where they go (`marquee-<seconds>.backup`).
    pub dir: PathBuf,
    /// How often.
    pub every: std::time::Duration,
    /// How many are kept; older ones are removed once a new one is whole.
    pub keep: usize,
}

impl Schedule {
    /// Writes a backup every `every` for as long as the process runs; `written` hears of each
    /// one written whole, with its size.
    pub async fn run(self, backend: Backend, components: Box<dyn ComponentBytes>, written: impl Fn(u64)) {
        let mut tick = tokio::time::interval(self.every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        loop {
            tick.tick().await;
            match self.once(&backend, &*components).await {
                Ok((path, summary)) => {
                    tracing::info!(path = %path.display(), %summary, "scheduled backup written");
                    written(summary.bytes);
                }
                Err(e) => tracing::error!(error = format!("{e:#}"), "scheduled backup failed; the last whole one stays"),
            }
        }
    }

    /// One backup: into a `.partial` file, made durable, renamed; then the oldest beyond `keep` go.
    async fn once(&self, backend: &Backend, components: &dyn ComponentBytes) -> Result<(PathBuf, Summary)> {
        tokio::fs::create_dir_all(&self.dir).await.with_context(|| format!("cannot create {}", self.dir.display()))?;
        let name = format!("marquee-{}.backup", marquee_store::clock::now_ms());
        let (path, partial) = (self.dir.join(&name), self.dir.join(format!("{name}.partial")));
        // Owner-only: a backup holds the token keys and the ticket signing key.
        let file = tokio::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&partial)
            .await
            .with_context(|| format!("cannot create {}", partial.display()))?;
        let mut out = tokio::io::BufWriter::new(file);
        let written = back_up(backend, components, &mut out).await;
        let summary = match written {
            Ok(summary) => summary,
            Err(e) => {
                let _ = tokio::fs::remove_file(&partial).await;
                return Err(e);
            }
        };
        out.into_inner().sync_all().await?;
        tokio::fs::rename(&partial, &path).await?;
        let mut kept = Vec::new();
        let mut entries = tokio::fs::read_dir(&self.dir).await?;
        while let Some(entry) = entries.next_entry().await? {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with("marquee-") && name.ends_with(".backup") {
                kept.push(name);
            }
        }
        // Their names sort by when they were written.
        kept.sort_by_key(|name| name.trim_start_matches("marquee-").trim_end_matches(".backup").parse::<u64>().unwrap_or(0));
        for old in kept.iter().rev().skip(self.keep) {
            tokio::fs::remove_file(self.dir.join(old)).await?;
        }
        Ok((path, summary))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use marquee_store::{Account, Role};
    use marquee_store_embedded::TestDir;

    /// A store with an account, a ticket key and a component's bytes, backed up to `file`.
    async fn backed_up(dir: &TestDir, file: &Path) -> Backend {
        let backend = marquee_store_embedded::open(&dir.0).unwrap();
        let ann = Account { id: "a1".into(), email: "ann@example.com".into(), password_hash: "h".into(), role: Role::Buyer, must_change_password: false };
        backend.identity.insert_account(&ann, 5).await.unwrap();
        backend.secrets.secret("ticket-key", "k1").await.unwrap();
        backend.identity.token_keys(Some("{\"kid\":\"old\"}")).await.unwrap();
        backend.identity.add_token_key("{\"kid\":\"new\"}", 3).await.unwrap();
        let summary = back_up(&backend, &*component_bytes(&backend, &dir.0), tokio::fs::File::create(file).await.unwrap()).await.unwrap();
        assert_eq!((summary.accounts, summary.records), (1, 4), "{summary}");
        backend
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_whole_backup_restores_once_and_a_damaged_one_never() {
        let (from, to, files) = (TestDir::new("backup-from"), TestDir::new("backup-to"), TestDir::new("backup-files"));
        let file = files.0.join("a.backup");
        let source = backed_up(&from, &file).await;
        assert_eq!(verify(&file).await.unwrap().1, "embedded");
        let bytes = std::fs::read(&file).unwrap();
        let damaged = |name: &str, bytes: &[u8]| {
            let path = files.0.join(name);
            std::fs::write(&path, bytes).unwrap();
            path
        };
        let refusals = [
            (damaged("cut", &bytes[..bytes.len() - 10]), "cut off"),
            (damaged("empty", b""), "cut off"),
            (damaged("altered", &bytes.iter().map(|&b| if b == b'a' { b'b' } else { b }).collect::<Vec<_>>()), "altered"),
            (damaged("more", &[&bytes[..], b"{}\n"].concat()), "lines follow its end"),
            (damaged("headless", &bytes[bytes.iter().position(|&b| b == b'\n').unwrap() + 1..]), "header"),
            (damaged("newer", &String::from_utf8(bytes.clone()).unwrap().replacen("\"version\":1", "\"version\":2", 1).into_bytes()), "version 2"),
        ];
        for (path, why) in refusals {
            let refused = verify(&path).await.unwrap_err().to_string();
            assert!(refused.contains(why), "{}: {refused}", path.display());
        }

        let target = marquee_store_embedded::open(&to.0).unwrap();
        let summary = restore(&file, &target, &*component_bytes(&target, &to.0)).await.unwrap();
        assert_eq!((summary.accounts, summary.records), (1, 4));
        assert_eq!(target.identity.account_by_email("ann@example.com").await.unwrap().unwrap().id, "a1");
        assert_eq!(target.identity.token_keys(None).await.unwrap(), source.identity.token_keys(None).await.unwrap(), "the keys, newest first");
        assert_eq!(target.secrets.secret("ticket-key", "other").await.unwrap().trim(), "k1");
        let again = restore(&file, &target, &*component_bytes(&target, &to.0)).await.unwrap_err().to_string();
        assert!(again.contains("already holds a platform"), "{again}");
    }
}
