//! Sets of item codes as bitsets over the catalogue: filters, exclusions and marks are word
//! operations, not hash lookups.

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
