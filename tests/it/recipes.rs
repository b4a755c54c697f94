//! The destination recipes of examples/stores/, each run through a whole key lifecycle (create,
//! rename, replace, delete) by real applies against the emulator, with the real tool replaced
//! by a stand-in (tests/it/fixtures/standins/) that enforces its argument contract and naming
//! rules. A recipe that would break on a real hyphenated key name breaks here too.

#![expect(clippy::unwrap_used, reason = "tests")]

use std::collections::BTreeMap;
use std::path::Path;

use crate::common::Env;

fn standins() -> String {
    format!("{}/tests/it/fixtures/standins", env!("CARGO_MANIFEST_DIR"))
}

fn recipe(name: &str) -> String {
    std::fs::read_to_string(format!("examples/stores/{name}.toml")).unwrap()
}

/// Every value a stand-in holds, by its (encoded) name: `tool/name` → value.
fn held(state: &Path) -> BTreeMap<String, String> {
    let mut found = BTreeMap::new();
    for tool in std::fs::read_dir(state).unwrap().flatten() {
        if !tool.path().is_dir() {
            continue;
        }
        for entry in std::fs::read_dir(tool.path()).unwrap().flatten() {
            let name = format!(
                "{}/{}",
                tool.file_name().to_string_lossy(),
                entry.file_name().to_string_lossy()
            );
            found.insert(name, std::fs::read_to_string(entry.path()).unwrap());
        }
    }
    found
}

fn apply(env: &Env, state: &Path) -> crate::common::Finished {
    let path = format!(
        "{}:{}",
        standins(),
        std::env::var("PATH").unwrap_or_default()
    );
    env.keyplan(["apply", "--auto-approve"])
        .env("PATH", &path)
        .env("STANDIN_STATE", &state.display().to_string())
        .run()
}

/// Where each recipe keeps key `key` (id `id`) of project prod-eu, as the stand-in names it.
fn place(tool: &str, key: &str, id: &str) -> String {
    let upper = key.to_ascii_uppercase().replace('-', "_");
    match tool {
        "github" => format!("gh/PINECONE_PROD_EU_{upper}"),
        "vault" => format!("vault/secret%2Fpinecone%2Fprod-eu%2F{key}"),
        "aws" => format!("aws/pinecone%2Fprod-eu%2F{key}"),
        "gcp" => format!("gcloud/pinecone-prod-eu-{key}"),
        "kubernetes" => format!("kubectl/pinecone-prod-eu-{key}"),
        "1password" => format!("op/Infrastructure%2Fpinecone prod-eu%2F{key} {id}"),
        "doppler" => format!("doppler/app%2Fprd%2FPINECONE_PROD_EU_{upper}"),
        _ => unreachable!(),
    }
}

#[test]
fn every_recipe_follows_a_key_from_create_to_delete() {
    for tool in [
        "github",
        "vault",
        "aws",
        "gcp",
        "kubernetes",
        "1password",
        "doppler",
    ] {
        lifecycle(tool);
    }
}

fn lifecycle(tool: &str) {
    let env = Env::new();
    let prod = env.project("prod-eu");
    let state = env.path("standin-state");
    std::fs::create_dir(&state).unwrap();
    let text = recipe(tool);
    let step = |manifest: &str| {
        env.manifest(manifest);
        let run = apply(&env, &state);
        assert_eq!(run.code, 0, "{tool}:\n{}\n{}", run.stdout, run.stderr);
        format!("{}{}", run.stdout, run.stderr)
    };
    let id = |n: usize| env.keys(&prod)[n].id.as_str().to_owned();
    let secret = |n: usize| env.emulator.issued_secrets()[n].clone();

    step(&text);
    let first = id(0);
    assert_eq!(
        held(&state),
        BTreeMap::from([(place(tool, "ci-reader", &first), secret(0))]),
        "{tool}: create"
    );

    let renamed = text.replace(
        "name = \"ci-reader\"",
        "name = \"ci-writer\"\n  previous_names = [\"ci-reader\"]\n  role_change = \"replace\"",
    );
    let said = step(&renamed);
    let (reader, writer) = (
        place(tool, "ci-reader", &first),
        place(tool, "ci-writer", &first),
    );
    if tool == "github" {
        // GitHub cannot give a value back: apply says what to do instead.
        assert!(said.contains("cannot follow renames"), "{said}");
        assert_eq!(held(&state), BTreeMap::from([(reader.clone(), secret(0))]));
    } else {
        assert_eq!(
            held(&state),
            BTreeMap::from([(writer, secret(0))]),
            "{tool}: rename"
        );
    }

    let replaced = renamed.replace("DataPlaneViewer", "DataPlaneEditor");
    step(&replaced);
    let second = id(0);
    assert_ne!(first, second);
    let mut expected = BTreeMap::from([(place(tool, "ci-writer", &second), secret(1))]);
    if tool == "github" {
        expected.insert(reader.clone(), secret(0));
    }
    assert_eq!(held(&state), expected, "{tool}: replace");

    let secrets_line = format!("secrets = [\"{}\"]", table_name(tool));
    let gone = replaced.split("  [[project.key]]").next().unwrap().replace(
        &secrets_line,
        &format!("{secrets_line}\nunmanaged = \"delete\""),
    );
    step(&gone);
    assert!(env.keys(&prod).is_empty());
    let mut expected = BTreeMap::new();
    if tool == "github" {
        expected.insert(reader, secret(0));
    }
    assert_eq!(held(&state), expected, "{tool}: delete");
}

fn table_name(tool: &str) -> &str {
    match tool {
        "1password" => "onepassword",
        other => other,
    }
}

/// Without its name transform, a recipe breaks on a name its destination refuses, as the
/// real tool would: the stand-ins hold them to the same rules.
#[test]
fn a_recipe_without_its_name_transform_fails_and_leaves_no_key() {
    for (tool, key) in [
        ("github", "ci-reader"),
        ("doppler", "ci-reader"),
        ("kubernetes", "ci_reader"),
        ("gcp", "ci.reader"),
    ] {
        let env = Env::new();
        let prod = env.project("prod-eu");
        let state = env.path("standin-state");
        std::fs::create_dir(&state).unwrap();
        let untransformed = recipe(tool)
            .replace("{key:upper_snake}", "{key}")
            .replace("{key:kebab}", "{key}")
            .replace("name = \"ci-reader\"", &format!("name = \"{key}\""));
        env.manifest(&untransformed);
        let run = apply(&env, &state);
        assert_ne!(run.code, 0, "{tool} accepted {key}");
        assert!(env.keys(&prod).is_empty(), "{tool}: the key stayed");
        // With the transform, the same name is fine.
        env.manifest(&recipe(tool).replace("name = \"ci-reader\"", &format!("name = \"{key}\"")));
        let run = apply(&env, &state);
        assert_eq!(run.code, 0, "{tool}:\n{}\n{}", run.stdout, run.stderr);
        // No value ever reached a stand-in's arguments.
        let calls = std::fs::read_to_string(state.join("calls.log")).unwrap();
        for secret in env.emulator.issued_secrets() {
            assert!(
                !calls.contains(&secret),
                "{tool}: a secret in the arguments"
            );
        }
    }
}
