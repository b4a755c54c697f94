//! Making server-provided text safe to print in an error: one line, short, and with anything
//! that could be a credential blanked out, whether it is the client's own token or secret, a
//! Pinecone key secret (`pcsk_…`) or a JWT.

/// How much of a body an error message quotes.
const EXCERPT_CHARS: usize = 160;
/// The longest server-provided message kept in an error.
const MESSAGE_CHARS: usize = 300;
/// The most of any other server text (an id, a code, a header, a decoder's message) an error
/// quotes: far more than any real one needs, so only a flood is cut (an id or role of
/// megabytes would otherwise be repeated whole, in every message naming it).
const TEXT_CHARS: usize = 1000;

/// A short, printable, secret-free piece of a body.
pub(crate) fn excerpt_of(body: &[u8], redact: &[&str]) -> String {
    // Look at a bounded prefix only: the excerpt is short and the body may be megabytes.
    let prefix = &body[..body.len().min(EXCERPT_CHARS * 8)];
    let text = String::from_utf8_lossy(prefix);
    let mut excerpt = flatten(&text, redact);
    if excerpt.chars().count() > EXCERPT_CHARS {
        excerpt = excerpt.chars().take(EXCERPT_CHARS).collect::<String>() + "…";
    }
    excerpt
}

pub(crate) fn sanitise_message(message: &str, redact: &[&str]) -> String {
    let mut message = flatten(message, redact);
    if message.chars().count() > MESSAGE_CHARS {
        message = message.chars().take(MESSAGE_CHARS).collect::<String>() + "…";
    }
    message
}

/// Makes server-provided text safe to print: one line, whitespace collapsed, control characters
/// gone, anything that could be a credential replaced by `[redacted]` (the strings in `redact`,
/// the client's own token and secret; Pinecone key secrets, `pcsk_…`; JWTs), and at most
/// [`TEXT_CHARS`] characters of it kept, then `…(N more bytes)`.
pub(crate) fn sanitise(text: &str, redact: &[&str]) -> String {
    let mut text = flatten(text, redact);
    // Cut after redacting, so that no cut can split a credential and leave a piece of it.
    if let Some((cut, _)) = text.char_indices().nth(TEXT_CHARS) {
        let more = text.len() - cut;
        text.truncate(cut);
        text = format!("{text}…({more} more bytes)");
    }
    text
}

/// [`sanitise`] without the bound on length, for callers that cut the text themselves.
fn flatten(text: &str, redact: &[&str]) -> String {
    let mut text = text.to_owned();
    for secret in redact.iter().filter(|s| s.len() >= 4) {
        text = text.replace(secret, "[redacted]");
    }
    let mut out = String::with_capacity(text.len());
    for word in text.split(|c: char| c.is_whitespace() || c.is_control()) {
        if word.is_empty() {
            continue;
        }
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(&redact_word(word));
    }
    out
}

/// Blanks out the credential-shaped parts of one word.
fn redact_word(word: &str) -> String {
    let mut out = String::with_capacity(word.len());
    let mut rest = word;
    while !rest.is_empty() {
        // Split on characters that cannot be part of a secret or a token (quotes, brackets, ...).
        let end = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')))
            .unwrap_or(rest.len());
        let (token, tail) = rest.split_at(end);
        if looks_like_credential(token) {
            out.push_str("[redacted]");
        } else {
            out.push_str(token);
        }
        let mut chars = tail.chars();
        if let Some(c) = chars.next() {
            out.push(c);
        }
        rest = chars.as_str();
    }
    out
}

fn looks_like_credential(token: &str) -> bool {
    let lower = token.to_ascii_lowercase();
    lower.starts_with("pcsk_")
        || lower.starts_with("pckey_")
        || (token.starts_with("eyJ") && token.matches('.').count() >= 2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitising_blanks_credentials_and_flattens_text() {
        let text =
            "token eyJhbGciOi.eyJzdWIi.sig and \"pcsk_ab12_XYZ\"\n\tplus my-client-secret!\u{7}";
        assert_eq!(
            sanitise(text, &["my-client-secret"]),
            "token [redacted] and \"[redacted]\" plus [redacted]!"
        );
        assert_eq!(sanitise("pckey_1", &[]), "[redacted]");
        assert_eq!(sanitise("  plain   words ", &[]), "plain words");
        // Short strings are never redacted (an empty secret would blank everything).
        assert_eq!(sanitise("abc", &["", "ab"]), "abc");
    }

    #[test]
    fn sanitised_text_is_bounded_and_says_how_much_it_left_out() {
        let huge = "é".repeat(1 << 20);
        let text = sanitise(&huge, &[]);
        let more = (1 << 21) - 2 * TEXT_CHARS;
        assert_eq!(
            text,
            format!("{}…({more} more bytes)", "é".repeat(TEXT_CHARS))
        );
        let exact = "x".repeat(TEXT_CHARS);
        assert_eq!(sanitise(&exact, &[]), exact);
    }
}
