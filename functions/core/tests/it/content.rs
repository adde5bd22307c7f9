//! Item content: items nobody has touched get real scores from their text, in several scripts,
//! at training and through PutItems; the artifact keeps the map.

use tailor_core::data::attrs::{Attr, Attrs};
use tailor_core::evaluation::cold::{self, ColdFigure};
use tailor_core::evaluation::{read_csv, read_csv_with_schema};
use tailor_core::recipes::{next_items, EventConfig, Hyperparameters, Model, TrainingData};
use tailor_core::sample::SplitMix;
use tailor_core::schema::DatasetType;

const SCHEMA: &str = r#"{"type": "record", "name": "Items", "namespace": "com.amazonaws.personalize.schema",
 "fields": [{"name": "ITEM_ID", "type": "string"},
            {"name": "DESCRIPTION", "type": ["null", "string"], "textual": true},
            {"name": "GENRES", "type": ["null", "string"], "categorical": true},
            {"name": "PRICE", "type": ["null", "float"]}],
 "version": "1.0"}"#;

/// Each cluster's words, one script per cluster (Japanese is written without spaces).
const WORDS: [&[&str]; 4] = [
    &[
        "café",
        "crème",
        "brûlée",
        "gâteau",
        "pâtisserie",
        "éclair",
        "soufflé",
        "crêpe",
    ],
    &[
        "война",
        "мир",
        "снег",
        "зима",
        "река",
        "лес",
        "дорога",
        "песня",
    ],
    &[
        "東京",
        "ラーメン",
        "寿司",
        "桜",
        "富士山",
        "抹茶",
        "新幹線",
        "温泉",
    ],
    &[
        "फ़िल्म",
        "संगीत",
        "नृत्य",
        "कहानी",
        "प्रेम",
        "परिवार",
        "त्योहार",
        "गीत",
    ],
];
const NOISE: &[&str] = &["new", "best", "classic", "edition", "deluxe", "value"];

const CLUSTERS: usize = 4;
const ITEMS_PER_CLUSTER: usize = 60;

fn description(rng: &mut SplitMix, cluster: usize) -> String {
    let mut words: Vec<&str> = (0..3).map(|_| *rng.pick(WORDS[cluster])).collect();
    words.push(*rng.pick(NOISE));
    // Japanese runs together, as it is written.
    let sep = if cluster == 2 { "" } else { " " };
    words.join(sep)
}

/// Items whose text names their cluster (genres are noise), and users who stay in one cluster.
fn planted() -> TrainingData {
    let mut rng = SplitMix::new(7);
    let mut items = String::from("ITEM_ID,DESCRIPTION,GENRES,PRICE\n");
    for c in 0..CLUSTERS {
        for i in 0..ITEMS_PER_CLUSTER {
            let genre = ["x", "y", "z"][rng.below(3)];
            let price = 1.0 + (rng.unit() * 100.0).round();
            items.push_str(&format!(
                "i{c}_{i},{},{genre},{price}\n",
                description(&mut rng, c)
            ));
        }
    }
    let mut events = String::from("USER_ID,ITEM_ID,TIMESTAMP\n");
    for u in 0..240 {
        let c = u % CLUSTERS;
        for k in 0..20 {
            let i = (rng.unit().powi(4) * ITEMS_PER_CLUSTER as f64) as usize;
            events.push_str(&format!("u{u},i{c}_{i},{}\n", 1_000 + u * 100 + k));
        }
    }
    let items = read_csv_with_schema(SCHEMA, items.as_bytes()).unwrap();
    let interactions = read_csv(DatasetType::Interactions, events.as_bytes()).unwrap();
    TrainingData::from_tables(&interactions, Some(&items), &EventConfig::default()).unwrap()
}

/// Factors on, at a weight (tuning on this small data is not what is tested).
fn hp() -> Hyperparameters {
    let mut hp = Hyperparameters::new();
    hp.0.insert("factors".into(), "16".into());
    hp.0.insert("factor_weight".into(), "0.5".into());
    hp
}

fn cold_recall(figures: &[ColdFigure]) -> f64 {
    figures
        .iter()
        .find(|f| f.candidates == "cold items")
        .unwrap()
        .recall_at_10
}

#[test]
fn cold_items_are_found_from_their_text_better_than_by_genre() {
    let data = planted();
    assert!(data.content.is_some());
    let split = cold::cold_item_split(&data, 0.1, 3);
    assert_eq!(split.cold.len(), 24);
    let model = Model::fit(
        next_items::USER_PERSONALIZATION,
        &split.train,
        &hp(),
        &mut |_| {},
    )
    .unwrap();
    let ours = cold_recall(&cold::evaluate_scorer("model", &model, &split));
    let baseline = cold::GenreBaseline::new(&split.train, "GENRES").unwrap();
    let theirs = cold_recall(&cold::evaluate_scorer("genres", &baseline, &split));
    // Each user's cold items are the ~6 of their cluster: text finds them, noise genres do not.
    assert!(ours > 0.9, "content recall@10 {ours}");
    assert!(theirs < 0.6, "baseline recall@10 {theirs}");
}

fn attrs(text: &str) -> Attrs {
    Attrs::from([("DESCRIPTION".to_string(), Attr::Text(text.to_string()))])
}

#[test]
fn an_item_put_after_training_is_scored_from_its_text_and_survives_a_reload() {
    let data = planted();
    let model = Model::fit(next_items::USER_PERSONALIZATION, &data, &hp(), &mut |_| {}).unwrap();
    let reloaded = Model::from_bytes(&model.to_bytes()).unwrap();
    assert!(reloaded == model);
    let mut rng = SplitMix::new(99);
    let texts: Vec<String> = (0..CLUSTERS).map(|c| description(&mut rng, c)).collect();
    let new_attrs: Vec<Attrs> = texts.iter().map(|t| attrs(t)).collect();
    let ids: Vec<String> = (0..CLUSTERS).map(|c| format!("new{c}")).collect();
    let id_refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    let attr_refs: Vec<Option<&Attrs>> = new_attrs.iter().map(Some).collect();
    for m in [&model, &reloaded] {
        let grown = m.with_new_items(&id_refs, &attr_refs);
        for c in 0..CLUSTERS {
            // A user of cluster c: their history is their training events.
            let user = grown_user(&data, c);
            let mut scores = Vec::new();
            grown.score_history(&user, &mut scores);
            let new: Vec<f32> = ids
                .iter()
                .map(|id| scores[grown.items.get(id).unwrap() as usize])
                .collect();
            let best = (0..CLUSTERS)
                .max_by(|&a, &b| new[a].total_cmp(&new[b]))
                .unwrap();
            assert_eq!(
                best, c,
                "cluster {c} user's scores of the new items: {new:?}"
            );
            assert!(new[c] > 0.0);
        }
    }
    // Without text, a new item has nothing to be scored from.
    let bare = model.with_new_items(&["bare"], &[None]);
    let mut scores = Vec::new();
    bare.score_history(&grown_user(&data, 0), &mut scores);
    assert_eq!(scores[bare.items.get("bare").unwrap() as usize], 0.0);
}

fn grown_user(data: &TrainingData, cluster: usize) -> Vec<u32> {
    let u = data.users.get(&format!("u{cluster}")).unwrap();
    data.histories[u as usize].iter().map(|e| e.item).collect()
}

/// The related items of an item, best first (its own code left out).
fn related(model: &Model, item: u32, k: usize) -> Vec<u32> {
    use tailor_core::engine::{self, Candidates, Query, Scoring};
    let query = Query {
        scoring: Scoring::Related(Some(item)),
        candidates: Candidates::All { exclude: &[] },
        ..Query::for_history(&[], k)
    };
    engine::recommend(model, &query)
        .iter()
        .filter_map(|p| p.item)
        .collect()
}

fn cluster(model: &Model, item: u32) -> usize {
    let id = model.items.name(item);
    (id.as_bytes()[1] - b'0') as usize
}

#[test]
fn similar_items_relates_items_with_many_few_and_no_interactions_within_their_cluster() {
    use tailor_core::recipes::similar_items::SIMILAR_ITEMS;
    let data = planted();
    let split = cold::cold_item_split(&data, 0.1, 3);
    let model = Model::fit(
        SIMILAR_ITEMS,
        &split.train,
        &Hyperparameters::new(),
        &mut |_| {},
    )
    .unwrap();
    let users = split.train.item_users();
    // Per group (no, 1-4, 5+ users): items checked, and related items in the item's cluster.
    let mut checked = [0usize; 3];
    let mut inside = [0usize; 3];
    for item in 0..model.items.len() as u32 {
        let group = match users[item as usize] {
            0 => 0,
            1..=4 => 1,
            _ => 2,
        };
        let top = related(&model, item, 5);
        assert_eq!(top.len(), 5);
        let c = cluster(&model, item);
        inside[group] += top.iter().filter(|&&j| cluster(&model, j) == c).count();
        checked[group] += 1;
    }
    for g in 0..3 {
        assert!(checked[g] > 0, "items per group: {checked:?}");
        // A random answer has a quarter in the cluster; a random price band and genre per item
        // are noise the content must see past.
        let share = inside[g] as f64 / (5 * checked[g]) as f64;
        assert!(
            share >= 0.85,
            "group {g}: {share} of related items in the cluster"
        );
    }
    // An item put after training is related to its own cluster, after a reload too.
    let reloaded = Model::from_bytes(&model.to_bytes()).unwrap();
    assert!(reloaded == model);
    let mut rng = SplitMix::new(5);
    let text = description(&mut rng, 3);
    let a = attrs(&text);
    let grown = reloaded.with_new_items(&["fresh"], &[Some(&a)]);
    let fresh = grown.items.get("fresh").unwrap();
    let top = related(&grown, fresh, 5);
    assert!(
        top.iter().all(|&j| cluster(&grown, j) == 3),
        "{text}: {:?}",
        top.iter().map(|&j| grown.items.name(j)).collect::<Vec<_>>()
    );
}

#[test]
fn the_objective_lifts_the_attribute_at_each_sensitivity_and_keeps_relevance() {
    use tailor_core::evaluation::{evaluate, mean_attribute_at_10, quality_split};
    let data = planted();
    let split = quality_split(&data);
    let mut means = Vec::new();
    let mut ndcgs = Vec::new();
    for level in ["OFF", "LOW", "MEDIUM", "HIGH"] {
        let mut hp = hp();
        hp.0.insert("objective_attribute".into(), "PRICE".into());
        hp.0.insert("objective_sensitivity".into(), level.into());
        let model = Model::fit(
            next_items::USER_PERSONALIZATION,
            &split.train,
            &hp,
            &mut |_| {},
        )
        .unwrap();
        assert!(Model::from_bytes(&model.to_bytes()).unwrap() == model);
        means.push(mean_attribute_at_10(&model, &split, "PRICE"));
        ndcgs.push(evaluate(&model, &split)["normalized_discounted_cumulative_gain_at_10"]);
    }
    assert!(
        means.windows(2).all(|w| w[1] > w[0]),
        "mean PRICE of the top 10s by sensitivity: {means:?}"
    );
    assert!(
        ndcgs[3] > 0.5 * ndcgs[0],
        "NDCG@10 by sensitivity: {ndcgs:?}"
    );
    // The attribute must be a number the Items dataset has.
    let mut hp = hp();
    hp.0.insert("objective_attribute".into(), "GENRES".into());
    let err = Model::fit(
        next_items::USER_PERSONALIZATION,
        &split.train,
        &hp,
        &mut |_| {},
    )
    .unwrap_err();
    assert!(err.to_string().contains("GENRES"), "{err}");
}
