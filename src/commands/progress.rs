//! Progress while applying, on stderr: one updating status line on a terminal, plain lines in
//! logs (CI). Shows names and actions, never a secret (events carry none).

use std::sync::Mutex;

use crate::apply::Event;
use crate::plan::{Action, Change, Plan};

use super::ui::Ui;

/// Counts finished actions and reports each event.
#[derive(Debug)]
pub struct Progress {
    ui: Ui,
    labels: Vec<String>,
    finished: Mutex<usize>,
}

impl Progress {
    pub fn new(ui: Ui, plan: &Plan) -> Self {
        Progress {
            ui,
            labels: plan.changes.iter().map(label).collect(),
            finished: Mutex::new(0),
        }
    }

    pub fn on_event(&self, event: &Event) {
        let total = self.labels.len();
        let label = |index: usize| self.labels.get(index).map_or("?", String::as_str);
        let line = match event {
            Event::Started { index, .. } => {
                if self.ui.stderr_is_terminal() {
                    return;
                }
                format!("{}: starting", label(*index))
            }
            Event::Progress { index, message } => format!("{}: {message}", label(*index)),
            Event::Done { index } => format!("{}: done", label(*index)),
            Event::Failed { index, error } => format!("{}: FAILED: {error}", label(*index)),
            Event::Skipped { index, reason } => format!("{}: skipped: {reason}", label(*index)),
            Event::Warning(message) => {
                self.ui.warn(message);
                return;
            }
        };
        let finished = {
            let mut finished = self.finished.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if matches!(event, Event::Done { .. } | Event::Failed { .. } | Event::Skipped { .. }) {
                *finished += 1;
            }
            *finished
        };
        self.ui.info(&format!("[{finished}/{total}] {line}"));
    }

}

fn label(change: &Change) -> String {
    let verb = match change.action {
        Action::Create => "create",
        Action::Update => "update",
        Action::Replace => "replace",
        Action::Delete => "delete",
    };
    let name = change
        .after
        .as_ref()
        .map(|a| a.name.as_str())
        .or_else(|| change.before.as_ref().map(|b| b.name.as_str()))
        .unwrap_or("?");
    format!("{verb} {}/{name}", change.project.name)
}
