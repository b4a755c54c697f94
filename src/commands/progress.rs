//! Progress on stderr. On a terminal that takes escape codes ([`Ui::live`]), indicatif redraws
//! one line at the bottom, cut to the terminal's width: a spinner while the live keys are
//! listed, a bar with counts while an apply runs, and why the client waits when it does; only
//! outcomes worth keeping (failures, skips, warnings) scroll above it. In a log (a pipe, CI,
//! `NO_COLOR`, `TERM=dumb`) every apply event is a plain line that lasts. Events carry no
//! secret.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::apply::Event;
use crate::live::client::{ClientObserver, Wait};
use crate::plan::Plan;
use crate::render::ApplyTimes;

use super::ui::Ui;

/// How often a spinner turns: often enough to show keyplan is alive, rarely enough to cost
/// nothing.
const TICK: Duration = Duration::from_millis(120);
/// Waits at least this long get a lasting line in a log; shorter ones would only add noise.
const LOGGED_WAIT: Duration = Duration::from_secs(2);

/// The line redrawn at the bottom of a live terminal. Its text is the message (what is going
/// on) after the notice (why nothing moves, while the client waits), both in indicatif's
/// `wide_msg`, the one part it cuts to the terminal's width.
#[derive(Debug)]
pub struct Line {
    pub(super) bar: ProgressBar,
    text: Mutex<(Option<String>, String)>,
}

impl Line {
    /// Shows a new line; `length` makes it a bar, `None` a spinner.
    fn show(ui: &Ui, template: &str, length: Option<u64>, message: &str) -> Arc<Self> {
        let style = ProgressStyle::with_template(template)
            .unwrap_or_else(|_| ProgressStyle::default_spinner())
            .progress_chars("=> ");
        let bar = ProgressBar::with_draw_target(length, ProgressDrawTarget::stderr())
            .with_style(style)
            .with_message(message.to_owned());
        bar.enable_steady_tick(TICK);
        let line = Arc::new(Line {
            bar,
            text: Mutex::new((None, message.to_owned())),
        });
        ui.show_line(&line);
        line
    }

    fn say(&self, message: String) {
        let mut text = crate::lock::lock(&self.text);
        text.1 = message;
        self.redraw(&text);
    }

    fn notice(&self, notice: Option<String>) {
        let mut text = crate::lock::lock(&self.text);
        text.0 = notice;
        self.redraw(&text);
    }

    fn redraw(&self, (notice, message): &(Option<String>, String)) {
        self.bar.set_message(match notice {
            Some(notice) => format!("{notice} · {message}"),
            None => message.clone(),
        });
    }
}

/// A spinner saying what keyplan is doing, until dropped; nothing in a log.
#[derive(Debug)]
pub struct Activity {
    ui: Ui,
    line: Option<Arc<Line>>,
}

impl Activity {
    pub fn new(ui: &Ui, what: &str) -> Self {
        let line = ui
            .live()
            .then(|| Line::show(ui, "{spinner} {wide_msg} {elapsed}", None, what));
        Activity {
            ui: ui.clone(),
            line,
        }
    }
}

impl Drop for Activity {
    fn drop(&mut self) {
        if let Some(line) = self.line.take() {
            self.ui.clear_line(&line);
        }
    }
}

/// Tells the user why nothing moves while the client waits (a 429, a retry): in front of the
/// redrawn line, on a spinner of its own when none is shown, or in a log as a lasting line.
#[derive(Debug)]
pub struct Waits {
    ui: Ui,
    state: Mutex<WaitState>,
}

#[derive(Debug, Default)]
struct WaitState {
    /// Waits in progress: many requests may wait at once.
    waiting: usize,
    /// The spinner shown for the waits when no other line was.
    own: Option<Arc<Line>>,
}

impl Waits {
    pub fn new(ui: &Ui) -> Arc<Self> {
        Arc::new(Waits {
            ui: ui.clone(),
            state: Mutex::default(),
        })
    }
}

fn wait_words(why: Wait, delay: Duration) -> String {
    let why = match why {
        Wait::RateLimited => "the Admin API is rate limiting (HTTP 429)",
        Wait::Retrying => "a request failed and will be retried",
    };
    format!("waiting {}: {why}", crate::render::elapsed(delay))
}

impl ClientObserver for Waits {
    fn waiting(&self, why: Wait, delay: Duration) {
        let mut state = crate::lock::lock(&self.state);
        state.waiting += 1;
        if state.waiting > 1 {
            return;
        }
        let words = wait_words(why, delay);
        if !self.ui.live() {
            if delay >= LOGGED_WAIT {
                self.ui.info(&words);
            }
            return;
        }
        if let Some(line) = self.ui.shown_line() {
            line.notice(Some(words));
        } else {
            let template = "{spinner} {wide_msg} {elapsed}";
            state.own = Some(Line::show(&self.ui, template, None, &words));
        }
    }

    fn resumed(&self, _why: Wait) {
        let mut state = crate::lock::lock(&self.state);
        state.waiting = state.waiting.saturating_sub(1);
        if state.waiting > 0 {
            return;
        }
        match state.own.take() {
            Some(own) => self.ui.clear_line(&own),
            None => {
                if let Some(line) = self.ui.shown_line() {
                    line.notice(None);
                }
            }
        }
    }
}

/// An apply's progress: a bar on a live terminal, numbered lines in a log; and how long each
/// change took.
#[derive(Debug)]
pub struct Progress<'a> {
    ui: Ui,
    plan: &'a Plan,
    line: Option<Arc<Line>>,
    began: Instant,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    finished: usize,
    started: BTreeMap<usize, Instant>,
    took: BTreeMap<usize, Duration>,
}

impl<'a> Progress<'a> {
    pub fn new(ui: Ui, plan: &'a Plan) -> Self {
        let total = plan.changes.len() as u64;
        let line = ui.live().then(|| {
            let template = "{spinner} [{bar:20}] {pos}/{len} {elapsed} {wide_msg}";
            Line::show(&ui, template, Some(total), "applying")
        });
        Progress {
            ui,
            plan,
            line,
            began: Instant::now(),
            state: Mutex::default(),
        }
    }

    pub fn on_event(&self, event: &Event) {
        let mut state = crate::lock::lock(&self.state);
        let now = Instant::now();
        match event {
            Event::Started { index } => {
                state.started.insert(*index, now);
            }
            Event::Done { index } | Event::Failed { index, .. } => {
                state.finished += 1;
                if let Some(started) = state.started.get(index).copied() {
                    state.took.insert(*index, now - started);
                }
            }
            Event::Skipped { .. } => state.finished += 1,
            Event::Progress { .. } | Event::Warning(_) => {}
        }
        let text = crate::render::event_line(event, self.plan);
        let Some(line) = &self.line else {
            let total = self.plan.changes.len();
            self.ui
                .info(&format!("[{}/{total}] {text}", state.finished));
            return;
        };
        if matches!(
            event,
            Event::Failed { .. } | Event::Skipped { .. } | Event::Warning(_)
        ) {
            self.ui.info(&text);
        }
        line.bar.set_position(state.finished as u64);
        line.say(text);
    }

    /// Clears the bar; how long each change and the whole apply took.
    pub fn finish(self) -> ApplyTimes {
        if let Some(line) = &self.line {
            self.ui.clear_line(line);
        }
        let state = self
            .state
            .into_inner()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        ApplyTimes {
            changes: state.took,
            total: Some(self.began.elapsed()),
        }
    }
}
