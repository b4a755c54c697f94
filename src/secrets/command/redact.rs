//! What of a failing command's stderr keyplan shows: its last lines, with no run of 8 or more
//! characters of the secret left in them.

use std::collections::HashSet;

/// The shortest piece of a secret that is redacted wherever it appears in the command's
/// stderr: long enough that text of the tool's own does not match by chance.
pub(super) const REDACTED_RUN: usize = 8;
/// How many of the last lines of stderr an error message shows.
const LINES_SHOWN: usize = 20;
/// And at most this many bytes of them.
const BYTES_SHOWN: usize = 2000;
const MARKER: &str = "[redacted]";

/// The end of the command's stderr as text: every copy of the secret or of part of it
/// replaced (see [`redact`]), then cut to its last lines. Redaction comes first, on all that
/// was kept, so a cut can never leave part of a secret behind.
pub(super) fn redact_and_shorten(stderr: &[u8], secret: Option<&str>) -> String {
    let text = String::from_utf8_lossy(stderr);
    let text = match secret {
        Some(secret) => redact(&text, secret),
        None => text.into_owned(),
    };
    let text = text.trim();
    let lines: Vec<&str> = text.lines().collect();
    let skipped_lines = lines.len().saturating_sub(LINES_SHOWN);
    let mut shown = lines[skipped_lines..].join("\n");
    let mut cut = skipped_lines > 0;
    if shown.len() > BYTES_SHOWN {
        let mut start = shown.len() - BYTES_SHOWN;
        while !shown.is_char_boundary(start) {
            start += 1;
        }
        // Never start inside the marker: show it whole or not at all.
        if let Some(at) = shown[..start].rfind(MARKER)
            && at + MARKER.len() > start
        {
            start = at;
        }
        shown = shown.split_off(start);
        cut = true;
    }
    if cut { format!("…{shown}") } else { shown }
}

/// `text` with `[redacted]` in place of every run of [`REDACTED_RUN`] or more characters of
/// `secret` (or of the whole secret, when it is shorter), whitespace ignored on both sides.
/// Tools rarely echo a secret whole: they cut it to a width, print it in parts, or wrap it over
/// lines, and each piece is still most of a secret.
pub(super) fn redact(text: &str, secret: &str) -> String {
    let needle: Vec<char> = secret.chars().filter(|c| !c.is_whitespace()).collect();
    if needle.is_empty() {
        return text.to_owned();
    }
    let run = needle.len().min(REDACTED_RUN);
    // Every run longer than `run` is a chain of overlapping runs of exactly `run`: looking
    // those up finds them all, in time linear in the text.
    let pieces: HashSet<&[char]> = needle.windows(run).collect();
    // The text without whitespace, each character with its byte offset in `text`.
    let (offsets, chars): (Vec<usize>, Vec<char>) = text
        .char_indices()
        .filter(|(_, c)| !c.is_whitespace())
        .unzip();
    let mut covered = vec![false; chars.len()];
    for (start, window) in chars.windows(run).enumerate() {
        if pieces.contains(window) {
            covered[start..start + run].fill(true);
        }
    }
    let mut redacted = String::with_capacity(text.len());
    let mut copied = 0;
    let mut i = 0;
    while i < chars.len() {
        if !covered[i] {
            i += 1;
            continue;
        }
        let mut last = i;
        while covered.get(last + 1) == Some(&true) {
            last += 1;
        }
        // The whitespace inside a copy (a line break where it wrapped) goes with it.
        redacted.push_str(&text[copied..offsets[i]]);
        redacted.push_str(MARKER);
        copied = offsets[last] + chars[last].len_utf8();
        i = last + 1;
    }
    redacted.push_str(&text[copied..]);
    redacted
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether any run of 8 characters of `secret` is in `text`, whitespace ignored.
    fn holds_a_run(text: &str, secret: &str) -> bool {
        let text: String = text.chars().filter(|c| !c.is_whitespace()).collect();
        let secret: Vec<char> = secret.chars().collect();
        secret
            .windows(REDACTED_RUN)
            .any(|w| text.contains(&w.iter().collect::<String>()))
    }

    #[test]
    fn redaction_comes_before_shortening() {
        let secret = "pcsk_topsecret";
        let mut stderr = "x".repeat(BYTES_SHOWN - 5).into_bytes();
        stderr.extend_from_slice(b"pcsk_topsecret and more");
        let shown = redact_and_shorten(&stderr, Some(secret));
        assert!(!shown.contains("pcsk_"), "{shown}");
        assert!(shown.starts_with('…'), "{shown}");
        assert!(shown.ends_with("[redacted] and more"), "{shown}");
        assert_eq!(
            redact_and_shorten(b"bad token pcsk_topsecret\n", Some(secret)),
            "bad token [redacted]"
        );
    }

    #[test]
    fn only_the_last_lines_are_shown() {
        let stderr = (1..=100)
            .map(|n| format!("line {n}"))
            .collect::<Vec<_>>()
            .join("\n");
        let shown = redact_and_shorten(stderr.as_bytes(), None);
        assert!(shown.starts_with("…line 81\n"), "{shown}");
        assert!(shown.ends_with("line 100"), "{shown}");
    }

    #[test]
    fn pieces_and_wrapped_copies_of_the_secret_are_redacted() {
        let secret = "pcsk_4Jd8sKq2LmZx9TvW0bNc7YpQ";
        for (stderr, shown) in [
            // Cut to a width, with an ellipsis.
            (
                "invalid value 'pcsk_4Jd8sKq2L…'",
                "invalid value '[redacted]…'",
            ),
            // In two halves, each of them most of the secret.
            (
                "got pcsk_4Jd8sKq2Lm and Zx9TvW0bNc7YpQ",
                "got [redacted] and [redacted]",
            ),
            // Wrapped over lines, indented: one copy, line breaks and all.
            (
                "token:\n  pcsk_4Jd8sK\n  q2LmZx9TvW\n  0bNc7YpQ\ndone",
                "token:\n  [redacted]\ndone",
            ),
            // Text sharing less than 8 characters with the secret stays.
            ("pcsk_ keys: 2LmZx9T", "pcsk_ keys: 2LmZx9T"),
        ] {
            assert_eq!(redact(stderr, secret), shown, "{stderr}");
            assert!(!holds_a_run(&redact(stderr, secret), secret));
        }
        // A secret shorter than a piece is redacted whole, and only whole.
        assert_eq!(
            redact("a b-c abc; a\nbc", "abc"),
            "a b-c [redacted]; [redacted]"
        );
        assert_eq!(redact("nothing", ""), "nothing");
    }

    proptest::proptest! {
        /// Any window of the secret, wrapped anywhere and surrounded by anything, is gone.
        #[test]
        fn no_run_of_the_secret_survives(
            start in 0usize..20,
            len in 8usize..30,
            wrap in 1usize..12,
            before in "[a-z .:]{0,20}",
            after in "[a-z .:]{0,20}",
        ) {
            let secret = "pcsk_4Jd8sKq2LmZx9TvW0bNc7YpQ";
            let end = (start + len).min(secret.len());
            let piece = &secret[start.min(end - 8)..end];
            let wrapped: Vec<String> = piece
                .as_bytes()
                .chunks(wrap)
                .map(|c| String::from_utf8_lossy(c).into_owned())
                .collect();
            let stderr = format!("{before}{}{after}", wrapped.join("\n  "));
            let shown = redact_and_shorten(stderr.as_bytes(), Some(secret));
            proptest::prop_assert!(!holds_a_run(&shown, secret), "{}", shown);
        }
    }
}
