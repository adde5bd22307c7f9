//! Properties of the CSV reader over generated files. `PROPTEST_CASES` sets how many cases
//! run (256 by default); e.g. a long run:
//! `PROPTEST_CASES=1000000 cargo test --release -p tailor-core --test it csv_prop`.

use std::sync::Arc;

use proptest::prelude::*;
use tailor_core::data::csv::{self, write_row};
use tailor_core::data::{Table, Values};
use tailor_core::schema::DatasetSchema;

const ITEMS: &str = r#"{"type":"record","name":"Items","fields":[
    {"name":"ITEM_ID","type":"string"},
    {"name":"GENRES","type":"string","categorical":true},
    {"name":"ADULT","type":"boolean"},
    {"name":"YEAR","type":["null","int"]},
    {"name":"DESCRIPTION","type":["null","string"],"textual":true}
],"version":"1.0"}"#;

/// The textual column first, so a bad value after it sits on a later line than its record.
const HEADER: [&str; 5] = ["DESCRIPTION", "ITEM_ID", "GENRES", "ADULT", "YEAR"];

fn items() -> Arc<DatasetSchema> {
    Arc::new(DatasetSchema::parse(ITEMS).unwrap())
}

#[derive(Debug, Clone)]
struct Row {
    id: String,
    genres: String,
    adult: bool,
    year: Option<i32>,
    description: Option<String>,
}

/// Ids and categories: printable, with the characters CSV quoting is about.
fn symbol() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9 ,\"\\\\|'é日-]{1,24}"
}

/// Free text: anything but NUL, line breaks of every kind included.
fn text() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            4 => "[a-z ,\"\\\\]{1,8}",
            1 => Just("\n".to_string()),
            1 => Just("\r\n".to_string()),
            1 => Just("\r".to_string()),
            1 => "[\u{1}-\u{1f}\u{7f}]",
            1 => "[^\u{0}]",
        ],
        1..12,
    )
    .prop_map(|parts| parts.concat())
}

fn row() -> impl Strategy<Value = Row> {
    (
        symbol(),
        symbol(),
        any::<bool>(),
        prop::option::of(any::<i32>()),
        prop::option::of(text()),
    )
        .prop_map(|(id, genres, adult, year, description)| Row {
            id,
            genres,
            adult,
            year,
            description,
        })
}

/// A file of `rows`: optional BOM, LF or CRLF endings, `blank[i]` blank lines before row i.
fn file(rows: &[Row], bom: bool, crlf: bool, blank: &[u8], bad: Option<usize>) -> Vec<u8> {
    let mut out = Vec::new();
    if bom {
        out.extend_from_slice("\u{FEFF}".as_bytes());
    }
    let end = |out: &mut Vec<u8>| {
        if crlf {
            out.pop();
            out.extend_from_slice(b"\r\n");
        }
    };
    write_row(&mut out, HEADER);
    end(&mut out);
    for (i, r) in rows.iter().enumerate() {
        for _ in 0..blank[i] {
            out.extend_from_slice(if crlf { b"\r\n" } else { b"\n" });
        }
        let year = r.year.map(|y| y.to_string()).unwrap_or_default();
        let adult = if bad == Some(i) {
            "maybe"
        } else if r.adult {
            "true"
        } else {
            "false"
        };
        write_row(
            &mut out,
            [
                r.description.as_deref().unwrap_or(""),
                &r.id,
                &r.genres,
                adult,
                &year,
            ],
        );
        end(&mut out);
    }
    out
}

/// Physical line breaks: LF, CRLF and a lone CR each end one line.
fn breaks(s: &str) -> u64 {
    let b = s.as_bytes();
    (0..b.len())
        .filter(|&i| b[i] == b'\n' || (b[i] == b'\r' && b.get(i + 1) != Some(&b'\n')))
        .count() as u64
}

fn codes(t: &Table, name: &str) -> Vec<String> {
    let (dict, codes) = t.codes(name).unwrap();
    codes.iter().map(|&c| dict.name(c).to_string()).collect()
}

fn strs(t: &Table, name: &str) -> Vec<Option<String>> {
    match t.column(name) {
        Some(Values::Str(v)) => v.iter().map(|s| s.as_deref().map(String::from)).collect(),
        other => panic!("{name}: {other:?}"),
    }
}

/// Serves bytes `step` at a time, so records and BOMs straddle reads.
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

/// Bytes that are mostly CSV's own: quotes, commas, escapes, line breaks, NUL, UTF-8 parts.
fn csvish_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(
        prop_oneof![
            3 => prop::sample::select(b"\",\\\r\n\0 |".to_vec()),
            3 => prop::sample::select(b"ITEM_ID,GENRES,ADULT\ntrue1x".to_vec()),
            1 => any::<u8>(),
        ],
        0..600,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::default())]

    #[test]
    fn arbitrary_bytes_never_panic_and_errors_are_clean(
        bytes in prop_oneof![csvish_bytes(), prop::collection::vec(any::<u8>(), 0..600)],
        step in 1usize..9,
    ) {
        let lines = 1 + bytes.iter().filter(|&&b| b == b'\n' || b == b'\r').count() as u64;
        let whole = csv::parse(items(), &bytes, &mut |_| {});
        let streamed = csv::read(items(), Trickle { bytes: &bytes, step }, &mut |_| {});
        prop_assert_eq!(&whole, &streamed);
        if let Err(e) = whole {
            prop_assert!(e.total >= e.errors.len() && !e.errors.is_empty());
            for r in &e.errors {
                prop_assert!(r.line >= 1 && r.line <= lines, "line {} of {}: {}", r.line, lines, r);
            }
            let text = e.to_string();
            prop_assert!(!text.chars().any(|c| c.is_control()), "{:?}", text);
        }
    }

    #[test]
    fn written_rows_read_back_exactly(
        rows in prop::collection::vec(row(), 1..25),
        bom: bool,
        crlf: bool,
        blank in prop::collection::vec(0u8..3, 25),
        step in 1usize..17,
    ) {
        let input = file(&rows, bom, crlf, &blank, None);
        let t = csv::read(items(), Trickle { bytes: &input, step }, &mut |_| {})
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(t.rows(), rows.len());
        let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
        prop_assert_eq!(codes(&t, "ITEM_ID"), ids);
        let genres: Vec<Option<String>> = rows.iter().map(|r| Some(r.genres.clone())).collect();
        prop_assert_eq!(strs(&t, "GENRES"), genres);
        let descriptions: Vec<Option<String>> = rows.iter().map(|r| r.description.clone()).collect();
        prop_assert_eq!(strs(&t, "DESCRIPTION"), descriptions);
        let Some(Values::Bool { data, .. }) = t.column("ADULT") else { panic!("ADULT") };
        prop_assert_eq!(data, &rows.iter().map(|r| r.adult).collect::<Vec<_>>());
        let year = t.column("YEAR").unwrap();
        let Values::Long { data, .. } = year else { panic!("YEAR") };
        for (i, r) in rows.iter().enumerate() {
            prop_assert_eq!(year.is_valid(i).then_some(data[i]), r.year.map(i64::from));
        }
        prop_assert_eq!(&csv::parse(items(), &input, &mut |_| {}).unwrap(), &t);
    }

    #[test]
    fn an_error_names_the_physical_line_of_the_bad_value(
        rows in prop::collection::vec(row(), 1..25),
        crlf: bool,
        blank in prop::collection::vec(0u8..3, 25),
        bad in any::<prop::sample::Index>(),
    ) {
        let bad = bad.index(rows.len());
        let input = file(&rows, false, crlf, &blank, Some(bad));
        let e = csv::parse(items(), &input, &mut |_| {}).unwrap_err();
        // Header, then each row's blank lines and its own lines, up to the bad value, which
        // follows its row's description.
        let mut line = 2;
        for (i, r) in rows.iter().enumerate() {
            line += blank[i] as u64;
            let inside = breaks(r.description.as_deref().unwrap_or(""));
            if i == bad {
                line += inside;
                break;
            }
            line += inside + 1;
        }
        prop_assert_eq!(e.total, 1, "{}", e);
        prop_assert_eq!(e.errors[0].line, line, "{}", e);
        prop_assert_eq!(e.errors[0].column.as_deref(), Some("ADULT"));
    }
}
