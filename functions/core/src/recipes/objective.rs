//! `solutionConfig.optimizationObjective`: relevance traded for a numeric item attribute (price,
//! length...). An item's attribute becomes its percentile among the training catalogue's values
//! (robust to the attribute's scale and outliers), and a request adds
//! `weight(sensitivity) × spread × percentile` to every score, where `spread` is the request's
//! best score minus its mean: the objective moves items by a share of what separates the best
//! item from an average one, whatever the user.

use super::{ArtifactError, ArtifactReader, ArtifactWriter};
use crate::data::attrs::{lookup, Attr, Attrs};
use crate::error::{Error, Result};

/// Personalize's `objectiveSensitivity` levels and the weight each gives, chosen on the
/// validation split so that HIGH costs under 4% of NDCG@10 (README, "Optimisation objective").
pub fn sensitivity_weight(level: &str) -> Result<f32> {
    match level.trim().to_ascii_uppercase().as_str() {
        "OFF" => Ok(0.0),
        "LOW" => Ok(0.05),
        "MEDIUM" => Ok(0.15),
        "HIGH" => Ok(0.4),
        other => Err(Error::InvalidInput(format!(
            "optimizationObjective.objectiveSensitivity '{other}' is not one of OFF, LOW, MEDIUM, HIGH"
        ))),
    }
}

/// The attribute's training values and each item's percentile.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Objective {
    pub weight: f32,
    /// The training catalogue's values, sorted: what a new item's percentile is read from.
    pub sorted: Vec<f32>,
    /// Per item code, its percentile in [0, 1] (0 without a value).
    pub percentile: Vec<f32>,
}

fn number(attrs: &Attrs, attribute: &str) -> Option<f32> {
    match lookup(attrs, attribute)? {
        Attr::Number(x) if x.is_finite() => Some(*x as f32),
        _ => None,
    }
}

impl Objective {
    /// From the items' attributes (by item code); an error when no item has a number there.
    pub fn fit(
        rows: &[Option<Attrs>],
        n_items: usize,
        attribute: &str,
        weight: f32,
    ) -> Result<Objective> {
        let values: Vec<Option<f32>> = (0..n_items)
            .map(|i| rows.get(i)?.as_ref().and_then(|a| number(a, attribute)))
            .collect();
        let mut sorted: Vec<f32> = values.iter().flatten().copied().collect();
        if sorted.is_empty() {
            return Err(Error::InvalidInput(format!(
                "optimizationObjective.itemAttribute '{attribute}' is not a numeric column with values in the Items dataset"
            )));
        }
        sorted.sort_by(f32::total_cmp);
        let mut o = Objective {
            weight,
            sorted,
            percentile: Vec::new(),
        };
        o.percentile = values
            .iter()
            .map(|v| v.map_or(0.0, |x| o.rank(x)))
            .collect();
        Ok(o)
    }

    fn rank(&self, x: f32) -> f32 {
        let below = self.sorted.partition_point(|&v| v < x);
        let upto = self.sorted.partition_point(|&v| v <= x);
        // Ties share the middle of their range.
        (below + upto) as f32 / (2 * self.sorted.len()).max(1) as f32
    }

    /// Items from `first` on (put after training) take the percentile of their value.
    pub fn describe(&mut self, first: usize, attrs: &[Option<&Attrs>], attribute: &str) {
        for (k, a) in attrs.iter().enumerate() {
            let p = a
                .and_then(|a| number(a, attribute))
                .map_or(0.0, |x| self.rank(x));
            if let Some(slot) = self.percentile.get_mut(first + k) {
                *slot = p;
            }
        }
    }

    pub fn grow(&mut self, n_items: usize) {
        if self.percentile.len() < n_items {
            self.percentile.resize(n_items, 0.0);
        }
    }

    /// Adds the objective to a request's scores.
    pub fn apply(&self, out: &mut [f32]) {
        if self.weight <= 0.0 || out.is_empty() {
            return;
        }
        let (mut best, mut sum, mut n) = (f32::MIN, 0f64, 0usize);
        for &s in out.iter().filter(|s| s.is_finite()) {
            best = best.max(s);
            sum += s as f64;
            n += 1;
        }
        let spread = best - (sum / n.max(1) as f64) as f32;
        if spread.is_nan() || spread <= 0.0 {
            return;
        }
        let by = self.weight * spread;
        for (o, &p) in out.iter_mut().zip(&self.percentile) {
            *o += by * p;
        }
    }

    pub fn write(&self, w: &mut ArtifactWriter) {
        w.f32s(b"OBJS", &self.sorted)
            .f32s(b"OBJP", &self.percentile);
    }

    pub fn read(
        r: &ArtifactReader,
        weight: f32,
        n_items: usize,
    ) -> Result<Objective, ArtifactError> {
        let mut o = Objective {
            weight,
            sorted: r.f32s(b"OBJS")?,
            percentile: r.f32s(b"OBJP")?,
        };
        if o.percentile.len() > n_items {
            return Err(ArtifactError::Corrupt("objective length".into()));
        }
        o.grow(n_items);
        Ok(o)
    }
}
