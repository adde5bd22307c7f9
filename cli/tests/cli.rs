//! The `tailor` binary as a user runs it: real processes on a temporary data directory.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn tailor(data: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tailor"))
        .arg("--data-dir")
        .arg(data)
        .args(args)
        .env_remove("TAILOR_DATA_DIR")
        .output()
        .expect("tailor runs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn ok(out: &Output) {
    assert!(
        out.status.success(),
        "stdout:\n{}\nstderr:\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
}

fn schemas() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../schemas")
}

/// A group `g` with an interactions dataset on the MovieLens interactions schema.
fn setup(data: &Path) {
    ok(&tailor(data, &["create-dataset-group", "--name", "g"]));
    let schema = schemas().join("movielens-interactions.json");
    ok(&tailor(
        data,
        &[
            "create-schema",
            "--name",
            "s",
            "--file",
            schema.to_str().unwrap(),
        ],
    ));
    ok(&tailor(
        data,
        &[
            "create-dataset",
            "--name",
            "d",
            "--dataset-group",
            "g",
            "--schema",
            "s",
            "--type",
            "interactions",
        ],
    ));
}

fn write_csv(dir: &Path, name: &str, rows: &[String]) -> PathBuf {
    let path = dir.join(name);
    let mut body = "USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE,EVENT_VALUE\n".to_string();
    for r in rows {
        body.push_str(r);
        body.push('\n');
    }
    std::fs::write(&path, body).unwrap();
    path
}

fn rows_of(data: &Path, kind: &str) -> u64 {
    let out = tailor(data, &["describe", "--dataset-group", "g", "--json"]);
    ok(&out);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    v.as_array()
        .unwrap()
        .iter()
        .find(|s| s["datasetType"] == kind)
        .map(|s| s["rows"].as_u64().unwrap())
        .unwrap_or(0)
}

#[test]
fn demo_imports_the_generated_sample_and_describes_it() {
    let dir = tempfile::tempdir().unwrap();
    let out = tailor(dir.path(), &["demo"]);
    ok(&out);
    let stdout = text(&out.stdout);
    for needle in [
        "INTERACTIONS dataset",
        "ITEMS dataset",
        "USERS dataset",
        "event types   View",
        "Purchase",
    ] {
        assert!(stdout.contains(needle), "missing {needle:?} in\n{stdout}");
    }
    // Running it again replaces the data (FULL) rather than failing or doubling it.
    let first = rows_of_group(dir.path(), "demo");
    ok(&tailor(dir.path(), &["demo"]));
    assert_eq!(rows_of_group(dir.path(), "demo"), first);
}

fn rows_of_group(data: &Path, group: &str) -> u64 {
    let out = tailor(data, &["describe", "--dataset-group", group, "--json"]);
    ok(&out);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| s["rows"].as_u64().unwrap())
        .sum()
}

#[test]
fn demo_reads_movielens_when_pointed_at_it() {
    let ml = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/movielens-small");
    assert!(
        ml.join("ratings.csv").exists(),
        "../shared/data/movielens-small is expected beside the repo"
    );
    let dir = tempfile::tempdir().unwrap();
    let out = tailor(dir.path(), &["demo", "--movielens", ml.to_str().unwrap()]);
    ok(&out);
    let stdout = text(&out.stdout);
    assert!(stdout.contains("rows          100836"), "{stdout}");
    assert!(stdout.contains("users         610"), "{stdout}");
    assert!(stdout.contains("rows          9742"), "{stdout}");
}

#[test]
fn a_bad_file_is_rejected_with_line_and_column_and_nothing_changes() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    setup(&data);
    let good = write_csv(
        dir.path(),
        "good.csv",
        &["u1,i1,100,rating,4.0".into(), "u2,i2,200,rating,".into()],
    );
    ok(&tailor(
        &data,
        &[
            "import",
            "--dataset-group",
            "g",
            "--type",
            "interactions",
            "--file",
            good.to_str().unwrap(),
        ],
    ));
    let bad = write_csv(
        dir.path(),
        "bad.csv",
        &[
            "u1,i1,100,rating,4.0".into(),
            "u2,i2,1700000000000,rating,".into(),
            "u3,,5,rating,x".into(),
        ],
    );
    let out = tailor(
        &data,
        &[
            "import",
            "--dataset-group",
            "g",
            "--type",
            "interactions",
            "--file",
            bad.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("CREATE FAILED"), "{stderr}");
    assert!(stderr.contains("line 3, column TIMESTAMP"), "{stderr}");
    assert!(stderr.contains("line 4, column ITEM_ID"), "{stderr}");
    assert!(stderr.contains("line 4, column EVENT_VALUE"), "{stderr}");
    assert!(stderr.contains("nothing was imported"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(rows_of(&data, "INTERACTIONS"), 2);
}

#[test]
fn usage_errors_name_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let out = tailor(dir.path(), &["describe", "--dataset-group", "nope"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("ResourceNotFoundException"),
        "{}",
        text(&out.stderr)
    );
    let bad_schema = dir.path().join("bad.json");
    std::fs::write(
        &bad_schema,
        r#"{"type":"record","name":"Interactions","fields":[{"name":"USER_ID","type":"string"}]}"#,
    )
    .unwrap();
    let out = tailor(
        dir.path(),
        &[
            "create-schema",
            "--name",
            "x",
            "--file",
            bad_schema.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("InvalidInputException") && stderr.contains("ITEM_ID"),
        "{stderr}"
    );
}

#[test]
fn concurrent_import_processes_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    setup(&data);
    let base = write_csv(dir.path(), "base.csv", &["u0,i0,1,rating,1".into()]);
    ok(&tailor(
        &data,
        &[
            "import",
            "--dataset-group",
            "g",
            "--type",
            "interactions",
            "--file",
            base.to_str().unwrap(),
        ],
    ));
    let children: Vec<_> = (0..4)
        .map(|w| {
            let rows: Vec<String> = (0..50)
                .map(|k| format!("w{w},i{k},{},rating,3", 10 + k))
                .collect();
            let file = write_csv(dir.path(), &format!("w{w}.csv"), &rows);
            Command::new(env!("CARGO_BIN_EXE_tailor"))
                .arg("--data-dir")
                .arg(&data)
                .args([
                    "import",
                    "--dataset-group",
                    "g",
                    "--type",
                    "interactions",
                    "--mode",
                    "incremental",
                    "--file",
                ])
                .arg(&file)
                .spawn()
                .unwrap()
        })
        .collect();
    for mut c in children {
        assert!(c.wait().unwrap().success());
    }
    assert_eq!(rows_of(&data, "INTERACTIONS"), 1 + 4 * 50);
}

#[test]
fn sample_writes_csv_files_that_import() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("sample");
    ok(&tailor(
        dir.path(),
        &["sample", "--out", out_dir.to_str().unwrap()],
    ));
    let a = std::fs::read(out_dir.join("interactions.csv")).unwrap();
    ok(&tailor(
        dir.path(),
        &["sample", "--out", out_dir.to_str().unwrap()],
    ));
    assert_eq!(
        a,
        std::fs::read(out_dir.join("interactions.csv")).unwrap(),
        "the sample is deterministic"
    );
    let data = dir.path().join("data");
    setup(&data);
    // The ecommerce sample has a DEVICE column the MovieLens schema lacks: a clear refusal.
    let out = tailor(
        &data,
        &[
            "import",
            "--dataset-group",
            "g",
            "--type",
            "interactions",
            "--file",
            out_dir.join("interactions.csv").to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("column DEVICE"),
        "{}",
        text(&out.stderr)
    );
}
