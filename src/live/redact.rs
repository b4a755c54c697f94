//! Making server-provided text safe to print in an error: one line, short, and with anything
//! that could be a credential blanked out, whether it is the client's own token or secret, a
//! Pinecone key secret (`pcsk_…`) or a JWT.

/// How much of a body an error message quotes.
const EXCERPT_CHARS: usize = 160;
/// The longest server-provided message kept in an error.
const MESSAGE_CHARS: usize = 300;

/// A short, printable, secret-free piece of a body.
pub(crate) fn excerpt_of(body: &[u8], redact: &[&str]) -> String {
    // Look at a bounded prefix only: the excerpt is short and the body may be megabytes.
    let prefix = &body[..body.len().min(EXCERPT_CHARS * 8)];
    let text = String::from_utf8_lossy(prefix);
    let mut excerpt = sanitise(&text, redact);
    if excerpt.chars().count() > EXCERPT_CHARS {
        excerpt = excerpt.chars().take(EXCERPT_CHARS).collect::<String>() + "…";
    }
    excerpt
}

pub(crate) fn sanitise_message(message: &str, redact: &[&str]) -> String {
    let mut message = sanitise(message, redact);
    if message.chars().count() > MESSAGE_CHARS {
        message = message.chars().take(MESSAGE_CHARS).collect::<String>() + "…";
    }
    message
}

/// Makes server-provided text safe to print: one line, whitespace collapsed, control characters
/// gone, and anything that could be a credential replaced by `[redacted]`: the strings in
/// `redact` (the client's own token and secret), Pinecone key secrets (`pcsk_…`) and JWTs.
pub(crate) fn sanitise(text: &str, redact: &[&str]) -> String {
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
}
