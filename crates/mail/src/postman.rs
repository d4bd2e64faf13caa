//! Sending: the relay (SMTP, through `lettre`) and the loop that empties the outbox into it.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use lettre::message::{Attachment as Part, Mailbox, MultiPart, SinglePart, header::ContentType};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use marquee_store::{BoxFuture, Delivery, Outbox};
use marquee_ticketing::queue::Worker;
use marquee_ticketing::{MAIL, Notice};

use crate::Letter;

/// Messages claimed at a time; sent at once.
const BATCH: usize = 8;
/// Longest an SMTP exchange may take.
const SMTP_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a claimed message is this process's: past a whole exchange, so no other process
/// sends it while this one still may.
const LEASE: Duration = Duration::from_secs(120);

/// An SMTP relay and the address mail comes from.
pub struct Relay {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl Relay {
    /// A relay at `url` (`smtp://host:port` in the clear, `smtp://…?tls=required` with
    /// STARTTLS, `smtps://` over TLS; `user:password@` to log in), sending from `from`.
    pub fn new(url: &str, from: &str) -> Result<Self> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url).context("--smtp-url is not an SMTP URL")?.timeout(Some(SMTP_TIMEOUT)).build();
        let from = from.parse().with_context(|| format!("--mail-from {from:?} is not a mail address"))?;
        Ok(Self { transport, from })
    }

    /// Sends a letter; an error: the relay did not take it.
    pub async fn send(&self, letter: &Letter) -> Result<()> {
        let to: Mailbox = letter.to.parse().with_context(|| format!("{:?} is not a mail address", letter.to))?;
        let mut parts = MultiPart::mixed().singlepart(SinglePart::plain(letter.text.clone()));
        for file in &letter.attachments {
            let kind = ContentType::parse(file.content_type).context("an attachment's type")?;
            parts = parts.singlepart(Part::new(file.name.clone()).body(file.bytes.clone(), kind));
        }
        let mail = lettre::Message::builder().from(self.from.clone()).to(to).subject(&letter.subject).multipart(parts)?;
        self.transport.send(mail).await.context("the SMTP relay refused or did not answer")?;
        Ok(())
    }
}

/// Writes the letter a notice asks for, from what the platform knows now.
pub trait Author: Send + Sync {
    /// The letter; `None` when there is nothing to tell any more (the order is gone, a
    /// reminder of a cancelled order). `attempts` counts this try: an order's notice is put
    /// beside its commit, so the first tries may find the order not stored yet.
    fn write<'a>(&'a self, notice: &'a Notice, attempts: u32) -> BoxFuture<'a, Option<Letter>>;
}

/// Empties the outbox into a relay.
pub struct Postman {
    /// Where the mail waits.
    pub outbox: Arc<dyn Outbox>,
    /// Where it goes.
    pub relay: Relay,
    /// Who writes it.
    pub author: Arc<dyn Author>,
}

impl Postman {
    /// Sends the mail queue's due messages, for as long as the process runs.
    pub async fn run(self) {
        let worker = Worker { outbox: &*self.outbox, queue: MAIL, lease: LEASE, batch: BATCH };
        let this = &self;
        let each = |notice: Notice, tries| async move {
            match this.author.write(&notice, tries).await? {
                Some(letter) => this.relay.send(&letter).await.map(|()| Delivery::Sent),
                None => Ok(Delivery::Dropped),
            }
        };
        worker.run(each, || async {}).await;
    }
}
