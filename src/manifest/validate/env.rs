//! `${env:VAR}` in project names and ids and in store paths: one manifest for several
//! environments, the variable part filled in from the environment keyplan runs in.
//!
//! A reference is `${env:` + a name (`[A-Za-z_][A-Za-z0-9_]*`) + `}`; `${env:` always starts
//! one. A missing (or non-UTF-8) variable and a malformed reference are errors at the
//! reference's own column when the TOML string spells the value verbatim, else at the value.

use std::ops::Range;

use toml::Spanned;

use super::checker::{Checker, quote};

const OPEN: &str = "${env:";

impl Checker<'_> {
    /// `text` with every `${env:VAR}` replaced by the variable's value; `None` after an error.
    pub(super) fn expand_env(
        &mut self,
        what: &str,
        text: Spanned<String>,
    ) -> Option<Spanned<String>> {
        if !text.get_ref().contains(OPEN) {
            return Some(text);
        }
        let source = text.get_ref().clone();
        let mut out = String::with_capacity(source.len());
        let mut rest = source.as_str();
        let mut ok = true;
        while let Some(start) = rest.find(OPEN) {
            out.push_str(&rest[..start]);
            let at = source.len() - rest.len() + start;
            let after = &rest[start + OPEN.len()..];
            let name_len = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            let name = &after[..name_len];
            let valid = !name.is_empty()
                && !name.starts_with(|c: char| c.is_ascii_digit())
                && after[name_len..].starts_with('}');
            if !valid {
                let span = self.char_span(&text, at, OPEN.len());
                let diagnostic = self
                    .at(span, format!("malformed environment reference in {what} {}", quote(&source)))
                    .with_hint("write ${env:NAME}, NAME being letters, digits and `_`, like ${env:DEPLOY_ENV}");
                self.report(diagnostic);
                return None;
            }
            match std::env::var(name) {
                Ok(value) => out.push_str(&value),
                Err(error) => {
                    let span = self.char_span(&text, at, OPEN.len() + name_len + 1);
                    let why = match error {
                        std::env::VarError::NotPresent => "is not set",
                        std::env::VarError::NotUnicode(_) => "is not valid UTF-8",
                    };
                    let diagnostic = self
                        .at(span, format!("environment variable {name} {why} ({what} {})", quote(&source)))
                        .with_hint(format!("set {name} in the environment keyplan runs in, or write the value itself"));
                    self.report(diagnostic);
                    ok = false;
                }
            }
            rest = &after[name_len + 1..];
        }
        out.push_str(rest);
        ok.then(|| Spanned::new(text.span(), out))
    }

    /// The span of `len` bytes at byte `offset` of a string value, when the source spells the
    /// value verbatim between its quotes; else the whole value.
    pub(super) fn char_span(
        &self,
        text: &Spanned<String>,
        offset: usize,
        len: usize,
    ) -> Range<usize> {
        let span = text.span();
        let verbatim = self
            .source_text(span.start + 1..span.end.saturating_sub(1))
            .is_some_and(|raw| raw == text.get_ref());
        if verbatim {
            let at = span.start + 1 + offset;
            at..at + len
        } else {
            span
        }
    }
}
