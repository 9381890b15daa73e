//! Request ids: an incoming `x-request-id` is kept when it is well formed
//! (8 to 128 characters of `A–Z a–z 0–9 . _ : -`, so it is safe in logs and
//! headers); otherwise a new one is generated. Generated ids are 32 lowercase
//! hex characters from a per-isolate generator (wyrand) seeded once by the
//! adapter from the platform's random source. They identify requests; they
//! are not secrets.

/// Whether an incoming `x-request-id` is kept as is.
pub fn is_well_formed(id: &str) -> bool {
    (8..=128).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
}

/// Append `bytes` as lowercase hex (ids, span ids, digests: no `format!`
/// per byte on the request path).
pub fn push_hex(out: &mut String, bytes: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.reserve(2 * bytes.len());
    for b in bytes {
        out.push(HEX[usize::from(b >> 4)] as char);
        out.push(HEX[usize::from(b & 15)] as char);
    }
}

/// The request id generator; also the source of span ids (a
/// [`crate::ports::Random`] for identifiers, not for secrets).
#[derive(Debug, Clone)]
pub struct RequestIds {
    state: std::cell::Cell<u64>,
}

impl RequestIds {
    pub fn new(seed: u64) -> RequestIds {
        RequestIds {
            state: std::cell::Cell::new(seed),
        }
    }

    fn next_u64(&self) -> u64 {
        // wyrand
        let s = self.state.get().wrapping_add(0xa076_1d64_78bd_642f);
        self.state.set(s);
        let t = u128::from(s) * u128::from(s ^ 0xe703_7ed1_a0b4_28db);
        ((t >> 64) as u64) ^ (t as u64)
    }

    /// A fresh id: 32 lowercase hex characters.
    pub fn generate(&self) -> String {
        let mut s = String::with_capacity(32);
        for w in [self.next_u64(), self.next_u64()] {
            push_hex(&mut s, &w.to_be_bytes());
        }
        s
    }

    /// The id for a request: the incoming one if well formed, else a fresh one.
    pub fn for_request(&self, incoming: Option<&str>) -> String {
        match incoming {
            Some(id) if is_well_formed(id) => id.to_string(),
            _ => self.generate(),
        }
    }
}

impl crate::ports::Random for RequestIds {
    fn fill(&self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let w = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&w[..chunk.len()]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn well_formed_ids_are_kept() {
        let ids = RequestIds::new(1);
        for id in [
            "0123abcd",
            "6f1c2d3e-4b5a-4c6d-8e7f-0a1b2c3d4e5f",
            "trace:span.1_x",
            &"a".repeat(128),
        ] {
            assert_eq!(ids.for_request(Some(id)), id);
        }
    }

    #[test]
    fn malformed_ids_are_replaced() {
        let ids = RequestIds::new(1);
        for bad in [
            "",
            "short",
            "has space in it",
            "new\nline-injected",
            "quote\"123456",
            "ünicode-123",
            &"a".repeat(129),
        ] {
            let got = ids.for_request(Some(bad));
            assert_ne!(got, bad);
            assert_eq!(got.len(), 32);
            assert!(got.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
        }
    }

    #[test]
    fn a_generated_id_is_two_words_of_the_generator_in_hex() {
        let (ids, same) = (RequestIds::new(7), RequestIds::new(7));
        let (a, b) = (same.next_u64(), same.next_u64());
        assert_eq!(ids.generate(), format!("{a:016x}{b:016x}"));
        // As a random source: the next words, little-endian, a partial word cut short.
        let mut buf = [0u8; 12];
        crate::ports::Random::fill(&ids, &mut buf);
        let (c, d) = (same.next_u64().to_le_bytes(), same.next_u64().to_le_bytes());
        assert_eq!(buf[..8], c);
        assert_eq!(buf[8..], d[..4]);
    }

    #[test]
    fn generated_ids_do_not_repeat() {
        let ids = RequestIds::new(42);
        let set: std::collections::HashSet<String> = (0..10_000).map(|_| ids.generate()).collect();
        assert_eq!(set.len(), 10_000);
    }
}
