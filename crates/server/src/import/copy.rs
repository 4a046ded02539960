//! Encoding validated records as rows of PostgreSQL's COPY text format, so
//! an import sends thousands of items per statement.

use safepref_core::records::ImportRecord;
use uuid::Uuid;

/// Where an item belongs and its place in its file.
#[derive(Debug, Clone, Copy)]
pub struct ItemKeys {
    pub id: Uuid,
    pub project_id: Uuid,
    pub batch_id: Uuid,
    pub seq: i32,
}

/// Item and response rows waiting to be sent.
#[derive(Debug, Default)]
pub struct Chunk {
    pub items: Vec<u8>,
    pub responses: Vec<u8>,
    pub len: usize,
}

impl Chunk {
    /// Appends one item row (columns as `db::items::ITEM_COPY_COLUMNS`) and
    /// its response rows (as `RESPONSE_COPY_COLUMNS`).
    pub fn push(&mut self, keys: ItemKeys, record: &ImportRecord, content_hash: &[u8; 32]) {
        let id = keys.id.to_string();
        let row = &mut self.items;
        text(row, &id);
        tab(row);
        text(row, &keys.project_id.to_string());
        tab(row);
        text(row, &keys.batch_id.to_string());
        tab(row);
        text(row, &keys.seq.to_string());
        tab(row);
        optional(row, record.external_id.as_deref());
        tab(row);
        text(row, &record.prompt);
        tab(row);
        optional(row, record.prompt_source.as_deref());
        tab(row);
        // bytea in hex form; the backslash itself is escaped for COPY.
        row.extend_from_slice(b"\\\\x");
        row.extend_from_slice(hex::encode(content_hash).as_bytes());
        tab(row);
        let labels = record
            .source_labels
            .as_ref()
            .map(|m| serde_json::Value::Object(m.clone()).to_string());
        optional(row, labels.as_deref());
        tab(row);
        let gold = record
            .gold
            .as_ref()
            .map(|g| serde_json::to_string(g).expect("labels serialise"));
        optional(row, gold.as_deref());
        row.push(b'\n');

        for (position, response) in record.responses.iter().enumerate() {
            let row = &mut self.responses;
            text(row, &id);
            tab(row);
            text(row, &position.to_string());
            tab(row);
            text(row, &response.text);
            tab(row);
            optional(row, response.source.as_deref());
            row.push(b'\n');
        }
        self.len += 1;
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes held, to bound memory.
    pub fn size(&self) -> usize {
        self.items.len() + self.responses.len()
    }
}

fn tab(row: &mut Vec<u8>) {
    row.push(b'\t');
}

fn optional(row: &mut Vec<u8>, value: Option<&str>) {
    match value {
        Some(v) => text(row, v),
        None => row.extend_from_slice(b"\\N"),
    }
}

/// A text value with COPY's escapes for backslash, tab, newline and carriage return.
fn text(row: &mut Vec<u8>, value: &str) {
    let bytes = value.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let escaped: &[u8] = match b {
            b'\\' => b"\\\\",
            b'\t' => b"\\t",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            _ => continue,
        };
        row.extend_from_slice(&bytes[start..i]);
        row.extend_from_slice(escaped);
        start = i + 1;
    }
    row.extend_from_slice(&bytes[start..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_what_copy_text_format_needs() {
        let mut row = Vec::new();
        text(&mut row, "a\\b\tc\nd\re \u{1F600}");
        assert_eq!(row, "a\\\\b\\tc\\nd\\re \u{1F600}".as_bytes());
        let mut none = Vec::new();
        optional(&mut none, None);
        assert_eq!(none, b"\\N");
    }
}
