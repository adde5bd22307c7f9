//! Every recipe on small synthetic data with a planted structure it must recover, plus fold-in,
//! artifacts, determinism and hyperparameter errors.

use tailor_core::engine::{self, Candidates, Pick, Query, Scoring};
use tailor_core::recipes::{
    next_items, popularity, sims, trending, ArtifactError, Event, Hyperparameters, Model, Recipe,
    TrainingData,
};
use tailor_core::sample::SplitMix;

/// Two taste groups with disjoint items: users `A*` touch only `a*` items, `B*` only `b*`.
/// Each user's events have increasing timestamps; item `a0`/`b0` are each group's favourite.
fn two_groups(users_per_group: usize, events_per_user: usize, seed: u64) -> TrainingData {
    let mut rng = SplitMix::new(seed);
    let mut data = TrainingData::default();
    for g in ["a", "b"] {
        for u in 0..users_per_group {
            let user = data.users.intern(&format!("{}{u}", g.to_uppercase()));
            data.histories.resize(user as usize + 1, Vec::new());
            for k in 0..events_per_user {
                // Skewed towards low-numbered items, so popularity is well defined.
                let i = (rng.unit().powi(2) * 30.0) as usize;
                let item = data.items.intern(&format!("{g}{i}"));
                data.histories[user as usize].push(Event {
                    item,
                    ts: 1_000 + (u * 100 + k) as i64,
                    weight: 1.0,
                    ctx: 0,
                });
            }
        }
    }
    data
}

fn ids(model: &Model, picks: &[Pick]) -> Vec<String> {
    picks
        .iter()
        .filter_map(|p| Some(model.items.name(p.item?).to_string()))
        .collect()
}

/// The engine's answer for a history (the offline protocol when `exclude_history`).
fn recommend(model: &Model, history: &[u32], k: usize, exclude_history: bool) -> Vec<Pick> {
    let query = Query {
        exclude_history,
        ..Query::for_history(history, k)
    };
    engine::recommend(model, &query)
}

/// GetPersonalizedRanking's order: (input position, score).
fn rank(model: &Model, history: &[u32], list: &[Option<u32>]) -> Vec<(usize, Option<f64>)> {
    let query = Query {
        candidates: Candidates::Only(list),
        ..Query::for_history(history, list.len())
    };
    engine::recommend(model, &query)
        .iter()
        .map(|p| (p.input.unwrap(), p.score))
        .collect()
}

/// A RELATED_ITEMS answer for `item`.
fn related(model: &Model, item: Option<u32>, _exclude: &[u32], k: usize) -> Vec<Pick> {
    let query = Query {
        scoring: Scoring::Related(item),
        ..Query::for_history(&[], k)
    };
    engine::recommend(model, &query)
}

fn history_of(data: &TrainingData, user: &str) -> Vec<u32> {
    let u = data.users.get(user).unwrap();
    data.histories[u as usize].iter().map(|e| e.item).collect()
}

fn fit(recipe: Recipe, data: &TrainingData) -> Model {
    Model::fit(recipe, data, &Hyperparameters::new(), &mut |_| {}).unwrap()
}

#[test]
fn user_personalization_keeps_each_group_inside_its_taste() {
    let data = two_groups(20, 25, 1);
    let model = fit(next_items::USER_PERSONALIZATION, &data);
    for user in data.users.iter() {
        let group = &user[..1].to_lowercase();
        let top = recommend(&model, &history_of(&data, user), 5, true);
        assert_eq!(top.len(), 5);
        for id in ids(&model, &top) {
            assert!(id.starts_with(group.as_str()), "{user} got {id}");
        }
    }
}

#[test]
fn a_new_users_three_events_fold_in_without_retraining() {
    let data = two_groups(20, 25, 2);
    let model = fit(next_items::USER_PERSONALIZATION, &data);
    for group in ["a", "b"] {
        let events: Vec<u32> = ["3", "7", "11"]
            .iter()
            .map(|i| model.items.get(&format!("{group}{i}")).unwrap())
            .collect();
        let top = recommend(&model, &events, 5, true);
        let got = ids(&model, &top);
        assert!(
            got.iter().all(|id| id.starts_with(group)),
            "a new {group} user got {got:?}"
        );
        assert!(
            !got.iter().any(|id| ["3", "7", "11"]
                .iter()
                .any(|i| *id == format!("{group}{i}"))),
            "history excluded"
        );
    }
    // With no events at all: popular items.
    let cold = recommend(&model, &[], 2, true);
    let got = ids(&model, &cold);
    assert!(
        got.contains(&"a0".to_string()) || got.contains(&"b0".to_string()),
        "{got:?}"
    );
}

#[test]
fn each_new_event_changes_the_next_answer() {
    let data = two_groups(20, 25, 3);
    let model = fit(next_items::USER_PERSONALIZATION, &data);
    let mut history = vec![model.items.get("a1").unwrap()];
    let before = ids(&model, &recommend(&model, &history, 5, true));
    // The user turns to group b: three b events outweigh one old a event.
    for i in ["b2", "b4", "b6"] {
        history.push(model.items.get(i).unwrap());
    }
    let after = ids(&model, &recommend(&model, &history, 5, true));
    assert_ne!(before, after);
    assert!(after[0].starts_with('b'), "{after:?}");
}

#[test]
fn personalized_ranking_puts_the_users_group_first_and_unknown_items_last() {
    let data = two_groups(20, 25, 4);
    let model = fit(next_items::PERSONALIZED_RANKING, &data);
    let history = history_of(&data, "A3");
    let input = ["b1", "a2", "nope", "b3", "a4"];
    let candidates: Vec<Option<u32>> = input.iter().map(|id| model.items.get(id)).collect();
    let ranked = rank(&model, &history, &candidates);
    let order: Vec<&str> = ranked.iter().map(|(p, _)| input[*p]).collect();
    assert!(order[..2].iter().all(|id| id.starts_with('a')), "{order:?}");
    assert_eq!(order[4], "nope");
    assert!(ranked[4].1.is_none(), "an unknown item has no score");
    assert!(ranked[..4].iter().all(|(_, s)| s.is_some()));
}

#[test]
fn sims_relates_items_within_their_group() {
    let data = two_groups(20, 25, 5);
    let hp = Hyperparameters::new().with("min_cointeraction_count", "2");
    let model = Model::fit(sims::SIMS, &data, &hp, &mut |_| {}).unwrap();
    for probe in ["a1", "a5", "b2", "b8"] {
        let related = related(&model, model.items.get(probe), &[], 5);
        let got = ids(&model, &related);
        assert_eq!(got.len(), 5);
        assert!(
            got.iter().all(|id| id[..1] == probe[..1] && id != probe),
            "{probe} -> {got:?}"
        );
    }
    // An unknown item falls back to popular items.
    let fallback = ids(&model, &related(&model, None, &[], 2));
    assert!(fallback.contains(&"a0".to_string()) || fallback.contains(&"b0".to_string()));
}

#[test]
fn popularity_counts_distinct_users() {
    let mut data = TrainingData::default();
    let (x, y) = (data.items.intern("x"), data.items.intern("y"));
    for u in 0..5 {
        data.users.intern(&format!("u{u}"));
        // One user clicks y ten times; three users touch x once each.
        let events: Vec<Event> = if u == 0 {
            (0..10)
                .map(|t| Event {
                    item: y,
                    ts: t,
                    weight: 1.0,
                    ctx: 0,
                })
                .collect()
        } else if u < 4 {
            vec![Event {
                item: x,
                ts: u as i64,
                weight: 1.0,
                ctx: 0,
            }]
        } else {
            vec![]
        };
        data.histories.push(events);
    }
    let model = fit(popularity::POPULARITY_COUNT, &data);
    let top = recommend(&model, &[], 2, true);
    assert_eq!(ids(&model, &top), ["x", "y"]);
}

#[test]
fn trending_finds_the_item_that_surged_in_the_latest_window() {
    let mut data = TrainingData::default();
    let steady = data.items.intern("steady");
    let surge = data.items.intern("surge");
    let hour = 3600;
    for u in 0..40 {
        data.users.intern(&format!("u{u}"));
        let mut h = vec![];
        // "steady" is the most popular overall, spread over 10 hours.
        h.push(Event {
            item: steady,
            ts: (u % 10) * hour,
            weight: 1.0,
            ctx: 0,
        });
        if u < 8 {
            h.push(Event {
                item: surge,
                ts: 9 * hour + u,
                weight: 1.0,
                ctx: 0,
            });
        }
        data.histories.push(h);
    }
    let hp = Hyperparameters::new().with("trend_discovery_frequency", "1 hour");
    let model = Model::fit(trending::TRENDING_NOW, &data, &hp, &mut |_| {}).unwrap();
    let top = recommend(&model, &[], 2, false);
    assert_eq!(ids(&model, &top)[0], "surge");
    let pop = fit(popularity::POPULARITY_COUNT, &data);
    assert_eq!(ids(&pop, &recommend(&pop, &[], 1, false))[0], "steady");
}

#[test]
fn artifacts_round_trip_to_identical_scores() {
    let data = two_groups(15, 20, 6);
    for &recipe in Recipe::ALL {
        let model = fit(recipe, &data);
        let bytes = model.to_bytes();
        let loaded = Model::from_bytes(&bytes).unwrap();
        assert_eq!(loaded, model, "{}", recipe.name());
        for user in ["A1", "B2"] {
            let h = history_of(&data, user);
            let (mut a, mut b) = (Vec::new(), Vec::new());
            model.score_history(&h, &mut a);
            loaded.score_history(&h, &mut b);
            assert_eq!(a, b, "{}", recipe.name());
        }
    }
}

#[test]
fn damaged_or_foreign_artifacts_fail_clearly() {
    let data = two_groups(10, 20, 7);
    let bytes = fit(next_items::USER_PERSONALIZATION, &data).to_bytes();
    let mut flipped = bytes.clone();
    let mid = flipped.len() / 2;
    flipped[mid] ^= 0x40;
    assert!(matches!(
        Model::from_bytes(&flipped),
        Err(ArtifactError::Corrupt(_))
    ));
    let mut future = bytes.clone();
    future[4] = 9;
    let err = Model::from_bytes(&future).unwrap_err();
    assert_eq!(err, ArtifactError::Version { found: 9 });
    assert!(err.to_string().contains("retrain"), "{err}");
    assert_eq!(
        Model::from_bytes(b"PK\x03\x04 not a model at all").unwrap_err(),
        ArtifactError::NotAnArtifact
    );
    assert!(
        Model::from_bytes(&bytes[..bytes.len() - 10]).is_err(),
        "truncated"
    );
}

#[test]
fn training_is_deterministic() {
    let data = two_groups(20, 25, 8);
    for &recipe in Recipe::ALL {
        assert_eq!(
            fit(recipe, &data).to_bytes(),
            fit(recipe, &data).to_bytes(),
            "{}",
            recipe.name()
        );
    }
}

#[test]
fn update_takes_in_a_new_item_without_refitting() {
    let data = two_groups(20, 25, 9);
    let full = fit(next_items::USER_PERSONALIZATION, &data);
    let mut newer = data.clone();
    let fresh = newer.items.intern("a-new");
    // Many group-a users pick up the new item.
    for u in 0..15 {
        let user = newer.users.get(&format!("A{u}")).unwrap();
        newer.histories[user as usize].push(Event {
            item: fresh,
            ts: 99_999,
            weight: 1.0,
            ctx: 0,
        });
    }
    let updated = full.update(&newer).unwrap();
    assert_eq!(updated.items.len(), full.items.len() + 1);
    let (a, b) = (next_items_of(&full), next_items_of(&updated));
    assert_eq!(a.b, b.b, "the trained matrix is reused, not refitted");
    let code = updated.items.get("a-new").unwrap();
    assert!(
        updated.popularity[code as usize] > 0.0,
        "the new item's popularity is counted"
    );
    // The new item is now part of the catalogue: rankable with a score, and recommendable.
    let ranked = rank(&updated, &[], &[Some(code)]);
    assert!(ranked[0].1.is_some_and(|s| s > 0.0));
    let all = recommend(&updated, &[], updated.items.len(), true);
    assert!(ids(&updated, &all).contains(&"a-new".to_string()));
    assert!(
        full.items.get("a-new").is_none(),
        "the FULL model never knew it"
    );
}

#[test]
fn bad_hyperparameters_are_named() {
    let data = two_groups(5, 10, 10);
    let cases = [
        (
            next_items::USER_PERSONALIZATION,
            "hidden_dimension",
            "12",
            "out of range [32, 256]",
        ),
        (
            next_items::USER_PERSONALIZATION,
            "bptt",
            "many",
            "not a number",
        ),
        (
            next_items::USER_PERSONALIZATION,
            "recency_mask",
            "yes",
            "true or false",
        ),
        (
            next_items::USER_PERSONALIZATION,
            "learning_rate",
            "0.1",
            "unknown hyperparameter 'learning_rate'",
        ),
        (
            sims::SIMS,
            "popularity_discount_factor",
            "1.5",
            "out of range [0, 1]",
        ),
        (
            sims::SIMS,
            "min_cointeraction_count",
            "11",
            "out of range [0, 10]",
        ),
        (
            trending::TRENDING_NOW,
            "trend_discovery_frequency",
            "2 weeks",
            "must be one of",
        ),
        (
            popularity::POPULARITY_COUNT,
            "anything",
            "1",
            "unknown hyperparameter",
        ),
    ];
    for (recipe, key, value, expected) in cases {
        let hp = Hyperparameters::new().with(key, value);
        let err = Model::fit(recipe, &data, &hp, &mut |_| {}).unwrap_err();
        assert_eq!(err.kind().name(), "InvalidInputException");
        assert!(
            err.to_string().contains(expected),
            "{} {key}={value}: {err}",
            recipe.name()
        );
    }
}

#[test]
fn recency_mask_false_weighs_the_window_equally() {
    let data = two_groups(10, 20, 11);
    let hp = Hyperparameters::new()
        .with("recency_mask", "false")
        .with("bptt", "8");
    let model = Model::fit(next_items::USER_PERSONALIZATION, &data, &hp, &mut |_| {}).unwrap();
    let m = next_items_of(&model);
    assert_eq!(m.age_weights, vec![1.0; 8]);
    let default = fit(next_items::USER_PERSONALIZATION, &data);
    let d = next_items_of(&default);
    assert!(d.age_weights[1] < d.age_weights[0]);
}

#[test]
fn hidden_dimension_limits_the_rank_and_keeps_the_structure() {
    let data = two_groups(20, 25, 12);
    let hp = Hyperparameters::new().with("hidden_dimension", "32");
    let reduced = Model::fit(next_items::USER_PERSONALIZATION, &data, &hp, &mut |_| {}).unwrap();
    let full = fit(next_items::USER_PERSONALIZATION, &data);
    let (r, f) = (next_items_of(&reduced), next_items_of(&full));
    assert_eq!(r.params.hidden_dimension, Some(32));
    assert_ne!(
        r.b, f.b,
        "a rank-32 matrix differs from the full-rank one over 60 items"
    );
    for user in ["A1", "B7"] {
        let top = recommend(&reduced, &history_of(&data, user), 5, true);
        assert!(
            ids(&reduced, &top)
                .iter()
                .all(|id| id[..1] == user[..1].to_lowercase()),
            "{user}"
        );
    }
}

/// The matrix of a User-Personalization model.
fn next_items_of(model: &Model) -> &next_items::NextItems {
    &model
        .learned
        .as_any()
        .downcast_ref::<next_items::UserPersonalization>()
        .expect("a User-Personalization model")
        .0
}

#[test]
fn the_registry_names_each_recipe_once_and_parses_names_and_arns() {
    let mut names: Vec<&str> = Recipe::ALL.iter().map(|r| r.name()).collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), Recipe::ALL.len());
    for &recipe in Recipe::ALL {
        assert_eq!(Recipe::parse(recipe.name()).unwrap(), recipe);
        assert_eq!(Recipe::parse(&recipe.arn()).unwrap(), recipe);
        assert!(
            Model::fit(
                recipe,
                &two_groups(5, 6, 1),
                &Hyperparameters::new().with("no_such_knob", "1"),
                &mut |_| {}
            )
            .is_err(),
            "{} refuses names it does not know",
            recipe.name()
        );
    }
    assert!(Recipe::parse("aws-no-such-recipe").is_err());
}

#[test]
fn capabilities_are_what_personalize_offers_per_recipe() {
    let data = two_groups(10, 12, 2);
    let caps = |recipe: Recipe| {
        let m = fit(recipe, &data);
        (
            m.learned.related().is_some(),
            m.learned.updatable().is_some(),
        )
    };
    assert_eq!(caps(next_items::USER_PERSONALIZATION), (true, true));
    assert_eq!(caps(next_items::PERSONALIZED_RANKING), (true, false));
    assert_eq!(caps(sims::SIMS), (true, false));
    assert_eq!(caps(popularity::POPULARITY_COUNT), (false, false));
    assert_eq!(caps(trending::TRENDING_NOW), (false, false));
    let err = fit(sims::SIMS, &data).update(&data).unwrap_err();
    assert!(err.to_string().contains("UPDATE"), "{err}");
}

/// New users held out of training, given their first event, then their first three: the model
/// folds them in and beats popularity and item-kNN from the same events, on planted groups.
#[test]
fn new_users_are_served_from_their_first_events_better_than_popularity() {
    use tailor_core::evaluation::new_users::{evaluate_first_k, new_user_split};
    let data = two_groups(100, 20, 11);
    let split = new_user_split(&data, 0.1, 5);
    assert_eq!(split.held_out.len(), 20);
    let fit =
        |r: Recipe| Model::fit(r, &split.train, &Hyperparameters::new(), &mut |_| {}).unwrap();
    let up = fit(next_items::USER_PERSONALIZATION);
    let pop = fit(popularity::POPULARITY_COUNT);
    for k in [1, 3] {
        let (users, ours, _) = evaluate_first_k(&up, &split, k);
        let (_, theirs, _) = evaluate_first_k(&pop, &split, k);
        assert_eq!(users, 20);
        // One event names the user's group; popularity knows no groups (about half its top
        // 10 is the other group's).
        assert!(
            ours > 1.2 * theirs,
            "first {k}: model {ours}, popularity {theirs}"
        );
    }
    // The short history's popularity share fades as events arrive.
    let m = up
        .learned
        .as_any()
        .downcast_ref::<next_items::UserPersonalization>()
        .unwrap();
    assert!(m.0.popularity_weight_for(1) > m.0.popularity_weight_for(20));
}
