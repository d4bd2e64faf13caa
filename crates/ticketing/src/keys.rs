//! The names the inventory writes into the store and onto tickets, and reads back: one type
//! each, so writing and reading a name cannot drift apart. Section, goods and session ids are
//! identifiers (no `/` or `#`).

use std::fmt;

/// A pool of units in the claim store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pool<'a> {
    /// A section in one session: a numbered section's seats count in it too, so held and sold
    /// counts come from one place (`s/{session}/{section}`).
    Section { session: &'a str, section: &'a str },
    /// Goods, whose stock every session shares (`g/{goods}`).
    Goods(&'a str),
}

impl<'a> Pool<'a> {
    pub(crate) fn parse(key: &'a str) -> Option<Self> {
        if let Some(goods) = key.strip_prefix("g/") {
            return Some(Pool::Goods(goods));
        }
        let (session, section) = key.strip_prefix("s/")?.split_once('/')?;
        Some(Pool::Section { session, section })
    }
}

impl fmt::Display for Pool<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Pool::Section { session, section } => write!(f, "s/{session}/{section}"),
            Pool::Goods(goods) => write!(f, "g/{goods}"),
        }
    }
}

/// What one ticket of an order is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TicketName<'a> {
    /// A numbered seat, by its id (`R-3-12`).
    Seat(&'a str),
    /// The `n`th unit of a general-admission section (`S#2`).
    Unit { section: &'a str, n: u32 },
    /// The `n`th item of goods (`goods/SHIRT#1`).
    Goods { goods: &'a str, n: u32 },
}

impl<'a> TicketName<'a> {
    /// Reads a ticket's name; anything without a `#n` is a seat id, for the layout to check.
    pub(crate) fn parse(name: &'a str) -> Self {
        let numbered = |text: &'a str| text.rsplit_once('#').and_then(|(what, n)| Some((what, n.parse().ok()?)));
        match numbered(name) {
            Some((what, n)) => match what.strip_prefix("goods/") {
                Some(goods) => TicketName::Goods { goods, n },
                None => TicketName::Unit { section: what, n },
            },
            None => TicketName::Seat(name),
        }
    }
}

impl fmt::Display for TicketName<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TicketName::Seat(seat) => f.write_str(seat),
            TicketName::Unit { section, n } => write!(f, "{section}#{n}"),
            TicketName::Goods { goods, n } => write!(f, "goods/{goods}#{n}"),
        }
    }
}

/// A ticket as its buyer reads it: `R · row 3 · seat 12` for seat `R-3-12`, a section's or
/// goods' name for a unit of them.
pub fn ticket_label(name: &str) -> String {
    match TicketName::parse(name) {
        TicketName::Seat(seat) => match seat.rsplitn(3, '-').collect::<Vec<_>>()[..] {
            [number, row, section] => format!("{section} · row {row} · seat {number}"),
            _ => seat.to_string(),
        },
        TicketName::Unit { section, .. } => section.to_string(),
        TicketName::Goods { goods, .. } => goods.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ticket_reads_as_its_buyer_knows_it() {
        assert_eq!(ticket_label("R-3-12"), "R · row 3 · seat 12");
        assert_eq!(ticket_label("Floor#2"), "Floor");
        assert_eq!(ticket_label("goods/Poster#1"), "Poster");
    }

    #[test]
    fn names_read_back_as_written() {
        for pool in [Pool::Section { session: "s1", section: "A" }, Pool::Goods("SHIRT")] {
            assert_eq!(Pool::parse(&pool.to_string()), Some(pool));
        }
        assert_eq!(Pool::parse("R-1-1"), None);
        for ticket in [TicketName::Seat("R-3-12"), TicketName::Unit { section: "S", n: 2 }, TicketName::Goods { goods: "SHIRT", n: 1 }] {
            assert_eq!(TicketName::parse(&ticket.to_string()), ticket);
        }
        assert_eq!(TicketName::parse("S#x"), TicketName::Seat("S#x"));
    }
}
