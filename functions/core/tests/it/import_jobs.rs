//! Import jobs through the services on the embedded store: FULL vs INCREMENTAL, all-or-nothing
//! failures, races between importers, and encryption at rest.

use tailor_core::data::csv::write_row;
use tailor_core::domain::{ImportMode, ResourceType, Status};
use tailor_core::schema::DatasetType;
use tailor_core::{domain::ArnBuilder, Error, Stores, Tailor};

const INTERACTIONS: &str = r#"{"type":"record","name":"Interactions","fields":[
  {"name":"USER_ID","type":"string"},{"name":"ITEM_ID","type":"string"},
  {"name":"TIMESTAMP","type":"long"},{"name":"EVENT_TYPE","type":"string"},
  {"name":"EVENT_VALUE","type":["null","float"]}],"version":"1.0"}"#;
const ITEMS: &str = r#"{"type":"record","name":"Items","fields":[
  {"name":"ITEM_ID","type":"string"},{"name":"GENRES","type":"string","categorical":true},
  {"name":"PRICE","type":["null","double"]}],"version":"1.0"}"#;

struct Env {
    _dir: tempfile::TempDir,
    root: std::path::PathBuf,
    tailor: Tailor,
    group: String,
}

async fn env() -> Env {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    let tailor = open(&root);
    let group = tailor
        .create_dataset_group("g", None, None)
        .await
        .unwrap()
        .dataset_group_arn;
    let si = tailor
        .create_schema("si", INTERACTIONS)
        .await
        .unwrap()
        .schema_arn;
    let st = tailor.create_schema("st", ITEMS).await.unwrap().schema_arn;
    tailor
        .create_dataset("di", &si, &group, DatasetType::Interactions)
        .await
        .unwrap();
    tailor
        .create_dataset("dt", &st, &group, DatasetType::Items)
        .await
        .unwrap();
    Env {
        _dir: dir,
        root,
        tailor,
        group,
    }
}

fn open(root: &std::path::Path) -> Tailor {
    Tailor::new(Stores::embedded(root).unwrap(), ArnBuilder::default())
}

fn interactions(rows: &[(&str, &str, i64)]) -> Vec<u8> {
    let mut out = Vec::new();
    write_row(
        &mut out,
        [
            "USER_ID",
            "ITEM_ID",
            "TIMESTAMP",
            "EVENT_TYPE",
            "EVENT_VALUE",
        ],
    );
    for (u, i, t) in rows {
        write_row(&mut out, [*u, *i, &t.to_string(), "click", ""]);
    }
    out
}

fn items(rows: &[(&str, &str)]) -> Vec<u8> {
    let mut out = Vec::new();
    write_row(&mut out, ["ITEM_ID", "GENRES", "PRICE"]);
    for (i, g) in rows {
        write_row(&mut out, [*i, *g, "9.5"]);
    }
    out
}

async fn import(
    t: &Tailor,
    kind: DatasetType,
    name: &str,
    mode: ImportMode,
    csv: &[u8],
) -> tailor_core::services::ImportOutcome {
    let ds = t.arns.dataset_arn("g", kind);
    let job = t
        .create_dataset_import_job(name, &ds, "file://test.csv", mode, Default::default())
        .await
        .unwrap();
    assert_eq!(job.status, Status::CreatePending);
    t.run_dataset_import_job(&job.dataset_import_job_arn, csv, &mut |_, _| {})
        .await
        .unwrap()
}

fn ids(table: &tailor_core::data::Table, field: &str) -> Vec<String> {
    let (dict, codes) = table.codes(field).unwrap();
    codes.iter().map(|&c| dict.name(c).to_string()).collect()
}

#[tokio::test]
async fn full_replaces_and_incremental_appends_interactions() {
    let e = env().await;
    let ds = e.tailor.arns.dataset_arn("g", DatasetType::Interactions);
    assert!(
        e.tailor.load_dataset(&ds).await.unwrap().is_none(),
        "no data before an import"
    );
    let out = import(
        &e.tailor,
        DatasetType::Interactions,
        "j1",
        ImportMode::Full,
        &interactions(&[("u1", "a", 1), ("u2", "b", 2), ("u1", "c", 3)]),
    )
    .await;
    assert_eq!(out.job.status, Status::Active);
    assert_eq!(out.rows, 3);
    let out = import(
        &e.tailor,
        DatasetType::Interactions,
        "j2",
        ImportMode::Incremental,
        &interactions(&[("u3", "a", 4), ("u1", "a", 5)]),
    )
    .await;
    assert_eq!((out.job.status, out.rows), (Status::Active, 5));
    let table = e.tailor.load_dataset(&ds).await.unwrap().unwrap();
    assert_eq!(ids(&table, "USER_ID"), ["u1", "u2", "u1", "u3", "u1"]);
    assert_eq!(table.longs("TIMESTAMP").unwrap(), [1, 2, 3, 4, 5]);
    let out = import(
        &e.tailor,
        DatasetType::Interactions,
        "j3",
        ImportMode::Full,
        &interactions(&[("u9", "z", 9)]),
    )
    .await;
    assert_eq!(out.rows, 1);
    let table = e.tailor.load_dataset(&ds).await.unwrap().unwrap();
    assert_eq!(
        ids(&table, "ITEM_ID"),
        ["z"],
        "FULL replaced everything bulk-imported before"
    );
}

#[tokio::test]
async fn incremental_items_replace_records_with_the_same_id() {
    let e = env().await;
    import(
        &e.tailor,
        DatasetType::Items,
        "j1",
        ImportMode::Full,
        &items(&[("a", "Drama"), ("b", "Comedy")]),
    )
    .await;
    let out = import(
        &e.tailor,
        DatasetType::Items,
        "j2",
        ImportMode::Incremental,
        &items(&[("b", "Horror|Thriller"), ("c", "Kids"), ("c", "Family")]),
    )
    .await;
    assert_eq!(out.rows, 3);
    let table = e
        .tailor
        .load_dataset(&e.tailor.arns.dataset_arn("g", DatasetType::Items))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(ids(&table, "ITEM_ID"), ["a", "b", "c"]);
    let Some(tailor_core::data::Values::Str(genres)) = table.column("GENRES") else {
        panic!("GENRES is a string column")
    };
    let genres: Vec<&str> = genres.iter().map(|g| g.as_deref().unwrap()).collect();
    assert_eq!(
        genres,
        ["Drama", "Horror|Thriller", "Family"],
        "last record of an id wins"
    );
}

#[tokio::test]
async fn incremental_needs_a_prior_bulk_import() {
    let e = env().await;
    let out = import(
        &e.tailor,
        DatasetType::Items,
        "j1",
        ImportMode::Incremental,
        &items(&[("a", "x")]),
    )
    .await;
    assert_eq!(out.job.status, Status::CreateFailed);
    assert!(out.job.failure_reason.unwrap().contains("FULL"));
}

#[tokio::test]
async fn a_failed_import_leaves_the_previous_data_intact() {
    let e = env().await;
    let ds = e.tailor.arns.dataset_arn("g", DatasetType::Interactions);
    import(
        &e.tailor,
        DatasetType::Interactions,
        "good",
        ImportMode::Full,
        &interactions(&[("u1", "a", 1), ("u2", "b", 2)]),
    )
    .await;
    let before = e.tailor.load_dataset(&ds).await.unwrap().unwrap();
    let blobs_before = e.tailor.stores.blobs.list("").await.unwrap();

    let mut bad = interactions(&[("u1", "a", 1)]);
    bad.extend_from_slice(b"u2,b,notatime,click,\nu3,c,3,click,high\n");
    for mode in [ImportMode::Full, ImportMode::Incremental] {
        let name = format!("bad-{mode:?}").to_lowercase();
        let out = import(&e.tailor, DatasetType::Interactions, &name, mode, &bad).await;
        assert_eq!(out.job.status, Status::CreateFailed);
        let reason = out.job.failure_reason.clone().unwrap();
        assert!(reason.starts_with("2 errors"), "{reason}");
        assert!(reason.contains("line 3, column TIMESTAMP"), "{reason}");
        assert!(reason.contains("line 4, column EVENT_VALUE"), "{reason}");
        let described = e
            .tailor
            .describe_dataset_import_job(&out.job.dataset_import_job_arn)
            .await
            .unwrap();
        assert_eq!(
            described.status,
            Status::CreateFailed,
            "the stored job says so too"
        );
        assert_eq!(out.errors.unwrap().total, 2);
    }
    let after = e.tailor.load_dataset(&ds).await.unwrap().unwrap();
    assert_eq!(after, before, "the earlier data is unchanged and readable");
    assert_eq!(
        e.tailor.stores.blobs.list("").await.unwrap(),
        blobs_before,
        "nothing half-written left behind"
    );
}

#[tokio::test]
async fn a_job_runs_once() {
    let e = env().await;
    let out = import(
        &e.tailor,
        DatasetType::Items,
        "j1",
        ImportMode::Full,
        &items(&[("a", "x")]),
    )
    .await;
    let again = e
        .tailor
        .run_dataset_import_job(
            &out.job.dataset_import_job_arn,
            &items(&[("b", "y")]),
            &mut |_, _| {},
        )
        .await;
    assert!(matches!(again, Err(Error::InUse(_))));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_incremental_imports_lose_no_rows() {
    let e = env().await;
    import(
        &e.tailor,
        DatasetType::Interactions,
        "base",
        ImportMode::Full,
        &interactions(&[("u0", "i0", 1)]),
    )
    .await;
    let mut tasks = Vec::new();
    for w in 0..5 {
        // A separate adapter set per worker, as separate processes would have.
        let t = open(&e.root);
        tasks.push(tokio::spawn(async move {
            let rows: Vec<(String, String, i64)> = (0..20)
                .map(|k| (format!("w{w}"), format!("i{k}"), 10 + k))
                .collect();
            let refs: Vec<(&str, &str, i64)> = rows
                .iter()
                .map(|(u, i, t)| (u.as_str(), i.as_str(), *t))
                .collect();
            import(
                &t,
                DatasetType::Interactions,
                &format!("w{w}"),
                ImportMode::Incremental,
                &interactions(&refs),
            )
            .await
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap().job.status, Status::Active);
    }
    let table = e
        .tailor
        .load_dataset(&e.tailor.arns.dataset_arn("g", DatasetType::Interactions))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(table.rows(), 1 + 5 * 20);
    for w in 0..5 {
        assert_eq!(
            ids(&table, "USER_ID")
                .iter()
                .filter(|u| **u == format!("w{w}"))
                .count(),
            20
        );
    }
}

#[tokio::test]
async fn datasets_are_encrypted_at_rest() {
    let e = env().await;
    import(
        &e.tailor,
        DatasetType::Interactions,
        "j1",
        ImportMode::Full,
        &interactions(&[("secret-user-42", "item-x", 1)]),
    )
    .await;
    let mut files = Vec::new();
    let mut stack = vec![e.root.join("blobs")];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(d).unwrap() {
            let p = entry.unwrap().path();
            if p.is_dir() {
                stack.push(p)
            } else {
                files.push(p)
            }
        }
    }
    // The data file and its serving snapshot, both sealed.
    assert_eq!(files.len(), 2, "{files:?}");
    for f in &files {
        let raw = std::fs::read(f).unwrap();
        assert!(raw.starts_with(b"TLSE"));
        assert!(
            !raw.windows(14).any(|w| w == b"secret-user-42"),
            "plaintext id found on disk in {f:?}"
        );
        assert!(
            !raw.windows(3).any(|w| w == b"Obj") && !raw.windows(4).any(|w| w == b"TLSI"),
            "the Avro container and the snapshot are inside the envelope"
        );
    }
}

#[tokio::test]
async fn resource_rules() {
    let e = env().await;
    let t = &e.tailor;
    assert!(matches!(
        t.create_dataset_group("g", None, None).await,
        Err(Error::AlreadyExists(_))
    ));
    assert!(matches!(
        t.create_dataset_group("bad name", None, None).await,
        Err(Error::InvalidInput(_))
    ));
    assert!(matches!(
        t.create_dataset_group("h", None, Some("arn:role".into()))
            .await,
        Err(Error::InvalidInput(_))
    ));
    assert!(matches!(
        t.create_schema("broken", "{not json").await,
        Err(Error::Schema(_))
    ));
    let si = t.arns.arn(ResourceType::Schema, "si");
    // A second interactions dataset in one group.
    assert!(matches!(
        t.create_dataset("x", &si, &e.group, DatasetType::Interactions)
            .await,
        Err(Error::AlreadyExists(_))
    ));
    // An interactions schema for a users dataset.
    assert!(matches!(
        t.create_dataset("y", &si, &e.group, DatasetType::Users)
            .await,
        Err(Error::Schema(_))
    ));
    let missing = t.arns.arn(ResourceType::DatasetGroup, "nope");
    assert!(matches!(
        t.create_dataset("z", &si, &missing, DatasetType::Users)
            .await,
        Err(Error::NotFound(_))
    ));
    let e404 = t
        .describe_dataset("arn:aws:personalize:us-east-1:000000000000:dataset/nope/ITEMS")
        .await
        .unwrap_err();
    assert_eq!(e404.kind().name(), "ResourceNotFoundException");
    assert_eq!(e404.kind().http_status(), 404);
    let ds = t.arns.dataset_arn("g", DatasetType::Items);
    t.create_dataset_import_job(
        "job",
        &ds,
        "s3://b/k.csv",
        ImportMode::Full,
        Default::default(),
    )
    .await
    .unwrap();
    assert!(matches!(
        t.create_dataset_import_job(
            "job",
            &ds,
            "s3://b/k.csv",
            ImportMode::Full,
            Default::default()
        )
        .await,
        Err(Error::AlreadyExists(_))
    ));
    assert_eq!(
        t.list_dataset_import_jobs(Some(&ds)).await.unwrap().len(),
        1
    );
    assert_eq!(t.list_datasets(Some(&e.group)).await.unwrap().len(), 2);
    let json = serde_json::to_value(t.describe_dataset_group(&e.group).await.unwrap()).unwrap();
    assert_eq!(json["datasetGroupArn"], e.group.as_str());
    assert_eq!(json["status"], "ACTIVE");
    assert!(json["creationDateTime"].is_f64());
}

#[tokio::test]
async fn dataset_files_carry_a_format_version() {
    let e = env().await;
    import(
        &e.tailor,
        DatasetType::Items,
        "j1",
        ImportMode::Full,
        &items(&[("a", "x")]),
    )
    .await;
    let table = e
        .tailor
        .load_dataset(&e.tailor.arns.dataset_arn("g", DatasetType::Items))
        .await
        .unwrap()
        .unwrap();
    let schema = table.schema.clone();
    let good = tailor_core::data::avro::write(&table).unwrap();
    assert_eq!(
        tailor_core::data::avro::read(schema.clone(), &good).unwrap(),
        table
    );
    // A container without tailor's format tag (e.g. from a future or foreign writer).
    let mut w = apache_avro::Writer::new(&schema.avro, Vec::new());
    w.append(apache_avro::types::Value::Record(vec![
        (
            "ITEM_ID".into(),
            apache_avro::types::Value::String("a".into()),
        ),
        (
            "GENRES".into(),
            apache_avro::types::Value::String("x".into()),
        ),
        (
            "PRICE".into(),
            apache_avro::types::Value::Union(0, Box::new(apache_avro::types::Value::Null)),
        ),
    ]))
    .unwrap();
    let foreign = w.into_inner().unwrap();
    let err = tailor_core::data::avro::read(schema.clone(), &foreign).unwrap_err();
    assert!(err.to_string().contains("format version"), "{err}");
    assert!(tailor_core::data::avro::read(schema, b"not avro").is_err());
}

#[tokio::test]
async fn imports_write_a_serving_snapshot_equal_to_the_data_and_keep_the_previous_one() {
    use tailor_core::data::snapshot::InteractionsSnapshot;
    let e = env().await;
    let ds = e.tailor.arns.dataset_arn("g", DatasetType::Interactions);
    let rows = [("u1", "a", 1), ("u2", "b", 2), ("u1", "c", 3)];
    for (n, name) in ["j1", "j2", "j3"].iter().enumerate() {
        import(
            &e.tailor,
            DatasetType::Interactions,
            name,
            ImportMode::Full,
            &interactions(&rows[..=n]),
        )
        .await;
    }
    let table = e.tailor.load_dataset(&ds).await.unwrap().unwrap();
    let expected = InteractionsSnapshot::from_table(&table).unwrap();
    let snap = e
        .tailor
        .load_interactions_snapshot(&ds)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(snap, expected);
    assert_eq!(snap.rows(), 3);
    // The current and the previous version keep their data file and snapshot; older go.
    let files = e.tailor.stores.blobs.list("datasets/g/").await.unwrap();
    let snapshots: Vec<_> = files.iter().filter(|k| k.ends_with(".serving")).collect();
    assert_eq!(files.len(), 4, "{files:?}");
    assert_eq!(snapshots.len(), 2, "{files:?}");
    assert!(files.iter().all(|k| !k.contains("-j1-")), "{files:?}");
    // Sealed like the data file; and without it, the data file answers the same.
    for k in &snapshots {
        let raw = e.tailor.stores.blobs.get(k).await.unwrap().unwrap();
        assert_eq!(&raw[..4], b"TLSE");
    }
    let current = snapshots.iter().max().unwrap();
    e.tailor.stores.blobs.delete(current).await.unwrap();
    let fallback = e
        .tailor
        .load_interactions_snapshot(&ds)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(fallback, expected);
}

#[tokio::test]
async fn a_giant_single_line_file_gets_a_bounded_failure_reason() {
    let e = env().await;
    let line = vec![b'x'; 8 << 20];
    let out = import(
        &e.tailor,
        DatasetType::Interactions,
        "giant",
        ImportMode::Full,
        &line,
    )
    .await;
    assert_eq!(out.job.status, Status::CreateFailed);
    let reason = out.job.failure_reason.unwrap();
    assert!(
        reason.len() <= 2200,
        "failureReason of {} bytes",
        reason.len()
    );
    assert!(
        reason.contains("line 1"),
        "{}",
        &reason[..200.min(reason.len())]
    );
    let stored = e
        .tailor
        .describe_dataset_import_job(&out.job.dataset_import_job_arn)
        .await
        .unwrap();
    assert!(stored.failure_reason.unwrap().len() <= 2200);
}

#[tokio::test]
async fn an_unterminated_quote_fails_the_job_naming_its_line() {
    let e = env().await;
    let csv = b"USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE\nU1,I1,1700000000,View\nU2,I2,1700000001,\"View\nU3,I3,1700000002,View\nU4,I4,1700000003,View\n";
    let out = import(
        &e.tailor,
        DatasetType::Interactions,
        "unclosed",
        ImportMode::Full,
        csv,
    )
    .await;
    assert_eq!(out.job.status, Status::CreateFailed);
    let reason = out.job.failure_reason.unwrap();
    assert!(
        reason.starts_with("1 error") && reason.contains("line 3, column EVENT_TYPE"),
        "{reason}"
    );
    assert!(reason.contains("never closed"), "{reason}");
}

#[tokio::test]
async fn an_import_streams_its_input_and_stops_at_an_oversized_record() {
    // Endless zeros, as `--file /dev/zero`: the job fails on line 1 having read little.
    struct Zeros(u64);
    impl std::io::Read for Zeros {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            buf.fill(0);
            self.0 += buf.len() as u64;
            Ok(buf.len())
        }
    }
    let e = env().await;
    let ds = e.tailor.arns.dataset_arn("g", DatasetType::Interactions);
    let job = e
        .tailor
        .create_dataset_import_job(
            "zeros",
            &ds,
            "file:///dev/zero",
            ImportMode::Full,
            Default::default(),
        )
        .await
        .unwrap();
    let mut zeros = Zeros(0);
    let out = e
        .tailor
        .run_dataset_import_job_from(&job.dataset_import_job_arn, &mut zeros, 0, &mut |_, _| {})
        .await
        .unwrap();
    assert_eq!(out.job.status, Status::CreateFailed);
    let reason = out.job.failure_reason.unwrap();
    assert!(
        reason.contains("line 1") && reason.contains("byte limit"),
        "{reason}"
    );
    assert!(zeros.0 < 2 << 20, "read {} bytes", zeros.0);
}

// ---------------------------------------------------------------- workers that die

use tailor_core::domain::{DatasetImportJob, ImportLease, WorkerProcess};
use tailor_core::services::tables;
use tailor_core::store::Expect;

/// Records job `name` as a worker leaves it when killed mid-import: CREATE IN_PROGRESS with
/// `lease`. Written straight to the store, as the dead worker's last renewal would have.
async fn left_in_progress(t: &Tailor, name: &str, lease: ImportLease) -> String {
    let ds = t.arns.dataset_arn("g", DatasetType::Interactions);
    let job = t
        .create_dataset_import_job(
            name,
            &ds,
            "file://big.csv",
            ImportMode::Full,
            Default::default(),
        )
        .await
        .unwrap();
    let arn = job.dataset_import_job_arn.clone();
    let stored = t
        .stores
        .meta
        .get(tables::IMPORT_JOBS, &arn)
        .await
        .unwrap()
        .unwrap();
    let running = DatasetImportJob {
        status: Status::CreateInProgress,
        lease: Some(lease),
        ..job
    };
    t.stores
        .meta
        .put(
            tables::IMPORT_JOBS,
            &arn,
            Some(&running.dataset_arn),
            serde_json::to_vec(&running).unwrap(),
            Expect::Version(stored.version),
        )
        .await
        .unwrap();
    arn
}

fn now() -> f64 {
    tailor_core::domain::now_epoch()
}

/// A process that ran and exited: its pid names no live process with its start time.
fn dead_process() -> Option<WorkerProcess> {
    let mut child = std::process::Command::new("sleep").arg("30").spawn().ok()?;
    let p = WorkerProcess::of(child.id());
    child.kill().unwrap();
    child.wait().unwrap();
    p
}

#[tokio::test]
async fn a_job_whose_worker_died_is_failed_and_the_data_and_next_import_are_fine() {
    let e = env().await;
    let t = &e.tailor;
    let ds = t.arns.dataset_arn("g", DatasetType::Interactions);
    import(
        t,
        DatasetType::Interactions,
        "before",
        ImportMode::Full,
        &interactions(&[("u1", "a", 1), ("u2", "b", 2)]),
    )
    .await;
    let data_before = t.load_dataset(&ds).await.unwrap().unwrap();

    let expired = ImportLease {
        expires: now() - 1.0,
        process: None,
    };
    let arn = left_in_progress(t, "killed", expired).await;
    let described = t.describe_dataset_import_job(&arn).await.unwrap();
    assert_eq!(described.status, Status::CreateFailed);
    assert_eq!(
        described.failure_reason.as_deref(),
        Some("the import worker stopped before finishing; import again")
    );
    assert_eq!(described.lease, None);
    // Stored so, not only answered so: a fresh process reads the same.
    let again = open(&e.root)
        .describe_dataset_import_job(&arn)
        .await
        .unwrap();
    assert_eq!(
        (again.status, again.failure_reason, again.lease),
        (described.status, described.failure_reason.clone(), None)
    );

    let listed_arn = left_in_progress(
        t,
        "killed-too",
        ImportLease {
            expires: now() - 1.0,
            process: None,
        },
    )
    .await;
    let listed = t.list_dataset_import_jobs(Some(&ds)).await.unwrap();
    let job = listed
        .iter()
        .find(|j| j.dataset_import_job_arn == listed_arn)
        .unwrap();
    assert_eq!(job.status, Status::CreateFailed);
    assert!(job
        .failure_reason
        .as_deref()
        .unwrap()
        .contains("worker stopped"));

    assert_eq!(t.load_dataset(&ds).await.unwrap().unwrap(), data_before);
    let out = import(
        t,
        DatasetType::Interactions,
        "after",
        ImportMode::Incremental,
        &interactions(&[("u3", "c", 3)]),
    )
    .await;
    assert_eq!((out.job.status, out.rows), (Status::Active, 3));
}

#[tokio::test]
async fn a_job_whose_local_process_exited_is_failed_before_its_lease_ends() {
    let Some(dead) = dead_process() else {
        return; // no /proc here: the lease alone decides, tested above
    };
    let e = env().await;
    let lease = ImportLease {
        expires: now() + 3600.0,
        process: Some(dead),
    };
    let arn = left_in_progress(&e.tailor, "ctrl-c", lease).await;
    let job = e.tailor.describe_dataset_import_job(&arn).await.unwrap();
    assert_eq!(job.status, Status::CreateFailed);
    assert!(job.failure_reason.unwrap().contains("import again"));
}

#[tokio::test]
async fn a_live_worker_is_never_failed() {
    let e = env().await;
    let me = WorkerProcess::of(std::process::id());
    let elsewhere = WorkerProcess {
        host: "another-machine/pid:[4026531836]".into(),
        pid: 1,
        started: 1,
    };
    for (name, process) in [("here", me), ("elsewhere", Some(elsewhere))] {
        let lease = ImportLease {
            expires: now() + 3600.0,
            process,
        };
        let arn = left_in_progress(&e.tailor, name, lease).await;
        let job = e.tailor.describe_dataset_import_job(&arn).await.unwrap();
        assert_eq!(job.status, Status::CreateInProgress, "{name}");
        let listed = e.tailor.list_dataset_import_jobs(None).await.unwrap();
        assert!(listed
            .iter()
            .any(|j| j.dataset_import_job_arn == arn && j.status == Status::CreateInProgress));
    }
}

/// CSV that, once its header has been read, has another process fail the job as a reader
/// would that took the worker for dead (its lease unrenewed while it was suspended, say).
struct FailedMidway {
    csv: Vec<u8>,
    at: usize,
    root: std::path::PathBuf,
    arn: String,
    done: bool,
}

impl std::io::Read for FailedMidway {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.at > 0 && !self.done {
            self.done = true;
            let (root, arn) = (self.root.clone(), self.arn.clone());
            std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .build()
                    .unwrap();
                rt.block_on(async {
                    let other = open(&root);
                    let stored = other
                        .stores
                        .meta
                        .get(tables::IMPORT_JOBS, &arn)
                        .await
                        .unwrap()
                        .unwrap();
                    let mut job: DatasetImportJob = serde_json::from_slice(&stored.value).unwrap();
                    assert_eq!(job.status, Status::CreateInProgress);
                    job.status = Status::CreateFailed;
                    job.failure_reason = Some("taken for dead".into());
                    job.lease = None;
                    let value = serde_json::to_vec(&job).unwrap();
                    other
                        .stores
                        .meta
                        .put(
                            tables::IMPORT_JOBS,
                            &arn,
                            Some(&job.dataset_arn),
                            value,
                            Expect::Version(stored.version),
                        )
                        .await
                        .unwrap();
                })
            })
            .join()
            .unwrap();
        }
        let n = buf.len().min(self.csv.len() - self.at).min(64);
        buf[..n].copy_from_slice(&self.csv[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

#[tokio::test]
async fn a_worker_that_lost_its_job_swaps_in_no_data() {
    let e = env().await;
    let t = &e.tailor;
    let ds = t.arns.dataset_arn("g", DatasetType::Interactions);
    import(
        t,
        DatasetType::Interactions,
        "before",
        ImportMode::Full,
        &interactions(&[("u1", "a", 1)]),
    )
    .await;
    let data_before = t.load_dataset(&ds).await.unwrap().unwrap();
    let blobs_before = t.stores.blobs.list("").await.unwrap();
    let job = t
        .create_dataset_import_job(
            "suspended",
            &ds,
            "file://x.csv",
            ImportMode::Full,
            Default::default(),
        )
        .await
        .unwrap();
    let mut input = FailedMidway {
        csv: interactions(&[("u9", "z", 9), ("u8", "y", 8)]),
        at: 0,
        root: e.root.clone(),
        arn: job.dataset_import_job_arn.clone(),
        done: false,
    };
    let out = t
        .run_dataset_import_job_from(&job.dataset_import_job_arn, &mut input, 0, &mut |_, _| {})
        .await
        .unwrap();
    assert_eq!(out.job.status, Status::CreateFailed);
    assert_eq!(out.job.failure_reason.as_deref(), Some("taken for dead"));
    assert_eq!(t.load_dataset(&ds).await.unwrap().unwrap(), data_before);
    assert_eq!(
        t.stores.blobs.list("").await.unwrap(),
        blobs_before,
        "its files are gone"
    );
}
