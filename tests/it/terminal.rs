//! keyplan on a real (pseudo-)terminal and in pipes: one colour decision for every stream
//! (`--no-color`, `NO_COLOR`, `CLICOLOR_FORCE`, `CLICOLOR`, `TERM=dumb`), progress redrawn
//! within the terminal's width, a spinner while listing and while waiting out a 429, and
//! timings in the apply report.

#![expect(clippy::unwrap_used, reason = "tests")]

use std::time::Duration;

use crate::common::Env;
use keyplan::emulator::{Fault, Route};

const ESC: char = '\u{1b}';

/// A manifest with `names` to create in project "prod", secrets in a file.
fn setup(names: &[&str]) -> Env {
    let env = Env::new();
    env.project("prod");
    let keys: Vec<String> = names
        .iter()
        .map(|name| {
            format!("  [[project.key]]\n  name = \"{name}\"\n  roles = [\"ProjectViewer\"]\n")
        })
        .collect();
    let keys = keys.join("\n");
    env.manifest(&format!(
        "[secrets]\nstore = \"file\"\npath = \"secrets.json\"\n\n[[project]]\nname = \"prod\"\n\n{keys}"
    ));
    env
}

/// What a terminal received, as text: rexpect hands over each byte as one `char`.
fn received(raw: &str) -> String {
    let bytes: Vec<u8> = raw.chars().map(|c| u8::try_from(c).unwrap()).collect();
    String::from_utf8(bytes).unwrap()
}

/// keyplan's whole output on a terminal `columns` wide.
fn on_terminal(env: &Env, columns: u16, vars: &[(&str, &str)], args: &[&str]) -> String {
    received(&env.keyplan_on_terminal(columns, vars, args).eof())
}

/// The pieces of text that were drawn and then drawn over: text the cursor went back over
/// (`\r` not ending a line) or that an escape sequence other than a colour (`m`) erased or
/// moved away from. Colour sequences are left out of the pieces. Lines that end (`\r\n`, as a
/// terminal's output processing sends `\n`) are not redrawn.
fn redrawn(output: &str) -> Vec<String> {
    let mut pieces = Vec::new();
    let mut current = String::new();
    let mut chars = output.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            ESC if chars.peek() == Some(&'[') => {
                chars.next();
                let last = chars.find(|c| ('\u{40}'..='\u{7e}').contains(c));
                if last != Some('m') {
                    pieces.push(std::mem::take(&mut current));
                }
            }
            '\r' if chars.peek() == Some(&'\n') => {
                chars.next();
                current.clear();
            }
            '\r' => pieces.push(std::mem::take(&mut current)),
            '\n' => current.clear(),
            c => current.push(c),
        }
    }
    pieces.retain(|piece| !piece.trim().is_empty());
    pieces
}

#[track_caller]
fn assert_fits(pieces: &[String], columns: usize) {
    for piece in pieces {
        let width = piece.chars().count();
        assert!(
            width <= columns,
            "a redrawn line {width} columns wide on a {columns}-column terminal: {piece:?}"
        );
    }
}

#[test]
fn progress_is_redrawn_within_a_60_column_terminal() {
    let names = [
        "a-rather-long-key-name-for-the-ingestion-pipeline",
        "another-rather-long-key-name-for-the-query-service",
        "a-third-key-whose-name-alone-is-wider-than-sixty-columns-of-text",
    ];
    let env = setup(&names);
    // Slow enough that the spinner and the bar are drawn more than once.
    let slow = Fault::Delay(Duration::from_millis(400));
    env.emulator.push_faults(Route::ListKeys, [slow]);
    env.emulator
        .push_faults(Route::CreateKey, [slow, slow, slow]);
    let output = on_terminal(&env, 60, &[], &["apply", "--auto-approve"]);
    let pieces = redrawn(&output);
    assert_fits(&pieces, 60);
    assert!(output.contains(ESC), "a terminal gets colour:\n{output}");
    assert!(
        pieces.iter().any(|p| p.contains("listing the live keys")),
        "no spinner while listing: {pieces:#?}"
    );
    let bars: Vec<&String> = pieces.iter().filter(|p| p.contains("/3 ")).collect();
    assert!(!bars.is_empty(), "no progress bar: {pieces:#?}");
    // The bar uses the width it has: the key names are cut, not wrapped.
    assert!(bars.iter().any(|p| p.chars().count() >= 55), "{bars:#?}");
    assert!(
        output.contains("Apply complete: 3 created") && output.contains("Took "),
        "{output}"
    );
}

#[test]
fn no_escape_code_reaches_a_terminal_under_no_color_or_a_dumb_term() {
    // (variables, extra arguments)
    type Case<'a> = (&'a [(&'a str, &'a str)], &'a [&'a str]);
    let cases: [Case; 4] = [
        (&[("NO_COLOR", "1")], &[]),
        (&[("TERM", "dumb")], &[]),
        (&[("CLICOLOR", "0")], &[]),
        // The flag wins over everything, CLICOLOR_FORCE included.
        (&[("CLICOLOR_FORCE", "1")], &["--no-color"]),
    ];
    for (vars, flags) in cases {
        let env = setup(&["ci", "etl"]);
        let slow = Fault::Delay(Duration::from_millis(200));
        env.emulator.push_faults(Route::CreateKey, [slow, slow]);
        let mut args = vec!["apply", "--auto-approve"];
        args.extend(flags);
        let output = on_terminal(&env, 60, vars, &args);
        assert!(
            !output.contains(ESC),
            "{vars:?} {flags:?}: an ESC byte in:\n{output:?}"
        );
        // Progress is then plain lines that last, as in a log.
        assert!(output.contains("[2/2] prod/"), "{vars:?}: {output}");
        assert!(output.contains("Apply complete: 2 created"), "{output}");
        let mut usage = vec!["plan", "--no-such-flag"];
        usage.extend(flags);
        let refused = on_terminal(&env, 60, vars, &usage);
        assert!(refused.contains("--no-such-flag"), "{refused}");
        assert!(
            !refused.contains(ESC),
            "{vars:?}: usage error in colour: {refused:?}"
        );
    }
    // The same usage error on a terminal that takes colour has it: the check above can fail.
    let env = setup(&["ci"]);
    let coloured = on_terminal(&env, 60, &[], &["plan", "--no-such-flag"]);
    assert!(coloured.contains(ESC), "{coloured:?}");
}

#[test]
fn clicolor_force_colours_a_pipe_unless_no_color_says_otherwise() {
    let env = setup(&["ci"]);
    let plain = env.keyplan(["plan"]).run().code(0);
    assert!(!plain.stdout.contains(ESC) && !plain.stderr.contains(ESC));
    let forced = env
        .keyplan(["plan"])
        .env("CLICOLOR_FORCE", "1")
        .run()
        .code(0);
    assert!(forced.stdout.contains(ESC), "{}", forced.stdout);
    let usage = env
        .keyplan(["plan", "--no-such-flag"])
        .env("CLICOLOR_FORCE", "1")
        .run()
        .code(64);
    assert!(usage.stderr.contains(ESC), "{}", usage.stderr);
    for (name, value) in [("NO_COLOR", "1"), ("CLICOLOR_FORCE", "0")] {
        let run = env
            .keyplan(["plan", "--no-such-flag"])
            .env("CLICOLOR_FORCE", "1")
            .env(name, value)
            .run()
            .code(64);
        assert!(!run.stderr.contains(ESC), "{name}={value}: {}", run.stderr);
    }
    let flagged = env
        .keyplan(["plan", "--no-color"])
        .env("CLICOLOR_FORCE", "1")
        .run()
        .code(0);
    assert!(!flagged.stdout.contains(ESC), "{}", flagged.stdout);
}

#[test]
fn waiting_out_a_429_is_shown_on_a_terminal_and_logged_in_a_pipe() {
    let words = "waiting 2.0s: the Admin API is rate limiting (HTTP 429)";
    let env = setup(&["ci"]);
    env.emulator.push_faults(
        Route::ListKeys,
        [Fault::Throttle {
            retry_after_secs: 2,
        }],
    );
    let output = on_terminal(&env, 100, &[], &["plan"]);
    let pieces = redrawn(&output);
    assert_fits(&pieces, 100);
    assert!(
        pieces.iter().any(|p| p.contains(words)),
        "no wait shown: {pieces:#?}"
    );
    assert!(output.contains("Plan: 1 to create"), "{output}");

    env.emulator.push_faults(
        Route::ListKeys,
        [Fault::Throttle {
            retry_after_secs: 2,
        }],
    );
    let logged = env.keyplan(["plan"]).run().code(0);
    assert!(
        logged.stderr.lines().any(|line| line == words),
        "{}",
        logged.stderr
    );
}

#[test]
fn the_apply_report_says_how_long_each_change_and_the_whole_apply_took() {
    let env = setup(&["ci", "etl"]);
    let slow = Fault::Delay(Duration::from_millis(300));
    env.emulator.push_faults(Route::CreateKey, [slow, slow]);
    let applied = env.keyplan(["apply", "--auto-approve"]).run().code(0);
    let timed = |line: &str, after: &str| {
        let seconds = line
            .rsplit_once(after)
            .unwrap_or_else(|| panic!("no {after:?} in {line:?}"))
            .1
            .trim_end_matches(['s', '.']);
        seconds.parse::<f64>().unwrap()
    };
    let done: Vec<&str> = applied
        .stdout
        .lines()
        .filter(|line| line.contains(" created prod/"))
        .collect();
    assert_eq!(done.len(), 2, "{}", applied.stdout);
    for line in done {
        assert!(timed(line, " in ") >= 0.3, "{line}");
    }
    let summary = applied
        .stdout
        .lines()
        .find(|line| line.starts_with("Apply complete: 2 created"))
        .unwrap();
    assert!(timed(summary, " Took ") >= 0.3, "{summary}");
}
