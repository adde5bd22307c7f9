//! A new user's first hour, as they would live it: the demo's printed commands run as printed,
//! the look-ups, errors that say what to do, and the server's access log.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

mod common;
use common::{interactions_dataset, ok, sample_files, tailor, tailor_cmd, text};

fn json(out: &Output) -> Value {
    let stdout = ok(out);
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("not JSON ({e}):\n{stdout}"))
}

/// Fails with exit code 1 and this in stderr.
fn fails_with(out: &Output, needle: &str) -> String {
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stderr:\n{stderr}");
    assert!(stderr.contains(needle), "{needle:?} not in:\n{stderr}");
    stderr
}

/// Kills the child when the test ends, passing or not.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Reads the child's stdout up to and including the first line containing `last`.
fn read_until(child: &mut Child, last: &str) -> String {
    let out = child.stdout.take().expect("piped stdout");
    let mut reader = BufReader::new(out);
    let mut seen = String::new();
    loop {
        let mut line = String::new();
        let n = reader.read_line(&mut line).expect("read stdout");
        assert!(n > 0, "exited before printing {last:?}:\n{seen}");
        seen.push_str(&line);
        if line.contains(last) {
            return seen;
        }
    }
}

fn ids(answer: &Value, list: &str) -> Vec<String> {
    answer[list]
        .as_array()
        .unwrap_or_else(|| panic!("no {list} in {answer}"))
        .iter()
        .map(|i| i["itemId"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn demo_prints_commands_that_work_as_printed() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = tailor_cmd(dir.path())
        .args(["demo", "--port", "0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let printed = read_until(&mut child, "python3 -c");
    let _demo = Running(child);

    assert!(!printed.contains("QUALITY.md"), "{printed}");
    let campaign = "arn:aws:personalize:us-east-1:000000000000:campaign/demo-campaign";
    let related = "arn:aws:personalize:us-east-1:000000000000:campaign/demo-related";
    assert!(
        printed.contains(&format!("\ncampaigns\n  {campaign}\n  {related}\n")),
        "campaigns each on a line:\n{printed}"
    );
    assert!(printed.contains("\nevent tracker trackingId "), "{printed}");
    assert!(printed.contains("\nfilter arn:"), "{printed}");
    // The metrics row of each training: a fit time, not a placeholder.
    let rows: Vec<&str> = printed
        .lines()
        .filter(|l| l.starts_with("aws-user-personalization") || l.starts_with("aws-sims"))
        .collect();
    assert_eq!(rows.len(), 2, "{printed}");
    for r in rows {
        let fit = r.split_whitespace().last().unwrap();
        assert!(fit.parse::<f64>().is_ok(), "fit s is {fit:?} in {r:?}");
    }
    // The in-process before/after: the visitor's views change their answer.
    let before = printed
        .lines()
        .find_map(|l| l.trim().strip_prefix("before  "))
        .expect("a before line");
    let after = printed
        .lines()
        .find_map(|l| l.trim().strip_prefix("after   "))
        .expect("an after line");
    assert_eq!(before.split(' ').count(), 5, "{printed}");
    assert_ne!(before, after, "{printed}");

    // The address served is the bound one, and every command names it.
    let addr = printed
        .lines()
        .find_map(|l| l.strip_prefix("tailor is serving on http://"))
        .and_then(|l| l.split_whitespace().next())
        .expect("the served address")
        .to_string();
    assert!(!addr.ends_with(":0"), "{addr}");
    let curls: Vec<&str> = printed.lines().filter(|l| l.starts_with("curl ")).collect();
    assert_eq!(curls.len(), 7, "{printed}");
    let answers: Vec<Value> = curls
        .iter()
        .map(|c| {
            assert!(c.contains(&format!("http://{addr}/")), "{c}");
            let out = Command::new("sh").arg("-c").arg(c).output().unwrap();
            let body = ok(&out);
            let v: Value =
                serde_json::from_str(&body).unwrap_or_else(|e| panic!("{c}\n{body}: {e}"));
            assert!(v.get("__type").is_none(), "{c}\n{v}");
            v
        })
        .collect();
    let first = ids(&answers[0], "itemList");
    assert_eq!(first.len(), 5, "{}", answers[0]);
    let filtered = &answers[1]["itemList"];
    assert_eq!(filtered.as_array().unwrap().len(), 5, "{filtered}");
    assert!(filtered[0]["metadata"]["title"].is_string(), "{filtered}");
    assert_eq!(ids(&answers[2], "itemList").len(), 5, "{}", answers[2]);
    // Re-rank: every listed item is one the model knows, so every one gets a score.
    let ranked = answers[3]["personalizedRanking"].as_array().unwrap();
    assert_eq!(ranked.len(), 5, "{}", answers[3]);
    assert!(
        ranked.iter().all(|i| i["score"].is_number()),
        "an id unknown to the model: {}",
        answers[3]
    );
    assert_eq!(answers[4], serde_json::json!({}), "PutEvents answers {{}}");
    let again = ids(&answers[5], "itemList");
    assert_ne!(first, again, "the event changes the next answer");
    assert_eq!(answers[6], serde_json::json!({}), "PutItems answers {{}}");

    // The boto3 line carries credentials, so it runs without any AWS configuration.
    let boto = printed
        .lines()
        .find(|l| l.starts_with("python3 -c"))
        .unwrap();
    assert!(
        boto.contains("aws_access_key_id=") && boto.contains("aws_secret_access_key="),
        "{boto}"
    );
    assert!(
        boto.contains(&format!("endpoint_url='http://{addr}'")),
        "{boto}"
    );
}

#[test]
fn demo_help_describes_what_it_does() {
    let dir = tempfile::tempdir().unwrap();
    let help = ok(&tailor(dir.path(), &["demo", "--help"]));
    for needle in ["train", "campaigns", "serve", "--no-serve", "grouplens.org"] {
        assert!(help.contains(needle), "{needle:?} not in:\n{help}");
    }
    assert!(!help.contains("and describe it"), "{help}");
}

fn find<'a>(list: &'a Value, field: &str, value: &str) -> Option<&'a Value> {
    list.as_array().unwrap().iter().find(|r| r[field] == value)
}

#[test]
fn every_resource_can_be_listed_described_and_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(&tailor(d, &["demo", "--no-serve"]));
    let prefix = "arn:aws:personalize:us-east-1:000000000000";

    let groups = json(&tailor(d, &["list-dataset-groups", "--json"]));
    assert!(find(
        &groups,
        "datasetGroupArn",
        &format!("{prefix}:dataset-group/demo")
    )
    .is_some());
    let table = ok(&tailor(d, &["list-dataset-groups"]));
    assert!(
        table.starts_with("NAME") && table.contains("demo  ACTIVE"),
        "{table}"
    );
    let group = json(&tailor(d, &["describe-dataset-group", "demo", "--json"]));
    assert_eq!(group["name"], "demo");

    let schemas = json(&tailor(d, &["list-schemas", "--json"]));
    assert_eq!(schemas.as_array().unwrap().len(), 3, "{schemas}");
    assert_eq!(
        json(&tailor(d, &["describe-schema", "demo-items", "--json"]))["name"],
        "demo-items"
    );

    let datasets = json(&tailor(
        d,
        &["list-datasets", "--dataset-group", "demo", "--json"],
    ));
    assert_eq!(datasets.as_array().unwrap().len(), 3, "{datasets}");
    let interactions = json(&tailor(
        d,
        &["describe-dataset", "demo/interactions", "--json"],
    ));
    assert_eq!(interactions["datasetType"], "INTERACTIONS");

    let jobs = json(&tailor(
        d,
        &[
            "list-dataset-import-jobs",
            "--dataset-group",
            "demo",
            "--json",
        ],
    ));
    assert_eq!(jobs.as_array().unwrap().len(), 3, "{jobs}");
    let job = jobs[0]["jobName"].as_str().unwrap().to_string();
    assert_eq!(
        json(&tailor(d, &["describe-dataset-import-job", &job, "--json"]))["status"],
        "ACTIVE"
    );

    let solutions = json(&tailor(
        d,
        &["list-solutions", "--dataset-group", "demo", "--json"],
    ));
    assert_eq!(solutions.as_array().unwrap().len(), 2, "{solutions}");
    assert_eq!(
        json(&tailor(d, &["describe-solution", "demo-sims", "--json"]))["recipeArn"],
        "arn:aws:personalize:::recipe/aws-sims"
    );
    let versions = json(&tailor(
        d,
        &[
            "list-solution-versions",
            "--solution",
            "demo-sims",
            "--json",
        ],
    ));
    assert_eq!(versions.as_array().unwrap().len(), 1, "{versions}");
    let version = versions[0]["solutionVersionArn"]
        .as_str()
        .unwrap()
        .to_string();
    let short = version.rsplit_once(":solution/").unwrap().1.to_string();
    assert_eq!(
        json(&tailor(d, &["describe-solution-version", &short, "--json"]))["solutionVersionArn"],
        version.as_str()
    );
    let table = ok(&tailor(d, &["list-solution-versions"]));
    assert!(
        table
            .lines()
            .any(|l| l.starts_with(&format!("{short} ")) && l.ends_with(&version)),
        "{table}"
    );

    let campaigns = json(&tailor(
        d,
        &["list-campaigns", "--solution", "demo-sims", "--json"],
    ));
    assert_eq!(campaigns.as_array().unwrap().len(), 1, "{campaigns}");
    assert_eq!(campaigns[0]["name"], "demo-related");
    assert_eq!(
        json(&tailor(
            d,
            &["describe-campaign", "demo-campaign", "--json"]
        ))["name"],
        "demo-campaign"
    );
    let filters = json(&tailor(
        d,
        &["list-filters", "--dataset-group", "demo", "--json"],
    ));
    assert_eq!(filters[0]["name"], "demo-filter");
    assert!(
        json(&tailor(d, &["describe-filter", "demo-filter", "--json"]))["filterExpression"]
            .as_str()
            .unwrap()
            .contains("Purchase")
    );
    let trackers = json(&tailor(d, &["list-event-trackers", "--json"]));
    assert_eq!(trackers[0]["name"], "demo-tracker");
    let tracker = json(&tailor(
        d,
        &["describe-event-tracker", "demo-tracker", "--json"],
    ));
    assert_eq!(tracker["trackingId"].as_str().unwrap().len(), 36);
    let text_out = ok(&tailor(d, &["describe-event-tracker", "demo-tracker"]));
    assert!(text_out.contains("trackingId"), "{text_out}");

    // metrics by solution name: its newest ACTIVE version.
    let metrics = json(&tailor(d, &["metrics", "--solution", "demo-sims"]));
    assert_eq!(metrics["solutionVersionArn"], version.as_str());
    assert!(metrics["metrics"]["coverage"].is_number(), "{metrics}");

    // Deletes refuse what is in use, naming the user, then succeed once it is gone.
    fails_with(
        &tailor(d, &["delete-solution", "demo-sims"]),
        "campaign arn:aws:personalize:us-east-1:000000000000:campaign/demo-related",
    );
    fails_with(
        &tailor(d, &["delete-dataset-group", "demo"]),
        "ResourceInUseException",
    );
    let deleted = json(&tailor(d, &["delete-campaign", "demo-related", "--json"]));
    assert_eq!(deleted["deleted"], true);
    fails_with(
        &tailor(d, &["describe-campaign", "demo-related"]),
        "ResourceNotFoundException",
    );
    assert_eq!(files_under(&d.join("blobs/models/demo-sims")), 1);
    ok(&tailor(d, &["delete-solution-version", &short]));
    ok(&tailor(d, &["delete-solution", "demo-sims"]));
    assert_eq!(
        files_under(&d.join("blobs/models/demo-sims")),
        0,
        "models deleted"
    );
    let left = json(&tailor(d, &["list-solutions", "--json"]));
    assert_eq!(left.as_array().unwrap().len(), 1, "{left}");
    ok(&tailor(d, &["delete-filter", "demo-filter"]));
    ok(&tailor(d, &["delete-event-tracker", "demo-tracker"]));
    assert_eq!(
        json(&tailor(d, &["list-event-trackers", "--json"])),
        serde_json::json!([])
    );
    ok(&tailor(d, &["delete-dataset-import-job", &job]));
    fails_with(
        &tailor(d, &["describe-dataset-import-job", &job]),
        "does not exist",
    );
    fails_with(&tailor(d, &["delete-schema", "demo-users"]), "is used by");
    assert!(files_under(&d.join("blobs/datasets/demo/USERS")) > 0);
    ok(&tailor(d, &["delete-dataset", "demo/USERS"]));
    assert_eq!(
        files_under(&d.join("blobs/datasets/demo/USERS")),
        0,
        "data deleted"
    );
    ok(&tailor(d, &["delete-schema", "demo-users"]));
    let datasets = json(&tailor(d, &["list-datasets", "--json"]));
    assert_eq!(datasets.as_array().unwrap().len(), 2, "{datasets}");
    // Everything the group holds, then the group.
    ok(&tailor(d, &["delete-campaign", "demo-campaign"]));
    ok(&tailor(d, &["delete-solution", "demo-personalization"]));
    ok(&tailor(d, &["delete-dataset", "demo/ITEMS"]));
    ok(&tailor(d, &["delete-dataset", "demo/INTERACTIONS"]));
    ok(&tailor(d, &["delete-dataset-group", "demo"]));
    assert_eq!(
        json(&tailor(d, &["list-dataset-groups", "--json"])),
        serde_json::json!([])
    );
    assert_eq!(
        ok(&tailor(d, &["list-dataset-groups"])),
        "no dataset groups\n"
    );
}

/// Files in a directory of the embedded store, 0 if it is gone.
fn files_under(dir: &Path) -> usize {
    std::fs::read_dir(dir).map_or(0, |entries| {
        entries
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy() != ".lock")
            .count()
    })
}

/// A group `g` with an interactions dataset on the e-commerce schema, and the sample's files.
fn shop(d: &Path) -> PathBuf {
    let sample = sample_files(d);
    interactions_dataset(d, "ecommerce-interactions.json", "i");
    sample
}

fn import(d: &Path, file: &Path, mode: &str) -> Output {
    tailor(
        d,
        &[
            "import",
            "--dataset-group",
            "g",
            "--type",
            "interactions",
            "--mode",
            mode,
            "--file",
            file.to_str().unwrap(),
        ],
    )
}

#[test]
fn import_errors_say_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let sample = shop(d);

    let incremental = import(d, &sample.join("interactions.csv"), "incremental");
    let stderr = text(&incremental.stderr);
    assert_eq!(incremental.status.code(), Some(1), "{stderr}");
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one line:\n{stderr}");
    assert!(
        lines[0].contains("INCREMENTAL") && lines[0].contains("FULL first"),
        "{stderr}"
    );
    assert!(
        !stderr.contains('\u{1b}') && !stderr.contains("ERROR"),
        "{stderr:?}"
    );

    let semicolons = d.join("semi.csv");
    std::fs::write(
        &semicolons,
        "USER_ID;ITEM_ID;TIMESTAMP;EVENT_TYPE\nU1;P1;1700000000;View\n",
    )
    .unwrap();
    let stderr = fails_with(&import(d, &semicolons, "full"), "delimited by semicolons");
    assert!(stderr.contains("comma-separated"), "{stderr}");

    let iso = d.join("iso.csv");
    std::fs::write(
        &iso,
        "USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE\nU1,P1,2024-05-01T10:00:00Z,View\n",
    )
    .unwrap();
    let stderr = fails_with(&import(d, &iso, "full"), "looks like a date");
    assert!(stderr.contains("epoch time in seconds"), "{stderr}");
}

#[test]
fn evaluate_on_an_items_file_says_it_is_not_interactions() {
    let dir = tempfile::tempdir().unwrap();
    let items = sample_files(dir.path()).join("items.csv");
    fails_with(
        &tailor(
            dir.path(),
            &["evaluate", "--interactions", items.to_str().unwrap()],
        ),
        "does not look like interactions",
    );
}

#[test]
fn similar_by_title_without_items_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let sample = shop(d);
    ok(&import(d, &sample.join("interactions.csv"), "full"));
    ok(&tailor(
        d,
        &[
            "create-solution",
            "--name",
            "sims",
            "--dataset-group",
            "g",
            "--recipe",
            "aws-sims",
        ],
    ));
    ok(&tailor(d, &["train", "--solution", "sims"]));
    let stderr = fails_with(
        &tailor(d, &["similar", "--solution", "sims", "--title", "Tent"]),
        "no Items dataset",
    );
    assert!(stderr.contains("--item-id"), "{stderr}");
}

/// One HTTP/1.1 request on a fresh connection; the raw answer.
fn http(addr: &str, method: &str, path: &str) -> String {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{{}}"
    )
    .unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    answer
}

#[test]
fn serve_logs_one_escaped_line_per_request_without_colour() {
    let dir = tempfile::tempdir().unwrap();
    let log_path = dir.path().join("serve.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let mut child = tailor_cmd(&dir.path().join("data"))
        .args(["serve", "--port", "0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::from(log))
        .spawn()
        .unwrap();
    let ready = read_until(&mut child, "tailor serving");
    let server = Running(child);
    let addr = ready.split("http://").nth(1).unwrap().trim().to_string();

    let answer = http(&addr, "POST", "/no-such-route/%1b%5b31m");
    assert!(answer.starts_with("HTTP/1.1 404"), "{answer}");
    let request_id = answer
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("x-amzn-requestid")
                .then(|| v.trim().to_string())
        })
        .unwrap_or_else(|| panic!("no request id in\n{answer}"));
    let long = format!("/{}", "a".repeat(400));
    assert!(http(&addr, "POST", &long).starts_with("HTTP/1.1 404"));
    let ping = http(&addr, "GET", "/ping");
    assert!(ping.starts_with("HTTP/1.1 200"), "{ping}");

    // The lines are written as each answer goes out; give the file a moment.
    let deadline = Instant::now() + Duration::from_secs(10);
    let logged = loop {
        let logged = std::fs::read_to_string(&log_path).unwrap();
        if logged.contains("route=/ping") || Instant::now() > deadline {
            break logged;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    drop(server);
    assert!(
        !logged.contains('\u{1b}'),
        "colour codes in a log file:\n{logged:?}"
    );
    let lines: Vec<&str> = logged
        .lines()
        .filter(|l| l.contains("tailor::access"))
        .collect();
    assert_eq!(lines.len(), 3, "{logged}");
    let miss = lines[0];
    for needle in [
        "method=POST",
        "route=/no-such-route/%1b%5b31m",
        "status=404",
        "latency_ms=",
        &format!("request_id={request_id}"),
    ] {
        assert!(miss.contains(needle), "{needle:?} not in {miss:?}");
    }
    // A client's path is cut, not logged whole.
    assert!(
        !lines[1].contains(&"a".repeat(300)) && lines[1].contains("(401 bytes)"),
        "{}",
        lines[1]
    );
    assert!(
        lines[2].contains("method=GET") && lines[2].contains("status=200"),
        "{}",
        lines[2]
    );
    assert!(!logged.contains("{}"), "no bodies in the log:\n{logged}");
}
