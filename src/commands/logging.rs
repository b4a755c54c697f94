//! `-v/--verbose` and `KEYPLAN_LOG`: keyplan's `tracing` events (one per HTTP attempt: method,
//! path, status, elapsed time, request id) as lines on stderr, above any progress line.
//!
//! Only keyplan's own events are ever shown, whatever `KEYPLAN_LOG` asks for: its dependencies'
//! (HTTP and TLS internals) are not reviewed for what they might print. keyplan's events name
//! no header, body or secret (see `live::client::observer::log_attempt`).

use std::io::Write;

use tracing_subscriber::filter::{EnvFilter, filter_fn};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::prelude::*;

use super::ui::Ui;

/// The variable that sets the filter (`tracing`'s env-filter syntax, e.g. `keyplan=debug`);
/// it overrides `-v`.
pub const LOG_VAR: &str = "KEYPLAN_LOG";

/// The filter for `-v` given `verbose` times: none, then the HTTP requests, then everything
/// keyplan logs.
fn default_filter(verbose: u8) -> Option<&'static str> {
    match verbose {
        0 => None,
        1 => Some("keyplan::http=debug"),
        _ => Some("keyplan=trace"),
    }
}

/// Starts logging to stderr when `-v` or `KEYPLAN_LOG` asks for it. A `KEYPLAN_LOG` that does
/// not parse is reported and ignored: a typo in a log filter must not stop an apply.
pub fn init(ui: &Ui, verbose: u8) {
    let from_env = std::env::var(LOG_VAR).ok().filter(|v| !v.trim().is_empty());
    let filter = match from_env {
        Some(directives) => match EnvFilter::try_new(&directives) {
            Ok(filter) => filter,
            Err(error) => {
                ui.warn(&format!(
                    "{LOG_VAR}={directives:?} is not a log filter ({error}); ignored. \
                     Example: {LOG_VAR}=keyplan=debug"
                ));
                match default_filter(verbose) {
                    Some(directives) => EnvFilter::new(directives),
                    None => return,
                }
            }
        },
        None => match default_filter(verbose) {
            Some(directives) => EnvFilter::new(directives),
            None => return,
        },
    };
    let layer = tracing_subscriber::fmt::layer()
        .with_writer(UiWriter(ui.clone()))
        .with_ansi(false)
        .with_filter(filter)
        .with_filter(filter_fn(|meta| meta.target().starts_with("keyplan")));
    // A second init (never, in one process) would fail harmlessly.
    let _ = tracing_subscriber::registry().with(layer).try_init();
}

/// Writes each log line to stderr through the [`Ui`], above a progress line if one is shown.
struct UiWriter(Ui);

/// One event's text, written out whole when the formatter is done with it.
struct Line {
    ui: Ui,
    text: Vec<u8>,
}

impl<'a> MakeWriter<'a> for UiWriter {
    type Writer = Line;

    fn make_writer(&'a self) -> Line {
        Line {
            ui: self.0.clone(),
            text: Vec::new(),
        }
    }
}

impl Write for Line {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.text.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for Line {
    fn drop(&mut self) {
        if !self.text.is_empty() {
            self.ui.styled_err(&String::from_utf8_lossy(&self.text));
        }
    }
}
