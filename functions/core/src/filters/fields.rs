//! CreateFilter's check of a parsed filter against its dataset group's schemas (reference §5.1):
//! every `Dataset.FIELD` must be a column of a dataset the group has, and one filters may read.
//! Without it a misspelt field parses, is stored ACTIVE, and silently matches nothing.

use super::ast::{Dataset, FieldRef};
use super::{Filter, FilterError};
use crate::schema::{DatasetSchema, DatasetType, FieldType};

impl Filter {
    /// Checks every field the filter names; `schema_of` gives the schema of the group's dataset
    /// of a type, `None` when the group has none yet. The error points at the offending
    /// dataset or field.
    ///
    /// Field names match ignoring ASCII case, as serving resolves them: a schema cannot hold two
    /// fields differing only in case, and Personalize ignores case in values only for event
    /// types, which is a different matter. `Interactions.EVENT_TYPE` (the parser admits no other
    /// interactions field) needs the Interactions dataset but not an EVENT_TYPE column, since
    /// every PutEvents event carries an event type.
    pub fn check_fields<'s>(
        &self,
        schema_of: impl Fn(DatasetType) -> Option<&'s DatasetSchema>,
    ) -> Result<(), FilterError> {
        self.fields.iter().try_for_each(|r| check(r, &schema_of))
    }
}

fn check<'s>(
    r: &FieldRef,
    schema_of: &impl Fn(DatasetType) -> Option<&'s DatasetSchema>,
) -> Result<(), FilterError> {
    let written = format!("'{}.{}'", r.written, r.name);
    let kind = match r.dataset {
        Dataset::Items => DatasetType::Items,
        Dataset::Users | Dataset::CurrentUser => DatasetType::Users,
        Dataset::Interactions => DatasetType::Interactions,
        Dataset::Actions => {
            return Err(FilterError::new(
                r.dataset_at,
                "a dataset the dataset group has",
                format!("{written}: tailor has no Actions datasets"),
            ))
        }
    };
    let dataset = kind.record_name();
    let Some(schema) = schema_of(kind) else {
        return Err(FilterError::new(
            r.dataset_at,
            "a dataset the dataset group has",
            format!("{written}: the dataset group has no {dataset} dataset yet (create it first)"),
        ));
    };
    if kind == DatasetType::Interactions {
        return Ok(());
    }
    let Some(i) = schema.field_index_ignore_case(&r.name) else {
        let hint = nearest(schema, &r.name)
            .map(|n| format!(" (did you mean {n}?)"))
            .unwrap_or_default();
        return Err(FilterError::new(
            r.field_at,
            format!("a field of the {dataset} dataset"),
            format!(
                "{written}: the {dataset} dataset has no field {}{hint}",
                r.name
            ),
        ));
    };
    let field = &schema.fields[i];
    let unusable = if field.textual {
        Some("a textual field; filters cannot read unstructured text")
    } else if field.ty == FieldType::Boolean {
        Some(
            "a boolean field; filters cannot read booleans (use a string field holding \
             \"True\"/\"False\", or an int holding 0/1)",
        )
    } else {
        None
    };
    match unusable {
        Some(why) => Err(FilterError::new(
            r.field_at,
            format!("a field of the {dataset} dataset that filters can read"),
            format!("{written}: {why}"),
        )),
        None => Ok(()),
    }
}

/// The schema field closest to a misspelt name, if one is close enough to be the likely intent.
fn nearest<'a>(schema: &'a DatasetSchema, name: &str) -> Option<&'a str> {
    let wanted = name.to_ascii_uppercase();
    schema
        .fields
        .iter()
        .map(|f| {
            (
                distance(&f.name.to_ascii_uppercase(), &wanted),
                f.name.as_str(),
            )
        })
        .filter(|&(d, _)| d <= 2.max(wanted.len() / 4))
        .min_by_key(|&(d, _)| d)
        .map(|(_, n)| n)
}

/// Levenshtein distance over bytes; names are short, so the quadratic table is cheap.
fn distance(a: &str, b: &str) -> usize {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, &ca) in a.iter().enumerate() {
        let mut row = vec![i + 1; b.len() + 1];
        for (j, &cb) in b.iter().enumerate() {
            let substitute = prev[j] + usize::from(ca != cb);
            row[j + 1] = substitute.min(prev[j + 1] + 1).min(row[j] + 1);
        }
        prev = row;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distance_counts_edits() {
        assert_eq!(distance("CATEGOY_L1", "CATEGORY_L1"), 1);
        assert_eq!(distance("", "ABC"), 3);
        assert_eq!(distance("PRICE", "PRICE"), 0);
        assert_eq!(distance("AGE", "GENRES"), 5);
    }
}
