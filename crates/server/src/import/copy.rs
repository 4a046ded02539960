//! Encoding validated records as rows of PostgreSQL's binary COPY format,
//! so an import sends thousands of items per statement and the server does
//! no text parsing (it was the import's bottleneck).

use safepref_core::records::ImportRecord;
use uuid::Uuid;

/// Where an item belongs and its place in its file.
#[derive(Debug, Clone, Copy)]
pub struct ItemKeys {
    pub id: Uuid,
    pub project_id: Uuid,
    pub batch_id: Uuid,
    /// The batch's place in the project (the queue's order).
    pub batch_seq: i32,
    pub seq: i32,
}

/// Item, response and suggestion rows waiting to be sent, each a complete
/// COPY stream.
#[derive(Debug)]
pub struct Chunk {
    pub items: Vec<u8>,
    pub responses: Vec<u8>,
    pub suggestions: Vec<u8>,
    /// Suggestion rows in `suggestions` (none: the stream need not be sent).
    pub suggestion_rows: usize,
    pub len: usize,
}

/// The finished COPY streams of a chunk.
pub struct Streams {
    pub items: Vec<u8>,
    pub responses: Vec<u8>,
    /// None when the chunk has no suggestions.
    pub suggestions: Option<Vec<u8>>,
}

/// The binary COPY header: signature, flags, header extension length.
const HEADER: &[u8] = b"PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0";
/// Ends the stream: a tuple with field count -1.
const TRAILER: &[u8] = &(-1i16).to_be_bytes();

impl Default for Chunk {
    fn default() -> Self {
        Chunk {
            items: HEADER.to_vec(),
            responses: HEADER.to_vec(),
            suggestions: HEADER.to_vec(),
            suggestion_rows: 0,
            len: 0,
        }
    }
}

/// The source labels give some response severity 3 (severe): the item's
/// `severe` column, which puts a content note before it (migration 0021
/// fills it in the same way for items imported before).
fn source_says_severe(record: &ImportRecord) -> bool {
    let Some(labels) = &record.source_labels else {
        return false;
    };
    (0..record.responses.len()).any(|n| {
        labels
            .get(&format!("response_{n}_severity_level"))
            .and_then(serde_json::Value::as_u64)
            == Some(3)
    })
}

impl Chunk {
    /// Appends one item row (columns as `db::items::ITEM_COPY_COLUMNS`) and
    /// its response rows (as `RESPONSE_COPY_COLUMNS`).
    pub fn push(&mut self, keys: ItemKeys, record: &ImportRecord, content_hash: &[u8; 32]) {
        let labels = record
            .source_labels
            .as_ref()
            .map(|m| serde_json::Value::Object(m.clone()).to_string());
        let gold = record
            .gold
            .as_ref()
            .map(|g| serde_json::to_string(g).expect("labels serialise"));
        let row = &mut self.items;
        row.extend_from_slice(&12i16.to_be_bytes());
        field(row, Some(keys.id.as_bytes()));
        field(row, Some(keys.project_id.as_bytes()));
        field(row, Some(keys.batch_id.as_bytes()));
        field(row, Some(&keys.batch_seq.to_be_bytes()));
        field(row, Some(&keys.seq.to_be_bytes()));
        field(row, record.external_id.as_deref().map(str::as_bytes));
        field(row, Some(record.prompt.as_bytes()));
        field(row, record.prompt_source.as_deref().map(str::as_bytes));
        field(row, Some(content_hash));
        field(row, labels.as_deref().map(str::as_bytes));
        field(row, gold.as_deref().map(str::as_bytes));
        field(row, Some(&[u8::from(source_says_severe(record))]));

        for (position, response) in record.responses.iter().enumerate() {
            let row = &mut self.responses;
            row.extend_from_slice(&4i16.to_be_bytes());
            field(row, Some(keys.id.as_bytes()));
            field(row, Some(&(position as i16).to_be_bytes()));
            field(row, Some(response.text.as_bytes()));
            field(row, response.source.as_deref().map(str::as_bytes));
        }
        for suggestion in &record.suggestions {
            let row = &mut self.suggestions;
            row.extend_from_slice(&4i16.to_be_bytes());
            field(row, Some(keys.id.as_bytes()));
            field(row, Some(suggestion.source.as_bytes()));
            field(row, Some(&jsonb(&suggestion.labels)));
            field(row, Some(&jsonb(&suggestion.scores)));
            self.suggestion_rows += 1;
        }
        self.len += 1;
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes held, to bound memory.
    pub fn size(&self) -> usize {
        self.items.len() + self.responses.len() + self.suggestions.len()
    }

    /// The COPY streams, ended.
    pub fn finish(mut self) -> Streams {
        for stream in [&mut self.items, &mut self.responses, &mut self.suggestions] {
            stream.extend_from_slice(TRAILER);
        }
        Streams {
            items: self.items,
            responses: self.responses,
            suggestions: (self.suggestion_rows > 0).then_some(self.suggestions),
        }
    }
}

/// A value as a binary jsonb field: the format version (1), then the text.
fn jsonb(value: &impl serde::Serialize) -> Vec<u8> {
    let mut bytes = vec![1];
    serde_json::to_writer(&mut bytes, value).expect("labels and scores serialise");
    bytes
}

/// One field: its length (-1 for NULL) and its bytes. json, text and bytea
/// travel as their bytes; uuid as 16 bytes; integers big-endian.
fn field(row: &mut Vec<u8>, value: Option<&[u8]>) {
    match value {
        Some(bytes) => {
            let len = i32::try_from(bytes.len()).expect("a field under 2 GiB");
            row.extend_from_slice(&len.to_be_bytes());
            row.extend_from_slice(bytes);
        }
        None => row.extend_from_slice(&(-1i32).to_be_bytes()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_length_prefixed_and_null_is_minus_one() {
        let mut row = Vec::new();
        field(&mut row, Some(b"ab\tc"));
        field(&mut row, None);
        assert_eq!(
            row,
            [0, 0, 0, 4, b'a', b'b', b'\t', b'c', 0xff, 0xff, 0xff, 0xff]
        );
    }

    #[test]
    fn a_chunk_is_a_complete_stream() {
        let streams = Chunk::default().finish();
        assert!(streams.suggestions.is_none());
        for stream in [streams.items, streams.responses] {
            assert!(stream.starts_with(b"PGCOPY\n\xff\r\n\0"));
            assert!(stream.ends_with(&[0xff, 0xff]));
            assert_eq!(stream.len(), 19 + 2);
        }
    }
}
