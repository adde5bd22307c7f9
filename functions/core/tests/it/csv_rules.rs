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
fn a_date_in_a_timestamp_column_says_epoch_seconds() {
    for date in ["2024-05-01T10:00:00Z", "2024-05-01", "05/01/2024 10:00"] {
        let e = fail(
            interactions(),
            format!("{INTERACTIONS_HEADER}u1,i1,{date},click,,\n").as_bytes(),
        );
        assert_error(only(&e), 2, Some("TIMESTAMP"), "looks like a date");
        assert_error(only(&e), 2, Some("TIMESTAMP"), "epoch time in seconds");
    }
}

#[test]
fn another_delimiter_is_named_once_not_as_missing_columns() {
    for (delimiter, name) in [(";", "semicolons"), ("\t", "tabs"), ("|", "'|'")] {
        let header = INTERACTIONS_HEADER.trim_end().replace(',', delimiter);
        let row = "u1,i1,1700000000,click,,".replace(',', delimiter);
        let e = fail(interactions(), format!("{header}\n{row}\n").as_bytes());
        assert_error(
            only(&e),
            1,
            None,
            &format!("delimited by {name}, not commas"),
        );
    }
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

// ---------------------------------------------------------------- quotes left open (issue 9)

/// The file of the issue: the quote opened on line 3 never closes.
const UNCLOSED_LAST_COLUMN: &str = "USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE\nU1,I1,1700000000,View\nU2,I2,1700000001,\"View\nU3,I3,1700000002,View\nU4,I4,1700000003,View\n";

#[test]
fn unterminated_quote_in_the_last_column_names_the_line_it_opened_on() {
    let e = fail(interactions(), UNCLOSED_LAST_COLUMN.as_bytes());
    assert_error(only(&e), 3, Some("EVENT_TYPE"), "never closed");
}

#[test]
fn unterminated_quote_in_a_middle_column_names_its_column() {
    let input = "USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE\nU1,I1,1700000000,View\n\nU2,\"I2,1700000001,View\nU3,I3,1700000002,View\n";
    let e = fail(interactions(), input.as_bytes());
    assert_error(only(&e), 4, Some("ITEM_ID"), "never closed");
}

#[test]
fn unterminated_quote_in_a_textual_field_fails_too() {
    let input =
        format!("{ITEMS_HEADER}i1,Drama,false,,\"an open\ndescription\ni2,Drama,false,,x\n");
    let e = fail(items(), input.as_bytes());
    assert_error(only(&e), 2, Some("DESCRIPTION"), "never closed");
}

#[test]
fn a_quote_closed_lines_later_is_a_line_break_where_none_is_allowed() {
    // The quote opened on line 3 pairs with the one on line 5: one record, EVENT_TYPE spanning
    // lines 3-5.
    let input = "USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE\nU1,I1,1700000000,View\nU2,I2,1700000001,\"View\nU3,I3,1700000002,View\nU4,I4,1700000003,\"Buy\"\nU5,I5,1700000004,View\n";
    let e = fail(interactions(), input.as_bytes());
    assert_error(only(&e), 3, Some("EVENT_TYPE"), "line break");
    assert!(only(&e).message.contains("quote"), "{e}");
}

/// Interactions with a plain (neither categorical nor textual) string field.
fn with_plain_string() -> Arc<DatasetSchema> {
    Arc::new(
        DatasetSchema::parse(
            r#"{"type":"record","name":"Interactions","fields":[
                {"name":"USER_ID","type":"string"},{"name":"ITEM_ID","type":"string"},
                {"name":"TIMESTAMP","type":"long"},{"name":"EVENT_TYPE","type":"string"},
                {"name":"RECOMMENDATION_ID","type":["null","string"]}]}"#,
        )
        .unwrap(),
    )
}

#[test]
fn line_breaks_are_refused_in_every_field_that_is_not_textual() {
    let good = ["u1", "i1", "1700000000", "click", "", "phone"];
    for (col, name) in INTERACTIONS_HEADER.trim().split(',').enumerate() {
        for brk in ["\n", "\r\n", "\r"] {
            let mut row = good.map(String::from);
            row[col] = format!(
                "{}{brk}x",
                if good[col].is_empty() { "1" } else { good[col] }
            );
            let mut input = INTERACTIONS_HEADER.as_bytes().to_vec();
            csv::write_row(&mut input, row.iter().map(String::as_str));
            let e = fail(interactions(), &input);
            let r = only(&e);
            assert_eq!(
                (r.line, r.column.as_deref()),
                (2, Some(name)),
                "{brk:?}: {r}"
            );
        }
    }
    for (col, name) in ITEMS_HEADER.trim().split(',').enumerate().take(4) {
        let mut row = ["i1", "Drama", "false", "1999", "text"].map(String::from);
        row[col] = format!("{}\nx", row[col]);
        let mut input = ITEMS_HEADER.as_bytes().to_vec();
        csv::write_row(&mut input, row.iter().map(String::as_str));
        let e = fail(items(), &input);
        assert_error(only(&e), 2, Some(name), "");
    }
    let e = fail(
        with_plain_string(),
        b"USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE,RECOMMENDATION_ID\nu,i,1,click,\"r\n1\"\n",
    );
    assert_error(only(&e), 2, Some("RECOMMENDATION_ID"), "line break");
}

#[test]
fn a_textual_field_spanning_lines_imports_and_later_lines_still_count() {
    let input = format!(
        "{ITEMS_HEADER}i1,Drama,false,,\"one\r\ntwo\nthree\rfour\"\ni2,Drama,false,,\"tab\there\"\ni3,Drama,nope,,\n"
    );
    // Lines: 1 header; 2-5 i1 (CRLF, LF and CR each end one line); 6 i2; 7 i3, bad.
    let e = fail(items(), input.as_bytes());
    assert_error(only(&e), 7, Some("ADULT"), "boolean");
    let good = input.replace("nope", "true");
    let t = ok(items(), &good);
    assert_eq!(
        strs(&t, "DESCRIPTION"),
        [
            Some("one\r\ntwo\nthree\rfour".into()),
            Some("tab\there".into()),
            None
        ]
    );
}

#[test]
fn control_characters_are_refused_in_ids_event_types_and_categories() {
    for c in ['\u{0}', '\u{1}', '\t', '\u{1b}', '\u{1f}', '\u{7f}'] {
        for (col, name) in [
            (0, "USER_ID"),
            (1, "ITEM_ID"),
            (3, "EVENT_TYPE"),
            (5, "DEVICE"),
        ] {
            let mut row = ["u1", "i1", "1700000000", "click", "", "phone"].map(String::from);
            row[col].insert(1, c);
            let mut input = INTERACTIONS_HEADER.as_bytes().to_vec();
            csv::write_row(&mut input, row.iter().map(String::as_str));
            let e = fail(interactions(), &input);
            let r = only(&e);
            assert_eq!((r.line, r.column.as_deref()), (2, Some(name)), "{c:?}: {r}");
            assert!(r.message.contains("character"), "{c:?}: {r}");
        }
        let input = format!("{ITEMS_HEADER}i1,Dra{c}ma,false,,\n");
        assert_error(
            only(&fail(items(), input.as_bytes())),
            2,
            Some("GENRES"),
            "character",
        );
    }
}

#[test]
fn nul_is_refused_anywhere_even_in_text() {
    let e = fail(
        items(),
        format!("{ITEMS_HEADER}i1,Drama,false,,\"te\0xt\"\n").as_bytes(),
    );
    assert_error(only(&e), 2, Some("DESCRIPTION"), "NUL");
    let e = fail(
        with_plain_string(),
        b"USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE,RECOMMENDATION_ID\nu,i,1,click,r\x001\n",
    );
    assert_error(only(&e), 2, Some("RECOMMENDATION_ID"), "NUL");
    // Other control characters are text in a textual field.
    let t = ok(
        items(),
        &format!("{ITEMS_HEADER}i1,Drama,false,,\"a\u{1b}b\"\n"),
    );
    assert_eq!(strs(&t, "DESCRIPTION"), [Some("a\u{1b}b".into())]);
}

// ---------------------------------------------------------------- echoed values

#[test]
fn echoed_values_are_bounded_and_escaped() {
    // An escape sequence that would clear a terminal, a fake error line, then a flood.
    let hostile = format!("\u{1b}[2J\u{7f}; line 9: all good{}", "9".repeat(10_000));
    let mut input = INTERACTIONS_HEADER.as_bytes().to_vec();
    csv::write_row(
        &mut input,
        ["u1", "i1", "1700000000", "click", &hostile, ""],
    );
    let e = fail(interactions(), &input);
    let r = only(&e);
    assert_eq!((r.line, r.column.as_deref()), (2, Some("EVENT_VALUE")));
    let text = e.to_string();
    assert!(text.len() < 400, "{} bytes: {text}", text.len());
    assert!(!text.contains(['\n', '\r', '\u{1b}', '\u{7f}']), "{text:?}");
    assert!(text.contains("'\\u{1b}[2J\\u{7f}; line 9"), "{text}");

    let mut input = INTERACTIONS_HEADER.as_bytes().to_vec();
    csv::write_row(
        &mut input,
        [
            "u1",
            "i1",
            &format!("12{}", "x".repeat(500)),
            "click",
            "",
            "",
        ],
    );
    let text = fail(interactions(), &input).to_string();
    assert!(text.contains("(402 more characters)"), "{text}");
}

#[test]
fn an_unknown_header_column_is_echoed_escaped() {
    let e = fail(
        items(),
        b"ITEM_ID,GENRES,ADULT,\"EVIL\x1b[31m\"\ni1,Drama,false,x\n",
    );
    let r = only(&e);
    assert_eq!(r.column.as_deref(), Some("EVIL\\u{1b}[31m"), "{r}");
}

// ---------------------------------------------------------------- streaming and record size

/// Serves `bytes` a few at a time, counting what was read.
struct Trickle<'a> {
    bytes: &'a [u8],
    step: usize,
}

impl std::io::Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.step.min(buf.len()).min(self.bytes.len());
        buf[..n].copy_from_slice(&self.bytes[..n]);
        self.bytes = &self.bytes[n..];
        Ok(n)
    }
}

#[test]
fn a_stream_read_a_byte_at_a_time_gives_the_same_table() {
    let input = format!(
        "\u{FEFF}{ITEMS_HEADER}i1,\"Comedy, Drama\",false,1999,\"big\r\n\"\"bold\"\" \\\\ loud\"\r\ni2,Horror,true,,\n"
    );
    let whole = ok(items(), &input);
    for step in [1, 2, 3, 7] {
        let stream = Trickle {
            bytes: input.as_bytes(),
            step,
        };
        let t = csv::read(items(), stream, &mut |_| {}).unwrap();
        assert_eq!(t, whole, "step {step}");
    }
    // A BOM split over reads, and a file shorter than a BOM.
    let e = csv::read(
        items(),
        Trickle {
            bytes: b"\xEF",
            step: 1,
        },
        &mut |_| {},
    )
    .unwrap_err();
    assert!(
        e.to_string().contains("not a field") || e.to_string().contains("UTF-8"),
        "{e}"
    );
}

/// Endless zeros, counting how many were read.
struct Zeros(u64);

impl std::io::Read for Zeros {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        buf.fill(0);
        self.0 += buf.len() as u64;
        Ok(buf.len())
    }
}

#[test]
fn endless_input_fails_fast_on_line_1() {
    let mut zeros = Zeros(0);
    let e = csv::read(items(), &mut zeros, &mut |_| {}).unwrap_err();
    assert_error(only(&e), 1, None, "1048576-byte limit");
    assert!(zeros.0 < 2 << 20, "read {} bytes", zeros.0);
}

#[test]
fn a_record_over_the_limit_fails_naming_its_line() {
    let mut input = format!("{ITEMS_HEADER}i1,Drama,false,,ok\ni2,Drama,false,,").into_bytes();
    input.extend(std::iter::repeat_n(b'x', csv::MAX_RECORD_BYTES));
    input.extend_from_slice(b"\ni3,Drama,false,,ok\n");
    let e = fail(items(), &input);
    assert_error(only(&e), 3, Some("DESCRIPTION"), "1048576-byte limit");
    // An unclosed quote running into the limit says so.
    let mut input = format!("{ITEMS_HEADER}i1,Drama,false,,\"open\n").into_bytes();
    input.extend(std::iter::repeat_n(b"i,D,false,,x\n", 100_000).flatten());
    let e = fail(items(), &input);
    assert_error(only(&e), 2, Some("DESCRIPTION"), "never closed");
}

#[test]
fn a_record_just_under_the_limit_is_read() {
    // A long textual value stays under the limit: only the record size is capped.
    let text = "t".repeat(csv::MAX_RECORD_BYTES - 100);
    let t = ok(items(), &format!("{ITEMS_HEADER}i1,Drama,false,,{text}\n"));
    assert_eq!(strs(&t, "DESCRIPTION"), [Some(text)]);
}
