//! What a chat request must pass before any model sees it: message count
//! and roles, the tenant's `safety max-input-chars`, its `blocked-terms`
//! (refused with `blocked_content`, matched case-insensitively), and
//! `pii-redaction` (e-mail addresses and phone numbers replaced before the
//! text is stored or sent).

use crate::ai::Message;
use crate::app::envelope::{ErrorCode, Failure};
use crate::http::body::Detail;
use crate::tenants::SafetyConfig;

/// Most messages one request may carry.
pub const MAX_MESSAGES: usize = 256;

/// Check the messages and apply the tenant's redaction.
pub fn prepare(messages: Vec<Message>, safety: &SafetyConfig) -> Result<Vec<Message>, Failure> {
    let mut errs = Vec::new();
    if messages.is_empty() || messages.len() > MAX_MESSAGES {
        errs.push(Detail::at("/messages", format!("between 1 and {MAX_MESSAGES} messages")));
    }
    for (i, m) in messages.iter().enumerate() {
        if !matches!(m.role.as_str(), "system" | "user" | "assistant") {
            errs.push(Detail::at(format!("/messages/{i}/role"), "one of `system`, `user`, `assistant`"));
        }
    }
    if messages.last().is_some_and(|m| m.role != "user") {
        errs.push(Detail::at(
            format!("/messages/{}/role", messages.len() - 1),
            "the last message must be the user's",
        ));
    }
    if !errs.is_empty() {
        return Err(Failure::new(ErrorCode::InvalidRequest, "the messages do not form a chat request").with_details(errs));
    }
    let chars: usize = messages.iter().map(|m| m.content.chars().count()).sum();
    if chars > safety.max_input_chars as usize {
        return Err(Failure::new(
            ErrorCode::InputTooLong,
            format!(
                "the messages have {chars} characters; this tenant accepts at most {}",
                safety.max_input_chars
            ),
        ));
    }
    for m in &messages {
        let lower = m.content.to_lowercase();
        if let Some(t) = safety.blocked_terms.iter().find(|t| lower.contains(&t.to_lowercase())) {
            return Err(
                Failure::new(ErrorCode::BlockedContent, "the messages contain a term this tenant does not accept")
                    .with_log_detail(format!("blocked term `{t}`")),
            );
        }
    }
    Ok(if safety.pii_redaction {
        messages
            .into_iter()
            .map(|m| Message {
                role: m.role,
                content: redact(&m.content),
            })
            .collect()
    } else {
        messages
    })
}

fn is_local(c: char) -> bool {
    c.is_ascii_alphanumeric() || "._%+-".contains(c)
}

fn is_domain(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '-' || c == '.'
}

/// Replace e-mail addresses with `[email]` and phone numbers (7–15 digits,
/// with spaces, dots, dashes, parentheses and a leading `+`) with `[phone]`.
pub fn redact(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        if let Some(end) = email_at(&chars, i) {
            out.push_str("[email]");
            i = end;
        } else if let Some(end) = phone_at(&chars, i) {
            out.push_str("[phone]");
            i = end;
        } else {
            out.push(chars[i]);
            i += 1;
        }
    }
    out
}

/// The e-mail addresses and phone numbers of a text, as `(kind, start,
/// end)` in characters (`kind`: `email` or `phone`), in order; the same
/// rules as [`redact`].
pub fn pii_spans(text: &str) -> Vec<(&'static str, usize, usize)> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        if let Some(end) = email_at(&chars, i) {
            out.push(("email", i, end));
            i = end;
        } else if let Some(end) = phone_at(&chars, i) {
            out.push(("phone", i, end));
            i = end;
        } else {
            i += 1;
        }
    }
    out
}

/// An e-mail address starting at `i` (at a word start): its end.
fn email_at(c: &[char], i: usize) -> Option<usize> {
    if !is_local(c[i]) || (i > 0 && is_local(c[i - 1])) {
        return None;
    }
    let mut j = i;
    while j < c.len() && is_local(c[j]) {
        j += 1;
    }
    if j == i || c.get(j) != Some(&'@') {
        return None;
    }
    let start = j + 1;
    let mut k = start;
    while k < c.len() && is_domain(c[k]) {
        k += 1;
    }
    while k > start && c[k - 1] == '.' {
        k -= 1;
    }
    let domain: String = c[start..k].iter().collect();
    let labels: Vec<&str> = domain.split('.').collect();
    (labels.len() >= 2
        && labels.iter().all(|l| !l.is_empty())
        && labels
            .last()
            .is_some_and(|t| t.len() >= 2 && t.chars().all(|x| x.is_ascii_alphabetic())))
    .then_some(k)
}

/// A phone number starting at `i`: its end.
fn phone_at(c: &[char], i: usize) -> Option<usize> {
    if !(c[i] == '+' || c[i] == '(' || c[i].is_ascii_digit()) || (i > 0 && (c[i - 1].is_ascii_alphanumeric() || c[i - 1] == '+')) {
        return None;
    }
    let mut j = i;
    let mut digits = 0;
    let mut last_digit = i;
    while j < c.len() {
        let ch = c[j];
        if ch.is_ascii_digit() {
            digits += 1;
            last_digit = j;
        } else if !(ch == ' ' || ch == '-' || ch == '.' || ch == '(' || ch == ')' || (ch == '+' && j == i)) {
            break;
        }
        // Two separators in a row end the number, unless one is a parenthesis.
        let paren = |x: char| x == '(' || x == ')';
        if j > i && !ch.is_ascii_digit() && !c[j - 1].is_ascii_digit() && !paren(ch) && !paren(c[j - 1]) {
            break;
        }
        j += 1;
    }
    let end = last_digit + 1;
    let next_is_word = c.get(end).is_some_and(|x| x.is_ascii_alphanumeric());
    let text: String = c[i..end].iter().collect();
    let is_date = text.len() == 10
        && text
            .char_indices()
            .all(|(k, ch)| if k == 4 || k == 7 { ch == '-' } else { ch.is_ascii_digit() });
    ((7..=15).contains(&digits) && !next_is_word && !is_date).then_some(end)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn safety(max: u32, pii: bool, blocked: &'static [&'static str]) -> SafetyConfig {
        SafetyConfig {
            max_input_chars: max,
            pii_redaction: pii,
            blocked_terms: blocked,
        }
    }

    fn msg(role: &str, c: &str) -> Message {
        Message {
            role: role.into(),
            content: c.into(),
        }
    }

    #[test]
    fn redacts_emails_and_phone_numbers_only() {
        assert_eq!(
            redact("Mail jane.doe+x@mail.example.co.uk or call +1 (555) 123-4567 today."),
            "Mail [email] or call [phone] today."
        );
        assert_eq!(
            redact("ring 020 7946 0958, not 2026-12-05 or v1.2.3"),
            "ring [phone], not 2026-12-05 or v1.2.3"
        );
        for keep in ["user@localhost", "a@b", "order 12345", "x@y.z1", "café", "100 000 km"] {
            assert_eq!(redact(keep), keep);
        }
    }

    #[test]
    fn checks_roles_length_and_blocked_terms() {
        let s = safety(10, false, &["Internal-Only"]);
        let e = prepare(vec![msg("user", "hi"), msg("tool", "x"), msg("assistant", "y")], &s).unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidRequest);
        assert_eq!(e.details.len(), 2);
        assert_eq!(prepare(vec![], &s).unwrap_err().code, ErrorCode::InvalidRequest);
        assert_eq!(
            prepare(vec![msg("user", "0123456789x")], &s).unwrap_err().code,
            ErrorCode::InputTooLong
        );
        let blocked = safety(100, false, &["Internal-Only"]);
        assert_eq!(
            prepare(vec![msg("user", "say INTERNAL-only")], &blocked).unwrap_err().code,
            ErrorCode::BlockedContent
        );
        let ok = prepare(vec![msg("user", "a@b.io")], &safety(100, true, &[])).unwrap();
        assert_eq!(ok[0].content, "[email]");
    }
}
