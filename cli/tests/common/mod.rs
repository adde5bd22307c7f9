//! What the CLI test binaries share: running `tailor` on a data directory, checking it
//! succeeded, and a group with an interactions dataset.
// Each test binary compiles this module and uses only part of it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// `tailor --data-dir <data>`, with no data directory or log level from the environment.
pub fn tailor_cmd(data: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_tailor"));
    c.arg("--data-dir")
        .arg(data)
        .env_remove("TAILOR_DATA_DIR")
        .env_remove("TAILOR_LOG");
    c
}

pub fn tailor(data: &Path, args: &[&str]) -> Output {
    tailor_cmd(data).args(args).output().expect("tailor runs")
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Asserts the command succeeded; its stdout.
pub fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "stdout:\n{}\nstderr:\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

pub fn schemas() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../schemas")
}

/// A group `g` with an interactions dataset `dataset` on schema `s` from `schema_file` (under
/// `schemas/`).
pub fn interactions_dataset(data: &Path, schema_file: &str, dataset: &str) {
    ok(&tailor(data, &["create-dataset-group", "--name", "g"]));
    let schema = schemas().join(schema_file);
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
            dataset,
            "--dataset-group",
            "g",
            "--schema",
            "s",
            "--type",
            "interactions",
        ],
    ));
}

/// `tailor sample` into `<data>/sample`: the generated sample's CSV files.
pub fn sample_files(data: &Path) -> PathBuf {
    let sample = data.join("sample");
    ok(&tailor(
        data,
        &["sample", "--out", sample.to_str().unwrap()],
    ));
    sample
}
