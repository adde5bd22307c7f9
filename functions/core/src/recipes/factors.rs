//! Item factors by implicit-feedback alternating least squares (Hu, Koren & Volinsky 2008),
//! solved with a few conjugate-gradient steps per row as implicit does (Takács et al. 2011):
//! memory linear in users + items, no catalogue cap.
//!
//! ```text
//! c(u,i) = 1 + alpha · Σ weights of u's events on i          (confidence)
//! min Σ c(u,i) (p(u,i) − x_u·y_i)² + reg (|x|² + |y|²)         p = 1 where u met i
//! x_u = (YᵀY + reg·I + Yᵀ(C_u − I)Y)⁻¹ Yᵀ C_u p(u)              (and the same for y_i)
//! ```
//!
//! Only the item factors are kept: a user is folded in at request time from the history the
//! request has (the same solve as training's), so an event changes the very next answer and a
//! user never seen in training is served from a few events.

use rayon::prelude::*;

use super::{Event, TrainingData};
use crate::sample::SplitMix;

/// What the factorisation is fitted with.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AlsParams {
    pub factors: usize,
    pub iterations: usize,
    pub alpha: f32,
    pub reg: f32,
    /// Conjugate-gradient steps per row and sweep (warm-started from the last sweep).
    pub cg_steps: usize,
}

/// Row-major item factors, `n_items × factors`, and their regularised Gram matrix.
#[derive(Debug, Clone)]
pub struct ItemFactors {
    pub factors: usize,
    pub y: Vec<f32>,
    /// `YᵀY + reg·I`, `factors × factors`, row-major: what a fold-in starts from.
    pub gram: Vec<f32>,
    pub alpha: f32,
    /// `y` by tiles of [`TILE`] items, dimension-major within a tile: the exact scan is then
    /// `factors` vertical multiply-adds over an L1-resident slice of scores, with no
    /// per-item horizontal sums (built on load, never stored).
    tiles: Vec<f32>,
}

/// Items per scan tile.
const TILE: usize = 512;

/// Past this many items a request is answered through the retrieval index
/// ([`super::ivf`]), not a scan of the whole catalogue.
pub const EXACT_UP_TO: usize = 65_536;

fn tiles_of(y: &[f32], f: usize) -> Vec<f32> {
    let n = y.len() / f.max(1);
    let n_tiles = n.div_ceil(TILE);
    let mut t = vec![0f32; n_tiles * f * TILE];
    // Tiles are independent: filled in parallel, this is a tenth of a 100k-item model's load.
    t.par_chunks_mut((f * TILE).max(1))
        .zip(y.par_chunks(f.max(1) * TILE))
        .for_each(|(tile, rows)| {
            for (lane, row) in rows.chunks_exact(f).enumerate() {
                for (d, &v) in row.iter().enumerate() {
                    tile[d * TILE + lane] = v;
                }
            }
        });
    t
}

/// The artifact's content decides equality; the tiles are derived from it.
impl PartialEq for ItemFactors {
    fn eq(&self, o: &ItemFactors) -> bool {
        (self.factors, &self.y, &self.gram, self.alpha) == (o.factors, &o.y, &o.gram, o.alpha)
    }
}

/// A sparse matrix by rows: for row r, `cols[ptr[r]..ptr[r+1]]` with their confidences.
pub(crate) struct Csr {
    pub(crate) ptr: Vec<usize>,
    pub(crate) cols: Vec<u32>,
    pub(crate) conf: Vec<f32>,
}

impl Csr {
    pub(crate) fn row(&self, r: usize) -> (&[u32], &[f32]) {
        let (a, b) = (self.ptr[r], self.ptr[r + 1]);
        (&self.cols[a..b], &self.conf[a..b])
    }

    /// Users × items, repeated events summed, from the histories.
    pub(crate) fn users(data: &TrainingData, alpha: f32) -> Csr {
        Csr::from_histories(data.histories.iter().map(Vec::as_slice), alpha)
    }

    /// One row per history, repeated events summed.
    pub(crate) fn from_histories<'a>(
        histories: impl ExactSizeIterator<Item = &'a [Event]>,
        alpha: f32,
    ) -> Csr {
        let mut ptr = Vec::with_capacity(histories.len() + 1);
        let mut cols = Vec::new();
        let mut conf = Vec::new();
        ptr.push(0);
        let mut row: Vec<(u32, f32)> = Vec::new();
        for h in histories {
            row.clear();
            row.extend(h.iter().map(|e| (e.item, e.weight)));
            row.sort_unstable_by_key(|&(i, _)| i);
            let mut k = 0;
            while k < row.len() {
                let (item, mut w) = row[k];
                k += 1;
                while k < row.len() && row[k].0 == item {
                    w += row[k].1;
                    k += 1;
                }
                cols.push(item);
                conf.push(1.0 + alpha * w);
            }
            ptr.push(cols.len());
        }
        Csr { ptr, cols, conf }
    }

    /// The transpose, over `n_cols` columns.
    pub(crate) fn transpose(&self, n_cols: usize) -> Csr {
        let mut counts = vec![0usize; n_cols + 1];
        for &c in &self.cols {
            counts[c as usize + 1] += 1;
        }
        for k in 0..n_cols {
            counts[k + 1] += counts[k];
        }
        let ptr = counts.clone();
        let mut next = counts;
        let mut cols = vec![0u32; self.cols.len()];
        let mut conf = vec![0f32; self.cols.len()];
        for r in 0..self.ptr.len() - 1 {
            let (cs, vs) = self.row(r);
            for (&c, &v) in cs.iter().zip(vs) {
                let at = next[c as usize];
                cols[at] = r as u32;
                conf[at] = v;
                next[c as usize] += 1;
            }
        }
        Csr { ptr, cols, conf }
    }
}

/// Dot product in 32 lanes — four independent vector chains, so it vectorises without
/// fast-math and is not bound by the add's latency.
#[inline(always)]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 32];
    let (ca, ra) = a.as_chunks::<32>();
    let (cb, rb) = b.as_chunks::<32>();
    for (x, y) in ca.iter().zip(cb) {
        for l in 0..32 {
            acc[l] += x[l] * y[l];
        }
    }
    let mut s: f32 = acc.iter().sum();
    for (x, y) in ra.iter().zip(rb) {
        s += x * y;
    }
    s
}

#[inline(always)]
fn axpy(out: &mut [f32], w: f32, x: &[f32]) {
    for (o, v) in out.iter_mut().zip(x) {
        *o += w * v;
    }
}

/// `m · v` for a symmetric row-major `m`, as a sum of its rows (no reduction chains).
#[inline(always)]
fn gemv(m: &[f32], v: &[f32], out: &mut [f32]) {
    let f = v.len();
    out.fill(0.0);
    for (j, &vj) in v.iter().enumerate() {
        axpy(out, vj, &m[j * f..(j + 1) * f]);
    }
}

/// `YᵀY + reg·I` over row-major factors, summed per thread in f64.
pub(crate) fn gram(y: &[f32], f: usize, reg: f32) -> Vec<f32> {
    let sum = y
        .par_chunks(f * 1024)
        .map(|block| {
            let mut g = vec![0f64; f * f];
            for row in block.chunks_exact(f) {
                for (a, &ra) in row.iter().enumerate() {
                    let g = &mut g[a * f..(a + 1) * f];
                    for (gb, &rb) in g.iter_mut().zip(row) {
                        *gb += (ra * rb) as f64;
                    }
                }
            }
            g
        })
        .reduce(
            || vec![0f64; f * f],
            |mut a, b| {
                a.iter_mut().zip(&b).for_each(|(x, y)| *x += y);
                a
            },
        );
    let mut g: Vec<f32> = sum.into_iter().map(|v| v as f32).collect();
    for d in 0..f {
        g[d * f + d] += reg;
    }
    g
}

/// Scratch space for one row's solve.
struct Cg {
    r: Vec<f32>,
    p: Vec<f32>,
    ap: Vec<f32>,
}

impl Cg {
    fn new(f: usize) -> Cg {
        Cg {
            r: vec![0.0; f],
            p: vec![0.0; f],
            ap: vec![0.0; f],
        }
    }

    /// Improves `x` towards `(G + Σ (c−1) y yᵀ) x = Σ c y` over the row's `(cols, conf)`.
    #[inline(always)]
    fn solve(
        &mut self,
        gram: &[f32],
        other: &[f32],
        cols: &[u32],
        conf: &[f32],
        x: &mut [f32],
        steps: usize,
    ) {
        let f = x.len();
        let Cg { r, p, ap } = self;
        gemv(gram, x, r);
        r.iter_mut().for_each(|v| *v = -*v);
        for (&c, &conf) in cols.iter().zip(conf) {
            let y = &other[c as usize * f..(c as usize + 1) * f];
            axpy(r, conf - (conf - 1.0) * dot(y, x), y);
        }
        p.copy_from_slice(r);
        let mut rs_old = dot(r, r);
        for _ in 0..steps {
            if rs_old < 1e-20 {
                break;
            }
            gemv(gram, p, ap);
            for (&c, &conf) in cols.iter().zip(conf) {
                let y = &other[c as usize * f..(c as usize + 1) * f];
                axpy(ap, (conf - 1.0) * dot(y, p), y);
            }
            let pap = dot(p, ap);
            if pap <= 0.0 {
                break;
            }
            let a = rs_old / pap;
            axpy(x, a, p);
            axpy(r, -a, ap);
            let rs_new = dot(r, r);
            for (pv, &rv) in p.iter_mut().zip(r.iter()) {
                *pv = rv + (rs_new / rs_old) * *pv;
            }
            rs_old = rs_new;
        }
    }
}

/// Rows solved per task: one SIMD dispatch (and one scratch space) per block.
const BLOCK: usize = 256;

/// One sweep: every row of `x` re-solved against `other` over `rows`.
pub(crate) fn sweep(x: &mut [f32], other: &[f32], rows: &Csr, reg: f32, f: usize, steps: usize) {
    // A struct, not a closure, so the solves inline into pulp's AVX2 frame (engine::simd).
    struct Block<'a> {
        x: &'a mut [f32],
        f: usize,
        first: usize,
        g: &'a [f32],
        other: &'a [f32],
        rows: &'a Csr,
        steps: usize,
    }
    impl pulp::WithSimd for Block<'_> {
        type Output = ();
        #[inline(always)]
        fn with_simd<S: pulp::Simd>(self, _: S) {
            let mut cg = Cg::new(self.f);
            for (k, xr) in self.x.chunks_exact_mut(self.f).enumerate() {
                let (cols, conf) = self.rows.row(self.first + k);
                if cols.is_empty() {
                    xr.fill(0.0);
                } else {
                    cg.solve(self.g, self.other, cols, conf, xr, self.steps);
                }
            }
        }
    }
    let g = gram(other, f, reg);
    x.par_chunks_mut(f * BLOCK).enumerate().for_each(|(b, x)| {
        pulp::Arch::new().dispatch(Block {
            x,
            f,
            first: b * BLOCK,
            g: &g,
            other,
            rows,
            steps,
        })
    });
}

/// Fits item factors; `progress` gets a fraction in [0, 1]. `start`, item factors fitted on
/// data much like this (same catalogue), replaces the random start: a few sweeps then suffice.
pub fn fit(
    data: &TrainingData,
    p: &AlsParams,
    start: Option<&ItemFactors>,
    progress: &mut dyn FnMut(f64),
) -> ItemFactors {
    let f = p.factors;
    let users = Csr::users(data, p.alpha);
    let items = users.transpose(data.n_items());
    let (mut x, random_y) = initial_factors(data.histories.len(), data.n_items(), f);
    let mut y = match start {
        Some(s) if s.factors == f && s.y.len() == data.n_items() * f => s.y.clone(),
        _ => random_y,
    };
    for it in 0..p.iterations {
        sweep(&mut x, &y, &users, p.reg, f, p.cg_steps);
        sweep(&mut y, &x, &items, p.reg, f, p.cg_steps);
        progress((it + 1) as f64 / p.iterations as f64);
    }
    let gram = gram(&y, f, p.reg);
    ItemFactors::new(f, y, gram, p.alpha)
}

/// The seeded random start of user then item factors (the sharded fit draws the same).
pub(crate) fn initial_factors(n_users: usize, n_items: usize, f: usize) -> (Vec<f32>, Vec<f32>) {
    let mut rng = SplitMix::new(0xA15_0000 + f as u64);
    let mut init = |n: usize| -> Vec<f32> {
        (0..n * f)
            .map(|_| (rng.unit() as f32) * 0.01)
            .collect::<Vec<f32>>()
    };
    let x = init(n_users);
    (x, init(n_items))
}

impl ItemFactors {
    pub fn new(factors: usize, y: Vec<f32>, gram: Vec<f32>, alpha: f32) -> ItemFactors {
        let mut m = ItemFactors {
            factors,
            y,
            gram,
            alpha,
            tiles: Vec::new(),
        };
        m.derive();
        m
    }

    /// Sets the factors of the given items (grown already) and rebuilds the scan copy.
    pub fn set_rows(&mut self, rows: &[(u32, Vec<f32>)]) {
        if rows.is_empty() {
            return;
        }
        let f = self.factors;
        for (i, v) in rows {
            if let Some(dst) = self.y.get_mut(*i as usize * f..(*i as usize + 1) * f) {
                dst.copy_from_slice(&v[..f]);
            }
        }
        self.derive();
    }

    /// Rebuilds the scan copy of `y`.
    fn derive(&mut self) {
        self.tiles = tiles_of(&self.y, self.factors);
    }

    pub fn n_items(&self) -> usize {
        self.y.len() / self.factors.max(1)
    }

    pub fn item(&self, i: u32) -> &[f32] {
        &self.y[i as usize * self.factors..(i as usize + 1) * self.factors]
    }

    /// A user vector from weighted items (`(item, weight)`, repeats allowed; items past the
    /// factors' catalogue are ignored): training's solve, from zero, run to convergence.
    pub fn fold_in(&self, weighted: &[(u32, f32)]) -> Vec<f32> {
        let f = self.factors;
        let n = self.n_items() as u32;
        let mut row: Vec<(u32, f32)> = weighted.iter().copied().filter(|&(i, _)| i < n).collect();
        row.sort_unstable_by_key(|&(i, _)| i);
        row.dedup_by(|b, a| {
            if a.0 == b.0 {
                a.1 += b.1;
                true
            } else {
                false
            }
        });
        let cols: Vec<u32> = row.iter().map(|&(i, _)| i).collect();
        let conf: Vec<f32> = row.iter().map(|&(_, w)| 1.0 + self.alpha * w).collect();
        let mut x = vec![0f32; f];
        if !cols.is_empty() {
            struct FoldIn<'a>(&'a ItemFactors, &'a [u32], &'a [f32], &'a mut [f32]);
            impl pulp::WithSimd for FoldIn<'_> {
                type Output = ();
                #[inline(always)]
                fn with_simd<S: pulp::Simd>(self, _: S) {
                    let FoldIn(m, cols, conf, x) = self;
                    let f = m.factors;
                    Cg::new(f).solve(&m.gram, &m.y, cols, conf, x, f.min(24));
                }
            }
            pulp::Arch::new().dispatch(FoldIn(self, &cols, &conf, &mut x));
        }
        x
    }

    /// Adds `weight · y_i·x` to each item's score in `out`, exactly (f32).
    pub fn add_scores(&self, x: &[f32], weight: f32, out: &mut [f32]) {
        struct Scan<'a> {
            tiles: &'a [f32],
            x: &'a [f32],
            w: f32,
            out: &'a mut [f32],
        }
        impl pulp::WithSimd for Scan<'_> {
            type Output = ();
            #[inline(always)]
            fn with_simd<S: pulp::Simd>(self, _: S) {
                let f = self.x.len();
                for (o, tile) in self
                    .out
                    .chunks_mut(TILE)
                    .zip(self.tiles.chunks_exact(f * TILE))
                {
                    for (d, &xd) in self.x.iter().enumerate() {
                        axpy(o, self.w * xd, &tile[d * TILE..d * TILE + o.len()]);
                    }
                }
            }
        }
        let n = self.n_items().min(out.len());
        pulp::Arch::new().dispatch(Scan {
            tiles: &self.tiles,
            x,
            w: weight,
            out: &mut out[..n],
        });
    }

    /// [`ItemFactors::add_scores`] for several users at once: each tile of the factors is read
    /// from memory once for all of them (a batch job scores many histories; one at a time, the
    /// scan is bound by reading the whole factor matrix per user).
    pub fn add_scores_many(&self, xs: &[&[f32]], weight: f32, outs: &mut [&mut [f32]]) {
        struct Scan<'a, 'b> {
            tiles: &'a [f32],
            f: usize,
            n: usize,
            xs: &'a [&'a [f32]],
            w: f32,
            outs: &'a mut [&'b mut [f32]],
        }
        impl pulp::WithSimd for Scan<'_, '_> {
            type Output = ();
            #[inline(always)]
            fn with_simd<S: pulp::Simd>(self, _: S) {
                let f = self.f;
                for (t, tile) in self.tiles.chunks_exact(f * TILE).enumerate() {
                    let start = t * TILE;
                    if start >= self.n {
                        break;
                    }
                    let end = (start + TILE).min(self.n);
                    for (x, out) in self.xs.iter().zip(self.outs.iter_mut()) {
                        let o = &mut out[start..end];
                        for (d, &xd) in x.iter().enumerate() {
                            axpy(o, self.w * xd, &tile[d * TILE..d * TILE + o.len()]);
                        }
                    }
                }
            }
        }
        let n = outs
            .iter()
            .map(|o| o.len())
            .min()
            .unwrap_or(0)
            .min(self.n_items());
        pulp::Arch::new().dispatch(Scan {
            tiles: &self.tiles,
            f: self.factors,
            n,
            xs,
            w: weight,
            outs,
        });
    }

    /// Items beyond the trained catalogue get zero factors.
    pub fn grow(&mut self, n_items: usize) {
        if n_items * self.factors > self.y.len() {
            self.y.resize(n_items * self.factors, 0.0);
            self.derive();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recipes::Event;

    /// Two taste groups over 40 items: users 0..30 use items 0..20, users 30..60 items 20..40.
    fn planted() -> TrainingData {
        let mut rng = SplitMix::new(5);
        let mut d = TrainingData::default();
        for i in 0..40 {
            d.items.intern(&format!("i{i}"));
        }
        for u in 0..60 {
            d.users.intern(&format!("u{u}"));
            let base = if u < 30 { 0 } else { 20 };
            let h = (0..12)
                .map(|k| Event {
                    item: base + rng.below(20) as u32,
                    ts: k,
                    weight: 1.0,
                    ctx: 0,
                })
                .collect();
            d.histories.push(h);
        }
        d
    }

    fn params() -> AlsParams {
        // Few factors for two planted groups: more would fit the noise within a group.
        AlsParams {
            factors: 3,
            iterations: 10,
            alpha: 2.0,
            reg: 1.0,
            cg_steps: 3,
        }
    }

    #[test]
    fn a_folded_in_user_prefers_their_own_group() {
        let m = fit(&planted(), &params(), None, &mut |_| {});
        for (history, group) in [
            (vec![(3u32, 1.0f32), (7, 1.0)], 0..20u32),
            (vec![(25, 1.0)], 20..40),
        ] {
            let x = m.fold_in(&history);
            let mut s = vec![0f32; 40];
            m.add_scores(&x, 1.0, &mut s);
            let mut order: Vec<u32> = (0..40).collect();
            order.sort_by(|&a, &b| s[b as usize].total_cmp(&s[a as usize]));
            assert!(order[..10].iter().all(|i| group.contains(i)), "{order:?}");
        }
    }

    #[test]
    fn fitting_is_deterministic_and_linear_in_the_catalogue() {
        let a = fit(&planted(), &params(), None, &mut |_| {});
        let b = fit(&planted(), &params(), None, &mut |_| {});
        assert_eq!(a, b);
        assert_eq!(a.y.len(), 40 * 3);
        assert_eq!(a.gram.len(), 3 * 3);
    }

    #[test]
    fn a_fold_in_solves_the_normal_equations() {
        let m = fit(&planted(), &params(), None, &mut |_| {});
        let h = [(1u32, 1.0f32), (4, 2.0), (9, 1.0)];
        let x = m.fold_in(&h);
        // (G + Σ (c−1) y yᵀ) x = Σ c y
        let f = m.factors;
        let mut lhs = vec![0f32; f];
        gemv(&m.gram, &x, &mut lhs);
        let mut rhs = vec![0f32; f];
        for &(i, w) in &h {
            let c = 1.0 + m.alpha * w;
            axpy(&mut lhs, (c - 1.0) * dot(m.item(i), &x), m.item(i));
            axpy(&mut rhs, c, m.item(i));
        }
        for (l, r) in lhs.iter().zip(&rhs) {
            assert!(
                (l - r).abs() < 1e-3 * r.abs().max(1.0),
                "{lhs:?} vs {rhs:?}"
            );
        }
    }
}
