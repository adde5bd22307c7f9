//! Which items the users join: two items are in one component when a chain of users links
//! them (a user links every item they chose). An item outside the components of a history
//! was never chosen with anything in it, by anyone, however far removed: the factors may still
//! score it through the dimensions they share, but nothing in the data says it belongs.
//!
//! Real catalogues are one large component and a few islands, so the reach of almost every
//! history is the whole catalogue; a catalogue of disjoint tastes (the planted shop of
//! `tests/it/scale.rs`, or markets that share no customers) keeps each user inside their own.

use super::ArtifactError;
use super::TrainingData;
use crate::engine::ItemSet;

/// The components of the items users chose.
#[derive(Debug, Clone, PartialEq)]
pub struct ItemComponents {
    /// Per item, its component; [`UNCHOSEN`] for an item nobody chose (served on its content,
    /// so reached by every history). Components are numbered by their smallest item code.
    label: Vec<u32>,
    /// The items of component `c` are `members[starts[c]..starts[c + 1]]`.
    starts: Vec<u32>,
    members: Vec<u32>,
    /// Per component, the component its history also reaches: an island's home, the large
    /// component its items' content is most like ([`ItemComponents::home_islands`]); itself
    /// otherwise.
    home: Vec<u32>,
}

/// Components of fewer items are islands, homed by their content: fewer than the most a
/// request may ask for (Personalize's `numResults` goes up to 500).
pub const ISLAND: usize = 500;

/// The label of an item nobody chose.
pub const UNCHOSEN: u32 = u32::MAX;

impl ItemComponents {
    /// The components of `data`'s items; `None` when one component holds every chosen item.
    pub fn of(data: &TrainingData) -> Option<ItemComponents> {
        let mut links = Links::new(data.n_items());
        for h in &data.histories {
            links.user(h.iter().map(|e| e.item));
        }
        links.components()
    }

    /// The components an artifact's labels describe.
    pub fn from_labels(label: Vec<u32>) -> Result<ItemComponents, ArtifactError> {
        let n = label
            .iter()
            .filter(|&&l| l != UNCHOSEN)
            .map(|&l| l as usize + 1)
            .max()
            .unwrap_or(0);
        if n > label.len() {
            return Err(ArtifactError::Corrupt("component labels".into()));
        }
        let mut starts = vec![0u32; n + 1];
        for &l in label.iter().filter(|&&l| l != UNCHOSEN) {
            starts[l as usize + 1] += 1;
        }
        for c in 0..n {
            starts[c + 1] += starts[c];
        }
        let mut next = starts.clone();
        let mut members = vec![0u32; starts[n] as usize];
        for (i, &l) in label.iter().enumerate() {
            if l != UNCHOSEN {
                members[next[l as usize] as usize] = i as u32;
                next[l as usize] += 1;
            }
        }
        Ok(ItemComponents {
            label,
            starts,
            members,
            home: (0..n as u32).collect(),
        })
    }

    /// The components of an artifact's labels, with the homes it holds.
    pub fn read(label: Vec<u32>, home: Option<Vec<u32>>) -> Result<ItemComponents, ArtifactError> {
        let mut c = ItemComponents::from_labels(label)?;
        if let Some(home) = home {
            if home.len() != c.count() || home.iter().any(|&h| h as usize >= home.len()) {
                return Err(ArtifactError::Corrupt("component homes".into()));
            }
            c.home = home;
        }
        Ok(c)
    }

    /// Per component, the component its history also reaches.
    pub fn homes(&self) -> &[u32] {
        &self.home
    }

    fn size(&self, c: usize) -> usize {
        (self.starts[c + 1] - self.starts[c]) as usize
    }

    fn members(&self, c: usize) -> &[u32] {
        &self.members[self.starts[c] as usize..self.starts[c + 1] as usize]
    }

    /// Homes each island (a component of fewer than [`ISLAND`] items) in the larger component
    /// whose items' mean `content` vector is closest in angle to its own: a user whose items
    /// nobody else chose is then answered from what their items are like, not from nowhere.
    /// Islands without content, or with no larger component, stay home alone.
    pub fn home_islands(&mut self, content: impl Fn(u32) -> Option<Vec<f32>>) {
        // Without an island, the large components' means (a content vector per item) are
        // not worth computing.
        if (0..self.count()).all(|c| self.size(c) >= ISLAND) {
            return;
        }
        let mean = |c: usize| -> Option<Vec<f32>> {
            let mut sum: Option<Vec<f32>> = None;
            for v in self.members(c).iter().filter_map(|&i| content(i)) {
                match &mut sum {
                    Some(s) => s.iter_mut().zip(&v).for_each(|(s, x)| *s += x),
                    None => sum = Some(v),
                }
            }
            let mut s = sum?;
            let norm = s.iter().map(|x| x * x).sum::<f32>().sqrt();
            (norm > 0.0).then(|| {
                s.iter_mut().for_each(|x| *x /= norm);
                s
            })
        };
        let large: Vec<(u32, Vec<f32>)> = (0..self.count())
            .filter(|&c| self.size(c) >= ISLAND)
            .filter_map(|c| Some((c as u32, mean(c)?)))
            .collect();
        if large.is_empty() {
            return;
        }
        let homed: Vec<(usize, u32)> = (0..self.count())
            .filter(|&c| self.size(c) < ISLAND)
            .filter_map(|c| {
                let v = mean(c)?;
                let (h, cos) = large
                    .iter()
                    .map(|(h, m)| (*h, m.iter().zip(&v).map(|(a, b)| a * b).sum::<f32>()))
                    .max_by(|a, b| a.1.total_cmp(&b.1))?;
                (cos > 0.0).then_some((c, h))
            })
            .collect();
        for (c, h) in homed {
            self.home[c] = h;
        }
    }

    /// Per item, its component ([`UNCHOSEN`] for an item nobody chose).
    pub fn labels(&self) -> &[u32] {
        &self.label
    }

    pub fn count(&self) -> usize {
        self.starts.len() - 1
    }

    /// The items `history` reaches, over a catalogue of `n_items`: every item but those of the
    /// components it does not touch (items nobody chose, or put after training, are reached).
    /// `None` when it touches every component.
    pub fn reach(&self, history: &[u32], n_items: usize) -> Option<ItemSet> {
        let mut touched: Vec<u32> = history
            .iter()
            .filter_map(|&i| self.label.get(i as usize).copied())
            .filter(|&l| l != UNCHOSEN)
            .collect();
        // A history of items nobody chose (or none) has no component to keep it in.
        if touched.is_empty() {
            return None;
        }
        let homes: Vec<u32> = touched.iter().map(|&c| self.home[c as usize]).collect();
        touched.extend(homes);
        touched.sort_unstable();
        touched.dedup();
        if touched.len() == self.count() {
            return None;
        }
        let mut reach = ItemSet::full(n_items);
        let mut t = touched.iter().peekable();
        for c in 0..self.count() as u32 {
            if t.peek() == Some(&&c) {
                t.next();
                continue;
            }
            self.members(c as usize)
                .iter()
                .for_each(|&i| reach.remove(i));
        }
        Some(reach)
    }
}

/// A union-find over item codes: what joins items, from any number of sources (one process's
/// histories, or the links each user shard found).
#[derive(Debug, Clone)]
pub struct Links {
    parent: Vec<u32>,
    chosen: Vec<bool>,
}

impl Links {
    pub fn new(n_items: usize) -> Links {
        Links {
            parent: (0..n_items as u32).collect(),
            chosen: vec![false; n_items],
        }
    }

    fn root(&mut self, mut i: u32) -> u32 {
        while self.parent[i as usize] != i {
            let up = self.parent[self.parent[i as usize] as usize];
            self.parent[i as usize] = up;
            i = up;
        }
        i
    }

    /// Joins the items one user chose.
    pub fn user(&mut self, items: impl IntoIterator<Item = u32>) {
        let mut items = items.into_iter();
        if let Some(first) = items.next() {
            self.chosen[first as usize] = true;
            items.for_each(|i| self.join(first, i));
        }
    }

    /// Joins the components of `a` and `b` (both chosen); the smaller root stays the root.
    pub fn join(&mut self, a: u32, b: u32) {
        self.chosen[a as usize] = true;
        self.chosen[b as usize] = true;
        let (ra, rb) = (self.root(a), self.root(b));
        if ra != rb {
            let (lo, hi) = (ra.min(rb), ra.max(rb));
            self.parent[hi as usize] = lo;
        }
    }

    /// Each chosen item with its root, the item joining it to the rest: what a user shard
    /// sends on so the finish joins every shard's links.
    pub fn pairs(&mut self) -> Vec<(u32, u32)> {
        let mut out = Vec::new();
        for i in 0..self.parent.len() as u32 {
            if self.chosen[i as usize] {
                out.push((i, self.root(i)));
            }
        }
        out
    }

    /// The components; `None` when there is at most one.
    pub fn components(mut self) -> Option<ItemComponents> {
        let n = self.parent.len();
        // Numbered in order of their smallest item, which is each one's root.
        let mut number = vec![UNCHOSEN; n];
        let mut count = 0u32;
        let mut label = vec![UNCHOSEN; n];
        for i in 0..n as u32 {
            if !self.chosen[i as usize] {
                continue;
            }
            let r = self.root(i);
            if number[r as usize] == UNCHOSEN {
                number[r as usize] = count;
                count += 1;
            }
            label[i as usize] = number[r as usize];
        }
        if count <= 1 {
            return None;
        }
        ItemComponents::from_labels(label).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recipes::Event;

    fn data(histories: &[&[u32]], n_items: usize) -> TrainingData {
        let mut d = TrainingData::default();
        for i in 0..n_items {
            d.items.intern(&format!("i{i}"));
        }
        d.histories = histories
            .iter()
            .map(|h| {
                h.iter()
                    .enumerate()
                    .map(|(t, &item)| Event {
                        item,
                        ts: t as i64,
                        weight: 1.0,
                        ctx: 0,
                    })
                    .collect()
            })
            .collect();
        d
    }

    #[test]
    fn users_join_items_through_chains_and_nothing_else() {
        // 0–1 by one user, 1–2 by another: one chain. 3–4 apart. 5 nobody chose.
        let d = data(&[&[0, 1], &[2, 1], &[4, 3], &[]], 6);
        let c = ItemComponents::of(&d).unwrap();
        assert_eq!(c.labels(), &[0, 0, 0, 1, 1, UNCHOSEN]);
        let reach = c.reach(&[2], 6).unwrap();
        assert_eq!(reach.iter().collect::<Vec<_>>(), vec![0, 1, 2, 5]);
        assert!(c.reach(&[2, 3], 6).is_none());
        assert!(c.reach(&[5], 6).is_none() && c.reach(&[], 6).is_none());
        // Items put after training are reached.
        let reach = c.reach(&[4], 8).unwrap();
        assert_eq!(reach.iter().collect::<Vec<_>>(), vec![3, 4, 5, 6, 7]);
        // One component: no gate.
        assert!(ItemComponents::of(&data(&[&[0, 1], &[1, 2]], 4)).is_none());
    }

    #[test]
    fn labels_survive_the_artifact_and_links_merge_in_any_order() {
        let d = data(&[&[5, 0], &[3, 2], &[2, 6], &[7]], 8);
        let c = ItemComponents::of(&d).unwrap();
        assert_eq!(ItemComponents::from_labels(c.labels().to_vec()).unwrap(), c);
        // Two shards' links, joined in the finish in either order.
        let shard = |hs: &[&[u32]]| {
            let mut l = Links::new(8);
            hs.iter().for_each(|h| l.user(h.iter().copied()));
            l.pairs()
        };
        let (a, b) = (shard(&[&[5, 0], &[2, 6]]), shard(&[&[3, 2], &[7]]));
        for parts in [[&a, &b], [&b, &a]] {
            let mut l = Links::new(8);
            for &(i, r) in parts.into_iter().flatten() {
                l.join(i, r);
            }
            assert_eq!(l.components().as_ref(), Some(&c));
        }
        assert!(ItemComponents::from_labels(vec![0, 5]).is_err());
    }

    #[test]
    fn an_island_is_homed_where_its_content_points() {
        // Two large components (items 0..600 and 600..1200) and an island (1200..1203).
        let a: Vec<u32> = (0..600).collect();
        let b: Vec<u32> = (600..1200).collect();
        let d = data(&[&a, &b, &[1200, 1201, 1202]], 1204);
        let mut c = ItemComponents::of(&d).unwrap();
        assert!(c.reach(&[1201], 1204).unwrap().len() < 10);
        // Content: the first large component one way, the second another, the island near
        // the second; item 1203 nobody chose.
        c.home_islands(|i| match i {
            0..600 => Some(vec![1.0, 0.0]),
            600..1200 => Some(vec![0.0, 1.0]),
            1200..1203 => Some(vec![0.2, 0.9]),
            _ => None,
        });
        assert_eq!(c.homes(), &[0, 1, 1]);
        let reach = c.reach(&[1201], 1204).unwrap();
        assert!(reach.contains(700) && reach.contains(1202) && reach.contains(1203));
        assert!(!reach.contains(5));
        // The large components do not reach the island through its home.
        assert!(!c.reach(&[700], 1204).unwrap().contains(1200));
        let read = ItemComponents::read(c.labels().to_vec(), Some(c.homes().to_vec()));
        assert_eq!(read.unwrap(), c);
        assert!(ItemComponents::read(c.labels().to_vec(), Some(vec![0, 1, 7])).is_err());
    }
}
