//! The serving snapshot of an interactions dataset: only what the serving runtime reads (user,
//! item and event-type codes with their dictionaries, and timestamps), as little-endian arrays,
//! so an execution environment loads a user's history with a few copies instead of decoding the
//! Avro file row by row. Written beside the Avro file by every import; the Avro file stays the
//! dataset of record.
//!
//! Layout (version 2): `"TLSI" | version u16 | rows u64 | users dict | items dict | has types u8
//! | [types dict] | user codes u32×rows | item codes u32×rows | [type codes u32×rows] |
//! timestamps i64×rows | impressed items dict | impressions u32×its count | crc32 of everything
//! before`, where a dict is `count u32 | (len u32 | UTF-8 bytes)*`. Version 1 (no impressions)
//! still reads.

use super::{IdDict, Table};

const MAGIC: &[u8; 4] = b"TLSI";
const VERSION: u16 = 2;

/// The serving columns of an interactions table.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct InteractionsSnapshot {
    pub users: IdDict,
    pub user_codes: Vec<u32>,
    pub items: IdDict,
    pub item_codes: Vec<u32>,
    pub types: Option<(IdDict, Vec<u32>)>,
    pub timestamps: Vec<i64>,
    /// The IMPRESSION column summed: each item shown, and how many times.
    pub impressions: (IdDict, Vec<u32>),
}

impl InteractionsSnapshot {
    /// The serving columns of `table`; None unless it has USER_ID, ITEM_ID and TIMESTAMP.
    pub fn from_table(table: &Table) -> Option<InteractionsSnapshot> {
        let (users, user_codes) = table.codes("USER_ID")?;
        let (items, item_codes) = table.codes("ITEM_ID")?;
        let timestamps = table.longs("TIMESTAMP")?;
        Some(InteractionsSnapshot {
            users: users.clone(),
            user_codes: user_codes.to_vec(),
            items: items.clone(),
            item_codes: item_codes.to_vec(),
            types: table
                .codes("EVENT_TYPE")
                .map(|(d, c)| (d.clone(), c.to_vec())),
            timestamps: timestamps.to_vec(),
            impressions: impressions(table),
        })
    }

    pub fn rows(&self) -> usize {
        self.timestamps.len()
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let rows = self.rows();
        let mut out = Vec::with_capacity(32 + rows * 20);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&VERSION.to_le_bytes());
        out.extend_from_slice(&(rows as u64).to_le_bytes());
        put_dict(&mut out, &self.users);
        put_dict(&mut out, &self.items);
        out.push(u8::from(self.types.is_some()));
        if let Some((dict, _)) = &self.types {
            put_dict(&mut out, dict);
        }
        let mut codes = |c: &[u32]| {
            c.iter()
                .for_each(|v| out.extend_from_slice(&v.to_le_bytes()))
        };
        codes(&self.user_codes);
        codes(&self.item_codes);
        if let Some((_, c)) = &self.types {
            codes(c);
        }
        for t in &self.timestamps {
            out.extend_from_slice(&t.to_le_bytes());
        }
        put_dict(&mut out, &self.impressions.0);
        for c in &self.impressions.1 {
            out.extend_from_slice(&c.to_le_bytes());
        }
        let crc = crc32fast::hash(&out);
        out.extend_from_slice(&crc.to_le_bytes());
        out
    }

    /// Reads a snapshot; an error names what is wrong (and says to re-import on a newer format).
    pub fn from_bytes(bytes: &[u8]) -> Result<InteractionsSnapshot, String> {
        let body_len = bytes
            .len()
            .checked_sub(4)
            .ok_or("serving snapshot is truncated")?;
        let (body, crc) = bytes.split_at(body_len);
        if crc32fast::hash(body).to_le_bytes() != crc {
            return Err("serving snapshot checksum mismatch".into());
        }
        let mut r = Reader { bytes: body, at: 0 };
        if r.take(4)? != MAGIC {
            return Err("not a serving snapshot".into());
        }
        let version = u16::from_le_bytes(r.array()?);
        if version != VERSION && version != 1 {
            return Err(format!(
                "serving snapshot format {version} is not supported (this build reads {VERSION}): re-import the dataset"
            ));
        }
        let rows = usize::try_from(u64::from_le_bytes(r.array()?))
            .map_err(|_| "serving snapshot row count overflows")?;
        let users = r.dict()?;
        let items = r.dict()?;
        let has_types = r.take(1)?[0] == 1;
        let type_dict = if has_types { Some(r.dict()?) } else { None };
        let user_codes = r.codes(rows, users.len())?;
        let item_codes = r.codes(rows, items.len())?;
        let types = match type_dict {
            Some(d) => {
                let c = r.codes(rows, d.len())?;
                Some((d, c))
            }
            None => None,
        };
        let timestamps = r
            .take(rows.checked_mul(8).ok_or("serving snapshot overflows")?)?
            .chunks_exact(8)
            .map(|c| i64::from_le_bytes(c.try_into().unwrap_or_default()))
            .collect();
        let mut impressions = (IdDict::new(), Vec::new());
        if version >= 2 {
            let dict = r.dict()?;
            let counts = r
                .take(
                    dict.len()
                        .checked_mul(4)
                        .ok_or("serving snapshot overflows")?,
                )?
                .chunks_exact(4)
                .map(|c| u32::from_le_bytes(c.try_into().unwrap_or_default()))
                .collect();
            impressions = (dict, counts);
        }
        if r.at != body.len() {
            return Err("serving snapshot has trailing bytes".into());
        }
        Ok(InteractionsSnapshot {
            users,
            user_codes,
            items,
            item_codes,
            types,
            timestamps,
            impressions,
        })
    }
}

/// The IMPRESSION column (`|`-joined item ids per row) summed per item.
fn impressions(table: &Table) -> (IdDict, Vec<u32>) {
    let (mut dict, mut counts) = (IdDict::new(), Vec::new());
    let mut add = |ids: &str| {
        for id in ids.split('|').map(str::trim).filter(|s| !s.is_empty()) {
            let code = dict.intern(id) as usize;
            if counts.len() <= code {
                counts.resize(code + 1, 0);
            }
            counts[code] += 1;
        }
    };
    match table.column("IMPRESSION") {
        Some(super::Values::Str(rows)) => rows.iter().flatten().for_each(|r| add(r)),
        Some(super::Values::Codes { dict: d, codes }) => codes.iter().for_each(|&c| add(d.name(c))),
        _ => {}
    }
    (dict, counts)
}

fn put_dict(out: &mut Vec<u8>, dict: &IdDict) {
    out.extend_from_slice(&(dict.len() as u32).to_le_bytes());
    for name in dict.iter() {
        out.extend_from_slice(&(name.len() as u32).to_le_bytes());
        out.extend_from_slice(name.as_bytes());
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self
            .at
            .checked_add(n)
            .filter(|&e| e <= self.bytes.len())
            .ok_or_else(|| format!("serving snapshot is truncated at byte {}", self.at))?;
        let s = &self.bytes[self.at..end];
        self.at = end;
        Ok(s)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], String> {
        let mut a = [0; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }

    fn dict(&mut self) -> Result<IdDict, String> {
        let count = u32::from_le_bytes(self.array()?);
        let mut dict = IdDict::new();
        for _ in 0..count {
            let len = u32::from_le_bytes(self.array()?) as usize;
            let at = self.at;
            let name = std::str::from_utf8(self.take(len)?)
                .map_err(|_| format!("serving snapshot: bad UTF-8 at byte {at}"))?;
            dict.intern(name);
        }
        if dict.len() != count as usize {
            return Err("serving snapshot: a dictionary repeats a name".into());
        }
        Ok(dict)
    }

    fn codes(&mut self, rows: usize, bound: usize) -> Result<Vec<u32>, String> {
        let at = self.at;
        let codes: Vec<u32> = self
            .take(rows.checked_mul(4).ok_or("serving snapshot overflows")?)?
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes(c.try_into().unwrap_or_default()))
            .collect();
        if codes.iter().any(|&c| c as usize >= bound) {
            return Err(format!(
                "serving snapshot: a code past its dictionary in the array at byte {at}"
            ));
        }
        Ok(codes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample::{self, schemas, SampleSize};
    use crate::schema::DatasetSchema;

    fn table() -> Table {
        let data = sample::generate(
            3,
            SampleSize {
                items: 50,
                users: 40,
                sessions_per_user: 3,
            },
        );
        let schema =
            std::sync::Arc::new(DatasetSchema::parse(schemas::ECOMMERCE_INTERACTIONS).unwrap());
        crate::data::csv::parse(schema, &data.interactions, &mut |_| {}).unwrap()
    }

    #[test]
    fn round_trips_the_serving_columns() {
        let t = table();
        let snap = InteractionsSnapshot::from_table(&t).unwrap();
        assert_eq!(snap.rows(), t.rows());
        assert!(snap.types.is_some());
        let back = InteractionsSnapshot::from_bytes(&snap.to_bytes()).unwrap();
        assert_eq!(back, snap);
        assert_eq!(
            back.users.name(back.user_codes[7]),
            t.codes("USER_ID")
                .unwrap()
                .0
                .name(t.codes("USER_ID").unwrap().1[7])
        );
    }

    #[test]
    fn sums_the_impression_column() {
        let schema = r#"{"type": "record", "name": "Interactions",
            "namespace": "com.amazonaws.personalize.schema", "version": "1.0", "fields": [
            {"name": "USER_ID", "type": "string"}, {"name": "ITEM_ID", "type": "string"},
            {"name": "TIMESTAMP", "type": "long"},
            {"name": "IMPRESSION", "type": ["null", "string"]}]}"#;
        let csv = b"USER_ID,ITEM_ID,TIMESTAMP,IMPRESSION\nu1,a,1,a|b|c\nu2,b,2,b|c\nu3,c,3,\n";
        let t = crate::evaluation::read_csv_with_schema(schema, csv).unwrap();
        let snap = InteractionsSnapshot::from_table(&t).unwrap();
        let count = |id: &str| {
            let (dict, counts) = &snap.impressions;
            dict.get(id).map(|c| counts[c as usize])
        };
        assert_eq!(
            (count("a"), count("b"), count("c"), count("d")),
            (Some(1), Some(2), Some(2), None)
        );
        let back = InteractionsSnapshot::from_bytes(&snap.to_bytes()).unwrap();
        assert_eq!(back, snap);
    }

    #[test]
    fn damage_is_reported_not_trusted() {
        let bytes = InteractionsSnapshot::from_table(&table())
            .unwrap()
            .to_bytes();
        let mut flipped = bytes.clone();
        flipped[40] ^= 1;
        assert!(InteractionsSnapshot::from_bytes(&flipped)
            .unwrap_err()
            .contains("checksum"));
        assert!(InteractionsSnapshot::from_bytes(&bytes[..bytes.len() / 2]).is_err());
        assert!(InteractionsSnapshot::from_bytes(&[]).is_err());
        let mut newer = bytes[..bytes.len() - 4].to_vec();
        newer[4] = 9;
        let crc = crc32fast::hash(&newer);
        newer.extend_from_slice(&crc.to_le_bytes());
        assert!(InteractionsSnapshot::from_bytes(&newer)
            .unwrap_err()
            .contains("re-import"));
    }
}
