//! Datasets persisted as Avro object container files, written with the dataset's own schema
//! (so any Avro tool can read them), tagged with tailor's dataset format version.

use std::sync::Arc;

use apache_avro::types::Value;
use apache_avro::{Reader, Writer};

use super::table::push_opt;
use super::{Table, Values};
use crate::schema::{DatasetSchema, FieldType};

/// Bumped when the layout of a dataset file changes incompatibly.
pub const FORMAT_VERSION: &str = "1";
const FORMAT_KEY: &str = "tailor.dataset.format";

#[derive(Debug, thiserror::Error)]
pub enum AvroError {
    #[error("dataset file is not readable Avro: {0}")]
    Corrupt(String),
    #[error("dataset file has format version {found:?}; this build reads {FORMAT_VERSION}")]
    Version { found: Option<String> },
    #[error("dataset file was written with a different schema than the dataset's")]
    SchemaMismatch,
}

/// Serialises `table` as an Avro container file.
pub fn write(table: &Table) -> Result<Vec<u8>, AvroError> {
    let schema = &table.schema;
    let mut writer = Writer::new(&schema.avro, Vec::with_capacity(table.rows() * 32));
    writer
        .add_user_metadata(FORMAT_KEY.to_string(), FORMAT_VERSION)
        .map_err(|e| AvroError::Corrupt(e.to_string()))?;
    let names: Vec<&str> = schema.fields.iter().map(|f| f.name.as_str()).collect();
    for row in 0..table.rows() {
        let fields = schema
            .fields
            .iter()
            .zip(&table.columns)
            .zip(&names)
            .map(|((field, col), name)| {
                let v = cell_value(col, row, field.ty);
                let v = match (field.nullable, v) {
                    (false, v) => v,
                    (true, Value::Null) => Value::Union(field.null_index, Box::new(Value::Null)),
                    (true, v) => Value::Union(1 - field.null_index, Box::new(v)),
                };
                (name.to_string(), v)
            })
            .collect();
        writer
            .append_value_ref(&Value::Record(fields))
            .map_err(|e| AvroError::Corrupt(e.to_string()))?;
    }
    writer
        .into_inner()
        .map_err(|e| AvroError::Corrupt(e.to_string()))
}

fn cell_value(col: &Values, row: usize, ty: FieldType) -> Value {
    if !col.is_valid(row) {
        return Value::Null;
    }
    match col {
        Values::Codes { dict, codes } => Value::String(dict.name(codes[row]).to_string()),
        Values::Str(v) => Value::String(v[row].as_deref().unwrap_or_default().to_string()),
        Values::Long { data, .. } if ty == FieldType::Int => Value::Int(data[row] as i32),
        Values::Long { data, .. } => Value::Long(data[row]),
        Values::Double { data, .. } if ty == FieldType::Float => Value::Float(data[row] as f32),
        Values::Double { data, .. } => Value::Double(data[row]),
        Values::Bool { data, .. } => Value::Boolean(data[row]),
    }
}

/// Reads a container file written by [`write`] for `schema`.
pub fn read(schema: Arc<DatasetSchema>, bytes: &[u8]) -> Result<Table, AvroError> {
    let reader = Reader::new(bytes).map_err(|e| AvroError::Corrupt(e.to_string()))?;
    let found = reader
        .user_metadata()
        .get(FORMAT_KEY)
        .map(|v| String::from_utf8_lossy(v).into_owned());
    if found.as_deref() != Some(FORMAT_VERSION) {
        return Err(AvroError::Version { found });
    }
    let written =
        DatasetSchema::parse(&serde_json::to_string(reader.writer_schema()).unwrap_or_default())
            .map_err(|_| AvroError::SchemaMismatch)?;
    if written
        .fields
        .iter()
        .map(|f| (&f.name, f.ty, f.nullable))
        .ne(schema.fields.iter().map(|f| (&f.name, f.ty, f.nullable)))
    {
        return Err(AvroError::SchemaMismatch);
    }
    let mut table = Table::empty(schema);
    for value in reader {
        let value = value.map_err(|e| AvroError::Corrupt(e.to_string()))?;
        let Value::Record(fields) = value else {
            return Err(AvroError::Corrupt("a datum is not a record".into()));
        };
        if fields.len() != table.columns.len() {
            return Err(AvroError::SchemaMismatch);
        }
        for (col, (_, v)) in table.columns.iter_mut().zip(fields) {
            push_value(col, v)?;
        }
    }
    Ok(table)
}

fn push_value(col: &mut Values, v: Value) -> Result<(), AvroError> {
    let v = match v {
        Value::Union(_, inner) => *inner,
        v => v,
    };
    match (col, v) {
        (Values::Codes { dict, codes }, Value::String(s)) => codes.push(dict.intern(&s)),
        (Values::Str(data), Value::String(s)) => data.push(Some(s.into())),
        (Values::Str(data), Value::Null) => data.push(None),
        (Values::Long { data, valid }, Value::Long(x)) => push_opt(data, valid, Some(x)),
        (Values::Long { data, valid }, Value::Int(x)) => push_opt(data, valid, Some(x as i64)),
        (Values::Long { data, valid }, Value::Null) => push_opt(data, valid, None),
        (Values::Double { data, valid }, Value::Double(x)) => push_opt(data, valid, Some(x)),
        (Values::Double { data, valid }, Value::Float(x)) => push_opt(data, valid, Some(x as f64)),
        (Values::Double { data, valid }, Value::Null) => push_opt(data, valid, None),
        (Values::Bool { data, valid }, Value::Boolean(x)) => push_opt(data, valid, Some(x)),
        (Values::Bool { data, valid }, Value::Null) => push_opt(data, valid, None),
        (_, other) => {
            return Err(AvroError::Corrupt(format!(
                "unexpected value {other:?} for a column"
            )))
        }
    }
    Ok(())
}
