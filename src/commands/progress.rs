//! Progress while applying, on stderr. In a log (CI) every event is a plain line; on a
//! terminal, one status line is redrawn in place (a bar with counts), and only outcomes worth
//! keeping (failures, skips, warnings) scroll above it. Events carry no secret.

use std::sync::Mutex;

use crate::apply::Event;
use crate::plan::Plan;

use super::ui::Ui;

const BAR_WIDTH: usize = 24;

#[derive(Debug)]
pub struct Progress<'a> {
    ui: Ui,
    plan: &'a Plan,
    finished: Mutex<usize>,
}

impl<'a> Progress<'a> {
    pub fn new(ui: Ui, plan: &'a Plan) -> Self {
        Progress {
            ui,
            plan,
            finished: Mutex::new(0),
        }
    }

    pub fn on_event(&self, event: &Event) {
        let mut finished = crate::lock::lock(&self.finished);
        if matches!(
            event,
            Event::Done { .. } | Event::Failed { .. } | Event::Skipped { .. }
        ) {
            *finished += 1;
        }
        let total = self.plan.changes.len();
        let line = crate::render::event_line(event, self.plan);
        if !self.ui.stderr_is_terminal() {
            self.ui.info(&format!("[{}/{total}] {line}", *finished));
            return;
        }
        let keep = matches!(
            event,
            Event::Failed { .. } | Event::Skipped { .. } | Event::Warning(_)
        );
        if keep {
            self.ui.status_line("");
            self.ui.info(&line);
        }
        let filled = BAR_WIDTH * *finished / total.max(1);
        self.ui.status_line(&format!(
            "[{}{}] {}/{total} {line}",
            "=".repeat(filled),
            " ".repeat(BAR_WIDTH - filled),
            *finished
        ));
        if *finished == total {
            self.ui.status_line("");
        }
    }
}
