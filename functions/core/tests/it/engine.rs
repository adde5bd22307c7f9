//! The answer engine's stages on planted data: each stage observable alone, and the whole path
//! the same for a batch as for single queries.

use tailor_core::engine::{
    self, stages, Candidates, Exploration, ItemSet, Pick, PromotionQuery, Query, Reason, Scoring,
};
use tailor_core::recipes::{popularity, sims, Event, Hyperparameters, Model, TrainingData};

/// Ten items `i0`..`i9`; item `ik` is touched by `10 - k` distinct users, so popularity (and a
/// popularity model's score) falls strictly with k.
fn ladder() -> Model {
    let mut data = TrainingData::default();
    for k in 0..10u32 {
        data.items.intern(&format!("i{k}"));
    }
    for u in 0..10 {
        let user = data.users.intern(&format!("u{u}"));
        data.histories.resize(user as usize + 1, Vec::new());
        for k in 0..10u32 {
            if u < 10 - k {
                data.histories[user as usize].push(Event {
                    item: k,
                    ts: 1_000 + k as i64,
                    weight: 1.0,
                    ctx: 0,
                });
            }
        }
    }
    Model::fit(
        popularity::POPULARITY_COUNT,
        &data,
        &Hyperparameters::new(),
        &mut |_| {},
    )
    .unwrap()
}

fn items(picks: &[Pick]) -> Vec<u32> {
    picks.iter().filter_map(|p| p.item).collect()
}

fn set(n: usize, members: &[u32]) -> ItemSet {
    let mut s = ItemSet::new(n);
    members.iter().for_each(|&i| s.insert(i));
    s
}

#[test]
fn without_stages_the_answer_is_the_model_order() {
    let model = ladder();
    let picks = engine::recommend(&model, &Query::for_history(&[], 10));
    assert_eq!(items(&picks), (0..10).collect::<Vec<_>>());
    assert!(picks.iter().all(|p| p.reason == Reason::Model));
}

#[test]
fn a_filter_removes_exactly_its_items() {
    let model = ladder();
    let evens = set(10, &[0, 2, 4, 6, 8]);
    let picks = engine::recommend(
        &model,
        &Query {
            filter: Some(&evens),
            ..Query::for_history(&[], 10)
        },
    );
    assert_eq!(items(&picks), [0, 2, 4, 6, 8]);
    // The stage alone: what passes is the filter minus what is skipped.
    let skip = set(10, &[4]);
    let passes = stages::filter(10, Some(&evens), &skip);
    assert_eq!(passes.iter().collect::<Vec<_>>(), [0, 2, 6, 8]);
}

#[test]
fn excluded_items_and_offline_history_never_appear() {
    let model = ladder();
    let picks = engine::recommend(
        &model,
        &Query {
            candidates: Candidates::All { exclude: &[0, 3] },
            exclude_history: true,
            ..Query::for_history(&[1], 10)
        },
    );
    assert_eq!(items(&picks), [2, 4, 5, 6, 7, 8, 9]);
}

#[test]
fn promotions_land_at_their_slots() {
    let model = ladder();
    let promotable = set(10, &[7, 8, 9]);
    let seed = stages::seed("RID-planted");
    let picks = engine::recommend(
        &model,
        &Query {
            promotion: Some(PromotionQuery {
                allowed: Some(&promotable),
                percent: 20,
            }),
            seed,
            ..Query::for_history(&[], 10)
        },
    );
    assert_eq!(picks.len(), 10);
    let slots = stages::promoted_slots(10, 2, seed);
    let promoted_at: Vec<bool> = picks.iter().map(|p| p.reason == Reason::Promoted).collect();
    assert_eq!(promoted_at, slots);
    // The promotion's best two, best first; the rest in model order without them.
    let promoted: Vec<u32> = picks
        .iter()
        .filter(|p| p.reason == Reason::Promoted)
        .filter_map(|p| p.item)
        .collect();
    assert_eq!(promoted, [7, 8]);
    let regular: Vec<u32> = picks
        .iter()
        .filter(|p| p.reason != Reason::Promoted)
        .filter_map(|p| p.item)
        .collect();
    assert_eq!(regular, [0, 1, 2, 3, 4, 5, 6, 9]);
}

#[test]
fn backfill_fills_only_what_is_missing() {
    let model = ladder();
    let passes = ItemSet::full(10);
    let taken = set(10, &[0, 1]);
    let filled = stages::backfill(&model.popularity, 3, &passes, &taken);
    assert_eq!(filled.iter().map(|s| s.item).collect::<Vec<_>>(), [2, 3, 4]);
    assert!(stages::backfill(&model.popularity, 0, &passes, &taken).is_empty());

    // Related items with one neighbour: one from the model, the rest popular fill.
    let mut data = TrainingData::default();
    for k in 0..6u32 {
        data.items.intern(&format!("x{k}"));
    }
    for u in 0..6u32 {
        let user = data.users.intern(&format!("u{u}"));
        data.histories.resize(user as usize + 1, Vec::new());
        // x0 and x1 always together; x2..x5 each alone, by fewer and fewer users.
        let touched: Vec<u32> = if u < 3 { vec![0, 1] } else { vec![u - 1] };
        for (t, item) in touched.into_iter().enumerate() {
            data.histories[user as usize].push(Event {
                item,
                ts: 1_000 + t as i64,
                weight: 1.0,
                ctx: 0,
            });
        }
    }
    let sims = Model::fit(sims::SIMS, &data, &Hyperparameters::new(), &mut |_| {}).unwrap();
    let mut scores = Vec::new();
    sims.learned
        .related()
        .expect("SIMS relates items")
        .score_related(&sims.popularity, 0, &mut scores);
    let related: Vec<u32> = (0..6).filter(|&j| scores[j as usize] > 0.0).collect();
    let picks = engine::recommend(
        &sims,
        &Query {
            scoring: Scoring::Related(Some(0)),
            ..Query::for_history(&[], 4)
        },
    );
    assert_eq!(picks.len(), 4);
    let from_model: Vec<u32> = picks
        .iter()
        .filter(|p| p.reason == Reason::Model)
        .filter_map(|p| p.item)
        .collect();
    assert_eq!(from_model, related, "{picks:?}");
    let filled: Vec<&Pick> = picks
        .iter()
        .filter(|p| p.reason == Reason::Popular)
        .collect();
    assert_eq!(filled.len(), 4 - related.len());
    assert!(filled.iter().all(|p| p.score.is_none()));
    assert!(
        !items(&picks).contains(&0),
        "the item asked about is not its own neighbour"
    );
}

#[test]
fn exploration_lifts_fresh_items_and_says_so() {
    let model = ladder();
    let fresh = Exploration {
        weight: 1.0,
        fresh: vec![(9, 1.0)],
    };
    let picks = engine::recommend(
        &model,
        &Query {
            exploration: Some(&fresh),
            ..Query::for_history(&[], 3)
        },
    );
    assert_eq!(items(&picks)[0], 9, "{picks:?}");
    assert_eq!(picks[0].reason, Reason::Exploration);
    assert!(picks[1..].iter().all(|p| p.reason == Reason::Model));
    // The stage alone: only listed items move, by weight × best × share.
    let mut scores = engine::Dense {
        values: vec![1.0, 0.5, 0.25],
        popular_fill: false,
    };
    let marked = stages::explore(
        &mut scores,
        3,
        &Exploration {
            weight: 0.5,
            fresh: vec![(2, 0.5)],
        },
    );
    assert_eq!(scores.values, [1.0, 0.5, 0.5]);
    assert_eq!(marked.iter().collect::<Vec<_>>(), [2]);
}

#[test]
fn scores_are_a_softmax_in_model_order() {
    let model = ladder();
    let picks = engine::recommend(&model, &Query::for_history(&[], 10));
    let scores: Vec<f64> = picks.iter().map(|p| p.score.unwrap()).collect();
    assert!(scores.windows(2).all(|w| w[0] >= w[1]), "{scores:?}");
    let total: f64 = scores.iter().sum();
    assert!((total - 1.0).abs() < 1e-9, "{total}");
}

#[test]
fn ranking_keeps_known_allowed_items_by_score_then_unknown_ones() {
    let model = ladder();
    let list = [Some(5), None, Some(1), Some(3)];
    let not_three = set(10, &[0, 1, 2, 4, 5, 6, 7, 8, 9]);
    let picks = engine::recommend(
        &model,
        &Query {
            candidates: Candidates::Only(&list),
            filter: Some(&not_three),
            ..Query::for_history(&[], list.len())
        },
    );
    let order: Vec<usize> = picks.iter().filter_map(|p| p.input).collect();
    assert_eq!(order, [2, 0, 1]);
    assert!(picks[2].score.is_none() && picks[2].item.is_none());
    let sum: f64 = picks.iter().filter_map(|p| p.score).sum();
    assert!((sum - 1.0).abs() < 1e-9);
}

#[test]
fn a_batch_answers_as_each_query_alone() {
    let model = ladder();
    let histories: Vec<Vec<u32>> = (0..20u32).map(|u| vec![u % 10, (u * 3) % 10]).collect();
    let excluded: Vec<[u32; 1]> = (0..20u32).map(|u| [u % 7]).collect();
    let queries: Vec<Query> = histories
        .iter()
        .zip(&excluded)
        .map(|(h, x)| Query {
            candidates: Candidates::All { exclude: x },
            ..Query::for_history(h, 5)
        })
        .collect();
    let batch = engine::recommend_batch(&model, &queries);
    assert_eq!(batch.len(), queries.len());
    for (q, answer) in queries.iter().zip(&batch) {
        assert_eq!(answer, &engine::recommend(&model, q));
    }
}

#[test]
fn the_fast_exponential_is_close_to_libm() {
    let mut worst = 0f64;
    for i in 0..=870_000 {
        let x = -(i as f32) * 1e-4;
        let exact = (x as f64).exp();
        let got = engine::stages::exp_neg(x) as f64;
        worst = worst.max((got - exact).abs() / exact);
    }
    assert!(worst < 1e-5, "relative error {worst}");
    assert_eq!(engine::stages::exp_neg(0.0), 1.0);
    assert!(engine::stages::exp_neg(-1e30) < 1e-37);
    assert_eq!(engine::stages::exp_neg(5.0), 1.0, "clamped to e^0");
}

#[test]
fn a_catalogue_softmax_sums_to_one_and_keeps_order() {
    use engine::stages::Softmax;
    let scores: Vec<f32> = (0..10_007)
        .map(|i| ((i * 7919) % 1000) as f32 * 0.013 - 3.0)
        .collect();
    let s = Softmax::over(&scores);
    let total: f64 = scores.iter().map(|&x| s.probability(x)).sum();
    assert!((total - 1.0).abs() < 1e-9, "{total}");
    let (lo, hi) = (s.probability(-3.0), s.probability(9.0));
    assert!(hi > lo && lo > 0.0, "{lo} {hi}");
    let mut with_nan = scores.clone();
    with_nan[17] = f32::NAN;
    with_nan[18] = f32::NEG_INFINITY;
    let t = Softmax::over(&with_nan);
    assert!(t.probability(9.0).is_finite() && t.probability(9.0) > 0.0);
}
