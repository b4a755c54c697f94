//! What a command store's command can do to keyplan, through real applies against the
//! emulator: read its environment (no credential there), leave a background child holding
//! its output (apply still finishes), echo pieces of the secret (none reaches the output).

#![expect(clippy::unwrap_used, reason = "tests")]

use std::time::{Duration, Instant};

use crate::common::{CLIENT_ID, CLIENT_SECRET, Env};
use crate::destinations::make_executable;

fn script(env: &Env, name: &str, body: &str) -> String {
    let path = env.path(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    make_executable(&path);
    path.display().to_string()
}

fn one_key(store: &str) -> String {
    format!(
        "{store}\n[[project]]\nname = \"prod\"\n  [[project.key]]\n  name = \"ci\"\n  \
         roles = [\"DataPlaneViewer\"]\n"
    )
}

#[test]
fn the_command_environment_holds_no_credential_only_what_the_store_passes() {
    let env = Env::new();
    env.project("prod");
    let dump = env.path("env.txt");
    let command = script(
        &env,
        "dump.sh",
        &format!("cat >/dev/null\nenv > '{}'", dump.display()),
    );
    env.manifest(&one_key(&format!(
        "[secrets]\nstore = \"command\"\ncommand = [\"{command}\"]\nenv = {{ DEST_TOKEN = \"t-{{project}}-{{key}}\" }}\n"
    )));
    env.keyplan(["apply", "--auto-approve"])
        .env("PINECONE_API_KEY", "pcsk_sdk_key_in_env")
        .run()
        .code(0);
    let seen = std::fs::read_to_string(&dump).unwrap();
    for needle in [
        "PINECONE_CLIENT_ID",
        "PINECONE_CLIENT_SECRET",
        "PINECONE_ACCESS_TOKEN",
        "PINECONE_API_KEY",
        CLIENT_ID,
        CLIENT_SECRET,
        "pcsk_sdk_key_in_env",
    ] {
        assert!(!seen.contains(needle), "{needle} reached the command");
    }
    let tokens = env.emulator.issued_tokens();
    assert!(!tokens.is_empty(), "keyplan obtained no token?");
    for token in tokens {
        assert!(
            !seen.contains(&token),
            "keyplan's access token reached the command"
        );
    }
    assert!(seen.contains("DEST_TOKEN=t-prod-ci\n"), "{seen}");
    // Settings that are no credential still pass.
    assert!(seen.contains("PINECONE_CONTROLLER_HOST="));
}

/// Kills the process whose pid the command wrote (our own background child).
fn kill_recorded(env: &Env) {
    if let Ok(pid) = std::fs::read_to_string(env.path("child.pid")) {
        let _ = std::process::Command::new("kill").arg(pid.trim()).status();
    }
}

#[test]
fn a_background_child_holding_the_output_does_not_hold_apply() {
    for status in [0, 1] {
        let env = Env::new();
        env.project("prod");
        let pid = env.path("child.pid");
        let command = script(
            &env,
            "bg.sh",
            &format!(
                "cat >/dev/null\nsleep 600 &\necho $! > '{}'\necho 'went to the background' >&2\nexit {status}",
                pid.display()
            ),
        );
        env.manifest(&one_key(&format!(
            "[secrets]\nstore = \"command\"\ncommand = [\"{command}\"]\n"
        )));
        let started = Instant::now();
        let run = env.keyplan(["apply", "--auto-approve"]).run();
        let took = started.elapsed();
        kill_recorded(&env);
        assert_eq!(run.code == 0, status == 0, "{}\n{}", run.stdout, run.stderr);
        assert!(took < Duration::from_secs(30), "apply took {took:?}");
        if status != 0 {
            let said = format!("{}{}", run.stdout, run.stderr);
            assert!(said.contains("went to the background"), "{said}");
        }
    }
}

/// Whether `text`, whitespace removed, holds any 8 consecutive characters of `secret`.
fn holds_a_run(text: &str, secret: &str) -> bool {
    let text: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    let secret: Vec<char> = secret.chars().collect();
    secret
        .windows(8)
        .any(|w| text.contains(&w.iter().collect::<String>()))
}

#[test]
fn echoed_pieces_of_the_secret_never_reach_the_output() {
    let env = Env::new();
    env.project("prod");
    // Half the secret, the secret cut to 12 characters, and the secret wrapped at 7.
    let command = script(
        &env,
        "echo.sh",
        "s=$(cat)\nlen=${#s}\nhalf=$((len / 2))\n\
         printf 'first half: %s\\n' \"$(printf '%s' \"$s\" | cut -c1-$half)\" >&2\n\
         printf 'second half: %s\\n' \"$(printf '%s' \"$s\" | cut -c$((half + 1))-)\" >&2\n\
         printf 'cut: %s...\\n' \"$(printf '%s' \"$s\" | cut -c1-12)\" >&2\n\
         printf 'wrapped:\\n' >&2\nprintf '%s\\n' \"$s\" | fold -w 7 >&2\nexit 2",
    );
    env.manifest(&one_key(&format!(
        "[secrets]\nstore = \"command\"\ncommand = [\"{command}\"]\n"
    )));
    let run = env.keyplan(["apply", "--auto-approve"]).run();
    assert_ne!(run.code, 0);
    let said = format!("{}\n{}", run.stdout, run.stderr);
    assert!(said.contains("first half: [redacted]"), "{said}");
    assert!(said.contains("wrapped:"), "{said}");
    let secrets = env.emulator.issued_secrets();
    assert_eq!(secrets.len(), 1);
    assert!(
        !holds_a_run(&said, &secrets[0]),
        "a piece of the secret leaked:\n{said}"
    );
}
