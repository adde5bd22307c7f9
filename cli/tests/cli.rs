//! The `tailor` binary as a user runs it: real processes on a temporary data directory.

use std::path::{Path, PathBuf};
use std::process::Command;

mod common;
use common::{interactions_dataset, ok, schemas, tailor, text};

/// A group `g` with an interactions dataset on the MovieLens interactions schema.
fn setup(data: &Path) {
    interactions_dataset(data, "movielens-interactions.json", "d");
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
    let out = tailor(dir.path(), &["demo", "--no-serve"]);
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
    ok(&tailor(dir.path(), &["demo", "--no-serve"]));
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
    let out = tailor(
        dir.path(),
        &["demo", "--no-serve", "--movielens", ml.to_str().unwrap()],
    );
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
fn schema_files_with_a_bom_load_and_bad_json_says_where() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let plain = std::fs::read(schemas().join("ecommerce-users.json")).unwrap();
    let bom = dir.path().join("bom.json");
    std::fs::write(&bom, [b"\xEF\xBB\xBF".as_slice(), &plain].concat()).unwrap();
    let out = tailor(
        &data,
        &[
            "create-schema",
            "--name",
            "u",
            "--file",
            bom.to_str().unwrap(),
        ],
    );
    ok(&out);
    let record: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(record["schema"].as_str().unwrap().starts_with('{'));

    let bad = dir.path().join("bad.json");
    std::fs::write(
        &bad,
        "{\n  \"type\": \"record\",\n  \"name\" \"Users\"\n}\n",
    )
    .unwrap();
    let out = tailor(
        &data,
        &[
            "create-schema",
            "--name",
            "b",
            "--file",
            bad.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains(
            "InvalidInputException: schema is not valid JSON: line 3, column 10: expected `:`"
        ),
        "{}",
        text(&out.stderr)
    );
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

#[test]
fn train_recommend_similar_rank_and_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let sample_dir = dir.path().join("sample");
    ok(&tailor(
        dir.path(),
        &["sample", "--out", sample_dir.to_str().unwrap()],
    ));
    ok(&tailor(&data, &["create-dataset-group", "--name", "shop"]));
    for (kind, schema) in [
        ("interactions", "ecommerce-interactions.json"),
        ("items", "ecommerce-items.json"),
    ] {
        let file = schemas().join(schema);
        ok(&tailor(
            &data,
            &[
                "create-schema",
                "--name",
                kind,
                "--file",
                file.to_str().unwrap(),
            ],
        ));
        ok(&tailor(
            &data,
            &[
                "create-dataset",
                "--name",
                kind,
                "--dataset-group",
                "shop",
                "--schema",
                kind,
                "--type",
                kind,
            ],
        ));
        let csv = sample_dir.join(format!("{kind}.csv"));
        ok(&tailor(
            &data,
            &[
                "import",
                "--dataset-group",
                "shop",
                "--type",
                kind,
                "--file",
                csv.to_str().unwrap(),
            ],
        ));
    }
    let bad = tailor(
        &data,
        &[
            "create-solution",
            "--name",
            "x",
            "--dataset-group",
            "shop",
            "--recipe",
            "aws-sims",
            "--hp",
            "min_cointeraction_count=99",
        ],
    );
    assert_eq!(bad.status.code(), Some(1));
    assert!(
        text(&bad.stderr).contains("min_cointeraction_count=99 is out of range"),
        "{}",
        text(&bad.stderr)
    );

    ok(&tailor(
        &data,
        &[
            "create-solution",
            "--name",
            "up",
            "--dataset-group",
            "shop",
            "--recipe",
            "aws-user-personalization",
            "--hp",
            "bptt=40",
        ],
    ));
    let trained = tailor(&data, &["train", "--solution", "up"]);
    ok(&trained);
    assert!(
        text(&trained.stderr).contains("ACTIVE"),
        "{}",
        text(&trained.stderr)
    );
    assert!(text(&trained.stdout).contains("aws-user-personalization"));
    let updated = tailor(&data, &["train", "--solution", "up", "--mode", "update"]);
    ok(&updated);

    let recs = tailor(
        &data,
        &[
            "recommend",
            "--solution",
            "up",
            "--user-id",
            "U0002",
            "--num-results",
            "5",
        ],
    );
    ok(&recs);
    let lines: Vec<String> = text(&recs.stdout).lines().map(String::from).collect();
    assert_eq!(lines.len(), 5, "{lines:?}");
    assert!(lines[0].starts_with("  1. P"), "{lines:?}");

    ok(&tailor(
        &data,
        &[
            "create-solution",
            "--name",
            "sims",
            "--dataset-group",
            "shop",
            "--recipe",
            "aws-sims",
        ],
    ));
    ok(&tailor(&data, &["train", "--solution", "sims"]));
    let similar = tailor(
        &data,
        &[
            "similar",
            "--solution",
            "sims",
            "--item-id",
            "P00001",
            "--num-results",
            "3",
        ],
    );
    ok(&similar);
    assert_eq!(
        text(&similar.stdout).lines().count(),
        4,
        "{}",
        text(&similar.stdout)
    );

    // performHPO and optimizationObjective from the command line.
    let hpo = data.join("hpo.json");
    std::fs::write(
        &hpo,
        r#"{"hpoResourceConfig": {"maxNumberOfTrainingJobs": "3"},
            "algorithmHyperParameterRanges": {
              "integerHyperParameterRanges": [{"name": "bptt", "minValue": 10, "maxValue": 60}]}}"#,
    )
    .unwrap();
    ok(&tailor(
        &data,
        &[
            "create-solution",
            "--name",
            "tuned",
            "--dataset-group",
            "shop",
            "--recipe",
            "aws-user-personalization",
            "--hpo-config",
            hpo.to_str().unwrap(),
            "--objective-attribute",
            "PRICE",
            "--objective-sensitivity",
            "LOW",
        ],
    ));
    ok(&tailor(&data, &["train", "--solution", "tuned"]));
    let described = tailor(&data, &["describe-solution", "tuned", "--json"]);
    ok(&described);
    let described: serde_json::Value = serde_json::from_slice(&described.stdout).unwrap();
    assert_eq!(described["performHPO"], true, "{described}");
    assert_eq!(
        described["solutionConfig"]["optimizationObjective"]["objectiveSensitivity"],
        "LOW"
    );

    let ranked = tailor(
        &data,
        &[
            "rank",
            "--solution",
            "up",
            "--user-id",
            "U0002",
            "--items",
            "P00003,unknown-item,P00002",
        ],
    );
    ok(&ranked);
    let out = text(&ranked.stdout);
    let last = out.lines().last().unwrap();
    assert!(
        last.contains("unknown-item") && last.contains(" - "),
        "an unknown item goes last without a score:\n{out}"
    );

    let no_version = tailor(
        &data,
        &[
            "create-solution",
            "--name",
            "idle",
            "--dataset-group",
            "shop",
            "--recipe",
            "aws-popularity-count",
        ],
    );
    ok(&no_version);
    let err = tailor(
        &data,
        &["recommend", "--solution", "idle", "--user-id", "U0002"],
    );
    assert_eq!(err.status.code(), Some(1));
    assert!(
        text(&err.stderr).contains("no ACTIVE version"),
        "{}",
        text(&err.stderr)
    );
}

#[test]
fn evaluate_reports_personalize_metrics_for_every_recipe() {
    let ml = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/movielens-small");
    let dir = tempfile::tempdir().unwrap();
    let out = tailor(
        dir.path(),
        &[
            "evaluate",
            "--recipe",
            "all",
            "--movielens",
            ml.to_str().unwrap(),
            "--json",
        ],
    );
    ok(&out);
    let reports: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let ndcg = |recipe: &str| {
        let r = reports
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["recipe"] == recipe)
            .unwrap();
        assert_eq!(r["usersEvaluated"], 610);
        assert_eq!(r["catalogue"], 9724);
        r["metrics"]["normalized_discounted_cumulative_gain_at_10"]
            .as_f64()
            .unwrap()
    };
    let pop = ndcg("aws-popularity-count");
    assert!(
        (pop - 0.0885).abs() < 0.002,
        "popularity reproduces the peer figure: {pop}"
    );
    assert!(ndcg("aws-user-personalization") > 1.5 * pop);
    assert!(ndcg("aws-sims") > pop);
    assert!(ndcg("aws-trending-now") > 0.0);

    // The same protocol on a pre-split pair gives the same answer as the built-in split.
    let ratings = std::fs::read_to_string(ml.join("ratings.csv")).unwrap();
    let mut by_user: std::collections::BTreeMap<String, Vec<(i64, usize, String)>> =
        Default::default();
    for (n, line) in ratings.lines().skip(1).enumerate() {
        let f: Vec<&str> = line.split(',').collect();
        by_user.entry(f[0].into()).or_default().push((
            f[3].parse().unwrap(),
            n,
            format!("{},{},{},rating,{}", f[0], f[1], f[3], f[2]),
        ));
    }
    let (mut train, mut test) = (
        String::from("USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE,EVENT_VALUE\n"),
        String::from("USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE,EVENT_VALUE\n"),
    );
    for rows in by_user.values_mut() {
        rows.sort_by_key(|r| (r.0, r.1));
        let k = if rows.len() >= 5 {
            ((rows.len() as f64) * 0.2).ceil() as usize
        } else {
            0
        };
        for (i, r) in rows.iter().enumerate() {
            let target = if i >= rows.len() - k {
                &mut test
            } else {
                &mut train
            };
            target.push_str(&r.2);
            target.push('\n');
        }
    }
    std::fs::write(dir.path().join("train.csv"), train).unwrap();
    std::fs::write(dir.path().join("test.csv"), test).unwrap();
    let paired = tailor(
        dir.path(),
        &[
            "evaluate",
            "--recipe",
            "aws-popularity-count",
            "--train",
            dir.path().join("train.csv").to_str().unwrap(),
            "--test",
            dir.path().join("test.csv").to_str().unwrap(),
            "--json",
        ],
    );
    ok(&paired);
    let paired: serde_json::Value = serde_json::from_slice(&paired.stdout).unwrap();
    let p = paired[0]["metrics"]["normalized_discounted_cumulative_gain_at_10"]
        .as_f64()
        .unwrap();
    // Equal up to how ties in popularity fall (item codes follow file order, which differs).
    assert!((p - pop).abs() < 5e-4, "pre-split {p} vs built-in {pop}");
}
