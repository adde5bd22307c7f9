//! Item and user attributes as the runtime, filters and the content model read them: one
//! value per column, nulls left out.

use std::collections::HashMap;

use crate::data::{Table, Values};
use crate::schema::FieldType;

/// An attribute value of an item or user.
#[derive(Debug, Clone, PartialEq)]
pub enum Attr {
    Text(String),
    Number(f64),
    Bool(bool),
}

impl Attr {
    pub fn to_wire(&self) -> String {
        match self {
            Attr::Text(s) => s.clone(),
            Attr::Number(n) if n.fract() == 0.0 && n.abs() < 1e15 => format!("{}", *n as i64),
            Attr::Number(n) => n.to_string(),
            Attr::Bool(b) => b.to_string(),
        }
    }
}

impl Attr {
    /// The value as a filter compares it.
    pub fn filter_value(&self) -> crate::filters::Value<'_> {
        use crate::filters::Value;
        match self {
            Attr::Text(s) => Value::Text(s),
            Attr::Number(n) => Value::Number(*n),
            Attr::Bool(b) => Value::Bool(*b),
        }
    }

    /// As stored in a put record (and read back by [`Attr::from_json`]).
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Attr::Text(s) => serde_json::Value::String(s.clone()),
            Attr::Number(n) => serde_json::json!(n),
            Attr::Bool(b) => serde_json::Value::Bool(*b),
        }
    }

    /// A stored JSON attribute; `None` for what no attribute is (null, lists, objects).
    pub fn from_json(v: &serde_json::Value) -> Option<Attr> {
        match v {
            serde_json::Value::String(s) => Some(Attr::Text(s.clone())),
            serde_json::Value::Number(n) => n.as_f64().map(Attr::Number),
            serde_json::Value::Bool(b) => Some(Attr::Bool(*b)),
            _ => None,
        }
    }
}

pub type Attrs = HashMap<String, Attr>;

/// An attribute by column name, exact first, then ignoring ASCII case (filters and
/// metadataColumns may spell columns either way).
pub fn lookup<'a>(attrs: &'a Attrs, field: &str) -> Option<&'a Attr> {
    attrs.get(field).or_else(|| {
        attrs
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(field))
            .map(|(_, v)| v)
    })
}

/// A row of a table as attributes (nulls left out).
pub fn row_attrs(table: &Table, row: usize, skip: &str) -> Attrs {
    let mut attrs = Attrs::new();
    for (field, col) in table.schema.fields.iter().zip(&table.columns) {
        if field.name == skip || !col.is_valid(row) {
            continue;
        }
        let v = match col {
            Values::Codes { dict, codes } => Attr::Text(dict.name(codes[row]).to_string()),
            Values::Str(v) => Attr::Text(v[row].as_deref().unwrap_or_default().to_string()),
            Values::Long { data, .. } => Attr::Number(data[row] as f64),
            // A float column holds f32 values: read back the decimal that was written (45.99,
            // not 45.9900016784668), so filters and metadata see the catalogue's own numbers.
            Values::Double { data, .. } if field.ty == FieldType::Float => {
                Attr::Number((data[row] as f32).to_string().parse().unwrap_or(data[row]))
            }
            Values::Double { data, .. } => Attr::Number(data[row]),
            Values::Bool { data, .. } => Attr::Bool(data[row]),
        };
        attrs.insert(field.name.clone(), v);
    }
    attrs
}
