//! Server-sent events (the WHATWG `text/event-stream` format): the
//! encoding of one event, the headers a streamed SSE response carries, and
//! an incremental [`Decoder`] for upstream streams.
//!
//! Decoder invariants: bytes may arrive split anywhere (inside a line,
//! inside a UTF-8 character, between `\r` and `\n`); lines end with `\n`,
//! `\r\n` or `\r`; comment lines (`:`) and unknown fields are ignored; an
//! event is dispatched at a blank line, its `data` lines joined with `\n`;
//! a line longer than the decoder's cap is an error, not unbounded memory.

/// The `content-type` of an SSE stream.
pub const CONTENT_TYPE: &str = "text/event-stream; charset=utf-8";

/// One event. `data` may span lines; each becomes its own `data:` line.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Event<'a> {
    pub event: Option<&'a str>,
    pub id: Option<&'a str>,
    pub data: &'a str,
}

/// Strip CR and LF from a single-line field (`event`, `id`): a newline
/// there would start a new field.
fn one_line(s: &str) -> impl Iterator<Item = char> + '_ {
    s.chars().filter(|c| *c != '\n' && *c != '\r')
}

impl Event<'_> {
    /// The bytes of this event, ending with the blank line.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = String::with_capacity(self.data.len() + 16);
        if let Some(e) = self.event {
            out.push_str("event: ");
            out.extend(one_line(e));
            out.push('\n');
        }
        if let Some(id) = self.id {
            out.push_str("id: ");
            out.extend(one_line(id));
            out.push('\n');
        }
        // `\r\n`, `\r` and `\n` all end a line in SSE.
        let normalised = self.data.replace("\r\n", "\n").replace('\r', "\n");
        for line in normalised.split('\n') {
            out.push_str("data: ");
            out.push_str(line);
            out.push('\n');
        }
        out.push('\n');
        out.into_bytes()
    }
}

/// A comment line (`: …`), which clients ignore: used as a keep-alive.
pub fn comment(text: &str) -> Vec<u8> {
    let mut out = String::from(": ");
    out.extend(one_line(text));
    out.push_str("\n\n");
    out.into_bytes()
}

/// One decoded event.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Decoded {
    pub event: Option<String>,
    pub data: String,
}

/// A line (or an event's data) over this many bytes ends the stream.
pub const MAX_LINE: usize = 1 << 20;

/// Incremental SSE decoder: feed bytes as they arrive, take the events
/// completed so far.
#[derive(Debug, Default)]
pub struct Decoder {
    line: Vec<u8>,
    /// The previous byte was `\r` (a following `\n` belongs to it).
    after_cr: bool,
    data: Option<String>,
    event: Option<String>,
}

impl Decoder {
    pub fn new() -> Decoder {
        Decoder::default()
    }

    /// Feed bytes; returns the events they completed.
    pub fn feed(&mut self, bytes: &[u8]) -> Result<Vec<Decoded>, String> {
        let mut out = Vec::new();
        for &b in bytes {
            if self.after_cr {
                self.after_cr = false;
                if b == b'\n' {
                    continue;
                }
            }
            match b {
                b'\n' | b'\r' => {
                    self.after_cr = b == b'\r';
                    let line = std::mem::take(&mut self.line);
                    if let Some(e) = self.line_done(&line)? {
                        out.push(e);
                    }
                }
                _ => {
                    if self.line.len() >= MAX_LINE {
                        return Err(format!("an event-stream line is longer than {MAX_LINE} bytes"));
                    }
                    self.line.push(b);
                }
            }
        }
        Ok(out)
    }

    /// Whether bytes of an unfinished line or event are pending.
    pub fn pending(&self) -> bool {
        !self.line.is_empty() || self.data.is_some()
    }

    fn line_done(&mut self, line: &[u8]) -> Result<Option<Decoded>, String> {
        if line.is_empty() {
            return Ok(self.data.take().map(|data| Decoded {
                event: self.event.take(),
                data,
            }));
        }
        if line[0] == b':' {
            return Ok(None);
        }
        let line = std::str::from_utf8(line).map_err(|_| "an event-stream line is not UTF-8".to_string())?;
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (line, ""),
        };
        match field {
            "data" => match &mut self.data {
                None => self.data = Some(value.to_string()),
                Some(d) => {
                    if d.len() + value.len() >= MAX_LINE {
                        return Err(format!("an event's data is longer than {MAX_LINE} bytes"));
                    }
                    d.push('\n');
                    d.push_str(value);
                }
            },
            "event" => self.event = Some(value.to_string()),
            _ => {}
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(parts: &[&[u8]]) -> Vec<Decoded> {
        let mut d = Decoder::new();
        let mut out = vec![];
        for p in parts {
            out.extend(d.feed(p).unwrap());
        }
        out
    }

    #[test]
    fn decodes_events_split_anywhere() {
        let text = "data: {\"a\":\"caf\u{e9}\"}\n\n: keep-alive\n\n:\n\nevent: x\r\ndata: 1\r\ndata:2\r\n\r\ndata: [DONE]\n\n";
        let bytes = text.as_bytes();
        let whole = all(&[bytes]);
        assert_eq!(
            whole,
            vec![
                Decoded {
                    event: None,
                    data: "{\"a\":\"caf\u{e9}\"}".into()
                },
                Decoded {
                    event: Some("x".into()),
                    data: "1\n2".into()
                },
                Decoded {
                    event: None,
                    data: "[DONE]".into()
                },
            ]
        );
        // Every split point, including inside `é` and between \r and \n.
        for i in 0..bytes.len() {
            assert_eq!(all(&[&bytes[..i], &bytes[i..]]), whole, "split at {i}");
        }
        let singles: Vec<&[u8]> = bytes.chunks(1).collect();
        assert_eq!(all(&singles), whole);
    }

    #[test]
    fn bare_cr_ends_lines_and_empty_data_is_an_event() {
        assert_eq!(
            all(&[b"data: a\r\rdata:\n\n"]),
            vec![
                Decoded {
                    event: None,
                    data: "a".into()
                },
                Decoded {
                    event: None,
                    data: "".into()
                },
            ]
        );
    }

    #[test]
    fn overlong_lines_and_bad_utf8_are_errors() {
        let mut d = Decoder::new();
        assert!(d.feed(&vec![b'x'; MAX_LINE + 1]).is_err());
        assert!(Decoder::new().feed(b"data: \xff\n\n").is_err());
    }

    #[test]
    fn multi_line_data_and_fields() {
        let e = Event {
            event: Some("tick\nx"),
            id: Some("7"),
            data: "a\r\nb\rc",
        };
        assert_eq!(
            String::from_utf8(e.encode()).unwrap(),
            "event: tickx\nid: 7\ndata: a\ndata: b\ndata: c\n\n"
        );
        assert_eq!(
            String::from_utf8(
                Event {
                    data: "{}",
                    ..Event::default()
                }
                .encode()
            )
            .unwrap(),
            "data: {}\n\n"
        );
        assert_eq!(comment("keep\nalive"), b": keepalive\n\n");
    }
}
