//! The measured scenarios.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Result;
use marquee_api::{Component, DeployRequest};
use serde_json::{Value, json};

use crate::client::{Conn, Server, ms, percentile};

#[derive(Clone, Copy)]
pub(crate) enum Which {
    Deploy,
    Read,
    Memory,
    Booking,
    Noisy,
    Desk,
    Backup,
}

const DEPLOYS: usize = 120;
const READ_CONNECTIONS: usize = 64;
const READ_SECONDS: u64 = 10;
const MEMORY_PERFORMANCES: usize = 1000;
const BUYERS: usize = 64;
/// 250 rows x 200 seats.
const BOOKING_ROWS: u32 = 250;
const BOOKING_SEATS_PER_ROW: u32 = 200;
const BOOKING_SECONDS: u64 = 8;
/// The desk scenario's orders, one seat each, on 500 rows x 200 seats.
const DESK_ORDERS: usize = 100_000;
const DESK_ROWS: u32 = 500;
/// Sales reads timed at each point.
const SALES_READS: usize = 200;

pub(crate) fn seated(rows: u32, seats_per_row: u32) -> Value {
    json!({
        "title": "Bench Night", "venue": "Hall A",
        "sessions": [{"id": "s1", "starts_at": "2027-03-01T19:00:00Z"}],
        "sections": [{"name": "R", "price": 5000, "rows": rows, "seats_per_row": seats_per_row}]
    })
}

/// Runs one scenario on a fresh `marquee up`, on the embedded store or on `store`; with
/// `runtimes` > 0, on `marquee control` and that many `marquee runtime` processes sharing
/// `store`, the performances' traffic spread over the runtimes (deploy and booking only).
pub(crate) async fn run(which: Which, marquee: &Path, store: Option<&str>, runtimes: usize) -> Result<()> {
    let server = Server::start(marquee, if runtimes == 0 { "up" } else { "control" }, store).await?;
    let mut fronts = Vec::with_capacity(runtimes);
    for _ in 0..runtimes {
        fronts.push(Server::start(marquee, "runtime", store).await?);
    }
    let fronts: Vec<&Server> = if runtimes == 0 { vec![&server] } else { fronts.iter().collect() };
    let token = server.seller().await?;
    match which {
        Which::Deploy => {
            deploy(&server, fronts[0], &token, "20,000 seats (100 x 200)", seated(100, 200), "big").await?;
            deploy(&server, fronts[0], &token, "4 seats (2 x 2)", seated(2, 2), "small").await
        }
        Which::Booking => booking(&server, &fronts, &token).await,
        _ if runtimes > 0 => anyhow::bail!("only deploy and booking run on split roles"),
        Which::Read => read(&server, &token).await,
        Which::Memory => memory(&server, &token).await,
        Which::Noisy => noisy(&server, &token).await,
        Which::Desk => desk(&server, &token).await,
        Which::Backup => backup(&server, &token).await,
    }
}

/// Times each deploy from the POST (to `control`) to the first 200 of the new performance's
/// info call (from `front`: the same process, or a runtime that learns of it through Redis).
async fn deploy(control: &Server, front: &Server, token: &str, label: &str, params: Value, prefix: &str) -> Result<()> {
    let mut conn = Conn::connect(&control.addr).await?;
    let mut probe = Conn::connect(&front.addr).await?;
    let mut samples = Vec::with_capacity(DEPLOYS);
    for i in 0..DEPLOYS {
        let ns = format!("{prefix}-{i}");
        let started = Instant::now();
        conn.deploy(token, &ns, params.clone()).await?;
        // A runtime hears of the deploy a moment after the 201: ask until it answers.
        loop {
            let (status, _) = probe.get(&format!("/p/{ns}/api/info")).await?;
            if status == 200 {
                break;
            }
            anyhow::ensure!(status == 404 && started.elapsed() < Duration::from_secs(10), "first info call of {ns}: {status}");
        }
        samples.push(started.elapsed());
    }
    samples.sort();
    let split = if std::ptr::eq(control, front) { "" } else { ", first 200 from a runtime process" };
    println!(
        "deploy {label}{split}: n={} p50={:.2} ms p99={:.2} ms max={:.2} ms",
        samples.len(),
        ms(percentile(&samples, 0.50)),
        ms(percentile(&samples, 0.99)),
        ms(*samples.last().unwrap())
    );
    Ok(())
}

/// Closed-loop load: each connection sends its next request when the last one answers.
async fn read(server: &Server, token: &str) -> Result<()> {
    Conn::connect(&server.addr).await?.deploy(token, "read", seated(100, 200)).await?;
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for _ in 0..READ_CONNECTIONS {
        let addr = server.addr.clone();
        let stop = stop.clone();
        tasks.push(tokio::spawn(async move {
            let mut conn = Conn::connect(&addr).await?;
            let mut samples = Vec::new();
            let mut errors = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let started = Instant::now();
                let (status, _) = conn.get("/p/read/api/info").await?;
                samples.push((started, started.elapsed()));
                errors += u64::from(status != 200);
            }
            anyhow::Ok((samples, errors))
        }));
    }
    // Warm up, then measure a fixed window.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let from = Instant::now();
    let window = Duration::from_secs(READ_SECONDS);
    tokio::time::sleep(window).await;
    let rss = server.rss_kib()?;
    stop.store(true, Ordering::Relaxed);
    let mut samples = Vec::new();
    let mut errors = 0;
    for task in tasks {
        let (s, e) = task.await??;
        samples.extend(s.into_iter().filter(|(at, _)| *at >= from && *at < from + window).map(|(_, d)| d));
        errors += e;
    }
    samples.sort();
    let total = samples.len() as f64;
    println!(
        "read GET /p/{{ns}}/api/info, {READ_CONNECTIONS} connections: {:.0} requests/s p50={:.2} ms p99={:.2} ms errors={errors} (server RSS {} MiB)",
        total / window.as_secs_f64(),
        ms(percentile(&samples, 0.50)),
        ms(percentile(&samples, 0.99)),
        rss / 1024
    );
    Ok(())
}

/// Deploys many performances, serves one request from each, then compares resident memory.
async fn memory(server: &Server, token: &str) -> Result<()> {
    let mut conn = Conn::connect(&server.addr).await?;
    // One performance first, so the baseline includes the warmed-up runtime.
    conn.deploy(token, "warm", seated(100, 200)).await?;
    conn.get("/p/warm/api/info").await?;
    let before = server.rss_kib()?;
    for i in 0..MEMORY_PERFORMANCES {
        let ns = format!("idle-{i}");
        conn.deploy(token, &ns, seated(100, 200)).await?;
        let (status, _) = conn.get(&format!("/p/{ns}/api/info")).await?;
        anyhow::ensure!(status == 200, "info of {ns}: {status}");
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = server.rss_kib()?;
    println!(
        "memory: {MEMORY_PERFORMANCES} idle performances: RSS {} -> {} KiB, {:.1} KiB per performance",
        before,
        after,
        after.saturating_sub(before) as f64 / MEMORY_PERFORMANCES as f64
    );
    Ok(())
}

/// Hold + pay + durable confirm on ONE performance with a 50,000-seat map, one buyer per
/// connection, each buying single seats from its own slice of the map (so every attempt can
/// succeed and the figure is the platform's, not the contention's).
async fn booking(server: &Server, fronts: &[&Server], token: &str) -> Result<()> {
    let mut conn = Conn::connect(&server.addr).await?;
    let mut params = seated(BOOKING_ROWS, BOOKING_SEATS_PER_ROW);
    params["per_buyer_limit"] = json!(10_000);
    conn.deploy(token, "sale", params).await?;
    let mut buyers = Vec::with_capacity(BUYERS);
    for i in 0..BUYERS {
        buyers.push(conn.account(&format!("buyer{i}@example.com"), "buyer").await?);
    }
    let seats = (BOOKING_ROWS * BOOKING_SEATS_PER_ROW) as usize;
    for front in fronts {
        let mut probe = Conn::connect(&front.addr).await?;
        while probe.get("/p/sale/api/info").await?.0 != 200 {}
    }
    let started = Instant::now();
    let deadline = started + Duration::from_secs(BOOKING_SECONDS);
    let (mut holds, mut confirms) = sell(fronts, &buyers, "sale", 0..seats, deadline).await?;
    let elapsed = started.elapsed();
    holds.sort();
    confirms.sort();
    // Every seat sold once: availability agrees with the count of confirmed orders.
    let (_, bytes) = Conn::connect(&fronts[0].addr).await?.get("/p/sale/api/sessions/s1/availability").await?;
    let availability: Value = serde_json::from_slice(&bytes)?;
    let available = availability["sections"][0]["available"].as_u64().unwrap_or(0);
    anyhow::ensure!(available as usize == seats - confirms.len(), "availability {available} disagrees with {} orders", confirms.len());
    println!(
        "booking 50,000 seats, {BUYERS} buyers on {} process(es): {} confirmed orders in {:.1} s = {:.0} orders/s; hold p50={:.2} ms p99={:.2} ms; confirm p50={:.2} ms p99={:.2} ms",
        fronts.len(),
        confirms.len(),
        elapsed.as_secs_f64(),
        confirms.len() as f64 / elapsed.as_secs_f64(),
        ms(percentile(&holds, 0.50)),
        ms(percentile(&holds, 0.99)),
        ms(percentile(&confirms, 0.50)),
        ms(percentile(&confirms, 0.99)),
    );
    Ok(())
}

/// Sells seats `range` of performance `ns` (rows of [`BOOKING_SEATS_PER_ROW`] seats in section
/// R), one seat per order, each buyer taking every `buyers.len()`th seat on the front it is
/// given round-robin, until the range is sold or `deadline`: each order's hold and confirm time.
async fn sell(fronts: &[&Server], buyers: &[String], ns: &str, range: std::ops::Range<usize>, deadline: Instant) -> Result<(Vec<Duration>, Vec<Duration>)> {
    let mut tasks = Vec::new();
    for (i, buyer) in buyers.iter().cloned().enumerate() {
        let (addr, ns, range) = (fronts[i % fronts.len()].addr.clone(), ns.to_string(), range.clone());
        let step = buyers.len();
        tasks.push(tokio::spawn(async move {
            let mut conn = Conn::connect(&addr).await?;
            let (mut holds, mut confirms) = (Vec::new(), Vec::new());
            let mut seat = range.start + i;
            while seat < range.end && Instant::now() < deadline {
                let id = format!("R-{}-{}", seat / BOOKING_SEATS_PER_ROW as usize + 1, seat % BOOKING_SEATS_PER_ROW as usize + 1);
                let t = Instant::now();
                let hold = json!({"session": "s1", "seats": [id]});
                let h: Value = conn.post_json(&format!("/p/{ns}/api/holds"), Some(&buyer), &hold, 201).await?;
                holds.push(t.elapsed());
                let hold_id = h["hold_id"].as_str().unwrap_or_default().to_string();
                let t = Instant::now();
                let pay = json!({"payment": {"card": "4242 4242 4242 4242"}});
                conn.post_json::<Value>(&format!("/p/{ns}/api/holds/{hold_id}/confirm"), Some(&buyer), &pay, 201).await?;
                confirms.push(t.elapsed());
                seat += step;
            }
            anyhow::Ok((holds, confirms))
        }));
    }
    let (mut holds, mut confirms) = (Vec::new(), Vec::new());
    for task in tasks {
        let (h, c) = task.await??;
        holds.extend(h);
        confirms.extend(c);
    }
    Ok((holds, confirms))
}

/// The seller's desk at 100,000 orders: the sales read timed after the first 1,000 orders and
/// after all of them (it reads counts the store keeps as it sells, so its time must not grow
/// with the orders), and each CSV export with the server's resident memory sampled every 10 ms
/// while it streams (the export reads 500 orders at a time, so the growth must stay far below
/// the file's size).
async fn desk(server: &Server, token: &str) -> Result<()> {
    let mut conn = Conn::connect(&server.addr).await?;
    let mut params = seated(DESK_ROWS, BOOKING_SEATS_PER_ROW);
    params["per_buyer_limit"] = json!(10_000);
    conn.deploy(token, "desk", params).await?;
    let mut buyers = Vec::with_capacity(BUYERS);
    for i in 0..BUYERS {
        buyers.push(conn.account(&format!("buyer{i}@example.com"), "buyer").await?);
    }
    let never = Instant::now() + Duration::from_secs(3600);
    let mut sales_reads = Vec::new();
    let mut sold = 0;
    for upto in [1_000, DESK_ORDERS] {
        let (_, confirms) = sell(&[server], &buyers, "desk", sold..upto, never).await?;
        sold += confirms.len();
        anyhow::ensure!(sold == upto, "sold {sold} of {upto}");
        // The server closes a connection left idle while the sale ran.
        conn = Conn::connect(&server.addr).await?;
        let mut times = Vec::with_capacity(SALES_READS);
        for _ in 0..SALES_READS {
            let t = Instant::now();
            let (status, body) = conn.send("GET", "/api/v1/performances/desk/sales", Some(token), None::<&()>).await?;
            times.push(t.elapsed());
            anyhow::ensure!(status == 200, "sales: {status}");
            let sales: Value = serde_json::from_slice(&body)?;
            anyhow::ensure!(sales["sessions"][0]["sections"][0]["sold"] == upto, "sales disagree with {upto} orders: {sales}");
        }
        times.sort();
        sales_reads.push((upto, percentile(&times, 0.50), percentile(&times, 0.99)));
    }
    for (orders, p50, p99) in sales_reads {
        println!("desk sales read at {orders} orders: p50={:.2} ms p99={:.2} ms", ms(p50), ms(p99));
    }
    for file in ["orders.csv", "attendees.csv"] {
        let before = server.rss_kib()?;
        let done = Arc::new(AtomicBool::new(false));
        let sampler = {
            let (pid, done) = (server.pid(), done.clone());
            tokio::spawn(async move {
                let mut peak = 0;
                while !done.load(Ordering::Relaxed) {
                    peak = peak.max(crate::client::rss_kib(pid).unwrap_or(0));
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                peak
            })
        };
        let mut conn = Conn::connect(&server.addr).await?;
        let t = Instant::now();
        let (status, body) = conn.send("GET", &format!("/api/v1/performances/desk/{file}"), Some(token), None::<&()>).await?;
        let took = t.elapsed();
        done.store(true, Ordering::Relaxed);
        let peak = sampler.await?.max(before);
        anyhow::ensure!(status == 200, "{file}: {status}");
        let rows = body.iter().filter(|b| **b == b'\n').count() - 1;
        anyhow::ensure!(rows == DESK_ORDERS, "{file} has {rows} rows for {DESK_ORDERS} orders");
        println!(
            "desk export {file}: {rows} rows, {:.1} MiB in {:.2} s; server RSS {:.1} MiB before, peak {:.1} MiB (+{:.1} MiB)",
            body.len() as f64 / 1048576.0,
            took.as_secs_f64(),
            before as f64 / 1024.0,
            peak as f64 / 1024.0,
            (peak - before) as f64 / 1024.0,
        );
    }
    Ok(())
}

/// A backup at [`DESK_ORDERS`] one-seat orders: how long `GET /api/v1/admin/backup` takes and
/// how large it is; then the booking rate on another performance for [`BOOKING_SECONDS`] alone,
/// and again while backups of the platform run back to back.
async fn backup(server: &Server, token: &str) -> Result<()> {
    let mut conn = Conn::connect(&server.addr).await?;
    for (ns, rows) in [("kept", DESK_ROWS), ("sale", BOOKING_ROWS)] {
        let mut params = seated(rows, BOOKING_SEATS_PER_ROW);
        params["per_buyer_limit"] = json!(10_000);
        conn.deploy(token, ns, params).await?;
    }
    let mut buyers = Vec::with_capacity(BUYERS);
    for i in 0..BUYERS {
        buyers.push(conn.account(&format!("buyer{i}@example.com"), "buyer").await?);
    }
    let never = Instant::now() + Duration::from_secs(3600);
    let (_, confirms) = sell(&[server], &buyers, "kept", 0..DESK_ORDERS, never).await?;
    anyhow::ensure!(confirms.len() == DESK_ORDERS, "sold {} of {DESK_ORDERS}", confirms.len());
    let admin = server.admin().await?;
    let take = |addr: String, admin: String| async move {
        let t = Instant::now();
        let (status, body) = Conn::connect(&addr).await?.send("GET", "/api/v1/admin/backup", Some(&admin), None::<&()>).await?;
        anyhow::ensure!(status == 200, "backup: {status}");
        let marker = b"{\"kind\":\"order\"";
        let orders = body.windows(marker.len()).filter(|w| w == marker).count();
        anyhow::Ok((t.elapsed(), body.len(), orders))
    };
    let (took, size, orders) = take(server.addr.clone(), admin.clone()).await?;
    anyhow::ensure!(orders == DESK_ORDERS, "the backup holds {orders} of {DESK_ORDERS} orders");
    println!("backup of {orders} orders: {:.1} MiB in {:.2} s", size as f64 / 1048576.0, took.as_secs_f64());

    let half = (BOOKING_ROWS * BOOKING_SEATS_PER_ROW) as usize / 2;
    let seconds = Duration::from_secs(BOOKING_SECONDS);
    let (_, alone) = sell(&[server], &buyers, "sale", 0..half, Instant::now() + seconds).await?;
    let running = Arc::new(AtomicBool::new(true));
    let backups = {
        let (addr, running) = (server.addr.clone(), running.clone());
        tokio::spawn(async move {
            let mut taken = 0;
            while running.load(Ordering::Relaxed) {
                take(addr.clone(), admin.clone()).await?;
                taken += 1;
            }
            anyhow::Ok(taken)
        })
    };
    let (_, during) = sell(&[server], &buyers, "sale", half..2 * half, Instant::now() + seconds).await?;
    running.store(false, Ordering::Relaxed);
    let taken = backups.await??;
    let rate = |n: usize| n as f64 / BOOKING_SECONDS as f64;
    println!(
        "booking while backing up: {:.0} orders/s alone, {:.0} orders/s while {taken} backups ran back to back ({:+.0}%)",
        rate(alone.len()),
        rate(during.len()),
        100.0 * (rate(during.len()) / rate(alone.len()) - 1.0),
    );
    Ok(())
}

/// The hostile test component, as runtime/build.rs built it beside this binary.
fn hostile_wasm() -> Result<std::path::PathBuf> {
    let build = std::env::current_exe()?.with_file_name("build");
    let mut found: Vec<(std::time::SystemTime, std::path::PathBuf)> = std::fs::read_dir(&build)?
        .flatten()
        .map(|e| e.path().join("out/functions-target/wasm32-wasip2/release/hostile.wasm"))
        .filter_map(|p| Some((std::fs::metadata(&p).ok()?.modified().ok()?, p)))
        .collect();
    found.sort();
    found.pop().map(|(_, p)| p).ok_or_else(|| anyhow::anyhow!("hostile.wasm not found under {}", build.display()))
}

/// Paced load: `connections` each send one request every `every` until `until`; returns
/// latencies and the count of non-200 answers.
async fn paced(addr: &str, path: &str, connections: usize, every: Duration, until: Instant) -> Result<(Vec<Duration>, u64)> {
    let mut tasks = Vec::new();
    for _ in 0..connections {
        let (addr, path) = (addr.to_string(), path.to_string());
        tasks.push(tokio::spawn(async move {
            let mut conn = Conn::connect(&addr).await?;
            let (mut samples, mut errors) = (Vec::new(), 0u64);
            let mut tick = tokio::time::interval(every);
            while Instant::now() < until {
                tick.tick().await;
                let started = Instant::now();
                let (status, _) = conn.get(&path).await?;
                samples.push(started.elapsed());
                errors += u64::from(status != 200);
            }
            anyhow::Ok((samples, errors))
        }));
    }
    let (mut samples, mut errors) = (Vec::new(), 0);
    for task in tasks {
        let (s, e) = task.await??;
        samples.extend(s);
        errors += e;
    }
    samples.sort();
    Ok((samples, errors))
}

/// Closed-loop flood of `path` on `connections` until `until`; returns (answers, non-200s).
async fn flood(addr: &str, path: &str, connections: usize, until: Instant) -> Result<(u64, u64)> {
    let mut tasks = Vec::new();
    for _ in 0..connections {
        let (addr, path) = (addr.to_string(), path.to_string());
        tasks.push(tokio::spawn(async move {
            let mut conn = Conn::connect(&addr).await?;
            let (mut answered, mut refused) = (0u64, 0u64);
            while Instant::now() < until {
                let (status, _) = conn.get(&path).await?;
                answered += 1;
                refused += u64::from(status != 200);
            }
            anyhow::Ok((answered, refused))
        }));
    }
    let (mut answered, mut refused) = (0, 0);
    for task in tasks {
        let (a, r) = task.await??;
        answered += a;
        refused += r;
    }
    Ok((answered, refused))
}

const NOISY_SECONDS: u64 = 6;
const QUIET_CONNECTIONS: usize = 4;
const QUIET_EVERY: Duration = Duration::from_millis(10);

/// Namespace A flooded at 256 connections while its component also spins; namespace B
/// serves a steady modest rate. Compares B's latency alone and beside A.
async fn noisy(server: &Server, token: &str) -> Result<()> {
    let bytes = std::fs::read(hostile_wasm()?)?;
    let mut conn = Conn::connect(&server.addr).await?;
    let uploaded = {
        let req = hyper::Request::post("/api/v1/components?name=hostile&version=1")
            .header("host", &server.addr)
            .header("authorization", format!("Bearer {token}"))
            .body(http_body_util::Full::new(bytes::Bytes::from(bytes)))?;
        let stream = tokio::net::TcpStream::connect(&server.addr).await?;
        let (mut sender, c) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await?;
        tokio::spawn(c);
        let response = sender.send_request(req).await?;
        anyhow::ensure!(response.status() == 201, "upload: {}", response.status());
        let body = http_body_util::BodyExt::collect(response.into_body()).await?.to_bytes();
        serde_json::from_slice::<Component>(&body)?
    };
    let components = [("listing".to_string(), uploaded.digest)].into();
    let noisy = DeployRequest { namespace: "noisy".into(), template: "seated".into(), params: seated(10, 10), components };
    conn.post_json::<Value>("/api/v1/performances", Some(token), &noisy, 201).await?;
    conn.deploy(token, "quiet", seated(10, 10)).await?;

    let window = Duration::from_secs(NOISY_SECONDS);
    let (alone, alone_errors) = paced(&server.addr, "/p/quiet/api/info", QUIET_CONNECTIONS, QUIET_EVERY, Instant::now() + window).await?;

    let until = Instant::now() + window;
    let addr = server.addr.clone();
    // The flood runs in its own process (wrk, as a real attacker's would), so the load
    // generator's own queueing does not land in B's measured latency.
    let wrk = std::process::Command::new("wrk")
        .args(["-t1", "-c256", &format!("-d{NOISY_SECONDS}s"), &format!("http://{addr}/p/noisy/api/info?do=ok")])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| anyhow::anyhow!("the noisy scenario needs wrk (apt-get install wrk): {e}"))?;
    let spinning = tokio::spawn({
        let addr = addr.clone();
        async move { flood(&addr, "/p/noisy/api/info?do=spin", 4, until).await }
    });
    let (beside, beside_errors) = paced(&addr, "/p/quiet/api/info", QUIET_CONNECTIONS, QUIET_EVERY, until).await?;
    let report = String::from_utf8_lossy(&wrk.wait_with_output()?.stdout).to_string();
    let flooded = report.lines().find(|l| l.contains("requests in")).unwrap_or("").trim().to_string();
    let flood_refused = report.lines().find(|l| l.contains("Non-2xx")).unwrap_or("no non-2xx").trim().to_string();
    let (spins, _) = spinning.await??;
    let p99 = |s: &[Duration]| ms(percentile(s, 0.99));
    println!(
        "noisy neighbour: B alone p50={:.2} ms p99={:.2} ms errors={alone_errors}; B beside A p50={:.2} ms p99={:.2} ms errors={beside_errors}; \
         p99 ratio {:.2}; A (wrk, 256 connections): {flooded}, {flood_refused}; {spins} spinning requests answered",
        ms(percentile(&alone, 0.50)),
        p99(&alone),
        ms(percentile(&beside, 0.50)),
        p99(&beside),
        p99(&beside) / p99(&alone),
    );
    Ok(())
}
