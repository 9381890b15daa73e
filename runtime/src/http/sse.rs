//! Server-sent events (the WHATWG `text/event-stream` format): the
//! encoding of one event, and the headers a streamed SSE response carries.

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

#[cfg(test)]
mod tests {
    use super::*;

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
