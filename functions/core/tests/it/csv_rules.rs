//! Personalize's CSV rules (reference §2.4): quoting, escaping, headers, types, limits,
//! encodings and error reporting of `data::csv::parse`.

use std::sync::Arc;

use tailor_core::data::csv::{self, ImportErrors, RowError};
use tailor_core::data::{Table, Values};
use tailor_core::schema::DatasetSchema;

const INTERACTIONS: &str = r#"{"type":"record","name":"Interactions","namespace":"com.amazonaws.personalize.schema","fields":[
    {"name":"USER_ID","type":"string"},
    {"name":"ITEM_ID","type":"string"},
    {"name":"TIMESTAMP","type":"long"},
    {"name":"EVENT_TYPE","type":"string"},
    {"name":"EVENT_VALUE","type":["null","float"]},
    {"name":"DEVICE","type":["null","string"],"categorical":true}
],"version":"1.0"}"#;

const ITEMS: &str = r#"{"type":"record","name":"Items","namespace":"com.amazonaws.personalize.schema","fields":[
    {"name":"ITEM_ID","type":"string"},
    {"name":"GENRES","type":"string","categorical":true},
    {"name":"ADULT","type":"boolean"},
    {"name":"YEAR","type":["null","int"]},
    {"name":"DESCRIPTION","type":["null","string"],"textual":true}
],"version":"1.0"}"#;

fn interactions() -> Arc<DatasetSchema> {
    Arc::new(DatasetSchema::parse(INTERACTIONS).unwrap())
}

fn items() -> Arc<DatasetSchema> {
    Arc::new(DatasetSchema::parse(ITEMS).unwrap())
}

fn parse(schema: Arc<DatasetSchema>, input: &[u8]) -> Result<Table, ImportErrors> {
    csv::parse(schema, input, &mut |_| {})
}

fn ok(schema: Arc<DatasetSchema>, input: &str) -> Table {
    match parse(schema, input.as_bytes()) {
        Ok(t) => t,
        Err(e) => panic!("expected the CSV to import, got: {e}"),
    }
}

fn fail(schema: Arc<DatasetSchema>, input: &[u8]) -> ImportErrors {
    match parse(schema, input) {
        Ok(t) => panic!("expected the CSV to be rejected, got {} rows", t.rows()),
        Err(e) => e,
    }
}

/// The only error of a rejected file.
fn only(e: &ImportErrors) -> &RowError {
    assert_eq!(e.total, 1, "expected exactly one error: {e}");
    assert_eq!(e.errors.len(), 1);
    &e.errors[0]
}

fn assert_error(e: &RowError, line: u64, column: Option<&str>, fragment: &str) {
    assert_eq!(e.line, line, "line of {e}");
    assert_eq!(e.column.as_deref(), column, "column of {e}");
    assert!(
        e.message.contains(fragment),
        "message of {e} should contain '{fragment}'"
    );
}

/// An encoded column (USER_ID, ITEM_ID, EVENT_TYPE) as strings, row by row.
fn ids(t: &Table, name: &str) -> Vec<String> {
    let (dict, codes) = t
        .codes(name)
        .unwrap_or_else(|| panic!("{name} not encoded"));
    codes.iter().map(|&c| dict.name(c).to_string()).collect()
}

fn strs(t: &Table, name: &str) -> Vec<Option<String>> {
    match t.column(name) {
        Some(Values::Str(v)) => v.iter().map(|s| s.as_deref().map(String::from)).collect(),
        other => panic!("{name} is not a string column: {other:?}"),
    }
}

fn opt_longs(t: &Table, name: &str) -> Vec<Option<i64>> {
    let col = t.column(name).unwrap();
    match col {
        Values::Long { data, .. } => (0..data.len())
            .map(|i| col.is_valid(i).then_some(data[i]))
            .collect(),
        other => panic!("{name} is not a long column: {other:?}"),
    }
}

fn opt_doubles(t: &Table, name: &str) -> Vec<Option<f64>> {
    let col = t.column(name).unwrap();
    match col {
        Values::Double { data, .. } => (0..data.len())
            .map(|i| col.is_valid(i).then_some(data[i]))
            .collect(),
        other => panic!("{name} is not a double column: {other:?}"),
    }
}

fn bools(t: &Table, name: &str) -> Vec<bool> {
    match t.column(name) {
        Some(Values::Bool { data, .. }) => data.clone(),
        other => panic!("{name} is not a boolean column: {other:?}"),
    }
}

const ITEMS_HEADER: &str = "ITEM_ID,GENRES,ADULT,YEAR,DESCRIPTION\n";
const INTERACTIONS_HEADER: &str = "USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE,EVENT_VALUE,DEVICE\n";

// ---------------------------------------------------------------- quoting

#[test]
fn quoted_value_keeps_embedded_commas() {
    let t = ok(
        items(),
        &format!("{ITEMS_HEADER}i1,\"Comedy, Drama\",false,1999,\"big, bold, loud\"\n"),
    );
    assert_eq!(t.rows(), 1);
    assert_eq!(strs(&t, "GENRES"), [Some("Comedy, Drama".into())]);
    assert_eq!(strs(&t, "DESCRIPTION"), [Some("big, bold, loud".into())]);
    assert_eq!(opt_longs(&t, "YEAR"), [Some(1999)]);
}

#[test]
fn quoted_value_keeps_embedded_newline() {
    let t = ok(
        items(),
        &format!(
            "{ITEMS_HEADER}i1,Drama,false,2001,\"line one\nline two\"\ni2,Comedy,true,,plain\n"
        ),
    );
    assert_eq!(ids(&t, "ITEM_ID"), ["i1", "i2"]);
    assert_eq!(
        strs(&t, "DESCRIPTION"),
        [Some("line one\nline two".into()), Some("plain".into())]
    );
}

#[test]
fn error_line_after_multiline_value_counts_physical_lines() {
    // Line 1 header; lines 2-3 one record with a quoted two-line value; line 4 a bad record.
    let e = fail(
        items(),
        format!("{ITEMS_HEADER}i1,Drama,false,2001,\"line one\nline two\"\ni2,Comedy,yes,,plain\n")
            .as_bytes(),
    );
    assert_error(only(&e), 4, Some("ADULT"), "boolean");
}

#[test]
fn doubled_quotes_inside_quotes_are_one_quote() {
    let t = ok(
        items(),
        &format!("{ITEMS_HEADER}i1,Drama,false,,\"say \"\"hi\"\" twice\"\n"),
    );
    assert_eq!(strs(&t, "DESCRIPTION"), [Some("say \"hi\" twice".into())]);
}

#[test]
fn backslash_escaped_quote_inside_quotes_is_one_quote() {
    let t = ok(
        items(),
        &format!("{ITEMS_HEADER}i1,Drama,false,,\"say \\\"hi\\\" twice\"\n"),
    );
    assert_eq!(strs(&t, "DESCRIPTION"), [Some("say \"hi\" twice".into())]);
}

#[test]
fn quoted_ids_are_unquoted() {
    let t = ok(
        interactions(),
        &format!("{INTERACTIONS_HEADER}\"u,1\",\"i1\",1700000000,\"click\",,\n"),
    );
    assert_eq!(ids(&t, "USER_ID"), ["u,1"]);
    assert_eq!(ids(&t, "ITEM_ID"), ["i1"]);
    assert_eq!(ids(&t, "EVENT_TYPE"), ["click"]);
}

#[test]
fn pipe_multi_values_are_kept_verbatim_in_categorical_column() {
    let t = ok(
        items(),
        &format!("{ITEMS_HEADER}i1,Action|Comedy|Drama,false,,\ni2,Horror,false,,\n"),
    );
    assert_eq!(
        strs(&t, "GENRES"),
        [Some("Action|Comedy|Drama".into()), Some("Horror".into())]
    );
}

// ---------------------------------------------------------------- header

#[test]
fn header_is_case_insensitive_and_may_be_reordered() {
    let t = ok(
        items(),
        "description,Year,adult,genres,Item_Id\nlong text,1984,true,Sci-Fi,i9\n",
    );
    assert_eq!(ids(&t, "ITEM_ID"), ["i9"]);
    assert_eq!(strs(&t, "GENRES"), [Some("Sci-Fi".into())]);
    assert_eq!(bools(&t, "ADULT"), [true]);
    assert_eq!(opt_longs(&t, "YEAR"), [Some(1984)]);
    assert_eq!(strs(&t, "DESCRIPTION"), [Some("long text".into())]);
}

#[test]
fn interactions_header_reordered() {
    let t = ok(
        interactions(),
        "timestamp,event_type,item_id,user_id,device,event_value\n1700000000,buy,i1,u1,phone,2.5\n",
    );
    assert_eq!(ids(&t, "USER_ID"), ["u1"]);
    assert_eq!(ids(&t, "ITEM_ID"), ["i1"]);
    assert_eq!(ids(&t, "EVENT_TYPE"), ["buy"]);
    assert_eq!(t.longs("TIMESTAMP").unwrap(), [1_700_000_000]);
    assert_eq!(opt_doubles(&t, "EVENT_VALUE"), [Some(2.5)]);
    assert_eq!(strs(&t, "DEVICE"), [Some("phone".into())]);
}

#[test]
fn nullable_column_absent_from_header_reads_as_null() {
    let t = ok(
        interactions(),
        "USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE\nu1,i1,1700000000,click\nu2,i2,1700000001,buy\n",
    );
    assert_eq!(t.rows(), 2);
    assert_eq!(opt_doubles(&t, "EVENT_VALUE"), [None, None]);
    assert_eq!(strs(&t, "DEVICE"), [None, None]);

    let t = ok(items(), "ITEM_ID,GENRES,ADULT\ni1,Drama,false\n");
    assert_eq!(opt_longs(&t, "YEAR"), [None]);
    assert_eq!(strs(&t, "DESCRIPTION"), [None]);
}

#[test]
fn required_column_absent_is_an_error_on_line_1() {
    let e = fail(interactions(), b"USER_ID,ITEM_ID,EVENT_TYPE\nu1,i1,click\n");
    assert_error(only(&e), 1, Some("TIMESTAMP"), "missing");
}

#[test]
fn every_missing_required_column_is_reported() {
    let e = fail(items(), b"ITEM_ID,YEAR\ni1,2000\n");
    assert_eq!(e.total, 2, "{e}");
    let cols: Vec<_> = e.errors.iter().map(|r| r.column.as_deref()).collect();
    assert!(cols.contains(&Some("GENRES")), "{e}");
    assert!(cols.contains(&Some("ADULT")), "{e}");
    assert!(e.errors.iter().all(|r| r.line == 1));
}

#[test]
fn unknown_header_column_is_an_error_naming_it() {
    let e = fail(items(), b"ITEM_ID,GENRES,ADULT,COLOR\ni1,Drama,false,red\n");
    let r = only(&e);
    assert_error(r, 1, Some("COLOR"), "not a field");
    assert!(e.to_string().contains("COLOR"), "{e}");
}

#[test]
fn duplicated_header_column_is_an_error() {
    let e = fail(
        items(),
        b"ITEM_ID,GENRES,ADULT,genres\ni1,Drama,false,Comedy\n",
    );
    let r = only(&e);
    assert_eq!(r.line, 1);
    assert!(
        r.column
            .as_deref()
            .is_some_and(|c| c.eq_ignore_ascii_case("GENRES")),
        "{r}"
    );
    assert!(r.message.contains("twice"), "{r}");
}

// ---------------------------------------------------------------- row shape

#[test]
fn row_with_too_many_fields_is_an_error_on_its_line() {
    let e = fail(
        items(),
        b"ITEM_ID,GENRES,ADULT\ni1,Drama,false\ni2,Drama,false,extra\ni3,Drama,true\n",
    );
    assert_error(only(&e), 3, None, "expected 3 fields");
}

#[test]
fn row_with_too_few_fields_is_an_error_on_its_line() {
    let e = fail(items(), b"ITEM_ID,GENRES,ADULT\ni1,Drama\ni2,Drama,false\n");
    assert_error(only(&e), 2, None, "found 2");
}

// ---------------------------------------------------------------- types

#[test]
fn non_integer_timestamp_is_an_error() {
    let e = fail(
        interactions(),
        format!("{INTERACTIONS_HEADER}u1,i1,1700000000,click,,\nu1,i2,yesterday,click,,\n")
            .as_bytes(),
    );
    assert_error(only(&e), 3, Some("TIMESTAMP"), "not an integer");

    let e = fail(
        interactions(),
        format!("{INTERACTIONS_HEADER}u1,i1,1700000000.5,click,,\n").as_bytes(),
    );
    assert_error(only(&e), 2, Some("TIMESTAMP"), "not an integer");
}

#[test]
fn millisecond_timestamp_is_an_error() {
    let e = fail(
        interactions(),
        format!("{INTERACTIONS_HEADER}u1,i1,1700000000000,click,,\n").as_bytes(),
    );
    assert_error(only(&e), 2, Some("TIMESTAMP"), "seconds");
}

#[test]
fn negative_timestamp_is_an_error() {
    let e = fail(
        interactions(),
        format!("{INTERACTIONS_HEADER}u1,i1,-5,click,,\n").as_bytes(),
    );
    assert_error(only(&e), 2, Some("TIMESTAMP"), "seconds");
}

#[test]
fn float_that_is_not_a_number_is_an_error() {
    let e = fail(
        interactions(),
        format!("{INTERACTIONS_HEADER}u1,i1,1700000000,click,high,\n").as_bytes(),
    );
    assert_error(only(&e), 2, Some("EVENT_VALUE"), "not a number");
}

#[test]
fn non_finite_float_is_an_error() {
    for v in ["NaN", "inf", "1e300"] {
        let e = fail(
            interactions(),
            format!("{INTERACTIONS_HEADER}u1,i1,1700000000,click,{v},\n").as_bytes(),
        );
        let r = only(&e);
        assert_eq!(r.line, 2, "{v}: {r}");
        assert_eq!(r.column.as_deref(), Some("EVENT_VALUE"), "{v}: {r}");
    }
}

#[test]
fn int_out_of_range_is_an_error() {
    let e = fail(
        items(),
        format!("{ITEMS_HEADER}i1,Drama,false,3000000000,\n").as_bytes(),
    );
    assert_error(only(&e), 2, Some("YEAR"), "int");
}

#[test]
fn capitalised_boolean_is_an_error() {
    let e = fail(
        items(),
        format!("{ITEMS_HEADER}i1,Drama,false,,\ni2,Drama,True,,\n").as_bytes(),
    );
    assert_error(only(&e), 3, Some("ADULT"), "lower-case");
}

#[test]
fn only_lower_case_true_and_false_are_booleans() {
    let t = ok(
        items(),
        &format!("{ITEMS_HEADER}i1,Drama,true,,\ni2,Drama,false,,\n"),
    );
    assert_eq!(bools(&t, "ADULT"), [true, false]);
    for v in ["TRUE", "False", "1", "0", "yes"] {
        let e = fail(
            items(),
            format!("{ITEMS_HEADER}i1,Drama,{v},,\n").as_bytes(),
        );
        assert_error(only(&e), 2, Some("ADULT"), "not a boolean");
    }
}

#[test]
fn empty_value_in_non_nullable_column_is_an_error() {
    let e = fail(
        interactions(),
        format!("{INTERACTIONS_HEADER},i1,1700000000,click,,\n").as_bytes(),
    );
    assert_error(only(&e), 2, Some("USER_ID"), "required");

    let e = fail(items(), format!("{ITEMS_HEADER}i1,Drama,,,\n").as_bytes());
    assert_error(only(&e), 2, Some("ADULT"), "required");

    let e = fail(items(), format!("{ITEMS_HEADER}i1,,false,,\n").as_bytes());
    assert_error(only(&e), 2, Some("GENRES"), "required");
}

#[test]
fn empty_value_in_nullable_column_is_null() {
    let t = ok(
        interactions(),
        &format!(
            "{INTERACTIONS_HEADER}u1,i1,1700000000,click,,\nu2,i2,1700000001,buy,3.5,tablet\n"
        ),
    );
    assert_eq!(opt_doubles(&t, "EVENT_VALUE"), [None, Some(3.5)]);
    assert_eq!(strs(&t, "DEVICE"), [None, Some("tablet".into())]);
    let ev = t.column("EVENT_VALUE").unwrap();
    assert!(!ev.is_valid(0));
    assert!(ev.is_valid(1));

    let t = ok(
        items(),
        &format!("{ITEMS_HEADER}i1,Drama,false,2000,\ni2,Drama,false,,\n"),
    );
    assert_eq!(opt_longs(&t, "YEAR"), [Some(2000), None]);
    assert_eq!(strs(&t, "DESCRIPTION"), [None, None]);
}

#[test]
fn float_values_are_stored_as_f32() {
    let t = ok(
        interactions(),
        &format!("{INTERACTIONS_HEADER}u1,i1,1700000000,click,0.1,\n"),
    );
    assert_eq!(opt_doubles(&t, "EVENT_VALUE"), [Some(0.1f32 as f64)]);
}

// ---------------------------------------------------------------- limits

#[test]
fn id_of_256_chars_is_accepted() {
    let id = "u".repeat(256);
    let t = ok(
        interactions(),
        &format!("{INTERACTIONS_HEADER}{id},i1,1700000000,click,,\n"),
    );
    assert_eq!(ids(&t, "USER_ID"), [id]);
}

#[test]
fn id_longer_than_256_chars_is_an_error() {
    let id = "u".repeat(257);
    let e = fail(
        interactions(),
        format!("{INTERACTIONS_HEADER}{id},i1,1700000000,click,,\n").as_bytes(),
    );
    assert_error(only(&e), 2, Some("USER_ID"), "256");

    let id = "é".repeat(257);
    let e = fail(
        items(),
        format!("{ITEMS_HEADER}{id},Drama,false,,\n").as_bytes(),
    );
    assert_error(only(&e), 2, Some("ITEM_ID"), "256");
}

#[test]
fn categorical_value_longer_than_1000_chars_is_an_error() {
    let v = "a|".repeat(500) + "b";
    let e = fail(
        items(),
        format!("{ITEMS_HEADER}i1,{v},false,,\n").as_bytes(),
    );
    assert_error(only(&e), 2, Some("GENRES"), "1000");
}

#[test]
fn more_than_ten_errors_reports_total_but_only_ten() {
    let mut input = ITEMS_HEADER.to_string();
    for i in 0..15 {
        input.push_str(&format!("i{i},Drama,maybe,,\n"));
    }
    let e = fail(items(), input.as_bytes());
    assert_eq!(e.total, 15);
    assert_eq!(e.errors.len(), 10);
    let lines: Vec<u64> = e.errors.iter().map(|r| r.line).collect();
    assert_eq!(lines, (2..12).collect::<Vec<u64>>());
    assert!(e.to_string().starts_with("15 errors"), "{e}");
}

#[test]
fn several_bad_cells_in_one_row_are_each_reported() {
    let e = fail(
        items(),
        format!("{ITEMS_HEADER}i1,Drama,yes,nineteen,\n").as_bytes(),
    );
    assert_eq!(e.total, 2, "{e}");
    assert!(e.errors.iter().all(|r| r.line == 2));
    let cols: Vec<_> = e.errors.iter().map(|r| r.column.as_deref()).collect();
    assert_eq!(cols, [Some("ADULT"), Some("YEAR")]);
}

// ---------------------------------------------------------------- file shape and encoding

#[test]
fn empty_file_is_an_error() {
    let e = fail(items(), b"");
    assert_eq!(only(&e).line, 1);
    assert!(only(&e).message.contains("empty"), "{e}");
}

#[test]
fn whitespace_only_file_is_an_error() {
    let e = fail(items(), b"  \n\r\n\t \n");
    assert!(only(&e).message.contains("empty"), "{e}");
}

#[test]
fn header_only_is_an_error() {
    let e = fail(items(), ITEMS_HEADER.as_bytes());
    assert_error(only(&e), 1, None, "no records");
    let e = fail(items(), b"ITEM_ID,GENRES,ADULT");
    assert_error(only(&e), 1, None, "no records");
}

#[test]
fn utf8_bom_is_accepted_and_header_still_maps() {
    let input = "\u{FEFF}ITEM_ID,GENRES,ADULT\ni1,Drama,true\n";
    let t = ok(items(), input);
    assert_eq!(ids(&t, "ITEM_ID"), ["i1"]);
    assert_eq!(bools(&t, "ADULT"), [true]);
}

#[test]
fn crlf_line_endings_leave_no_stray_carriage_returns() {
    let t = ok(
        items(),
        "ITEM_ID,GENRES,ADULT,DESCRIPTION\r\ni1,Drama,true,first\r\ni2,Comedy,false,second\r\n",
    );
    assert_eq!(ids(&t, "ITEM_ID"), ["i1", "i2"]);
    assert_eq!(
        strs(&t, "DESCRIPTION"),
        [Some("first".into()), Some("second".into())]
    );

    let t = ok(
        interactions(),
        "USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE,DEVICE\r\nu1,i1,1700000000,click,phone\r\nu2,i2,1700000001,buy,\r\n",
    );
    assert_eq!(ids(&t, "EVENT_TYPE"), ["click", "buy"]);
    assert_eq!(strs(&t, "DEVICE"), [Some("phone".into()), None]);
}

#[test]
fn crlf_error_lines_count_correctly() {
    let e = fail(
        items(),
        b"ITEM_ID,GENRES,ADULT\r\ni1,Drama,true\r\ni2,Drama,nope\r\n",
    );
    assert_error(only(&e), 3, Some("ADULT"), "boolean");
}

#[test]
fn error_line_after_blank_line_counts_it() {
    let e = fail(items(), b"ITEM_ID,GENRES,ADULT\n\ni1,Drama,nope\n");
    assert_error(only(&e), 3, Some("ADULT"), "boolean");
}

#[test]
fn non_utf8_value_is_an_error_naming_line_and_column() {
    let mut input = b"ITEM_ID,GENRES,ADULT\ni1,Drama,true\ni2,Dr".to_vec();
    input.push(0xFF);
    input.extend_from_slice(b"ama,false\n");
    let e = fail(items(), &input);
    assert_error(only(&e), 3, Some("GENRES"), "UTF-8");
}

#[test]
fn non_utf8_header_is_an_error() {
    let mut input = b"ITEM_ID,GENRES,ADULT,X".to_vec();
    input.push(0xFE);
    input.extend_from_slice(b"\ni1,Drama,true,x\n");
    let e = fail(items(), &input);
    assert!(e.errors.iter().all(|r| r.line == 1), "{e}");
    assert!(e.errors.iter().any(|r| r.message.contains("UTF-8")), "{e}");
}

#[test]
fn non_ascii_utf8_values_are_kept() {
    let t = ok(
        items(),
        &format!("{ITEMS_HEADER}café,Comédie|Drame,false,,\"日本語の説明\"\n"),
    );
    assert_eq!(ids(&t, "ITEM_ID"), ["café"]);
    assert_eq!(strs(&t, "GENRES"), [Some("Comédie|Drame".into())]);
    assert_eq!(strs(&t, "DESCRIPTION"), [Some("日本語の説明".into())]);
}

#[test]
fn a_file_with_any_error_yields_no_table() {
    let mut input = ITEMS_HEADER.to_string();
    for i in 0..50 {
        input.push_str(&format!("i{i},Drama,false,,\n"));
    }
    input.push_str("bad,Drama,false,not-a-year,\n");
    for i in 50..100 {
        input.push_str(&format!("i{i},Drama,false,,\n"));
    }
    let e = fail(items(), input.as_bytes());
    assert_error(only(&e), 52, Some("YEAR"), "not an integer");
}

// ---------------------------------------------------------------- progress

fn progress_of(schema: Arc<DatasetSchema>, input: &[u8]) -> Vec<u64> {
    let mut seen = Vec::new();
    csv::parse(schema, input, &mut |done| seen.push(done)).unwrap();
    seen
}

#[test]
fn progress_ends_at_the_input_length() {
    let input = format!("{ITEMS_HEADER}i1,Drama,false,,\ni2,Comedy,true,1990,text\n");
    let seen = progress_of(items(), input.as_bytes());
    assert!(!seen.is_empty());
    assert_eq!(*seen.last().unwrap(), input.len() as u64);
}

#[test]
fn progress_is_monotonic_on_a_large_file() {
    let mut input = INTERACTIONS_HEADER.to_string();
    for i in 0..10_000 {
        input.push_str(&format!(
            "u{},i{},{},click,{}.5,phone\n",
            i % 97,
            i % 131,
            1_700_000_000 + i,
            i % 5
        ));
    }
    let seen = progress_of(interactions(), input.as_bytes());
    assert!(seen.len() > 1, "expected intermediate progress: {seen:?}");
    assert!(seen.windows(2).all(|w| w[0] <= w[1]), "{seen:?}");
    assert!(seen.iter().all(|&b| b <= input.len() as u64));
    assert_eq!(*seen.last().unwrap(), input.len() as u64);
}

#[test]
fn progress_ends_at_the_input_length_on_a_failed_file() {
    let input = format!("{ITEMS_HEADER}i1,Drama,maybe,,\n");
    let mut seen = Vec::new();
    let r = csv::parse(items(), input.as_bytes(), &mut |done| seen.push(done));
    assert!(r.is_err());
    assert_eq!(seen.last().copied(), Some(input.len() as u64));
}

#[test]
fn progress_with_bom_ends_at_the_input_length() {
    let input = format!("\u{FEFF}{ITEMS_HEADER}i1,Drama,false,,\n");
    let seen = progress_of(items(), input.as_bytes());
    assert_eq!(*seen.last().unwrap(), input.len() as u64);
}

// ---------------------------------------------------------------- ids outside their own dataset

#[test]
fn nullable_user_id_metadata_in_items_reads_as_null() {
    // USER_ID is not reserved in an Items schema, so a nullable one is an ordinary field.
    let schema = Arc::new(
        DatasetSchema::parse(
            r#"{"type":"record","name":"Items","fields":[
                {"name":"ITEM_ID","type":"string"},
                {"name":"GENRES","type":"string","categorical":true},
                {"name":"USER_ID","type":["null","string"]}
            ]}"#,
        )
        .unwrap(),
    );
    let t = ok(schema, "ITEM_ID,GENRES,USER_ID\ni1,Drama,u1\ni2,Drama,\n");
    assert_eq!(t.rows(), 2);
    assert!(t.column("USER_ID").unwrap().is_valid(0));
    assert!(!t.column("USER_ID").unwrap().is_valid(1));
}
