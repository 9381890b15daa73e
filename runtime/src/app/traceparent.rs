//! W3C Trace Context (`traceparent: 00-<trace-id>-<parent-id>-<flags>`).
//!
//! A request's trace id is the caller's when it sends a valid
//! `traceparent`, else its request id (32 lowercase hex characters, the
//! same shape), else a random one. The Worker's own span id is new per
//! request. The response carries the Worker's `traceparent`; the log line
//! carries `trace_id`; every model call carries it to the provider (the
//! `traceparent` header, and the gateway's metadata).

use crate::ports::Random;

/// This request's place in a trace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceContext {
    pub trace_id: String,
    pub span_id: String,
    /// The caller's sampled flag (`01` when the caller sent none).
    pub flags: String,
}

fn hex(s: &str, n: usize) -> bool {
    s.len() == n && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) && s.bytes().any(|b| b != b'0')
}

/// `(trace-id, parent-id, flags)` of a valid version-00 header (later
/// versions: the first four fields, as the spec asks).
pub fn parse(h: &str) -> Option<(String, String, String)> {
    let p: Vec<&str> = h.trim().split('-').collect();
    if p.len() < 4 || p[0].len() != 2 || p[0] == "ff" || !p[0].bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    if p[0] == "00" && p.len() != 4 {
        return None;
    }
    let flags_ok = p[3].len() == 2 && p[3].bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    (hex(p[1], 32) && hex(p[2], 16) && flags_ok).then(|| (p[1].to_string(), p[2].to_string(), p[3].to_string()))
}

/// `bytes` (at most 16) random bytes as lowercase hex, never all zero.
fn random_hex(random: &dyn Random, bytes: usize) -> String {
    let mut b = [0u8; 16];
    let b = &mut b[..bytes];
    loop {
        random.fill(b);
        if b.iter().any(|x| *x != 0) {
            break;
        }
    }
    let mut h = String::new();
    super::request_id::push_hex(&mut h, b);
    h
}

impl TraceContext {
    pub fn for_request(incoming: Option<&str>, request_id: &str, random: &dyn Random) -> TraceContext {
        let span_id = random_hex(random, 8);
        if let Some((trace_id, _, flags)) = incoming.and_then(parse) {
            return TraceContext { trace_id, span_id, flags };
        }
        let trace_id = if hex(request_id, 32) {
            request_id.to_string()
        } else {
            random_hex(random, 16)
        };
        TraceContext {
            trace_id,
            span_id,
            flags: "01".into(),
        }
    }

    /// The `traceparent` header of this request's span.
    pub fn header(&self) -> String {
        let mut h = String::with_capacity(55);
        for part in ["00", &self.trace_id, &self.span_id, &self.flags] {
            if !h.is_empty() {
                h.push('-');
            }
            h.push_str(part);
        }
        h
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Seq(std::cell::Cell<u8>);
    impl Random for Seq {
        fn fill(&self, buf: &mut [u8]) {
            for b in buf {
                self.0.set(self.0.get().wrapping_add(1));
                *b = self.0.get();
            }
        }
    }

    #[test]
    fn a_valid_traceparent_keeps_its_trace_and_flags_with_a_new_span() {
        let r = Seq(std::cell::Cell::new(0));
        let t = TraceContext::for_request(Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"), "x", &r);
        assert_eq!(t.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(t.flags, "00");
        assert_eq!(t.span_id, "0102030405060708");
        assert_eq!(t.header(), "00-4bf92f3577b34da6a3ce929d0e0e4736-0102030405060708-00");
    }

    #[test]
    fn without_one_the_request_id_is_the_trace_id() {
        let r = Seq(std::cell::Cell::new(0));
        let id = "0af7651916cd43dd8448eb211c80319c";
        for bad in [
            None,
            Some("garbage"),
            Some("00-00000000000000000000000000000000-00f067aa0ba902b7-01"),
            Some("00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01"),
            Some("ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
            Some("00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01"),
            Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra"),
        ] {
            let t = TraceContext::for_request(bad, id, &r);
            assert_eq!((t.trace_id.as_str(), t.flags.as_str()), (id, "01"), "{bad:?}");
        }
        // A later version is read by its first four fields.
        assert!(parse("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what").is_some());
        // A request id of another shape: a random trace id.
        let t = TraceContext::for_request(None, "client-chosen-id", &r);
        assert_eq!(t.trace_id.len(), 32);
    }
}
