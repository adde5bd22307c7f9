//! One shard of the sharded ALS (recipes::als_shards), at the sizes a 1M users × 1M items × 1B
//! events training cuts it into: what a `solveUsers` / `solveItems` task computes, and the bytes
//! it reads and writes. 64 factors, 2 CG steps (the defaults).
//!
//! - user shard: 100k users × 100 events over 1M items (skewed popularity), against 1M item factors;
//! - item shard: 25k items × 1,000 events (1B / 1M items) from 1M users, against 1M user factors;
//! - the Gram matrix of 1M factors alone (every task computes its other side's);
//! - the data path (recipes::shuffle): `shardPlan` merging one range's scan of 1M users and 1M
//!   items, a `shardUsers` task on a user shard of 25k users × 1,000 events (25M) from 150
//!   ranges' pieces, and a `shardItems` task assembling an item shard of 25M entries from 40
//!   user shards' parts.
//!
//! `cargo bench -p tailor-core --bench shards` prints the times (best of 3), the solve rate per
//! core and the object sizes; README "Training that scales out" projects from them.

use std::time::Instant;

use tailor_core::data::IdDict;
use tailor_core::recipes::als_shards::{self, FactorShard, Plan, Side};
use tailor_core::recipes::chain::Phase;
use tailor_core::recipes::factors::AlsParams;
use tailor_core::recipes::shuffle::{self, ItemPiece, Kept, Merged, UserPiece};
use tailor_core::recipes::{Event, TrainingData};
use tailor_core::sample::SplitMix;

const F: usize = 64;

fn best_of(rounds: usize, mut f: impl FnMut()) -> f64 {
    (0..rounds)
        .map(|_| {
            let s = Instant::now();
            f();
            s.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min)
}

/// `users` users with `per_user` distinct-ish events over `items` items, popularity ∝ r².
fn data(users: usize, items: usize, per_user: usize, seed: u64) -> TrainingData {
    let mut rng = SplitMix::new(seed);
    let mut d = TrainingData::default();
    for i in 0..items {
        d.items.intern(&format!("i{i}"));
    }
    for u in 0..users {
        d.users.intern(&format!("u{u}"));
        d.histories.push(
            (0..per_user)
                .map(|k| {
                    let r = rng.unit();
                    Event {
                        item: ((r * r * items as f64) as u32).min(items as u32 - 1),
                        ts: k as i64,
                        weight: 1.0,
                        ctx: 0,
                    }
                })
                .collect(),
        );
    }
    d
}

fn random(n: usize, seed: u64) -> Vec<f32> {
    let mut rng = SplitMix::new(seed);
    (0..n * F)
        .map(|_| (rng.unit() as f32 - 0.5) * 0.2)
        .collect()
}

fn shard(plan: &Plan, side: Side, n: usize) -> FactorShard {
    FactorShard {
        side,
        shard: 0,
        iteration: 0,
        first: 0,
        factors: plan.als.factors,
        values: random(n, 3),
    }
}

fn main() {
    // `cargo test --all-targets` runs this too (without `--bench`): a small smoke run then.
    let benching = std::env::args().any(|a| a == "--bench");
    let scale = if benching { 1 } else { 100 };
    let (users, items, per_user) = (100_000 / scale, 1_000_000 / scale, 100);
    let (other_users, shard_items, per_other) = (1_000_000 / scale, 25_000 / scale, 25);
    let rounds = if benching { 3 } else { 1 };
    let threads = rayon::current_num_threads();
    let als = AlsParams {
        factors: F,
        iterations: 15,
        alpha: 1.0,
        reg: 1.0,
        cg_steps: 2,
    };
    println!("{threads} threads, {F} factors, {} CG steps", als.cg_steps);

    let y = random(items, 1);
    let gram = best_of(rounds, || {
        std::hint::black_box(als_shards::item_factors(
            &Plan::new(als, 0, items, 1, 1),
            y.clone(),
        ));
    });
    println!(
        "gram of {items} × {F} factors                 {:>8.3} s",
        gram
    );

    let d = data(users, items, per_user, 7);
    let plan = Plan::new(als, users, items, 1, 1);
    let (urows, _) = als_shards::split_rows(&d, &plan);
    let own = shard(&plan, Side::Users, users);
    let t = best_of(rounds, || {
        std::hint::black_box(als_shards::solve(&plan, &urows[0], &own, &y, 1).unwrap());
    });
    report("user shard", users, urows[0].nnz(), t, gram, threads);
    println!(
        "  objects: rows {:.1} MB, own factors {:.1} MB, other side {:.1} MB",
        urows[0].to_bytes().len() as f64 / 1e6,
        own.to_bytes().len() as f64 / 1e6,
        (items * F * 4) as f64 / 1e6
    );
    drop((d, urows));

    let d = data(other_users, shard_items, per_other, 9);
    let plan = Plan::new(als, other_users, shard_items, 1, 1);
    let (_, irows) = als_shards::split_rows(&d, &plan);
    let x = random(other_users, 2);
    let own = shard(&plan, Side::Items, shard_items);
    let t = best_of(rounds, || {
        std::hint::black_box(als_shards::solve(&plan, &irows[0], &own, &x, 1).unwrap());
    });
    report("item shard", shard_items, irows[0].nnz(), t, gram, threads);
    println!(
        "  objects: rows {:.1} MB, own factors {:.1} MB, other side {:.1} MB",
        irows[0].to_bytes().len() as f64 / 1e6,
        own.to_bytes().len() as f64 / 1e6,
        (other_users * F * 4) as f64 / 1e6
    );
    drop((d, irows));
    data_path(scale, rounds);
}

/// The shuffle's per-task work at the sizes of a 1B-event training (40 shards a side).
fn data_path(scale: usize, rounds: usize) {
    let (n_users, n_items) = (1_000_000 / scale, 1_000_000 / scale);
    let ids = |p: &str, n: usize| -> IdDict { (0..n).map(|k| format!("{p}{k}")).collect() };
    let scan = Merged {
        users: ids("u", n_users),
        items: ids("i", n_items),
        user_events: vec![7; n_users],
        item_events: vec![7; n_items],
    };
    let mut merged = Merged::default();
    merged.add(&scan);
    let t = best_of(rounds, || merged.add(&scan));
    println!(
        "shardPlan: merge one range's scan of {n_users} users + {n_items} items {t:>8.3} s \
         (scan object {:.1} MB)",
        scan.to_bytes().len() as f64 / 1e6
    );
    drop((scan, merged));

    // A user shard: its 25k users of 1,000 events each, in pieces from 150 ranges.
    let (shard_users, per_user, ranges, shards) = (25_000 / scale, 1_000, 150, 40);
    let plan = Plan {
        user_bounds: (0..=shards).map(|s| s * n_users / shards).collect(),
        item_bounds: (0..=shards).map(|s| s * n_items / shards).collect(),
        phases: vec![
            (Phase::Trial, 10),
            (Phase::Evaluation, 5),
            (Phase::Final, 5),
        ],
        ..Plan::new(
            AlsParams {
                factors: F,
                iterations: 15,
                alpha: 1.0,
                reg: 1.0,
                cg_steps: 2,
            },
            n_users,
            n_items,
            1,
            1,
        )
    };
    let kept: Vec<Kept> = plan
        .phases
        .iter()
        .map(|&(phase, _)| Kept {
            phase,
            lo: 0,
            hi: usize::MAX,
        })
        .collect();
    let mut rng = SplitMix::new(11);
    let mut pieces = vec![UserPiece::default(); ranges];
    for u in 0..plan.range(Side::Users, 0).len().min(shard_users) {
        for k in 0..per_user {
            let p = &mut pieces[k * ranges / per_user];
            // Uniform items: item shards cut by cost hold equal entries, as uniform draws do.
            p.users.push(u as u32);
            p.items
                .push(((rng.unit() * n_items as f64) as u32).min(n_items as u32 - 1));
            p.ts.push(k as i64);
            p.weights.push(1.0);
        }
    }
    let events: usize = pieces.iter().map(UserPiece::len).sum();
    let piece_bytes: usize = pieces.iter().map(|p| p.to_bytes().len()).sum();
    let mut out = None;
    let t = best_of(rounds, || {
        out = Some(shuffle::users(&plan, &kept, 0, &pieces).unwrap());
    });
    let (phases, _counts) = out.unwrap();
    let (rows_bytes, parts_bytes): (usize, usize) = phases.iter().fold((0, 0), |(r, p), ph| {
        (
            r + ph.rows.to_bytes().len(),
            p + ph
                .transposed
                .iter()
                .map(|x| x.to_bytes().len())
                .sum::<usize>(),
        )
    });
    println!(
        "shardUsers: {events} events in {ranges} pieces ({:.0} MB)      {t:>8.3} s \
         (writes {:.0} MB of rows, {:.0} MB of transposed parts, 3 phases)",
        piece_bytes as f64 / 1e6,
        rows_bytes as f64 / 1e6,
        parts_bytes as f64 / 1e6
    );
    drop(pieces);

    // An item shard of the final phase: the same part from each of 40 user shards (users
    // renumbered into each shard), ~25M entries in all at full size.
    let part: &ItemPiece = &phases[2].transposed[0];
    let parts: Vec<ItemPiece> = (0..shards)
        .map(|s| ItemPiece {
            users: part
                .users
                .iter()
                .map(|&u| u + plan.user_bounds[s] as u32)
                .collect(),
            ..part.clone()
        })
        .collect();
    let entries: usize = parts.iter().map(|p| p.items.len()).sum();
    let t = best_of(rounds, || {
        std::hint::black_box(shuffle::items(&plan, 0, &parts).unwrap());
    });
    println!("shardItems: {entries} entries from {shards} parts, one phase   {t:>8.3} s");
}

fn report(what: &str, rows: usize, nnz: usize, secs: f64, gram: f64, threads: usize) {
    let solve = (secs - gram).max(1e-9);
    println!(
        "{what}: {rows} rows, {nnz} nnz              {secs:>8.3} s  (solve without gram {solve:.3} s, \
         {:.1} M nnz/s per thread)",
        nnz as f64 / solve / threads as f64 / 1e6
    );
}
