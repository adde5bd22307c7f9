//! Data to try tailor with: a generated e-commerce sample (deterministic, with planted tastes,
//! browsing sequences and several event types) and a converter from the MovieLens CSV layout.

pub mod scale;

use crate::data::csv::write_row;
use crate::error::{Error, Result};

/// Schemas for the bundled examples, from `schemas/`.
pub mod schemas {
    pub const ECOMMERCE_INTERACTIONS: &str =
        include_str!("../../../schemas/ecommerce-interactions.json");
    pub const ECOMMERCE_ITEMS: &str = include_str!("../../../schemas/ecommerce-items.json");
    pub const ECOMMERCE_USERS: &str = include_str!("../../../schemas/ecommerce-users.json");
    pub const MOVIELENS_INTERACTIONS: &str =
        include_str!("../../../schemas/movielens-interactions.json");
    pub const MOVIELENS_ITEMS: &str = include_str!("../../../schemas/movielens-items.json");
    /// MovieLens items with their users' tags as text (the cold-item evaluation's catalogue).
    pub const MOVIELENS_ITEMS_TAGGED: &str =
        include_str!("../../../schemas/movielens-items-tagged.json");
}

/// A dataset group's worth of Personalize CSV files.
#[derive(Debug, Clone)]
pub struct SampleData {
    pub interactions: Vec<u8>,
    pub items: Option<Vec<u8>>,
    pub users: Option<Vec<u8>>,
}

/// SplitMix64: tiny, and fixed forever, so the sample is the same on every machine and version.
#[derive(Debug, Clone)]
pub struct SplitMix(u64);

impl SplitMix {
    pub fn new(seed: u64) -> Self {
        SplitMix(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in [0, n).
    pub fn below(&mut self, n: usize) -> usize {
        (self.unit() * n as f64) as usize % n.max(1)
    }

    pub fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len())]
    }

    /// An index drawn with probability proportional to `weights`.
    pub fn weighted(&mut self, weights: &[f64]) -> usize {
        let total: f64 = weights.iter().sum();
        let mut x = self.unit() * total;
        for (i, w) in weights.iter().enumerate() {
            x -= w;
            if x < 0.0 {
                return i;
            }
        }
        weights.len() - 1
    }
}

struct Category {
    name: &'static str,
    subs: [&'static str; 3],
    nouns: [&'static str; 6],
    base_price: f64,
}

const CATEGORIES: &[Category] = &[
    Category {
        name: "Books",
        subs: ["Fiction", "Cooking", "Travel"],
        nouns: ["Novel", "Cookbook", "Guide", "Atlas", "Memoir", "Anthology"],
        base_price: 14.0,
    },
    Category {
        name: "Electronics",
        subs: ["Audio", "Cameras", "Accessories"],
        nouns: [
            "Headphones",
            "Speaker",
            "Camera",
            "Charger",
            "Earbuds",
            "Tripod",
        ],
        base_price: 90.0,
    },
    Category {
        name: "Kitchen",
        subs: ["Cookware", "Appliances", "Tableware"],
        nouns: [
            "Skillet",
            "Blender",
            "Kettle",
            "Knife Set",
            "Dutch Oven",
            "Plate Set",
        ],
        base_price: 45.0,
    },
    Category {
        name: "Outdoors",
        subs: ["Camping", "Hiking", "Cycling"],
        nouns: [
            "Tent",
            "Backpack",
            "Sleeping Bag",
            "Headlamp",
            "Bike Light",
            "Water Filter",
        ],
        base_price: 60.0,
    },
    Category {
        name: "Toys",
        subs: ["Puzzles", "Building", "Plush"],
        nouns: [
            "Puzzle",
            "Brick Set",
            "Teddy Bear",
            "Robot Kit",
            "Board Game",
            "Kite",
        ],
        base_price: 25.0,
    },
    Category {
        name: "Beauty",
        subs: ["Skincare", "Haircare", "Fragrance"],
        nouns: [
            "Serum",
            "Shampoo",
            "Moisturiser",
            "Perfume",
            "Face Mask",
            "Hair Oil",
        ],
        base_price: 22.0,
    },
    Category {
        name: "Garden",
        subs: ["Tools", "Plants", "Decor"],
        nouns: ["Trowel", "Planter", "Seed Kit", "Hose", "Pruner", "Lantern"],
        base_price: 30.0,
    },
    Category {
        name: "Fitness",
        subs: ["Yoga", "Weights", "Running"],
        nouns: [
            "Yoga Mat",
            "Dumbbells",
            "Running Shoes",
            "Kettlebell",
            "Foam Roller",
            "Jump Rope",
        ],
        base_price: 40.0,
    },
    Category {
        name: "Music",
        subs: ["Instruments", "Vinyl", "Gear"],
        nouns: [
            "Ukulele",
            "Record",
            "Guitar Strings",
            "Keyboard",
            "Metronome",
            "Capo",
        ],
        base_price: 35.0,
    },
    Category {
        name: "Pets",
        subs: ["Dogs", "Cats", "Aquarium"],
        nouns: [
            "Dog Bed",
            "Cat Tree",
            "Leash",
            "Fish Tank",
            "Chew Toy",
            "Litter Box",
        ],
        base_price: 28.0,
    },
];

const ADJECTIVES: &[&str] = &[
    "Classic", "Compact", "Deluxe", "Everyday", "Premium", "Rugged", "Vintage", "Smart", "Cosy",
    "Bright", "Quiet", "Pro", "Mini", "Grand", "Organic", "Travel",
];

const QUALITIES: &[&str] = &[
    "built to last",
    "light enough to carry anywhere",
    "a favourite with beginners",
    "loved by experts",
    "made from recycled materials",
    "easy to clean",
    "with a two-year warranty",
];

/// Sizes of the generated sample.
#[derive(Debug, Clone, Copy)]
pub struct SampleSize {
    pub items: usize,
    pub users: usize,
    /// Mean browsing sessions per user.
    pub sessions_per_user: usize,
}

impl Default for SampleSize {
    fn default() -> Self {
        SampleSize {
            items: 1500,
            users: 800,
            sessions_per_user: 9,
        }
    }
}

/// Start of the sample's interaction window (2026-01-01T00:00:00Z).
pub const SAMPLE_START: i64 = 1_767_225_600;
const DAY: i64 = 86_400;

/// (timestamp, user, item index, event type, event value, device)
type Event = (i64, String, usize, &'static str, Option<f64>, &'static str);

struct Item {
    id: String,
    category: usize,
    sub: usize,
    price: f64,
    popularity: f64,
    created: i64,
}

/// Effects planted in the sample, for the context stage to find.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Planted {
    /// Each item suits one device (hidden from the items' metadata); in a session on that
    /// device its pull is multiplied by e^this.
    pub device: f64,
    /// Plus and premium members lean to a category of their own by this much taste (a
    /// favourite category adds 1).
    pub membership: f64,
}

impl Planted {
    /// No effect: DEVICE and MEMBERSHIP carry nothing.
    pub const NONE: Planted = Planted {
        device: 0.0,
        membership: 0.0,
    };
}

impl Default for Planted {
    fn default() -> Self {
        Planted {
            device: 1.0,
            membership: 0.6,
        }
    }
}

const DEVICES: [&str; 3] = ["mobile", "desktop", "tablet"];

/// The device an item suits: by its rank within its category, so every device has popular
/// items of every category.
fn suited_device(item: usize) -> &'static str {
    DEVICES[(item / CATEGORIES.len()) % DEVICES.len()]
}

/// Generates the e-commerce sample (interactions, items, users) for `seed`, with the default
/// planted effects.
pub fn generate(seed: u64, size: SampleSize) -> SampleData {
    generate_with(seed, size, Planted::default())
}

/// Generates the sample with the given planted effects.
pub fn generate_with(seed: u64, size: SampleSize, planted: Planted) -> SampleData {
    let mut rng = SplitMix::new(seed);
    let mut items = Vec::with_capacity(size.items);
    let mut items_csv = Vec::new();
    write_row(
        &mut items_csv,
        [
            "ITEM_ID",
            "TITLE",
            "CATEGORY_L1",
            "CATEGORY_L2",
            "DESCRIPTION",
            "PRICE",
            "IN_STOCK",
            "CREATION_TIMESTAMP",
        ],
    );
    for i in 0..size.items {
        let category = i % CATEGORIES.len();
        let cat = &CATEGORIES[category];
        let sub = rng.below(3);
        let noun = rng.pick(&cat.nouns);
        let adjective = rng.pick(ADJECTIVES);
        let price = (cat.base_price * (0.4 + 1.6 * rng.unit())).round() + 0.99;
        // Zipf-like popularity within the catalogue.
        let popularity = 1.0 / ((i / CATEGORIES.len()) as f64 + 2.0).powf(0.8);
        let id = format!("P{:05}", i + 1);
        let title = format!("{adjective} {noun}, {}", cat.subs[sub]);
        let description = if rng.unit() < 0.1 {
            String::new()
        } else {
            format!(
                "A {} {} for {}: \"{}\", {}.",
                adjective.to_lowercase(),
                noun.to_lowercase(),
                cat.subs[sub].to_lowercase(),
                title,
                rng.pick(QUALITIES)
            )
        };
        // Most of the catalogue predates the window; some items launch during it.
        let created = if rng.unit() < 0.85 {
            SAMPLE_START - (rng.unit() * 365.0 * DAY as f64) as i64
        } else {
            SAMPLE_START + (rng.unit() * 80.0 * DAY as f64) as i64
        };
        let in_stock = if rng.unit() < 0.93 { "true" } else { "false" };
        write_row(
            &mut items_csv,
            [
                id.as_str(),
                &title,
                cat.name,
                cat.subs[sub],
                &description,
                &format!("{price:.2}"),
                in_stock,
                &created.to_string(),
            ],
        );
        items.push(Item {
            id,
            category,
            sub,
            price,
            popularity: popularity * (0.5 + rng.unit()),
            created,
        });
    }
    let by_category: Vec<Vec<usize>> = (0..CATEGORIES.len())
        .map(|c| {
            (0..items.len())
                .filter(|&i| items[i].category == c)
                .collect()
        })
        .collect();

    let mut users_csv = Vec::new();
    write_row(&mut users_csv, ["USER_ID", "MEMBERSHIP", "AGE"]);
    let mut events_csv = Vec::new();
    write_row(
        &mut events_csv,
        [
            "USER_ID",
            "ITEM_ID",
            "TIMESTAMP",
            "EVENT_TYPE",
            "EVENT_VALUE",
            "DEVICE",
        ],
    );
    let mut rows: Vec<Event> = Vec::new();
    for u in 0..size.users {
        let user = format!("U{:04}", u + 1);
        let membership = *rng.pick(&["free", "free", "plus", "premium"]);
        let leaning = match membership {
            "plus" => Some(3),
            "premium" => Some(6),
            _ => None,
        };
        let age = if rng.unit() < 0.2 {
            String::new()
        } else {
            (18 + rng.below(55)).to_string()
        };
        write_row(&mut users_csv, [user.as_str(), membership, &age]);

        // Distinct tastes: one to three favourite categories with falling weights.
        let n_fav = 1 + rng.below(3);
        let mut tastes = vec![0.04; CATEGORIES.len()];
        for k in 0..n_fav {
            tastes[rng.below(CATEGORIES.len())] += 1.0 / (k as f64 + 1.0);
        }
        if let Some(c) = leaning {
            tastes[c] += planted.membership;
        }
        let sessions = 1 + rng.below(size.sessions_per_user * 2);
        for _ in 0..sessions {
            let device = *rng.pick(&["mobile", "mobile", "desktop", "tablet"]);
            let suits = |i: usize| {
                if suited_device(i) == device {
                    planted.device.exp()
                } else {
                    1.0
                }
            };
            let mut t = SAMPLE_START + (rng.unit() * 90.0 * DAY as f64) as i64;
            let category = rng.weighted(&tastes);
            let pool = &by_category[category];
            let weights: Vec<f64> = pool
                .iter()
                .map(|&i| {
                    if items[i].created > t {
                        0.0
                    } else {
                        items[i].popularity * suits(i)
                    }
                })
                .collect();
            if weights.iter().all(|&w| w == 0.0) {
                continue;
            }
            let mut current = pool[rng.weighted(&weights)];
            for _ in 0..(2 + rng.below(6)) {
                rows.push((t, user.clone(), current, "View", None, device));
                if rng.unit() < 0.25 {
                    t += 5 + rng.below(60) as i64;
                    rows.push((t, user.clone(), current, "AddToCart", None, device));
                    if rng.unit() < 0.4 {
                        t += 30 + rng.below(600) as i64;
                        rows.push((
                            t,
                            user.clone(),
                            current,
                            "Purchase",
                            Some(items[current].price),
                            device,
                        ));
                    }
                }
                t += 10 + rng.below(300) as i64;
                // Browsing moves to a sibling in the same subcategory most of the time.
                let siblings: Vec<usize> = pool
                    .iter()
                    .copied()
                    .filter(|&i| {
                        items[i].sub == items[current].sub && i != current && items[i].created <= t
                    })
                    .collect();
                current = if !siblings.is_empty() && rng.unit() < 0.6 {
                    let w: Vec<f64> = siblings
                        .iter()
                        .map(|&i| items[i].popularity * suits(i))
                        .collect();
                    siblings[rng.weighted(&w)]
                } else {
                    pool[rng.weighted(&weights)]
                };
            }
        }
    }
    rows.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.cmp(&b.1)));
    for (t, user, item, event, value, device) in rows {
        let value = value.map(|v| format!("{v:.2}")).unwrap_or_default();
        write_row(
            &mut events_csv,
            [
                user.as_str(),
                &items[item].id,
                &t.to_string(),
                event,
                &value,
                device,
            ],
        );
    }
    SampleData {
        interactions: events_csv,
        items: Some(items_csv),
        users: Some(users_csv),
    }
}

/// Converts MovieLens `ratings.csv` (userId,movieId,rating,timestamp) to a Personalize
/// interactions CSV (every rating an event of type `rating`, the rating its EVENT_VALUE).
pub fn movielens_ratings(ratings_csv: &[u8]) -> Result<Vec<u8>> {
    let mut reader = csv::Reader::from_reader(ratings_csv);
    let mut out = Vec::with_capacity(ratings_csv.len() * 2);
    let io = |e: csv::Error| Error::InvalidInput(format!("ratings.csv: {e}"));
    write_row(
        &mut out,
        [
            "USER_ID",
            "ITEM_ID",
            "TIMESTAMP",
            "EVENT_TYPE",
            "EVENT_VALUE",
        ],
    );
    for rec in reader.records() {
        let rec = rec.map_err(io)?;
        if rec.len() < 4 {
            let line = rec.position().map_or(0, |p| p.line());
            return Err(Error::InvalidInput(format!(
                "ratings.csv line {line}: expected userId,movieId,rating,timestamp"
            )));
        }
        write_row(&mut out, [&rec[0], &rec[1], &rec[3], "rating", &rec[2]]);
    }
    Ok(out)
}

/// Converts MovieLens `movies.csv` (movieId,title,genres) to a Personalize items CSV with the
/// release year split out of the title.
pub fn movielens_movies(movies_csv: &[u8]) -> Result<Vec<u8>> {
    let mut reader = csv::Reader::from_reader(movies_csv);
    let mut out = Vec::with_capacity(movies_csv.len() * 2);
    let io = |e: csv::Error| Error::InvalidInput(format!("movies.csv: {e}"));
    write_row(&mut out, ["ITEM_ID", "TITLE", "GENRES", "YEAR"]);
    for rec in reader.records() {
        let rec = rec.map_err(io)?;
        if rec.len() < 3 {
            let line = rec.position().map_or(0, |p| p.line());
            return Err(Error::InvalidInput(format!(
                "movies.csv line {line}: expected movieId,title,genres"
            )));
        }
        let title = rec[1].trim();
        let year = title
            .strip_suffix(')')
            .and_then(|t| t.rsplit_once('('))
            .map(|(_, y)| y.trim())
            .filter(|y| y.len() == 4 && y.chars().all(|c| c.is_ascii_digit()))
            .unwrap_or("");
        let genres = if &rec[2] == "(no genres listed)" {
            ""
        } else {
            &rec[2]
        };
        write_row(&mut out, [&rec[0], title, genres, year]);
    }
    Ok(out)
}

/// [`movielens_movies`] with a TAGS column: every tag `tags.csv` (userId,movieId,tag,timestamp)
/// gives a movie, joined by spaces, for [`schemas::MOVIELENS_ITEMS_TAGGED`].
pub fn movielens_items_tagged(movies_csv: &[u8], tags_csv: &[u8]) -> Result<Vec<u8>> {
    let mut tags: std::collections::HashMap<String, String> = std::collections::HashMap::new();
    let mut reader = csv::Reader::from_reader(tags_csv);
    for rec in reader.records() {
        let rec = rec.map_err(|e| Error::InvalidInput(format!("tags.csv: {e}")))?;
        if rec.len() < 3 {
            let line = rec.position().map_or(0, |p| p.line());
            return Err(Error::InvalidInput(format!(
                "tags.csv line {line}: expected userId,movieId,tag,timestamp"
            )));
        }
        let t = tags.entry(rec[1].to_string()).or_default();
        if !t.is_empty() {
            t.push(' ');
        }
        t.push_str(rec[2].trim());
    }
    let items = movielens_movies(movies_csv)?;
    let mut reader = csv::Reader::from_reader(items.as_slice());
    let mut out = Vec::with_capacity(items.len() * 2);
    write_row(&mut out, ["ITEM_ID", "TITLE", "GENRES", "YEAR", "TAGS"]);
    for rec in reader.records() {
        let rec = rec.map_err(|e| Error::InvalidInput(format!("movies.csv: {e}")))?;
        let t = tags.get(&rec[0]).map_or("", String::as_str);
        write_row(&mut out, [&rec[0], &rec[1], &rec[2], &rec[3], t]);
    }
    Ok(out)
}
