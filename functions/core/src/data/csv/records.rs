//! Splits a byte stream into CSV records: `,` between fields, `"` around a field that holds
//! commas, quotes or line breaks, `""` or `\"` for a quote inside one, LF, CRLF or CR between
//! records, blank lines skipped. One record at a time, so a file is never held whole; physical
//! lines are counted as bytes go by, so each field knows the line it starts on.
//!
//! Written here rather than taken from the `csv` crate because that reader ends a quoted field
//! silently at the end of the input (an unterminated quote swallowed the rest of a file and the
//! import succeeded), grows a record without bound, and counts lines only approximately.

use std::io::{BufRead, ErrorKind};

/// The longest record read, in bytes. Personalize's longest value (a 20,000-character textual
/// field) is far below it; a longer record is a quote left open, or not CSV at all.
pub const MAX_RECORD_BYTES: usize = 1 << 20;

/// One record's fields, their bytes unquoted and unescaped.
#[derive(Debug, Default)]
pub(crate) struct Record {
    /// The line the record starts on (1-based).
    pub line: u64,
    bytes: Vec<u8>,
    ends: Vec<usize>,
    /// The line each field starts on.
    lines: Vec<u64>,
}

impl Record {
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// Each field's bytes and the line it starts on.
    pub fn fields(&self) -> impl Iterator<Item = (&[u8], u64)> + '_ {
        let starts = std::iter::once(0).chain(self.ends.iter().copied());
        starts
            .zip(&self.ends)
            .zip(&self.lines)
            .map(|((s, &e), &line)| (&self.bytes[s..e], line))
    }

    fn clear(&mut self) {
        self.bytes.clear();
        self.ends.clear();
        self.lines.clear();
    }

    fn start_field(&mut self, line: u64) {
        self.lines.push(line);
    }

    fn end_field(&mut self) {
        self.ends.push(self.bytes.len());
    }
}

/// Why the stream could not be split further. Reading stops there: what follows cannot be
/// told apart from the broken record.
#[derive(Debug)]
pub(crate) enum Broken {
    /// The input ended inside a quoted field that opened on `line`.
    Unterminated {
        line: u64,
        field: usize,
    },
    /// A record passed [`MAX_RECORD_BYTES`] in the field starting on `line`; `quoted` if
    /// inside quotes.
    TooLong {
        line: u64,
        field: usize,
        quoted: bool,
    },
    Io {
        line: u64,
        error: std::io::Error,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Between records: line breaks here are blank lines.
    Record,
    Field,
    Unquoted,
    Quoted,
    /// A `"` inside a quoted field: the closing quote, or the first of a doubled one.
    QuoteInQuoted,
    /// A `\` inside a quoted field: the next byte is taken as is.
    Escaped,
}

/// Reads records from `input`, tracking the physical line and the bytes consumed.
pub(crate) struct Records<R> {
    input: R,
    /// The line of the next byte.
    line: u64,
    /// The last byte was a CR: an LF now ends the same line.
    after_cr: bool,
    consumed: u64,
}

impl<R: BufRead> Records<R> {
    pub fn new(input: R) -> Self {
        Records {
            input,
            line: 1,
            after_cr: false,
            consumed: 0,
        }
    }

    /// Bytes consumed so far.
    pub fn consumed(&self) -> u64 {
        self.consumed
    }

    /// Reads the next record into `rec`; `Ok(false)` at the end of the input.
    pub fn next_into(&mut self, rec: &mut Record) -> Result<bool, Broken> {
        rec.clear();
        let mut state = State::Record;
        let mut size = 0usize;
        loop {
            let buf = match self.input.fill_buf() {
                Ok(buf) => buf,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(error) => {
                    return Err(Broken::Io {
                        line: self.line,
                        error,
                    })
                }
            };
            if buf.is_empty() {
                return match state {
                    State::Record => Ok(false),
                    State::Quoted | State::Escaped => Err(Broken::Unterminated {
                        line: rec.lines.last().copied().unwrap_or(rec.line),
                        field: rec.ends.len(),
                    }),
                    State::Field | State::Unquoted | State::QuoteInQuoted => {
                        rec.end_field();
                        Ok(true)
                    }
                };
            }
            let mut used = 0;
            let mut done = false;
            while used < buf.len() {
                // A run of plain bytes inside a field is copied at once: most of a file.
                let plain = match state {
                    // A field not opening with a quote is unquoted from its first byte.
                    State::Field if buf[used] != b'"' => {
                        state = State::Unquoted;
                        run(&buf[used..], |b| matches!(b, b',' | b'\r' | b'\n'))
                    }
                    State::Unquoted => run(&buf[used..], |b| matches!(b, b',' | b'\r' | b'\n')),
                    State::Quoted => {
                        run(&buf[used..], |b| matches!(b, b'"' | b'\\' | b'\r' | b'\n'))
                    }
                    _ => 0,
                };
                // No further than one byte past the limit, where the record is refused.
                let plain = plain.min(MAX_RECORD_BYTES + 1 - size);
                if plain > 0 {
                    rec.bytes.extend_from_slice(&buf[used..used + plain]);
                    used += plain;
                    size += plain;
                    self.after_cr = false;
                    if size > MAX_RECORD_BYTES {
                        break;
                    }
                    // The comma that ends most runs, taken here rather than byte by byte below.
                    if state == State::Unquoted
                        && buf.get(used) == Some(&b',')
                        && size < MAX_RECORD_BYTES
                    {
                        used += 1;
                        size += 1;
                        rec.end_field();
                        rec.start_field(self.line);
                        state = State::Field;
                    }
                    continue;
                }
                let b = buf[used];
                used += 1;
                let line = self.line;
                match b {
                    b'\n' if self.after_cr => self.after_cr = false,
                    b'\n' => self.line += 1,
                    b'\r' => {
                        self.line += 1;
                        self.after_cr = true;
                    }
                    _ => self.after_cr = false,
                }
                if state == State::Record {
                    if matches!(b, b'\r' | b'\n') {
                        continue;
                    }
                    rec.line = line;
                    rec.start_field(line);
                    state = State::Field;
                }
                size += 1;
                if size > MAX_RECORD_BYTES {
                    break;
                }
                state = match (state, b) {
                    (State::Field, b'"') => State::Quoted,
                    (State::Field | State::Unquoted | State::QuoteInQuoted, b',') => {
                        rec.end_field();
                        rec.start_field(line);
                        State::Field
                    }
                    (State::Field | State::Unquoted | State::QuoteInQuoted, b'\r' | b'\n') => {
                        rec.end_field();
                        done = true;
                        break;
                    }
                    (State::Quoted, b'"') => State::QuoteInQuoted,
                    (State::Quoted, b'\\') => State::Escaped,
                    (State::QuoteInQuoted, b'"') => {
                        rec.bytes.push(b'"');
                        State::Quoted
                    }
                    (State::Quoted | State::Escaped, b) => {
                        rec.bytes.push(b);
                        State::Quoted
                    }
                    // Text after a closing quote is kept, as the csv crate did: `"a"b` is `ab`.
                    (State::Field | State::Unquoted | State::QuoteInQuoted, b) => {
                        rec.bytes.push(b);
                        State::Unquoted
                    }
                    (State::Record, _) => unreachable!("left above"),
                };
            }
            self.input.consume(used);
            self.consumed += used as u64;
            if done {
                return Ok(true);
            }
            if size > MAX_RECORD_BYTES {
                return Err(Broken::TooLong {
                    line: rec.lines.last().copied().unwrap_or(rec.line),
                    field: rec.ends.len(),
                    quoted: matches!(state, State::Quoted | State::Escaped | State::QuoteInQuoted),
                });
            }
        }
    }
}

/// How many bytes at the start of `buf` are not `special`.
fn run(buf: &[u8], special: impl Fn(u8) -> bool) -> usize {
    buf.iter().position(|&b| special(b)).unwrap_or(buf.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A record's line and its fields with their lines.
    type Split = (u64, Vec<(String, u64)>);

    fn split(input: &[u8]) -> Result<Vec<Split>, Broken> {
        // A 3-byte buffer puts every state on a buffer boundary somewhere.
        let mut records = Records::new(std::io::BufReader::with_capacity(3, input));
        let mut rec = Record::default();
        let mut out = Vec::new();
        while records.next_into(&mut rec)? {
            let fields = rec
                .fields()
                .map(|(f, l)| (String::from_utf8(f.to_vec()).unwrap(), l))
                .collect();
            out.push((rec.line, fields));
        }
        assert_eq!(records.consumed(), input.len() as u64);
        Ok(out)
    }

    fn f(s: &str, line: u64) -> (String, u64) {
        (s.to_string(), line)
    }

    #[test]
    fn fields_and_lines() {
        let got = split(b"a,b\r\n\r\n\"x\ny\",\"q\"\"\\\"\"\nlast,").unwrap();
        assert_eq!(
            got,
            [
                (1, vec![f("a", 1), f("b", 1)]),
                (3, vec![f("x\ny", 3), f("q\"\"", 4)]),
                (5, vec![f("last", 5), f("", 5)]),
            ]
        );
    }

    #[test]
    fn lone_cr_ends_a_line() {
        let got = split(b"a\rb\r\rc").unwrap();
        let lines: Vec<u64> = got.iter().map(|r| r.0).collect();
        assert_eq!(lines, [1, 2, 4]);
    }

    #[test]
    fn eof_inside_quotes_names_the_opening_line() {
        match split(b"h\nv,\"open\nmore\nlines\n") {
            Err(Broken::Unterminated { line, field }) => assert_eq!((line, field), (2, 1)),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            split(b"\"\\"),
            Err(Broken::Unterminated { line: 1, field: 0 })
        ));
    }

    #[test]
    fn a_record_stops_at_the_size_limit() {
        let mut input = b"ok\n".to_vec();
        input.resize(MAX_RECORD_BYTES + 10, 0);
        let mut records = Records::new(input.as_slice());
        let mut rec = Record::default();
        assert!(records.next_into(&mut rec).unwrap());
        match records.next_into(&mut rec) {
            Err(Broken::TooLong { line, quoted, .. }) => assert_eq!((line, quoted), (2, false)),
            other => panic!("{other:?}"),
        }
        assert!(records.consumed() <= (MAX_RECORD_BYTES + 4) as u64);
    }
}
