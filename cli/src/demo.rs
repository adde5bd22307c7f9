//! `tailor demo`: the one command that shows the product on a fresh machine.

use std::path::PathBuf;
use std::process::ExitCode;

use tailor_core::domain::{ImportMode, ResourceType, Status};
use tailor_core::sample::{self, schemas};
use tailor_core::schema::DatasetType;
use tailor_core::{Error, Result, Tailor};

use tailor_core::domain::{CampaignConfig, TrainingMode};
use tailor_core::recipes::{next_items, sims};
use tailor_core::services::CreateSolution;
use tailor_core::serving::Runtime;

use crate::commands::{describe_group, import_bytes, print_summaries, say};
use crate::solutions::{self, train};

#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Use a MovieLens directory (ratings.csv, movies.csv) instead of the generated sample:
    /// ml-latest-small from https://grouplens.org/datasets/movielens/, unzipped.
    #[arg(long)]
    movielens: Option<PathBuf>,
    /// Seed of the generated sample.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Set everything up, then exit: no real-time demonstration (its events would join the
    /// data), no server.
    #[arg(long)]
    no_serve: bool,
    /// Port on 127.0.0.1 for the server (0 picks a free one; the printed commands use it).
    #[arg(long, default_value_t = 8787)]
    port: u16,
}

struct DemoData {
    group: &'static str,
    /// A filter that makes sense for this data.
    filter: &'static str,
    item: &'static str,
    /// Whom to recommend for, and a title to find related items for.
    user: &'static str,
    title: &'static str,
    files: Vec<(DatasetType, &'static str, Vec<u8>, String)>,
}

fn load(args: &DemoArgs) -> Result<DemoData> {
    if let Some(dir) = &args.movielens {
        let read = |name: &str| {
            std::fs::read(dir.join(name)).map_err(|e| {
                Error::InvalidInput(format!("cannot read {}: {e}", dir.join(name).display()))
            })
        };
        let loc = |name: &str| format!("file://{}", dir.join(name).display());
        return Ok(DemoData {
            group: "movielens",
            filter: r#"INCLUDE ItemID WHERE Items.GENRES IN ($GENRES)"#,
            item: "1",
            user: "1",
            title: "Toy Story",
            files: vec![
                (
                    DatasetType::Interactions,
                    schemas::MOVIELENS_INTERACTIONS,
                    sample::movielens_ratings(&read("ratings.csv")?)?,
                    loc("ratings.csv"),
                ),
                (
                    DatasetType::Items,
                    schemas::MOVIELENS_ITEMS,
                    sample::movielens_movies(&read("movies.csv")?)?,
                    loc("movies.csv"),
                ),
            ],
        });
    }
    let data = sample::generate(args.seed, Default::default());
    let mut files = vec![(
        DatasetType::Interactions,
        schemas::ECOMMERCE_INTERACTIONS,
        data.interactions,
        "sample:interactions".to_string(),
    )];
    if let Some(items) = data.items {
        files.push((
            DatasetType::Items,
            schemas::ECOMMERCE_ITEMS,
            items,
            "sample:items".into(),
        ));
    }
    if let Some(users) = data.users {
        files.push((
            DatasetType::Users,
            schemas::ECOMMERCE_USERS,
            users,
            "sample:users".into(),
        ));
    }
    Ok(DemoData {
        group: "demo",
        filter: r#"EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("Purchase")"#,
        item: "P00004",
        user: "U0001",
        title: "Tent",
        files,
    })
}

/// Creates what is missing (group, schemas, datasets), then FULL-imports every file.
pub async fn run(tailor: &Tailor, args: DemoArgs) -> Result<ExitCode> {
    let data = load(&args)?;
    let group_arn = tailor.arns.arn(ResourceType::DatasetGroup, data.group);
    ignore_exists(tailor.create_dataset_group(data.group, None, None).await)?;
    for (kind, schema_json, bytes, location) in &data.files {
        let lower = kind.as_str().to_lowercase();
        let schema_name = format!("{}-{lower}", data.group);
        ignore_exists(tailor.create_schema(&schema_name, schema_json).await)?;
        let schema_arn = tailor.arns.arn(ResourceType::Schema, &schema_name);
        ignore_exists(
            tailor
                .create_dataset(&schema_name, &schema_arn, &group_arn, *kind)
                .await,
        )?;
        let job = import_bytes(
            tailor,
            &group_arn,
            *kind,
            location,
            bytes,
            ImportMode::Full,
            None,
        )
        .await?;
        if job.status != Status::Active {
            return Ok(ExitCode::FAILURE);
        }
    }
    say(&format!("dataset group {group_arn}\n"));
    print_summaries(&describe_group(tailor, &group_arn).await?);

    for (suffix, recipe) in [
        ("personalization", next_items::USER_PERSONALIZATION),
        ("sims", sims::SIMS),
    ] {
        let name = format!("{}-{suffix}", data.group);
        let request = CreateSolution {
            name: name.clone(),
            dataset_group_arn: group_arn.clone(),
            recipe_arn: recipe.arn(),
            ..Default::default()
        };
        ignore_exists(tailor.create_solution(request).await)?;
        say(&format!("\nsolution {name} ({})\n", recipe.name()));
        let arn = tailor.arns.arn(ResourceType::Solution, &name);
        if train(tailor, &arn, TrainingMode::Full).await?.status != Status::Active {
            return Ok(ExitCode::FAILURE);
        }
    }
    let up = format!("{}-personalization", data.group);
    say(&format!("\nrecommendations for user {}:\n", data.user));
    solutions::Recommend::new(&up, data.user, 10)
        .run(tailor)
        .await?;
    say(&format!(
        "\nrelated to the first title containing '{}':\n",
        data.title
    ));
    solutions::Similar::by_title(&format!("{}-sims", data.group), data.title, 10)
        .run(tailor)
        .await?;

    // Real time: campaigns, an event tracker and a filter, then the server.
    let mut campaigns = Vec::new();
    for (suffix, solution) in [("campaign", "personalization"), ("related", "sims")] {
        let name = format!("{}-{suffix}", data.group);
        let solution_arn = tailor.arns.arn(
            ResourceType::Solution,
            &format!("{}-{solution}", data.group),
        );
        let latest = format!("{solution_arn}/$LATEST");
        let arn = tailor.arns.arn(ResourceType::Campaign, &name);
        let config = CampaignConfig {
            enable_metadata_with_recommendations: true,
            ..Default::default()
        };
        match tailor
            .create_campaign(&name, &latest, None, config.clone())
            .await
        {
            Err(Error::AlreadyExists(_)) => {
                tailor
                    .update_campaign(&arn, Some(&latest), None, Some(config))
                    .await?;
            }
            other => {
                other?;
            }
        }
        campaigns.push(arn);
    }
    // The loop above made these two, in this order.
    let [personal, related]: [String; 2] = campaigns
        .try_into()
        .map_err(|_| Error::Internal("the demo makes two campaigns".into()))?;
    let tracker = match tailor
        .create_event_tracker(&format!("{}-tracker", data.group), &group_arn)
        .await
    {
        Ok(t) => t,
        Err(Error::AlreadyExists(_)) => tailor
            .list_event_trackers(Some(&group_arn))
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| Error::Internal("the event tracker vanished".into()))?,
        Err(e) => return Err(e),
    };
    let filter_name = format!("{}-filter", data.group);
    ignore_exists(
        tailor
            .create_filter(&filter_name, &group_arn, data.filter)
            .await,
    )?;
    let filter_arn = tailor.arns.arn(ResourceType::Filter, &filter_name);
    say(&format!(
        "\ncampaigns\n  {personal}\n  {related}\nevent tracker trackingId {}\nfilter {filter_arn}\n",
        tracker.tracking_id
    ));
    let live = Live {
        personal,
        related,
        tracking_id: tracker.tracking_id.clone(),
        filter_arn,
        items_dataset: tailor.arns.dataset_arn(data.group, DatasetType::Items),
        user: data.user.to_string(),
        item: data.item.to_string(),
        movielens: data.group == "movielens",
        viewed: Vec::new(),
        listed: Vec::new(),
    };
    if args.no_serve {
        // Set-up only: scripts (the compat suite) build on this data, so no demo events in it.
        return Ok(ExitCode::SUCCESS);
    }
    let live = real_time(tailor, live).await?;
    crate::server::serve(tailor, args.port, move |addr| {
        // The bound address, not the asked-for port: `--port 0` picks one.
        let lines = curl_lines(&live, &format!("http://{addr}"));
        say(&format!(
            "\ntailor is serving on http://{addr} (Ctrl-C to stop); the console is at \
             http://{addr}/console. Try:\n\n{lines}"
        ));
    })
    .await
}

/// What the printed commands name: every id in them comes from the data just imported.
struct Live {
    /// The user-personalization campaign.
    personal: String,
    /// The SIMS campaign.
    related: String,
    tracking_id: String,
    filter_arn: String,
    items_dataset: String,
    user: String,
    item: String,
    movielens: bool,
    /// Items related to `item`: what the printed event views.
    viewed: Vec<String>,
    /// Items the re-rank command orders.
    listed: Vec<String>,
}

fn now_seconds() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

fn recs_body(live: &Live, user: &str) -> serde_json::Value {
    serde_json::json!({"campaignArn": live.personal, "userId": user, "numResults": 5})
}

/// Views of `live.viewed` by `user`, sent now: newer than anything in the sample, so the next
/// answer for `user` leans towards them.
fn events_body(live: &Live, user: &str) -> serde_json::Value {
    let sent_at = now_seconds();
    let events: Vec<serde_json::Value> = live
        .viewed
        .iter()
        .map(|id| serde_json::json!({"eventType": "View", "itemId": id, "sentAt": sent_at}))
        .collect();
    serde_json::json!({"trackingId": live.tracking_id, "userId": user, "sessionId": format!("s-{user}"), "eventList": events})
}

/// The request the printed curl sends, decoded as the server decodes it.
fn request<T: serde::de::DeserializeOwned>(body: &serde_json::Value) -> Result<T> {
    tailor_core::api::parse_json(body.to_string().as_bytes())
}

fn ids(items: &[tailor_core::api::runtime::PredictedItem]) -> Vec<String> {
    items.iter().map(|p| p.item_id.clone()).collect()
}

/// Shows the real-time effect in process, through the runtime the server answers with: a new
/// visitor's recommendations, their views of items related to the demo item, and the answer
/// after. Fills in the ids the printed commands use.
async fn real_time(tailor: &Tailor, mut live: Live) -> Result<Live> {
    let runtime = Runtime::new(tailor.clone());
    let related: tailor_core::api::runtime::GetRecommendationsRequest = request(
        &serde_json::json!({"campaignArn": live.related, "itemId": live.item, "numResults": 3}),
    )?;
    live.viewed = ids(&runtime.get_recommendations(&related).await?.item_list);
    // A fresh id each run: a visitor with events from an earlier run would not start cold.
    let visitor = format!(
        "visitor-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    );
    let before = ids(&runtime
        .get_recommendations(&request(&recs_body(&live, &visitor))?)
        .await?
        .item_list);
    runtime
        .put_events(&request(&events_body(&live, &visitor))?)
        .await?;
    let after = ids(&runtime
        .get_recommendations(&request(&recs_body(&live, &visitor))?)
        .await?
        .item_list);
    say(&format!(
        "\nreal time: recommendations for a new visitor {visitor}\n  before  {}\n  \
         (the visitor views {}, items related to {})\n  after   {}\n",
        before.join(" "),
        live.viewed.join(" "),
        live.item,
        after.join(" ")
    ));
    live.listed = before.iter().rev().take(3).cloned().collect();
    live.listed.extend(live.viewed.iter().take(2).cloned());
    Ok(live)
}

fn curl_lines(live: &Live, url: &str) -> String {
    let post = |path: &str, body: serde_json::Value| {
        format!("curl -s -X POST {url}{path} -H 'content-type: application/json' -d '{body}'\n\n")
    };
    let filter_values = if live.movielens {
        serde_json::json!({"GENRES": "\"Comedy\""})
    } else {
        serde_json::json!({})
    };
    let campaign = &live.personal;
    let user = &live.user;
    let mut out = String::new();
    out += "# recommendations for a user\n";
    out += &post("/recommendations", recs_body(live, user));
    out += "# with a filter and item metadata\n";
    out += &post(
        "/recommendations",
        serde_json::json!({"campaignArn": campaign, "userId": user, "numResults": 5, "filterArn": live.filter_arn, "filterValues": filter_values, "metadataColumns": {"ITEMS": ["TITLE"]}}),
    );
    out += "# related items\n";
    out += &post(
        "/recommendations",
        serde_json::json!({"campaignArn": live.related, "itemId": live.item, "numResults": 5}),
    );
    out += "# re-rank a list for a user\n";
    out += &post(
        "/personalize-ranking",
        serde_json::json!({"campaignArn": campaign, "userId": user, "inputList": live.listed}),
    );
    out += "# events (sentAt: now, in epoch seconds): the user views items\n";
    out += &post("/events", events_body(live, user));
    out += "# the first command again: the answer now reflects those views\n";
    out += &post("/recommendations", recs_body(live, user));
    out += "# a new item, visible to filters and metadata at once\n";
    out += &post(
        "/items",
        serde_json::json!({"datasetArn": live.items_dataset, "items": [{"itemId": "NEW-1", "properties": "{\"title\": \"Brand new\"}"}]}),
    );
    out += "# boto3 works unchanged (any credentials will do):\n";
    out += &format!(
        "python3 -c \"import boto3; print(boto3.client('personalize-runtime', endpoint_url='{url}', region_name='us-east-1', aws_access_key_id='test', aws_secret_access_key='test').get_recommendations(campaignArn='{campaign}', userId='{user}')['itemList'])\"\n"
    );
    out
}

fn ignore_exists<T>(r: Result<T>) -> Result<()> {
    match r {
        Ok(_) | Err(Error::AlreadyExists(_)) => Ok(()),
        Err(e) => Err(e),
    }
}
