//! Resource records with a checksum bound to where they are stored.
//!
//! Every record the services write goes through [`CheckedMeta`], on every adapter, as
//! ```text
//! "TLR" | version u8 = 1 | CRC-32 (LE u32) of (table, key, value) | value
//! ```
//! so a damaged or truncated record, a value edited by hand, or a record copied under another
//! key (one campaign's over another's) is refused on read, naming the record, instead of being
//! used as written. A checksum detects damage, not a forger: who may write the records is the
//! business of file permissions (local) and IAM plus the table's KMS key (AWS).

use std::sync::Arc;

use async_trait::async_trait;

use super::{Expect, ListQuery, MetaStore, Page, StoreError, StoreResult, Versioned};

const MAGIC: &[u8; 3] = b"TLR";
const VERSION: u8 = 1;
const HEADER: usize = 8;

fn checksum(table: &str, key: &str, value: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    for part in [table.as_bytes(), key.as_bytes()] {
        h.update(&(part.len() as u64).to_le_bytes());
        h.update(part);
    }
    h.update(value);
    h.finalize()
}

/// `value` framed with its checksum, as stored.
pub fn frame(table: &str, key: &str, value: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER + value.len());
    out.extend_from_slice(MAGIC);
    out.push(VERSION);
    out.extend_from_slice(&checksum(table, key, value).to_le_bytes());
    out.extend_from_slice(value);
    out
}

/// The value of a stored frame, if it is intact and belongs at `table`/`key`.
pub fn unframe(table: &str, key: &str, stored: &[u8]) -> StoreResult<Vec<u8>> {
    let damaged =
        |why: &str| StoreError::Corrupt(format!("record {table}/{key} is damaged: {why}"));
    if stored.len() < HEADER || &stored[..3] != MAGIC {
        return Err(damaged("it has no integrity header"));
    }
    if stored[3] != VERSION {
        return Err(damaged(&format!("unknown record format {}", stored[3])));
    }
    let expected = u32::from_le_bytes([stored[4], stored[5], stored[6], stored[7]]);
    let value = &stored[HEADER..];
    if checksum(table, key, value) != expected {
        return Err(damaged(
            "its checksum does not match (changed, truncated, or copied from another key)",
        ));
    }
    Ok(value.to_vec())
}

/// A [`MetaStore`] that frames every value it writes and checks every value it reads.
pub struct CheckedMeta {
    inner: Arc<dyn MetaStore>,
}

impl CheckedMeta {
    pub fn new(inner: Arc<dyn MetaStore>) -> CheckedMeta {
        CheckedMeta { inner }
    }
}

#[async_trait]
impl MetaStore for CheckedMeta {
    async fn get(&self, table: &str, key: &str) -> StoreResult<Option<Versioned>> {
        match self.inner.get(table, key).await? {
            Some(v) => Ok(Some(Versioned {
                value: unframe(table, key, &v.value)?,
                version: v.version,
            })),
            None => Ok(None),
        }
    }

    async fn put(
        &self,
        table: &str,
        key: &str,
        parent: Option<&str>,
        value: Vec<u8>,
        expect: Expect,
    ) -> StoreResult<u64> {
        self.inner
            .put(table, key, parent, frame(table, key, &value), expect)
            .await
    }

    async fn delete(&self, table: &str, key: &str, expect: Expect) -> StoreResult<()> {
        self.inner.delete(table, key, expect).await
    }

    /// Intact records only: a damaged one is left out with an error log naming it, so one bad
    /// record does not hide every other resource of its kind. Reading it by key still fails.
    async fn list_page(&self, table: &str, query: ListQuery<'_>) -> StoreResult<Page> {
        let page = self.inner.list_page(table, query).await?;
        let mut records = Vec::with_capacity(page.records.len());
        for (key, v) in page.records {
            match unframe(table, &key, &v.value) {
                Ok(value) => records.push((
                    key,
                    Versioned {
                        value,
                        version: v.version,
                    },
                )),
                Err(e) => tracing::error!(error = %e, "left out of a listing"),
            }
        }
        Ok(Page {
            records,
            next: page.next,
        })
    }
}
