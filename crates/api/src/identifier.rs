//! Every kind of name the platform accepts, each with its one rule, checked in one place.

use std::ops::RangeInclusive;

/// A kind of name, and so its rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Identifier {
    /// A performance's namespace: a DNS label, like a Kubernetes namespace (1-63 lower-case
    /// letters, digits or `-`, not at either end).
    Namespace,
    /// An admin's template: 1-40 lower-case letters, digits or `-`.
    Template,
    /// An uploaded component's name or version: 1-64 letters, digits, `-`, `_` or `.`.
    Label,
    /// A name inside a performance (a session, a section, goods): 1 to the given number of
    /// letters, digits or `_`.
    Key(usize),
    /// A presale code: 4-64 letters, digits, `_` or `-`.
    Code,
}

impl Identifier {
    /// Whether `text` is a name of this kind.
    pub fn accepts(self, text: &str) -> bool {
        let lower = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-';
        let (lengths, allowed, dash_inside): (RangeInclusive<usize>, &dyn Fn(u8) -> bool, bool) = match self {
            Self::Namespace => (1..=63, &lower, true),
            Self::Template => (1..=40, &lower, false),
            Self::Label => (1..=64, &|b: u8| b.is_ascii_alphanumeric() || b"-_.".contains(&b), false),
            Self::Key(max) => (1..=max, &|b: u8| b.is_ascii_alphanumeric() || b == b'_', false),
            Self::Code => (4..=64, &|b: u8| b.is_ascii_alphanumeric() || b == b'_' || b == b'-', false),
        };
        lengths.contains(&text.len()) && text.bytes().all(allowed) && !(dash_inside && (text.starts_with('-') || text.ends_with('-')))
    }
}

#[cfg(test)]
mod tests {
    use super::Identifier::{self, *};

    #[test]
    fn each_kind_accepts_its_names_and_nothing_else() {
        let long = |n: usize| "a".repeat(n);
        let cases: [(Identifier, &[&str], &[&str]); 5] = [
            (Namespace, &["gala", "spring-gala-2027", &long(63)], &["", "-gala", "gala-", "Gala", "gala_2", "gala.x", &long(64)]),
            (Template, &["seated", "my-house", "-odd-", &long(40)], &["", "House", "my_house", &long(41)]),
            (Label, &["hall", "1.0.0", "my_page-v2", &long(64)], &["", "a b", "x/y", &long(65)]),
            (Key(16), &["s1", "VIP_1", &long(16)], &["", "vip-1", "a.b", &long(17)]),
            (Code, &["EARLY", "early-bird_26", &long(64)], &["", "abc", "no space", &long(65)]),
        ];
        for (kind, good, bad) in cases {
            for text in good {
                assert!(kind.accepts(text), "{kind:?} refused {text:?}");
            }
            for text in bad {
                assert!(!kind.accepts(text), "{kind:?} accepted {text:?}");
            }
        }
    }
}
