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

/// The best `k` of a stream of scored items: a bounded heap, ordered by (score, code) so the
/// answer does not depend on the order items come in.
pub struct TopK {
    k: usize,
    heap: BinaryHeap<Worst>,
}

impl TopK {
    pub fn new(k: usize) -> TopK {
        TopK {
            k,
            heap: BinaryHeap::with_capacity(k + 1),
        }
    }

    /// Whether `score` for `item` would enter (cheap: check before a costly `keep`).
    #[inline]
    pub fn admits(&self, item: u32, score: f32) -> bool {
        if score.is_nan() || self.k == 0 {
            return false;
        }
        self.heap.len() < self.k
            || self
                .heap
                .peek()
                .is_some_and(|w| score > w.0.score || (score == w.0.score && item < w.0.item))
    }

    pub fn push(&mut self, item: u32, score: f32) {
        if self.admits(item, score) {
            self.heap.push(Worst(Scored { item, score }));
            if self.heap.len() > self.k {
                self.heap.pop();
            }
        }
    }

    pub fn len(&self) -> usize {
        self.heap.len()
    }

    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }

    /// Best first, ties to the lower code.
    pub fn into_sorted(self) -> Vec<Scored> {
        let mut out: Vec<Scored> = self.heap.into_iter().map(|w| w.0).collect();
        out.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.item.cmp(&b.item)));
        out
    }
}

/// The `k` best of `scores` (highest first, ties to the lower code) among items `keep` allows.
///
/// The catalogue is cut into blocks of 64 and each block's best score taken (one vectorised
/// pass). The `k` blocks with the best maxima go first, so the bar to beat is nearly final
/// early; every other block whose maximum is below the bar is then skipped whole. The heap
/// orders by (score, code), so the answer does not depend on the order items are seen in.
pub fn top_k(scores: &[f32], k: usize, mut keep: impl FnMut(u32) -> bool) -> Vec<Scored> {
    const BLOCK: usize = 64;
    if k == 0 || scores.is_empty() {
        return Vec::new();
    }
    let maxima: Vec<f32> = scores
        .chunks(BLOCK)
        .map(|c| c.iter().copied().fold(f32::NEG_INFINITY, f32::max))
        .collect();
    let mut order: Vec<u32> = (0..maxima.len() as u32).collect();
    let first = k.min(order.len());
    order.select_nth_unstable_by(first - 1, |&a, &b| {
        maxima[b as usize].total_cmp(&maxima[a as usize])
    });
    let mut heap: BinaryHeap<Worst> = BinaryHeap::with_capacity(k + 1);
    // The entry to beat once the heap is full, kept out of the heap for the common rejection.
    let mut bar: Option<Scored> = None;
    for &b in &order {
        if bar.is_some_and(|w| maxima[b as usize] < w.score) {
            continue;
        }
        let from = b as usize * BLOCK;
        for (j, &score) in scores[from..(from + BLOCK).min(scores.len())]
            .iter()
            .enumerate()
        {
            let item = (from + j) as u32;
            let worse = |w: Scored| score < w.score || (score == w.score && item > w.item);
            if score.is_nan() || bar.is_some_and(worse) || !keep(item) {
                continue;
            }
            heap.push(Worst(Scored { item, score }));
            if heap.len() > k {
                heap.pop();
            }
            if heap.len() == k {
                bar = heap.peek().map(|w| w.0);
            }
        }
    }
    let mut out: Vec<Scored> = heap.into_iter().map(|w| w.0).collect();
    out.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.item.cmp(&b.item)));
    out
}
