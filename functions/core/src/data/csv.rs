//! Personalize's CSV rules: a header row naming schema fields, double-quoted text with `\`
//! escaping, `|`-joined categorical values, epoch-second timestamps, lower-case booleans, UTF-8
//! with or without a BOM, LF or CRLF. Any bad row fails the whole file; the errors name the line,
//! the column and the reason.

mod records;

use std::io::{BufReader, Chain, Cursor, Read};
use std::sync::Arc;

pub use records::MAX_RECORD_BYTES;
use records::{Broken, Record, Records};

use super::table::push_opt;
use super::{Table, Values};
use crate::schema::{
    DatasetSchema, DatasetType, Field, FieldType, MAX_CATEGORICAL_CHARS, MAX_ID_CHARS,
};

/// How many errors a failed import reports in detail (all are counted).
pub const MAX_REPORTED_ERRORS: usize = 10;
/// Epoch seconds above this are almost surely milliseconds (year 5138).
const MAX_EPOCH_SECONDS: i64 = 100_000_000_000;

/// One problem in the input, located by line (1-based, the header is line 1) and column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    pub line: u64,
    pub column: Option<String>,
    pub message: String,
}

impl std::fmt::Display for RowError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.column {
            Some(c) => write!(f, "line {}, column {}: {}", self.line, c, self.message),
            None => write!(f, "line {}: {}", self.line, self.message),
        }
    }
}

/// Why a file was rejected: the first errors and how many there were in all.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ImportErrors {
    pub errors: Vec<RowError>,
    pub total: usize,
}

impl ImportErrors {
    fn push(&mut self, e: RowError) {
        self.total += 1;
        if self.errors.len() < MAX_REPORTED_ERRORS {
            self.errors.push(e);
        }
    }

    fn one(line: u64, column: Option<String>, message: impl Into<String>) -> ImportErrors {
        ImportErrors::from_one(RowError {
            line,
            column,
            message: message.into(),
        })
    }

    fn from_one(e: RowError) -> ImportErrors {
        let mut errors = ImportErrors::default();
        errors.push(e);
        errors
    }
}

impl std::fmt::Display for ImportErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let noun = if self.total == 1 { "error" } else { "errors" };
        write!(f, "{} {noun} in the input file", self.total)?;
        if self.total > self.errors.len() {
            write!(f, " (first {} shown)", self.errors.len())?;
        }
        for e in &self.errors {
            write!(f, "; {e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ImportErrors {}

/// A parsed cell, borrowed from the record until the whole row is known to be good.
enum Cell<'a> {
    Null,
    Str(&'a str),
    Long(i64),
    Double(f64),
    Bool(bool),
}

/// The input as the record splitter reads it: the UTF-8 BOM, if any, already taken off.
type Input<R> = BufReader<Chain<Cursor<Vec<u8>>, R>>;

/// Records read between progress reports and other checks of a caller.
pub const BATCH_ROWS: usize = 4096;

/// Reads a Personalize CSV into a table of its schema, record by record: memory grows with
/// the table, not the file. The header is read by [`CsvReader::new`], rows by
/// [`CsvReader::read_rows`], and [`CsvReader::finish`] gives the table or every error.
pub struct CsvReader<R> {
    schema: Arc<DatasetSchema>,
    records: Records<Input<R>>,
    record: Record,
    /// The schema field of each CSV column.
    columns: Vec<usize>,
    header_line: u64,
    bom_bytes: u64,
    table: Table,
    errors: ImportErrors,
    finished: bool,
}

impl<R: Read> CsvReader<R> {
    /// Reads up to the header and maps its columns to the schema's fields.
    pub fn new(schema: Arc<DatasetSchema>, mut input: R) -> Result<Self, ImportErrors> {
        let mut head = Vec::with_capacity(3);
        (&mut input)
            .take(3)
            .read_to_end(&mut head)
            .map_err(|e| ImportErrors::one(1, None, format!("cannot read the input: {e}")))?;
        let bom_bytes = if head == b"\xEF\xBB\xBF" {
            head.clear();
            3
        } else {
            0
        };
        let input = BufReader::with_capacity(64 << 10, Cursor::new(head).chain(input));
        let mut records = Records::new(input);
        let mut record = Record::default();
        // Blank or whitespace-only lines before the header are not a header.
        loop {
            match records.next_into(&mut record) {
                Ok(true) => {}
                Ok(false) => {
                    return Err(ImportErrors::one(
                        1,
                        None,
                        "the file is empty; a header row naming the schema fields is required",
                    ))
                }
                Err(broken) => {
                    return Err(ImportErrors::from_one(broken_row(broken, &[], &schema)))
                }
            }
            let blank = record.len() == 1
                && record
                    .fields()
                    .all(|(f, _)| f.iter().all(u8::is_ascii_whitespace));
            if !blank {
                break;
            }
        }
        let header_line = record.line;
        let columns = map_header(&schema, &record, header_line)?;
        Ok(CsvReader {
            table: Table::empty(schema.clone()),
            schema,
            records,
            record,
            columns,
            header_line,
            bom_bytes,
            errors: ImportErrors::default(),
            finished: false,
        })
    }

    /// Bytes of the input consumed so far.
    pub fn bytes_read(&self) -> u64 {
        self.bom_bytes + self.records.consumed()
    }

    /// Reads up to `rows` records; false once the input is exhausted or cannot be read on.
    pub fn read_rows(&mut self, rows: usize) -> bool {
        for _ in 0..rows {
            if self.finished {
                break;
            }
            match self.records.next_into(&mut self.record) {
                Ok(true) => self.add_row(),
                Ok(false) => self.finished = true,
                Err(broken) => {
                    let e = broken_row(broken, &self.columns, &self.schema);
                    self.errors.push(e);
                    self.finished = true;
                }
            }
        }
        !self.finished
    }

    /// Reads what is left, then the table, or every error of the file.
    pub fn finish(mut self) -> Result<Table, ImportErrors> {
        while self.read_rows(BATCH_ROWS) {}
        if self.errors.total > 0 {
            return Err(self.errors);
        }
        if self.table.rows() == 0 {
            return Err(ImportErrors::one(
                self.header_line,
                None,
                "the file has a header but no records",
            ));
        }
        Ok(self.table)
    }

    fn add_row(&mut self) {
        let record = &self.record;
        if record.len() != self.columns.len() {
            self.errors.push(RowError {
                line: record.line,
                column: None,
                message: format!(
                    "expected {} fields as in the header, found {}",
                    self.columns.len(),
                    record.len()
                ),
            });
            return;
        }
        let schema = &self.schema;
        let mut cells: Vec<Cell> = schema.fields.iter().map(|_| Cell::Null).collect();
        let errors_before = self.errors.total;
        for (&field_idx, (raw, line)) in self.columns.iter().zip(record.fields()) {
            let field = &schema.fields[field_idx];
            match parse_cell(schema.dataset_type, field, raw) {
                Ok(cell) => cells[field_idx] = cell,
                Err(message) => self.errors.push(RowError {
                    line,
                    column: Some(field.name.clone()),
                    message,
                }),
            }
        }
        // Once the file has an error no table comes out of it: stop building one.
        if errors_before == 0 && self.errors.total == 0 {
            // Fields absent from the header were checked nullable in `map_header`.
            for (col, cell) in self.table.columns.iter_mut().zip(cells) {
                push_cell(col, cell);
            }
        }
    }
}

/// The error of a record that could not be split; `columns` maps field positions to names.
fn broken_row(broken: Broken, columns: &[usize], schema: &DatasetSchema) -> RowError {
    let column = |field: usize| columns.get(field).map(|&i| schema.fields[i].name.clone());
    match broken {
        Broken::Unterminated { line, field } => RowError {
            line,
            column: column(field),
            message: "a quoted value opens here and is never closed (the file ends inside it)"
                .into(),
        },
        Broken::TooLong {
            line,
            field,
            quoted,
        } => RowError {
            line,
            column: column(field),
            message: format!(
                "record over the {MAX_RECORD_BYTES}-byte limit (reached in this value){}",
                if quoted {
                    "; a quoted value opened here is likely never closed"
                } else {
                    "; is this a CSV file?"
                }
            ),
        },
        Broken::Io { line, error } => RowError {
            line,
            column: None,
            message: format!("cannot read the input: {error}"),
        },
    }
}

/// Parses a Personalize CSV held in memory; see [`read`].
pub fn parse(
    schema: Arc<DatasetSchema>,
    input: &[u8],
    progress: &mut dyn FnMut(u64),
) -> Result<Table, ImportErrors> {
    read(schema, input, progress)
}

/// Parses a Personalize CSV from `input` into a table of `schema`. `progress` receives bytes
/// consumed.
pub fn read(
    schema: Arc<DatasetSchema>,
    input: impl Read,
    progress: &mut dyn FnMut(u64),
) -> Result<Table, ImportErrors> {
    let mut reader = CsvReader::new(schema, input)?;
    while reader.read_rows(BATCH_ROWS) {
        progress(reader.bytes_read());
    }
    progress(reader.bytes_read());
    reader.finish()
}

/// Maps each CSV column to its schema field; every non-nullable field must be present.
fn map_header(
    schema: &DatasetSchema,
    header: &Record,
    line: u64,
) -> Result<Vec<usize>, ImportErrors> {
    let mut errors = ImportErrors::default();
    if let Some(hint) = delimiter_hint(header) {
        errors.push(RowError {
            line,
            column: None,
            message: hint,
        });
        return Err(errors);
    }
    let mut columns = Vec::with_capacity(header.len());
    let mut seen = vec![false; schema.fields.len()];
    for (raw, _) in header.fields() {
        let Ok(name) = std::str::from_utf8(raw) else {
            errors.push(RowError {
                line,
                column: None,
                message: "header is not valid UTF-8".into(),
            });
            continue;
        };
        let name = name.trim();
        match schema.field_index_ignore_case(name) {
            Some(i) if seen[i] => errors.push(RowError {
                line,
                column: Some(name.into()),
                message: "column appears twice in the header".into(),
            }),
            Some(i) => {
                seen[i] = true;
                columns.push(i);
            }
            None => errors.push(RowError {
                line,
                column: Some(column_name(name)),
                message: format!(
                    "not a field of the {} schema (fields: {})",
                    schema.dataset_type,
                    schema
                        .fields
                        .iter()
                        .map(|f| f.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            }),
        }
    }
    for (i, f) in schema.fields.iter().enumerate() {
        if !seen[i] && !f.nullable {
            errors.push(RowError {
                line,
                column: Some(f.name.clone()),
                message: "required column is missing from the header".into(),
            });
        }
    }
    if errors.total > 0 {
        Err(errors)
    } else {
        Ok(columns)
    }
}

/// A header read as one column that splits on another delimiter: the file is not
/// comma-separated, and every row would fail for it. Saying so beats listing the missing
/// columns.
fn delimiter_hint(header: &Record) -> Option<String> {
    if header.len() != 1 {
        return None;
    }
    let (raw, _) = header.fields().next()?;
    let text = String::from_utf8_lossy(raw);
    let (delimiter, name) = [(';', "semicolons"), ('\t', "tabs"), ('|', "'|'")]
        .into_iter()
        .find(|(d, _)| text.contains(*d))?;
    Some(format!(
        "the header {} is one column: the file is delimited by {name}, not commas; \
         Personalize reads comma-separated CSV (convert it, e.g. with `tr '{}' ','` if no value \
         contains a comma)",
        column_name(text.trim()),
        delimiter.escape_default()
    ))
}

/// A non-number in a TIMESTAMP column, with what is expected; a date in ISO-8601 or another
/// calendar format is named as such.
fn timestamp_hint(field: &Field, text: &str) -> String {
    let looks_like_date = text.bytes().filter(|b| b.is_ascii_digit()).count() >= 4
        && text.contains(['-', '/', ':', 'T']);
    if looks_like_date {
        format!(
            "{} looks like a date; {} takes Unix epoch time in seconds (e.g. 1700000000 for \
             2023-11-14T22:13:20Z)",
            echo(text),
            field.name
        )
    } else {
        format!(
            "{} is not an integer ({}): {} takes Unix epoch time in seconds",
            echo(text),
            field.ty.as_str(),
            field.name
        )
    }
}

fn parse_cell<'a>(kind: DatasetType, field: &Field, raw: &'a [u8]) -> Result<Cell<'a>, String> {
    let text = std::str::from_utf8(raw)
        .map_err(|e| format!("not valid UTF-8 (byte {} of the value)", e.valid_up_to()))?;
    if text.is_empty() {
        return if field.nullable {
            Ok(Cell::Null)
        } else {
            Err("a value is required (the field is not nullable)".into())
        };
    }
    // One scan for the rare case; which control character matters is sorted out after.
    if text.bytes().any(|b| b < 0x20 || b == 0x7f) {
        check_controls(kind, field, text)?;
    }
    match field.ty {
        FieldType::String => {
            let chars = text.chars().count();
            let is_id = Values::encodes(field, kind) && field.name != "EVENT_TYPE";
            if is_id && chars > MAX_ID_CHARS {
                return Err(format!(
                    "id is {chars} characters; the limit is {MAX_ID_CHARS}"
                ));
            }
            if (field.categorical || field.name == "IMPRESSION") && chars > MAX_CATEGORICAL_CHARS {
                return Err(format!(
                    "value is {chars} characters; the limit is {MAX_CATEGORICAL_CHARS}"
                ));
            }
            Ok(Cell::Str(text))
        }
        FieldType::Int | FieldType::Long => {
            let v: i64 = trim_blanks(text).parse().map_err(|_| {
                if field.name.ends_with("TIMESTAMP") {
                    timestamp_hint(field, text)
                } else {
                    format!("{} is not an integer ({})", echo(text), field.ty.as_str())
                }
            })?;
            if field.ty == FieldType::Int && i32::try_from(v).is_err() {
                return Err(format!("{v} does not fit an int"));
            }
            if field.name.ends_with("TIMESTAMP") && !(0..MAX_EPOCH_SECONDS).contains(&v) {
                return Err(format!(
                    "{v} is not a Unix epoch time in seconds (milliseconds must be divided by 1000)"
                ));
            }
            Ok(Cell::Long(v))
        }
        FieldType::Float | FieldType::Double => {
            let v: f64 = trim_blanks(text)
                .parse()
                .map_err(|_| format!("{} is not a number ({})", echo(text), field.ty.as_str()))?;
            if !v.is_finite() {
                return Err(format!("{} is not a finite number", echo(text)));
            }
            // A float field stores f32; round now so every later read sees the same value.
            let v = if field.ty == FieldType::Float {
                v as f32 as f64
            } else {
                v
            };
            if !v.is_finite() {
                return Err(format!("{} is out of range for a float", echo(text)));
            }
            Ok(Cell::Double(v))
        }
        FieldType::Boolean => match text {
            "true" => Ok(Cell::Bool(true)),
            "false" => Ok(Cell::Bool(false)),
            _ => Err(format!(
                "{} is not a boolean (use lower-case true or false)",
                echo(text)
            )),
        },
    }
}

/// NUL is refused anywhere; line breaks outside textual fields; any control character in
/// ids, event types and categorical values.
fn check_controls(kind: DatasetType, field: &Field, text: &str) -> Result<(), String> {
    if let Some(at) = text.find('\0') {
        return Err(format!(
            "holds a NUL character (at character {})",
            char_index(text, at)
        ));
    }
    // Only free text may span lines; elsewhere a line break is a quote left open above.
    if !field.textual {
        if let Some(at) = text.find(['\n', '\r']) {
            return Err(format!(
                "holds a line break (at character {}); only textual fields may span lines, \
                 so a quote opened on this line is likely never closed",
                char_index(text, at)
            ));
        }
    }
    if field.ty == FieldType::String && is_symbol(field, kind) {
        if let Some((at, c)) = text.char_indices().find(|(_, c)| c.is_ascii_control()) {
            return Err(format!(
                "holds the control character {} (at character {}); ids, event types and \
                 categorical values cannot",
                c.escape_debug(),
                char_index(text, at)
            ));
        }
    }
    Ok(())
}

/// Strings that name things (ids, event types, categories): no control characters at all.
fn is_symbol(field: &Field, kind: DatasetType) -> bool {
    Values::encodes(field, kind)
        || field.categorical
        || matches!(
            field.name.as_str(),
            "USER_ID"
                | "ITEM_ID"
                | "EVENT_TYPE"
                | "IMPRESSION"
                | "RECOMMENDATION_ID"
                | "EVENT_ATTRIBUTION_SOURCE"
        )
}

/// Spaces and tabs around a number are allowed; line breaks are not (checked before).
fn trim_blanks(s: &str) -> &str {
    s.trim_matches([' ', '\t'])
}

/// The 1-based character position of byte offset `at`.
fn char_index(s: &str, at: usize) -> usize {
    s[..at].chars().count() + 1
}

/// The longest value echoed in an error, in characters.
pub const MAX_ECHO_CHARS: usize = 100;

/// A value from the input as an error may show it: quoted, at most [`MAX_ECHO_CHARS`], with
/// control and other invisible characters escaped (`\n`, `\u{1b}`), so a hostile file can
/// neither flood nor forge the failureReason and the logs it is copied to.
pub fn echo(s: &str) -> String {
    let (shown, rest) = escaped(s);
    if rest > 0 {
        format!("'{shown}'… ({rest} more characters)")
    } else {
        format!("'{shown}'")
    }
}

/// The first [`MAX_ECHO_CHARS`] of `s` with invisible characters escaped, and how many
/// characters were left off.
fn escaped(s: &str) -> (String, usize) {
    let mut out = String::new();
    let mut chars = s.chars();
    for c in chars.by_ref().take(MAX_ECHO_CHARS) {
        match c {
            // Quotes need no escaping in an echo; everything else escape_debug flags does.
            '"' | '\'' => out.push(c),
            c => out.extend(c.escape_debug()),
        }
    }
    (out, chars.count())
}

/// A column name from the header as an error names it: escaped and bounded like [`echo`].
fn column_name(s: &str) -> String {
    match escaped(s) {
        (shown, 0) => shown,
        (shown, rest) => format!("{shown}… ({rest} more characters)"),
    }
}

fn push_cell(col: &mut Values, cell: Cell) {
    match (col, cell) {
        (Values::Codes { dict, codes }, Cell::Str(s)) => codes.push(dict.intern(s)),
        (Values::Str(v), Cell::Str(s)) => v.push(Some(s.into())),
        (Values::Str(v), Cell::Null) => v.push(None),
        (Values::Long { data, valid }, Cell::Long(v)) => push_opt(data, valid, Some(v)),
        (Values::Long { data, valid }, Cell::Null) => push_opt(data, valid, None),
        (Values::Double { data, valid }, Cell::Double(v)) => push_opt(data, valid, Some(v)),
        (Values::Double { data, valid }, Cell::Null) => push_opt(data, valid, None),
        (Values::Bool { data, valid }, Cell::Bool(v)) => push_opt(data, valid, Some(v)),
        (Values::Bool { data, valid }, Cell::Null) => push_opt(data, valid, None),
        _ => unreachable!("cells are parsed for their column's type"),
    }
}

/// Writes one row by Personalize's CSV rules: a field holding a comma, quote, newline or
/// backslash is double-quoted, with `"` doubled and `\` escaped as `\\` (what [`parse`] reads).
pub fn write_row<'a>(out: &mut Vec<u8>, fields: impl IntoIterator<Item = &'a str>) {
    for (i, field) in fields.into_iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        if field
            .bytes()
            .any(|b| matches!(b, b',' | b'"' | b'\n' | b'\r' | b'\\'))
        {
            out.push(b'"');
            for b in field.bytes() {
                match b {
                    b'"' => out.extend_from_slice(b"\"\""),
                    b'\\' => out.extend_from_slice(b"\\\\"),
                    b => out.push(b),
                }
            }
            out.push(b'"');
        } else {
            out.extend_from_slice(field.as_bytes());
        }
    }
    out.push(b'\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(input: &[u8]) -> Vec<String> {
        let mut records = Records::new(input);
        let mut rec = Record::default();
        assert!(records.next_into(&mut rec).unwrap());
        rec.fields()
            .map(|(f, _)| String::from_utf8(f.to_vec()).unwrap())
            .collect()
    }

    #[test]
    fn written_rows_read_back_verbatim() {
        let tricky = [
            "plain",
            "a,b",
            "say \"hi\"",
            "two\nlines",
            "back\\slash",
            "C:\\dir\\",
            "|x|y|",
            "",
        ];
        let mut out = Vec::new();
        write_row(&mut out, tricky);
        assert_eq!(fields(&out), tricky);
    }

    #[test]
    fn unquoted_backslashes_are_literal() {
        assert_eq!(fields(b"a\\b,\"q\\\"x\"\n"), ["a\\b", "q\"x"]);
    }

    #[test]
    fn echoes_are_short_and_escaped() {
        assert_eq!(echo("a\nb\u{1b}[2J\\"), "'a\\nb\\u{1b}[2J\\\\'");
        let long = echo(&"x".repeat(5000));
        assert!(long.len() < 150, "{long}");
        assert!(long.ends_with("(4900 more characters)"), "{long}");
    }
}
