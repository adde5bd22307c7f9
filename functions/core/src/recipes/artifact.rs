//! The model artifact: one self-describing, versioned, checksummed binary file per solution
//! version, loaded in milliseconds (bulk little-endian arrays, no parsing per element).
//!
//! Layout (little-endian):
//! ```text
//! magic "TLRM" | format version u16 | reserved u16 | header length u32 | header (JSON)
//! section*: tag [u8; 4] | length u64 | bytes
//! crc32 u32 of everything before it
//! ```
//! The header names the recipe and its resolved hyperparameters; sections hold arrays: `ITEM`
//! (the catalogue's ids as a string table), `POPL` (f32 popularity), and per recipe more.

use crate::data::IdDict;

pub const MAGIC: &[u8; 4] = b"TLRM";
pub const FORMAT_VERSION: u16 = 1;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ArtifactError {
    #[error("not a tailor model artifact")]
    NotAnArtifact,
    #[error("model artifact format version {found} is not supported (this build reads {FORMAT_VERSION}); retrain the solution version")]
    Version { found: u16 },
    #[error("model artifact is corrupt: {0}")]
    Corrupt(String),
    #[error("model artifact lacks section {0}")]
    Missing(String),
}

/// Builds an artifact.
pub struct ArtifactWriter {
    buf: Vec<u8>,
}

impl ArtifactWriter {
    pub fn new(header: &serde_json::Value) -> ArtifactWriter {
        let header = serde_json::to_vec(header).unwrap_or_default();
        let mut buf = Vec::with_capacity(1 << 16);
        buf.extend_from_slice(MAGIC);
        buf.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        buf.extend_from_slice(&0u16.to_le_bytes());
        buf.extend_from_slice(&(header.len() as u32).to_le_bytes());
        buf.extend_from_slice(&header);
        ArtifactWriter { buf }
    }

    pub fn bytes(&mut self, tag: &[u8; 4], bytes: &[u8]) -> &mut Self {
        self.buf.extend_from_slice(tag);
        self.buf
            .extend_from_slice(&(bytes.len() as u64).to_le_bytes());
        self.buf.extend_from_slice(bytes);
        self
    }

    pub fn f32s(&mut self, tag: &[u8; 4], values: &[f32]) -> &mut Self {
        let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.bytes(tag, &bytes)
    }

    pub fn u32s(&mut self, tag: &[u8; 4], values: &[u32]) -> &mut Self {
        let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.bytes(tag, &bytes)
    }

    /// A string table: count u32, then (length u32, UTF-8 bytes) per string.
    pub fn strings(&mut self, tag: &[u8; 4], dict: &IdDict) -> &mut Self {
        let mut bytes = Vec::with_capacity(dict.len() * 12);
        bytes.extend_from_slice(&(dict.len() as u32).to_le_bytes());
        for s in dict.iter() {
            bytes.extend_from_slice(&(s.len() as u32).to_le_bytes());
            bytes.extend_from_slice(s.as_bytes());
        }
        self.bytes(tag, &bytes)
    }

    pub fn finish(mut self) -> Vec<u8> {
        let crc = crc32fast::hash(&self.buf);
        self.buf.extend_from_slice(&crc.to_le_bytes());
        self.buf
    }
}

/// A parsed artifact: the header and the sections, borrowed from the bytes.
pub struct ArtifactReader<'a> {
    pub header: serde_json::Value,
    sections: Vec<([u8; 4], &'a [u8])>,
}

impl<'a> ArtifactReader<'a> {
    pub fn parse(bytes: &'a [u8]) -> Result<ArtifactReader<'a>, ArtifactError> {
        if bytes.len() < 16 || &bytes[..4] != MAGIC {
            return Err(ArtifactError::NotAnArtifact);
        }
        let version = u16::from_le_bytes([bytes[4], bytes[5]]);
        if version != FORMAT_VERSION {
            return Err(ArtifactError::Version { found: version });
        }
        let (body, crc) = bytes.split_at(bytes.len() - 4);
        if crc32fast::hash(body) != u32::from_le_bytes([crc[0], crc[1], crc[2], crc[3]]) {
            return Err(ArtifactError::Corrupt("checksum mismatch".into()));
        }
        let corrupt = |what: &str| ArtifactError::Corrupt(what.to_string());
        let header_len = u32::from_le_bytes([body[8], body[9], body[10], body[11]]) as usize;
        let header_end = 12usize
            .checked_add(header_len)
            .filter(|&e| e <= body.len())
            .ok_or_else(|| corrupt("header length"))?;
        let header = serde_json::from_slice(&body[12..header_end])
            .map_err(|e| corrupt(&format!("header: {e}")))?;
        let mut sections = Vec::new();
        let mut at = header_end;
        while at < body.len() {
            if body.len() - at < 12 {
                return Err(corrupt("truncated section header"));
            }
            let tag: [u8; 4] = body[at..at + 4].try_into().map_err(|_| corrupt("tag"))?;
            let len = u64::from_le_bytes(
                body[at + 4..at + 12]
                    .try_into()
                    .map_err(|_| corrupt("length"))?,
            ) as usize;
            let start = at + 12;
            let end = start
                .checked_add(len)
                .filter(|&e| e <= body.len())
                .ok_or_else(|| corrupt("section length"))?;
            sections.push((tag, &body[start..end]));
            at = end;
        }
        Ok(ArtifactReader { header, sections })
    }

    pub fn bytes(&self, tag: &[u8; 4]) -> Result<&'a [u8], ArtifactError> {
        self.sections
            .iter()
            .find(|(t, _)| t == tag)
            .map(|(_, b)| *b)
            .ok_or_else(|| ArtifactError::Missing(String::from_utf8_lossy(tag).into_owned()))
    }

    /// A section as 4-byte little-endian words.
    fn words(&self, tag: &[u8; 4]) -> Result<impl Iterator<Item = [u8; 4]> + 'a, ArtifactError> {
        let b = self.bytes(tag)?;
        if b.len() % 4 != 0 {
            let name = String::from_utf8_lossy(tag);
            return Err(ArtifactError::Corrupt(format!("section {name} length")));
        }
        Ok(b.chunks_exact(4).map(|c| [c[0], c[1], c[2], c[3]]))
    }

    pub fn f32s(&self, tag: &[u8; 4]) -> Result<Vec<f32>, ArtifactError> {
        Ok(self.words(tag)?.map(f32::from_le_bytes).collect())
    }

    pub fn u32s(&self, tag: &[u8; 4]) -> Result<Vec<u32>, ArtifactError> {
        Ok(self.words(tag)?.map(u32::from_le_bytes).collect())
    }

    pub fn strings(&self, tag: &[u8; 4]) -> Result<IdDict, ArtifactError> {
        let b = self.bytes(tag)?;
        let corrupt =
            || ArtifactError::Corrupt(format!("string table {}", String::from_utf8_lossy(tag)));
        let read_u32 = |at: usize| -> Result<usize, ArtifactError> {
            Ok(u32::from_le_bytes(
                b.get(at..at + 4)
                    .ok_or_else(corrupt)?
                    .try_into()
                    .map_err(|_| corrupt())?,
            ) as usize)
        };
        let n = read_u32(0)?;
        // Every entry takes at least its 4-byte length: a corrupt count cannot reserve more.
        let mut dict = IdDict::with_capacity(n.min(b.len() / 4));
        let mut at = 4;
        for _ in 0..n {
            let len = read_u32(at)?;
            let s = b.get(at + 4..at + 4 + len).ok_or_else(corrupt)?;
            dict.intern(std::str::from_utf8(s).map_err(|_| corrupt())?);
            at += 4 + len;
        }
        if dict.len() != n {
            return Err(ArtifactError::Corrupt(
                "duplicate ids in the catalogue".into(),
            ));
        }
        Ok(dict)
    }
}
