//! The item-factor steps a GetRecommendations pays for, alone, at 10k / 100k / 1M items and 64
//! factors (random factors: the cost does not depend on what was learned): the fold-in of a
//! 50-event history and the exact f32 scan of the whole catalogue (what the retrieval index
//! avoids past 65,536 items; `--bench recommend` measures the answer path through it).
//!
//! `cargo bench -p tailor-core --bench factors` prints median and p99 per step and size.

use std::time::Instant;

use tailor_core::recipes::factors::ItemFactors;
use tailor_core::sample::SplitMix;

fn time(label: &str, rounds: usize, mut f: impl FnMut()) {
    let mut t: Vec<f64> = (0..rounds)
        .map(|_| {
            let s = Instant::now();
            f();
            s.elapsed().as_nanos() as f64 / 1e3
        })
        .collect();
    t.sort_by(|a, b| a.total_cmp(b));
    println!(
        "{label:<40} p50 {:>9.1} µs  p99 {:>9.1} µs",
        t[t.len() / 2],
        t[(t.len() - 1) * 99 / 100]
    );
}

fn main() {
    let f = 64;
    // `cargo test --all-targets` runs this too (without `--bench`): a small smoke run then.
    let benching = std::env::args().any(|a| a == "--bench");
    let sizes: &[usize] = if benching {
        &[10_000, 100_000, 1_000_000]
    } else {
        &[10_000]
    };
    for &n in sizes {
        let mut rng = SplitMix::new(n as u64);
        let y: Vec<f32> = (0..n * f).map(|_| rng.unit() as f32 - 0.5).collect();
        let mut gram = vec![0f32; f * f];
        for d in 0..f {
            gram[d * f + d] = n as f32 / 12.0;
        }
        let m = ItemFactors::new(f, y, gram, 1.0);
        let history: Vec<(u32, f32)> = (0..50)
            .map(|k| (rng.below(n) as u32, 0.9f32.powi(k)))
            .collect();
        let rounds = if benching {
            (20_000_000 / n).clamp(50, 2_000)
        } else {
            5
        };
        let x = m.fold_in(&history);
        time(&format!("fold-in, 50 events ({n} items)"), rounds, || {
            std::hint::black_box(m.fold_in(&history));
        });
        let mut out = vec![0f32; n];
        time(&format!("exact f32 scan ({n} items)"), rounds, || {
            out.fill(0.0);
            m.add_scores(&x, 1.0, &mut out);
            std::hint::black_box(&out);
        });
    }
}
