//! [`factors::fit`] split by rows, so the training state machine can fan it out: users and items
//! are cut into contiguous row ranges ("shards"); one half-sweep solves one shard of one side
//! against the whole other side; the shards of a side are gathered before the other side's
//! half-sweep reads them.
//!
//! Within a half-sweep every row is solved independently from the other side's factors and their
//! Gram matrix, so solving the shards apart is the same computation as one sweep — the same
//! random start, the same order of half-sweeps, the same warm-started conjugate-gradient steps;
//! only the Gram matrix's float summation order may differ. The model equals the single-process
//! fit's within float tolerance (tested below).
//!
//! Shards travel between steps as model artifacts ([`ArtifactWriter`]: magic, format version,
//! JSON header, sections, checksum) whose header names what they are:
//!
//! ```text
//! als-plan      header: the plan (params, sizes, rows per shard)            no sections
//! als-rows      header: side, shard, first row, rows    LENS u32 per row | COLS u32 | CONF f32
//! als-factors   header: side, shard, iteration, first row, rows, factors    FACT f32 row-major
//! ```

use std::ops::Range;

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::chain::{Chain, Phase};
use super::factors::{self, AlsParams, Csr, ItemFactors};
use super::{ArtifactError, ArtifactReader, ArtifactWriter, TrainingData};
use crate::error::{Error, Result};

/// Which factors a shard holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    Users,
    Items,
}

impl Side {
    pub fn name(self) -> &'static str {
        match self {
            Side::Users => "users",
            Side::Items => "items",
        }
    }
}

/// How a fit is cut: its parameters, its sizes, the rows of each shard of each side, and the
/// phases its sweeps run in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Plan {
    /// The fit's parameters (`als.iterations` unused: the phases say the sweeps).
    pub als: AlsParams,
    pub n_users: usize,
    pub n_items: usize,
    /// Where each user shard starts, then `n_users`: shard `s` holds rows
    /// `user_bounds[s]..user_bounds[s + 1]`.
    pub user_bounds: Vec<usize>,
    /// The same for the items.
    pub item_bounds: Vec<usize>,
    /// The phases of [`chain`](super::chain) in order, with their sweeps. Each phase solves
    /// its own rows; its first sweep starts the users afresh from the random start and the
    /// items from the previous phase's factors, as `factors::fit` with a start does.
    pub phases: Vec<(Phase, usize)>,
}

/// Shard starts (then `n`) cutting `n` rows into `shards` ranges of (nearly) equal rows.
fn equal_bounds(n: usize, shards: usize) -> Vec<usize> {
    let rows = n.div_ceil(shards.max(1)).max(1);
    let mut b: Vec<usize> = (0..n).step_by(rows).collect();
    b.push(n);
    if b.len() == 1 {
        b.insert(0, 0);
    }
    b
}

/// Shard starts (then the row count) cutting rows of the given costs into at most `shards`
/// contiguous ranges of (nearly) equal cost: each shard ends at the first row where the
/// running cost reaches its share, so no shard is empty and one costlier than its share holds
/// a single row.
pub fn balanced_bounds(cost: &[u64], shards: usize) -> Vec<usize> {
    let n = cost.len();
    let total: u64 = cost.iter().sum();
    let shards = shards.clamp(1, n.max(1));
    let mut b = vec![0];
    let mut run = 0u64;
    for (r, &c) in cost.iter().enumerate() {
        run += c;
        let k = b.len() as u64; // shards closed so far, plus the open one
        if r + 1 < n && b.len() < shards && run * shards as u64 >= k * total {
            b.push(r + 1);
        }
    }
    b.push(n);
    b
}

impl Plan {
    /// A plan with `user_shards` and `item_shards` shards of (nearly) equal rows, for one
    /// `final` phase of `als.iterations` sweeps.
    pub fn new(
        als: AlsParams,
        n_users: usize,
        n_items: usize,
        user_shards: usize,
        item_shards: usize,
    ) -> Plan {
        Plan {
            als,
            n_users,
            n_items,
            user_bounds: equal_bounds(n_users, user_shards),
            item_bounds: equal_bounds(n_items, item_shards),
            phases: vec![(Phase::Final, als.iterations)],
        }
    }

    /// The plan of a version's chain over `data`, `shards` shards a side, cut so that each
    /// shard of a side costs about the same to solve. A row's solve costs about its nonzeros
    /// plus the factors (the conjugate-gradient steps' products), so under skewed popularity
    /// an item shard of equal rows would hold most of the events in its first shard (item codes
    /// follow first appearance, and popular items appear first).
    pub fn for_chain(chain: &Chain, data: &TrainingData, shards: usize) -> Plan {
        let als = chain.als(0);
        let f = als.factors as u64;
        let users: Vec<u64> = data
            .distinct_items()
            .iter()
            .map(|items| items.len() as u64 + f)
            .collect();
        let items: Vec<u64> = data.item_users().iter().map(|&c| c as u64 + f).collect();
        Plan {
            als,
            n_users: users.len(),
            n_items: items.len(),
            user_bounds: balanced_bounds(&users, shards),
            item_bounds: balanced_bounds(&items, shards),
            phases: chain.phases.clone(),
        }
    }

    /// Every sweep the state machine runs, all phases.
    pub fn iterations(&self) -> usize {
        self.phases.iter().map(|p| p.1).sum()
    }

    /// The phase of sweep `iteration` (from 1) and whether it is the phase's first.
    fn phase_at(&self, iteration: usize) -> (Phase, bool) {
        let mut first = 1;
        for &(phase, n) in &self.phases {
            if iteration < first + n {
                return (phase, iteration == first);
            }
            first += n;
        }
        (Phase::Final, false)
    }

    /// Whose rows sweep `iteration` (from 1) solves.
    pub fn phase_of(&self, iteration: usize) -> Phase {
        self.phase_at(iteration).0
    }

    /// The last sweep of `phase`, if the plan has it.
    pub fn end_of(&self, phase: Phase) -> Option<usize> {
        let mut end = 0;
        for &(p, n) in &self.phases {
            end += n;
            if p == phase {
                return Some(end);
            }
        }
        None
    }

    /// The iteration whose factors of `side` sweep `iteration` starts from: the previous one,
    /// except that each phase's users start afresh from the random start.
    pub fn start_of(&self, side: Side, iteration: usize) -> usize {
        if side == Side::Users && self.phase_at(iteration).1 {
            0
        } else {
            iteration - 1
        }
    }

    fn size(&self, side: Side) -> usize {
        match side {
            Side::Users => self.n_users,
            Side::Items => self.n_items,
        }
    }

    fn bounds(&self, side: Side) -> &[usize] {
        match side {
            Side::Users => &self.user_bounds,
            Side::Items => &self.item_bounds,
        }
    }

    /// The shard of `side` holding row `row`.
    pub fn shard_of(&self, side: Side, row: usize) -> usize {
        let b = self.bounds(side);
        b.partition_point(|&start| start <= row)
            .saturating_sub(1)
            .min(self.shards(side) - 1)
    }

    pub fn shards(&self, side: Side) -> usize {
        self.bounds(side).len().saturating_sub(1).max(1)
    }

    /// The rows of shard `s` of `side` (empty past the last shard).
    pub fn range(&self, side: Side, s: usize) -> Range<usize> {
        let b = self.bounds(side);
        let n = self.size(side);
        match (b.get(s), b.get(s + 1)) {
            (Some(&a), Some(&z)) => a.min(n)..z.min(n),
            _ => n..n,
        }
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        ArtifactWriter::new(&json!({ "kind": "als-plan", "plan": self })).finish()
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Plan, ArtifactError> {
        let r = ArtifactReader::parse(bytes)?;
        expect_kind(&r, "als-plan")?;
        let plan: Plan = serde_json::from_value(r.header["plan"].clone())
            .map_err(|e| ArtifactError::Corrupt(format!("als-plan header: {e}")))?;
        let cuts = |b: &[usize], n: usize| {
            b.len() >= 2 && b[0] == 0 && b[b.len() - 1] == n && b.windows(2).all(|w| w[0] <= w[1])
        };
        if !cuts(&plan.user_bounds, plan.n_users) || !cuts(&plan.item_bounds, plan.n_items) {
            return Err(ArtifactError::Corrupt("als-plan shard bounds".into()));
        }
        Ok(plan)
    }
}

/// Fails unless the artifact's header names it `kind`.
pub(crate) fn expect_kind(r: &ArtifactReader, kind: &str) -> Result<(), ArtifactError> {
    if r.header["kind"] != kind {
        return Err(ArtifactError::Corrupt(format!(
            "expected {kind}, found {}",
            r.header["kind"]
        )));
    }
    Ok(())
}

fn header_usize(r: &ArtifactReader, field: &str) -> Result<usize, ArtifactError> {
    r.header[field]
        .as_u64()
        .map(|v| v as usize)
        .ok_or_else(|| ArtifactError::Corrupt(format!("header field {field}")))
}

fn header_side(r: &ArtifactReader) -> Result<Side, ArtifactError> {
    serde_json::from_value(r.header["side"].clone())
        .map_err(|_| ArtifactError::Corrupt("header field side".into()))
}

/// One shard's rows of the confidence matrix (users × items, or its transpose), with row
/// numbers local to the shard and column numbers global.
pub struct ShardRows {
    pub side: Side,
    pub shard: usize,
    pub first: usize,
    csr: Csr,
}

impl ShardRows {
    pub(crate) fn new(side: Side, shard: usize, first: usize, csr: Csr) -> ShardRows {
        ShardRows {
            side,
            shard,
            first,
            csr,
        }
    }

    pub fn rows(&self) -> usize {
        self.csr.ptr.len() - 1
    }

    pub fn nnz(&self) -> usize {
        self.csr.cols.len()
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let lens: Vec<u32> = self
            .csr
            .ptr
            .windows(2)
            .map(|w| (w[1] - w[0]) as u32)
            .collect();
        let mut w = ArtifactWriter::new(&json!({
            "kind": "als-rows",
            "side": self.side,
            "shard": self.shard,
            "first": self.first,
            "rows": self.rows(),
        }));
        w.u32s(b"LENS", &lens)
            .u32s(b"COLS", &self.csr.cols)
            .f32s(b"CONF", &self.csr.conf);
        w.finish()
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<ShardRows, ArtifactError> {
        let r = ArtifactReader::parse(bytes)?;
        expect_kind(&r, "als-rows")?;
        let lens = r.u32s(b"LENS")?;
        let cols = r.u32s(b"COLS")?;
        let conf = r.f32s(b"CONF")?;
        let mut ptr = Vec::with_capacity(lens.len() + 1);
        ptr.push(0usize);
        for l in &lens {
            ptr.push(ptr[ptr.len() - 1] + *l as usize);
        }
        if lens.len() != header_usize(&r, "rows")?
            || ptr[lens.len()] != cols.len()
            || cols.len() != conf.len()
        {
            return Err(ArtifactError::Corrupt("als-rows lengths disagree".into()));
        }
        Ok(ShardRows {
            side: header_side(&r)?,
            shard: header_usize(&r, "shard")?,
            first: header_usize(&r, "first")?,
            csr: Csr { ptr, cols, conf },
        })
    }
}

/// Rows `range` of `m`, renumbered from 0.
fn slice(m: &Csr, range: Range<usize>) -> Csr {
    let (a, b) = (m.ptr[range.start], m.ptr[range.end]);
    Csr {
        ptr: m.ptr[range.start..=range.end]
            .iter()
            .map(|p| p - a)
            .collect(),
        cols: m.cols[a..b].to_vec(),
        conf: m.conf[a..b].to_vec(),
    }
}

/// Every shard's rows, users then items, from data already filtered as the recipe filters it.
pub fn split_rows(data: &TrainingData, plan: &Plan) -> (Vec<ShardRows>, Vec<ShardRows>) {
    let users = Csr::users(data, plan.als.alpha);
    let items = users.transpose(plan.n_items);
    let cut = |m: &Csr, side: Side| -> Vec<ShardRows> {
        (0..plan.shards(side))
            .map(|s| {
                let range = plan.range(side, s);
                ShardRows {
                    side,
                    shard: s,
                    first: range.start,
                    csr: slice(m, range),
                }
            })
            .collect()
    };
    (cut(&users, Side::Users), cut(&items, Side::Items))
}

/// One shard's factors after `iteration` sweeps (0: the random start).
#[derive(Debug, Clone, PartialEq)]
pub struct FactorShard {
    pub side: Side,
    pub shard: usize,
    pub iteration: usize,
    pub first: usize,
    pub factors: usize,
    pub values: Vec<f32>,
}

impl FactorShard {
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = ArtifactWriter::new(&json!({
            "kind": "als-factors",
            "side": self.side,
            "shard": self.shard,
            "iteration": self.iteration,
            "first": self.first,
            "rows": self.values.len() / self.factors.max(1),
            "factors": self.factors,
        }));
        w.f32s(b"FACT", &self.values);
        w.finish()
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<FactorShard, ArtifactError> {
        let r = ArtifactReader::parse(bytes)?;
        expect_kind(&r, "als-factors")?;
        let values = r.f32s(b"FACT")?;
        let factors = header_usize(&r, "factors")?;
        if values.len() != header_usize(&r, "rows")? * factors {
            return Err(ArtifactError::Corrupt("als-factors length".into()));
        }
        Ok(FactorShard {
            side: header_side(&r)?,
            shard: header_usize(&r, "shard")?,
            iteration: header_usize(&r, "iteration")?,
            first: header_usize(&r, "first")?,
            factors,
            values,
        })
    }
}

/// The random start, cut into shards: what `factors::fit` starts from.
pub fn initial_shards(plan: &Plan) -> (Vec<FactorShard>, Vec<FactorShard>) {
    let f = plan.als.factors;
    let (x, y) = factors::initial_factors(plan.n_users, plan.n_items, f);
    let cut = |v: &[f32], side: Side| -> Vec<FactorShard> {
        (0..plan.shards(side))
            .map(|s| {
                let r = plan.range(side, s);
                FactorShard {
                    side,
                    shard: s,
                    iteration: 0,
                    first: r.start,
                    factors: f,
                    values: v[r.start * f..r.end * f].to_vec(),
                }
            })
            .collect()
    };
    (cut(&x, Side::Users), cut(&y, Side::Items))
}

/// One shard's half-sweep of `iteration`: its rows re-solved, warm-started from `own` (of
/// [`Plan::start_of`] that iteration), against the whole other side after its latest half-sweep
/// (`other`, gathered).
pub fn solve(
    plan: &Plan,
    rows: &ShardRows,
    own: &FactorShard,
    other: &[f32],
    iteration: usize,
) -> Result<FactorShard> {
    let f = plan.als.factors;
    let other_n = match rows.side {
        Side::Users => plan.n_items,
        Side::Items => plan.n_users,
    };
    let range = plan.range(rows.side, rows.shard);
    if (own.side, own.shard, own.first, own.factors) != (rows.side, rows.shard, rows.first, f)
        || rows.first != range.start
        || rows.rows() != range.len()
        || own.values.len() != range.len() * f
        || other.len() != other_n * f
        || iteration == 0
        || own.iteration != plan.start_of(rows.side, iteration)
    {
        return Err(Error::Internal(format!(
            "shard {} of {} does not match the plan",
            rows.shard,
            rows.side.name()
        )));
    }
    let mut x = own.values.clone();
    factors::sweep(&mut x, other, &rows.csr, plan.als.reg, f, plan.als.cg_steps);
    Ok(FactorShard {
        iteration,
        values: x,
        ..own.clone()
    })
}

/// One side's factors from all its shards of one iteration; fails naming a shard that is missing,
/// repeated, from another iteration or of the wrong size.
pub fn gather(
    plan: &Plan,
    side: Side,
    iteration: usize,
    mut shards: Vec<FactorShard>,
) -> Result<Vec<f32>> {
    let f = plan.als.factors;
    shards.sort_by_key(|s| s.shard);
    let n = plan.shards(side);
    let mut out = Vec::with_capacity(plan.size(side) * f);
    for s in 0..n {
        let found: Vec<&FactorShard> = shards.iter().filter(|x| x.shard == s).collect();
        let range = plan.range(side, s);
        match found.as_slice() {
            [x] if x.side == side
                && x.iteration == iteration
                && x.first == range.start
                && x.values.len() == range.len() * f =>
            {
                out.extend_from_slice(&x.values)
            }
            _ => {
                return Err(Error::Internal(format!(
                    "{} shard {s} of iteration {iteration}: {} matching objects, want one",
                    side.name(),
                    found.len()
                )))
            }
        }
    }
    if shards.len() != n {
        return Err(Error::Internal(format!(
            "{} shards of iteration {iteration}: {} objects for {n} shards",
            side.name(),
            shards.len()
        )));
    }
    Ok(out)
}

/// The item factors a finished fit serves: `y` and its regularised Gram matrix.
pub fn item_factors(plan: &Plan, y: Vec<f32>) -> ItemFactors {
    let f = plan.als.factors;
    let g = factors::gram(&y, f, plan.als.reg);
    ItemFactors::new(f, y, g, plan.als.alpha)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evaluation::quality_split;
    use crate::recipes::chain::{self, ChainFactors, Trained};
    use crate::recipes::next_items::{self, NextItems, USER_PERSONALIZATION};
    use crate::recipes::{Event, Hyperparameters, Model};
    use crate::sample::SplitMix;

    /// Users with skewed item popularity and varied history lengths, some with none.
    fn data(users: usize, items: usize) -> TrainingData {
        let mut rng = SplitMix::new(17);
        let mut d = TrainingData::default();
        for i in 0..items {
            d.items.intern(&format!("i{i}"));
        }
        for u in 0..users {
            d.users.intern(&format!("u{u}"));
            let n = if u % 11 == 0 { 0 } else { 3 + rng.below(25) };
            let h = (0..n)
                .map(|k| {
                    let r = rng.unit();
                    Event {
                        item: ((r * r * items as f64) as u32).min(items as u32 - 1),
                        ts: k as i64,
                        weight: 1.0,
                        ctx: 0,
                    }
                })
                .collect();
            d.histories.push(h);
        }
        d
    }

    /// Users of `k` taste clusters, each with events on its own cluster's items only: data on
    /// which factors help, so tuning keeps them.
    fn clustered(users: usize, items: usize, k: usize) -> TrainingData {
        let mut rng = SplitMix::new(23);
        let mut d = TrainingData::default();
        for i in 0..items {
            d.items.intern(&format!("i{i}"));
        }
        let per = items / k;
        for u in 0..users {
            d.users.intern(&format!("u{u}"));
            let c = u % k;
            let h = (0..6 + rng.below(20))
                .map(|t| {
                    let r = rng.unit();
                    Event {
                        item: (c * per + ((r * r * per as f64) as usize).min(per - 1)) as u32,
                        ts: t as i64,
                        weight: 1.0,
                        ctx: 0,
                    }
                })
                .collect();
            d.histories.push(h);
        }
        d
    }

    fn als() -> AlsParams {
        AlsParams {
            factors: 8,
            iterations: 6,
            alpha: 2.0,
            reg: 0.5,
            cg_steps: 2,
        }
    }

    /// The state machine's schedule, in process, every object through its bytes: per iteration
    /// all user shards against the gathered items, then all item shards against the gathered
    /// users.
    fn fit_sharded(d: &TrainingData, plan: &Plan) -> ItemFactors {
        let mut rows = |_: Phase| d.clone();
        fit_phases(&mut rows, plan).final_.unwrap()
    }

    /// Every sweep of `plan` as the state machine runs it, each object through its bytes, each
    /// phase on the rows of `rows(phase)`; the item factors at the end of each phase.
    fn fit_phases(rows: &mut dyn FnMut(Phase) -> TrainingData, plan: &Plan) -> ChainFactors {
        let round = |s: &FactorShard| FactorShard::from_bytes(&s.to_bytes()).unwrap();
        let plan = Plan::from_bytes(&plan.to_bytes()).unwrap();
        let mut rows_of = |phase: Phase| {
            let (u, i) = split_rows(&rows(phase), &plan);
            let back = |v: Vec<ShardRows>| -> Vec<ShardRows> {
                v.iter()
                    .map(|r| ShardRows::from_bytes(&r.to_bytes()).unwrap())
                    .collect()
            };
            (back(u), back(i))
        };
        type Sides = (Vec<ShardRows>, Vec<ShardRows>);
        let phase_rows: Vec<(Phase, Sides)> =
            plan.phases.iter().map(|&(p, _)| (p, rows_of(p))).collect();
        let (x0, y0) = initial_shards(&plan);
        let mut xs: Vec<Vec<FactorShard>> = vec![x0];
        let mut ys: Vec<Vec<FactorShard>> = vec![y0];
        for it in 1..=plan.iterations() {
            let phase = plan.phase_of(it);
            let (urows, irows) = &phase_rows.iter().find(|r| r.0 == phase).unwrap().1;
            let y = gather(
                &plan,
                Side::Items,
                it - 1,
                ys[it - 1].iter().map(round).collect(),
            )
            .unwrap();
            let own = &xs[plan.start_of(Side::Users, it)];
            xs.push(
                urows
                    .iter()
                    .zip(own)
                    .map(|(r, x)| solve(&plan, r, x, &y, it).unwrap())
                    .collect(),
            );
            let x = gather(&plan, Side::Users, it, xs[it].iter().map(round).collect()).unwrap();
            let own = &ys[plan.start_of(Side::Items, it)];
            ys.push(
                irows
                    .iter()
                    .zip(own)
                    .map(|(r, y)| solve(&plan, r, y, &x, it).unwrap())
                    .collect(),
            );
        }
        let mut out = ChainFactors::default();
        for &(phase, _) in &plan.phases {
            let end = plan.end_of(phase).unwrap();
            out.set(
                phase,
                item_factors(
                    &plan,
                    gather(&plan, Side::Items, end, ys[end].clone()).unwrap(),
                ),
            );
        }
        out
    }

    fn max_rel_diff(a: &[f32], b: &[f32]) -> f32 {
        let scale = a.iter().fold(0f32, |m, v| m.max(v.abs()));
        a.iter().zip(b).fold(0f32, |m, (x, y)| m.max((x - y).abs())) / scale
    }

    #[test]
    fn sharded_fit_equals_the_single_process_fit() {
        let d = data(500, 120);
        let p = als();
        let single = factors::fit(&d, &p, None, &mut |_| {});
        // 3 user shards and 4 item shards; uneven last shards.
        let plan = Plan::new(p, d.histories.len(), d.n_items(), 3, 4);
        assert_eq!((plan.shards(Side::Users), plan.shards(Side::Items)), (3, 4));
        let sharded = fit_sharded(&d, &plan);
        let diff = max_rel_diff(&single.y, &sharded.y);
        assert!(diff <= 1e-4, "item factors differ by {diff}");
        assert!(max_rel_diff(&single.gram, &sharded.gram) <= 1e-4);
        // Not trivially equal: the fit moved far from its random start.
        let (_, y0) = factors::initial_factors(d.histories.len(), d.n_items(), p.factors);
        assert!(max_rel_diff(&single.y, &y0) > 0.5);
    }

    #[test]
    fn a_shard_solved_against_stale_factors_is_detected_by_the_comparison() {
        // The check above can fail: solving users against the random start every iteration
        // (items never exchanged) gives other factors.
        let d = data(300, 80);
        let p = als();
        let single = factors::fit(&d, &p, None, &mut |_| {});
        let plan = Plan::new(p, d.histories.len(), d.n_items(), 2, 2);
        let (urows, irows) = split_rows(&d, &plan);
        let (mut xs, mut ys) = initial_shards(&plan);
        let stale = gather(&plan, Side::Items, 0, ys.clone()).unwrap();
        for it in 1..=p.iterations {
            xs = urows
                .iter()
                .zip(&xs)
                .map(|(r, x)| solve(&plan, r, x, &stale, it).unwrap())
                .collect();
            let x = gather(&plan, Side::Users, it, xs.clone()).unwrap();
            ys = irows
                .iter()
                .zip(&ys)
                .map(|(r, y)| solve(&plan, r, y, &x, it).unwrap())
                .collect();
        }
        let y = gather(&plan, Side::Items, p.iterations, ys).unwrap();
        assert!(max_rel_diff(&single.y, &y) > 1e-2);
    }

    #[test]
    fn shards_are_cut_by_cost_not_rows() {
        // Zipf-like costs, the heaviest rows first (as item codes come under skewed popularity).
        let cost: Vec<u64> = (0..10_000u64).map(|r| 10 + 100_000 / (r + 1)).collect();
        let total: u64 = cost.iter().sum();
        for shards in [1, 2, 3, 7, 16] {
            let b = balanced_bounds(&cost, shards);
            assert_eq!(
                (b[0], *b.last().unwrap(), b.len()),
                (0, cost.len(), shards + 1)
            );
            let costs: Vec<u64> = b
                .windows(2)
                .map(|w| cost[w[0]..w[1]].iter().sum())
                .collect();
            let heaviest_row = cost[0];
            for c in &costs {
                assert!(*c > 0);
                // Each shard within one row of its share.
                assert!(
                    c.abs_diff(total / shards as u64) <= heaviest_row,
                    "{costs:?}"
                );
            }
        }
        // Equal rows would load the first of 7 shards with 2.6 times its share.
        let equal = equal_bounds(cost.len(), 7);
        let first: u64 = cost[equal[0]..equal[1]].iter().sum();
        assert!(first * 7 > 2 * total);
        // One row costlier than a share is a shard of its own; no shard is empty; never more
        // shards than rows.
        assert_eq!(balanced_bounds(&[100, 1, 1, 1], 3), vec![0, 1, 2, 4]);
        assert_eq!(balanced_bounds(&[5, 5], 8), vec![0, 1, 2]);
        assert_eq!(balanced_bounds(&[], 4), vec![0, 0]);
    }

    #[test]
    fn a_chain_plan_balances_both_sides_and_survives_its_round_trip() {
        let d = clustered(600, 120, 6);
        let hp = Hyperparameters::new().with("factors", "8");
        let c = chain::chain(USER_PERSONALIZATION, &d, &hp)
            .unwrap()
            .unwrap();
        let plan = Plan::for_chain(&c, &d, 4);
        assert_eq!((plan.shards(Side::Users), plan.shards(Side::Items)), (4, 4));
        let (users, items) = split_rows(&d, &plan);
        for side in [users, items] {
            let nnz: Vec<usize> = side.iter().map(|s| s.nnz() + 8 * s.rows()).collect();
            let mean = nnz.iter().sum::<usize>() / nnz.len();
            assert!(nnz.iter().all(|&n| n * 10 <= mean * 13), "{nnz:?}");
        }
        assert_eq!(Plan::from_bytes(&plan.to_bytes()).unwrap(), plan);
        let mut bad = plan.clone();
        bad.item_bounds[1] = plan.n_items + 1;
        assert!(Plan::from_bytes(&bad.to_bytes()).is_err());
    }

    #[test]
    fn gather_refuses_missing_repeated_and_stale_shards() {
        let d = data(100, 30);
        let plan = Plan::new(als(), d.histories.len(), d.n_items(), 3, 3);
        let (xs, _) = initial_shards(&plan);
        assert!(gather(&plan, Side::Users, 0, xs.clone()).is_ok());
        assert!(gather(&plan, Side::Users, 0, xs[..2].to_vec()).is_err());
        let mut twice = xs.clone();
        twice.push(xs[1].clone());
        assert!(gather(&plan, Side::Users, 0, twice).is_err());
        assert!(gather(&plan, Side::Users, 1, xs.clone()).is_err());
        assert!(gather(&plan, Side::Items, 0, xs).is_err());
    }

    #[test]
    fn shard_objects_are_versioned_and_checked() {
        let d = data(50, 20);
        let plan = Plan::new(als(), d.histories.len(), d.n_items(), 2, 2);
        let (urows, _) = split_rows(&d, &plan);
        let mut bytes = urows[1].to_bytes();
        assert_eq!(&bytes[..4], b"TLRM");
        let back = ShardRows::from_bytes(&bytes).unwrap();
        assert_eq!(
            (back.first, back.rows(), back.nnz()),
            (25, 25, urows[1].nnz())
        );
        let at = bytes.len() - 10;
        bytes[at] ^= 1;
        assert!(ShardRows::from_bytes(&bytes).is_err());
        // A factor shard is not a rows shard.
        let (xs, _) = initial_shards(&plan);
        assert!(ShardRows::from_bytes(&xs[0].to_bytes()).is_err());
        assert!(Plan::from_bytes(&xs[0].to_bytes()).is_err());
    }

    /// The learned part of a next-items model.
    fn learned(m: &Model) -> &NextItems {
        &m.learned
            .as_any()
            .downcast_ref::<next_items::UserPersonalization>()
            .unwrap()
            .0
    }

    /// Fits `hp`'s chain on `d` sharded 3 ways and in one process; both versions' models.
    fn both(d: &TrainingData, hp: &Hyperparameters, sharded: bool) -> (Chain, Trained) {
        let recipe = USER_PERSONALIZATION;
        let c = chain::chain(recipe, d, hp).unwrap().unwrap();
        let split = quality_split(d);
        let fitted = if sharded {
            let plan = Plan::for_chain(&c, d, 3);
            fit_phases(&mut |p| c.data(p, d, &split).into_owned(), &plan)
        } else {
            chain::fit_factors(&c, d, &split, &mut |_| {})
        };
        let trained = chain::finish(recipe, &c, d, &split, fitted, None, &mut |_| {}).unwrap();
        (c, trained)
    }

    #[test]
    fn the_sharded_chain_makes_the_single_process_models() {
        let d = clustered(600, 120, 6);
        let given = Hyperparameters::new()
            .with("factors", "8")
            .with("factor_weight", "0.5")
            .with("als_iterations", "4");
        // No factor_weight: a trial on the evaluation part's validation split chooses it.
        let tuned = Hyperparameters::new()
            .with("factors", "8")
            .with("als_iterations", "6");
        for (hp, phases) in [(&given, 2), (&tuned, 3)] {
            let (c, whole) = both(&d, hp, false);
            assert_eq!(c.phases.len(), phases);
            let (_, sharded) = both(&d, hp, true);
            for (a, b) in [
                (&whole.model, &sharded.model),
                (&whole.evaluation, &sharded.evaluation),
            ] {
                assert_eq!(a.hyperparameters(), b.hyperparameters());
                let (a, b) = (learned(a), learned(b));
                assert_eq!((&a.b, &a.columns), (&b.b, &b.columns));
                assert_eq!(a.params, b.params);
                // Factors kept (they help on clustered data) and compared.
                let (fa, fb) = (a.factors.as_ref().unwrap(), b.factors.as_ref().unwrap());
                assert!(max_rel_diff(&fa.y, &fb.y) <= 1e-4);
            }
        }
        // Without factors there is nothing to shard.
        let none = Hyperparameters::new().with("factors", "0");
        let recipe = USER_PERSONALIZATION;
        assert!(!chain::fits_factors(recipe, &none).unwrap());
        assert!(!chain::fits_factors(crate::recipes::sims::SIMS, &Hyperparameters::new()).unwrap());
        assert!(chain::fits_factors(recipe, &given).unwrap());
    }

    #[test]
    fn a_sharded_chain_without_its_trial_is_another_model() {
        // The check above can fail: the later phases alone, from the random start, give other
        // factors than the whole chain.
        let d = clustered(600, 120, 6);
        let hp = Hyperparameters::new()
            .with("factors", "8")
            .with("als_iterations", "6");
        let (c, whole) = both(&d, &hp, false);
        let split = quality_split(&d);
        let mut plan = Plan::for_chain(&c, &d, 3);
        plan.phases.retain(|p| p.0 != Phase::Trial);
        let y = fit_phases(&mut |p| c.data(p, &d, &split).into_owned(), &plan);
        let fa = learned(&whole.model).factors.clone().unwrap();
        assert!(max_rel_diff(&fa.y, &y.final_.unwrap().y) > 1e-2);
    }
}
