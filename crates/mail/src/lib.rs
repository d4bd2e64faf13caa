//! Mail to buyers. The platform puts a [`marquee_ticketing::Notice`] in the store's outbox in the same request
//! that caused it (an order confirmed, a refund); a [`Postman`] claims what is due, writes
//! each letter from what is true then, and sends it to the configured SMTP relay, retrying
//! with backoff while the relay is slow or down. Nothing waits for mail, and no mail is lost
//! while a relay is away: it stays in the outbox.

mod letter;
mod postman;

pub use letter::{Attachment, Details, Letter, Ticket, confirmation, refund, reminder};
pub use postman::{Author, Postman, Relay};
