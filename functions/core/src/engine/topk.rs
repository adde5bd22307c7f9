//! The `k` best of a score vector by a bounded heap: never a full sort of the catalogue.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

/// An item code and its score.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scored {
    pub item: u32,
    pub score: f32,
}

/// Heap order: "greater" is worse (lower score, then higher code), so the heap's top is the
/// candidate to evict.
#[derive(PartialEq)]
struct Worst(Scored);

impl Eq for Worst {}

impl PartialOrd for Worst {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Worst {
    fn cmp(&self, other: &Self) -> Ordering {
        other
            .0
            .score
            .total_cmp(&self.0.score)
            .then(self.0.item.cmp(&other.0.item))
    }
}

/// The `k` best of `scores` (highest first, ties to the lower code) among items `keep` allows.
pub fn top_k(scores: &[f32], k: usize, mut keep: impl FnMut(u32) -> bool) -> Vec<Scored> {
    if k == 0 {
        return Vec::new();
    }
    let mut heap: BinaryHeap<Worst> = BinaryHeap::with_capacity(k + 1);
    // The entry to beat once the heap is full, kept out of the heap for the common rejection.
    // Items come in code order, so a later item only enters with a strictly higher score, and
    // a block whose best score does not beat the bar is skipped whole.
    let mut bar: Option<f32> = None;
    const BLOCK: usize = 64;
    for (b, block) in scores.chunks(BLOCK).enumerate() {
        if let Some(bar) = bar {
            if block.iter().copied().fold(f32::MIN, f32::max) <= bar {
                continue;
            }
        }
        for (j, &score) in block.iter().enumerate() {
            if score.is_nan() || bar.is_some_and(|bar| score <= bar) {
                continue;
            }
            let i = (b * BLOCK + j) as u32;
            if !keep(i) {
                continue;
            }
            heap.push(Worst(Scored { item: i, score }));
            if heap.len() > k {
                heap.pop();
            }
            if heap.len() == k {
                bar = heap.peek().map(|w| w.0.score);
            }
        }
    }
    let mut out: Vec<Scored> = heap.into_iter().map(|w| w.0).collect();
    out.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.item.cmp(&b.item)));
    out
}
