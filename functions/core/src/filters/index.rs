//! A catalogue's item attributes as per-value postings, built once per campaign and catalogue
//! version, so an `Items.*` condition costs the items it matches instead of a walk of the
//! catalogue with a string lookup per item on every request.
//!
//! Each indexed field keeps, per attribute value, the items holding it (a sorted list, or a
//! bitset once the value is common enough that the bitset is the smaller of the two), and every
//! numeric part sorted by value for `<`, `<=`, `>`, `>=`.
//! Matching follows [`super::values::Part`]'s rules exactly; `tests/it/filters.rs` checks that
//! an indexed answer equals the scanned one.

use std::collections::HashMap;
use std::sync::Arc;

use super::ast::Op;
use super::values::{any_part, Part, Scalar};
use super::Value;
use crate::engine::ItemSet;

/// Indexed item fields over a catalogue of model item codes `0..n_items`.
#[derive(Debug, Clone, Default)]
pub struct ItemIndex {
    n_items: usize,
    /// By ASCII-lower-cased field name (filters may spell columns in any case).
    fields: HashMap<String, Arc<FieldIndex>>,
}

/// An index that may be behind the catalogue: `stale` lists the items whose attributes changed
/// since it was built; conditions re-check those items against their current attributes.
#[derive(Debug, Clone, Copy)]
pub struct IndexView<'a> {
    pub index: &'a ItemIndex,
    pub stale: &'a [u32],
}

#[derive(Debug, Default)]
struct FieldIndex {
    /// Text parts, matched exactly.
    text: HashMap<Box<str>, Postings>,
    /// Number parts by value (IN matches a number attribute by value, not spelling).
    numbers: HashMap<u64, Postings>,
    /// Boolean parts: `[false, true]`.
    bools: [Vec<u32>; 2],
    /// Every part that reads as a finite number (numbers, and text such as "25.5"), by value.
    numeric: Vec<(f64, u32)>,
}

#[derive(Debug)]
enum Postings {
    Sparse(Vec<u32>),
    Dense(ItemSet),
}

impl Postings {
    fn add_to(&self, set: &mut ItemSet) {
        match self {
            Postings::Sparse(items) => items.iter().for_each(|&i| set.insert(i)),
            Postings::Dense(items) => set.union_with(items),
        }
    }
}

/// Keys a number so that `0.0` and `-0.0`, equal as numbers, share postings.
fn number_key(n: f64) -> u64 {
    if n == 0.0 {
        0
    } else {
        n.to_bits()
    }
}

/// Appends `item` unless it was just appended (an attribute like "a|a" names a value twice).
fn push(list: &mut Vec<u32>, item: u32) {
    if list.last() != Some(&item) {
        list.push(item);
    }
}

impl ItemIndex {
    /// An empty index over `n_items`; [`ItemIndex::add_field`] fills it.
    pub fn new(n_items: usize) -> ItemIndex {
        ItemIndex {
            n_items,
            fields: HashMap::new(),
        }
    }

    pub fn n_items(&self) -> usize {
        self.n_items
    }

    /// The indexed fields, lower-cased.
    pub fn fields(&self) -> impl Iterator<Item = &str> {
        self.fields.keys().map(String::as_str)
    }

    pub fn has_field(&self, field: &str) -> bool {
        self.fields.contains_key(&field.to_ascii_lowercase())
    }

    /// Indexes `field`, reading each item's value through `attribute`.
    pub fn add_field<'a>(&mut self, field: &str, attribute: impl Fn(u32) -> Option<Value<'a>>) {
        let n = self.n_items;
        let mut f = FieldIndex::default();
        let mut text: HashMap<Box<str>, Vec<u32>> = HashMap::new();
        let mut numbers: HashMap<u64, Vec<u32>> = HashMap::new();
        for item in 0..n as u32 {
            let Some(value) = attribute(item) else {
                continue;
            };
            any_part(value, |part| {
                match part {
                    Part::Text(t) => match text.get_mut(t) {
                        Some(list) => push(list, item),
                        None => {
                            text.insert(t.into(), vec![item]);
                        }
                    },
                    // NaN equals nothing, itself included.
                    Part::Number(x) if x.is_nan() => {}
                    Part::Number(x) => push(numbers.entry(number_key(x)).or_default(), item),
                    Part::Bool(b) => push(&mut f.bools[b as usize], item),
                }
                if let Some(x) = part.number() {
                    f.numeric.push((x, item));
                }
                false
            });
        }
        f.numeric.sort_by(|a, b| a.0.total_cmp(&b.0));
        // A bitset costs n/8 bytes, a list 4 per item: keep whichever is smaller.
        let postings = |items: Vec<u32>| {
            if items.len() * 32 > n {
                let mut set = ItemSet::new(n);
                items.iter().for_each(|&i| set.insert(i));
                Postings::Dense(set)
            } else {
                Postings::Sparse(items)
            }
        };
        f.text = text.into_iter().map(|(k, v)| (k, postings(v))).collect();
        f.numbers = numbers.into_iter().map(|(k, v)| (k, postings(v))).collect();
        self.fields.insert(field.to_ascii_lowercase(), Arc::new(f));
    }

    /// The items whose `field` satisfies `op` against `rhs`, exactly as a scan with
    /// [`super::eval`]'s `holds` would find them; `None` when the field is not indexed.
    pub(crate) fn matching(&self, field: &str, op: Op, rhs: &[Scalar]) -> Option<ItemSet> {
        let f = self.fields.get(&field.to_ascii_lowercase())?;
        let n = self.n_items;
        let mut set = ItemSet::new(n);
        match op {
            Op::In | Op::NotIn | Op::Eq => {
                for s in rhs {
                    if let Some(p) = f.text.get(s.text.as_str()) {
                        p.add_to(&mut set);
                    }
                    if let Some(p) = s.num.and_then(|x| f.numbers.get(&number_key(x))) {
                        p.add_to(&mut set);
                    }
                    for (b, word) in [(false, "false"), (true, "true")] {
                        if s.text.eq_ignore_ascii_case(word) {
                            f.bools[b as usize].iter().for_each(|&i| set.insert(i));
                        }
                    }
                    // `=` also matches the same number however it is spelled ("10" and 10.0).
                    if let (Op::Eq, Some(x)) = (op, s.num) {
                        let from = f.numeric.partition_point(|p| p.0 < x);
                        let to = f.numeric.partition_point(|p| p.0 <= x);
                        f.numeric[from..to].iter().for_each(|p| set.insert(p.1));
                    }
                }
                if op == Op::NotIn {
                    // NOT IN is the negation of IN: null attributes are in it.
                    let mut all = ItemSet::full(n);
                    all.subtract(&set);
                    set = all;
                }
            }
            Op::Lt | Op::Le | Op::Gt | Op::Ge => {
                let nums = rhs.iter().filter_map(|s| s.num);
                // "Some value is below any of the bounds" is "below the largest bound".
                let range = match op {
                    Op::Lt | Op::Le => nums.reduce(f64::max).map(|b| {
                        let to = f.numeric.partition_point(|p| match op {
                            Op::Lt => p.0 < b,
                            _ => p.0 <= b,
                        });
                        0..to
                    }),
                    _ => nums.reduce(f64::min).map(|b| {
                        let from = f.numeric.partition_point(|p| match op {
                            Op::Gt => p.0 <= b,
                            _ => p.0 < b,
                        });
                        from..f.numeric.len()
                    }),
                };
                if let Some(range) = range {
                    f.numeric[range].iter().for_each(|p| set.insert(p.1));
                }
            }
        }
        Some(set)
    }

    /// Approximate heap bytes, for logs and the bench.
    pub fn heap_bytes(&self) -> usize {
        let postings = |p: &Postings| match p {
            Postings::Sparse(v) => v.len() * 4,
            Postings::Dense(s) => s.capacity() / 8,
        };
        self.fields
            .values()
            .map(|f| {
                f.numeric.len() * 12
                    + f.bools.iter().map(|b| b.len() * 4).sum::<usize>()
                    + f.text
                        .iter()
                        .map(|(k, p)| k.len() + 16 + postings(p))
                        .sum::<usize>()
                    + f.numbers.values().map(|p| 8 + postings(p)).sum::<usize>()
            })
            .sum()
    }
}
