//! Personalize's CSV rules: a header row naming schema fields, double-quoted text with `\`
//! escaping, `|`-joined categorical values, epoch-second timestamps, lower-case booleans, UTF-8
//! with or without a BOM, LF or CRLF. Any bad row fails the whole file; the errors name the line,
//! the column and the reason.

use std::sync::Arc;

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
#[derive(Debug, Clone, PartialEq, Eq)]
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
        let mut e = ImportErrors {
            errors: vec![],
            total: 0,
        };
        e.push(RowError {
            line,
            column,
            message: message.into(),
        });
        e
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

/// Line numbers from byte offsets. The csv crate's own line count is off after CRLF endings and
/// blank lines, so lines are counted here, moving forward only (records arrive in order).
struct LineCounter<'a> {
    input: &'a [u8],
    offset: usize,
    line: u64,
}

impl<'a> LineCounter<'a> {
    fn new(input: &'a [u8]) -> Self {
        LineCounter {
            input,
            offset: 0,
            line: 1,
        }
    }

    /// The 1-based line of the record starting at `byte` (blank lines before it skipped).
    fn line_at(&mut self, byte: u64) -> u64 {
        let mut start = (byte as usize).min(self.input.len());
        while start < self.input.len() && matches!(self.input[start], b'\r' | b'\n') {
            start += 1;
        }
        if start >= self.offset {
            self.line += self.input[self.offset..start]
                .iter()
                .filter(|&&b| b == b'\n')
                .count() as u64;
            self.offset = start;
        }
        self.line
    }
}

/// A parsed cell, borrowed from the record until the whole row is known to be good.
enum Cell<'a> {
    Null,
    Str(&'a str),
    Long(i64),
    Double(f64),
    Bool(bool),
}

/// Parses a Personalize CSV into a table of `schema`. `progress` receives bytes consumed.
pub fn parse(
    schema: Arc<DatasetSchema>,
    input: &[u8],
    progress: &mut dyn FnMut(u64),
) -> Result<Table, ImportErrors> {
    let total = input.len() as u64;
    let input = input.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(input);
    let skipped = total - input.len() as u64;
    let mut lines = LineCounter::new(input);
    if input.iter().all(u8::is_ascii_whitespace) {
        return Err(ImportErrors::one(
            1,
            None,
            "the file is empty; a header row naming the schema fields is required",
        ));
    }
    let mut reader = ::csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .escape(Some(b'\\'))
        .from_reader(input);
    let mut record = ::csv::ByteRecord::new();
    let mut errors = ImportErrors {
        errors: vec![],
        total: 0,
    };

    let header_line = match reader.read_byte_record(&mut record) {
        Ok(true) => lines.line_at(record.position().map_or(0, |p| p.byte())),
        Ok(false) => return Err(ImportErrors::one(1, None, "the file has no header row")),
        Err(e) => {
            return Err(ImportErrors::one(
                1,
                None,
                format!("unreadable header: {e}"),
            ))
        }
    };
    let columns = map_header(&schema, &record, header_line)?;

    let mut table = Table::empty(schema.clone());
    let mut rows = 0u64;
    loop {
        match reader.read_byte_record(&mut record) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => {
                let line = lines.line_at(e.position().map_or(0, |p| p.byte()));
                errors.push(RowError {
                    line,
                    column: None,
                    message: format!("unreadable CSV: {e}"),
                });
                break;
            }
        }
        rows += 1;
        let start = record.position().map_or(0, |p| p.byte());
        let line = lines.line_at(start);
        if rows.is_multiple_of(4096) {
            progress(skipped + start);
        }
        if record.len() != columns.len() {
            errors.push(RowError {
                line,
                column: None,
                message: format!(
                    "expected {} fields as in the header, found {}",
                    columns.len(),
                    record.len()
                ),
            });
            continue;
        }
        let mut cells: Vec<Cell> = schema.fields.iter().map(|_| Cell::Null).collect();
        let mut row_ok = true;
        for (pos, raw) in record.iter().enumerate() {
            let field_idx = columns[pos];
            let field = &schema.fields[field_idx];
            match parse_cell(schema.dataset_type, field, raw) {
                Ok(cell) => cells[field_idx] = cell,
                Err(message) => {
                    row_ok = false;
                    errors.push(RowError {
                        line,
                        column: Some(field.name.clone()),
                        message,
                    });
                }
            }
        }
        if row_ok {
            // Fields absent from the header were checked nullable in `map_header`.
            for (col, cell) in table.columns.iter_mut().zip(cells) {
                push_cell(col, cell);
            }
        }
    }
    progress(total);
    if errors.total > 0 {
        return Err(errors);
    }
    if table.rows() == 0 {
        return Err(ImportErrors::one(
            header_line,
            None,
            "the file has a header but no records",
        ));
    }
    Ok(table)
}

/// Maps each CSV column to its schema field; every non-nullable field must be present.
fn map_header(
    schema: &DatasetSchema,
    header: &::csv::ByteRecord,
    line: u64,
) -> Result<Vec<usize>, ImportErrors> {
    let mut errors = ImportErrors {
        errors: vec![],
        total: 0,
    };
    let mut columns = Vec::with_capacity(header.len());
    let mut seen = vec![false; schema.fields.len()];
    for raw in header.iter() {
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
                column: Some(name.into()),
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
            let v: i64 = text.trim().parse().map_err(|_| {
                format!("'{}' is not an integer ({})", clip(text), field.ty.as_str())
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
            let v: f64 = text
                .trim()
                .parse()
                .map_err(|_| format!("'{}' is not a number ({})", clip(text), field.ty.as_str()))?;
            if !v.is_finite() {
                return Err(format!("'{}' is not a finite number", clip(text)));
            }
            // A float field stores f32; round now so every later read sees the same value.
            let v = if field.ty == FieldType::Float {
                v as f32 as f64
            } else {
                v
            };
            if !v.is_finite() {
                return Err(format!("'{}' is out of range for a float", clip(text)));
            }
            Ok(Cell::Double(v))
        }
        FieldType::Boolean => match text {
            "true" => Ok(Cell::Bool(true)),
            "false" => Ok(Cell::Bool(false)),
            _ => Err(format!(
                "'{}' is not a boolean (use lower-case true or false)",
                clip(text)
            )),
        },
    }
}

fn clip(s: &str) -> String {
    if s.chars().count() > 40 {
        format!("{}...", s.chars().take(40).collect::<String>())
    } else {
        s.to_string()
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
        let mut reader = ::csv::ReaderBuilder::new()
            .has_headers(false)
            .escape(Some(b'\\'))
            .from_reader(out.as_slice());
        let rec = reader.records().next().unwrap().unwrap();
        assert_eq!(rec.iter().collect::<Vec<_>>(), tricky);
    }

    #[test]
    fn unquoted_backslashes_are_literal() {
        let mut reader = ::csv::ReaderBuilder::new()
            .has_headers(false)
            .escape(Some(b'\\'))
            .from_reader(&b"a\\b,\"q\\\"x\"\n"[..]);
        let rec = reader.records().next().unwrap().unwrap();
        assert_eq!(&rec[0], "a\\b");
        assert_eq!(&rec[1], "q\"x");
    }
}
