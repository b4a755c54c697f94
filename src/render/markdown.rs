//! The plan as Markdown for pull-request comments and `$GITHUB_STEP_SUMMARY`.
//!
//! Deletions and replacements are flagged first, in a warning callout; then the summary and a
//! table by project; then each project's changes in a collapsed `<details>` block holding a
//! `diff` code block, which GitHub colours. GitHub rejects comments over 65,536 characters,
//! so the document stays under [`MARKDOWN_LIMIT`] bytes: whatever does not fit is left out
//! whole (never an unclosed block) and a note says what is missing. The counts are always
//! complete.

use std::fmt::Write as _;

use crate::model::Project;
use crate::plan::{Action, Change, Plan};

use super::human::by_project;
use super::words::{GUARD_ADVICE, GUARD_OVERRIDDEN, count, guard_reasons, verb};
use super::{RenderOptions, change_lines, quoted, reason, roles_inline, summary_line};

/// The most bytes [`markdown`] produces (GitHub's limit is 65,536 characters; bytes are never
/// fewer than characters).
pub const MARKDOWN_LIMIT: usize = 65_000;

/// Room kept for the truncation note and the closing of the last block.
const RESERVE: usize = 1_200;

/// Reasons of a guard refusal shown before the rest are counted.
const GUARD_ITEMS: usize = 10;

/// Deletions and replacements listed by name in the warning before the rest is cut short.
const WARNING_ITEMS: usize = 50;

/// What heads a Markdown plan in a pull request: the target it is for and the CI run that made it.
#[derive(Debug, Clone, Copy, Default)]
pub struct Heading<'a> {
    /// `--title`: the target (e.g. "prod"), shown in the heading and carried in the hidden
    /// marker, so a bot finds and updates its own earlier comment for that target.
    pub title: Option<&'a str>,
    /// The CI run's page, linked under the heading.
    pub run_url: Option<&'a str>,
}

/// Renders a plan as GitHub-flavoured Markdown.
pub fn markdown(plan: &Plan, opts: &RenderOptions) -> String {
    markdown_headed(plan, opts, Heading::default())
}

/// [`markdown`] under a heading naming the target and linking the CI run.
pub fn markdown_headed(plan: &Plan, opts: &RenderOptions, heading: Heading) -> String {
    let mut doc = Budget::new(MARKDOWN_LIMIT - RESERVE);
    doc.out.push_str(&head("plan", "", heading, "Planned in"));
    if let Some(guard) = &plan.guard {
        let mut block = if opts.guard_overridden {
            format!("> [!WARNING]\n> **{GUARD_OVERRIDDEN}.**\n")
        } else {
            String::from("> [!CAUTION]\n> **Refused by the safety guard.**\n")
        };
        let reasons = guard_reasons(guard);
        for reason in reasons.iter().take(GUARD_ITEMS) {
            let _ = writeln!(block, "> - {}", escape_text(reason));
        }
        if reasons.len() > GUARD_ITEMS {
            let _ = writeln!(
                block,
                "> - … and {} more reasons",
                reasons.len() - GUARD_ITEMS
            );
        }
        if !opts.guard_overridden {
            let _ = writeln!(block, "> - {}", escape_text(GUARD_ADVICE));
        }
        block.push('\n');
        // Never cut: the refusal must show whatever else does not fit.
        doc.out.push_str(&block);
    }
    warning(plan, &mut doc);
    let _ = write!(doc.out, "**{}**\n\n", summary_line(&plan.summary));
    table(plan, &mut doc);
    details(plan, &mut doc);
    unmanaged(plan, &mut doc);
    if !plan.notes.is_empty() {
        let mut block = String::from("**Notes**\n\n");
        for note in &plan.notes {
            let _ = writeln!(
                block,
                "- {} in project {}: {}",
                code(&quoted(&note.key)),
                code(&quoted(&note.project.name)),
                escape_text(&note.kind.to_string())
            );
        }
        block.push('\n');
        doc.push_or_skip(&block, "the notes");
    }
    doc.finish()
}

/// The hidden marker a bot looks for to update its own comment: `<!-- keyplan:plan title=T -->`.
/// The title is percent-encoded outside `[A-Za-z0-9._~-]`, and a `-` after a `-` too, so it can
/// neither close the comment nor break the line.
pub fn plan_marker(title: &str) -> String {
    marker("plan", title)
}

/// The hidden marker of a `document` (`plan`, `apply`, `drift`) for the target `title`:
/// `<!-- keyplan:DOCUMENT title=T -->`, the title encoded as in [`plan_marker`]. A failure
/// document carries its command's marker, so it replaces that command's comment.
pub fn marker(document: &str, title: &str) -> String {
    let mut encoded = String::new();
    let mut previous = '\0';
    for c in title.chars() {
        let plain = c.is_ascii_alphanumeric()
            || matches!(c, '.' | '_' | '~')
            || (c == '-' && previous != '-');
        if plain {
            encoded.push(c);
        } else {
            let mut bytes = [0; 4];
            for byte in c.encode_utf8(&mut bytes).bytes() {
                let _ = write!(encoded, "%{byte:02X}");
            }
        }
        previous = c;
    }
    format!("<!-- keyplan:{document} title={encoded} -->")
}

/// The top of a pull-request document: the hidden marker of `document` for the heading's
/// title, `## keyplan DOCUMENT: TITLE` (then `suffix`), and a link to the CI run, `said` (e.g.
/// "Planned in") [this CI run](URL).
pub(super) fn head(document: &str, suffix: &str, heading: Heading, said: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{}", marker(document, heading.title.unwrap_or("")));
    let _ = write!(out, "## keyplan {document}");
    if let Some(title) = heading.title {
        let _ = write!(out, ": {}", escape_text(title));
    }
    let _ = write!(out, "{suffix}\n\n");
    if let Some(url) = heading.run_url.filter(|url| is_plain_url(url)) {
        let _ = write!(out, "<sub>{said} [this CI run]({url}).</sub>\n\n");
    }
    out
}

/// A URL safe to put in a Markdown link as it is: http(s), and no character that could end the
/// link or start markup.
pub(super) fn is_plain_url(url: &str) -> bool {
    (url.starts_with("https://") || url.starts_with("http://"))
        && url
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-._~:/?#=&%+".contains(c))
}

/// The output so far, and what was left out to stay under the limit.
struct Budget {
    out: String,
    limit: usize,
    omitted: Vec<String>,
}

impl Budget {
    fn new(limit: usize) -> Self {
        Budget {
            out: String::new(),
            limit,
            omitted: Vec::new(),
        }
    }

    fn fits(&self, extra: usize) -> bool {
        self.out.len() + extra <= self.limit
    }

    fn push_or_skip(&mut self, block: &str, what: &str) -> bool {
        if self.fits(block.len()) {
            self.out.push_str(block);
            true
        } else {
            self.omitted.push(what.to_owned());
            false
        }
    }

    fn finish(mut self) -> String {
        if !self.omitted.is_empty() {
            let _ = write!(
                self.out,
                "> [!NOTE]\n> **Truncated** to stay under GitHub's size limit. Not shown: {}. \
                 The counts above are complete. Run `keyplan plan` for the whole plan, or \
                 `keyplan plan --format json` for a machine-readable one.\n",
                self.omitted.join("; ")
            );
        }
        self.out
    }
}

/// The warning callout listing keys the plan deletes or replaces.
fn warning(plan: &Plan, doc: &mut Budget) {
    // Deletions first: they are what a reviewer must not miss.
    let destructive: Vec<&Change> = [Action::Delete, Action::Replace]
        .iter()
        .flat_map(|action| plan.changes.iter().filter(move |c| c.action() == *action))
        .collect();
    if destructive.is_empty() {
        return;
    }
    let mut block = format!(
        "> [!WARNING]\n> This plan **deletes {}** and **replaces {}** (a replaced key gets a \
         new secret; the old one stops working):\n",
        count(plan.summary.delete, "key"),
        count(plan.summary.replace, "key")
    );
    let mut listed = 0;
    for change in &destructive {
        if listed == WARNING_ITEMS {
            break;
        }
        let Some(before) = change.before() else {
            continue;
        };
        let line = format!(
            "> - **{}** {} ({}) in project {}: {}\n",
            verb(change.action()).base,
            code(&quoted(&before.name)),
            code(before.id.as_str()),
            code(&quoted(&change.project.name)),
            escape_text(&reason(change))
        );
        if !doc.fits(block.len() + line.len() + 200) {
            break;
        }
        block.push_str(&line);
        listed += 1;
    }
    if listed < destructive.len() {
        let _ = writeln!(
            block,
            "> - … and {} more, listed in the details below",
            destructive.len() - listed
        );
    }
    block.push('\n');
    doc.push_or_skip(&block, "the list of deletions");
}

/// The table of changes by project.
fn table(plan: &Plan, doc: &mut Budget) {
    let groups = by_project(&plan.changes);
    if groups.is_empty() {
        return;
    }
    let mut block =
        String::from("| Project | Create | Update | Replace | Delete |\n|---|--:|--:|--:|--:|\n");
    let mut shown = 0;
    for (project, changes) in &groups {
        let n = |action: Action| changes.iter().filter(|c| c.action() == action).count();
        let row = format!(
            "| {} | {} | {} | {} | {} |\n",
            project_cell(project),
            n(Action::Create),
            n(Action::Update),
            n(Action::Replace),
            n(Action::Delete)
        );
        if !doc.fits(block.len() + row.len() + 100) {
            break;
        }
        block.push_str(&row);
        shown += 1;
    }
    if shown < groups.len() {
        let _ = writeln!(
            block,
            "| … {} more projects | | | | |",
            groups.len() - shown
        );
        doc.omitted
            .push(format!("{} rows of the table", groups.len() - shown));
    }
    block.push('\n');
    doc.push_or_skip(&block, "the table of projects");
}

fn project_cell(project: &Project) -> String {
    format!(
        "{} ({})",
        code(&quoted(&project.name)),
        code(project.id.as_str())
    )
    .replace('|', "\\|")
}

/// Each project's changes in a collapsed block, as a `diff` code block.
fn details(plan: &Plan, doc: &mut Budget) {
    let groups = by_project(&plan.changes);
    let mut left_out = 0;
    let mut projects_left_out = 0;
    for (project, changes) in &groups {
        if left_out > 0 {
            left_out += changes.len();
            projects_left_out += 1;
            continue;
        }
        let rendered: Vec<String> = changes
            .iter()
            .map(|change| {
                let mut text = String::new();
                for line in change_lines(change) {
                    text.push_str(&line.diff());
                    text.push('\n');
                }
                text
            })
            .collect();
        let fence = fence_for(&rendered.concat());
        let open = format!(
            "<details><summary>Project <code>{}</code> (<code>{}</code>): {}</summary>\n\n\
             {fence}diff\n",
            escape_html(&quoted(&project.name)),
            escape_html(project.id.as_str()),
            count(changes.len(), "change")
        );
        let close = format!("{fence}\n\n</details>\n\n");
        let mut body = String::new();
        let mut fitted = 0;
        for (i, text) in rendered.iter().enumerate() {
            let separator = usize::from(i > 0);
            if !doc.fits(open.len() + body.len() + separator + text.len() + close.len() + 100) {
                break;
            }
            if i > 0 {
                body.push('\n');
            }
            body.push_str(text);
            fitted += 1;
        }
        if fitted == 0 {
            left_out += changes.len();
            projects_left_out += 1;
            continue;
        }
        if fitted < changes.len() {
            let _ = writeln!(
                body,
                "\n  … {} more changes in this project not shown",
                changes.len() - fitted
            );
            left_out += changes.len() - fitted;
        }
        doc.out.push_str(&open);
        doc.out.push_str(&body);
        doc.out.push_str(&close);
    }
    if left_out > 0 {
        doc.omitted.push(format!(
            "the details of {} (in {} more projects beyond those shown)",
            count(left_out, "change"),
            projects_left_out
        ));
    }
}

/// Unmanaged keys, as a table in a collapsed block.
fn unmanaged(plan: &Plan, doc: &mut Budget) {
    if plan.unmanaged.is_empty() {
        return;
    }
    let open = format!(
        "<details><summary>{}: live, not in the manifest, kept because unmanaged = \
         \"keep\"</summary>\n\n| Project | Key | Id | Roles |\n|---|---|---|---|\n",
        count(plan.unmanaged.len(), "unmanaged key")
    );
    let close = "\n</details>\n\n";
    let mut rows = String::new();
    let mut shown = 0;
    for kept in &plan.unmanaged {
        let row = format!(
            "| {} | {} | {} | {} |\n",
            project_cell(&kept.project),
            code(&quoted(&kept.key.name)).replace('|', "\\|"),
            code(kept.key.id.as_str()).replace('|', "\\|"),
            // Roles come from the API too: one keyplan does not know may hold `|` or `<`.
            escape_text(&roles_inline(&kept.key.roles))
        );
        if !doc.fits(open.len() + rows.len() + row.len() + close.len() + 100) {
            break;
        }
        rows.push_str(&row);
        shown += 1;
    }
    if shown == 0 {
        doc.omitted
            .push(count(plan.unmanaged.len(), "unmanaged key"));
        return;
    }
    if shown < plan.unmanaged.len() {
        let rest = plan.unmanaged.len() - shown;
        let _ = writeln!(rows, "| … {rest} more | | | |");
        doc.omitted.push(count(rest, "unmanaged key"));
    }
    doc.out.push_str(&open);
    doc.out.push_str(&rows);
    doc.out.push_str(close);
}

/// An inline code span that holds `text` whatever backticks it contains.
pub(super) fn code(text: &str) -> String {
    let run = longest_backtick_run(text);
    let ticks = "`".repeat(run + 1);
    if run == 0 {
        format!("{ticks}{text}{ticks}")
    } else {
        format!("{ticks} {text} {ticks}")
    }
}

/// A code fence longer than any run of backticks in `content`.
fn fence_for(content: &str) -> String {
    "`".repeat((longest_backtick_run(content) + 1).max(3))
}

fn longest_backtick_run(text: &str) -> usize {
    text.split(|c| c != '`').map(str::len).max().unwrap_or(0)
}

pub(super) fn escape_html(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Text outside code: keep Markdown and HTML from reading names and reasons as markup.
pub(super) fn escape_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '\\' | '`' | '*' | '[' | ']' | '<' | '>' | '|') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}
