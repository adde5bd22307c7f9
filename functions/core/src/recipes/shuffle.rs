//! The sharded branch's data path: the interactions read in byte ranges, one task each, and
//! shuffled to user shards and then to item shards, so that no step holds all of the data.
//!
//! 1. [`scan`] (per range): the range's user and item ids in first appearance, with the events
//!    the solution counts per id.
//! 2. [`Merged`] (one task): the ranges' ids in range order. Dictionaries intern ids in first
//!    appearance, so these are the codes one process gives. The counts size the shards.
//! 3. [`cut`] (per range): each counted event, coded, to its user's shard.
//! 4. [`users`] (per user shard): its users' histories whole and in time order; per phase of the
//!    chain, the rows the shard solves and, per item shard, its part of the transpose.
//! 5. [`items`] (per item shard): per phase, the item rows from the user shards' parts.
//!
//! Each phase's rows equal [`als_shards::split_rows`] of that phase's data in one process
//! (tested below), so the sharded fit still equals the single-process one.

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::als_shards::{expect_kind, Plan, ShardRows, Side};
use super::chain::{Chain, Phase};
use super::components::Links;
use super::data::{percentile_bounds, InteractionColumns};
use super::factors::Csr;
use super::{ArtifactError, ArtifactReader, ArtifactWriter, Event, EventConfig};
use crate::data::{IdDict, Table};
use crate::error::{Error, Result};
use crate::evaluation::held_out;

/// Step 1: a range's ids in first appearance, and the events counted per id: the merge of
/// this one range.
pub fn scan(range: &Table, config: &EventConfig) -> Result<Merged> {
    let c = InteractionColumns::of(range)?;
    let mut user_events = vec![0u32; c.users.0.len()];
    let mut item_events = vec![0u32; c.items.0.len()];
    for row in 0..range.rows() {
        if c.weight(row, config).is_some() {
            user_events[c.users.1[row] as usize] += 1;
            item_events[c.items.1[row] as usize] += 1;
        }
    }
    Ok(Merged {
        users: c.users.0.clone(),
        items: c.items.0.clone(),
        user_events,
        item_events,
    })
}

/// Ids in first appearance with their events counted: one range's (step 1), then every
/// range's in range order (step 2).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Merged {
    pub users: IdDict,
    pub items: IdDict,
    pub user_events: Vec<u32>,
    pub item_events: Vec<u32>,
}

impl Merged {
    /// Adds the next range's scan.
    pub fn add(&mut self, scan: &Merged) {
        for (id, &n) in scan.users.iter().zip(&scan.user_events) {
            let u = self.users.intern(id) as usize;
            if u == self.user_events.len() {
                self.user_events.push(0);
            }
            self.user_events[u] += n;
        }
        for (id, &n) in scan.items.iter().zip(&scan.item_events) {
            let i = self.items.intern(id) as usize;
            if i == self.item_events.len() {
                self.item_events.push(0);
            }
            self.item_events[i] += n;
        }
    }

    /// The Items dataset's ids after the interactions' (`TrainingData`'s catalogue order).
    pub fn add_catalogue(&mut self, items: &IdDict) {
        for id in items.iter() {
            self.items.intern(id);
        }
        self.item_events.resize(self.items.len(), 0);
    }

    pub fn n_events(&self) -> u64 {
        self.user_events.iter().map(|&n| u64::from(n)).sum()
    }

    /// The longest history.
    pub fn longest(&self) -> usize {
        self.user_events.iter().copied().max().unwrap_or(0) as usize
    }

    /// The plan of `chain` over these ids, `shards` a side, cut by cost as
    /// [`Plan::for_chain`] cuts (events stand in for distinct items: the cost only balances).
    pub fn plan(&self, chain: &Chain, shards: usize) -> Plan {
        let als = chain.als(0);
        let f = als.factors as u64;
        let cost = |n: &[u32]| -> Vec<u64> { n.iter().map(|&c| u64::from(c) + f).collect() };
        Plan {
            als,
            n_users: self.users.len(),
            n_items: self.items.len(),
            user_bounds: super::als_shards::balanced_bounds(&cost(&self.user_events), shards),
            item_bounds: super::als_shards::balanced_bounds(&cost(&self.item_events), shards),
            phases: chain.phases.clone(),
        }
    }

    /// The history lengths each phase keeps (`filter_history_percentiles` of the chain's
    /// parameters over that phase's lengths).
    pub fn kept_lengths(&self, chain: &Chain) -> Vec<Kept> {
        let (min, max) = (
            chain.params.min_user_history_length_percentile,
            chain.params.max_user_history_length_percentile,
        );
        chain
            .phases
            .iter()
            .map(|&(phase, _)| {
                if min <= 0.0 && max >= 1.0 {
                    return Kept {
                        phase,
                        lo: 0,
                        hi: usize::MAX,
                    };
                }
                let mut lens: Vec<usize> = self
                    .user_events
                    .iter()
                    .map(|&n| phase_length(phase, n as usize))
                    .filter(|&l| l > 0)
                    .collect();
                let (lo, hi) = percentile_bounds(&mut lens, min, max);
                Kept { phase, lo, hi }
            })
            .collect()
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = ArtifactWriter::new(&json!({ "kind": "als-ids" }));
        w.strings(b"USER", &self.users)
            .strings(b"ITEM", &self.items)
            .u32s(b"UEVT", &self.user_events)
            .u32s(b"IEVT", &self.item_events);
        w.finish()
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Merged, ArtifactError> {
        let r = ArtifactReader::parse(bytes)?;
        expect_kind(&r, "als-ids")?;
        let m = Merged {
            users: r.strings(b"USER")?,
            items: r.strings(b"ITEM")?,
            user_events: r.u32s(b"UEVT")?,
            item_events: r.u32s(b"IEVT")?,
        };
        if m.users.len() != m.user_events.len() || m.items.len() != m.item_events.len() {
            return Err(ArtifactError::Corrupt("als-ids lengths disagree".into()));
        }
        Ok(m)
    }
}

/// The history lengths a phase keeps: `lo..=hi` (empty histories are never rows).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Kept {
    pub phase: Phase,
    pub lo: usize,
    pub hi: usize,
}

/// How long a history of `n` events is in `phase`'s data: the evaluation split keeps the
/// oldest 80% of a history of 5 or more (`evaluation::quality_split`), the trial splits that
/// again (`next_items::tuning_split`).
pub fn phase_length(phase: Phase, n: usize) -> usize {
    // QUALITY.md's split, as both `quality_split` and `tuning_split` make it.
    let train = |n: usize| n - held_out(n, 5, 0.2);
    match phase {
        Phase::Final => n,
        Phase::Evaluation => train(n),
        Phase::Trial => train(train(n)),
    }
}

/// One range's events for one user shard, in input order, coded.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UserPiece {
    pub users: Vec<u32>,
    pub items: Vec<u32>,
    pub ts: Vec<i64>,
    pub weights: Vec<f32>,
}

impl UserPiece {
    pub fn len(&self) -> usize {
        self.users.len()
    }

    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let ts: Vec<u8> = self.ts.iter().flat_map(|t| t.to_le_bytes()).collect();
        let mut w = ArtifactWriter::new(&json!({ "kind": "als-events", "events": self.len() }));
        w.u32s(b"USER", &self.users)
            .u32s(b"ITEM", &self.items)
            .bytes(b"TIME", &ts)
            .f32s(b"WGHT", &self.weights);
        w.finish()
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<UserPiece, ArtifactError> {
        let r = ArtifactReader::parse(bytes)?;
        expect_kind(&r, "als-events")?;
        let ts = r.bytes(b"TIME")?;
        let p = UserPiece {
            users: r.u32s(b"USER")?,
            items: r.u32s(b"ITEM")?,
            ts: ts
                .chunks_exact(8)
                .map(|b| i64::from_le_bytes(b.try_into().unwrap_or_default()))
                .collect(),
            weights: r.f32s(b"WGHT")?,
        };
        let n = p.len();
        if ts.len() != 8 * n || p.items.len() != n || p.weights.len() != n {
            return Err(ArtifactError::Corrupt("als-events lengths disagree".into()));
        }
        Ok(p)
    }
}

/// Step 3: a range's counted events, coded by `ids`, cut by user shard.
pub fn cut(
    range: &Table,
    config: &EventConfig,
    ids: &Merged,
    plan: &Plan,
) -> Result<Vec<UserPiece>> {
    let c = InteractionColumns::of(range)?;
    let code = |local: &IdDict, global: &IdDict, what: &str| -> Result<Vec<u32>> {
        local
            .iter()
            .map(|id| {
                global.get(id).ok_or_else(|| {
                    Error::Internal(format!(
                        "{what} {id} is not in the merged ids: the data changed after its scan"
                    ))
                })
            })
            .collect()
    };
    let users = code(c.users.0, &ids.users, "user")?;
    let items = code(c.items.0, &ids.items, "item")?;
    let mut pieces = vec![UserPiece::default(); plan.shards(Side::Users)];
    for row in 0..range.rows() {
        let Some(weight) = c.weight(row, config) else {
            continue;
        };
        let u = users[c.users.1[row] as usize];
        let p = &mut pieces[plan.shard_of(Side::Users, u as usize)];
        p.users.push(u);
        p.items.push(items[c.items.1[row] as usize]);
        p.ts.push(c.ts[row]);
        p.weights.push(weight);
    }
    Ok(pieces)
}

/// One user shard's part of one item shard's rows in one phase: entries by item, then user.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ItemPiece {
    pub items: Vec<u32>,
    pub users: Vec<u32>,
    pub conf: Vec<f32>,
}

impl ItemPiece {
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = ArtifactWriter::new(&json!({ "kind": "als-transpose" }));
        w.u32s(b"ITEM", &self.items)
            .u32s(b"USER", &self.users)
            .f32s(b"CONF", &self.conf);
        w.finish()
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<ItemPiece, ArtifactError> {
        let r = ArtifactReader::parse(bytes)?;
        expect_kind(&r, "als-transpose")?;
        let p = ItemPiece {
            items: r.u32s(b"ITEM")?,
            users: r.u32s(b"USER")?,
            conf: r.f32s(b"CONF")?,
        };
        if p.users.len() != p.items.len() || p.conf.len() != p.items.len() {
            return Err(ArtifactError::Corrupt(
                "als-transpose lengths disagree".into(),
            ));
        }
        Ok(p)
    }
}

/// What a user shard makes for one phase: its rows, and per item shard its part of theirs.
pub struct PhaseRows {
    pub phase: Phase,
    pub rows: ShardRows,
    pub transposed: Vec<ItemPiece>,
}

/// What a user shard counts over all its users' events, for the served model.
pub struct UserCounts {
    /// Distinct users per item (popularity's count).
    pub item_users: Vec<u32>,
    /// Each item its users chose with its root among them ([`Links::pairs`]).
    pub links: Vec<(u32, u32)>,
}

/// Step 4: user shard `shard`'s rows in each phase of `plan`, from its pieces in range order,
/// and its [`UserCounts`].
pub fn users(
    plan: &Plan,
    kept: &[Kept],
    shard: usize,
    pieces: &[UserPiece],
) -> Result<(Vec<PhaseRows>, UserCounts)> {
    let range = plan.range(Side::Users, shard);
    let mut histories: Vec<Vec<Event>> = vec![Vec::new(); range.len()];
    for p in pieces {
        for k in 0..p.len() {
            let u = p.users[k] as usize;
            if !range.contains(&u) || p.items[k] as usize >= plan.n_items {
                return Err(Error::Internal(format!(
                    "an event of user {u} or item {} is outside user shard {shard} or the plan",
                    p.items[k]
                )));
            }
            histories[u - range.start].push(Event {
                item: p.items[k],
                ts: p.ts[k],
                weight: p.weights[k],
                ctx: 0,
            });
        }
    }
    for h in &mut histories {
        h.sort_by_key(|e| e.ts); // stable: ties keep input order, as in one process
    }
    let mut item_users = vec![0u32; plan.n_items];
    let mut links = Links::new(plan.n_items);
    let mut seen: Vec<u32> = Vec::new();
    for h in &histories {
        links.user(h.iter().map(|e| e.item));
        seen.clear();
        seen.extend(h.iter().map(|e| e.item));
        seen.sort_unstable();
        seen.dedup();
        for &i in &seen {
            item_users[i as usize] += 1;
        }
    }
    let mut out = Vec::with_capacity(plan.phases.len());
    for &(phase, _) in &plan.phases {
        let k = kept.iter().find(|k| k.phase == phase).ok_or_else(|| {
            Error::Internal(format!("no kept lengths for phase {}", phase.name()))
        })?;
        let rows = histories.iter().map(|h| {
            let n = phase_length(phase, h.len());
            if n > 0 && (n < k.lo || n > k.hi) {
                &h[..0]
            } else {
                &h[..n]
            }
        });
        let csr = Csr::from_histories(rows, plan.als.alpha);
        let mut transposed = vec![ItemPiece::default(); plan.shards(Side::Items)];
        let mut entries: Vec<(u32, u32, f32)> = Vec::with_capacity(csr.cols.len());
        for r in 0..csr.ptr.len() - 1 {
            let (cols, conf) = csr.row(r);
            let u = (range.start + r) as u32;
            entries.extend(cols.iter().zip(conf).map(|(&i, &c)| (i, u, c)));
        }
        // Stable: within an item, users stay ascending.
        entries.sort_by_key(|e| e.0);
        for (i, u, c) in entries {
            let p = &mut transposed[plan.shard_of(Side::Items, i as usize)];
            p.items.push(i);
            p.users.push(u);
            p.conf.push(c);
        }
        out.push(PhaseRows {
            phase,
            rows: ShardRows::new(Side::Users, shard, range.start, csr),
            transposed,
        });
    }
    let counts = UserCounts {
        item_users,
        links: links.pairs(),
    };
    Ok((out, counts))
}

/// Step 5: item shard `shard`'s rows in one phase, from every user shard's part in shard order.
pub fn items(plan: &Plan, shard: usize, pieces: &[ItemPiece]) -> Result<ShardRows> {
    let range = plan.range(Side::Items, shard);
    let mut ptr = vec![0usize; range.len() + 1];
    for p in pieces {
        for &i in &p.items {
            let i = i as usize;
            if !range.contains(&i) {
                return Err(Error::Internal(format!(
                    "item {i} is outside item shard {shard}"
                )));
            }
            ptr[i - range.start + 1] += 1;
        }
    }
    for k in 0..range.len() {
        ptr[k + 1] += ptr[k];
    }
    let nnz = ptr[range.len()];
    let mut next = ptr.clone();
    let (mut cols, mut conf) = (vec![0u32; nnz], vec![0f32; nnz]);
    for p in pieces {
        for k in 0..p.items.len() {
            let at = &mut next[p.items[k] as usize - range.start];
            cols[*at] = p.users[k];
            conf[*at] = p.conf[k];
            *at += 1;
        }
    }
    Ok(ShardRows::new(
        Side::Items,
        shard,
        range.start,
        Csr { ptr, cols, conf },
    ))
}

/// Whether the finish's user sample holds `user`: a hash of the id under `rate`, so each range
/// decides alike without the others.
pub fn sampled(user: &str, rate: f64) -> bool {
    if rate >= 1.0 {
        return true;
    }
    // FNV-1a, then a finaliser: ids like "u1", "u2" spread evenly.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in user.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    ((h >> 11) as f64 / (1u64 << 53) as f64) < rate
}

/// The rows of `range` whose users are in the sample, in input order.
pub fn sample_rows(range: &Table, rate: f64) -> Result<Table> {
    if rate >= 1.0 {
        return Ok(range.clone());
    }
    let (dict, codes) = range.codes("USER_ID").ok_or_else(|| {
        Error::InvalidInput("the interactions dataset has no USER_ID column".into())
    })?;
    let keep: Vec<bool> = dict.iter().map(|u| sampled(u, rate)).collect();
    let rows: Vec<usize> = (0..range.rows())
        .filter(|&r| keep[codes[r] as usize])
        .collect();
    Ok(range.take(&rows))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::data::Values;
    use crate::evaluation::quality_split;
    use crate::recipes::als_shards::split_rows;
    use crate::recipes::components::ItemComponents;
    use crate::recipes::next_items::USER_PERSONALIZATION;
    use crate::recipes::{chain, Hyperparameters, TrainingData};
    use crate::sample::SplitMix;
    use crate::schema::{DatasetSchema, DatasetType};

    fn schema() -> Arc<DatasetSchema> {
        let json = r#"{"type":"record","name":"Interactions","namespace":"com.amazonaws.personalize.schema","fields":[
            {"name":"USER_ID","type":"string"},{"name":"ITEM_ID","type":"string"},
            {"name":"TIMESTAMP","type":"long"},{"name":"EVENT_TYPE","type":"string"}],"version":"1.0"}"#;
        let mut s = DatasetSchema::parse(json).unwrap();
        s.dataset_type = DatasetType::Interactions;
        Arc::new(s)
    }

    /// Interactions with skewed items, repeated items, tied timestamps, out-of-order rows,
    /// a "skip" event type the config drops, and users whose every event is dropped.
    fn table(rows: usize) -> Table {
        let mut rng = SplitMix::new(41);
        let mut t = Table::empty(schema());
        for r in 0..rows {
            let u = rng.below(300);
            let x = rng.unit();
            let item = format!("i{}", (x * x * 400.0) as usize);
            let kind = if u.is_multiple_of(37) || rng.below(9) == 0 {
                "skip"
            } else {
                "click"
            };
            let ts = (r / 3) as i64 - rng.below(50) as i64;
            push(&mut t, &format!("u{u}"), &item, ts, kind);
        }
        // Two users on items nobody else chose: islands of the item graph.
        for k in 0..2 {
            for j in 0..3 {
                let ts = (rows / 3 + j) as i64;
                push(
                    &mut t,
                    &format!("v{k}"),
                    &format!("only{k}-{j}"),
                    ts,
                    "click",
                );
            }
        }
        t
    }

    fn push(t: &mut Table, user: &str, item: &str, ts: i64, kind: &str) {
        for (col, v) in t.columns.iter_mut().zip([user, item, "", kind]) {
            match col {
                Values::Codes { dict, codes } => codes.push(dict.intern(v)),
                Values::Long { data, .. } => data.push(ts),
                _ => unreachable!(),
            }
        }
    }

    fn config() -> EventConfig {
        EventConfig {
            event_type: Some("click".into()),
            ..EventConfig::default()
        }
    }

    /// The ranges a table's rows cut into, each a table of its own (own dictionaries).
    fn ranges(t: &Table, n: usize) -> Vec<Table> {
        let per = t.rows().div_ceil(n);
        (0..n)
            .map(|k| {
                let rows: Vec<usize> = (k * per..((k + 1) * per).min(t.rows())).collect();
                t.take(&rows)
            })
            .collect()
    }

    #[test]
    fn the_shuffled_rows_are_the_single_process_rows() {
        let t = table(6000);
        let catalogue: IdDict = ["i3", "extra1", "extra2"]
            .map(String::from)
            .into_iter()
            .collect();
        let mut data = TrainingData::from_tables(&t, None, &config()).unwrap();
        for id in catalogue.iter() {
            data.items.intern(id);
        }
        for (tuned, percentiles) in [(true, false), (false, true)] {
            let mut hp = Hyperparameters::new()
                .with("factors", "8")
                .with("als_iterations", "3");
            if !tuned {
                hp = hp.with("factor_weight", "0.5");
            }
            if percentiles {
                hp = hp
                    .with("min_user_history_length_percentile", "0.1")
                    .with("max_user_history_length_percentile", "0.9");
            }
            let chain = chain::chain(USER_PERSONALIZATION, &data, &hp)
                .unwrap()
                .unwrap();
            assert_eq!(chain.phases.len(), if tuned { 3 } else { 2 });
            let parts = ranges(&t, 5);
            let mut merged = Merged::default();
            for r in &parts {
                let s = scan(r, &config()).unwrap();
                merged.add(&Merged::from_bytes(&s.to_bytes()).unwrap());
            }
            merged.add_catalogue(&catalogue);
            let merged = Merged::from_bytes(&merged.to_bytes()).unwrap();
            assert_eq!((&merged.users, &merged.items), (&data.users, &data.items));
            assert_eq!(
                merged.longest(),
                data.histories.iter().map(Vec::len).max().unwrap()
            );
            let plan = merged.plan(&chain, 3);
            let kept = merged.kept_lengths(&chain);
            let cuts: Vec<Vec<UserPiece>> = parts
                .iter()
                .map(|r| cut(r, &config(), &merged, &plan).unwrap())
                .collect();
            let mut user_out = Vec::new();
            let mut item_users = vec![0u32; plan.n_items];
            let mut links = Links::new(plan.n_items);
            for s in 0..plan.shards(Side::Users) {
                let pieces: Vec<UserPiece> = cuts
                    .iter()
                    .map(|c| UserPiece::from_bytes(&c[s].to_bytes()).unwrap())
                    .collect();
                let (rows, counts) = users(&plan, &kept, s, &pieces).unwrap();
                item_users
                    .iter_mut()
                    .zip(counts.item_users)
                    .for_each(|(a, b)| *a += b);
                counts.links.iter().for_each(|&(i, r)| links.join(i, r));
                user_out.push(rows);
            }
            assert_eq!(item_users, data.item_users());
            let components = ItemComponents::of(&data);
            assert!(components.as_ref().is_some_and(|c| c.count() >= 3));
            assert_eq!(links.components(), components);
            let split = quality_split(&data);
            for (p, &(phase, _)) in plan.phases.iter().enumerate() {
                let (want_users, want_items) = split_rows(&chain.data(phase, &data, &split), &plan);
                for (s, want) in want_users.iter().enumerate() {
                    assert_eq!(
                        user_out[s][p].rows.to_bytes(),
                        want.to_bytes(),
                        "{phase:?} users {s}"
                    );
                }
                for (s, want) in want_items.iter().enumerate() {
                    let pieces: Vec<ItemPiece> = user_out
                        .iter()
                        .map(|u| ItemPiece::from_bytes(&u[p].transposed[s].to_bytes()).unwrap())
                        .collect();
                    let got = items(&plan, s, &pieces).unwrap();
                    assert_eq!(got.to_bytes(), want.to_bytes(), "{phase:?} items {s}");
                }
            }
        }
    }

    #[test]
    fn a_range_coded_against_other_ids_is_refused() {
        let t = table(500);
        let parts = ranges(&t, 2);
        let mut merged = Merged::default();
        merged.add(&scan(&parts[0], &config()).unwrap());
        let hp = Hyperparameters::new().with("factors", "8");
        let data = TrainingData::from_tables(&t, None, &config()).unwrap();
        let chain = chain::chain(USER_PERSONALIZATION, &data, &hp)
            .unwrap()
            .unwrap();
        let plan = merged.plan(&chain, 2);
        let err = cut(&parts[1], &config(), &merged, &plan).unwrap_err();
        assert!(err.to_string().contains("not in the merged ids"), "{err}");
    }

    #[test]
    fn the_sample_keeps_whole_users_at_about_its_rate() {
        let t = table(20_000);
        let rows = sample_rows(&t, 0.25).unwrap();
        let (dict, _) = t.codes("USER_ID").unwrap();
        let kept = dict.iter().filter(|u| sampled(u, 0.25)).count();
        assert!((50..=100).contains(&kept), "{kept} of 300 users");
        let (sd, sc) = rows.codes("USER_ID").unwrap();
        assert!(sc.iter().all(|&c| sampled(sd.name(c), 0.25)));
        let (_, all) = t.codes("USER_ID").unwrap();
        let want = all.iter().filter(|&&c| sampled(dict.name(c), 0.25)).count();
        assert_eq!(rows.rows(), want);
        assert_eq!(sample_rows(&t, 1.0).unwrap(), t);
    }
}
