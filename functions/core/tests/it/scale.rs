//! User-personalization on a generated 100k-item shop with planted taste clusters: the
//! structure is recovered, the long tail is served, and fold-in reacts to the next event.

use std::sync::OnceLock;

use tailor_core::engine::{self, top_k, Candidates, ItemSet, Query};
use tailor_core::evaluation::read_csv;
use tailor_core::recipes::{next_items, EventConfig, Hyperparameters, Model, TrainingData};
use tailor_core::sample::scale::{generate, Planted, ScaleSpec};
use tailor_core::sample::SplitMix;
use tailor_core::schema::DatasetType;

struct Shop {
    planted: Planted,
    data: TrainingData,
    model: Model,
}

/// 100,000 items in 20 clusters, 12,000 users whose events all come from their own cluster,
/// with the generator's Items dataset.
fn shop() -> &'static Shop {
    static SHOP: OnceLock<Shop> = OnceLock::new();
    SHOP.get_or_init(|| {
        let spec = ScaleSpec {
            clusters: Some(20),
            purity: 1.0,
            drift: 0.0,
            ..ScaleSpec::new(12_000, 100_000, 300_000, 11)
        };
        make(spec, true)
    })
}

/// 100,000 items in 500 clusters (the generator's default): most clusters lie wholly outside
/// the head of the catalogue.
fn long_tail() -> &'static Shop {
    static SHOP: OnceLock<Shop> = OnceLock::new();
    SHOP.get_or_init(|| {
        let spec = ScaleSpec {
            purity: 1.0,
            drift: 0.0,
            ..ScaleSpec::new(12_000, 100_000, 300_000, 12)
        };
        make(spec, false)
    })
}

/// The shop `spec` generates, trained with its Items dataset (as `tailor sample` writes it) or
/// on its interactions alone.
fn make(spec: ScaleSpec, with_items: bool) -> Shop {
    {
        let (mut csv, mut items) = (Vec::new(), Vec::new());
        let planted = generate(&spec, &mut csv, &mut items, std::io::sink(), &mut |_| {}).unwrap();
        let table = read_csv(DatasetType::Interactions, &csv).unwrap();
        let items = read_csv(DatasetType::Items, &items).unwrap();
        let items = with_items.then_some(&items);
        let data = TrainingData::from_tables(&table, items, &EventConfig::default()).unwrap();
        // What `factors=auto` picks at this size, set here so the test does not move with that rule.
        let mut hp = Hyperparameters::new();
        hp.0.insert("factors".into(), "64".into());
        let model = Model::fit(next_items::USER_PERSONALIZATION, &data, &hp, &mut |_| {}).unwrap();
        Shop {
            planted,
            data,
            model,
        }
    }
}

/// The catalogue index of a generated item id (`I0001234` → 1234).
fn generated(id: &str) -> usize {
    id[1..].parse().unwrap()
}

fn history(shop: &Shop, user: usize) -> Vec<u32> {
    shop.data.histories[user].iter().map(|e| e.item).collect()
}

fn top10(model: &Model, history: &[u32]) -> Vec<u32> {
    let q = Query {
        exclude_history: true,
        ..Query::for_history(history, 10)
    };
    engine::recommend(model, &q)
        .iter()
        .filter_map(|p| p.item)
        .collect()
}

/// The planted cluster of a model item code.
fn cluster(shop: &Shop, item: u32) -> u32 {
    let id = shop.model.items.name(item);
    shop.planted.item_cluster[generated(id)]
}

fn user_cluster(shop: &Shop, user: usize) -> u32 {
    let id = shop.data.users.name(user as u32);
    shop.planted.user_cluster[generated(id)]
}

#[test]
fn top_10s_of_a_clusters_users_stay_in_the_cluster() {
    let shop = shop();
    assert!(
        shop.model.items.len() > 50_000,
        "{}",
        shop.model.items.len()
    );
    // Every user with a history, through the retrieval index (100k items), own items excluded.
    let mut users = 0;
    let mut leaving = Vec::new();
    for u in 0..shop.data.histories.len() {
        let h = history(shop, u);
        if h.is_empty() {
            continue;
        }
        let want = user_cluster(shop, u);
        let top = top10(&shop.model, &h);
        assert_eq!(top.len(), 10);
        let out = top.iter().filter(|&&i| cluster(shop, i) != want).count();
        if out > 0 {
            leaving.push((u, h.len(), out));
        }
        users += 1;
    }
    assert!(users > 11_000, "only {users} users checked");
    // Every user, light or heavy: a user with ten events has used few of their cluster's
    // items, and one whose items nobody else chose is placed by what those items are (their
    // island is homed by content).
    assert!(
        leaving.is_empty(),
        "{} of {users} users' top-10s leave their cluster (user, events, items outside): {:?}",
        leaving.len(),
        &leaving[..leaving.len().min(20)]
    );
}

#[test]
fn items_outside_the_head_of_the_catalogue_are_recommended() {
    let shop = long_tail();
    let learned = shop
        .model
        .learned
        .as_any()
        .downcast_ref::<next_items::UserPersonalization>()
        .unwrap();
    let m = &learned.0;
    assert!(
        m.factors.is_some(),
        "training dropped the factors: {:?}",
        m.params
    );
    let (mut outside, mut all, mut inside_cluster) = (0, 0, 0);
    for u in (0..shop.data.histories.len()).step_by(53) {
        let want = user_cluster(shop, u);
        for i in top10(&shop.model, &history(shop, u)) {
            all += 1;
            if m.column_of[i as usize] == u32::MAX {
                outside += 1;
                inside_cluster += (cluster(shop, i) == want) as usize;
            }
        }
    }
    // The head holds the most-interacted items, mostly of the popular clusters; users of the
    // niche ones are served from their own cluster's items beyond it.
    assert!(
        outside * 20 > all,
        "{outside} of {all} recommendations outside the {} head items",
        m.columns.len()
    );
    assert!(
        inside_cluster * 10 >= outside * 9,
        "only {inside_cluster} of {outside} tail recommendations in the user's cluster"
    );
}

#[test]
fn one_more_event_moves_the_very_next_answer_towards_its_cluster() {
    let shop = shop();
    let u = (0..shop.data.histories.len())
        .find(|&u| shop.data.histories[u].len() >= 5)
        .unwrap();
    let mine = user_cluster(shop, u);
    // Three events on an item of another cluster, newest last.
    let other = (0..shop.model.items.len() as u32)
        .find(|&i| cluster(shop, i) != mine && shop.model.popularity[i as usize] > 0.2)
        .unwrap();
    let mut h = history(shop, u);
    let before = top10(&shop.model, &h);
    h.extend([other, other, other]);
    let after = top10(&shop.model, &h);
    assert_ne!(before, after);
    let moved = after
        .iter()
        .filter(|&&i| cluster(shop, i) == cluster(shop, other))
        .count();
    assert!(moved >= 3, "only {moved} of {after:?} from the new cluster");
}

#[test]
fn retrieval_honours_filters_and_exclusions_exactly() {
    let shop = long_tail();
    let model = &shop.model;
    assert!(
        model.learned.retrieval().is_some(),
        "a 100k-item catalogue is served through the index"
    );
    let n = model.items.len();
    let mut rng = SplitMix::new(21);
    let (mut found, mut wanted) = (0usize, 0usize);
    for (round, u) in (0..shop.data.histories.len()).step_by(97).enumerate() {
        let h = history(shop, u);
        // Filters passing 60%, 10% and 0.5% of the catalogue (the last scored directly).
        let share = [0.6, 0.1, 0.005][round % 3];
        let mut allowed = ItemSet::new(n);
        (0..n as u32)
            .filter(|_| rng.unit() < share)
            .for_each(|i| allowed.insert(i));
        let q = Query::for_history(&h, 25);
        let exact = engine::stages::dense(model, &q).values;
        // Excluded: the five items the filter allows that exact scoring ranks best.
        let excluded: Vec<u32> = top_k(&exact, 5, |i| allowed.contains(i))
            .iter()
            .map(|s| s.item)
            .collect();
        let q = Query {
            filter: Some(&allowed),
            candidates: Candidates::All { exclude: &excluded },
            ..q
        };
        let got = engine::recommend(model, &q);
        assert_eq!(got.len(), 25);
        for p in &got {
            let i = p.item.unwrap();
            assert!(allowed.contains(i), "{i} does not pass the filter");
            assert!(!excluded.contains(&i), "{i} was excluded");
            assert!(
                (p.raw - exact[i as usize]).abs() <= 1e-4 * exact[i as usize].abs().max(1.0),
                "{i}: answered {} vs exact {}",
                p.raw,
                exact[i as usize]
            );
        }
        // What the answer may hold: the filter, less the exclusions, among the items the
        // history reaches (when that leaves enough).
        let skip = engine::stages::exclude(n, &q);
        let passes = engine::stages::filter(n, Some(&allowed), &skip);
        let passes = engine::stages::reachable(model, &q, passes, 25);
        for p in &got {
            assert!(passes.contains(p.item.unwrap()));
        }
        let want = top_k(&exact, 10, |i| passes.contains(i));
        wanted += want.len();
        let f = want
            .iter()
            .filter(|w| got[..10].iter().any(|g| g.item == Some(w.item)))
            .count();
        found += f;
    }
    assert!(wanted >= 1_000, "{wanted}");
    let recall = found as f64 / wanted as f64;
    assert!(
        recall >= 0.99,
        "recall@10 {recall:.4} against exact scoring"
    );
}
