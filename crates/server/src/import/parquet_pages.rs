//! Walking a Parquet column chunk's page headers before the parquet crate
//! reads it: the crate allocates a page's uncompressed size as its header
//! claims, and that size is nowhere else (the footer has only totals), so a
//! hostile file could ask for 2 GiB per page. The headers are Thrift
//! compact-protocol structs; this reads just enough of the protocol to find
//! each header's sizes and skip the rest.

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};

/// Nested structs deeper than this are refused (no real header nests past 3).
const MAX_DEPTH: u32 = 16;

/// The largest uncompressed size claimed by a page of the column chunk at
/// `start`, `len` bytes long. An error says what is malformed, and where.
pub fn largest_page(file: &File, start: u64, len: u64) -> Result<u64, String> {
    let mut file = file.try_clone().map_err(|e| e.to_string())?;
    file.seek(SeekFrom::Start(start))
        .map_err(|e| e.to_string())?;
    let mut input = Input {
        bytes: BufReader::new(file),
        read: 0,
        limit: len,
    };
    let mut largest = 0;
    while input.read < len {
        let at = start + input.read;
        let sizes = header(&mut input).map_err(|e| format!("the page header at byte {at}: {e}"))?;
        largest = largest.max(sizes.uncompressed);
        input
            .skip(sizes.compressed)
            .map_err(|e| format!("the page at byte {at}: {e}"))?;
    }
    Ok(largest)
}

struct Sizes {
    uncompressed: u64,
    compressed: u64,
}

/// One PageHeader: field 2 is the uncompressed size, field 3 the compressed
/// size (both i32); every other field is skipped.
fn header(input: &mut Input) -> Result<Sizes, String> {
    let (mut uncompressed, mut compressed) = (None, None);
    let mut last_id = 0i16;
    while let Some((id, kind)) = input.field(&mut last_id)? {
        match (id, kind) {
            (2, I32) => uncompressed = Some(input.size()?),
            (3, I32) => compressed = Some(input.size()?),
            _ => input.skip_value(kind, 0)?,
        }
    }
    match (uncompressed, compressed) {
        (Some(uncompressed), Some(compressed)) => Ok(Sizes {
            uncompressed,
            compressed,
        }),
        _ => Err("it gives no page sizes".into()),
    }
}

// Compact-protocol type codes.
const BOOL_TRUE: u8 = 1;
const BOOL_FALSE: u8 = 2;
const BYTE: u8 = 3;
const I16: u8 = 4;
const I32: u8 = 5;
const I64: u8 = 6;
const DOUBLE: u8 = 7;
const BINARY: u8 = 8;
const LIST: u8 = 9;
const SET: u8 = 10;
const MAP: u8 = 11;
const STRUCT: u8 = 12;

/// The column chunk's bytes, never read past its end.
struct Input {
    bytes: BufReader<File>,
    read: u64,
    limit: u64,
}

impl Input {
    fn byte(&mut self) -> Result<u8, String> {
        if self.read >= self.limit {
            return Err("it runs past the end of its column chunk".into());
        }
        let mut one = [0u8; 1];
        self.bytes.read_exact(&mut one).map_err(|e| e.to_string())?;
        self.read += 1;
        Ok(one[0])
    }

    fn skip(&mut self, n: u64) -> Result<(), String> {
        if self.read.saturating_add(n) > self.limit {
            return Err(format!("{n} bytes run past the end of its column chunk"));
        }
        self.bytes
            .seek_relative(i64::try_from(n).map_err(|e| e.to_string())?)
            .map_err(|e| e.to_string())?;
        self.read += n;
        Ok(())
    }

    fn varint(&mut self) -> Result<u64, String> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            value |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err("a number longer than 64 bits".into())
    }

    fn zigzag(&mut self) -> Result<i64, String> {
        let n = self.varint()?;
        Ok((n >> 1) as i64 ^ -((n & 1) as i64))
    }

    /// An i32 that must be a size: not negative.
    fn size(&mut self) -> Result<u64, String> {
        u64::try_from(self.zigzag()?).map_err(|_| "a negative page size".to_string())
    }

    /// The next field's id and type, or None at the struct's end.
    fn field(&mut self, last_id: &mut i16) -> Result<Option<(i16, u8)>, String> {
        let b = self.byte()?;
        if b == 0 {
            return Ok(None);
        }
        let delta = i16::from(b >> 4);
        *last_id = if delta == 0 {
            i16::try_from(self.zigzag()?).map_err(|_| "a field id out of range".to_string())?
        } else {
            last_id.saturating_add(delta)
        };
        Ok(Some((*last_id, b & 0x0f)))
    }

    fn skip_value(&mut self, kind: u8, depth: u32) -> Result<(), String> {
        if depth > MAX_DEPTH {
            return Err("structs nested too deep".into());
        }
        match kind {
            BOOL_TRUE | BOOL_FALSE => Ok(()),
            BYTE => self.skip(1),
            I16 | I32 | I64 => self.varint().map(|_| ()),
            DOUBLE => self.skip(8),
            BINARY => {
                let n = self.varint()?;
                self.skip(n)
            }
            LIST | SET => {
                let head = self.byte()?;
                let count = match u64::from(head >> 4) {
                    15 => self.varint()?,
                    n => n,
                };
                self.skip_elements(count, head & 0x0f, depth)
            }
            MAP => {
                let count = self.varint()?;
                if count == 0 {
                    return Ok(());
                }
                let kinds = self.byte()?;
                for _ in 0..count {
                    self.skip_elements(1, kinds >> 4, depth)?;
                    self.skip_elements(1, kinds & 0x0f, depth)?;
                }
                Ok(())
            }
            STRUCT => {
                let mut last_id = 0;
                while let Some((_, inner)) = self.field(&mut last_id)? {
                    self.skip_value(inner, depth + 1)?;
                }
                Ok(())
            }
            other => Err(format!("an unknown Thrift type {other}")),
        }
    }

    fn skip_elements(&mut self, count: u64, kind: u8, depth: u32) -> Result<(), String> {
        for _ in 0..count {
            // In a list or map, a boolean is one byte.
            if matches!(kind, BOOL_TRUE | BOOL_FALSE) {
                self.skip(1)?;
            } else {
                self.skip_value(kind, depth + 1)?;
            }
        }
        Ok(())
    }
}
