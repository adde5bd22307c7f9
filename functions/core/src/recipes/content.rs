//! Item content: the Items dataset's metadata and text as sparse features, and a ridge map from
//! them into the factor space, so an item nobody has touched yet gets a factor vector — and so
//! real scores — from what it is.
//!
//! Features, per non-reserved field of the Items schema:
//! - categorical: each `|`-separated value, lower-cased;
//! - textual: NFKC-normalised, lower-cased Unicode words (UAX #29 word boundaries, so any script
//!   written with spaces), plus character bigrams for scripts written without them (Han, kana,
//!   Thai, Lao, Khmer, Myanmar), weighted by TF-IDF;
//! - numeric: the decile of the value among the training catalogue's values;
//! - boolean: the value.
//!
//! Each field's features are scaled to unit length and the item's vector to unit length, so a
//! long description does not drown a genre. The vocabulary keeps features seen on at least two
//! training items (a feature of one item says nothing about another), the most frequent first.
//!
//! The map `W` (vocabulary × factors) solves `min Σ_i ‖φ_iᵀW − y_i‖² + λ‖W‖²` over the items
//! with interactions, by conjugate gradients on the normal equations (the sparse `Φ` is never
//! densified).

use std::collections::HashMap;
use std::sync::Arc;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use unicode_normalization::UnicodeNormalization;
use unicode_segmentation::UnicodeSegmentation;

use super::{ArtifactError, ArtifactReader, ArtifactWriter};
use crate::data::attrs::{lookup, Attr, Attrs};
use crate::data::IdDict;
use crate::schema::{DatasetSchema, DatasetType, FieldType};

/// The training catalogue's attributes, by item code (`None`: no Items row).
#[derive(Debug, Clone)]
pub struct ItemAttributes {
    pub schema: Arc<DatasetSchema>,
    pub rows: Vec<Option<Attrs>>,
}

impl ItemAttributes {
    /// Whether the schema has any field the content model reads.
    pub fn has_features(&self) -> bool {
        !field_specs(&self.schema).is_empty()
    }
}

/// Most features a vocabulary keeps.
const MAX_VOCAB: usize = 1 << 18;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Kind {
    Categorical,
    Textual,
    Numeric,
    Boolean,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct FieldSpec {
    name: String,
    kind: Kind,
    /// Numeric fields: the deciles' upper bounds among the training values.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    bounds: Vec<f64>,
}

/// The fields the content model reads: Personalize trains on categorical and textual strings,
/// numbers and booleans; plain strings and reserved fields say nothing it can generalise.
fn field_specs(schema: &DatasetSchema) -> Vec<FieldSpec> {
    schema
        .fields
        .iter()
        .filter(|f| f.reserved(DatasetType::Items).is_none())
        .filter_map(|f| {
            let kind = match f.ty {
                FieldType::String if f.textual => Kind::Textual,
                FieldType::String if f.categorical => Kind::Categorical,
                FieldType::String => return None,
                FieldType::Boolean => Kind::Boolean,
                _ => Kind::Numeric,
            };
            Some(FieldSpec {
                name: f.name.clone(),
                kind,
                bounds: Vec::new(),
            })
        })
        .collect()
}

/// Scripts written without spaces between words: their words are character bigrams.
fn unspaced(c: char) -> bool {
    matches!(c as u32,
        0x0E00..=0x0EFF      // Thai, Lao
        | 0x1000..=0x109F    // Myanmar
        | 0x1780..=0x17FF    // Khmer
        | 0x3040..=0x30FF    // Hiragana, Katakana
        | 0x3400..=0x4DBF    // CJK extension A
        | 0x4E00..=0x9FFF    // CJK unified ideographs
        | 0xF900..=0xFAFF    // CJK compatibility ideographs
        | 0x20000..=0x2FFFF) // CJK extensions B..
}

/// The words of a text: NFKC, lower case, UAX #29 words; a run of unspaced script gives its
/// characters' bigrams (and the character alone when the run is one long).
pub fn text_tokens(text: &str) -> Vec<String> {
    let normal: String = text.nfkc().flat_map(char::to_lowercase).collect();
    let mut out = Vec::new();
    let mut run: Vec<char> = Vec::new();
    let flush = |run: &mut Vec<char>, out: &mut Vec<String>| {
        match run.len() {
            0 => {}
            1 => out.push(run[0].to_string()),
            _ => out.extend(run.windows(2).map(|w| w.iter().collect::<String>())),
        }
        run.clear();
    };
    for word in normal.unicode_words() {
        // UAX #29 splits ideographs one by one but keeps kana and Thai runs whole: either way
        // the unspaced characters join one run until a spaced word ends it.
        let mut spaced = String::new();
        for c in word.chars() {
            if unspaced(c) {
                if !spaced.is_empty() {
                    out.push(std::mem::take(&mut spaced));
                }
                run.push(c);
            } else {
                flush(&mut run, &mut out);
                spaced.push(c);
            }
        }
        if !spaced.is_empty() {
            flush(&mut run, &mut out);
            out.push(spaced);
        }
    }
    flush(&mut run, &mut out);
    out
}

/// The raw features of one field's value, each with its count.
fn field_features(spec: &FieldSpec, value: &Attr, out: &mut Vec<(String, f32)>) {
    let name = &spec.name;
    match (spec.kind, value) {
        (Kind::Categorical, Attr::Text(s)) => {
            for v in s.split('|') {
                let v = v.trim().to_lowercase();
                if !v.is_empty() {
                    out.push((format!("{name}={v}"), 1.0));
                }
            }
        }
        (Kind::Textual, Attr::Text(s)) => {
            let mut counts: HashMap<String, f32> = HashMap::new();
            for t in text_tokens(s) {
                *counts.entry(format!("{name}:{t}")).or_default() += 1.0;
            }
            out.extend(counts);
        }
        (Kind::Numeric, Attr::Number(x)) if x.is_finite() => {
            let bucket = spec.bounds.partition_point(|&b| b < *x);
            out.push((format!("{name}#{bucket}"), 1.0));
        }
        (Kind::Boolean, Attr::Bool(b)) => out.push((format!("{name}={b}"), 1.0)),
        _ => {}
    }
}

/// Turns an item's attributes into a sparse, unit-length feature vector.
#[derive(Debug, Clone, PartialEq)]
pub struct Featurizer {
    fields: Vec<FieldSpec>,
    vocab: IdDict,
    /// Per vocabulary entry: its inverse document frequency among training items.
    idf: Vec<f32>,
}

impl Featurizer {
    /// Learns the vocabulary, IDF and numeric deciles from the items of `attrs` that `used`
    /// says to (all when `None`); `None` when no field gives a feature two items share.
    pub fn fit(attrs: &ItemAttributes, used: Option<&[bool]>) -> Option<Featurizer> {
        let mut fields = field_specs(&attrs.schema);
        let rows: Vec<&Attrs> = attrs
            .rows
            .iter()
            .enumerate()
            .filter(|(i, _)| used.is_none_or(|u| u.get(*i).copied().unwrap_or(false)))
            .filter_map(|(_, r)| r.as_ref())
            .collect();
        for spec in fields.iter_mut().filter(|s| s.kind == Kind::Numeric) {
            let mut xs: Vec<f64> = rows
                .iter()
                .filter_map(|r| match lookup(r, &spec.name) {
                    Some(Attr::Number(x)) if x.is_finite() => Some(*x),
                    _ => None,
                })
                .collect();
            xs.sort_by(f64::total_cmp);
            if !xs.is_empty() {
                let mut b: Vec<f64> = (1..10).map(|d| xs[d * (xs.len() - 1) / 10]).collect();
                b.dedup();
                spec.bounds = b;
            }
        }
        let mut df: HashMap<String, u32> = HashMap::new();
        let mut raw = Vec::new();
        for r in &rows {
            raw.clear();
            for spec in &fields {
                if let Some(v) = lookup(r, &spec.name) {
                    field_features(spec, v, &mut raw);
                }
            }
            raw.sort_unstable_by(|a, b| a.0.cmp(&b.0));
            raw.dedup_by(|a, b| a.0 == b.0);
            for (f, _) in &raw {
                *df.entry(f.clone()).or_default() += 1;
            }
        }
        let mut kept: Vec<(String, u32)> = df.into_iter().filter(|&(_, n)| n >= 2).collect();
        if kept.is_empty() {
            return None;
        }
        kept.sort_unstable_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        kept.truncate(MAX_VOCAB);
        let n = rows.len() as f32;
        let idf = kept
            .iter()
            .map(|(_, d)| ((1.0 + n) / (1.0 + *d as f32)).ln() + 1.0)
            .collect();
        let vocab = kept.into_iter().map(|(f, _)| f).collect();
        Some(Featurizer { fields, vocab, idf })
    }

    pub fn vocabulary(&self) -> usize {
        self.vocab.len()
    }

    /// The item's features, sorted by index: TF-IDF, each field's block and then the whole
    /// vector at unit length. Empty when none is in the vocabulary.
    pub fn features(&self, attrs: &Attrs) -> Vec<(u32, f32)> {
        let mut out: Vec<(u32, f32)> = Vec::new();
        let mut raw = Vec::new();
        let mut blocks = 0usize;
        for spec in &self.fields {
            let Some(v) = lookup(attrs, &spec.name) else {
                continue;
            };
            raw.clear();
            field_features(spec, v, &mut raw);
            let start = out.len();
            for (f, tf) in &raw {
                if let Some(i) = self.vocab.get(f) {
                    out.push((i, (1.0 + tf.ln()) * self.idf[i as usize]));
                }
            }
            let norm = out[start..].iter().map(|(_, w)| w * w).sum::<f32>().sqrt();
            if norm > 0.0 {
                out[start..].iter_mut().for_each(|(_, w)| *w /= norm);
                blocks += 1;
            }
        }
        let scale = 1.0 / (blocks.max(1) as f32).sqrt();
        out.iter_mut().for_each(|(_, w)| *w *= scale);
        // No two fields share a feature: each is prefixed by its field's name, and Avro names
        // cannot hold the separators (`=`, `:`, `#`).
        out.sort_unstable_by_key(|&(i, _)| i);
        out
    }

    fn write(&self, w: &mut ArtifactWriter) {
        w.bytes(
            b"CFLD",
            &serde_json::to_vec(&self.fields).unwrap_or_default(),
        )
        .strings(b"CVOC", &self.vocab)
        .f32s(b"CIDF", &self.idf);
    }

    fn read(r: &ArtifactReader) -> Result<Featurizer, ArtifactError> {
        let fields: Vec<FieldSpec> = serde_json::from_slice(r.bytes(b"CFLD")?)
            .map_err(|e| ArtifactError::Corrupt(format!("content fields: {e}")))?;
        let vocab = r.strings(b"CVOC")?;
        let idf = r.f32s(b"CIDF")?;
        if idf.len() != vocab.len() {
            return Err(ArtifactError::Corrupt("content vocabulary length".into()));
        }
        Ok(Featurizer { fields, vocab, idf })
    }
}

/// The ridge map from content features into the factor space.
#[derive(Debug, Clone, PartialEq)]
pub struct ContentMap {
    pub featurizer: Featurizer,
    pub factors: usize,
    /// Vocabulary × factors, row-major.
    pub w: Vec<f32>,
}

/// Conjugate-gradient steps at most, and the residual (relative) at which it stops.
const CG_STEPS: usize = 60;
const CG_TOLERANCE: f32 = 1e-3;

impl ContentMap {
    /// Fits the map on the items `warm` marks, whose factor rows in `y` (`n × factors`) are the
    /// targets; `None` when the attributes give no shared feature.
    pub fn fit(
        attrs: &ItemAttributes,
        warm: &[bool],
        y: &[f32],
        factors: usize,
        lambda: f32,
    ) -> Option<ContentMap> {
        let featurizer = Featurizer::fit(attrs, Some(warm))?;
        let v = featurizer.vocabulary();
        let f = factors;
        // Φ by rows over the warm items that have features, and its transpose.
        let rows: Vec<(usize, Vec<(u32, f32)>)> = attrs
            .rows
            .par_iter()
            .enumerate()
            .filter(|(i, r)| warm.get(*i).copied().unwrap_or(false) && r.is_some())
            .filter_map(|(i, r)| {
                let x = featurizer.features(r.as_ref()?);
                (!x.is_empty() && (i + 1) * f <= y.len()).then_some((i, x))
            })
            .collect();
        if rows.is_empty() {
            return None;
        }
        let mut by_feature: Vec<Vec<(u32, f32)>> = vec![Vec::new(); v];
        for (r, (_, x)) in rows.iter().enumerate() {
            for &(j, w) in x {
                by_feature[j as usize].push((r as u32, w));
            }
        }
        // A·P = Φᵀ(Φ P) + λP, for P vocabulary × factors.
        let apply = |p: &[f32], out: &mut [f32]| {
            let phi_p: Vec<f32> = rows
                .par_iter()
                .flat_map_iter(|(_, x)| {
                    let mut acc = vec![0f32; f];
                    for &(j, w) in x {
                        let row = &p[j as usize * f..(j as usize + 1) * f];
                        acc.iter_mut().zip(row).for_each(|(a, &b)| *a += w * b);
                    }
                    acc
                })
                .collect();
            out.par_chunks_mut(f)
                .zip(p.par_chunks(f))
                .zip(&by_feature)
                .for_each(|((o, pj), items)| {
                    o.iter_mut().zip(pj).for_each(|(o, &pv)| *o = lambda * pv);
                    for &(r, w) in items {
                        let src = &phi_p[r as usize * f..(r as usize + 1) * f];
                        o.iter_mut().zip(src).for_each(|(o, &s)| *o += w * s);
                    }
                });
        };
        // B = Φᵀ Y.
        let mut b = vec![0f32; v * f];
        b.par_chunks_mut(f).zip(&by_feature).for_each(|(o, items)| {
            for &(r, w) in items {
                let i = rows[r as usize].0;
                let yi = &y[i * f..(i + 1) * f];
                o.iter_mut().zip(yi).for_each(|(o, &s)| *o += w * s);
            }
        });
        let w = block_cg(&apply, &b, f);
        Some(ContentMap {
            featurizer,
            factors,
            w,
        })
    }

    /// The factor vector of an item with these attributes; `None` when no feature is known.
    pub fn vector(&self, attrs: &Attrs) -> Option<Vec<f32>> {
        let x = self.featurizer.features(attrs);
        if x.is_empty() {
            return None;
        }
        let f = self.factors;
        let mut out = vec![0f32; f];
        for (j, w) in x {
            let row = &self.w[j as usize * f..(j as usize + 1) * f];
            out.iter_mut().zip(row).for_each(|(o, &r)| *o += w * r);
        }
        Some(out)
    }

    /// The item's features, each scaled by how far the map moves it (its row's length): a
    /// feature that says nothing about what users choose (a random price band) fades, so a
    /// content similarity built on them measures what matters.
    pub fn weighted_features(&self, attrs: &Attrs) -> Vec<(u32, f32)> {
        let f = self.factors;
        let mut x = self.featurizer.features(attrs);
        for (j, w) in &mut x {
            let row = &self.w[*j as usize * f..(*j as usize + 1) * f];
            *w *= row.iter().map(|v| v * v).sum::<f32>().sqrt();
        }
        x
    }

    pub fn write(&self, w: &mut ArtifactWriter) {
        self.featurizer.write(w);
        w.f32s(b"CMAP", &self.w);
    }

    /// The map an artifact holds, if it holds one.
    pub fn read(r: &ArtifactReader, factors: usize) -> Result<Option<ContentMap>, ArtifactError> {
        if r.bytes(b"CMAP").is_err() {
            return Ok(None);
        }
        let featurizer = Featurizer::read(r)?;
        let w = r.f32s(b"CMAP")?;
        if w.len() != featurizer.vocabulary() * factors {
            return Err(ArtifactError::Corrupt("content map shape".into()));
        }
        Ok(Some(ContentMap {
            featurizer,
            factors,
            w,
        }))
    }
}

/// Solves `A X = B` for symmetric positive definite `A` (given as `apply`) with one conjugate-
/// gradient recurrence per column of `B` (rows × `f`, row-major), all columns in each pass.
fn block_cg(apply: &dyn Fn(&[f32], &mut [f32]), b: &[f32], f: usize) -> Vec<f32> {
    let n = b.len();
    let mut x = vec![0f32; n];
    let mut r = b.to_vec();
    let mut p = r.clone();
    let mut ap = vec![0f32; n];
    let col_dot = |a: &[f32], c: &[f32]| -> Vec<f64> {
        let mut s = vec![0f64; f];
        for (ra, rc) in a.chunks_exact(f).zip(c.chunks_exact(f)) {
            for k in 0..f {
                s[k] += (ra[k] * rc[k]) as f64;
            }
        }
        s
    };
    let mut rs = col_dot(&r, &r);
    let start: Vec<f64> = rs.clone();
    for _ in 0..CG_STEPS {
        let done = rs
            .iter()
            .zip(&start)
            .all(|(&now, &s0)| s0 == 0.0 || now.sqrt() <= CG_TOLERANCE as f64 * s0.sqrt());
        if done {
            break;
        }
        apply(&p, &mut ap);
        let pap = col_dot(&p, &ap);
        let alpha: Vec<f32> = (0..f)
            .map(|k| {
                if pap[k] > 0.0 {
                    (rs[k] / pap[k]) as f32
                } else {
                    0.0
                }
            })
            .collect();
        for ((xr, rr), (pr, apr)) in x
            .chunks_exact_mut(f)
            .zip(r.chunks_exact_mut(f))
            .zip(p.chunks_exact(f).zip(ap.chunks_exact(f)))
        {
            for k in 0..f {
                xr[k] += alpha[k] * pr[k];
                rr[k] -= alpha[k] * apr[k];
            }
        }
        let next = col_dot(&r, &r);
        let beta: Vec<f32> = (0..f)
            .map(|k| {
                if rs[k] > 0.0 {
                    (next[k] / rs[k]) as f32
                } else {
                    0.0
                }
            })
            .collect();
        for (pr, rr) in p.chunks_exact_mut(f).zip(r.chunks_exact(f)) {
            for k in 0..f {
                pr[k] = rr[k] + beta[k] * pr[k];
            }
        }
        rs = next;
    }
    x
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_cover_scripts_with_and_without_spaces() {
        assert_eq!(text_tokens("Café CRÈME, naïve"), ["café", "crème", "naïve"]);
        // Full-width Latin folds to ASCII under NFKC.
        assert_eq!(text_tokens("ＡＢＣ ｄｅｆ"), ["abc", "def"]);
        assert_eq!(text_tokens("Война и мир"), ["война", "и", "мир"]);
        assert_eq!(text_tokens("हिन्दी फ़िल्म"), ["हिन्दी", "फ़िल्म"]);
        // Han and kana: character bigrams across the run.
        assert_eq!(
            text_tokens("東京ラーメン"),
            ["東京", "京ラ", "ラー", "ーメ", "メン"]
        );
        assert_eq!(text_tokens("ramen 東京 best"), ["ramen", "東京", "best"]);
        assert_eq!(text_tokens("ภาษาไทย"), ["ภา", "าษ", "ษา", "าไ", "ไท", "ทย"]);
    }

    #[test]
    fn block_cg_solves_a_small_system() {
        // A = [[4,1],[1,3]] on each of two columns.
        let apply = |p: &[f32], out: &mut [f32]| {
            for k in 0..2 {
                out[k] = 4.0 * p[k] + p[2 + k];
                out[2 + k] = p[k] + 3.0 * p[2 + k];
            }
        };
        let b = [1.0, 2.0, 2.0, 1.0];
        let x = block_cg(&apply, &b, 2);
        for k in 0..2 {
            let r0 = 4.0 * x[k] + x[2 + k] - b[k];
            let r1 = x[k] + 3.0 * x[2 + k] - b[2 + k];
            assert!(r0.abs() < 1e-4 && r1.abs() < 1e-4, "{x:?}");
        }
    }
}
