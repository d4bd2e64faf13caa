//! A ticket's pass: the text of its QR code, which alone identifies and proves the ticket.
//!
//! `MQ1.{namespace}.{session}.{order}.{ticket}.{signature}`. No name in it has a `.` (each is
//! made of letters, digits, `_`, `-`, `#` or `/`), and the signature is Ed25519 over everything
//! before it, by the key of the performance's deployment. A door can so check a pass without
//! the platform, with the performance's public key; a performance deployed again under the
//! same name has another key, so its predecessor's passes admit nobody.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::inventory::TicketSigner;

/// What every pass starts with: its format and version.
const VERSION: &str = "MQ1";

/// What a pass names: one ticket of one order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pass {
    /// The performance.
    pub namespace: String,
    /// The session the ticket admits to.
    pub session: String,
    /// The order.
    pub order: String,
    /// The ticket's name in the order (a seat, a unit, goods).
    pub ticket: String,
}

impl Pass {
    /// The text the signature covers.
    fn signed(&self) -> String {
        format!("{VERSION}.{}.{}.{}.{}", self.namespace, self.session, self.order, self.ticket)
    }

    /// A pass's names and signature, if the text has a pass's shape.
    fn parse(text: &str) -> Option<(Self, Signature)> {
        let mut parts = text.trim().split('.');
        let (version, namespace, session, order, ticket, signature) =
            (parts.next()?, parts.next()?, parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        if version != VERSION || parts.next().is_some() || [namespace, session, order, ticket].iter().any(|p| p.is_empty()) {
            return None;
        }
        let signature: [u8; 64] = URL_SAFE_NO_PAD.decode(signature).ok()?.try_into().ok()?;
        let pass = Self { namespace: namespace.into(), session: session.into(), order: order.into(), ticket: ticket.into() };
        Some((pass, Signature::from_bytes(&signature)))
    }
}

/// The key a deployment signs its passes with.
#[derive(Clone)]
pub struct PassKey(SigningKey);

impl PassKey {
    /// The pass of a ticket, as its QR code carries it.
    pub fn write(&self, pass: &Pass) -> String {
        let signed = pass.signed();
        let signature = self.0.sign(signed.as_bytes());
        format!("{signed}.{}", URL_SAFE_NO_PAD.encode(signature.to_bytes()))
    }

    /// The ticket a pass names, if this key signed it.
    pub fn read(&self, text: &str) -> Option<Pass> {
        let (pass, signature) = Pass::parse(text)?;
        self.0.verifying_key().verify_strict(pass.signed().as_bytes(), &signature).ok()?;
        Some(pass)
    }

    /// The public key that checks these passes, base64url: what a door needs to check them
    /// offline.
    pub fn public(&self) -> String {
        URL_SAFE_NO_PAD.encode(VerifyingKey::from(&self.0).to_bytes())
    }
}

impl TicketSigner {
    /// The pass key of a deployment: derived from the platform's ticket secret, so every
    /// process of a platform has it and none stores it.
    pub fn pass_key(&self, deployment: &str) -> PassKey {
        let mut mac = Hmac::<Sha256>::new_from_slice(self.secret()).expect("HMAC takes any key length");
        mac.update(b"marquee ticket pass\0");
        mac.update(deployment.as_bytes());
        PassKey(SigningKey::from_bytes(&mac.finalize().into_bytes().into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pass() -> Pass {
        Pass { namespace: "gala".into(), session: "s1".into(), order: "o_0123456789ab".into(), ticket: "goods/SHIRT#1".into() }
    }

    #[test]
    fn a_pass_reads_back_with_its_deployments_key_only() {
        let signer = TicketSigner::new(b"platform secret".to_vec());
        let key = signer.pass_key("d1");
        let text = key.write(&pass());
        assert!(text.starts_with("MQ1.gala.s1.o_0123456789ab.goods/SHIRT#1."), "{text}");
        assert_eq!(key.read(&text), Some(pass()));
        assert_eq!(key.read(&format!(" {text}\n")), Some(pass()), "a scanner's whitespace is not part of it");
        assert_eq!(signer.pass_key("d2").read(&text), None, "another deployment of the name");
        assert_eq!(TicketSigner::new(b"another".to_vec()).pass_key("d1").read(&text), None, "another platform");
        assert_eq!(signer.pass_key("d1").public(), key.public(), "every process derives the same key");
    }

    #[test]
    fn an_altered_or_malformed_pass_is_refused() {
        let key = TicketSigner::new(b"platform secret".to_vec()).pass_key("d1");
        let text = key.write(&pass());
        let other_seat = text.replace("SHIRT#1", "SHIRT#2");
        let (signed, signature) = text.rsplit_once('.').unwrap();
        for bad in [
            other_seat.as_str(),
            signed,
            &format!("MQ2{}", &text[3..]),
            &format!("{signed}.{signature}.x"),
            &format!("{signed}.AAAA"),
            &format!("{signed}.{}", "A".repeat(86)),
            "MQ1.gala..o.R-1-1.xyz",
            "",
            "order o_1, seat R-1-1",
        ] {
            assert_eq!(key.read(bad), None, "{bad:?}");
        }
    }
}
