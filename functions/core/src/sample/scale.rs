//! A generated shop at any size (1M users × 1M items × 1B events if the disk holds it), streamed
//! to CSV in one pass with memory linear in items and users, never in events.
//!
//! The structure is planted so that a model can be checked against it:
//! - **taste clusters**: every item belongs to one cluster (its `CATEGORY_L2`), every user to a
//!   home cluster; an event comes from the home cluster with probability `purity`;
//! - **power-law popularity**: within a cluster, item of rank r is drawn with weight
//!   1/(r+1)^`zipf`; clusters themselves are Zipf-weighted, so the catalogue has a long tail;
//! - **power-law activity**: events per user follow a Pareto law (a few heavy users);
//! - **time-ordered sessions** with a short-range sequence: each item has a successor in its
//!   cluster, which the next event of a session follows with probability `follow`;
//! - **drift**: a `drift` share of users move to a second cluster half-way through their
//!   timeline, so their newest events matter more than their oldest.
//!
//! Deterministic: the same [`ScaleSpec`] writes the same bytes on every machine and version
//! (SplitMix64, no floating-point work that depends on the platform beyond IEEE arithmetic).

use std::io::{self, Write};

use super::{SplitMix, SAMPLE_START};

/// What to generate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScaleSpec {
    pub users: usize,
    pub items: usize,
    /// Interactions in all (at least one per user).
    pub events: u64,
    /// Taste clusters; `None`: one per 200 items, between 8 and 5,000.
    pub clusters: Option<usize>,
    pub seed: u64,
    /// Share of a user's events drawn from the cluster the user is in at that time.
    pub purity: f64,
    /// Chance that the next event of a session is the current item's successor.
    pub follow: f64,
    /// Share of users whose taste moves to a second cluster half-way through.
    pub drift: f64,
    /// Popularity exponent within a cluster.
    pub zipf: f64,
}

impl ScaleSpec {
    pub fn new(users: usize, items: usize, events: u64, seed: u64) -> ScaleSpec {
        ScaleSpec {
            users,
            items,
            events,
            clusters: None,
            seed,
            purity: 0.9,
            follow: 0.35,
            drift: 0.2,
            zipf: 1.0,
        }
    }

    pub fn n_clusters(&self) -> usize {
        self.clusters
            .unwrap_or(self.items / 200)
            .clamp(8, 5_000)
            .min(self.items.max(1))
    }

    fn check(&self) -> io::Result<()> {
        let bad = |m: String| Err(io::Error::new(io::ErrorKind::InvalidInput, m));
        if self.users == 0 || self.items == 0 {
            return bad("--users and --items must be at least 1".into());
        }
        if self.events < self.users as u64 {
            return bad(format!(
                "--events ({}) must be at least --users ({}): every user has an event",
                self.events, self.users
            ));
        }
        for (name, v) in [
            ("purity", self.purity),
            ("follow", self.follow),
            ("drift", self.drift),
        ] {
            if !(0.0..=1.0).contains(&v) {
                return bad(format!("{name} must be within [0, 1], not {v}"));
            }
        }
        Ok(())
    }
}

/// The planted truth, for tests and the benchmark: item code `i` is `item_id(i)`.
#[derive(Debug, Clone)]
pub struct Planted {
    pub n_clusters: usize,
    /// Cluster of each item.
    pub item_cluster: Vec<u32>,
    /// Each user's cluster at the end of the window (where the user's next events come from).
    pub user_cluster: Vec<u32>,
    /// Events written per user.
    pub user_events: Vec<u32>,
}

pub fn item_id(i: usize) -> String {
    format!("I{i:07}")
}

pub fn user_id(u: usize) -> String {
    format!("U{u:07}")
}

/// The window events fall in: 90 days from [`SAMPLE_START`].
const WINDOW: i64 = 90 * 86_400;

/// Items of one cluster, most popular first, with the cumulative popularity to draw from.
struct ClusterItems {
    items: Vec<u32>,
    cumulative: Vec<f64>,
}

impl ClusterItems {
    fn draw(&self, rng: &mut SplitMix) -> u32 {
        let total = *self.cumulative.last().unwrap_or(&0.0);
        let x = rng.unit() * total;
        let k = self.cumulative.partition_point(|&c| c <= x);
        self.items[k.min(self.items.len() - 1)]
    }
}

/// Buffered CSV rows: numbers formatted without allocation, flushed in large writes.
struct Rows<W: Write> {
    out: W,
    buf: Vec<u8>,
}

impl<W: Write> Rows<W> {
    fn new(out: W, header: &str) -> Rows<W> {
        let mut buf = Vec::with_capacity(1 << 20);
        buf.extend_from_slice(header.as_bytes());
        buf.push(b'\n');
        Rows { out, buf }
    }

    fn maybe_flush(&mut self) -> io::Result<()> {
        if self.buf.len() >= 1 << 20 {
            self.out.write_all(&self.buf)?;
            self.buf.clear();
        }
        Ok(())
    }

    fn finish(mut self) -> io::Result<()> {
        self.out.write_all(&self.buf)?;
        self.out.flush()
    }
}

/// Writes interactions, items and users CSV (Personalize's e-commerce schemas in `schemas/`)
/// and returns what was planted; `progress` gets the share of events written.
pub fn generate(
    spec: &ScaleSpec,
    interactions: impl Write,
    items: impl Write,
    users: impl Write,
    progress: &mut dyn FnMut(f64),
) -> io::Result<Planted> {
    spec.check()?;
    let mut rng = SplitMix::new(spec.seed ^ 0x5CA1_E000);
    let n_clusters = spec.n_clusters();

    // Items: shuffled over clusters so ids carry no cluster, each cluster's popularity order a
    // random one of its items.
    let mut order: Vec<u32> = (0..spec.items as u32).collect();
    shuffle(&mut order, &mut rng);
    let mut item_cluster = vec![0u32; spec.items];
    let mut clusters: Vec<ClusterItems> = (0..n_clusters)
        .map(|_| ClusterItems {
            items: Vec::new(),
            cumulative: Vec::new(),
        })
        .collect();
    for (k, &item) in order.iter().enumerate() {
        let c = k % n_clusters;
        item_cluster[item as usize] = c as u32;
        clusters[c].items.push(item);
    }
    for c in &mut clusters {
        let mut acc = 0.0;
        c.cumulative = (0..c.items.len())
            .map(|r| {
                acc += 1.0 / ((r + 1) as f64).powf(spec.zipf);
                acc
            })
            .collect();
    }
    // The successor of an item: the next one in a fixed tour of its cluster (a "series").
    let mut successor = vec![0u32; spec.items];
    for c in &clusters {
        let mut tour = c.items.clone();
        shuffle(&mut tour, &mut rng);
        for w in 0..tour.len() {
            successor[tour[w] as usize] = tour[(w + 1) % tour.len()];
        }
    }
    write_items(spec, &item_cluster, &clusters, items, &mut rng)?;

    // Users: a home cluster drawn with Zipf-like cluster weights, Pareto activity.
    let mut acc = 0.0;
    let cluster_cumulative: Vec<f64> = (0..n_clusters)
        .map(|c| {
            acc += 1.0 / ((c + 1) as f64).powf(0.5);
            acc
        })
        .collect();
    let draw_cluster = |rng: &mut SplitMix| {
        let x = rng.unit() * acc;
        cluster_cumulative
            .partition_point(|&w| w <= x)
            .min(n_clusters - 1) as u32
    };
    let activity: Vec<f64> = (0..spec.users)
        .map(|_| (1.0 - rng.unit()).powf(-1.0 / 1.6).min(200.0))
        .collect();
    let user_events = share_out(spec.events, spec.users, &activity);

    let mut users_out = Rows::new(users, "USER_ID,MEMBERSHIP,AGE");
    let mut rows = Rows::new(
        interactions,
        "USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE,EVENT_VALUE,DEVICE",
    );
    let mut user_cluster = Vec::with_capacity(spec.users);
    let mut stamps: Vec<i64> = Vec::new();
    let mut written = 0u64;
    for (u, &n) in user_events.iter().enumerate() {
        if u % 4096 == 0 {
            progress(written as f64 / spec.events as f64);
        }
        written += n as u64;
        let home = draw_cluster(&mut rng);
        let later = if rng.unit() < spec.drift {
            draw_cluster(&mut rng)
        } else {
            home
        };
        user_cluster.push(later);
        let id = user_id(u);
        let membership = ["free", "free", "plus", "premium"][rng.below(4)];
        let _ = write!(users_out.buf, "{id},{membership},");
        if rng.unit() >= 0.2 {
            let _ = write!(users_out.buf, "{}", 18 + rng.below(55));
        }
        users_out.buf.push(b'\n');
        users_out.maybe_flush()?;

        // Timestamps first (sorted), then sessions cut where the gap exceeds 30 minutes.
        let n = n as usize;
        let start = SAMPLE_START + (rng.unit() * 0.5 * WINDOW as f64) as i64;
        let span = (rng.unit() * (SAMPLE_START + WINDOW - start) as f64) as i64 + 1;
        let sessions = (n / 6).max(1);
        stamps.clear();
        let session_starts: Vec<i64> = {
            let mut s: Vec<i64> = (0..sessions)
                .map(|_| start + (rng.unit() * span as f64) as i64)
                .collect();
            s.sort_unstable();
            s
        };
        for k in 0..n {
            let s = session_starts[k * sessions / n];
            stamps.push(s);
        }
        let device = ["mobile", "mobile", "desktop", "tablet"][rng.below(4)];
        let mut t_prev = i64::MIN;
        let mut current: Option<u32> = None;
        for k in 0..n {
            let cluster = if k * 2 >= n { later } else { home };
            let new_session = k == 0 || stamps[k] != stamps[k - 1];
            // A session that starts before the last one ended waits for it.
            let t = if new_session {
                stamps[k].max(t_prev.saturating_add(1))
            } else {
                t_prev + 10 + rng.below(290) as i64
            };
            let item = match current {
                Some(c) if !new_session && rng.unit() < spec.follow => successor[c as usize],
                _ => {
                    let c = if rng.unit() < spec.purity {
                        cluster
                    } else {
                        rng.below(n_clusters) as u32
                    };
                    clusters[c as usize].draw(&mut rng)
                }
            };
            current = Some(item);
            t_prev = t;
            let (kind, value) = if rng.unit() < 0.08 {
                ("Purchase", Some(price(item)))
            } else {
                ("View", None)
            };
            let _ = write!(rows.buf, "{id},I{item:07},{t},{kind},");
            if let Some(v) = value {
                let _ = write!(rows.buf, "{v:.2}");
            }
            let _ = writeln!(rows.buf, ",{device}");
            rows.maybe_flush()?;
        }
    }
    users_out.finish()?;
    rows.finish()?;
    progress(1.0);
    Ok(Planted {
        n_clusters,
        item_cluster,
        user_cluster,
        user_events,
    })
}

/// A price fixed by the item alone, so purchases and the items file agree.
fn price(item: u32) -> f64 {
    let h = SplitMix::new(item as u64).next_u64();
    5.0 + (h % 20_000) as f64 / 100.0
}

fn write_items(
    spec: &ScaleSpec,
    item_cluster: &[u32],
    clusters: &[ClusterItems],
    out: impl Write,
    rng: &mut SplitMix,
) -> io::Result<()> {
    const KINDS: &[&str] = &[
        "Books",
        "Electronics",
        "Kitchen",
        "Outdoors",
        "Toys",
        "Beauty",
        "Garden",
        "Fitness",
        "Music",
        "Pets",
    ];
    const NOUNS: &[&str] = &[
        "Guide", "Kit", "Set", "Lamp", "Bag", "Mat", "Box", "Case", "Pack", "Tool",
    ];
    // Rank within its cluster, for a title that says how popular the item is meant to be.
    let mut rank = vec![0u32; spec.items];
    for c in clusters {
        for (r, &i) in c.items.iter().enumerate() {
            rank[i as usize] = r as u32;
        }
    }
    let mut rows = Rows::new(
        out,
        "ITEM_ID,TITLE,CATEGORY_L1,CATEGORY_L2,DESCRIPTION,PRICE,IN_STOCK,CREATION_TIMESTAMP",
    );
    for (i, &c) in item_cluster.iter().enumerate() {
        let kind = KINDS[c as usize % KINDS.len()];
        let noun = NOUNS[rng.below(NOUNS.len())];
        let created = SAMPLE_START - (rng.unit() * 365.0 * 86_400.0) as i64;
        let in_stock = if rng.unit() < 0.93 { "true" } else { "false" };
        let _ = writeln!(
            rows.buf,
            "I{i:07},{kind} {noun} {c}-{r},{kind},C{c:04},A {noun} from collection {c},{p:.2},{in_stock},{created}",
            noun = noun.to_lowercase(),
            r = rank[i],
            p = price(i as u32),
        );
        rows.maybe_flush()?;
    }
    rows.finish()
}

/// `total` shared out over `weights.len()` users in proportion to `weights`, each at least 1,
/// summing to exactly `total`.
fn share_out(total: u64, n: usize, weights: &[f64]) -> Vec<u32> {
    let extra = (total - n as u64) as f64;
    let sum: f64 = weights.iter().sum();
    let mut out: Vec<u32> = weights
        .iter()
        .map(|w| 1 + (extra * w / sum).floor() as u32)
        .collect();
    let given: u64 = out.iter().map(|&c| c as u64).sum();
    // The floors leave less than one event per user over: the heaviest users take it.
    let mut left = total - given;
    let mut i = 0;
    while left > 0 {
        out[i % n] += 1;
        left -= 1;
        i += 1;
    }
    out
}

fn shuffle(xs: &mut [u32], rng: &mut SplitMix) {
    for i in (1..xs.len()).rev() {
        let j = rng.below(i + 1);
        xs.swap(i, j);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small() -> ScaleSpec {
        ScaleSpec::new(300, 2_000, 6_000, 7)
    }

    fn run(spec: &ScaleSpec) -> (Vec<u8>, Vec<u8>, Vec<u8>, Planted) {
        let (mut i, mut it, mut u) = (Vec::new(), Vec::new(), Vec::new());
        let p = generate(spec, &mut i, &mut it, &mut u, &mut |_| {}).unwrap();
        (i, it, u, p)
    }

    #[test]
    fn the_same_spec_writes_the_same_bytes_and_another_seed_does_not() {
        let a = run(&small());
        let b = run(&small());
        assert_eq!((&a.0, &a.1, &a.2), (&b.0, &b.1, &b.2));
        let c = run(&ScaleSpec { seed: 8, ..small() });
        assert_ne!(a.0, c.0);
    }

    #[test]
    fn counts_are_exact_and_sessions_are_time_ordered() {
        let (inter, items, users, planted) = run(&small());
        let text = String::from_utf8(inter).unwrap();
        let rows: Vec<Vec<&str>> = text
            .lines()
            .skip(1)
            .map(|l| l.split(',').collect())
            .collect();
        assert_eq!(rows.len(), 6_000);
        assert_eq!(
            planted.user_events.iter().map(|&n| n as u64).sum::<u64>(),
            6_000
        );
        assert_eq!(String::from_utf8(items).unwrap().lines().count(), 2_001);
        assert_eq!(String::from_utf8(users).unwrap().lines().count(), 301);
        for w in rows.windows(2) {
            if w[0][0] == w[1][0] {
                let (t0, t1): (i64, i64) = (w[0][2].parse().unwrap(), w[1][2].parse().unwrap());
                assert!(t1 >= t0, "user {} goes back in time", w[0][0]);
            }
        }
    }

    #[test]
    fn popularity_follows_a_power_law_with_a_long_tail() {
        let spec = ScaleSpec::new(2_000, 5_000, 100_000, 3);
        let (inter, ..) = run(&spec);
        let mut counts = vec![0u32; spec.items];
        for line in String::from_utf8(inter).unwrap().lines().skip(1) {
            let id = line.split(',').nth(1).unwrap();
            counts[id[1..].parse::<usize>().unwrap()] += 1;
        }
        counts.sort_unstable_by(|a, b| b.cmp(a));
        let top1: u32 = counts[..spec.items / 100].iter().sum();
        // A power law: the top 1% of items take far more than 1% of events, yet over half
        // the catalogue is touched.
        assert!(top1 as f64 > 0.08 * 100_000.0, "top 1% hold {top1}");
        let touched = counts.iter().filter(|&&c| c > 0).count();
        assert!(touched > spec.items / 2, "only {touched} items touched");
    }

    #[test]
    fn a_pure_users_events_stay_in_the_planted_cluster() {
        let spec = ScaleSpec {
            purity: 1.0,
            drift: 0.0,
            ..small()
        };
        let (inter, items, _, planted) = run(&spec);
        for line in String::from_utf8(inter).unwrap().lines().skip(1) {
            let f: Vec<&str> = line.split(',').collect();
            let u: usize = f[0][1..].parse().unwrap();
            let i: usize = f[1][1..].parse().unwrap();
            assert_eq!(planted.item_cluster[i], planted.user_cluster[u]);
        }
        // The items file names each item's cluster as CATEGORY_L2.
        let text = String::from_utf8(items).unwrap();
        let first = text.lines().nth(1).unwrap();
        let cluster = first.split(',').nth(3).unwrap();
        assert_eq!(cluster, format!("C{:04}", planted.item_cluster[0]));
    }

    #[test]
    fn bad_specs_are_refused_by_name() {
        let mut out = Vec::new();
        let e = generate(
            &ScaleSpec::new(10, 10, 5, 1),
            &mut out,
            io::sink(),
            io::sink(),
            &mut |_| {},
        )
        .unwrap_err();
        assert!(e.to_string().contains("--events"), "{e}");
        let e = generate(
            &ScaleSpec {
                purity: 2.0,
                ..ScaleSpec::new(10, 10, 50, 1)
            },
            io::sink(),
            io::sink(),
            io::sink(),
            &mut |_| {},
        )
        .unwrap_err();
        assert!(e.to_string().contains("purity"), "{e}");
    }
}
