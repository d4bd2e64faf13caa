//! What a buyer is sent, written from what the platform knows of an order: an order's
//! confirmation (each ticket's QR code as a PNG, the session as an `.ics` event), a refund
//! notice and a reminder. Plain text: every mail reader shows it, and no seller-written text
//! is ever read as markup.

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use icalendar::{Calendar, Component, Event, EventLike};

/// A ticket as its buyer reads it.
#[derive(Debug, Clone)]
pub struct Ticket {
    /// How it reads (`R · row 3 · seat 12`, `Floor`, `Poster`).
    pub label: String,
    /// Its pass: the text of its QR code, which admits at the door.
    pub pass: String,
}

/// An order of a performance, as a mail tells of it.
#[derive(Debug, Clone)]
pub struct Details {
    /// The buyer's address.
    pub to: String,
    /// The performance's title.
    pub title: String,
    /// Its venue.
    pub venue: String,
    /// The venue's IANA time zone, in which every time is written.
    pub time_zone: String,
    /// ISO 4217, in whose minor units amounts are.
    pub currency: String,
    /// The session's label (its id when it has none).
    pub session: String,
    /// When the session starts (RFC 3339, as a performance's params keep it).
    pub starts_at: String,
    /// How long it runs, if the seller said.
    pub running_minutes: Option<u32>,
    /// The order's id.
    pub order: String,
    /// What it cost, in minor units.
    pub amount: u64,
    /// Its tickets that stand.
    pub tickets: Vec<Ticket>,
    /// Where the buyer sees their tickets, if the platform has a public address.
    pub link: Option<String>,
}

/// A file sent with a mail.
#[derive(Debug, Clone)]
pub struct Attachment {
    /// Its file name.
    pub name: String,
    /// Its MIME type.
    pub content_type: &'static str,
    /// Its bytes.
    pub bytes: Vec<u8>,
}

/// A mail, ready to send.
#[derive(Debug, Clone)]
pub struct Letter {
    /// The buyer's address.
    pub to: String,
    /// Its subject.
    pub subject: String,
    /// Its text.
    pub text: String,
    /// Its files.
    pub attachments: Vec<Attachment>,
}

impl Details {
    fn starts(&self) -> DateTime<Utc> {
        self.starts_at.parse().unwrap_or_default()
    }

    /// When the session starts, on the venue's clock.
    fn when(&self) -> String {
        let zone: chrono_tz::Tz = self.time_zone.parse().unwrap_or(chrono_tz::UTC);
        self.starts().with_timezone(&zone).format("%A %-d %B %Y, %H:%M (%Z)").to_string()
    }

    /// An amount in the performance's currency, in its major units.
    fn money(&self, minor: u64) -> String {
        let digits = iso_currency::Currency::from_code(&self.currency).and_then(|c| c.exponent()).unwrap_or(2) as u32;
        let unit = 10u64.pow(digits);
        match digits {
            0 => format!("{} {minor}", self.currency),
            _ => format!("{} {}.{:0width$}", self.currency, minor / unit, minor % unit, width = digits as usize),
        }
    }

    fn heading(&self) -> String {
        format!("{}\n{}\n{} · {}\nOrder {}\n", self.title, self.venue, self.session, self.when(), self.order)
    }

    fn footer(&self) -> String {
        self.link.as_ref().map(|link| format!("\nYour tickets: {link}\n")).unwrap_or_default()
    }
}

/// An order's confirmation: its tickets, each QR code a PNG to show at the door, and the
/// session as a calendar event.
pub fn confirmation(details: &Details) -> Result<Letter> {
    let mut text = format!("Thank you for your order.\n\n{}Paid: {}\n\nTickets:\n", details.heading(), details.money(details.amount));
    let mut attachments = Vec::new();
    for (n, ticket) in details.tickets.iter().enumerate() {
        let name = format!("ticket-{}.png", n + 1);
        text.push_str(&format!("  {} ({name})\n", ticket.label));
        attachments.push(Attachment { name, content_type: "image/png", bytes: qr_png(&ticket.pass)? });
    }
    text.push_str("\nShow each ticket's QR code at the door: it admits one person, once.\n");
    text.push_str(&details.footer());
    attachments.push(Attachment { name: "event.ics".into(), content_type: "text/calendar; charset=utf-8; method=PUBLISH", bytes: event(details).into_bytes() });
    Ok(Letter { to: details.to.clone(), subject: format!("Your tickets: {}, {}", details.title, details.session), text, attachments })
}

/// A notice that money of an order was paid back.
pub fn refund(details: &Details, amount: u64) -> Letter {
    let left = if details.tickets.is_empty() {
        "No ticket of this order admits any more.\n".to_string()
    } else {
        let labels: Vec<&str> = details.tickets.iter().map(|t| t.label.as_str()).collect();
        format!("These tickets still stand: {}.\n", labels.join(", "))
    };
    let text = format!("{} was paid back to you.\n\n{}\n{left}{}", details.money(amount), details.heading(), details.footer());
    Letter { to: details.to.clone(), subject: format!("Refund: {}, {}", details.title, details.session), text, attachments: Vec::new() }
}

/// A reminder that the session is soon.
pub fn reminder(details: &Details) -> Letter {
    let count = details.tickets.len();
    let text = format!(
        "See you soon.\n\n{}You have {count} ticket{}; show each one's QR code at the door.\n{}",
        details.heading(),
        if count == 1 { "" } else { "s" },
        details.footer()
    );
    Letter { to: details.to.clone(), subject: format!("Soon: {}, {}", details.title, details.session), text, attachments: Vec::new() }
}

/// A QR code of `text` as a PNG, scaled so a phone's camera reads it off a screen.
fn qr_png(text: &str) -> Result<Vec<u8>> {
    let code = qrcode::QrCode::new(text.as_bytes()).context("a pass too long for a QR code")?;
    let image = code.render::<image::Luma<u8>>().min_dimensions(320, 320).build();
    let mut png = std::io::Cursor::new(Vec::new());
    image.write_to(&mut png, image::ImageFormat::Png).context("could not write a PNG")?;
    Ok(png.into_inner())
}

/// The session as an iCalendar event (it ends after the running time, or three hours).
fn event(details: &Details) -> String {
    let minutes = details.running_minutes.unwrap_or(180);
    let starts = details.starts();
    let ends = starts + chrono::Duration::minutes(i64::from(minutes));
    let event = Event::new()
        .uid(&format!("{}@marquee", details.order))
        .summary(&details.title)
        .location(&details.venue)
        .description(&format!("{} · order {}", details.session, details.order))
        .starts(starts)
        .ends(ends)
        .done();
    Calendar::new().push(event).done().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn details() -> Details {
        Details {
            to: "ann@example.com".into(),
            title: "Gala".into(),
            venue: "Musikverein".into(),
            time_zone: "Europe/Vienna".into(),
            currency: "EUR".into(),
            session: "Opening night".into(),
            starts_at: "2027-03-01T19:00:00Z".into(),
            running_minutes: Some(150),
            order: "o_1".into(),
            amount: 12050,
            tickets: vec![Ticket { label: "A · row 1 · seat 2".into(), pass: "MQ1.gala.s1.o_1.A-1-2.sig".into() }],
            link: Some("https://tickets.example/p/gala/".into()),
        }
    }

    #[test]
    fn a_confirmation_carries_each_ticket_as_a_png_and_the_session_on_the_venue_s_clock() {
        let letter = confirmation(&details()).unwrap();
        assert!(letter.text.contains("Monday 1 March 2027, 20:00 (CET)"), "{}", letter.text);
        assert!(letter.text.contains("EUR 120.50"), "{}", letter.text);
        assert!(letter.text.contains("A · row 1 · seat 2 (ticket-1.png)"));
        let names: Vec<_> = letter.attachments.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(names, ["ticket-1.png", "event.ics"]);
        assert_eq!(&letter.attachments[0].bytes[..8], b"\x89PNG\r\n\x1a\n");
        let ics = String::from_utf8(letter.attachments[1].bytes.clone()).unwrap();
        assert!(ics.contains("DTSTART:20270301T190000Z") && ics.contains("DTEND:20270301T213000Z"), "{ics}");
    }

    #[test]
    fn amounts_are_written_in_the_currency_s_own_digits() {
        let won = Details { currency: "KRW".into(), ..details() };
        assert_eq!(won.money(45000), "KRW 45000");
        assert_eq!(details().money(5), "EUR 0.05");
        let refunded = refund(&Details { tickets: Vec::new(), ..details() }, 6025);
        assert!(refunded.text.starts_with("EUR 60.25 was paid back") && refunded.text.contains("No ticket"), "{}", refunded.text);
    }
}
