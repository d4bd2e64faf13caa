//! Mail to buyers through a real SMTP server (aiosmtpd from PyPI, which `.ci/run` installs):
//! one confirmation per order whose QR images admit at the door, a refund notice, and nothing
//! lost or sent twice while the server is away; on both stores, and on Redis with two
//! processes sending from one outbox.

use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use marquee_store_redis::LocalRedis;
use serde_json::{Value, json};

use crate::door::buy;
use crate::testkit::{DataDir, Server, gala_params, within};

/// An aiosmtpd server on a loopback port, keeping what it receives in a maildir.
struct Smtp {
    port: u16,
    maildir: PathBuf,
    child: Option<Child>,
    _dir: DataDir,
}

impl Smtp {
    fn start() -> Self {
        let dir = DataDir::new();
        std::fs::create_dir_all(&dir.0).unwrap();
        let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap().local_addr().unwrap().port();
        let mut smtp = Self { port, maildir: dir.0.join("maildir"), child: None, _dir: dir };
        smtp.resume();
        smtp
    }

    /// Starts the server (again) on its port.
    fn resume(&mut self) {
        let python = std::env::var("MARQUEE_SMTP_PYTHON").unwrap_or_else(|_| "python3".into());
        let child = Command::new(&python)
            .args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{}", self.port), "-c", "aiosmtpd.handlers.Mailbox"])
            .arg(&self.maildir)
            .stdout(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("could not start aiosmtpd with {python} ({e}); `.ci/run` installs it and sets MARQUEE_SMTP_PYTHON"));
        self.child = Some(child);
        within(Duration::from_secs(20), "aiosmtpd listens", || TcpStream::connect((Ipv4Addr::LOCALHOST, self.port)).is_ok());
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Every mail received, as raw messages.
    fn mails(&self) -> Vec<Vec<u8>> {
        let files = ["new", "cur"].iter().flat_map(|sub| std::fs::read_dir(self.maildir.join(sub)).into_iter().flatten());
        files.filter_map(Result::ok).filter_map(|f| std::fs::read(f.path()).ok()).collect()
    }
}

impl Drop for Smtp {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A mail as the test reads it: who to, its subject, its text and its files.
struct Mail {
    to: String,
    subject: String,
    text: String,
    files: Vec<(String, Vec<u8>)>,
}

fn read(raw: &[u8]) -> Mail {
    use mailparse::MailHeaderMap;
    let mail = mailparse::parse_mail(raw).expect("a mail that parses");
    let header = |name: &str| mail.headers.get_first_value(name).unwrap_or_default();
    let mut files = Vec::new();
    let mut text = String::new();
    for part in &mail.subparts {
        match part.get_content_disposition().params.get("filename") {
            Some(name) => files.push((name.clone(), part.get_body_raw().unwrap())),
            None => text = part.get_body().unwrap(),
        }
    }
    Mail { to: header("To"), subject: header("Subject"), text, files }
}

fn received(smtp: &Smtp) -> Vec<Mail> {
    smtp.mails().iter().map(|raw| read(raw)).collect()
}

/// The text of the QR code in a PNG.
fn decode_qr(png: &[u8]) -> String {
    let image = image::load_from_memory_with_format(png, image::ImageFormat::Png).expect("a PNG").to_luma8();
    let mut prepared = rqrr::PreparedImage::prepare_from_greyscale(image.width() as usize, image.height() as usize, |x, y| image.get_pixel(x as u32, y as u32)[0]);
    let grids = prepared.detect_grids();
    assert_eq!(grids.len(), 1, "one QR code per image");
    grids[0].decode().expect("a QR code that decodes").1
}

fn outbox(server: &Server, token: &str) -> Value {
    server.get("/api/v1/performances/gala/outbox", Some(token)).expect(200).json()
}

fn subjects(mails: &[Mail], prefix: &str) -> usize {
    mails.iter().filter(|m| m.subject.starts_with(prefix)).count()
}

/// Orders mailed through `smtp` by `server` (and by `other`, a second process on its store).
fn buyers_get_their_tickets_by_mail(server: &Server, smtp: &mut Smtp) {
    let seller = server.account("seller@example.com", "seller");
    server.deploy(&seller, "gala", "seated", gala_params());
    let ann = server.account("ann@example.com", "buyer");
    let bob = server.account("bob@example.com", "buyer");
    let first = buy(server, "gala", &ann, "R-1-1");
    let second = crate::door::buy_seats(server, "gala", &bob, &["R-2-1", "R-2-2"]);
    within(Duration::from_secs(20), "a confirmation per order", || smtp.mails().len() >= 2);

    // Each ticket's QR image admits at the door, once; the session comes as an event.
    let mails = received(smtp);
    assert_eq!(mails.len(), 2);
    for (to, order, tickets) in [("ann@example.com", &first, 1), ("bob@example.com", &second, 2)] {
        let mail = mails.iter().find(|m| m.text.contains(order.as_str())).unwrap_or_else(|| panic!("no mail tells of {order}"));
        assert!(mail.to.contains(to), "{}", mail.to);
        assert_eq!(mail.subject, "Your tickets: Spring Gala, s1");
        assert!(mail.text.contains("Monday 1 March 2027, 19:00 (UTC)"), "{}", mail.text);
        let pngs: Vec<&Vec<u8>> = mail.files.iter().filter(|(name, _)| name.ends_with(".png")).map(|(_, bytes)| bytes).collect();
        assert_eq!(pngs.len(), tickets);
        for png in pngs {
            let ticket = decode_qr(png);
            let scan = |token: &str| server.post("/api/v1/performances/gala/checkin", Some(token), &json!({"ticket": ticket})).expect(200).json();
            assert_eq!(scan(&seller)["status"], "checked_in", "{ticket}");
            assert_eq!(scan(&seller)["status"], "already_used");
        }
        let ics = mail.files.iter().find(|(name, _)| name == "event.ics").expect("an .ics event");
        let ics = String::from_utf8_lossy(&ics.1);
        assert!(ics.contains("BEGIN:VEVENT") && ics.contains("DTSTART:20270301T190000Z") && ics.contains("Hall A"), "{ics}");
    }

    // The relay is away: orders and refunds go on, their mail waits in the outbox.
    smtp.stop();
    let third = buy(server, "gala", &ann, "R-3-1");
    server.post(&format!("/api/v1/performances/gala/orders/{second}/refund"), Some(&seller), &json!({"seats": ["R-2-2"]})).expect(200);
    within(Duration::from_secs(20), "the outbox says why the mail waits", || {
        let listed = outbox(server, &seller);
        listed["messages"].as_array().unwrap().iter().any(|m| m["order_id"] == third.as_str() && m["kind"] == "confirmation" && m["state"] == "queued" && m["last_error"].is_string())
    });
    assert_eq!(smtp.mails().len(), 2);

    // Back: every mail arrives, once.
    smtp.resume();
    within(Duration::from_secs(30), "the waiting mail once the relay is back", || smtp.mails().len() >= 4);
    std::thread::sleep(Duration::from_secs(2));
    let mails = received(smtp);
    assert_eq!(mails.len(), 4, "{:?}", mails.iter().map(|m| &m.subject).collect::<Vec<_>>());
    for order in [&first, &second, &third] {
        let confirmations = mails.iter().filter(|m| m.subject.starts_with("Your tickets") && m.text.contains(order.as_str())).count();
        assert_eq!(confirmations, 1, "{order}");
    }
    let refund = mails.iter().find(|m| m.subject.starts_with("Refund")).expect("a refund notice");
    assert!(refund.to.contains("bob@example.com") && refund.text.contains("EUR 1200.00 was paid back"), "{}", refund.text);
    assert!(refund.text.contains("These tickets still stand: R · row 2 · seat 1"), "{}", refund.text);
    assert_eq!(subjects(&mails, "Soon"), 0, "reminders wait for the day before the session");

    let listed = outbox(server, &seller);
    let states = |kind: &str| -> Vec<String> {
        let messages = listed["messages"].as_array().unwrap();
        messages.iter().filter(|m| m["kind"] == kind).map(|m| m["state"].as_str().unwrap().to_owned()).collect()
    };
    assert_eq!(states("confirmation"), ["sent", "sent", "sent"]);
    assert_eq!(states("refund"), ["sent"]);
    assert_eq!(states("reminder"), ["queued", "queued", "queued"], "due a day before 1 March 2027");
    assert_eq!(listed["relay"], true);
}

#[test]
fn buyers_get_their_tickets_by_mail_on_the_embedded_store() {
    let mut smtp = Smtp::start();
    let dir = DataDir::new();
    let server = Server::start_with(&dir.0, &[("MARQUEE_SMTP_URL", &smtp.url()), ("MARQUEE_MAIL_FROM", "Spring Gala <box@example.com>")]);
    buyers_get_their_tickets_by_mail(&server, &mut smtp);
}

#[test]
fn two_processes_on_one_redis_send_each_mail_once() {
    let mut smtp = Smtp::start();
    let redis = LocalRedis::start("e2e-mail", "always").unwrap();
    let (url, relay) = (redis.url(), smtp.url());
    let env = [("MARQUEE_STORE", url.as_str()), ("MARQUEE_SMTP_URL", relay.as_str())];
    let dirs = [DataDir::new(), DataDir::new()];
    let server = Server::start_with(&dirs[0].0, &env);
    let _other = Server::start_as(&["control"], &dirs[1].0, &env);
    buyers_get_their_tickets_by_mail(&server, &mut smtp);
}

#[test]
fn without_a_relay_mail_waits_in_the_outbox_and_each_kind_can_be_previewed() {
    let dir = DataDir::new();
    let server = Server::start(&dir);
    let seller = server.account("seller@example.com", "seller");
    let rival = server.account("rival@example.com", "seller");
    server.deploy(&seller, "gala", "seated", gala_params());
    let ann = server.account("ann@example.com", "buyer");
    let order = buy(&server, "gala", &ann, "R-1-1");
    let listed = outbox(&server, &seller);
    assert_eq!(listed["relay"], false);
    let kinds: Vec<(&str, &str)> = listed["messages"].as_array().unwrap().iter().map(|m| (m["kind"].as_str().unwrap(), m["state"].as_str().unwrap())).collect();
    assert_eq!(kinds, [("confirmation", "queued")], "its reminder is put as the confirmation goes out");
    assert!(listed["messages"].as_array().unwrap().iter().all(|m| m["order_id"] == order.as_str() && m["attempts"] == 0));

    let preview = server.get("/api/v1/performances/gala/mail/confirmation/preview", Some(&seller)).expect(200).json();
    assert_eq!(preview["subject"], "Your tickets: Spring Gala, s1");
    assert!(preview["text"].as_str().unwrap().contains("R · row 1 · seat 1 (ticket-1.png)"), "{preview}");
    assert_eq!(preview["attachments"][0]["content_type"], "image/png");
    let refund = server.get("/api/v1/performances/gala/mail/refund/preview", Some(&seller)).expect(200).json();
    assert!(refund["text"].as_str().unwrap().starts_with("EUR 1200.00 was paid back"), "{refund}");
    server.get("/api/v1/performances/gala/mail/reminder/preview", Some(&seller)).expect(200);
    server.get("/api/v1/performances/gala/mail/invoice/preview", Some(&seller)).expect(404);
    for path in ["outbox", "mail/confirmation/preview"] {
        server.get(&format!("/api/v1/performances/gala/{path}"), Some(&rival)).expect(403);
        server.get(&format!("/api/v1/performances/gala/{path}"), Some(&ann)).expect(403);
    }
}
