//! The file and command stores, on real files and real child processes.
#![cfg(unix)]
#![expect(clippy::unwrap_used, reason = "tests")]

use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::{FileTypeExt as _, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use keyplan::desired::{FileFormat, SecretsConfig};
use keyplan::model::{KeyId, Secret};
use keyplan::secrets::{self, FileStore, SecretStore, StoreError};

use crate::common::test_name;
use crate::support_stores::{project, record};

fn file_store(path: &Path, format: FileFormat) -> Box<dyn SecretStore> {
    secrets::open(&SecretsConfig::file(path.to_owned(), format)).unwrap()
}

/// A JSON file store at `secrets.json` in a fresh directory, which lives as long as the
/// returned `TempDir`.
fn json_file() -> (tempfile::TempDir, PathBuf, Box<dyn SecretStore>) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("secrets.json");
    let store = file_store(&path, FileFormat::Json);
    (dir, path, store)
}

/// [`json_file`] holding the secret `pcsk_one` of key `ci` (`k-1`) of project `prod` (`p-1`).
fn json_file_holding_one() -> (tempfile::TempDir, PathBuf, Box<dyn SecretStore>) {
    let (dir, path, store) = json_file();
    store
        .put(
            &record(&project("p-1", "prod"), "k-1", "ci"),
            &Secret::new("pcsk_one"),
        )
        .unwrap();
    (dir, path, store)
}

fn mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn names_in(dir: &Path) -> BTreeSet<String> {
    fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&fs::read(path).unwrap()).unwrap()
}

#[test]
fn json_round_trip() {
    let (_dir, path, store) = json_file();
    let prod = project("p-1", "prod");
    store.probe().unwrap();
    assert!(!path.exists(), "probe must not create the file");

    store
        .put(&record(&prod, "k-1", "ci"), &Secret::new("pcsk_one"))
        .unwrap();
    store
        .put(&record(&prod, "k-2", "app"), &Secret::new("pcsk_two"))
        .unwrap();

    let document = json(&path);
    assert_eq!(document["format_version"], "1");
    assert_eq!(
        document["secrets"][0],
        serde_json::json!({
            "project_id": "p-1", "project_name": "prod", "key_id": "k-1", "key_name": "ci",
            "created_at": "2026-11-27T01:02:03Z", "value": "pcsk_one"
        })
    );
    assert_eq!(document["secrets"].as_array().unwrap().len(), 2);

    assert_eq!(
        store.held_key_id(&prod, "ci").unwrap(),
        Some(KeyId("k-1".into()))
    );
    assert_eq!(
        store.get(&prod, "app").unwrap().unwrap().expose(),
        "pcsk_two"
    );
    assert_eq!(store.get(&prod, "nope").unwrap(), None);
    // Projects are matched by id: a namesake project holds nothing here.
    assert_eq!(
        store.held_key_id(&project("p-9", "prod"), "ci").unwrap(),
        None
    );

    // Rename carries the secret; a second run of the same rename changes nothing.
    let id = KeyId("k-1".into());
    assert!(store.rename(&prod, &id, "ci", "ci-new").unwrap());
    assert!(store.rename(&prod, &id, "ci", "ci-new").unwrap());
    assert_eq!(store.held_key_id(&prod, "ci").unwrap(), None);
    assert_eq!(
        store.get(&prod, "ci-new").unwrap().unwrap().expose(),
        "pcsk_one"
    );
    assert!(!store.rename(&prod, &KeyId("k-9".into()), "x", "y").unwrap());

    // Remove takes only that key's record.
    assert!(!store.remove(&prod, &KeyId("k-9".into()), "app").unwrap());
    assert!(store.remove(&prod, &id, "ci-new").unwrap());
    assert!(!store.remove(&prod, &id, "ci-new").unwrap());
    let document = json(&path);
    assert_eq!(document["secrets"].as_array().unwrap().len(), 1);
    assert_eq!(document["secrets"][0]["key_id"], "k-2");

    let shown = format!(
        "{:?} {}",
        FileStore::new(path.clone(), FileFormat::Json),
        store.describe()
    );
    assert!(!shown.contains("pcsk"), "{shown}");
}

#[test]
fn a_replace_keeps_both_records_until_the_old_key_is_removed() {
    let (_dir, path, store) = json_file();
    let prod = project("p-1", "prod");
    store
        .put(&record(&prod, "k-old", "ci"), &Secret::new("pcsk_old"))
        .unwrap();
    let mut newer = record(&prod, "k-new", "ci");
    newer.created_at = "2026-11-28T00:00:00Z".parse().unwrap();
    store.put(&newer, &Secret::new("pcsk_new")).unwrap();
    // The newest key of that name is the one whose secret is held.
    assert_eq!(
        store.held_key_id(&prod, "ci").unwrap(),
        Some(KeyId("k-new".into()))
    );
    assert_eq!(
        store.get(&prod, "ci").unwrap().unwrap().expose(),
        "pcsk_new"
    );
    assert!(store.remove(&prod, &KeyId("k-old".into()), "ci").unwrap());
    assert_eq!(
        store.get(&prod, "ci").unwrap().unwrap().expose(),
        "pcsk_new"
    );
    // Putting the same key again replaces its record rather than adding one.
    store.put(&newer, &Secret::new("pcsk_new")).unwrap();
    assert_eq!(json(&path)["secrets"].as_array().unwrap().len(), 1);
}

#[test]
fn the_file_is_created_0600_and_no_temp_file_is_left() {
    let (dir, path, store) = json_file();
    let prod = project("p-1", "prod");
    for i in 0..5 {
        store
            .put(
                &record(&prod, &format!("k-{i}"), &format!("key-{i}")),
                &Secret::new(format!("pcsk_{i}")),
            )
            .unwrap();
        assert_eq!(mode(&path), 0o600);
    }
    // Every earlier entry is still there.
    for i in 0..5 {
        assert_eq!(
            store
                .get(&prod, &format!("key-{i}"))
                .unwrap()
                .unwrap()
                .expose(),
            format!("pcsk_{i}")
        );
    }
    // Only the file and its (empty, 0600) lock file: no temp file holding secrets.
    assert_eq!(
        names_in(dir.path()),
        BTreeSet::from(["secrets.json".to_owned(), "secrets.json.lock".to_owned()])
    );
    assert_eq!(mode(&dir.path().join("secrets.json.lock")), 0o600);
    assert_eq!(
        fs::metadata(dir.path().join("secrets.json.lock"))
            .unwrap()
            .len(),
        0
    );
}

#[test]
fn existing_entries_and_unknown_fields_are_kept() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("secrets.json");
    let existing = serde_json::json!({
        "format_version": "1",
        "comment": "kept",
        "secrets": [{
            "project_id": "p-0", "project_name": "old", "key_id": "k-0", "key_name": "legacy",
            "created_at": "2025-01-01T00:00:00Z", "value": "pcsk_legacy", "note": "mine"
        }]
    });
    fs::write(&path, serde_json::to_vec(&existing).unwrap()).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
    let store = file_store(&path, FileFormat::Json);
    store
        .put(
            &record(&project("p-1", "prod"), "k-1", "ci"),
            &Secret::new("pcsk_one"),
        )
        .unwrap();
    let document = json(&path);
    assert_eq!(document["comment"], "kept");
    assert_eq!(document["secrets"][0]["note"], "mine");
    assert_eq!(document["secrets"][0]["value"], "pcsk_legacy");
    assert_eq!(document["secrets"][1]["value"], "pcsk_one");
}

#[test]
fn a_file_others_can_read_is_refused_and_left_alone() {
    let (_dir, path, store) = json_file_holding_one();
    let prod = project("p-1", "prod");
    for loose in [0o644, 0o640, 0o602] {
        fs::set_permissions(&path, fs::Permissions::from_mode(loose)).unwrap();
        let before = fs::read(&path).unwrap();
        let error = store
            .put(&record(&prod, "k-2", "app"), &Secret::new("pcsk_two"))
            .unwrap_err();
        assert!(
            error.message.contains(&path.display().to_string()),
            "{error}"
        );
        let hint = error.hint.clone().unwrap();
        assert!(hint.contains("chmod 600"), "{hint}");
        assert!(!error.message.contains("pcsk"), "{error}");
        assert!(
            store.get(&prod, "ci").is_err(),
            "reading must be refused too"
        );
        assert!(store.probe().is_err());
        assert_eq!(fs::read(&path).unwrap(), before);
        assert_eq!(mode(&path), loose);
    }
}

/// Runs `work` on a thread and gives its result, or fails the test if it does not return within
/// a few seconds (a hang must fail, not stall the suite; the stuck thread dies with the process).
fn within_seconds<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> T {
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || sender.send(work()));
    receiver
        .recv_timeout(std::time::Duration::from_secs(10))
        .expect("the store hung")
}

#[test]
fn a_fifo_or_a_directory_at_the_path_is_refused_without_hanging() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("secrets.json");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    let folder = dir.path().join("folder.json");
    fs::create_dir(&folder).unwrap();
    // Through a symlink too: the path is what it points at.
    let link = dir.path().join("link.json");
    std::os::unix::fs::symlink(&fifo, &link).unwrap();
    for (path, kind) in [
        (&fifo, "a FIFO"),
        (&folder, "a directory"),
        (&link, "a FIFO"),
    ] {
        let errors = within_seconds({
            let path = path.clone();
            move || {
                let store = file_store(&path, FileFormat::Json);
                let prod = project("p-1", "prod");
                [
                    store.probe().unwrap_err(),
                    store.get(&prod, "ci").unwrap_err(),
                    store.held_key_id(&prod, "ci").unwrap_err(),
                    store
                        .put(&record(&prod, "k-1", "ci"), &Secret::new("pcsk_one"))
                        .unwrap_err(),
                ]
            }
        });
        for error in errors {
            assert!(
                error
                    .message
                    .contains(&format!("{} is {kind}", path.display())),
                "{error}"
            );
            assert!(error.hint.unwrap().contains("regular file"));
        }
    }
    // Nothing was replaced by a regular file, and no temp file is left.
    assert!(fs::symlink_metadata(&fifo).unwrap().file_type().is_fifo());
    assert!(
        fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert!(fs::metadata(&folder).unwrap().is_dir());
    assert!(names_in(dir.path()).iter().all(|n| !n.contains(".tmp")));
}

#[test]
fn a_file_another_user_owns_is_refused_and_left_alone() {
    let (_dir, path, store) = json_file_holding_one();
    let prod = project("p-1", "prod");
    let me = nix::unistd::geteuid().as_raw();
    let other = if me == 65534 { 65533 } else { 65534 };
    // Giving a file away takes root, which these tests run as; elsewhere there is nothing to
    // check.
    if std::os::unix::fs::chown(&path, Some(other), None).is_err() {
        return;
    }
    let before = fs::read(&path).unwrap();
    let fresh = file_store(&path, FileFormat::Json);
    let errors = [
        store
            .put(&record(&prod, "k-2", "app"), &Secret::new("pcsk_two"))
            .unwrap_err(),
        store.probe().unwrap_err(),
        // A store that never read the file, so that no cached parse answers for it.
        fresh.get(&prod, "ci").unwrap_err(),
        store.remove(&prod, &KeyId("k-1".into()), "ci").unwrap_err(),
    ];
    for error in errors {
        assert!(
            error.message.contains(&format!(
                "secrets file {} is owned by uid {other}",
                path.display()
            )),
            "{error}"
        );
        assert!(error.message.contains(&format!("uid {me}")), "{error}");
        assert!(!error.message.contains("pcsk"), "{error}");
        let hint = error.hint.unwrap();
        assert!(
            hint.contains(&format!("chown {me} {}", path.display())),
            "{hint}"
        );
    }
    let now = fs::metadata(&path).unwrap();
    assert_eq!(std::os::unix::fs::MetadataExt::uid(&now), other);
    assert_eq!(fs::read(&path).unwrap(), before);
}

/// A temp file as a write killed before its rename leaves it: the file's name, `.<pid>-<16 hex
/// digits>.tmp`, 0600, a copy of every secret.
fn plant_stale_temp(path: &Path, pid: u32) -> PathBuf {
    let temp = PathBuf::from(format!("{}.{pid}-00000000deadbeef.tmp", path.display()));
    fs::write(
        &temp,
        r#"{"format_version":"1","secrets":[{"value":"pcsk_left"}]}"#,
    )
    .unwrap();
    fs::set_permissions(&temp, fs::Permissions::from_mode(0o600)).unwrap();
    temp
}

#[test]
fn a_run_that_only_reads_removes_the_temp_files_a_killed_write_left() {
    let (_dir, path, store) = json_file_holding_one();
    let prod = project("p-1", "prod");
    // A question (plan, `secret get`) on a fresh store.
    let left = plant_stale_temp(&path, 4242);
    let fresh = file_store(&path, FileFormat::Json);
    assert_eq!(
        fresh.get(&prod, "ci").unwrap().unwrap().expose(),
        "pcsk_one"
    );
    assert!(!left.exists(), "a question left the stale temp file");
    // A probe (every apply's first step), even on a store that already swept once.
    let left = plant_stale_temp(&path, 4343);
    store.probe().unwrap();
    assert!(!left.exists(), "probe left the stale temp file");
}

#[test]
fn a_live_writers_temp_file_is_never_removed() {
    let (dir, path, _store) = json_file_holding_one();
    // Another process mid-write: it holds the lock from creating its temp file to renaming it.
    let lock = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(dir.path().join("secrets.json.lock"))
        .unwrap();
    lock.lock().unwrap();
    let live = plant_stale_temp(&path, 4242);
    // A question neither waits for the writer nor touches its temp file.
    let fresh = file_store(&path, FileFormat::Json);
    let answer = within_seconds(move || fresh.held_key_id(&project("p-1", "prod"), "ci"));
    assert_eq!(answer.unwrap(), Some(KeyId("k-1".into())));
    assert!(
        live.exists(),
        "a question removed a live writer's temp file"
    );
    // A probe waits for the lock, and sweeps only once it has it.
    let probing = std::thread::spawn({
        let path = path.clone();
        move || file_store(&path, FileFormat::Json).probe()
    });
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert!(live.exists(), "a probe removed a live writer's temp file");
    // The writer is killed: its lock goes with it, and its temp file is now stale.
    drop(lock);
    probing.join().unwrap().unwrap();
    assert!(!live.exists());
}

#[test]
fn a_corrupt_file_is_refused_and_never_overwritten() {
    let (_dir, path, store) = json_file();
    let prod = project("p-1", "prod");
    let cases: [&[u8]; 4] = [
        b"{\"format_version\":\"1\",\"secrets\":[{\"value\":\"pcsk_half",
        b"not json at all pcsk_visible",
        b"{\"format_version\":\"2\",\"secrets\":[]}",
        b"{\"format_version\":\"1\",\"secrets\":[{\"key_id\":1,\"value\":\"pcsk_typed\"}]}",
    ];
    for bytes in cases {
        fs::write(&path, bytes).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
        let error = store
            .put(&record(&prod, "k-1", "ci"), &Secret::new("pcsk_new"))
            .unwrap_err();
        assert!(
            error.message.contains(&path.display().to_string()),
            "{error}"
        );
        assert!(error.hint.is_some());
        // The message never quotes the file's content.
        assert!(!error.message.contains("pcsk"), "{error}");
        assert!(store.probe().is_err());
        assert!(store.held_key_id(&prod, "ci").is_err());
        assert_eq!(fs::read(&path).unwrap(), bytes);
    }
}

#[test]
fn probe_reports_a_missing_directory() {
    let dir = tempfile::tempdir().unwrap();
    let store = file_store(&dir.path().join("missing/secrets.json"), FileFormat::Json);
    let error = store.probe().unwrap_err();
    assert!(error.message.contains("does not exist"), "{error}");
    assert!(error.hint.is_some());
    let error = store
        .put(
            &record(&project("p", "prod"), "k", "ci"),
            &Secret::new("pcsk_x"),
        )
        .unwrap_err();
    assert!(error.hint.is_some(), "{error}");
}

#[test]
fn threads_writing_at_once_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("secrets.json");
    let prod = project("p-1", "prod");
    std::thread::scope(|scope| {
        for thread in 0..8 {
            let (path, prod) = (&path, &prod);
            scope.spawn(move || {
                // A store per thread, as separate processes would have.
                let store = file_store(path, FileFormat::Json);
                for i in 0..10 {
                    let name = format!("t{thread}-{i}");
                    store
                        .put(
                            &record(prod, &name, &name),
                            &Secret::new(format!("pcsk_{name}")),
                        )
                        .unwrap();
                }
            });
        }
    });
    let store = file_store(&path, FileFormat::Json);
    assert_eq!(json(&path)["secrets"].as_array().unwrap().len(), 80);
    for thread in 0..8 {
        for i in 0..10 {
            let name = format!("t{thread}-{i}");
            assert_eq!(
                store.get(&prod, &name).unwrap().unwrap().expose(),
                format!("pcsk_{name}")
            );
        }
    }
}

/// One store shared by many threads, as one apply uses it: concurrent puts are written together
/// (group commit), and every put still returns only once its own secret is in the file.
#[test]
fn one_store_shared_by_threads_writes_every_secret_before_returning() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("secrets.json");
    let prod = project("p-1", "prod");
    let store = file_store(&path, FileFormat::Json);
    std::thread::scope(|scope| {
        for thread in 0..16 {
            let (store, prod, path) = (&store, &prod, &path);
            scope.spawn(move || {
                for i in 0..8 {
                    let name = format!("s{thread}-{i}");
                    store
                        .put(
                            &record(prod, &name, &name),
                            &Secret::new(format!("pcsk_{name}")),
                        )
                        .unwrap();
                    // Durable on return: a fresh reader already sees it.
                    let reader = file_store(path, FileFormat::Json);
                    assert_eq!(
                        reader.get(prod, &name).unwrap().unwrap().expose(),
                        format!("pcsk_{name}")
                    );
                }
            });
        }
    });
    assert_eq!(json(&path)["secrets"].as_array().unwrap().len(), 128);
}

/// The store keeps its last parse, and a question may trust it while the file keeps its identity
/// (device, inode, length, mtime). A write must not: an edit made in place, same length, with
/// the old mtime put back, is still seen by the next write and kept.
#[test]
fn a_write_rereads_an_edit_that_kept_the_files_identity() {
    let (_dir, path, store) = json_file();
    let prod = project("p-1", "prod");
    store
        .put(&record(&prod, "k-1", "ci"), &Secret::new("pcsk_aaaa"))
        .unwrap();
    assert_eq!(
        store.held_key_id(&prod, "ci").unwrap(),
        Some(KeyId("k-1".into()))
    );

    let mtime = fs::metadata(&path).unwrap().modified().unwrap();
    let edited = fs::read_to_string(&path)
        .unwrap()
        .replace("pcsk_aaaa", "pcsk_bbbb");
    let file = fs::OpenOptions::new().write(true).open(&path).unwrap();
    std::os::unix::fs::FileExt::write_all_at(&file, edited.as_bytes(), 0).unwrap();
    file.set_modified(mtime).unwrap();
    drop(file);

    store
        .put(&record(&prod, "k-2", "etl"), &Secret::new("pcsk_cccc"))
        .unwrap();
    let fresh = file_store(&path, FileFormat::Json);
    assert_eq!(
        fresh.get(&prod, "ci").unwrap().unwrap().expose(),
        "pcsk_bbbb"
    );
    assert_eq!(
        fresh.get(&prod, "etl").unwrap().unwrap().expose(),
        "pcsk_cccc"
    );
}

/// A question sees what another store (another process) wrote since: its write renamed a new
/// file into place.
#[test]
fn a_question_sees_another_stores_write() {
    let (_dir, path, store) = json_file_holding_one();
    let prod = project("p-1", "prod");
    assert_eq!(
        store.held_key_id(&prod, "ci").unwrap(),
        Some(KeyId("k-1".into()))
    );
    let other = file_store(&path, FileFormat::Json);
    other
        .put(&record(&prod, "k-9", "ci"), &Secret::new("pcsk_nine"))
        .unwrap();
    assert!(other.remove(&prod, &KeyId("k-1".into()), "ci").unwrap());
    assert_eq!(
        store.held_key_id(&prod, "ci").unwrap(),
        Some(KeyId("k-9".into()))
    );
    assert_eq!(
        store.get(&prod, "ci").unwrap().unwrap().expose(),
        "pcsk_nine"
    );
}

const WORKER_ENV: &str = "KEYPLAN_TEST_FILE_WORKER";

/// Child side of the test below: one process putting its own records into a shared file.
#[test]
fn file_worker() {
    let Some(spec) = std::env::var_os(WORKER_ENV) else {
        // Not a worker: the same work alone, on a file of its own.
        let dir = tempfile::tempdir().unwrap();
        put_as_worker(
            &dir.path().join("secrets.dotenv"),
            "solo",
            FileFormat::Dotenv,
        );
        return;
    };
    let spec = spec.into_string().unwrap();
    let (worker, path) = spec.split_once(':').unwrap();
    put_as_worker(Path::new(path), worker, FileFormat::Dotenv);
}

fn put_as_worker(path: &Path, worker: &str, format: FileFormat) {
    let store = file_store(path, format);
    let prod = project("p-1", "prod");
    for i in 0..15 {
        let name = format!("{worker}-{i}");
        store
            .put(
                &record(&prod, &name, &name),
                &Secret::new(format!("pcsk_{name}")),
            )
            .unwrap();
    }
}

#[test]
fn processes_writing_at_once_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path: PathBuf = dir.path().join("secrets.dotenv");
    let children: Vec<_> = (0..6)
        .map(|worker| {
            Command::new(std::env::current_exe().unwrap())
                .args([
                    "--exact",
                    &test_name(module_path!(), "file_worker"),
                    "--test-threads=1",
                ])
                .env(WORKER_ENV, format!("w{worker}:{}", path.display()))
                .stdout(std::process::Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    for mut child in children {
        assert!(child.wait().unwrap().success());
    }
    let store = file_store(&path, FileFormat::Dotenv);
    let prod = project("p-1", "prod");
    for worker in 0..6 {
        for i in 0..15 {
            let name = format!("w{worker}-{i}");
            assert_eq!(
                store.get(&prod, &name).unwrap().unwrap().expose(),
                format!("pcsk_{name}"),
                "{name} lost"
            );
        }
    }
    let text = fs::read_to_string(&path).unwrap();
    assert_eq!(
        text.lines().filter(|l| l.starts_with("KEYPLAN_")).count(),
        90
    );
    assert_eq!(
        names_in(dir.path()),
        BTreeSet::from([
            "secrets.dotenv".to_owned(),
            "secrets.dotenv.lock".to_owned()
        ])
    );
}

#[test]
fn dotenv_format() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(".env");
    let store = file_store(&path, FileFormat::Dotenv);
    let prod = project("p-1", "prod-eu");
    store
        .put(&record(&prod, "k-1", "ci.read"), &Secret::new("pcsk_one"))
        .unwrap();
    assert_eq!(mode(&path), 0o600);
    let text = fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("# "), "{text}");
    assert_eq!(
        lines[1],
        r#"# keyplan {"project_id":"p-1","project_name":"prod-eu","key_id":"k-1","key_name":"ci.read","created_at":"2026-11-27T01:02:03Z"}"#
    );
    assert_eq!(lines[2], "KEYPLAN_PROD_EU_CI_READ=pcsk_one");
    assert_eq!(lines.len(), 3);

    // Lines a user added are kept where they are.
    fs::write(&path, format!("{text}OTHER=kept\n")).unwrap();
    store
        .put(&record(&prod, "k-2", "app"), &Secret::new("pcsk_two"))
        .unwrap();
    let text = fs::read_to_string(&path).unwrap();
    assert!(text.contains("\nOTHER=kept\n"), "{text}");
    assert!(text.ends_with("KEYPLAN_PROD_EU_APP=pcsk_two\n"), "{text}");

    assert_eq!(
        store.held_key_id(&prod, "ci.read").unwrap(),
        Some(KeyId("k-1".into()))
    );
    assert_eq!(
        store.get(&prod, "app").unwrap().unwrap().expose(),
        "pcsk_two"
    );

    // A rename moves the variable; another key may not take a variable in use.
    assert!(
        store
            .rename(&prod, &KeyId("k-1".into()), "ci.read", "ci")
            .unwrap()
    );
    let text = fs::read_to_string(&path).unwrap();
    assert!(text.contains("KEYPLAN_PROD_EU_CI=pcsk_one"), "{text}");
    assert!(!text.contains("CI_READ"), "{text}");
    let error = store
        .rename(&prod, &KeyId("k-2".into()), "app", "ci")
        .unwrap_err();
    assert!(error.message.contains("KEYPLAN_PROD_EU_CI"), "{error}");
    assert!(!error.message.contains("pcsk"), "{error}");
    let namesake = project("p-2", "prod-eu");
    assert!(
        store
            .put(&record(&namesake, "k-3", "ci"), &Secret::new("pcsk_three"))
            .is_err()
    );

    // A replace: the new key's secret takes over the variable.
    store
        .put(&record(&prod, "k-4", "ci"), &Secret::new("pcsk_four"))
        .unwrap();
    assert_eq!(
        store.held_key_id(&prod, "ci").unwrap(),
        Some(KeyId("k-4".into()))
    );
    assert!(!store.remove(&prod, &KeyId("k-1".into()), "ci").unwrap());
    assert!(store.remove(&prod, &KeyId("k-4".into()), "ci").unwrap());
    let text = fs::read_to_string(&path).unwrap();
    assert!(!text.contains("KEYPLAN_PROD_EU_CI="), "{text}");
    assert!(text.contains("KEYPLAN_PROD_EU_APP=pcsk_two"), "{text}");

    // A secret with a line break cannot be a dotenv value.
    assert!(
        store
            .put(&record(&prod, "k-5", "x"), &Secret::new("a\nb"))
            .is_err()
    );
}

#[test]
fn a_dotenv_file_with_a_broken_record_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(".env");
    let broken = "# keyplan {\"project_id\":\"p-1\",\"project_name\":\"prod\",\"key_id\":\"k-1\",\
                  \"key_name\":\"ci\",\"created_at\":\"2026-11-27T01:02:03Z\"}\nWRONG=pcsk_x\n";
    fs::write(&path, broken).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
    let store = file_store(&path, FileFormat::Dotenv);
    let error = store
        .put(
            &record(&project("p-1", "prod"), "k-2", "app"),
            &Secret::new("pcsk_y"),
        )
        .unwrap_err();
    assert!(error.message.contains("line 2"), "{error}");
    assert!(!error.message.contains("pcsk"), "{error}");
    assert_eq!(fs::read_to_string(&path).unwrap(), broken);
}

/// Stores `secret` for key `ci` (`k-1`) of project `prod` (`p-1`) with a command store running
/// `command`.
fn put_by_command(command: Vec<String>, secret: &str) -> Result<(), StoreError> {
    secrets::open(&SecretsConfig::command(command))
        .unwrap()
        .put(
            &record(&project("p-1", "prod"), "k-1", "ci"),
            &Secret::new(secret),
        )
}

/// A script that records its arguments, environment and stdin in `dir`, then exits with
/// `status` after echoing stdin to stderr (as a careless tool might).
fn recording_script(dir: &Path, status: i32) -> PathBuf {
    let script = dir.join("record.sh");
    let out = dir.display();
    fs::write(
        &script,
        format!(
            "#!/bin/sh\n\
             printf '%s\\n' \"$@\" > '{out}/argv'\n\
             env > '{out}/env'\n\
             cat > '{out}/stdin'\n\
             echo 'ok, stored' \n\
             if [ {status} -ne 0 ]; then echo \"rejected: $(cat '{out}/stdin')\" >&2; fi\n\
             exit {status}\n"
        ),
    )
    .unwrap();
    fs::set_permissions(&script, fs::Permissions::from_mode(0o755)).unwrap();
    script
}

/// Apply stores secrets from many threads at once; the commands still run one after another.
#[test]
fn commands_run_one_at_a_time() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
    let script = dir.path().join("slow.sh");
    fs::write(
        &script,
        format!(
            "#!/bin/sh\ncat > /dev/null\necho \"start $1\" >> '{log}'\nsleep 0.05\n\
             echo \"end $1\" >> '{log}'\n",
            log = log.display()
        ),
    )
    .unwrap();
    fs::set_permissions(&script, fs::Permissions::from_mode(0o755)).unwrap();
    let store = secrets::open(&SecretsConfig::command(vec![
        script.display().to_string(),
        "{key}".into(),
    ]))
    .unwrap();
    let prod = project("p-1", "prod");
    std::thread::scope(|scope| {
        for i in 0..4 {
            let (store, prod) = (&store, &prod);
            scope.spawn(move || {
                let name = format!("key-{i}");
                store
                    .put(
                        &record(prod, &format!("k-{i}"), &name),
                        &Secret::new("pcsk_x"),
                    )
                    .unwrap();
            });
        }
    });
    let lines: Vec<String> = fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    assert_eq!(lines.len(), 8, "{lines:?}");
    for pair in lines.chunks(2) {
        let started = pair[0].strip_prefix("start ").unwrap();
        assert_eq!(
            pair[1],
            format!("end {started}"),
            "overlapping runs: {lines:?}"
        );
    }
}

#[test]
fn the_command_gets_the_secret_on_stdin_only() {
    let dir = tempfile::tempdir().unwrap();
    let script = recording_script(dir.path(), 0);
    let store = secrets::open(&SecretsConfig::command(vec![
        script.display().to_string(),
        "set".into(),
        "{key}".into(),
        "--project={project}".into(),
        "{project_id}".into(),
    ]))
    .unwrap();
    store.probe().unwrap();
    let secret = "pcsk_command_secret_3141";
    store
        .put(
            &record(&project("p-1", "prod"), "k-1", "ci"),
            &Secret::new(secret),
        )
        .unwrap();

    assert_eq!(
        fs::read_to_string(dir.path().join("stdin")).unwrap(),
        secret
    );
    let argv = fs::read_to_string(dir.path().join("argv")).unwrap();
    assert_eq!(argv, "set\nci\n--project=prod\np-1\n");
    let env = fs::read_to_string(dir.path().join("env")).unwrap();
    assert!(
        !env.contains(secret),
        "the secret leaked into the environment"
    );
    assert!(env.contains("PATH="), "the environment is inherited: {env}");
    assert!(!store.describe().contains(secret));

    // Write-only: nothing to read back, rename or remove, and it says so.
    assert!(!store.can_read_back());
    assert!(file_store(&dir.path().join("s.json"), FileFormat::Json).can_read_back());
    let prod = project("p-1", "prod");
    let id = KeyId("k-1".into());
    assert_eq!(store.held_key_id(&prod, "ci").unwrap(), None);
    assert_eq!(store.get(&prod, "ci").unwrap(), None);
    assert!(!store.rename(&prod, &id, "ci", "cd").unwrap());
    assert!(!store.remove(&prod, &id, "ci").unwrap());
}

const COMMAND_WORKER_ENV: &str = "KEYPLAN_TEST_COMMAND_WORKER";

/// Child side of the test below: a process with keyplan's credentials in its environment (the
/// test process has none, and changing its environment would reach every test thread) stores
/// one secret with a command that records its environment in the given directory.
#[test]
fn command_worker() {
    let dir = std::env::var_os(COMMAND_WORKER_ENV).map(PathBuf::from);
    // Not a worker: the same work alone, in a directory of its own.
    let own = tempfile::tempdir().unwrap();
    let dir = dir.as_deref().unwrap_or(own.path());
    let script = recording_script(dir, 0);
    put_by_command(
        vec![script.display().to_string(), "{key}".into()],
        "pcsk_worker",
    )
    .unwrap();
}

#[test]
fn the_command_never_sees_the_admin_credentials() {
    let dir = tempfile::tempdir().unwrap();
    let credentials = [
        ("PINECONE_CLIENT_SECRET", "admin-secret-1f3a"),
        ("PINECONE_ACCESS_TOKEN", "admin-token-9c2e"),
        ("PINECONE_CLIENT_ID", "admin-client-77b0"),
        ("PINECONE_API_KEY", "pcsk_admin_key_5d1"),
    ];
    let status = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            &test_name(module_path!(), "command_worker"),
            "--test-threads=1",
        ])
        .env(COMMAND_WORKER_ENV, dir.path())
        .envs(credentials)
        .env("PINECONE_CONTROLLER_HOST", "http://127.0.0.1:9")
        .env("KEYPLAN_TEST_KEPT", "kept-4e1")
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let env = fs::read_to_string(dir.path().join("env")).unwrap();
    for (name, value) in credentials {
        assert!(!env.contains(name), "{name} reached the command");
        assert!(!env.contains(value), "{name}'s value reached the command");
    }
    // The rest of the environment is inherited as it was.
    for kept in [
        "PINECONE_CONTROLLER_HOST=http://127.0.0.1:9",
        "KEYPLAN_TEST_KEPT=kept-4e1",
        "PATH=",
    ] {
        assert!(env.contains(kept), "{kept} is missing: {env}");
    }
}

#[test]
fn a_failing_command_is_an_error_without_the_secret() {
    let dir = tempfile::tempdir().unwrap();
    let script = recording_script(dir.path(), 3);
    let secret = "pcsk_must_not_show_2718";
    let error =
        put_by_command(vec![script.display().to_string(), "{key}".into()], secret).unwrap_err();
    assert!(error.message.contains("exit status 3"), "{error}");
    assert!(error.message.contains("rejected: [redacted]"), "{error}");
    assert!(!format!("{error} {error:?}").contains(secret), "{error:?}");
    // The child did receive it, so the redaction above was real.
    assert_eq!(
        fs::read_to_string(dir.path().join("stdin")).unwrap(),
        secret
    );
}

#[test]
fn a_failing_commands_cut_split_or_wrapped_echo_of_the_secret_is_redacted() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("echo.sh");
    // Echoes as tools do: cut to a width, in two halves, wrapped at 9 columns.
    fs::write(
        &script,
        "#!/bin/sh\n\
         s=$(cat)\n\
         printf 'bad token %.20s...\\n' \"$s\" >&2\n\
         printf 'first half: %s\\n' \"$(printf %s \"$s\" | cut -c1-14)\" >&2\n\
         printf 'second half: %s\\n' \"$(printf %s \"$s\" | cut -c15-)\" >&2\n\
         printf '%s\\n' \"$s\" | fold -w 9 >&2\n\
         exit 1\n",
    )
    .unwrap();
    fs::set_permissions(&script, fs::Permissions::from_mode(0o755)).unwrap();
    let secret = "pcsk_4Jd8sKq2LmZx9TvW0bNc7YpQ";
    let error = put_by_command(vec![script.display().to_string()], secret).unwrap_err();
    let shown = format!("{error} {error:?}");
    assert!(error.message.contains("bad token [redacted]..."), "{error}");
    assert!(error.message.contains("first half: [redacted]"), "{error}");
    assert!(error.message.contains("second half: [redacted]"), "{error}");
    // No piece of 8 characters survives, not even across the wrapped lines.
    let joined: String = shown.split_whitespace().collect();
    let chars: Vec<char> = secret.chars().collect();
    for piece in chars.windows(8) {
        let piece: String = piece.iter().collect();
        assert!(!joined.contains(&piece), "{piece} shown: {error}");
    }
}

#[test]
fn a_command_that_never_reads_stdin_still_finishes() {
    // A big secret and a child that ignores stdin: no deadlock, its status decides.
    let store = secrets::open(&SecretsConfig::command(vec![
        "sh".into(),
        "-c".into(),
        "exit 0".into(),
    ]))
    .unwrap();
    let big = "x".repeat(1 << 20);
    store
        .put(&record(&project("p", "prod"), "k", "ci"), &Secret::new(big))
        .unwrap();
}

#[test]
fn a_missing_command_fails_the_probe_without_running_anything() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("ran");
    let store = secrets::open(&SecretsConfig::command(vec![
        "keyplan-test-no-such-program".into(),
    ]))
    .unwrap();
    let error = store.probe().unwrap_err();
    assert!(error.message.contains("not found"), "{error}");
    // An existing program is found but not run.
    let script = dir.path().join("touch.sh");
    fs::write(
        &script,
        format!("#!/bin/sh\ntouch '{}'\n", marker.display()),
    )
    .unwrap();
    fs::set_permissions(&script, fs::Permissions::from_mode(0o755)).unwrap();
    let store = secrets::open(&SecretsConfig::command(vec![script.display().to_string()])).unwrap();
    store.probe().unwrap();
    assert!(!marker.exists());
    // Not executable: refused.
    fs::set_permissions(&script, fs::Permissions::from_mode(0o644)).unwrap();
    assert!(store.probe().is_err());
}

#[test]
fn a_command_that_hangs_is_killed() {
    let store = keyplan::secrets::CommandStore::new(vec!["sleep".into(), "30".into()])
        .unwrap()
        .with_timeout(std::time::Duration::from_millis(300));
    let started = std::time::Instant::now();
    let error = store
        .put(
            &record(&project("p", "prod"), "k", "ci"),
            &Secret::new("pcsk_waiting"),
        )
        .unwrap_err();
    assert!(error.message.contains("did not finish"), "{error}");
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
}
