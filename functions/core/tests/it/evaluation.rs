//! The QUALITY.md split and Personalize's metrics on known answers, and top-k against a sort.

use proptest::prelude::*;
use tailor_core::engine::top_k;
use tailor_core::evaluation::{evaluate, pre_split, quality_split, Split};
use tailor_core::recipes::{popularity, Event, Hyperparameters, Model, TrainingData};

fn data(histories: &[&[&str]]) -> TrainingData {
    let mut d = TrainingData::default();
    for (u, h) in histories.iter().enumerate() {
        d.users.intern(&format!("u{u}"));
        let events = h
            .iter()
            .enumerate()
            .map(|(t, id)| Event {
                item: d.items.intern(id),
                ts: t as i64,
                weight: 1.0,
                ctx: 0,
            })
            .collect();
        d.histories.push(events);
    }
    d
}

#[test]
fn split_holds_out_the_newest_fifth_of_users_with_five_or_more() {
    let d = data(&[
        &["a", "b", "c", "d"],
        &["a", "b", "c", "d", "e"],
        &["a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k"],
    ]);
    let s = quality_split(&d);
    assert_eq!(s.train.histories[0].len(), 4, "fewer than 5: all training");
    assert_eq!(
        s.train.histories[1].len(),
        4,
        "5 events: ceil(1.0) = 1 held out"
    );
    assert_eq!(
        s.train.histories[2].len(),
        8,
        "11 events: ceil(2.2) = 3 held out"
    );
    let names = |codes: &[u32]| {
        codes
            .iter()
            .map(|&c| d.items.name(c).to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(s.truth.len(), 2);
    assert_eq!(names(&s.truth[0].1), ["e"]);
    assert_eq!(names(&s.truth[1].1), ["i", "j", "k"]);
}

#[test]
fn timestamp_ties_keep_file_order() {
    let mut d = TrainingData::default();
    d.users.intern("u");
    let items: Vec<u32> = ["p", "q", "r", "s", "t"]
        .iter()
        .map(|i| d.items.intern(i))
        .collect();
    d.histories.push(
        items
            .iter()
            .map(|&item| Event {
                item,
                ts: 7,
                weight: 1.0,
                ctx: 0,
            })
            .collect(),
    );
    let s = quality_split(&d);
    assert_eq!(
        d.items.name(s.truth[0].1[0]),
        "t",
        "the last in file order is the newest"
    );
}

/// The developer guide's worked example: relevant items at ranks 2 and 5 of the top 5 give
/// RR 0.5, NDCG@5 = (1/log 3 + 1/log 6)/(1/log 2 + 1/log 3) ≈ 0.6241, precision@5 = 0.4.
#[test]
fn metrics_match_the_worked_example() {
    // Popularity orders the catalogue r1 > r2 > ... > r30 for everyone.
    let mut histories: Vec<Vec<&str>> = Vec::new();
    let names: Vec<String> = (1..=30).map(|i| format!("r{i}")).collect();
    for (i, name) in names.iter().enumerate() {
        for _ in 0..(40 - i) {
            histories.push(vec![name.as_str()]);
        }
    }
    let refs: Vec<&[&str]> = histories.iter().map(|h| h.as_slice()).collect();
    let train = data(&refs);
    let model = Model::fit(
        popularity::POPULARITY_COUNT,
        &train,
        &Hyperparameters::new(),
        &mut |_| {},
    )
    .unwrap();
    // One evaluated user, new, whose truth is r2 and r5.
    let mut t = train.clone();
    let u = t.users.intern("judge");
    t.histories.push(vec![]);
    let split = Split {
        truth: vec![(
            u,
            vec![t.items.get("r2").unwrap(), t.items.get("r5").unwrap()],
        )],
        train: t,
    };
    let m = evaluate(&model, &split);
    let close = |k: &str, v: f64| assert!((m[k] - v).abs() < 1e-4, "{k} = {} not {v}", m[k]);
    close("mean_reciprocal_rank_at_25", 0.5);
    close("normalized_discounted_cumulative_gain_at_5", 0.6241);
    close("precision_at_5", 0.4);
    close("precision_at_10", 0.2);
    close("recall_at_10", 1.0);
    close("coverage", 10.0 / 30.0);
}

#[test]
fn training_items_are_never_recommended_and_pre_split_pairs_line_up() {
    let train = data(&[&["a", "b"], &["a", "c"], &["b", "c"]]);
    let test = data(&[&["c"], &["b"]]);
    let split = pre_split(&train, &test);
    assert_eq!(split.truth.len(), 2);
    let u0 = split.train.users.get("u0").unwrap();
    assert_eq!(split.truth[0].0, u0);
    assert_eq!(split.train.items.name(split.truth[0].1[0]), "c");
    let model = Model::fit(
        popularity::POPULARITY_COUNT,
        &split.train,
        &Hyperparameters::new(),
        &mut |_| {},
    )
    .unwrap();
    let m = evaluate(&model, &split);
    // u0 saw a and b, so the top pick is c: a hit at rank 1. u1 saw a and c: b at rank 1.
    assert_eq!(m["mean_reciprocal_rank_at_25"], 1.0);
}

proptest! {
    #[test]
    fn top_k_equals_a_full_sort(scores in proptest::collection::vec(-5i32..7, 0..1500), k in 0usize..40, skip_mod in 2u32..7) {
        // 5 stands for NaN (never answered), 6 for -inf (answered last).
        let scores: Vec<f32> = scores
            .into_iter()
            .map(|s| match s {
                5 => f32::NAN,
                6 => f32::NEG_INFINITY,
                s => s as f32 * 0.5,
            })
            .collect();
        let got: Vec<u32> = top_k(&scores, k, |i| i % skip_mod != 0).into_iter().map(|s| s.item).collect();
        let mut all: Vec<u32> = (0..scores.len() as u32)
            .filter(|&i| i % skip_mod != 0 && !scores[i as usize].is_nan())
            .collect();
        all.sort_by(|&a, &b| scores[b as usize].total_cmp(&scores[a as usize]).then(a.cmp(&b)));
        all.truncate(k);
        prop_assert_eq!(got, all);
    }
}
