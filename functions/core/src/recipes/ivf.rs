//! An inverted file over item factors (faiss's IVF): k-means groups the items into about √n
//! clusters; a request scores the centroids and reads only the best clusters' items, in 8 bits
//! per value, so a 1M-item catalogue costs a few percent of a full scan. Items are stored
//! cluster by cluster, so a probe streams contiguous memory.
//!
//! Only the centroids and each item's cluster are stored in the artifact; the cluster-ordered
//! 8-bit codes are derived on load.

use rayon::prelude::*;

use super::factors::dot;
use crate::sample::SplitMix;

/// K-means sweeps over the training sample.
const KMEANS_SWEEPS: usize = 8;

/// Items per cluster in the k-means sample.
const SAMPLE_PER_CLUSTER: usize = 48;

#[derive(Debug, Clone)]
pub struct Ivf {
    pub factors: usize,
    /// `clusters × factors`, row-major.
    pub centroids: Vec<f32>,
    /// Each trained item's cluster.
    pub assign: Vec<u32>,
    /// Cluster `c`'s items are `order[offsets[c]..offsets[c + 1]]`.
    pub offsets: Vec<u32>,
    pub order: Vec<u32>,
    /// `order`'s factors in 8 bits, `factors` per item, and one scale per item.
    pub codes: Vec<i8>,
    pub scales: Vec<f32>,
}

impl PartialEq for Ivf {
    fn eq(&self, o: &Ivf) -> bool {
        (self.factors, &self.centroids, &self.assign) == (o.factors, &o.centroids, &o.assign)
    }
}

impl Ivf {
    /// Clusters the rows of `y` (`factors` wide), deterministically.
    pub fn build(y: &[f32], factors: usize) -> Ivf {
        let f = factors;
        let n = y.len() / f;
        let k = ((n as f64).sqrt().round() as usize).clamp(1, n.max(1));
        let mut rng = SplitMix::new(0x1F_0000 + n as u64);
        // A sample of items trains the centroids; every item is then assigned.
        let sample: Vec<usize> = if n <= k * SAMPLE_PER_CLUSTER {
            (0..n).collect()
        } else {
            let mut s: Vec<usize> = (0..k * SAMPLE_PER_CLUSTER).map(|_| rng.below(n)).collect();
            s.sort_unstable();
            s.dedup();
            s
        };
        let row = |i: usize| &y[i * f..(i + 1) * f];
        let mut centroids: Vec<f32> = (0..k)
            .flat_map(|_| row(sample[rng.below(sample.len())]).to_vec())
            .collect();
        for _ in 0..KMEANS_SWEEPS {
            let near = nearest(&centroids, f, sample.par_iter().map(|&i| row(i)));
            let mut sums = vec![0f64; k * f];
            let mut counts = vec![0usize; k];
            for (&i, &c) in sample.iter().zip(&near) {
                counts[c as usize] += 1;
                for (s, &v) in sums[c as usize * f..][..f].iter_mut().zip(row(i)) {
                    *s += v as f64;
                }
            }
            for c in 0..k {
                let centroid = &mut centroids[c * f..(c + 1) * f];
                if counts[c] == 0 {
                    // An empty cluster restarts at a sampled item.
                    centroid.copy_from_slice(row(sample[rng.below(sample.len())]));
                } else {
                    for (v, s) in centroid.iter_mut().zip(&sums[c * f..(c + 1) * f]) {
                        *v = (s / counts[c] as f64) as f32;
                    }
                }
            }
        }
        let assign = nearest(&centroids, f, y.par_chunks_exact(f));
        Ivf::new(f, centroids, assign, y)
    }

    /// The index from its stored parts and the factors.
    pub fn new(factors: usize, centroids: Vec<f32>, assign: Vec<u32>, y: &[f32]) -> Ivf {
        let f = factors;
        let k = centroids.len() / f.max(1);
        let mut offsets = vec![0u32; k + 1];
        for &c in &assign {
            offsets[c as usize + 1] += 1;
        }
        for c in 0..k {
            offsets[c + 1] += offsets[c];
        }
        let mut next = offsets.clone();
        let mut order = vec![0u32; assign.len()];
        for (i, &c) in assign.iter().enumerate() {
            order[next[c as usize] as usize] = i as u32;
            next[c as usize] += 1;
        }
        let mut codes = vec![0i8; order.len() * f];
        let mut scales = vec![0f32; order.len()];
        codes
            .par_chunks_exact_mut(f)
            .zip(scales.par_iter_mut())
            .zip(order.par_iter())
            .for_each(|((code, scale), &i)| {
                *scale = quantise(&y[i as usize * f..(i as usize + 1) * f], code);
            });
        Ivf {
            factors,
            centroids,
            assign,
            offsets,
            order,
            codes,
            scales,
        }
    }

    pub fn clusters(&self) -> usize {
        self.offsets.len() - 1
    }

    /// Cluster `c`'s positions in `order`.
    pub fn range(&self, c: usize) -> std::ops::Range<usize> {
        self.offsets[c] as usize..self.offsets[c + 1] as usize
    }

    /// `dots[p] = codes[p] · qx` for the positions of `range` (the 8-bit scan's kernel).
    pub fn dots(&self, range: std::ops::Range<usize>, qx: &[i8], dots: &mut Vec<i32>) {
        struct Scan<'a>(&'a [i8], &'a [i8], &'a mut Vec<i32>);
        impl pulp::WithSimd for Scan<'_> {
            type Output = ();
            #[inline(always)]
            fn with_simd<S: pulp::Simd>(self, _: S) {
                let Scan(codes, qx, out) = self;
                out.extend(codes.chunks_exact(qx.len()).map(|row| dot_i8(row, qx)));
            }
        }
        let f = self.factors;
        dots.clear();
        pulp::Arch::new().dispatch(Scan(&self.codes[range.start * f..range.end * f], qx, dots));
    }
}

/// The nearest centroid of each row (least `|c|² − 2 y·c`).
fn nearest<'a>(
    centroids: &[f32],
    f: usize,
    rows: impl IndexedParallelIterator<Item = &'a [f32]>,
) -> Vec<u32> {
    let norms: Vec<f32> = centroids.chunks_exact(f).map(|c| dot(c, c)).collect();
    struct Nearest<'a>(&'a [f32], &'a [f32], &'a [f32]);
    impl pulp::WithSimd for Nearest<'_> {
        type Output = u32;
        #[inline(always)]
        fn with_simd<S: pulp::Simd>(self, _: S) -> u32 {
            let Nearest(centroids, norms, y) = self;
            let mut best = (f32::INFINITY, 0u32);
            for (c, (centroid, &norm)) in centroids.chunks_exact(y.len()).zip(norms).enumerate() {
                let d = norm - 2.0 * dot(centroid, y);
                if d < best.0 {
                    best = (d, c as u32);
                }
            }
            best.1
        }
    }
    rows.map(|y| pulp::Arch::new().dispatch(Nearest(centroids, &norms, y)))
        .collect()
}

/// `v` in 8 bits into `out`; returns the scale (`v ≈ out · scale`).
pub fn quantise(v: &[f32], out: &mut [i8]) -> f32 {
    let max = v.iter().fold(0f32, |m, x| m.max(x.abs()));
    let scale = if max > 0.0 { max / 127.0 } else { 1.0 };
    let inv = 1.0 / scale;
    // Half away from zero, as `round` does, but with a truncating conversion that vectorises:
    // baseline x86-64 has no rounding instruction, and `round` there is a libm call per value
    // (a fifth of a 100k-item model's load).
    for (o, x) in out.iter_mut().zip(v) {
        let y = x * inv;
        *o = (y + 0.5f32.copysign(y)) as i32 as i8;
    }
    scale
}

/// Integer dot product: widening multiplies that vectorise (`pmaddwd`) without intrinsics.
#[inline(always)]
fn dot_i8(a: &[i8], b: &[i8]) -> i32 {
    let mut acc = [0i32; 16];
    let (ca, ra) = a.as_chunks::<16>();
    let (cb, rb) = b.as_chunks::<16>();
    for (x, y) in ca.iter().zip(cb) {
        for l in 0..16 {
            acc[l] += x[l] as i16 as i32 * y[l] as i16 as i32;
        }
    }
    let mut s: i32 = acc.iter().sum();
    for (x, y) in ra.iter().zip(rb) {
        s += *x as i32 * *y as i32;
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_item_is_in_its_nearest_cluster_once() {
        let (n, f) = (5_000, 8);
        let mut rng = SplitMix::new(3);
        let y: Vec<f32> = (0..n * f).map(|_| rng.unit() as f32 - 0.5).collect();
        let ivf = Ivf::build(&y, f);
        assert_eq!(ivf.clusters(), 71);
        let mut seen = vec![0u32; n];
        for c in 0..ivf.clusters() {
            for p in ivf.range(c) {
                let i = ivf.order[p] as usize;
                seen[i] += 1;
                assert_eq!(ivf.assign[i] as usize, c);
                // No other centroid is nearer.
                let row = &y[i * f..(i + 1) * f];
                let dist = |c: usize| {
                    let cen = &ivf.centroids[c * f..(c + 1) * f];
                    cen.iter()
                        .zip(row)
                        .map(|(a, b)| (a - b) * (a - b))
                        .sum::<f32>()
                };
                assert!((0..ivf.clusters()).all(|o| dist(o) >= dist(c) - 1e-5));
            }
        }
        assert!(seen.iter().all(|&s| s == 1));
        assert_eq!(Ivf::build(&y, f), ivf, "deterministic");
    }

    #[test]
    fn the_8_bit_dots_track_the_exact_ones() {
        let f = 64;
        let mut rng = SplitMix::new(4);
        let y: Vec<f32> = (0..200 * f).map(|_| rng.unit() as f32 - 0.5).collect();
        let x: Vec<f32> = (0..f).map(|_| rng.unit() as f32 - 0.5).collect();
        let ivf = Ivf::build(&y, f);
        let mut qx = vec![0i8; f];
        let sx = quantise(&x, &mut qx);
        let mut dots = Vec::new();
        for c in 0..ivf.clusters() {
            let r = ivf.range(c);
            ivf.dots(r.clone(), &qx, &mut dots);
            for (p, &d) in r.zip(&dots) {
                let i = ivf.order[p] as usize;
                let exact = dot(&y[i * f..(i + 1) * f], &x);
                let approx = d as f32 * sx * ivf.scales[p];
                assert!((approx - exact).abs() < 0.02, "{approx} vs {exact}");
            }
        }
    }
}
