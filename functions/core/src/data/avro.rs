//! Datasets persisted as Avro object container files, written with the dataset's own schema
//! (so any Avro tool can read them), tagged with tailor's dataset format version.

use std::sync::Arc;

use apache_avro::types::Value;
use apache_avro::{Reader, Writer};
use rayon::prelude::*;

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

/// Rows per container block: blocks are encoded in parallel and each is read as one unit.
const BLOCK_ROWS: usize = 16_384;

/// Serialises `table` as an Avro container file (null codec).
///
/// The header comes from apache-avro's writer; the blocks are encoded here, straight from the
/// columns and in parallel, because building an `avro::Value` per cell cost ~2 µs a row (38 s
/// of a 20M-row import). `read` of any Avro reader gives the same records.
pub fn write(table: &Table) -> Result<Vec<u8>, AvroError> {
    let schema = &table.schema;
    let mut header = Writer::new(&schema.avro, Vec::new());
    header
        .add_user_metadata(FORMAT_KEY.to_string(), FORMAT_VERSION)
        .map_err(|e| AvroError::Corrupt(e.to_string()))?;
    let mut out = header
        .into_inner()
        .map_err(|e| AvroError::Corrupt(e.to_string()))?;
    // With no records the writer emits only the header, which ends with the sync marker.
    let marker: [u8; 16] = out
        .len()
        .checked_sub(16)
        .and_then(|at| out[at..].try_into().ok())
        .ok_or_else(|| AvroError::Corrupt("header without a sync marker".into()))?;
    let rows = table.rows();
    let starts: Vec<usize> = (0..rows).step_by(BLOCK_ROWS).collect();
    let blocks: Vec<Vec<u8>> = starts
        .par_iter()
        .map(|&start| encode_rows(table, start..(start + BLOCK_ROWS).min(rows)))
        .collect();
    out.reserve(blocks.iter().map(|b| b.len() + 36).sum());
    for (start, block) in starts.iter().zip(&blocks) {
        put_long(&mut out, ((start + BLOCK_ROWS).min(rows) - start) as i64);
        put_long(&mut out, block.len() as i64);
        out.extend_from_slice(block);
        out.extend_from_slice(&marker);
    }
    Ok(out)
}

/// The binary encoding of `rows`, record after record, fields in schema order.
fn encode_rows(table: &Table, rows: std::ops::Range<usize>) -> Vec<u8> {
    let mut out = Vec::with_capacity(rows.len() * 16 * table.columns.len());
    for row in rows {
        for (field, col) in table.schema.fields.iter().zip(&table.columns) {
            let valid = col.is_valid(row);
            if field.nullable {
                let branch = if valid {
                    1 - field.null_index
                } else {
                    field.null_index
                };
                put_long(&mut out, branch as i64);
            }
            if !valid && field.nullable {
                continue;
            }
            match col {
                Values::Codes { dict, codes } => put_str(&mut out, dict.name(codes[row])),
                Values::Str(v) => put_str(&mut out, v[row].as_deref().unwrap_or_default()),
                Values::Long { data, .. } => put_long(&mut out, data[row]),
                Values::Double { data, .. } if field.ty == FieldType::Float => {
                    out.extend_from_slice(&(data[row] as f32).to_le_bytes())
                }
                Values::Double { data, .. } => out.extend_from_slice(&data[row].to_le_bytes()),
                Values::Bool { data, .. } => out.push(u8::from(data[row])),
            }
        }
    }
    out
}

/// Avro's `long` (and `int`): zig-zag, then base-128 varint.
fn put_long(out: &mut Vec<u8>, v: i64) {
    let mut z = ((v << 1) ^ (v >> 63)) as u64;
    while z >= 0x80 {
        out.push(z as u8 | 0x80);
        z >>= 7;
    }
    out.push(z as u8);
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    put_long(out, s.len() as i64);
    out.extend_from_slice(s.as_bytes());
}

/// Reads a container file written by [`write`] for `schema`.
pub fn read(schema: Arc<DatasetSchema>, bytes: &[u8]) -> Result<Table, AvroError> {
    let (header, written) = checked_header(&schema, bytes)?;
    let mut table = Table::empty(schema);
    if let Some(blocks) = header.null_codec_blocks(bytes)? {
        decode_blocks(&mut table, &written, blocks)?;
        return Ok(table);
    }
    let reader = Reader::new(bytes).map_err(|e| AvroError::Corrupt(e.to_string()))?;
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

/// The header of a file written by [`write`], checked against `schema`, and the schema it was
/// written with.
fn checked_header<'a>(
    schema: &DatasetSchema,
    bytes: &'a [u8],
) -> Result<(Header<'a>, DatasetSchema), AvroError> {
    // The header is read here, not by apache-avro's reader first: its schema parser panics on
    // some damaged names, and `DatasetSchema::parse` checks them before it parses.
    let header = Header::parse(bytes)?;
    let found = header
        .metadata(FORMAT_KEY.as_bytes())
        .map(|v| String::from_utf8_lossy(v).into_owned());
    if found.as_deref() != Some(FORMAT_VERSION) {
        return Err(AvroError::Version { found });
    }
    let written = header
        .metadata(b"avro.schema")
        .and_then(|s| std::str::from_utf8(s).ok())
        .and_then(|s| DatasetSchema::parse(s).ok())
        .ok_or(AvroError::SchemaMismatch)?;
    if written
        .fields
        .iter()
        .map(|f| (&f.name, f.ty, f.nullable))
        .ne(schema.fields.iter().map(|f| (&f.name, f.ty, f.nullable)))
    {
        return Err(AvroError::SchemaMismatch);
    }
    Ok((header, written))
}

/// A file written by [`write`], read in byte ranges: a range holds the blocks that start in
/// it (the first block follows the header; each later one follows a sync marker), as Hadoop
/// splits a container file. Ranges that tile the file read every block once.
pub struct Container {
    schema: Arc<DatasetSchema>,
    written: DatasetSchema,
    marker: [u8; 16],
    data_at: u64,
}

/// What [`Container::read_range`] made of the bytes it was given.
pub enum RangeRead {
    Done(Table),
    /// The range's last block runs past the bytes given: give them up to `need`.
    Short {
        need: u64,
    },
}

impl Container {
    /// From the file's first bytes, which must hold its header.
    pub fn parse(schema: Arc<DatasetSchema>, prefix: &[u8]) -> Result<Container, AvroError> {
        let (header, written) = checked_header(&schema, prefix)?;
        if !matches!(header.metadata(b"avro.codec"), None | Some(b"null")) {
            return Err(AvroError::Corrupt(
                "only files of the null codec are read in ranges".into(),
            ));
        }
        let mut marker = [0u8; 16];
        marker.copy_from_slice(header.marker);
        Ok(Container {
            schema,
            written,
            marker,
            data_at: header.data_at as u64,
        })
    }

    /// The records of the blocks starting in `range`, from `window`: the file's bytes from
    /// `window_at`, which must start at or before `range.start - 16` (to see the marker before
    /// the first block) and end at `file_len` or past the range's last block.
    pub fn read_range(
        &self,
        window: &[u8],
        window_at: u64,
        range: std::ops::Range<u64>,
        file_len: u64,
    ) -> Result<RangeRead, AvroError> {
        let mut table = Table::empty(self.schema.clone());
        let end = range.end.min(file_len);
        let first = if range.start <= self.data_at {
            Some(self.data_at)
        } else {
            // The first marker ending in the range: its block starts there.
            let from = range
                .start
                .saturating_sub(16)
                .checked_sub(window_at)
                .ok_or_else(|| AvroError::Corrupt("a range's bytes start after the range".into()))?
                as usize;
            window
                .get(from..)
                .unwrap_or_default()
                .windows(16)
                .position(|w| w == self.marker)
                .map(|p| window_at + (from + p + 16) as u64)
        };
        let Some(mut at) = first.filter(|&a| a < end) else {
            return Ok(RangeRead::Done(table));
        };
        let window_end = window_at + window.len() as u64;
        while at < end {
            let local = at.checked_sub(window_at).ok_or_else(|| {
                AvroError::Corrupt("a range's bytes start after its first block".into())
            })? as usize;
            let mut c = Cursor {
                bytes: &window[local..],
                at: 0,
            };
            let head = (|| Ok::<_, AvroError>((c.len()?, c.len()?)))();
            let Ok((count, size)) = head else {
                if window_end >= file_len {
                    return Err(c.corrupt("a truncated block head"));
                }
                return Ok(RangeRead::Short {
                    need: (at + 32).min(file_len),
                });
            };
            let block_end = at + (c.at + size + 16) as u64;
            if block_end > window_end {
                if window_end >= file_len {
                    return Err(AvroError::Corrupt(format!(
                        "a block at byte {at} runs past the end of the file"
                    )));
                }
                return Ok(RangeRead::Short { need: block_end });
            }
            let block = c.take(size)?;
            if c.take(16)? != self.marker {
                return Err(c.corrupt("a block without the file's sync marker"));
            }
            decode_blocks(&mut table, &self.written, vec![(count, block)])?;
            at = block_end;
        }
        Ok(RangeRead::Done(table))
    }
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

/// A bounds-checked cursor over the binary encoding.
struct Cursor<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn corrupt(&self, what: &str) -> AvroError {
        AvroError::Corrupt(format!("{what} at byte {}", self.at))
    }

    fn long(&mut self) -> Result<i64, AvroError> {
        let mut z = 0u64;
        for shift in (0..64).step_by(7) {
            let b = *self
                .bytes
                .get(self.at)
                .ok_or_else(|| self.corrupt("truncated number"))?;
            self.at += 1;
            z |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                return Ok((z >> 1) as i64 ^ -((z & 1) as i64));
            }
        }
        Err(self.corrupt("overlong number"))
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], AvroError> {
        let end = self
            .at
            .checked_add(n)
            .filter(|&e| e <= self.bytes.len())
            .ok_or_else(|| self.corrupt("truncated value"))?;
        let out = &self.bytes[self.at..end];
        self.at = end;
        Ok(out)
    }

    fn len(&mut self) -> Result<usize, AvroError> {
        usize::try_from(self.long()?).map_err(|_| self.corrupt("negative length"))
    }

    fn bytes(&mut self) -> Result<&'a [u8], AvroError> {
        let n = self.len()?;
        self.take(n)
    }

    fn str(&mut self) -> Result<&'a str, AvroError> {
        let at = self.at;
        std::str::from_utf8(self.bytes()?)
            .map_err(|_| AvroError::Corrupt(format!("a string that is not UTF-8 at byte {at}")))
    }
}

/// A container block: its record count and its records' bytes.
type Block<'a> = (usize, &'a [u8]);

/// A container file's header: its metadata and where its blocks start.
struct Header<'a> {
    metadata: Vec<(&'a [u8], &'a [u8])>,
    marker: &'a [u8],
    data_at: usize,
}

impl<'a> Header<'a> {
    fn parse(bytes: &'a [u8]) -> Result<Header<'a>, AvroError> {
        let mut c = Cursor { bytes, at: 0 };
        if c.take(4)? != b"Obj\x01" {
            return Err(c.corrupt("no Avro magic"));
        }
        let mut metadata = Vec::new();
        loop {
            let mut n = c.long()?;
            if n == 0 {
                break;
            }
            if n < 0 {
                n = -n;
                c.long()?;
            }
            for _ in 0..n {
                let key = c.bytes()?;
                metadata.push((key, c.bytes()?));
            }
        }
        let marker = c.take(16)?;
        Ok(Header {
            metadata,
            marker,
            data_at: c.at,
        })
    }

    fn metadata(&self, key: &[u8]) -> Option<&'a [u8]> {
        self.metadata
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| *v)
    }

    /// The blocks, each as its record count and bytes, when the codec is null (what [`write`]
    /// makes); `None` for another codec, left to apache-avro's reader.
    fn null_codec_blocks(&self, bytes: &'a [u8]) -> Result<Option<Vec<Block<'a>>>, AvroError> {
        if !matches!(self.metadata(b"avro.codec"), None | Some(b"null")) {
            return Ok(None);
        }
        let mut c = Cursor {
            bytes,
            at: self.data_at,
        };
        let mut blocks = Vec::new();
        while c.at < bytes.len() {
            let count = c.len()?;
            let block = c.bytes()?;
            if c.take(16)? != self.marker {
                return Err(c.corrupt("a block without the file's sync marker"));
            }
            blocks.push((count, block));
        }
        Ok(Some(blocks))
    }
}

/// Appends the records of `blocks`, encoded with the `written` schema, to `table`'s columns.
fn decode_blocks(
    table: &mut Table,
    written: &DatasetSchema,
    blocks: Vec<Block<'_>>,
) -> Result<(), AvroError> {
    for (count, block) in blocks {
        let mut c = Cursor {
            bytes: block,
            at: 0,
        };
        for _ in 0..count {
            for (field, col) in written.fields.iter().zip(table.columns.iter_mut()) {
                if field.nullable {
                    let branch = c.long()?;
                    if branch == i64::from(field.null_index) {
                        push_null(col);
                        continue;
                    }
                    if branch != i64::from(1 - field.null_index) {
                        return Err(c.corrupt("a union branch out of range"));
                    }
                }
                match col {
                    Values::Codes { dict, codes } => codes.push(dict.intern(c.str()?)),
                    Values::Str(data) => data.push(Some(c.str()?.into())),
                    Values::Long { data, valid } => push_opt(data, valid, Some(c.long()?)),
                    Values::Double { data, valid } => {
                        let x = if field.ty == FieldType::Float {
                            f64::from(f32::from_le_bytes(
                                c.take(4)?.try_into().unwrap_or_default(),
                            ))
                        } else {
                            f64::from_le_bytes(c.take(8)?.try_into().unwrap_or_default())
                        };
                        push_opt(data, valid, Some(x))
                    }
                    Values::Bool { data, valid } => {
                        let b = c.take(1)?[0];
                        push_opt(data, valid, Some(b != 0))
                    }
                }
            }
        }
        if c.at != block.len() {
            return Err(c.corrupt("a block longer than its records"));
        }
    }
    Ok(())
}

fn push_null(col: &mut Values) {
    match col {
        Values::Str(data) => data.push(None),
        Values::Long { data, valid } => push_opt(data, valid, None),
        Values::Double { data, valid } => push_opt(data, valid, None),
        Values::Bool { data, valid } => push_opt(data, valid, None),
        // Encoded columns are never nullable (Values::encodes).
        Values::Codes { .. } => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// An items-like schema with every field type, nullable ones with `null` first and last.
    const SCHEMA: &str = r#"{"type":"record","name":"Items","namespace":"com.amazonaws.personalize.schema",
      "fields":[{"name":"ITEM_ID","type":"string"},
        {"name":"GENRES","type":["string","null"],"categorical":true},
        {"name":"YEAR","type":["null","int"]},
        {"name":"PRICE","type":"float"},
        {"name":"SCORE","type":["null","double"]},
        {"name":"ADULT","type":["null","boolean"]},
        {"name":"CREATION_TIMESTAMP","type":"long"}],"version":"1.0"}"#;

    fn table(rows: usize) -> Table {
        let schema = Arc::new(DatasetSchema::parse(SCHEMA).unwrap());
        let mut csv = String::from("ITEM_ID,GENRES,YEAR,PRICE,SCORE,ADULT,CREATION_TIMESTAMP\n");
        for i in 0..rows {
            let g = if i % 3 == 0 {
                String::new()
            } else {
                format!("g{}|é", i % 7)
            };
            let y = if i % 4 == 0 {
                String::new()
            } else {
                format!("{}", 1900 + i % 200)
            };
            let s = if i % 5 == 0 {
                String::new()
            } else {
                format!("{}", i as f64 / 3.0)
            };
            let a = ["", "true", "false"][i % 3];
            let t = 1_000_000 + i as i64 * 1_003;
            csv += &format!("i{i},{g},{y},{}.5,{s},{a},{t}\n", i % 1000);
        }
        crate::data::csv::parse(schema, csv.as_bytes(), &mut |_| {}).unwrap()
    }

    #[test]
    fn written_files_read_back_equal_across_blocks() {
        let t = table(BLOCK_ROWS * 2 + 17);
        let bytes = write(&t).unwrap();
        assert_eq!(read(t.schema.clone(), &bytes).unwrap(), t);
    }

    #[test]
    fn byte_ranges_that_tile_a_file_read_every_row_once() {
        let t = table(BLOCK_ROWS * 3 + 100);
        let bytes = write(&t).unwrap();
        let len = bytes.len() as u64;
        let c = Container::parse(t.schema.clone(), &bytes[..4096]).unwrap();
        for step in [len / 7 + 1, len / 3 + 5, 20, len] {
            let mut all = Table::empty(t.schema.clone());
            let mut shorts = 0;
            let mut a = 0;
            while a < len {
                let range = a..(a + step).min(len);
                // Start with a window over the range alone, and widen it when told.
                let from = a.saturating_sub(16);
                let mut to = range.end;
                let part = loop {
                    match c
                        .read_range(&bytes[from as usize..to as usize], from, range.clone(), len)
                        .unwrap()
                    {
                        RangeRead::Done(p) => break p,
                        RangeRead::Short { need } => {
                            assert!(need > to);
                            shorts += 1;
                            to = need.min(len);
                        }
                    }
                };
                all.append(&part);
                a = range.end;
            }
            assert_eq!(all, t, "ranges of {step} bytes");
            if step < len {
                assert!(shorts > 0, "some block crossed a range's end");
            }
        }
    }

    #[test]
    fn apache_avro_reads_what_we_write_and_we_read_what_it_writes() {
        let t = table(BLOCK_ROWS + 3);
        let ours = write(&t).unwrap();
        let theirs: Vec<Value> = Reader::new(&ours[..])
            .unwrap()
            .map(|v| v.unwrap())
            .collect();
        assert_eq!(theirs.len(), t.rows());
        let Value::Record(first) = &theirs[1] else {
            panic!("{:?}", theirs[1])
        };
        assert_eq!(first[0], ("ITEM_ID".into(), Value::String("i1".into())));
        assert_eq!(
            first[1],
            (
                "GENRES".into(),
                Value::Union(0, Box::new(Value::String("g1|é".into())))
            )
        );
        assert_eq!(
            first[2],
            ("YEAR".into(), Value::Union(1, Box::new(Value::Int(1901))))
        );
        assert_eq!(first[3], ("PRICE".into(), Value::Float(1.5)));
        // The same records through apache-avro's own writer (its blocks, its marker).
        let mut w = Writer::new(&t.schema.avro, Vec::new());
        w.add_user_metadata(FORMAT_KEY.to_string(), FORMAT_VERSION)
            .unwrap();
        for v in theirs {
            w.append(v).unwrap();
        }
        let foreign = w.into_inner().unwrap();
        assert_eq!(read(t.schema.clone(), &foreign).unwrap(), t);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]
        /// A damaged file is an error, never a panic, and never a table with ragged columns.
        #[test]
        fn damaged_files_fail_cleanly(cut in 0usize..4000, at in 0usize..4000, bit in 0u8..8) {
            let t = table(40);
            let mut bytes = write(&t).unwrap();
            let at = at % bytes.len();
            bytes[at] ^= 1 << bit;
            bytes.truncate(bytes.len() - cut.min(bytes.len()) % 64);
            if let Ok(back) = read(t.schema.clone(), &bytes) {
                let rows = back.rows();
                prop_assert!(back.columns.iter().all(|c| c.len() == rows));
            }
        }
    }
}
