//! Personalize dataset schemas: Avro record JSON, parsed with `apache-avro`, checked against
//! Personalize's rules (reserved fields and their types, `categorical` / `textual`, nullable
//! unions, name collisions, column limits).

use std::collections::HashMap;

use apache_avro::schema::{RecordField, Schema as AvroSchema};
use serde::{Deserialize, Serialize};

/// Largest schema document CreateSchema accepts.
pub const MAX_SCHEMA_CHARS: usize = 20_000;
/// Longest USER_ID / ITEM_ID.
pub const MAX_ID_CHARS: usize = 256;
/// Longest categorical value, separators included.
pub const MAX_CATEGORICAL_CHARS: usize = 1_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DatasetType {
    Interactions,
    Items,
    Users,
}

impl DatasetType {
    pub const ALL: [DatasetType; 3] = [
        DatasetType::Interactions,
        DatasetType::Items,
        DatasetType::Users,
    ];

    /// Upper-case form used in ARNs and on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            DatasetType::Interactions => "INTERACTIONS",
            DatasetType::Items => "ITEMS",
            DatasetType::Users => "USERS",
        }
    }

    /// The Avro record name a schema for this dataset type carries.
    pub fn record_name(self) -> &'static str {
        match self {
            DatasetType::Interactions => "Interactions",
            DatasetType::Items => "Items",
            DatasetType::Users => "Users",
        }
    }

    /// The field that identifies a record (none for interactions, which are rows of events).
    pub fn id_field(self) -> Option<&'static str> {
        match self {
            DatasetType::Interactions => None,
            DatasetType::Items => Some("ITEM_ID"),
            DatasetType::Users => Some("USER_ID"),
        }
    }
}

impl std::str::FromStr for DatasetType {
    type Err = String;
    /// Case-insensitive, as CreateDataset takes it.
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_uppercase().as_str() {
            "INTERACTIONS" => Ok(DatasetType::Interactions),
            "ITEMS" => Ok(DatasetType::Items),
            "USERS" => Ok(DatasetType::Users),
            _ => Err(format!(
                "unknown dataset type '{s}' (expected Interactions, Items or Users)"
            )),
        }
    }
}

impl std::fmt::Display for DatasetType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for DatasetType {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for DatasetType {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// The primitive types Personalize allows in a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    String,
    Int,
    Long,
    Float,
    Double,
    Boolean,
}

impl FieldType {
    pub fn as_str(self) -> &'static str {
        match self {
            FieldType::String => "string",
            FieldType::Int => "int",
            FieldType::Long => "long",
            FieldType::Float => "float",
            FieldType::Double => "double",
            FieldType::Boolean => "boolean",
        }
    }

    pub fn is_numeric(self) -> bool {
        matches!(
            self,
            FieldType::Int | FieldType::Long | FieldType::Float | FieldType::Double
        )
    }
}

/// One checked field of a dataset schema.
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    pub name: String,
    pub ty: FieldType,
    pub nullable: bool,
    /// Position of `null` in the union when nullable (0 for `["null","string"]`).
    pub null_index: u32,
    pub categorical: bool,
    pub textual: bool,
}

impl Field {
    /// The reserved role of this field, if its name is a Personalize keyword for the dataset.
    pub fn reserved(&self, kind: DatasetType) -> Option<Reserved> {
        reserved_fields(kind)
            .iter()
            .find(|r| r.name == self.name)
            .copied()
    }
}

/// A reserved field and the types Personalize prescribes for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reserved {
    pub name: &'static str,
    pub ty: FieldType,
    pub required: bool,
    /// Whether `["null", ty]` is allowed.
    pub may_be_null: bool,
}

const fn r(name: &'static str, ty: FieldType, required: bool, may_be_null: bool) -> Reserved {
    Reserved {
        name,
        ty,
        required,
        may_be_null,
    }
}

const INTERACTIONS_RESERVED: &[Reserved] = &[
    r("USER_ID", FieldType::String, true, false),
    r("ITEM_ID", FieldType::String, true, false),
    r("TIMESTAMP", FieldType::Long, true, false),
    r("EVENT_TYPE", FieldType::String, false, false),
    r("EVENT_VALUE", FieldType::Float, false, true),
    r("IMPRESSION", FieldType::String, false, true),
    r("RECOMMENDATION_ID", FieldType::String, false, true),
    r("EVENT_ATTRIBUTION_SOURCE", FieldType::String, false, true),
];
const ITEMS_RESERVED: &[Reserved] = &[
    r("ITEM_ID", FieldType::String, true, false),
    r("CREATION_TIMESTAMP", FieldType::Long, false, true),
];
const USERS_RESERVED: &[Reserved] = &[r("USER_ID", FieldType::String, true, false)];

pub fn reserved_fields(kind: DatasetType) -> &'static [Reserved] {
    match kind {
        DatasetType::Interactions => INTERACTIONS_RESERVED,
        DatasetType::Items => ITEMS_RESERVED,
        DatasetType::Users => USERS_RESERVED,
    }
}

/// Most non-reserved metadata columns a dataset of this type may have.
pub fn max_metadata_fields(kind: DatasetType) -> usize {
    match kind {
        DatasetType::Interactions => 5,
        DatasetType::Items => 50,
        DatasetType::Users => 5,
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SchemaError {
    #[error("schema is {0} characters; the limit is {MAX_SCHEMA_CHARS}")]
    TooLong(usize),
    #[error("schema is not valid JSON: line {line}, column {column}: {reason}")]
    InvalidJson {
        line: usize,
        column: usize,
        reason: String,
    },
    #[error("schema is not valid Avro: {0}")]
    InvalidAvro(String),
    #[error("schema must be an Avro record with fields")]
    NotRecord,
    #[error("record name '{0}' must be Interactions, Items or Users")]
    UnknownRecordName(String),
    #[error("schema is for {found} but the dataset type is {expected}")]
    WrongDatasetType {
        expected: DatasetType,
        found: DatasetType,
    },
    #[error("field '{field}': type {found} is not allowed (use string, int, long, float, double, boolean, or a union of one of them with null)")]
    UnsupportedType { field: String, found: String },
    #[error("field '{field}': a union must be exactly [\"null\", <type>]")]
    BadUnion { field: String },
    #[error("{dataset} schema needs field '{field}' of type {ty}")]
    MissingRequired {
        dataset: DatasetType,
        field: &'static str,
        ty: &'static str,
    },
    #[error("reserved field '{field}' must be of type {expected}{}, found {found}", if *.may_be_null { " (or nullable)" } else { " (not nullable)" })]
    ReservedType {
        field: String,
        expected: &'static str,
        may_be_null: bool,
        found: String,
    },
    #[error("reserved field name '{found}' must be written '{reserved}'")]
    ReservedCase {
        found: String,
        reserved: &'static str,
    },
    #[error("field '{field}': \"categorical\" is only allowed on string fields")]
    CategoricalNotString { field: String },
    #[error("field '{field}': EVENT_TYPE can never be categorical")]
    EventTypeCategorical { field: String },
    #[error("field '{field}': \"textual\" is only allowed on string fields of an Items schema")]
    TextualMisplaced { field: String },
    #[error("field '{field}' cannot be both categorical and textual")]
    CategoricalAndTextual { field: String },
    #[error("field '{field}': attribute '{attribute}' must be true or false")]
    BadAttribute { field: String, attribute: String },
    #[error("fields '{first}' and '{second}' collide: names must differ in more than case and non-alphanumeric characters")]
    NameCollision { first: String, second: String },
    #[error("{dataset} schema has {found} metadata fields; at most {max} are allowed")]
    TooManyFields {
        dataset: DatasetType,
        found: usize,
        max: usize,
    },
    #[error("{dataset} schema needs at least one metadata field besides {id} (categorical, textual, numeric or boolean)")]
    NoMetadata {
        dataset: DatasetType,
        id: &'static str,
    },
}

/// A parsed and checked dataset schema.
#[derive(Debug, Clone)]
pub struct DatasetSchema {
    pub dataset_type: DatasetType,
    pub fields: Vec<Field>,
    /// The schema as `apache-avro` holds it; datasets are written with it.
    pub avro: AvroSchema,
    /// The JSON as registered.
    pub source: String,
}

impl PartialEq for DatasetSchema {
    fn eq(&self, other: &Self) -> bool {
        self.dataset_type == other.dataset_type && self.fields == other.fields
    }
}

/// Checks every `name` and `namespace` in the schema JSON against Avro's name rule before
/// apache-avro parses it: its parser panics on a record name that breaks the rule (0.21).
fn check_names(value: &serde_json::Value) -> Result<(), SchemaError> {
    fn valid(name: &str) -> bool {
        name.split('.').all(|part| {
            let mut chars = part.chars();
            chars
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        })
    }
    match value {
        serde_json::Value::Object(map) => {
            for key in ["name", "namespace"] {
                if let Some(serde_json::Value::String(name)) = map.get(key) {
                    if !(valid(name) || key == "namespace" && name.is_empty()) {
                        return Err(SchemaError::InvalidAvro(format!(
                            "{key} {name:?} is not a valid Avro name (letters, digits and _, \
                             not starting with a digit; dots between namespace parts)"
                        )));
                    }
                }
            }
            map.values().try_for_each(check_names)
        }
        serde_json::Value::Array(items) => items.iter().try_for_each(check_names),
        _ => Ok(()),
    }
}

impl DatasetSchema {
    /// Parses and checks a schema; the dataset type comes from the record name. A leading
    /// UTF-8 byte-order mark is dropped: editors on Windows write one, and it is not content.
    pub fn parse(json: &str) -> Result<DatasetSchema, SchemaError> {
        let json = strip_bom(json);
        if json.chars().count() > MAX_SCHEMA_CHARS {
            return Err(SchemaError::TooLong(json.chars().count()));
        }
        let value: serde_json::Value = serde_json::from_str(json).map_err(json_error)?;
        check_names(&value)?;
        let avro = AvroSchema::parse(&value).map_err(|e| SchemaError::InvalidAvro(chain(&e)))?;
        let AvroSchema::Record(record) = &avro else {
            return Err(SchemaError::NotRecord);
        };
        let dataset_type = DatasetType::ALL
            .into_iter()
            .find(|t| t.record_name().eq_ignore_ascii_case(&record.name.name))
            .ok_or_else(|| SchemaError::UnknownRecordName(record.name.name.clone()))?;
        if record.fields.is_empty() {
            return Err(SchemaError::NotRecord);
        }
        let fields = record
            .fields
            .iter()
            .map(parse_field)
            .collect::<Result<Vec<_>, _>>()?;
        let schema = DatasetSchema {
            dataset_type,
            fields,
            avro: avro.clone(),
            source: json.into(),
        };
        schema.check()?;
        Ok(schema)
    }

    /// Parses a schema that must be for `expected`.
    pub fn parse_for(expected: DatasetType, json: &str) -> Result<DatasetSchema, SchemaError> {
        let schema = Self::parse(json)?;
        if schema.dataset_type != expected {
            return Err(SchemaError::WrongDatasetType {
                expected,
                found: schema.dataset_type,
            });
        }
        Ok(schema)
    }

    pub fn field_index(&self, name: &str) -> Option<usize> {
        self.fields.iter().position(|f| f.name == name)
    }

    /// Case-insensitive lookup, as CSV headers are matched.
    pub fn field_index_ignore_case(&self, name: &str) -> Option<usize> {
        self.fields
            .iter()
            .position(|f| f.name.eq_ignore_ascii_case(name))
    }

    fn check(&self) -> Result<(), SchemaError> {
        let kind = self.dataset_type;
        let reserved = reserved_fields(kind);
        let mut seen: HashMap<String, &str> = HashMap::new();
        let mut metadata = 0usize;
        let mut useful_metadata = 0usize;
        for f in &self.fields {
            let key: String = f
                .name
                .chars()
                .filter(|c| c.is_ascii_alphanumeric())
                .collect::<String>();
            let key = key.to_ascii_uppercase();
            if let Some(first) = seen.insert(key, &f.name) {
                return Err(SchemaError::NameCollision {
                    first: first.to_string(),
                    second: f.name.clone(),
                });
            }
            if f.categorical && f.textual {
                return Err(SchemaError::CategoricalAndTextual {
                    field: f.name.clone(),
                });
            }
            if f.categorical && f.ty != FieldType::String {
                return Err(SchemaError::CategoricalNotString {
                    field: f.name.clone(),
                });
            }
            if f.textual && (f.ty != FieldType::String || kind != DatasetType::Items) {
                return Err(SchemaError::TextualMisplaced {
                    field: f.name.clone(),
                });
            }
            if let Some(res) = reserved
                .iter()
                .find(|r| r.name.eq_ignore_ascii_case(&f.name))
            {
                if res.name != f.name {
                    return Err(SchemaError::ReservedCase {
                        found: f.name.clone(),
                        reserved: res.name,
                    });
                }
                if f.ty != res.ty || (f.nullable && !res.may_be_null) {
                    return Err(SchemaError::ReservedType {
                        field: f.name.clone(),
                        expected: res.ty.as_str(),
                        may_be_null: res.may_be_null,
                        found: describe_type(f),
                    });
                }
                if res.name == "EVENT_TYPE" && f.categorical {
                    return Err(SchemaError::EventTypeCategorical {
                        field: f.name.clone(),
                    });
                }
            } else {
                metadata += 1;
                if f.categorical || f.textual || f.ty != FieldType::String {
                    useful_metadata += 1;
                }
            }
        }
        for res in reserved.iter().filter(|r| r.required) {
            if self.field_index(res.name).is_none() {
                return Err(SchemaError::MissingRequired {
                    dataset: kind,
                    field: res.name,
                    ty: res.ty.as_str(),
                });
            }
        }
        let max = max_metadata_fields(kind);
        if metadata > max {
            return Err(SchemaError::TooManyFields {
                dataset: kind,
                found: metadata,
                max,
            });
        }
        if let Some(id) = kind.id_field() {
            if useful_metadata == 0 {
                return Err(SchemaError::NoMetadata { dataset: kind, id });
            }
        }
        Ok(())
    }
}

/// `text` without a leading UTF-8 byte-order mark.
pub fn strip_bom(text: &str) -> &str {
    text.strip_prefix('\u{feff}').unwrap_or(text)
}

/// serde_json's message carries " at line L column C"; the position gets its own fields.
fn json_error(e: serde_json::Error) -> SchemaError {
    let (line, column) = (e.line(), e.column());
    let message = e.to_string();
    let suffix = format!(" at line {line} column {column}");
    SchemaError::InvalidJson {
        line,
        column,
        reason: message
            .strip_suffix(&suffix)
            .unwrap_or(&message)
            .to_string(),
    }
}

/// An error and its causes, since apache-avro's top-level messages say little on their own.
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        out.push_str(": ");
        out.push_str(&c.to_string());
        cause = c.source();
    }
    out
}

fn describe_type(f: &Field) -> String {
    if f.nullable {
        format!("[\"null\",\"{}\"]", f.ty.as_str())
    } else {
        f.ty.as_str().to_string()
    }
}

fn primitive(schema: &AvroSchema) -> Option<FieldType> {
    Some(match schema {
        AvroSchema::String => FieldType::String,
        AvroSchema::Int => FieldType::Int,
        AvroSchema::Long => FieldType::Long,
        AvroSchema::Float => FieldType::Float,
        AvroSchema::Double => FieldType::Double,
        AvroSchema::Boolean => FieldType::Boolean,
        _ => return None,
    })
}

fn type_name(schema: &AvroSchema) -> String {
    serde_json::to_string(schema).unwrap_or_else(|_| format!("{schema:?}"))
}

fn parse_field(rf: &RecordField) -> Result<Field, SchemaError> {
    let (ty, nullable, null_index) = match &rf.schema {
        AvroSchema::Union(u) => {
            let variants = u.variants();
            let null_pos = variants.iter().position(|v| matches!(v, AvroSchema::Null));
            let others: Vec<&AvroSchema> = variants
                .iter()
                .filter(|v| !matches!(v, AvroSchema::Null))
                .collect();
            match (null_pos, others.as_slice()) {
                (Some(pos), [one]) if variants.len() == 2 => {
                    let ty = primitive(one).ok_or_else(|| SchemaError::UnsupportedType {
                        field: rf.name.clone(),
                        found: type_name(&rf.schema),
                    })?;
                    (ty, true, pos as u32)
                }
                _ => {
                    return Err(SchemaError::BadUnion {
                        field: rf.name.clone(),
                    })
                }
            }
        }
        other => {
            let ty = primitive(other).ok_or_else(|| SchemaError::UnsupportedType {
                field: rf.name.clone(),
                found: type_name(other),
            })?;
            (ty, false, 0)
        }
    };
    let flag = |attribute: &str| -> Result<bool, SchemaError> {
        match rf.custom_attributes.get(attribute) {
            None => Ok(false),
            Some(serde_json::Value::Bool(b)) => Ok(*b),
            Some(_) => Err(SchemaError::BadAttribute {
                field: rf.name.clone(),
                attribute: attribute.into(),
            }),
        }
    };
    Ok(Field {
        name: rf.name.clone(),
        ty,
        nullable,
        null_index,
        categorical: flag("categorical")?,
        textual: flag("textual")?,
    })
}

impl DatasetSchema {
    /// A schema for a CSV header, for files evaluated outside a dataset group: reserved fields
    /// get their prescribed types, any other column is a nullable categorical string.
    pub fn infer(kind: DatasetType, header: &[&str]) -> Result<DatasetSchema, SchemaError> {
        Self::infer_with_text(kind, header, &[])
    }

    /// [`Self::infer`], with the named columns `textual` rather than categorical.
    pub fn infer_with_text(
        kind: DatasetType,
        header: &[&str],
        textual: &[&str],
    ) -> Result<DatasetSchema, SchemaError> {
        let fields: Vec<serde_json::Value> = header
            .iter()
            .map(|name| {
                let name = name.trim();
                let upper = name.to_ascii_uppercase();
                match reserved_fields(kind).iter().find(|r| r.name == upper) {
                    Some(r) if r.may_be_null => serde_json::json!({"name": r.name, "type": ["null", r.ty.as_str()]}),
                    Some(r) => serde_json::json!({"name": r.name, "type": r.ty.as_str()}),
                    None if textual.iter().any(|t| t.eq_ignore_ascii_case(name)) => serde_json::json!({"name": name, "type": ["null", "string"], "textual": true}),
                    None => serde_json::json!({"name": name, "type": ["null", "string"], "categorical": true}),
                }
            })
            .collect();
        let json = serde_json::json!({
            "type": "record",
            "name": kind.record_name(),
            "namespace": "com.amazonaws.personalize.schema",
            "fields": fields,
            "version": "1.0",
        });
        DatasetSchema::parse(&json.to_string())
    }
}
