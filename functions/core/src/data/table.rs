use std::sync::Arc;

use super::IdDict;
use crate::schema::{DatasetSchema, DatasetType, Field, FieldType};

/// The values of one column. Numeric and boolean columns keep a validity vector only when the
/// field is nullable (empty otherwise), so non-null columns read as plain slices.
#[derive(Debug, Clone, PartialEq)]
pub enum Values {
    /// Dictionary-encoded non-null strings: USER_ID, ITEM_ID, EVENT_TYPE.
    Codes {
        dict: IdDict,
        codes: Vec<u32>,
    },
    Str(Vec<Option<Box<str>>>),
    Long {
        data: Vec<i64>,
        valid: Vec<bool>,
    },
    Double {
        data: Vec<f64>,
        valid: Vec<bool>,
    },
    Bool {
        data: Vec<bool>,
        valid: Vec<bool>,
    },
}

impl Values {
    /// Whether the field is stored dictionary-encoded: the dataset's own non-null id and
    /// event-type columns.
    pub fn encodes(field: &Field, kind: DatasetType) -> bool {
        !field.nullable
            && matches!(
                (kind, field.name.as_str()),
                (
                    DatasetType::Interactions,
                    "USER_ID" | "ITEM_ID" | "EVENT_TYPE"
                ) | (DatasetType::Items, "ITEM_ID")
                    | (DatasetType::Users, "USER_ID")
            )
    }

    fn empty_for(field: &Field, kind: DatasetType) -> Values {
        let ty = field.ty;
        if Self::encodes(field, kind) {
            return Values::Codes {
                dict: IdDict::new(),
                codes: Vec::new(),
            };
        }
        match ty {
            FieldType::String => Values::Str(Vec::new()),
            FieldType::Int | FieldType::Long => Values::Long {
                data: vec![],
                valid: vec![],
            },
            FieldType::Float | FieldType::Double => Values::Double {
                data: vec![],
                valid: vec![],
            },
            FieldType::Boolean => Values::Bool {
                data: vec![],
                valid: vec![],
            },
        }
    }

    pub fn len(&self) -> usize {
        match self {
            Values::Codes { codes, .. } => codes.len(),
            Values::Str(v) => v.len(),
            Values::Long { data, .. } => data.len(),
            Values::Double { data, .. } => data.len(),
            Values::Bool { data, .. } => data.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether row `i` holds a value (false for nulls).
    pub fn is_valid(&self, i: usize) -> bool {
        match self {
            Values::Codes { .. } => true,
            Values::Str(v) => v[i].is_some(),
            Values::Long { valid, .. }
            | Values::Double { valid, .. }
            | Values::Bool { valid, .. } => valid.is_empty() || valid[i],
        }
    }

    /// Appends row `i` of `other` (a column of the same field).
    fn push_from(&mut self, other: &Values, i: usize) {
        match (self, other) {
            (
                Values::Codes { dict, codes },
                Values::Codes {
                    dict: od,
                    codes: oc,
                },
            ) => {
                codes.push(dict.intern(od.name(oc[i])));
            }
            (Values::Str(v), Values::Str(o)) => v.push(o[i].clone()),
            (
                Values::Long { data, valid },
                Values::Long {
                    data: od,
                    valid: ov,
                },
            ) => {
                push_opt(data, valid, (ov.is_empty() || ov[i]).then_some(od[i]));
            }
            (
                Values::Double { data, valid },
                Values::Double {
                    data: od,
                    valid: ov,
                },
            ) => {
                push_opt(data, valid, (ov.is_empty() || ov[i]).then_some(od[i]));
            }
            (
                Values::Bool { data, valid },
                Values::Bool {
                    data: od,
                    valid: ov,
                },
            ) => {
                push_opt(data, valid, (ov.is_empty() || ov[i]).then_some(od[i]));
            }
            _ => unreachable!("columns of one schema field always share a variant"),
        }
    }
}

/// Pushes a possibly-null value. The validity vector stays empty until the first null, so a
/// column's representation depends only on its values.
pub(crate) fn push_opt<T: Default>(data: &mut Vec<T>, valid: &mut Vec<bool>, value: Option<T>) {
    match value {
        Some(v) => {
            data.push(v);
            if !valid.is_empty() {
                valid.push(true);
            }
        }
        None => {
            if valid.is_empty() {
                valid.resize(data.len(), true);
            }
            data.push(T::default());
            valid.push(false);
        }
    }
}

/// A dataset held columnar: one [`Values`] per schema field, in schema order.
#[derive(Debug, Clone)]
pub struct Table {
    pub schema: Arc<DatasetSchema>,
    pub columns: Vec<Values>,
}

impl PartialEq for Table {
    fn eq(&self, other: &Self) -> bool {
        self.schema == other.schema && self.columns == other.columns
    }
}

impl Table {
    pub fn empty(schema: Arc<DatasetSchema>) -> Table {
        let kind = schema.dataset_type;
        let columns = schema
            .fields
            .iter()
            .map(|f| Values::empty_for(f, kind))
            .collect();
        Table { schema, columns }
    }

    pub fn rows(&self) -> usize {
        self.columns.first().map_or(0, Values::len)
    }

    pub fn kind(&self) -> DatasetType {
        self.schema.dataset_type
    }

    pub fn column(&self, name: &str) -> Option<&Values> {
        self.schema.field_index(name).map(|i| &self.columns[i])
    }

    /// The dictionary and codes of an encoded column (USER_ID, ITEM_ID, EVENT_TYPE).
    pub fn codes(&self, name: &str) -> Option<(&IdDict, &[u32])> {
        match self.column(name)? {
            Values::Codes { dict, codes } => Some((dict, codes)),
            _ => None,
        }
    }

    /// A non-nullable long column (TIMESTAMP) as a slice.
    pub fn longs(&self, name: &str) -> Option<&[i64]> {
        match self.column(name)? {
            Values::Long { data, .. } => Some(data),
            _ => None,
        }
    }

    /// A float/double column and its validity (empty when non-nullable).
    pub fn doubles(&self, name: &str) -> Option<(&[f64], &[bool])> {
        match self.column(name)? {
            Values::Double { data, valid } => Some((data, valid)),
            _ => None,
        }
    }

    /// Appends every row of `other`, which must have the same schema.
    pub fn append(&mut self, other: &Table) {
        for i in 0..other.rows() {
            self.push_row_from(other, i);
        }
    }

    fn push_row_from(&mut self, other: &Table, i: usize) {
        for (mine, theirs) in self.columns.iter_mut().zip(&other.columns) {
            mine.push_from(theirs, i);
        }
    }

    /// Re-codes the encoded column `name` by `dict` (ids it lacks are added to it): so tables
    /// read apart share one coding.
    pub fn recode(&mut self, name: &str, dict: &IdDict) {
        let Some(i) = self.schema.field_index(name) else {
            return;
        };
        if let Values::Codes { dict: d, codes } = &mut self.columns[i] {
            let mut into = dict.clone();
            let map: Vec<u32> = d.iter().map(|id| into.intern(id)).collect();
            codes.iter_mut().for_each(|c| *c = map[*c as usize]);
            *d = into;
        }
    }

    /// A new table holding `rows` of this one, in that order.
    pub fn take(&self, rows: &[usize]) -> Table {
        let mut out = Table::empty(self.schema.clone());
        for &i in rows {
            out.push_row_from(self, i);
        }
        out
    }

    /// For items and users: one row per id, holding the id's last record, in first-seen order.
    /// Interactions are returned unchanged.
    pub fn latest_per_id(self) -> Table {
        let Some(id_field) = self.kind().id_field() else {
            return self;
        };
        let Some((dict, codes)) = self.codes(id_field) else {
            return self;
        };
        let mut last = vec![usize::MAX; dict.len()];
        for (row, &c) in codes.iter().enumerate() {
            last[c as usize] = row;
        }
        if last.len() == codes.len() {
            return self;
        }
        let rows: Vec<usize> = last.into_iter().filter(|&r| r != usize::MAX).collect();
        self.take(&rows)
    }
}
