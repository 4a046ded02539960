//! Encoders for export rows: JSON Lines (optionally gzip), CSV and Parquet.
//!
//! Each encoder writes into an in-memory buffer that the exporter drains
//! after every chunk of items ([`Encoder::take`]), so a file of any size
//! passes through a few megabytes at a time. Every encoding is deterministic
//! (no timestamps in gzip headers or Parquet metadata), so the same rows give
//! byte-identical files.

use std::io::{self, Write};
use std::sync::{Arc, Mutex};

use arrow_array::builder::{BooleanBuilder, Float64Builder, Int64Builder, StringBuilder};
use arrow_array::{ArrayRef, RecordBatch, StructArray};
use arrow_schema::{DataType, Field, Fields, Schema, SchemaRef};
use flate2::Compression;
use flate2::write::GzEncoder;
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression as ParquetCompression;
use parquet::file::properties::WriterProperties;
use safepref_core::export::{Column, ColumnType};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Rows per Parquet record batch and row group: big enough to compress well,
/// small enough that a row group of long texts stays a few megabytes.
const PARQUET_ROWS: usize = 4096;

/// How an export file is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Encoding {
    #[serde(rename = "jsonl")]
    Jsonl,
    #[serde(rename = "jsonl.gz")]
    JsonlGz,
    #[serde(rename = "csv")]
    Csv,
    #[serde(rename = "parquet")]
    Parquet,
}

impl Encoding {
    pub const ALL: [Encoding; 4] = [
        Encoding::Jsonl,
        Encoding::JsonlGz,
        Encoding::Csv,
        Encoding::Parquet,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Encoding::Jsonl => "jsonl",
            Encoding::JsonlGz => "jsonl.gz",
            Encoding::Csv => "csv",
            Encoding::Parquet => "parquet",
        }
    }

    /// The file name extension (the same as the name).
    pub fn extension(self) -> &'static str {
        self.name()
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Encoding::Jsonl => "application/jsonl; charset=utf-8",
            Encoding::JsonlGz => "application/gzip",
            Encoding::Csv => "text/csv; charset=utf-8",
            Encoding::Parquet => "application/vnd.apache.parquet",
        }
    }

    pub fn parse(s: &str) -> Option<Encoding> {
        Encoding::ALL.into_iter().find(|e| e.name() == s)
    }
}

/// A byte buffer several writers can share: the encoder writes into it and
/// the exporter drains it.
#[derive(Clone, Default)]
struct SharedBuf(Arc<Mutex<Vec<u8>>>);

impl SharedBuf {
    /// The bytes so far; the buffer starts again at the same capacity, so
    /// the next chunk does not grow it step by step (each step a copy).
    fn take(&self) -> Vec<u8> {
        let mut buf = self.lock();
        let capacity = buf.len();
        std::mem::replace(&mut *buf, Vec::with_capacity(capacity))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<u8>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Write for SharedBuf {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.lock().extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// One output file being encoded.
pub struct Encoder {
    columns: Vec<Column>,
    /// JSON Lines: each column's key as written (`"name":`), and each
    /// category's; escaped once, not once per row.
    keys: JsonKeys,
    buf: SharedBuf,
    kind: Kind,
    /// CSV: defuse cells a spreadsheet would read as a formula.
    csv_safe: bool,
}

struct JsonKeys {
    columns: Vec<Vec<u8>>,
    categories: Vec<Vec<u8>>,
}

impl JsonKeys {
    fn new(columns: &[Column], categories: &[String]) -> JsonKeys {
        let key = |name: &str| {
            let mut out = serde_json::to_vec(name).unwrap_or_default();
            out.push(b':');
            out
        };
        JsonKeys {
            columns: columns.iter().map(|c| key(c.name)).collect(),
            categories: categories.iter().map(|c| key(c)).collect(),
        }
    }
}

enum Kind {
    Jsonl,
    /// The encoder, and a line's bytes before compression.
    JsonlGz(GzEncoder<SharedBuf>, Vec<u8>),
    Csv(csv::Writer<SharedBuf>),
    Parquet(Box<ParquetState>),
}

struct ParquetState {
    writer: ArrowWriter<SharedBuf>,
    schema: SchemaRef,
    pending: Vec<Vec<Value>>,
}

impl Encoder {
    /// An encoder for rows of `columns`; `categories` names the booleans of
    /// a [`ColumnType::Categories`] column.
    pub fn new(
        encoding: Encoding,
        columns: Vec<Column>,
        categories: Vec<String>,
    ) -> io::Result<Self> {
        let buf = SharedBuf::default();
        let kind = match encoding {
            Encoding::Jsonl => Kind::Jsonl,
            // GzEncoder's header has no name and mtime 0: deterministic.
            Encoding::JsonlGz => Kind::JsonlGz(
                GzEncoder::new(buf.clone(), Compression::default()),
                Vec::new(),
            ),
            Encoding::Csv => {
                let mut w = csv::Writer::from_writer(buf.clone());
                w.write_record(columns.iter().map(|c| c.name))?;
                Kind::Csv(w)
            }
            Encoding::Parquet => {
                let schema = arrow_schema(&columns, &categories);
                let props = WriterProperties::builder()
                    .set_compression(ParquetCompression::SNAPPY)
                    .set_max_row_group_row_count(Some(PARQUET_ROWS))
                    .set_created_by(format!("safepref {}", env!("CARGO_PKG_VERSION")))
                    .build();
                let writer = ArrowWriter::try_new(buf.clone(), schema.clone(), Some(props))
                    .map_err(io::Error::other)?;
                Kind::Parquet(Box::new(ParquetState {
                    writer,
                    schema,
                    pending: Vec::new(),
                }))
            }
        };
        Ok(Encoder {
            keys: JsonKeys::new(&columns, &categories),
            columns,
            buf,
            kind,
            csv_safe: false,
        })
    }

    /// CSV: text cells starting with `=`, `+`, `-`, `@`, a tab or a carriage
    /// return get a leading `'`, so a spreadsheet shows them rather than
    /// running them as a formula. The text no longer round-trips, hence
    /// off unless asked.
    pub fn csv_safe(mut self, on: bool) -> Self {
        self.csv_safe = on;
        self
    }

    pub fn write_row(&mut self, row: Vec<Value>) -> io::Result<()> {
        match &mut self.kind {
            Kind::Jsonl => json_line(&mut self.buf.lock(), &self.columns, &self.keys, &row),
            Kind::JsonlGz(gz, line) => {
                line.clear();
                json_line(line, &self.columns, &self.keys, &row)?;
                gz.write_all(line)
            }
            Kind::Csv(w) => {
                let cells: Vec<String> = self
                    .columns
                    .iter()
                    .zip(&row)
                    .map(|(c, v)| {
                        let cell = csv_cell(c.ty, v, &self.keys.categories);
                        // Numbers (-3) are data, not formulas: text only.
                        if self.csv_safe && v.is_string() {
                            defused(cell)
                        } else {
                            cell
                        }
                    })
                    .collect();
                w.write_record(&cells).map_err(io::Error::other)
            }
            Kind::Parquet(p) => {
                p.pending.push(row);
                if p.pending.len() >= PARQUET_ROWS {
                    p.flush(&self.columns)?;
                }
                Ok(())
            }
        }
    }

    /// The bytes encoded since the last call.
    pub fn take(&mut self) -> io::Result<Vec<u8>> {
        if let Kind::Csv(w) = &mut self.kind {
            w.flush()?;
        }
        Ok(self.buf.take())
    }

    /// Ends the file (gzip trailer, Parquet footer) and returns its last bytes.
    pub fn finish(self) -> io::Result<Vec<u8>> {
        match self.kind {
            Kind::Jsonl => {}
            Kind::JsonlGz(gz, _) => {
                gz.finish()?;
            }
            Kind::Csv(mut w) => w.flush()?,
            Kind::Parquet(mut p) => {
                p.flush(&self.columns)?;
                p.writer.close().map_err(io::Error::other)?;
            }
        }
        Ok(self.buf.take())
    }
}

/// A JSON object with the columns' keys in order (serde_json's maps would
/// sort them), categories as an object in the taxonomy's order; appended
/// to `out`.
fn json_line(
    out: &mut Vec<u8>,
    columns: &[Column],
    keys: &JsonKeys,
    row: &[Value],
) -> io::Result<()> {
    out.push(b'{');
    for (n, ((column, key), value)) in columns.iter().zip(&keys.columns).zip(row).enumerate() {
        if n > 0 {
            out.push(b',');
        }
        out.extend_from_slice(key);
        if column.ty == ColumnType::Categories {
            write_categories(out, &keys.categories, value);
        } else {
            serde_json::to_writer(&mut *out, value)?;
        }
    }
    out.extend_from_slice(b"}\n");
    Ok(())
}

/// `{"name":bool,...}` from the categories' written keys.
fn write_categories(out: &mut Vec<u8>, keys: &[Vec<u8>], value: &Value) {
    out.push(b'{');
    for (n, key) in keys.iter().enumerate() {
        if n > 0 {
            out.push(b',');
        }
        out.extend_from_slice(key);
        out.extend_from_slice(if tick(value, n) { b"true" } else { b"false" });
    }
    out.push(b'}');
}

fn tick(value: &Value, n: usize) -> bool {
    value.get(n).and_then(Value::as_bool).unwrap_or(false)
}

/// A CSV cell: text as is, null as empty, nested values as JSON text.
fn csv_cell(ty: ColumnType, value: &Value, category_keys: &[Vec<u8>]) -> String {
    match (ty, value) {
        (_, Value::Null) => String::new(),
        (ColumnType::Categories, v) => {
            let mut out = Vec::new();
            write_categories(&mut out, category_keys, v);
            String::from_utf8(out).unwrap_or_default()
        }
        (_, Value::String(s)) => s.clone(),
        (_, v) => v.to_string(),
    }
}

/// What starts a formula (or, for tab and CR, hides one) in Excel, LibreOffice
/// and Google Sheets.
const FORMULA_STARTS: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// The cell with a leading `'` when a spreadsheet would take it for a formula.
fn defused(cell: String) -> String {
    if cell.starts_with(FORMULA_STARTS) {
        format!("'{cell}")
    } else {
        cell
    }
}

fn arrow_type(ty: ColumnType, categories: &[String]) -> DataType {
    match ty {
        ColumnType::Text | ColumnType::OptText | ColumnType::Json => DataType::Utf8,
        ColumnType::Bool => DataType::Boolean,
        ColumnType::Int | ColumnType::OptInt => DataType::Int64,
        ColumnType::Float | ColumnType::OptFloat => DataType::Float64,
        ColumnType::Categories => DataType::Struct(category_fields(categories)),
    }
}

fn category_fields(categories: &[String]) -> Fields {
    categories
        .iter()
        .map(|name| Field::new(name, DataType::Boolean, false))
        .collect()
}

fn nullable(ty: ColumnType) -> bool {
    matches!(
        ty,
        ColumnType::OptText | ColumnType::OptInt | ColumnType::OptFloat
    )
}

/// The Arrow schema of a format: harm categories are a struct of booleans,
/// as Hugging Face stores PKU-SafeRLHF.
fn arrow_schema(columns: &[Column], categories: &[String]) -> SchemaRef {
    Arc::new(Schema::new(
        columns
            .iter()
            .map(|c| Field::new(c.name, arrow_type(c.ty, categories), nullable(c.ty)))
            .collect::<Vec<_>>(),
    ))
}

impl ParquetState {
    fn flush(&mut self, columns: &[Column]) -> io::Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let rows = std::mem::take(&mut self.pending);
        let arrays: Vec<ArrayRef> = columns
            .iter()
            .enumerate()
            .map(|(n, c)| column_array(c.ty, self.schema.field(n).data_type(), &rows, n))
            .collect();
        let batch = RecordBatch::try_new(self.schema.clone(), arrays).map_err(io::Error::other)?;
        self.writer.write(&batch).map_err(io::Error::other)?;
        // Ends the row group now, so its pages leave memory.
        self.writer.flush().map_err(io::Error::other)
    }
}

fn column_array(ty: ColumnType, data_type: &DataType, rows: &[Vec<Value>], n: usize) -> ArrayRef {
    let cells = rows.iter().map(|r| &r[n]);
    match ty {
        ColumnType::Text | ColumnType::OptText => {
            let mut b = StringBuilder::new();
            cells.for_each(|v| b.append_option(v.as_str()));
            Arc::new(b.finish())
        }
        ColumnType::Json => {
            let mut b = StringBuilder::new();
            cells.for_each(|v| b.append_value(v.to_string()));
            Arc::new(b.finish())
        }
        ColumnType::Bool => {
            let mut b = BooleanBuilder::new();
            cells.for_each(|v| b.append_value(v.as_bool().unwrap_or(false)));
            Arc::new(b.finish())
        }
        ColumnType::Int | ColumnType::OptInt => {
            let mut b = Int64Builder::new();
            cells.for_each(|v| b.append_option(v.as_i64()));
            Arc::new(b.finish())
        }
        ColumnType::Float | ColumnType::OptFloat => {
            let mut b = Float64Builder::new();
            cells.for_each(|v| b.append_option(v.as_f64()));
            Arc::new(b.finish())
        }
        ColumnType::Categories => {
            let DataType::Struct(fields) = data_type else {
                unreachable!("categories are a struct column")
            };
            let children: Vec<ArrayRef> = (0..fields.len())
                .map(|c| {
                    let mut b = BooleanBuilder::new();
                    rows.iter().for_each(|r| b.append_value(tick(&r[n], c)));
                    Arc::new(b.finish()) as ArrayRef
                })
                .collect();
            Arc::new(StructArray::new(fields.clone(), children, None))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::import::read;
    use safepref_core::export::{Column, ColumnType, pku_columns};
    use serde_json::json;

    fn categories() -> Vec<String> {
        vec!["Violence".into(), "Drugs".into()]
    }

    fn rows() -> Vec<Vec<Value>> {
        let row = |p: &str, src: Value, safe: bool, ticks: [bool; 2]| {
            vec![
                json!(p),
                json!("a, \"quoted\"\nresponse"),
                json!("b"),
                src,
                Value::Null,
                json!("m"),
                json!(safe),
                json!(true),
                json!(ticks),
                json!([false, false]),
                json!(if safe { 0 } else { 2 }),
                json!(0),
                json!(1),
                json!(1),
                json!("h0"),
                json!("h1"),
            ]
        };
        vec![
            row(
                "<script>alert(1)</script>",
                json!("s"),
                false,
                [false, true],
            ),
            row(
                "مرحبا \u{202e} zero\u{200b}width",
                Value::Null,
                true,
                [false, false],
            ),
        ]
    }

    fn encode(encoding: Encoding) -> Vec<u8> {
        let mut enc = Encoder::new(encoding, pku_columns(), categories()).unwrap();
        let mut out = Vec::new();
        for row in rows() {
            enc.write_row(row).unwrap();
            out.extend(enc.take().unwrap());
        }
        out.extend(enc.finish().unwrap());
        out
    }

    /// The rows as the importer's readers give them back.
    fn read_back(encoding: Encoding, bytes: &[u8]) -> Vec<serde_json::Map<String, Value>> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(format!("out.{}", encoding.extension()));
        std::fs::write(&path, bytes).unwrap();
        read::rows(&path)
            .unwrap()
            .map(|r| r.unwrap().fields)
            .collect()
    }

    /// One CSV file of text and integer cells, with or without --csv-safe.
    fn csv_of(cells: &[(&str, Value)], safe: bool) -> Vec<serde_json::Map<String, Value>> {
        let columns: Vec<Column> = cells
            .iter()
            .enumerate()
            .map(|(n, (_, v))| Column {
                name: ["a", "b", "c", "d", "e", "f", "g", "h", "i"][n],
                ty: if v.is_number() {
                    ColumnType::Int
                } else {
                    ColumnType::Text
                },
            })
            .collect();
        let mut enc = Encoder::new(Encoding::Csv, columns, Vec::new())
            .unwrap()
            .csv_safe(safe);
        enc.write_row(cells.iter().map(|(_, v)| v.clone()).collect())
            .unwrap();
        let mut bytes = enc.take().unwrap();
        bytes.extend(enc.finish().unwrap());
        read_back(Encoding::Csv, &bytes)
    }

    #[test]
    fn csv_safe_defuses_formula_cells_and_only_when_asked() {
        let cells = [
            ("=", json!("=HYPERLINK(\"http://x\")")),
            ("+", json!("+1+1")),
            ("-", json!("-2+3")),
            ("@", json!("@SUM(A1)")),
            ("tab", json!("\t=1")),
            ("cr", json!("\r=1")),
            ("plain", json!("a = b, -c")),
            ("number", json!(-3)),
        ];
        let safe = csv_of(&cells, true);
        let plain = csv_of(&cells, false);
        let names = ["a", "b", "c", "d", "e", "f", "g", "h"];
        for ((what, value), name) in cells.iter().zip(names) {
            let text = match value {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            // Without the option the data round-trips.
            assert_eq!(plain[0][name], json!(text), "{what}");
            let want = match *what {
                "plain" | "number" => text,
                _ => format!("'{text}"),
            };
            assert_eq!(safe[0][name], json!(want), "{what}");
        }
    }

    #[test]
    fn jsonl_keeps_column_and_category_order() {
        let text = String::from_utf8(encode(Encoding::Jsonl)).unwrap();
        let first = text.lines().next().unwrap();
        assert!(first.starts_with("{\"prompt\":\"<script>alert(1)</script>\",\"response_0\":"));
        assert!(first.contains("\"response_0_harm_category\":{\"Violence\":false,\"Drugs\":true}"));
        let keys: Vec<&str> = pku_columns().iter().map(|c| c.name).collect();
        let mut last = 0;
        for key in keys {
            let at = first.find(&format!("\"{key}\":")).unwrap();
            assert!(at >= last, "{key} out of order");
            last = at;
        }
    }

    #[test]
    fn every_encoding_reads_back_equal() {
        let want = read_back(Encoding::Jsonl, &encode(Encoding::Jsonl));
        assert_eq!(want.len(), 2);
        assert_eq!(
            want[0]["response_0_harm_category"],
            json!({"Violence": false, "Drugs": true})
        );
        assert_eq!(want[1]["prompt_source"], Value::Null);
        assert_eq!(
            read_back(Encoding::JsonlGz, &encode(Encoding::JsonlGz)),
            want
        );
        assert_eq!(
            read_back(Encoding::Parquet, &encode(Encoding::Parquet)),
            want
        );
        // CSV has no types: every cell comes back as text, null as empty.
        let csv = read_back(Encoding::Csv, &encode(Encoding::Csv));
        for (got, want) in csv.iter().zip(&want) {
            for (key, value) in want {
                if value.is_null() {
                    // The reader gives an empty cell back as null.
                    assert_eq!(got[key], Value::Null, "{key}");
                    continue;
                }
                let Value::String(text) = &got[key] else {
                    panic!("{key}: CSV cells are text");
                };
                match value {
                    Value::String(s) => assert_eq!(text, s, "{key}"),
                    // Numbers, booleans and the categories object as JSON text.
                    other => assert_eq!(
                        &serde_json::from_str::<Value>(text).unwrap(),
                        other,
                        "{key}"
                    ),
                }
            }
        }
    }

    #[test]
    fn encodings_are_deterministic() {
        for encoding in Encoding::ALL {
            assert_eq!(encode(encoding), encode(encoding), "{}", encoding.name());
        }
    }
}
