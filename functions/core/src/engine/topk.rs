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
    for (i, &score) in scores.iter().enumerate() {
        if score.is_nan() {
            continue;
        }
        if heap.len() == k {
            let worst = &heap.peek().map(|w| w.0).unwrap_or(Scored {
                item: 0,
                score: f32::MIN,
            });
            if score < worst.score || (score == worst.score && i as u32 > worst.item) {
                continue;
            }
        }
        if !keep(i as u32) {
            continue;
        }
        heap.push(Worst(Scored {
            item: i as u32,
            score,
        }));
        if heap.len() > k {
            heap.pop();
        }
    }
    let mut out: Vec<Scored> = heap.into_iter().map(|w| w.0).collect();
    out.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.item.cmp(&b.item)));
    out
}
