//! Personalize's schema rules (reference §3): every rule accepted and rejected, asserting the
//! specific `SchemaError` variant.

use tailor_core::schema::{DatasetSchema, DatasetType, Field, FieldType, SchemaError};

/// A schema document: a record named `name` holding the given field JSON snippets.
fn doc(name: &str, fields: &[&str]) -> String {
    format!(
        r#"{{"type":"record","name":"{name}","namespace":"com.amazonaws.personalize.schema","fields":[{}],"version":"1.0"}}"#,
        fields.join(",")
    )
}

fn parse(name: &str, fields: &[&str]) -> Result<DatasetSchema, SchemaError> {
    DatasetSchema::parse(&doc(name, fields))
}

fn ok(name: &str, fields: &[&str]) -> DatasetSchema {
    match parse(name, fields) {
        Ok(s) => s,
        Err(e) => panic!("expected {name} schema to parse, got: {e}"),
    }
}

fn err(name: &str, fields: &[&str]) -> SchemaError {
    match parse(name, fields) {
        Ok(s) => panic!("expected {name} schema to be rejected, got {:?}", s.fields),
        Err(e) => e,
    }
}

/// A field snippet: `ty` is raw JSON (`"\"string\""`, `"[\"null\",\"int\"]"`, ...).
fn f(name: &str, ty: &str) -> String {
    format!(r#"{{"name":"{name}","type":{ty}}}"#)
}

const USER_ID: &str = r#"{"name":"USER_ID","type":"string"}"#;
const ITEM_ID: &str = r#"{"name":"ITEM_ID","type":"string"}"#;
const TIMESTAMP: &str = r#"{"name":"TIMESTAMP","type":"long"}"#;
const GENRES: &str = r#"{"name":"GENRES","type":"string","categorical":true}"#;
const AGE: &str = r#"{"name":"AGE","type":"int"}"#;

fn field<'a>(s: &'a DatasetSchema, name: &str) -> &'a Field {
    let i = s
        .field_index(name)
        .unwrap_or_else(|| panic!("no field {name}"));
    &s.fields[i]
}

/// (categorical, textual, nullable)
fn flags(s: &DatasetSchema, name: &str) -> (bool, bool, bool) {
    let f = field(s, name);
    (f.categorical, f.textual, f.nullable)
}

// ---------------------------------------------------------------- example schemas

#[test]
fn example_ecommerce_interactions_parses() {
    let s = DatasetSchema::parse(include_str!(
        "../../../../schemas/ecommerce-interactions.json"
    ))
    .unwrap();
    assert_eq!(s.dataset_type, DatasetType::Interactions);
    assert_eq!(s.fields.len(), 6);
    assert_eq!(flags(&s, "USER_ID"), (false, false, false));
    assert_eq!(flags(&s, "EVENT_TYPE"), (false, false, false));
    assert_eq!(flags(&s, "EVENT_VALUE"), (false, false, true));
    assert_eq!(field(&s, "EVENT_VALUE").ty, FieldType::Float);
    assert_eq!(field(&s, "TIMESTAMP").ty, FieldType::Long);
    assert_eq!(flags(&s, "DEVICE"), (true, false, true));
}

#[test]
fn example_ecommerce_items_parses() {
    let s = DatasetSchema::parse(include_str!("../../../../schemas/ecommerce-items.json")).unwrap();
    assert_eq!(s.dataset_type, DatasetType::Items);
    assert_eq!(flags(&s, "ITEM_ID"), (false, false, false));
    assert_eq!(flags(&s, "TITLE"), (false, true, false));
    assert_eq!(flags(&s, "CATEGORY_L1"), (true, false, false));
    assert_eq!(flags(&s, "CATEGORY_L2"), (true, false, true));
    assert_eq!(flags(&s, "DESCRIPTION"), (false, true, true));
    assert_eq!(field(&s, "PRICE").ty, FieldType::Float);
    assert_eq!(field(&s, "IN_STOCK").ty, FieldType::Boolean);
    assert_eq!(field(&s, "CREATION_TIMESTAMP").ty, FieldType::Long);
}

#[test]
fn example_ecommerce_users_parses() {
    let s = DatasetSchema::parse(include_str!("../../../../schemas/ecommerce-users.json")).unwrap();
    assert_eq!(s.dataset_type, DatasetType::Users);
    assert_eq!(flags(&s, "USER_ID"), (false, false, false));
    assert_eq!(flags(&s, "MEMBERSHIP"), (true, false, false));
    assert_eq!(flags(&s, "AGE"), (false, false, true));
    assert_eq!(field(&s, "AGE").ty, FieldType::Int);
}

#[test]
fn example_movielens_interactions_parses() {
    let s = DatasetSchema::parse(include_str!(
        "../../../../schemas/movielens-interactions.json"
    ))
    .unwrap();
    assert_eq!(s.dataset_type, DatasetType::Interactions);
    assert_eq!(s.fields.len(), 5);
    assert_eq!(flags(&s, "EVENT_VALUE"), (false, false, true));
    assert_eq!(field(&s, "EVENT_VALUE").null_index, 0);
}

#[test]
fn example_movielens_items_parses() {
    let s = DatasetSchema::parse(include_str!("../../../../schemas/movielens-items.json")).unwrap();
    assert_eq!(s.dataset_type, DatasetType::Items);
    assert_eq!(flags(&s, "TITLE"), (false, true, false));
    assert_eq!(flags(&s, "GENRES"), (true, false, true));
    assert_eq!(flags(&s, "YEAR"), (false, false, true));
    assert_eq!(field(&s, "YEAR").ty, FieldType::Int);
}

#[test]
fn example_schemas_parse_for_their_own_type_only() {
    let items = include_str!("../../../../schemas/movielens-items.json");
    assert!(DatasetSchema::parse_for(DatasetType::Items, items).is_ok());
    let e = DatasetSchema::parse_for(DatasetType::Interactions, items).unwrap_err();
    assert!(matches!(
        e,
        SchemaError::WrongDatasetType {
            expected: DatasetType::Interactions,
            found: DatasetType::Items
        }
    ));
}

// ---------------------------------------------------------------- document shape

#[test]
fn invalid_json_says_where() {
    let e = DatasetSchema::parse(r#"{"type":"record","name":"Users","fields":["#).unwrap_err();
    assert!(
        matches!(
            e,
            SchemaError::InvalidJson {
                line: 1,
                column: 42,
                ..
            }
        ),
        "{e:?}"
    );
    let e = DatasetSchema::parse("not json at all").unwrap_err();
    assert!(
        matches!(
            e,
            SchemaError::InvalidJson {
                line: 1,
                column: 2,
                ..
            }
        ),
        "{e:?}"
    );
}

#[test]
fn invalid_json_names_line_column_and_what_was_wrong() {
    let json = "{\n  \"type\": \"record\",\n  \"name\": \"Users\"\n  \"fields\": []\n}";
    let e = DatasetSchema::parse(json).unwrap_err();
    assert_eq!(
        e.to_string(),
        "schema is not valid JSON: line 4, column 3: expected `,` or `}`"
    );
    let e: tailor_core::Error = e.into();
    assert_eq!(e.kind(), tailor_core::ErrorKind::InvalidInput);
}

#[test]
fn a_leading_byte_order_mark_is_accepted() {
    let plain = doc("Users", &[USER_ID, AGE]);
    let s = DatasetSchema::parse(&format!("\u{feff}{plain}")).unwrap();
    assert_eq!(s, DatasetSchema::parse(&plain).unwrap());
    assert_eq!(s.source, plain, "the mark is not part of the stored schema");
    // Only a leading one: elsewhere it is a character JSON does not allow.
    let e = DatasetSchema::parse(&format!(" \u{feff}{plain}")).unwrap_err();
    assert!(
        matches!(
            e,
            SchemaError::InvalidJson {
                line: 1,
                column: 2,
                ..
            }
        ),
        "{e:?}"
    );
}

#[test]
fn avro_errors_carry_their_cause() {
    let e = DatasetSchema::parse(&doc("Users", &[USER_ID, &f("AGE", "\"integer\"")])).unwrap_err();
    let SchemaError::InvalidAvro(m) = &e else {
        panic!("{e:?}")
    };
    assert!(m.contains("integer"), "{m}");
}

#[test]
fn invalid_avro_type_is_invalid_avro() {
    let e = DatasetSchema::parse(&doc("Users", &[USER_ID, &f("AGE", "\"integer\"")])).unwrap_err();
    assert!(matches!(e, SchemaError::InvalidAvro(_)), "{e:?}");
}

#[test]
fn names_breaking_avros_rule_are_invalid_avro_not_a_panic() {
    // apache-avro 0.21 panics on such a record name; the check before it answers instead.
    for (name, namespace) in [
        ("Ite-s", "com.amazonaws.personalize.schema"),
        ("Items", "com.-x"),
    ] {
        let json = format!(
            r#"{{"type":"record","name":"{name}","namespace":"{namespace}","fields":[{{"name":"ITEM_ID","type":"string"}}],"version":"1.0"}}"#
        );
        let e = DatasetSchema::parse(&json).unwrap_err();
        let SchemaError::InvalidAvro(m) = &e else {
            panic!("{e:?}")
        };
        assert!(m.contains("is not a valid Avro name"), "{m}");
    }
}

#[test]
fn non_record_is_rejected() {
    let e = DatasetSchema::parse(r#""string""#).unwrap_err();
    assert!(matches!(e, SchemaError::NotRecord), "{e:?}");
    let e =
        DatasetSchema::parse(r#"{"type":"enum","name":"Users","symbols":["A","B"]}"#).unwrap_err();
    assert!(matches!(e, SchemaError::NotRecord), "{e:?}");
    let e = DatasetSchema::parse(r#"{"type":"array","items":"string"}"#).unwrap_err();
    assert!(matches!(e, SchemaError::NotRecord), "{e:?}");
}

#[test]
fn record_without_fields_is_rejected() {
    let e = err("Users", &[]);
    assert!(matches!(e, SchemaError::NotRecord), "{e:?}");
}

#[test]
fn unknown_record_name_is_rejected() {
    let e = err("Actions", &[USER_ID, GENRES]);
    assert!(
        matches!(&e, SchemaError::UnknownRecordName(n) if n == "Actions"),
        "{e:?}"
    );
    let e = err("Movies", &[ITEM_ID, GENRES]);
    assert!(
        matches!(&e, SchemaError::UnknownRecordName(n) if n == "Movies"),
        "{e:?}"
    );
}

#[test]
fn record_name_decides_dataset_type() {
    assert_eq!(
        ok("Interactions", &[USER_ID, ITEM_ID, TIMESTAMP]).dataset_type,
        DatasetType::Interactions
    );
    assert_eq!(
        ok("Items", &[ITEM_ID, GENRES]).dataset_type,
        DatasetType::Items
    );
    assert_eq!(
        ok("Users", &[USER_ID, GENRES]).dataset_type,
        DatasetType::Users
    );
}

#[test]
fn parse_for_with_the_wrong_type_fails() {
    let users = doc("Users", &[USER_ID, AGE]);
    assert_eq!(
        DatasetSchema::parse_for(DatasetType::Users, &users)
            .unwrap()
            .dataset_type,
        DatasetType::Users
    );
    for expected in [DatasetType::Items, DatasetType::Interactions] {
        let e = DatasetSchema::parse_for(expected, &users).unwrap_err();
        assert!(
            matches!(e, SchemaError::WrongDatasetType { expected: x, found: DatasetType::Users } if x == expected),
            "{e:?}"
        );
    }
}

#[test]
fn parse_for_reports_schema_errors_before_type_mismatch() {
    let bad = doc("Users", &[USER_ID]);
    let e = DatasetSchema::parse_for(DatasetType::Items, &bad).unwrap_err();
    assert!(matches!(e, SchemaError::NoMetadata { .. }), "{e:?}");
}

// ---------------------------------------------------------------- field types

#[test]
fn every_primitive_type_is_accepted() {
    let s = ok(
        "Items",
        &[
            ITEM_ID,
            &f("S", r#""string""#),
            &f("I", r#""int""#),
            &f("L", r#""long""#),
            &f("F", r#""float""#),
            &f("D", r#""double""#),
            &f("B", r#""boolean""#),
        ],
    );
    let tys: Vec<FieldType> = s.fields.iter().skip(1).map(|f| f.ty).collect();
    assert_eq!(
        tys,
        [
            FieldType::String,
            FieldType::Int,
            FieldType::Long,
            FieldType::Float,
            FieldType::Double,
            FieldType::Boolean
        ]
    );
    assert!(s.fields.iter().all(|f| !f.nullable));
}

fn assert_unsupported(ty: &str) {
    let e = err("Items", &[ITEM_ID, GENRES, &f("X", ty)]);
    assert!(
        matches!(&e, SchemaError::UnsupportedType { field, .. } if field == "X"),
        "{ty}: {e:?}"
    );
}

#[test]
fn array_type_is_unsupported() {
    assert_unsupported(r#"{"type":"array","items":"string"}"#);
}

#[test]
fn map_type_is_unsupported() {
    assert_unsupported(r#"{"type":"map","values":"int"}"#);
}

#[test]
fn nested_record_is_unsupported() {
    assert_unsupported(
        r#"{"type":"record","name":"Inner","fields":[{"name":"a","type":"string"}]}"#,
    );
}

#[test]
fn enum_type_is_unsupported() {
    assert_unsupported(r#"{"type":"enum","name":"Color","symbols":["RED","GREEN"]}"#);
}

#[test]
fn bytes_type_is_unsupported() {
    assert_unsupported(r#""bytes""#);
}

#[test]
fn fixed_type_is_unsupported() {
    assert_unsupported(r#"{"type":"fixed","name":"Hash","size":16}"#);
}

#[test]
fn logical_timestamp_millis_is_unsupported() {
    assert_unsupported(r#"{"type":"long","logicalType":"timestamp-millis"}"#);
}

#[test]
fn plain_null_type_is_unsupported() {
    assert_unsupported(r#""null""#);
}

#[test]
fn nullable_unsupported_type_is_unsupported() {
    assert_unsupported(r#"["null",{"type":"array","items":"string"}]"#);
    assert_unsupported(r#"["null","bytes"]"#);
}

#[test]
fn union_without_null_is_bad_union() {
    let e = err("Items", &[ITEM_ID, GENRES, &f("X", r#"["string","int"]"#)]);
    assert!(
        matches!(&e, SchemaError::BadUnion { field } if field == "X"),
        "{e:?}"
    );
}

#[test]
fn union_of_three_is_bad_union() {
    let e = err(
        "Items",
        &[ITEM_ID, GENRES, &f("X", r#"["null","string","int"]"#)],
    );
    assert!(
        matches!(&e, SchemaError::BadUnion { field } if field == "X"),
        "{e:?}"
    );
}

#[test]
fn union_of_null_alone_is_bad_union() {
    let e = err("Items", &[ITEM_ID, GENRES, &f("X", r#"["null"]"#)]);
    assert!(
        matches!(&e, SchemaError::BadUnion { field } if field == "X"),
        "{e:?}"
    );
}

#[test]
fn null_first_union_is_nullable_with_index_0() {
    let s = ok("Items", &[ITEM_ID, GENRES, &f("X", r#"["null","double"]"#)]);
    let x = field(&s, "X");
    assert!(x.nullable);
    assert_eq!(x.null_index, 0);
    assert_eq!(x.ty, FieldType::Double);
}

#[test]
fn null_second_union_is_nullable_with_index_1() {
    let s = ok(
        "Items",
        &[
            ITEM_ID,
            r#"{"name":"X","type":["string","null"],"categorical":true}"#,
        ],
    );
    let x = field(&s, "X");
    assert!(x.nullable);
    assert_eq!(x.null_index, 1);
    assert_eq!(x.ty, FieldType::String);
    assert!(x.categorical);
}

// ---------------------------------------------------------------- required and reserved fields

fn assert_missing(e: SchemaError, dataset: DatasetType, name: &str) {
    assert!(
        matches!(&e, SchemaError::MissingRequired { dataset: d, field, .. } if *d == dataset && *field == name),
        "expected {name} missing from {dataset}: {e:?}"
    );
}

#[test]
fn interactions_need_user_id() {
    assert_missing(
        err("Interactions", &[ITEM_ID, TIMESTAMP]),
        DatasetType::Interactions,
        "USER_ID",
    );
}

#[test]
fn interactions_need_item_id() {
    assert_missing(
        err("Interactions", &[USER_ID, TIMESTAMP]),
        DatasetType::Interactions,
        "ITEM_ID",
    );
}

#[test]
fn interactions_need_timestamp() {
    assert_missing(
        err("Interactions", &[USER_ID, ITEM_ID]),
        DatasetType::Interactions,
        "TIMESTAMP",
    );
}

#[test]
fn items_need_item_id() {
    assert_missing(
        err("Items", &[&f("ID", r#""string""#), GENRES]),
        DatasetType::Items,
        "ITEM_ID",
    );
}

#[test]
fn users_need_user_id() {
    assert_missing(
        err("Users", &[&f("ID", r#""string""#), AGE]),
        DatasetType::Users,
        "USER_ID",
    );
}

#[test]
fn interactions_minimal_and_all_reserved_are_accepted() {
    let s = ok("Interactions", &[USER_ID, ITEM_ID, TIMESTAMP]);
    assert_eq!(s.fields.len(), 3);
    let s = ok(
        "Interactions",
        &[
            USER_ID,
            ITEM_ID,
            TIMESTAMP,
            &f("EVENT_TYPE", r#""string""#),
            &f("EVENT_VALUE", r#""float""#),
            &f("IMPRESSION", r#""string""#),
            &f("RECOMMENDATION_ID", r#"["null","string"]"#),
            &f("EVENT_ATTRIBUTION_SOURCE", r#"["null","string"]"#),
        ],
    );
    assert_eq!(s.fields.len(), 8);
}

fn assert_reserved_type(e: SchemaError, name: &str) {
    assert!(
        matches!(&e, SchemaError::ReservedType { field, .. } if field == name),
        "expected ReservedType for {name}: {e:?}"
    );
}

#[test]
fn timestamp_as_int_is_rejected() {
    assert_reserved_type(
        err(
            "Interactions",
            &[USER_ID, ITEM_ID, &f("TIMESTAMP", r#""int""#)],
        ),
        "TIMESTAMP",
    );
}

#[test]
fn timestamp_as_string_is_rejected() {
    assert_reserved_type(
        err(
            "Interactions",
            &[USER_ID, ITEM_ID, &f("TIMESTAMP", r#""string""#)],
        ),
        "TIMESTAMP",
    );
}

#[test]
fn timestamp_nullable_is_rejected() {
    assert_reserved_type(
        err(
            "Interactions",
            &[USER_ID, ITEM_ID, &f("TIMESTAMP", r#"["null","long"]"#)],
        ),
        "TIMESTAMP",
    );
}

#[test]
fn event_value_as_string_is_rejected() {
    assert_reserved_type(
        err(
            "Interactions",
            &[
                USER_ID,
                ITEM_ID,
                TIMESTAMP,
                &f("EVENT_VALUE", r#""string""#),
            ],
        ),
        "EVENT_VALUE",
    );
}

#[test]
fn user_id_nullable_is_rejected() {
    assert_reserved_type(
        err(
            "Interactions",
            &[&f("USER_ID", r#"["null","string"]"#), ITEM_ID, TIMESTAMP],
        ),
        "USER_ID",
    );
    assert_reserved_type(
        err("Users", &[&f("USER_ID", r#"["null","string"]"#), AGE]),
        "USER_ID",
    );
}

#[test]
fn item_id_as_int_is_rejected() {
    assert_reserved_type(
        err("Items", &[&f("ITEM_ID", r#""int""#), GENRES]),
        "ITEM_ID",
    );
}

#[test]
fn creation_timestamp_as_string_is_rejected() {
    assert_reserved_type(
        err(
            "Items",
            &[ITEM_ID, GENRES, &f("CREATION_TIMESTAMP", r#""string""#)],
        ),
        "CREATION_TIMESTAMP",
    );
}

#[test]
fn creation_timestamp_nullable_long_is_accepted() {
    let s = ok(
        "Items",
        &[
            ITEM_ID,
            GENRES,
            &f("CREATION_TIMESTAMP", r#"["null","long"]"#),
        ],
    );
    assert_eq!(flags(&s, "CREATION_TIMESTAMP"), (false, false, true));
}

#[test]
fn event_value_nullable_float_is_accepted() {
    let s = ok(
        "Interactions",
        &[
            USER_ID,
            ITEM_ID,
            TIMESTAMP,
            &f("EVENT_VALUE", r#"["null","float"]"#),
        ],
    );
    let ev = field(&s, "EVENT_VALUE");
    assert!(ev.nullable);
    assert_eq!(ev.ty, FieldType::Float);
}

#[test]
fn impression_nullable_string_is_accepted() {
    let s = ok(
        "Interactions",
        &[
            USER_ID,
            ITEM_ID,
            TIMESTAMP,
            &f("IMPRESSION", r#"["null","string"]"#),
        ],
    );
    assert!(field(&s, "IMPRESSION").nullable);
}

#[test]
fn reserved_name_in_wrong_case_is_rejected() {
    let e = err(
        "Interactions",
        &[&f("user_id", r#""string""#), ITEM_ID, TIMESTAMP],
    );
    assert!(
        matches!(&e, SchemaError::ReservedCase { found, reserved: "USER_ID" } if found == "user_id"),
        "{e:?}"
    );
    let e = err("Items", &[&f("Item_Id", r#""string""#), GENRES]);
    assert!(
        matches!(
            &e,
            SchemaError::ReservedCase {
                reserved: "ITEM_ID",
                ..
            }
        ),
        "{e:?}"
    );
    let e = err(
        "Interactions",
        &[USER_ID, ITEM_ID, TIMESTAMP, &f("Event_Value", r#""float""#)],
    );
    assert!(
        matches!(
            &e,
            SchemaError::ReservedCase {
                reserved: "EVENT_VALUE",
                ..
            }
        ),
        "{e:?}"
    );
}

// ---------------------------------------------------------------- categorical / textual

#[test]
fn categorical_on_non_string_is_rejected() {
    let e = err(
        "Items",
        &[
            ITEM_ID,
            r#"{"name":"YEAR","type":"int","categorical":true}"#,
        ],
    );
    assert!(
        matches!(&e, SchemaError::CategoricalNotString { field } if field == "YEAR"),
        "{e:?}"
    );
    let e = err(
        "Users",
        &[
            USER_ID,
            r#"{"name":"VIP","type":["null","boolean"],"categorical":true}"#,
        ],
    );
    assert!(
        matches!(&e, SchemaError::CategoricalNotString { field } if field == "VIP"),
        "{e:?}"
    );
}

#[test]
fn categorical_false_is_a_plain_field() {
    let s = ok(
        "Items",
        &[
            ITEM_ID,
            GENRES,
            r#"{"name":"NOTE","type":"string","categorical":false}"#,
        ],
    );
    assert_eq!(flags(&s, "NOTE"), (false, false, false));
}

#[test]
fn event_type_categorical_is_rejected() {
    let e = err(
        "Interactions",
        &[
            USER_ID,
            ITEM_ID,
            TIMESTAMP,
            r#"{"name":"EVENT_TYPE","type":"string","categorical":true}"#,
        ],
    );
    assert!(
        matches!(&e, SchemaError::EventTypeCategorical { field } if field == "EVENT_TYPE"),
        "{e:?}"
    );
}

#[test]
fn textual_on_users_is_rejected() {
    let e = err(
        "Users",
        &[
            USER_ID,
            AGE,
            r#"{"name":"BIO","type":"string","textual":true}"#,
        ],
    );
    assert!(
        matches!(&e, SchemaError::TextualMisplaced { field } if field == "BIO"),
        "{e:?}"
    );
}

#[test]
fn textual_on_interactions_is_rejected() {
    let e = err(
        "Interactions",
        &[
            USER_ID,
            ITEM_ID,
            TIMESTAMP,
            r#"{"name":"REVIEW","type":["null","string"],"textual":true}"#,
        ],
    );
    assert!(
        matches!(&e, SchemaError::TextualMisplaced { field } if field == "REVIEW"),
        "{e:?}"
    );
}

#[test]
fn textual_on_non_string_is_rejected() {
    let e = err(
        "Items",
        &[
            ITEM_ID,
            GENRES,
            r#"{"name":"PRICE","type":"float","textual":true}"#,
        ],
    );
    assert!(
        matches!(&e, SchemaError::TextualMisplaced { field } if field == "PRICE"),
        "{e:?}"
    );
}

#[test]
fn textual_string_on_items_is_accepted() {
    let s = ok(
        "Items",
        &[
            ITEM_ID,
            r#"{"name":"DESCRIPTION","type":["null","string"],"textual":true}"#,
        ],
    );
    assert_eq!(flags(&s, "DESCRIPTION"), (false, true, true));
}

#[test]
fn categorical_and_textual_together_is_rejected() {
    let e = err(
        "Items",
        &[
            ITEM_ID,
            r#"{"name":"TAGS","type":"string","categorical":true,"textual":true}"#,
        ],
    );
    assert!(
        matches!(&e, SchemaError::CategoricalAndTextual { field } if field == "TAGS"),
        "{e:?}"
    );
}

#[test]
fn attribute_that_is_not_a_boolean_is_rejected() {
    let e = err(
        "Items",
        &[
            ITEM_ID,
            r#"{"name":"GENRES","type":"string","categorical":"yes"}"#,
        ],
    );
    assert!(
        matches!(&e, SchemaError::BadAttribute { field, attribute } if field == "GENRES" && attribute == "categorical"),
        "{e:?}"
    );
    let e = err(
        "Items",
        &[
            ITEM_ID,
            GENRES,
            r#"{"name":"TITLE","type":"string","textual":1}"#,
        ],
    );
    assert!(
        matches!(&e, SchemaError::BadAttribute { field, attribute } if field == "TITLE" && attribute == "textual"),
        "{e:?}"
    );
}

// ---------------------------------------------------------------- name collisions

#[test]
fn names_colliding_ignoring_non_alphanumerics_are_rejected() {
    let e = err(
        "Items",
        &[
            ITEM_ID,
            r#"{"name":"GENRES_FIELD_1","type":"string","categorical":true}"#,
            r#"{"name":"GENRESFIELD1","type":"string","categorical":true}"#,
        ],
    );
    assert!(
        matches!(&e, SchemaError::NameCollision { first, second } if first == "GENRES_FIELD_1" && second == "GENRESFIELD1"),
        "{e:?}"
    );
}

#[test]
fn names_colliding_ignoring_case_are_rejected() {
    let e = err("Items", &[ITEM_ID, GENRES, &f("Genres", r#""int""#)]);
    assert!(
        matches!(&e, SchemaError::NameCollision { first, second } if first == "GENRES" && second == "Genres"),
        "{e:?}"
    );
    let e = err("Users", &[USER_ID, AGE, &f("a_g_e", r#""long""#)]);
    assert!(matches!(e, SchemaError::NameCollision { .. }), "{e:?}");
}

#[test]
fn distinct_names_do_not_collide() {
    ok(
        "Items",
        &[
            ITEM_ID,
            r#"{"name":"GENRES_1","type":"string","categorical":true}"#,
            r#"{"name":"GENRES_2","type":"string","categorical":true}"#,
            r#"{"name":"GENRES12","type":"string","categorical":true}"#,
        ],
    );
}

// ---------------------------------------------------------------- column limits

fn metadata(n: usize, ty: &str) -> Vec<String> {
    (1..=n).map(|i| f(&format!("M{i}"), ty)).collect()
}

fn with<'a>(base: &[&'a str], extra: &'a [String]) -> Vec<&'a str> {
    base.iter()
        .copied()
        .chain(extra.iter().map(String::as_str))
        .collect()
}

#[test]
fn interactions_allow_five_metadata_fields() {
    let extra = metadata(5, r#"["null","string"]"#);
    let s = ok(
        "Interactions",
        &with(
            &[
                USER_ID,
                ITEM_ID,
                TIMESTAMP,
                r#"{"name":"EVENT_TYPE","type":"string"}"#,
                r#"{"name":"EVENT_VALUE","type":["null","float"]}"#,
                r#"{"name":"IMPRESSION","type":["null","string"]}"#,
            ],
            &extra,
        ),
    );
    assert_eq!(s.fields.len(), 11);
}

#[test]
fn interactions_reject_six_metadata_fields() {
    let extra = metadata(6, r#""int""#);
    let e = err(
        "Interactions",
        &with(&[USER_ID, ITEM_ID, TIMESTAMP], &extra),
    );
    assert!(
        matches!(
            e,
            SchemaError::TooManyFields {
                dataset: DatasetType::Interactions,
                found: 6,
                max: 5
            }
        ),
        "{e:?}"
    );
}

#[test]
fn users_allow_five_metadata_fields() {
    let extra = metadata(5, r#""int""#);
    ok("Users", &with(&[USER_ID], &extra));
}

#[test]
fn users_reject_six_metadata_fields() {
    let extra = metadata(6, r#""int""#);
    let e = err("Users", &with(&[USER_ID], &extra));
    assert!(
        matches!(
            e,
            SchemaError::TooManyFields {
                dataset: DatasetType::Users,
                found: 6,
                max: 5
            }
        ),
        "{e:?}"
    );
}

#[test]
fn items_allow_fifty_metadata_fields() {
    let extra = metadata(50, r#"["null","double"]"#);
    let s = ok(
        "Items",
        &with(
            &[ITEM_ID, r#"{"name":"CREATION_TIMESTAMP","type":"long"}"#],
            &extra,
        ),
    );
    assert_eq!(s.fields.len(), 52);
}

#[test]
fn items_reject_fifty_one_metadata_fields() {
    let extra = metadata(51, r#""double""#);
    let e = err("Items", &with(&[ITEM_ID], &extra));
    assert!(
        matches!(
            e,
            SchemaError::TooManyFields {
                dataset: DatasetType::Items,
                found: 51,
                max: 50
            }
        ),
        "{e:?}"
    );
}

#[test]
fn items_with_only_the_id_have_no_metadata() {
    let e = err("Items", &[ITEM_ID]);
    assert!(
        matches!(
            e,
            SchemaError::NoMetadata {
                dataset: DatasetType::Items,
                id: "ITEM_ID"
            }
        ),
        "{e:?}"
    );
}

#[test]
fn users_with_only_the_id_have_no_metadata() {
    let e = err("Users", &[USER_ID]);
    assert!(
        matches!(
            e,
            SchemaError::NoMetadata {
                dataset: DatasetType::Users,
                id: "USER_ID"
            }
        ),
        "{e:?}"
    );
}

#[test]
fn only_plain_strings_are_no_metadata() {
    let e = err(
        "Items",
        &[
            ITEM_ID,
            &f("NOTE", r#""string""#),
            &f("COLOR", r#"["null","string"]"#),
        ],
    );
    assert!(
        matches!(
            e,
            SchemaError::NoMetadata {
                dataset: DatasetType::Items,
                ..
            }
        ),
        "{e:?}"
    );
    let e = err("Users", &[USER_ID, &f("NAME", r#""string""#)]);
    assert!(
        matches!(
            e,
            SchemaError::NoMetadata {
                dataset: DatasetType::Users,
                ..
            }
        ),
        "{e:?}"
    );
}

#[test]
fn one_numeric_boolean_or_categorical_field_is_enough_metadata() {
    ok("Users", &[USER_ID, &f("AGE", r#"["null","int"]"#)]);
    ok("Users", &[USER_ID, &f("VIP", r#""boolean""#)]);
    ok("Users", &[USER_ID, &f("NAME", r#""string""#), GENRES]);
    ok("Items", &[ITEM_ID, &f("PRICE", r#""float""#)]);
}

#[test]
fn interactions_need_no_metadata() {
    ok("Interactions", &[USER_ID, ITEM_ID, TIMESTAMP]);
}

// ---------------------------------------------------------------- size

#[test]
fn schema_of_exactly_20000_chars_is_accepted() {
    let base = doc("Users", &[USER_ID, AGE]);
    let padded = format!("{base}{}", " ".repeat(20_000 - base.len()));
    assert_eq!(padded.chars().count(), 20_000);
    DatasetSchema::parse(&padded).unwrap();
}

#[test]
fn schema_over_20000_chars_is_too_long() {
    let base = doc("Users", &[USER_ID, AGE]);
    let padded = format!("{base}{}", " ".repeat(20_001 - base.len()));
    let e = DatasetSchema::parse(&padded).unwrap_err();
    assert!(matches!(e, SchemaError::TooLong(20_001)), "{e:?}");
}

#[test]
fn schema_length_counts_characters_not_bytes() {
    // 15,000 two-byte characters: 30,000 bytes but well under 20,000 characters.
    let docstring = "é".repeat(15_000);
    let json = format!(
        r#"{{"type":"record","name":"Users","doc":"{docstring}","fields":[{USER_ID},{AGE}]}}"#
    );
    assert!(json.len() > 20_000);
    DatasetSchema::parse(&json).unwrap();
}
