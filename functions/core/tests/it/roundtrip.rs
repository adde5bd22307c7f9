//! Property: any table written as Personalize CSV imports, stores (sealed Avro) and loads back
//! unchanged.

use proptest::prelude::*;
use tailor_core::data::csv::write_row;
use tailor_core::domain::{ArnBuilder, ImportMode};
use tailor_core::schema::DatasetType;
use tailor_core::{Stores, Tailor};

const ITEMS: &str = r#"{"type":"record","name":"Items","fields":[
  {"name":"ITEM_ID","type":"string"},
  {"name":"GENRES","type":"string","categorical":true},
  {"name":"DESCRIPTION","type":["null","string"],"textual":true},
  {"name":"YEAR","type":["null","int"]},
  {"name":"PRICE","type":"float"},
  {"name":"SCORE","type":["double","null"]},
  {"name":"ADULT","type":["null","boolean"]},
  {"name":"CREATION_TIMESTAMP","type":"long"}],"version":"1.0"}"#;

#[derive(Debug, Clone)]
struct Row {
    id: String,
    genres: String,
    description: Option<String>,
    year: Option<i32>,
    price: f32,
    score: Option<f64>,
    adult: Option<bool>,
    created: i64,
}

fn text() -> impl Strategy<Value = String> {
    // Commas, quotes, newlines, backslashes, pipes and non-ASCII: everything CSV quoting must carry.
    "[a-zA-Z0-9 ,\"|\\\\\n\u{e9}\u{4e2d}\u{1F600}]{1,24}"
}

/// Ids and categories: the same, but with no line breaks (only textual fields may hold one).
fn symbol() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9 ,\"|\\\\\u{e9}\u{4e2d}\u{1F600}]{1,24}"
}

fn row() -> impl Strategy<Value = Row> {
    (
        symbol(),
        symbol(),
        proptest::option::of(text()),
        proptest::option::of(any::<i32>()),
        -1.0e6f32..1.0e6,
        proptest::option::of(-1.0e12f64..1.0e12),
        proptest::option::of(any::<bool>()),
        0i64..4_000_000_000,
    )
        .prop_map(
            |(id, genres, description, year, price, score, adult, created)| Row {
                id,
                genres,
                description,
                year,
                price,
                score,
                adult,
                created,
            },
        )
}

fn to_csv(rows: &[Row]) -> Vec<u8> {
    let mut out = b"\xEF\xBB\xBF".to_vec();
    write_row(
        &mut out,
        [
            "ITEM_ID",
            "GENRES",
            "DESCRIPTION",
            "YEAR",
            "PRICE",
            "SCORE",
            "ADULT",
            "CREATION_TIMESTAMP",
        ],
    );
    for (k, r) in rows.iter().enumerate() {
        let id = format!("{k}-{}", r.id);
        let opt = |o: Option<String>| o.unwrap_or_default();
        write_row(
            &mut out,
            [
                id.as_str(),
                &r.genres,
                &opt(r.description.clone()),
                &opt(r.year.map(|y| y.to_string())),
                &r.price.to_string(),
                &opt(r.score.map(|s| s.to_string())),
                &opt(r.adult.map(|b| b.to_string())),
                &r.created.to_string(),
            ],
        );
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn csv_to_store_to_table_round_trips(rows in proptest::collection::vec(row(), 1..40)) {
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        runtime.block_on(async {
            let dir = tempfile::tempdir().unwrap();
            let t = Tailor::new(Stores::embedded(dir.path()).unwrap(), ArnBuilder::default());
            let g = t.create_dataset_group("g", None, None).await.unwrap().dataset_group_arn;
            let s = t.create_schema("s", ITEMS).await.unwrap().schema_arn;
            let ds = t.create_dataset("d", &s, &g, DatasetType::Items).await.unwrap().dataset_arn;
            let job = t.create_dataset_import_job("j", &ds, "file://x", ImportMode::Full, Default::default()).await.unwrap();
            let csv = to_csv(&rows);
            let out = t.run_dataset_import_job(&job.dataset_import_job_arn, &csv, &mut |_, _| {}).await.unwrap();
            prop_assert!(out.errors.is_none(), "{:?}", out.errors);
            let table = t.load_dataset(&ds).await.unwrap().unwrap();
            prop_assert_eq!(table.rows(), rows.len());

            let (dict, codes) = table.codes("ITEM_ID").unwrap();
            let tailor_core::data::Values::Str(genres) = &table.columns[1] else { panic!() };
            let tailor_core::data::Values::Str(descr) = &table.columns[2] else { panic!() };
            for (k, r) in rows.iter().enumerate() {
                prop_assert_eq!(dict.name(codes[k]), format!("{k}-{}", r.id));
                prop_assert_eq!(genres[k].as_deref(), Some(r.genres.as_str()));
                prop_assert_eq!(descr[k].as_deref(), r.description.as_deref());
                let year = &table.columns[3];
                prop_assert_eq!(year.is_valid(k), r.year.is_some());
                if let (tailor_core::data::Values::Long { data, .. }, Some(y)) = (year, r.year) {
                    prop_assert_eq!(data[k], y as i64);
                }
                let (price, _) = table.doubles("PRICE").unwrap();
                prop_assert_eq!(price[k], r.price as f64);
                let (score, valid) = table.doubles("SCORE").unwrap();
                prop_assert_eq!(valid.is_empty() || valid[k], r.score.is_some());
                if let Some(s) = r.score {
                    prop_assert_eq!(score[k], s);
                }
                prop_assert_eq!(table.columns[6].is_valid(k), r.adult.is_some());
                prop_assert_eq!(table.longs("CREATION_TIMESTAMP").unwrap()[k], r.created);
            }
            // And the stored form round-trips byte-for-byte through another write.
            let again = tailor_core::data::avro::read(table.schema.clone(), &tailor_core::data::avro::write(&table).unwrap()).unwrap();
            prop_assert_eq!(again, table);
            Ok(())
        })?;
    }
}
