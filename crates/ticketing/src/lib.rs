//! Ticketing: templates (data: components by role, routes, limits) and the params a seller
//! deploys with; a performance's inventory and checkout over a claim store; signed ticket
//! codes; payments behind a provider trait.

pub mod templates;
mod inventory;
mod keys;
mod notice;
pub mod queue;
mod pass;
mod payments;
mod sale;

pub use inventory::{Commerce, Counted, Inventory, Presented, Sales, Scan, SessionSales, TicketSigner, replay};
pub use keys::ticket_label;
pub use notice::{Kind, MAIL, Notice, reminder_due};
pub use pass::{Pass, PassKey};
pub use payments::{Charge, PaymentProvider, Payments, REFUNDS, TestProvider};
pub use sale::{Claim, HoldReceipt, Holder, Order, Quantity, SaleError, SectionAvailability, SessionAvailability, Ticket};
