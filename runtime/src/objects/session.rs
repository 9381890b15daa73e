//! A chat session's message log, capped at the tenant's `max-messages`
//! (oldest dropped first).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    pub role: String,
    pub content: String,
}

/// An append request: the message and the cap to keep.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Append {
    pub message: Message,
    pub max_messages: u32,
}

/// Append and trim to the cap; returns how many were dropped.
pub fn append(log: &mut Vec<Message>, a: Append) -> usize {
    log.push(a.message);
    let cap = a.max_messages.max(1) as usize;
    let drop = log.len().saturating_sub(cap);
    log.drain(..drop);
    drop
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(c: &str) -> Message {
        Message {
            role: "user".into(),
            content: c.into(),
        }
    }

    #[test]
    fn keeps_the_newest_max_messages() {
        let mut log = vec![];
        for i in 0..5 {
            append(
                &mut log,
                Append {
                    message: m(&i.to_string()),
                    max_messages: 3,
                },
            );
        }
        assert_eq!(log.iter().map(|x| x.content.as_str()).collect::<Vec<_>>(), ["2", "3", "4"]);
    }
}
