//! Answers requests from a loaded model: recommend (for a history), related items, rank a list,
//! popular items. Pure and fast: no I/O, top-k by a bounded heap (never a full sort).

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use crate::recipes::Model;

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

/// A set of item codes as a bitset over the catalogue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemSet {
    words: Vec<u64>,
    n_items: usize,
}

impl ItemSet {
    /// The empty set over a catalogue of `n_items`.
    pub fn new(n_items: usize) -> ItemSet {
        ItemSet {
            words: vec![0; n_items.div_ceil(64)],
            n_items,
        }
    }

    /// Every item of the catalogue.
    pub fn full(n_items: usize) -> ItemSet {
        let mut s = ItemSet {
            words: vec![u64::MAX; n_items.div_ceil(64)],
            n_items,
        };
        if !n_items.is_multiple_of(64) {
            if let Some(last) = s.words.last_mut() {
                *last = (1u64 << (n_items % 64)) - 1;
            }
        }
        s
    }

    pub fn capacity(&self) -> usize {
        self.n_items
    }

    pub fn len(&self) -> usize {
        self.words.iter().map(|w| w.count_ones() as usize).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.words.iter().all(|&w| w == 0)
    }

    pub fn remove(&mut self, item: u32) {
        if let Some(w) = self.words.get_mut(item as usize / 64) {
            *w &= !(1 << (item % 64));
        }
    }

    /// self ∪= other (sets over the same catalogue).
    pub fn union_with(&mut self, other: &ItemSet) {
        self.words
            .iter_mut()
            .zip(&other.words)
            .for_each(|(a, b)| *a |= b);
    }

    /// self ∩= other.
    pub fn intersect_with(&mut self, other: &ItemSet) {
        self.words
            .iter_mut()
            .zip(&other.words)
            .for_each(|(a, b)| *a &= b);
    }

    /// self −= other.
    pub fn subtract(&mut self, other: &ItemSet) {
        self.words
            .iter_mut()
            .zip(&other.words)
            .for_each(|(a, b)| *a &= !b);
    }

    /// The members, ascending.
    pub fn iter(&self) -> impl Iterator<Item = u32> + '_ {
        self.words.iter().enumerate().flat_map(|(w, &bits)| {
            (0..64u32)
                .filter(move |b| bits & (1 << b) != 0)
                .map(move |b| w as u32 * 64 + b)
        })
    }

    pub fn insert(&mut self, item: u32) {
        if let Some(w) = self.words.get_mut(item as usize / 64) {
            *w |= 1 << (item % 64);
        }
    }

    pub fn contains(&self, item: u32) -> bool {
        self.words
            .get(item as usize / 64)
            .is_some_and(|w| w & (1 << (item % 64)) != 0)
    }
}

/// Options shared by the request kinds.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    pub k: usize,
    /// Leave out items the user already interacted with. The offline protocol does; serving
    /// does not (Personalize leaves that to an Interactions filter).
    pub exclude_history: bool,
}

/// Top-k for a user with `history` (item codes, newest last). A user with no history gets the
/// model's answer for an empty history (popular items for the user-personalization family).
pub fn recommend(model: &Model, history: &[u32], exclude: &[u32], opts: Options) -> Vec<Scored> {
    let mut scores = Vec::with_capacity(model.items.len());
    model.score_history(history, &mut scores);
    let mut skip = ItemSet::new(model.items.len());
    if opts.exclude_history {
        history.iter().for_each(|&i| skip.insert(i));
    }
    exclude.iter().for_each(|&i| skip.insert(i));
    top_k(&scores, opts.k, |i| !skip.contains(i))
}

/// Items related to `item`; popular items when the item is unknown to the model or has no
/// neighbours (as Personalize falls back).
pub fn related(model: &Model, item: Option<u32>, exclude: &[u32], k: usize) -> Vec<Scored> {
    let mut scores = Vec::with_capacity(model.items.len());
    let mut skip = ItemSet::new(model.items.len());
    exclude.iter().for_each(|&i| skip.insert(i));
    if let Some(item) = item {
        skip.insert(item);
        if model.score_related(item, &mut scores) {
            let found = top_k(&scores, k, |i| {
                !skip.contains(i) && scores[i as usize] > 0.0
            });
            if found.len() == k {
                return found;
            }
            // Top up with popular items.
            let mut out = found;
            out.iter().for_each(|s| skip.insert(s.item));
            out.extend(top_k(&model.popularity, k - out.len(), |i| {
                !skip.contains(i)
            }));
            return out;
        }
    }
    top_k(&model.popularity, k, |i| !skip.contains(i))
}

/// Re-ranks `candidates` (codes, `None` for ids the model does not know) for a user: known items
/// by score, unknown ones after them in input order without a score.
pub fn rank(
    model: &Model,
    history: &[u32],
    candidates: &[Option<u32>],
) -> Vec<(usize, Option<f32>)> {
    let mut scores = Vec::with_capacity(model.items.len());
    model.score_history(history, &mut scores);
    let mut known: Vec<(usize, f32)> = candidates
        .iter()
        .enumerate()
        .filter_map(|(pos, c)| c.map(|i| (pos, scores[i as usize])))
        .collect();
    known.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    let mut out: Vec<(usize, Option<f32>)> = known.into_iter().map(|(p, s)| (p, Some(s))).collect();
    out.extend(
        candidates
            .iter()
            .enumerate()
            .filter(|(_, c)| c.is_none())
            .map(|(p, _)| (p, None)),
    );
    out
}
