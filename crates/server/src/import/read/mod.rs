//! Streaming input readers for the importer: JSON Lines, CSV and Parquet,
//! each optionally gzip-compressed.
//!
//! [`rows`] turns a file into an iterator of [`Row`]s, one JSON object per
//! input record, each carrying the line (JSONL, CSV) or row (Parquet) it came
//! from. Nothing reads the whole file: JSONL is read line by line into one
//! reused buffer, CSV record by record, Parquet one record batch (about 1024
//! rows) at a time, and gzip is decompressed as it is read. The one exception
//! is a gzip-compressed Parquet file: Parquet needs to seek, so it is first
//! decompressed into an anonymous temporary file (on disk, not in memory).
//!
//! Errors about one record (a line that is not JSON, a CSV row with the wrong
//! number of cells, …) are yielded as `Err` for that record and reading goes
//! on with the next, so the importer can report many at once. Errors that make
//! the rest of the file unreadable (an I/O error, a damaged gzip stream, a
//! Parquet page that fails to decode) are yielded once and end the iterator;
//! [`ReadError::is_fatal`] tells them apart.

use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use flate2::bufread::MultiGzDecoder;
use serde_json::{Map, Value};

mod csv_rows;
mod jsonl;
mod parquet_rows;

use csv_rows::*;
use jsonl::*;
use parquet_rows::*;

/// Rows per Parquet record batch.
const PARQUET_BATCH_ROWS: usize = 1024;
/// A JSONL line longer than this is reported as an error and skipped, so one
/// runaway line cannot take all the memory.
const MAX_LINE_BYTES: usize = 64 << 20;
/// A CSV record longer than this ends the file with an error: the csv
/// crate would otherwise grow one record without end (an unclosed quote
/// swallows the rest of the file). The same size as a JSONL line's cap.
const MAX_RECORD_BYTES: usize = MAX_LINE_BYTES;
/// gzip input may decompress to at most this many times its compressed
/// size: text and JSON compress 3 to 15 times, Parquet barely at all, so a
/// few GB of gzip text still read; a gzip bomb expands about 1000 times.
const MAX_GZIP_RATIO: u64 = 100;
/// ... but any gzip file may decompress to this much: small files of very
/// repetitive generated data can beat the ratio, and this much is harmless.
const MIN_GZIP_LIMIT: u64 = 64 << 20;
/// After a line this long, the line buffer is shrunk again.
const SHRINK_ABOVE_BYTES: usize = 16 << 20;
/// Read buffer for files and decompressors.
const BUF_BYTES: usize = 64 << 10;
/// How much of a file of unknown type is looked at to guess its format.
const SNIFF_BYTES: usize = 64 << 10;

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
const PARQUET_MAGIC: &[u8; 4] = b"PAR1";
const UTF8_BOM: &[u8; 3] = b"\xEF\xBB\xBF";

/// The caps that keep a hostile file from taking all the memory or disk;
/// the constants above, smaller in tests.
#[derive(Debug, Clone, Copy)]
struct Limits {
    gzip_ratio: u64,
    gzip_floor: u64,
    csv_record: usize,
    parquet: ParquetLimits,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            gzip_ratio: MAX_GZIP_RATIO,
            gzip_floor: MIN_GZIP_LIMIT,
            csv_record: MAX_RECORD_BYTES,
            parquet: ParquetLimits::default(),
        }
    }
}

impl Limits {
    /// The most bytes a gzip file of `compressed` bytes may decompress to.
    fn gzip_limit(&self, compressed: u64) -> u64 {
        compressed
            .saturating_mul(self.gzip_ratio)
            .max(self.gzip_floor)
    }
}

/// The input formats the importer reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    Jsonl,
    Csv,
    Parquet,
}

impl Format {
    /// A short lower-case name: "jsonl", "csv", "parquet".
    pub fn name(self) -> &'static str {
        match self {
            Format::Jsonl => "jsonl",
            Format::Csv => "csv",
            Format::Parquet => "parquet",
        }
    }
}

impl std::fmt::Display for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// What [`detect`] found out about a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Detected {
    pub format: Format,
    /// The file starts with the gzip magic bytes (whatever its name says).
    pub gzip: bool,
}

/// One input row as a JSON object, with where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// The 1-based line (JSONL: the line; CSV: the line where the record
    /// starts, the header being line 1) or the 1-based row (Parquet).
    pub number: u64,
    pub fields: Map<String, Value>,
}

/// Where a row came from, the way messages say it: "line 812" for JSONL and
/// CSV, "row 812" for Parquet.
pub fn place(format: Format, number: u64) -> String {
    match format {
        Format::Jsonl | Format::Csv => format!("line {number}"),
        Format::Parquet => format!("row {number}"),
    }
}

/// Everything that can go wrong reading an input file. Each message says what
/// is wrong and where.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The file cannot be opened (or its first bytes read).
    #[error("cannot open {}: {source}", path.display())]
    Open { path: PathBuf, source: io::Error },

    /// Reading failed part-way (an I/O error, a damaged gzip stream). Fatal.
    #[error("{place}: cannot read the file: {source}")]
    Io { place: String, source: io::Error },

    /// A gzip-compressed Parquet file could not be decompressed to a
    /// temporary file. Fatal.
    #[error("cannot decompress {} to a temporary file: {source}", path.display())]
    Decompress { path: PathBuf, source: io::Error },

    /// A JSONL line that is not valid UTF-8; `offset` is the byte offset of
    /// the first bad byte within the line.
    #[error("line {line}: not valid UTF-8 (byte offset {offset})")]
    Utf8 { line: u64, offset: usize },

    /// A JSONL line that is not valid JSON (serde_json's message).
    #[error("line {line}: invalid JSON: {message}")]
    Json { line: u64, message: String },

    /// A JSONL line that is valid JSON but not an object.
    #[error("line {line}: expected a JSON object, found {found}")]
    NotObject { line: u64, found: &'static str },

    /// A JSONL line longer than the limit; it is skipped.
    #[error("line {line}: longer than {limit} bytes; skipped")]
    LineTooLong { line: u64, limit: usize },

    /// The file is one JSON array rather than JSON Lines. Fatal.
    #[error(
        "line {line}: this is a JSON array, not JSON Lines; write one object per line \
         (for example with `jq -c '.[]'`)"
    )]
    JsonArray { line: u64 },

    /// A CSV record longer than the limit (an unclosed quote, usually);
    /// where it ends cannot be known, so reading stops. Fatal.
    #[error(
        "line {line}: a CSV record longer than {limit} bytes (an unclosed quote?); reading stopped"
    )]
    RecordTooLong { line: u64, limit: usize },

    /// The CSV header is unusable (not UTF-8, a repeated column name). Fatal.
    #[error("line {line}: CSV header: {message}")]
    CsvHeader { line: u64, message: String },

    /// A CSV row whose number of cells differs from the header's.
    #[error("line {line}: {found} cells, but the header has {expected} columns")]
    CellCount {
        line: u64,
        expected: usize,
        found: usize,
    },

    /// A CSV cell that is not valid UTF-8; `offset` is the byte offset of the
    /// first bad byte within the cell.
    #[error(
        "line {line}: column \"{column}\" is not valid UTF-8 (byte offset {offset} in the cell)"
    )]
    CsvUtf8 {
        line: u64,
        column: String,
        offset: usize,
    },

    /// The file is not a Parquet file this reader can open. Fatal.
    #[error("not a readable Parquet file: {message}")]
    ParquetOpen { message: String },

    /// A Parquet row group larger than the limits allow, found in the
    /// footer before any row is read. Fatal.
    #[error("{place}: {message}")]
    ParquetTooLarge { place: String, message: String },

    /// A Parquet column of a type the importer does not read. Fatal (found
    /// when the file is opened, before any row is read).
    #[error("Parquet column \"{column}\" has type {data_type}, which safepref cannot read")]
    ParquetType { column: String, data_type: String },

    /// A Parquet record batch failed to decode; `row` is the first row of the
    /// batch. Fatal.
    #[error("row {row}: cannot read the Parquet data: {message}")]
    Parquet { row: u64, message: String },

    /// One Parquet value could not be turned into JSON (binary data that is
    /// not UTF-8, say).
    #[error("row {row}: column \"{column}\": {message}")]
    ParquetValue {
        row: u64,
        column: String,
        message: String,
    },
}

impl ReadError {
    /// True when the error ends the iterator (nothing after it can be read);
    /// false when it concerns one record and reading goes on.
    pub fn is_fatal(&self) -> bool {
        match self {
            ReadError::Open { .. }
            | ReadError::Io { .. }
            | ReadError::Decompress { .. }
            | ReadError::JsonArray { .. }
            | ReadError::CsvHeader { .. }
            | ReadError::RecordTooLong { .. }
            | ReadError::ParquetOpen { .. }
            | ReadError::ParquetType { .. }
            | ReadError::ParquetTooLarge { .. }
            | ReadError::Parquet { .. } => true,
            ReadError::Utf8 { .. }
            | ReadError::Json { .. }
            | ReadError::NotObject { .. }
            | ReadError::LineTooLong { .. }
            | ReadError::CellCount { .. }
            | ReadError::CsvUtf8 { .. }
            | ReadError::ParquetValue { .. } => false,
        }
    }
}

fn open_error(path: &Path) -> impl FnOnce(io::Error) -> ReadError + '_ {
    move |source| ReadError::Open {
        path: path.to_path_buf(),
        source,
    }
}

/// Reads until `buf` is full or the input ends; returns how much was read.
fn read_up_to(reader: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Works out a file's format: by extension (.jsonl/.ndjson/.json, .csv,
/// .parquet, each optionally followed by .gz), with gzip recognised by its
/// magic bytes (1f 8b) whatever the name. A file with any other extension is
/// sniffed (after decompression, when gzip): the Parquet magic `PAR1` means
/// Parquet, a first non-blank byte `{` means JSONL, anything else CSV.
pub fn detect(path: &Path) -> Result<Detected, ReadError> {
    let mut file = File::open(path).map_err(open_error(path))?;
    let mut magic = [0u8; 2];
    let n = read_up_to(&mut file, &mut magic).map_err(open_error(path))?;
    let gzip = n == 2 && magic == GZIP_MAGIC;

    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    let base = name.strip_suffix(".gz").unwrap_or(&name);
    let by_name = match base.rsplit_once('.').map(|(_, ext)| ext) {
        Some("jsonl" | "ndjson" | "json") => Some(Format::Jsonl),
        Some("csv") => Some(Format::Csv),
        Some("parquet") => Some(Format::Parquet),
        _ => None,
    };
    if let Some(format) = by_name {
        return Ok(Detected { format, gzip });
    }

    file.seek(SeekFrom::Start(0)).map_err(open_error(path))?;
    let mut head = vec![0u8; SNIFF_BYTES];
    let n = if gzip {
        read_up_to(
            &mut MultiGzDecoder::new(BufReader::with_capacity(BUF_BYTES, file)),
            &mut head,
        )
    } else {
        read_up_to(&mut file, &mut head)
    };
    let n = n.map_err(|source| ReadError::Io {
        place: format!("{}", path.display()),
        source,
    })?;
    Ok(Detected {
        format: sniff(&head[..n]),
        gzip,
    })
}

fn sniff(head: &[u8]) -> Format {
    if head.starts_with(PARQUET_MAGIC) {
        return Format::Parquet;
    }
    let text = head.strip_prefix(UTF8_BOM).unwrap_or(head);
    match text.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{') => Format::Jsonl,
        _ => Format::Csv,
    }
}

/// The rows of a file, streamed. The format is found with [`detect`]. Opening
/// problems (missing file, unusable CSV header, not a Parquet file, a Parquet
/// column of an unreadable type) are returned here; problems with single
/// records come out of the iterator.
pub fn rows(
    path: &Path,
) -> Result<Box<dyn Iterator<Item = Result<Row, ReadError>> + Send>, ReadError> {
    rows_within(path, Limits::default())
}

fn rows_within(
    path: &Path,
    limits: Limits,
) -> Result<Box<dyn Iterator<Item = Result<Row, ReadError>> + Send>, ReadError> {
    let detected = detect(path)?;
    Ok(match detected.format {
        Format::Jsonl => Box::new(JsonlRows::new(BufReader::with_capacity(
            BUF_BYTES,
            open_stream(path, detected.gzip, &limits)?,
        ))),
        Format::Csv => Box::new(CsvRows::new(
            open_stream(path, detected.gzip, &limits)?,
            limits.csv_record,
        )?),
        Format::Parquet => Box::new(ParquetRows::open(path, detected.gzip, &limits)?),
    })
}

/// The file's bytes, decompressed on the fly (up to the gzip limit) when gzip.
fn open_stream(
    path: &Path,
    gzip: bool,
    limits: &Limits,
) -> Result<Box<dyn Read + Send>, ReadError> {
    let file = File::open(path).map_err(open_error(path))?;
    Ok(if gzip {
        Box::new(gunzip(file, limits).map_err(open_error(path))?)
    } else {
        Box::new(BufReader::with_capacity(BUF_BYTES, file))
    })
}

/// A gzip file's decompressed bytes, which fail with [`GzipTooLarge`] past
/// the limit for its size.
fn gunzip(file: File, limits: &Limits) -> io::Result<CappedRead<MultiGzDecoder<BufReader<File>>>> {
    let limit = limits.gzip_limit(file.metadata()?.len());
    // Multi-member, so files from pigz/bgzip or `cat a.gz b.gz` read whole.
    let inner = MultiGzDecoder::new(BufReader::with_capacity(BUF_BYTES, file));
    Ok(CappedRead {
        inner,
        left: limit,
        limit,
    })
}

/// Passes at most `limit` bytes through; past that, reads fail.
struct CappedRead<R> {
    inner: R,
    left: u64,
    limit: u64,
}

/// Why a gzip stream was cut off: what a read error says.
#[derive(Debug, thiserror::Error)]
#[error(
    "the gzip data decompresses to more than {limit} bytes ({MAX_GZIP_RATIO} times the \
     compressed file, or {MIN_GZIP_LIMIT} bytes for a small one); refused as a likely gzip bomb"
)]
pub struct GzipTooLarge {
    limit: u64,
}

impl<R: Read> Read for CappedRead<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        // One byte past the limit is enough to know it was passed.
        let want = buf
            .len()
            .min(usize::try_from(self.left + 1).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..want])?;
        if n as u64 > self.left {
            let limit = self.limit;
            return Err(io::Error::other(GzipTooLarge { limit }));
        }
        self.left -= n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::sync::Arc;

    use arrow_array::builder::{ListBuilder, StringBuilder};
    use arrow_array::{
        ArrayRef, BooleanArray, Float64Array, Int64Array, RecordBatch, StringArray, StructArray,
    };
    use arrow_schema::{DataType, Field, Schema};
    use flate2::Compression;
    use flate2::write::GzEncoder;
    use parquet::arrow::ArrowWriter;
    use parquet::basic::{Compression as ParquetCompression, GzipLevel, ZstdLevel};
    use parquet::file::properties::WriterProperties;
    use serde_json::json;

    fn records() -> Vec<Map<String, Value>> {
        let records = json!([
            {"prompt": "How do I bake bread?", "id": 1, "score": 0.5, "is_safe": true,
             "note": null,
             "harm": {"Violence": false, "Drugs": false},
             "responses": ["Mix flour and water.", "Buy some: \"quoted\", with a comma"]},
            {"prompt": "Line one\nline two, with a comma", "id": -2, "score": 1.25,
             "is_safe": false, "note": "ünïcode ✓",
             "harm": {"Violence": true, "Drugs": false},
             "responses": ["a", "b", "c"]},
            {"prompt": "third", "id": 30000000000_i64, "score": -3.0, "is_safe": true,
             "note": "x",
             "harm": {"Violence": false, "Drugs": true},
             "responses": []}
        ]);
        records
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r.as_object().unwrap().clone())
            .collect()
    }

    fn read_all(path: &Path) -> Vec<Result<Row, ReadError>> {
        rows(path).expect("open").collect()
    }

    fn read_ok(path: &Path) -> Vec<Row> {
        read_all(path)
            .into_iter()
            .map(|r| r.expect("row"))
            .collect()
    }

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
        encoder.write_all(bytes).unwrap();
        encoder.finish().unwrap()
    }

    fn jsonl_bytes() -> Vec<u8> {
        let mut out = Vec::new();
        for r in records() {
            serde_json::to_writer(&mut out, &r).unwrap();
            out.push(b'\n');
        }
        out
    }

    /// A cell's text: strings as they are, anything else as compact JSON,
    /// null as an empty cell.
    fn cell_text(value: &Value) -> String {
        match value {
            Value::Null => String::new(),
            Value::String(s) => s.clone(),
            other => other.to_string(),
        }
    }

    const COLUMNS: [&str; 7] = [
        "prompt",
        "id",
        "score",
        "is_safe",
        "note",
        "harm",
        "responses",
    ];

    fn csv_bytes() -> Vec<u8> {
        let mut writer = csv::Writer::from_writer(Vec::new());
        writer.write_record(COLUMNS).unwrap();
        for r in records() {
            writer
                .write_record(COLUMNS.iter().map(|c| cell_text(&r[*c])))
                .unwrap();
        }
        writer.into_inner().unwrap()
    }

    fn parquet_bytes(compression: ParquetCompression) -> Vec<u8> {
        let records = records();
        let strings = |key: &str| -> ArrayRef {
            Arc::new(StringArray::from(
                records
                    .iter()
                    .map(|r| r[key].as_str().map(str::to_owned))
                    .collect::<Vec<_>>(),
            ))
        };
        let bools = |f: &dyn Fn(&Map<String, Value>) -> bool| -> ArrayRef {
            Arc::new(BooleanArray::from(
                records.iter().map(f).collect::<Vec<_>>(),
            ))
        };
        let harm = StructArray::from(vec![
            (
                Arc::new(Field::new("Violence", DataType::Boolean, false)),
                bools(&|r| r["harm"]["Violence"].as_bool().unwrap()),
            ),
            (
                Arc::new(Field::new("Drugs", DataType::Boolean, false)),
                bools(&|r| r["harm"]["Drugs"].as_bool().unwrap()),
            ),
        ]);
        let mut responses = ListBuilder::new(StringBuilder::new());
        for r in &records {
            for text in r["responses"].as_array().unwrap() {
                responses.values().append_value(text.as_str().unwrap());
            }
            responses.append(true);
        }
        let columns: Vec<ArrayRef> = vec![
            strings("prompt"),
            Arc::new(Int64Array::from(
                records
                    .iter()
                    .map(|r| r["id"].as_i64().unwrap())
                    .collect::<Vec<_>>(),
            )),
            Arc::new(Float64Array::from(
                records
                    .iter()
                    .map(|r| r["score"].as_f64().unwrap())
                    .collect::<Vec<_>>(),
            )),
            bools(&|r| r["is_safe"].as_bool().unwrap()),
            strings("note"),
            Arc::new(harm),
            Arc::new(responses.finish()),
        ];
        let fields: Vec<Field> = COLUMNS
            .iter()
            .zip(&columns)
            .map(|(name, column)| Field::new(*name, column.data_type().clone(), true))
            .collect();
        let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).unwrap();
        let props = WriterProperties::builder()
            .set_compression(compression)
            .build();
        let mut out = Vec::new();
        let mut writer = ArrowWriter::try_new(&mut out, batch.schema(), Some(props)).unwrap();
        writer.write(&batch).unwrap();
        writer.close().unwrap();
        out
    }

    fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    }

    #[test]
    fn place_says_line_or_row() {
        assert_eq!(place(Format::Jsonl, 812), "line 812");
        assert_eq!(place(Format::Csv, 812), "line 812");
        assert_eq!(place(Format::Parquet, 812), "row 812");
    }

    #[test]
    fn the_same_records_read_alike_in_every_format_and_compression() {
        let dir = tempfile::tempdir().unwrap();
        let expected = records();

        let jsonl = jsonl_bytes();
        let csv = csv_bytes();
        let mut files = vec![
            (write(dir.path(), "r.jsonl", &jsonl), Format::Jsonl, false),
            (
                write(dir.path(), "r.jsonl.gz", &gzip(&jsonl)),
                Format::Jsonl,
                true,
            ),
            (write(dir.path(), "r.csv", &csv), Format::Csv, false),
            (
                write(dir.path(), "r.csv.gz", &gzip(&csv)),
                Format::Csv,
                true,
            ),
        ];
        for (name, compression) in [
            ("snappy", ParquetCompression::SNAPPY),
            ("zstd", ParquetCompression::ZSTD(ZstdLevel::default())),
            ("gzip", ParquetCompression::GZIP(GzipLevel::default())),
            ("none", ParquetCompression::UNCOMPRESSED),
        ] {
            let bytes = parquet_bytes(compression);
            files.push((
                write(dir.path(), &format!("r-{name}.parquet"), &bytes),
                Format::Parquet,
                false,
            ));
            files.push((
                write(dir.path(), &format!("r-{name}.parquet.gz"), &gzip(&bytes)),
                Format::Parquet,
                true,
            ));
        }

        for (path, format, gz) in files {
            assert_eq!(
                detect(&path).unwrap(),
                Detected { format, gzip: gz },
                "{path:?}"
            );
            let rows = read_ok(&path);
            assert_eq!(rows.len(), expected.len(), "{path:?}");
            for (row, want) in rows.iter().zip(&expected) {
                match format {
                    Format::Jsonl | Format::Parquet => {
                        assert_eq!(&row.fields, want, "{path:?}");
                    }
                    Format::Csv => {
                        let strings: Map<String, Value> = want
                            .iter()
                            .map(|(k, v)| {
                                let v = match v {
                                    Value::Null => Value::Null,
                                    other => Value::String(cell_text(other)),
                                };
                                (k.clone(), v)
                            })
                            .collect();
                        assert_eq!(row.fields, strings, "{path:?}");
                    }
                }
            }
            let numbers: Vec<u64> = rows.iter().map(|r| r.number).collect();
            match format {
                Format::Jsonl => assert_eq!(numbers, [1, 2, 3]),
                // Record 2's prompt holds a newline, so record 3 starts on line 5.
                Format::Csv => assert_eq!(numbers, [2, 3, 5]),
                Format::Parquet => assert_eq!(numbers, [1, 2, 3]),
            }
        }
    }

    #[test]
    fn parquet_reads_in_batches_and_numbers_rows_across_them() {
        let n = 2500;
        let ids = Int64Array::from((0..n).collect::<Vec<i64>>());
        let texts = StringArray::from(
            (0..n)
                .map(|i| (i % 7 != 0).then(|| format!("text {i}")))
                .collect::<Vec<_>>(),
        );
        let batch = RecordBatch::try_from_iter([
            ("id", Arc::new(ids) as ArrayRef),
            ("text", Arc::new(texts) as ArrayRef),
        ])
        .unwrap();
        let props = WriterProperties::builder()
            .set_max_row_group_row_count(Some(1000))
            .set_compression(ParquetCompression::SNAPPY)
            .build();
        let mut out = Vec::new();
        let mut writer = ArrowWriter::try_new(&mut out, batch.schema(), Some(props)).unwrap();
        writer.write(&batch).unwrap();
        writer.close().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let rows = read_ok(&write(dir.path(), "many.parquet", &out));
        assert_eq!(rows.len(), n as usize);
        for (i, row) in rows.iter().enumerate() {
            assert_eq!(row.number, i as u64 + 1);
            assert_eq!(row.fields["id"], json!(i));
            let text = if i % 7 == 0 {
                Value::Null
            } else {
                json!(format!("text {i}"))
            };
            assert_eq!(row.fields["text"], text);
        }
    }

    #[test]
    fn parquet_maps_dictionaries_nested_lists_and_odd_numbers() {
        use arrow_array::builder::{
            BooleanBuilder, Int32Builder, MapBuilder, StringDictionaryBuilder,
        };
        use arrow_array::types::Int32Type;
        use arrow_array::{Float32Array, LargeStringArray};

        let mut map = MapBuilder::new(None, StringBuilder::new(), BooleanBuilder::new());
        map.keys().append_value("Violence");
        map.values().append_value(true);
        map.append(true).unwrap();
        map.append(false).unwrap(); // null
        let mut dictionary = StringDictionaryBuilder::<Int32Type>::new();
        dictionary.append_value("Alpaca-7B");
        dictionary.append_null();
        let mut nested = ListBuilder::new(ListBuilder::new(Int32Builder::new()));
        nested.values().values().append_value(1);
        nested.values().values().append_null();
        nested.values().append(true);
        nested.values().append(true);
        nested.append(true);
        nested.append(false);
        let batch = RecordBatch::try_from_iter([
            ("map", Arc::new(map.finish()) as ArrayRef),
            ("source", Arc::new(dictionary.finish()) as ArrayRef),
            ("nested", Arc::new(nested.finish()) as ArrayRef),
            (
                "f32",
                Arc::new(Float32Array::from(vec![0.1, f32::NAN])) as ArrayRef,
            ),
            (
                "large",
                Arc::new(LargeStringArray::from(vec![Some("ü"), None])) as ArrayRef,
            ),
        ])
        .unwrap();
        let mut out = Vec::new();
        let mut writer = ArrowWriter::try_new(&mut out, batch.schema(), None).unwrap();
        writer.write(&batch).unwrap();
        writer.close().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let rows = read_ok(&write(dir.path(), "types.parquet", &out));
        let got: Vec<Value> = rows.into_iter().map(|r| Value::Object(r.fields)).collect();
        assert_eq!(
            got,
            [
                json!({"map": {"Violence": true}, "source": "Alpaca-7B",
                       "nested": [[1, null], []], "f32": 0.1, "large": "ü"}),
                json!({"map": null, "source": null, "nested": null, "f32": null,
                       "large": null}),
            ]
        );
    }

    #[test]
    fn parquet_column_of_an_unreadable_type_is_refused_at_open() {
        use arrow_array::TimestampSecondArray;
        let batch = RecordBatch::try_from_iter([(
            "when",
            Arc::new(TimestampSecondArray::from(vec![0])) as ArrayRef,
        )])
        .unwrap();
        let mut out = Vec::new();
        let mut writer = ArrowWriter::try_new(&mut out, batch.schema(), None).unwrap();
        writer.write(&batch).unwrap();
        writer.close().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let error = rows(&write(dir.path(), "ts.parquet", &out)).err().unwrap();
        assert!(error.is_fatal());
        assert_eq!(
            error.to_string(),
            "Parquet column \"when\" has type Timestamp(s), which safepref cannot read"
        );
    }

    #[test]
    fn jsonl_counts_blank_lines_and_takes_crlf() {
        let dir = tempfile::tempdir().unwrap();
        let text = "\n{\"a\": 1}\r\n\n   \n{\"a\": 2}\n\r\n{\"a\": 3}";
        let rows = read_ok(&write(dir.path(), "blank.jsonl", text.as_bytes()));
        let got: Vec<(u64, Value)> = rows
            .into_iter()
            .map(|r| (r.number, Value::Object(r.fields)))
            .collect();
        assert_eq!(
            got,
            [
                (2, json!({"a": 1})),
                (5, json!({"a": 2})),
                (7, json!({"a": 3}))
            ]
        );
    }

    #[test]
    fn jsonl_reports_bad_lines_and_goes_on() {
        let dir = tempfile::tempdir().unwrap();
        let mut bytes = Vec::new();
        bytes.extend_from_slice(b"{\"a\": 1}\n");
        bytes.extend_from_slice(b"{\"a\": \"caf\xE9 au lait\"}\n"); // Latin-1, not UTF-8
        bytes.extend_from_slice(b"[1, 2]\n");
        bytes.extend_from_slice(b"\"just a string\"\n");
        bytes.extend_from_slice(b"{\"a\": \n");
        bytes.extend_from_slice(b"{\"a\": 6}\n");
        let path = write(dir.path(), "bad.jsonl", &bytes);
        let results = read_all(&path);
        assert_eq!(results.len(), 6);
        assert_eq!(results[0].as_ref().unwrap().number, 1);
        let messages: Vec<String> = results[1..5]
            .iter()
            .map(|r| r.as_ref().unwrap_err().to_string())
            .collect();
        assert_eq!(messages[0], "line 2: not valid UTF-8 (byte offset 10)");
        assert_eq!(
            messages[1],
            "line 3: expected a JSON object, found an array"
        );
        assert_eq!(
            messages[2],
            "line 4: expected a JSON object, found a string"
        );
        assert!(
            messages[3].starts_with("line 5: invalid JSON: EOF while parsing a value"),
            "{}",
            messages[3]
        );
        assert!(!messages[3].contains("line 1"), "{}", messages[3]);
        for r in &results[1..5] {
            assert!(!r.as_ref().unwrap_err().is_fatal());
        }
        let last = results[5].as_ref().unwrap();
        assert_eq!((last.number, &last.fields["a"]), (6, &json!(6)));
    }

    #[test]
    fn jsonl_overlong_line_is_skipped_with_an_error() {
        let text = format!(
            "{{\"a\": 1}}\n{{\"b\": \"{}\"}}\n{{\"a\": 3}}",
            "x".repeat(100)
        );
        let mut reader = JsonlRows::new(io::BufReader::with_capacity(8, text.as_bytes()));
        reader.max_line = 32;
        let results: Vec<_> = reader.collect();
        assert_eq!(results.len(), 3);
        assert_eq!(results[0].as_ref().unwrap().number, 1);
        let error = results[1].as_ref().unwrap_err();
        assert_eq!(error.to_string(), "line 2: longer than 32 bytes; skipped");
        assert!(!error.is_fatal());
        let last = results[2].as_ref().unwrap();
        assert_eq!((last.number, &last.fields["a"]), (3, &json!(3)));
    }

    /// The default limits, with a small gzip floor so that a bomb of a few
    /// MB is refused.
    fn small_limits() -> Limits {
        Limits {
            gzip_floor: 1 << 20,
            ..Limits::default()
        }
    }

    /// A gzip bomb: `size` bytes of `fill` after `head`, compressed about
    /// 1000 times.
    fn bomb(head: &[u8], fill: u8, size: usize) -> Vec<u8> {
        let mut encoder = GzEncoder::new(Vec::new(), Compression::best());
        encoder.write_all(head).unwrap();
        let block = vec![fill; 1 << 20];
        for _ in 0..size >> 20 {
            encoder.write_all(&block).unwrap();
        }
        encoder.finish().unwrap()
    }

    fn last_error(path: &Path, limits: Limits) -> ReadError {
        let results: Vec<_> = rows_within(path, limits).expect("open").collect();
        results.into_iter().last().unwrap().unwrap_err()
    }

    #[test]
    fn gzip_bombs_are_cut_off_at_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let limits = small_limits();
        // Blank lines after a row: JSONL reads on until the cap.
        let jsonl = write(
            dir.path(),
            "bomb.jsonl.gz",
            &bomb(b"{\"a\": 1}\n", b'\n', 8 << 20),
        );
        let compressed = std::fs::metadata(&jsonl).unwrap().len();
        assert!(compressed * 100 < 1 << 20, "{compressed} bytes");
        let error = last_error(&jsonl, limits);
        assert!(error.is_fatal());
        let message = error.to_string();
        assert!(message.starts_with("line "), "{message}");
        assert!(
            message.contains("decompresses to more than 1048576 bytes"),
            "{message}"
        );
        // One CSV cell growing: the gzip cap comes before the record's.
        let csv = write(
            dir.path(),
            "bomb.csv.gz",
            &bomb(b"prompt\nx", b'x', 8 << 20),
        );
        let message = last_error(&csv, limits).to_string();
        assert!(message.contains("likely gzip bomb"), "{message}");
        // Parquet is decompressed to a temporary file first: capped too.
        let parquet = write(dir.path(), "bomb.parquet.gz", &bomb(b"PAR1", 0, 8 << 20));
        let message = rows_within(&parquet, limits).err().unwrap().to_string();
        assert!(message.starts_with("cannot decompress "), "{message}");
        assert!(message.contains("bomb.parquet.gz"), "{message}");
        assert!(message.contains("likely gzip bomb"), "{message}");
        // Under the limit, the same reads whole.
        let roomy = Limits {
            gzip_floor: 16 << 20,
            ..limits
        };
        let read: Vec<_> = rows_within(&jsonl, roomy).unwrap().collect();
        assert_eq!(read.len(), 1);
        assert!(read[0].is_ok());
    }

    #[test]
    fn csv_overlong_record_ends_the_file_with_its_line() {
        let dir = tempfile::tempdir().unwrap();
        let text = format!(
            "prompt,id\nfine,1\n\"unclosed,2\n{}\nmore,3\n",
            "y".repeat(300_000)
        );
        let path = write(dir.path(), "long.csv", text.as_bytes());
        let limits = Limits {
            csv_record: 1000,
            ..Limits::default()
        };
        let results: Vec<_> = rows_within(&path, limits).unwrap().collect();
        assert_eq!(results.len(), 2);
        assert_eq!(results[0].as_ref().unwrap().number, 2);
        let error = results[1].as_ref().unwrap_err();
        assert!(error.is_fatal());
        assert_eq!(
            error.to_string(),
            "line 3: a CSV record longer than 1000 bytes (an unclosed quote?); reading stopped"
        );
        // The default limit reads it (as one long, odd record).
        assert!(
            read_all(&path)
                .iter()
                .all(|r| !r.as_ref().is_err_and(ReadError::is_fatal))
        );
    }

    /// One text column of `rows` values of `len` bytes each, zstd-compressed
    /// (a long run of one byte shrinks to almost nothing).
    fn parquet_of_long_texts(rows: usize, len: usize) -> Vec<u8> {
        let texts = StringArray::from(vec!["z".repeat(len); rows]);
        let batch = RecordBatch::try_from_iter([("prompt", Arc::new(texts) as ArrayRef)]).unwrap();
        let props = WriterProperties::builder()
            .set_compression(ParquetCompression::ZSTD(ZstdLevel::default()))
            .set_dictionary_enabled(false)
            .build();
        let mut out = Vec::new();
        let mut writer = ArrowWriter::try_new(&mut out, batch.schema(), Some(props)).unwrap();
        writer.write(&batch).unwrap();
        writer.close().unwrap();
        out
    }

    #[test]
    fn parquet_row_group_that_expands_too_far_is_refused_before_reading() {
        let dir = tempfile::tempdir().unwrap();
        let bytes = parquet_of_long_texts(40, 100_000);
        assert!(bytes.len() * 100 < 4_000_000, "{} bytes", bytes.len());
        let path = write(dir.path(), "expands.parquet", &bytes);
        let limits = small_limits();
        let limits = Limits {
            parquet: ParquetLimits {
                floor: 1 << 20,
                ..limits.parquet
            },
            ..limits
        };
        let error = rows_within(&path, limits).err().unwrap();
        assert!(error.is_fatal());
        let message = error.to_string();
        assert!(
            message.starts_with("rows 1 to 40 (row group 1): the row group expands to "),
            "{message}"
        );
        assert!(
            message.contains("more than the limit of 1048576"),
            "{message}"
        );
        assert_eq!(read_ok(&path).len(), 40);
    }

    #[test]
    fn parquet_page_larger_than_the_limit_is_not_read() {
        let dir = tempfile::tempdir().unwrap();
        // Uncompressed: the page holds every byte of its texts.
        let texts = StringArray::from(vec!["p".repeat(5000); 4]);
        let batch = RecordBatch::try_from_iter([("prompt", Arc::new(texts) as ArrayRef)]).unwrap();
        let mut bytes = Vec::new();
        let mut writer = ArrowWriter::try_new(&mut bytes, batch.schema(), None).unwrap();
        writer.write(&batch).unwrap();
        writer.close().unwrap();
        let path = write(dir.path(), "page.parquet", &bytes);
        let limits = Limits {
            parquet: ParquetLimits {
                page: 4096,
                ..ParquetLimits::default()
            },
            ..Limits::default()
        };
        // Refused at open, from the page headers, before any page is read.
        let error = rows_within(&path, limits).err().expect("refused at open");
        assert!(error.is_fatal());
        let message = error.to_string();
        assert!(
            message.contains("has a page that expands to")
                && message.contains("limit of 4096 bytes"),
            "{message}"
        );
        assert_eq!(read_ok(&path).len(), 4);
    }

    #[test]
    fn parquet_page_that_decompresses_past_the_limit_is_refused_from_its_header() {
        let dir = tempfile::tempdir().unwrap();
        // 200 KB of one letter compresses to almost nothing: only the page's
        // header tells what reading it would allocate.
        let texts = StringArray::from(vec!["p".repeat(50_000); 4]);
        let batch = RecordBatch::try_from_iter([("prompt", Arc::new(texts) as ArrayRef)]).unwrap();
        let properties = WriterProperties::builder()
            .set_compression(ParquetCompression::ZSTD(ZstdLevel::default()))
            .set_dictionary_enabled(false)
            .build();
        let mut bytes = Vec::new();
        let mut writer =
            ArrowWriter::try_new(&mut bytes, batch.schema(), Some(properties)).unwrap();
        writer.write(&batch).unwrap();
        writer.close().unwrap();
        assert!(bytes.len() < 65_536, "the file is small: {}", bytes.len());
        let path = write(dir.path(), "bomb.parquet", &bytes);
        let limits = Limits {
            parquet: ParquetLimits {
                page: 65_536,
                ratio: 1_000_000,
                floor: 1 << 30,
            },
            ..Limits::default()
        };
        let error = rows_within(&path, limits).err().expect("refused at open");
        let message = error.to_string();
        assert!(
            message.contains("\"prompt\"") && message.contains("has a page that expands to"),
            "{message}"
        );
        assert_eq!(read_ok(&path).len(), 4, "within the real limits it reads");
    }

    #[test]
    fn jsonl_array_file_is_one_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            dir.path(),
            "array.json",
            b"\n[\n  {\"a\": 1},\n  {\"a\": 2}\n]\n",
        );
        let results = read_all(&path);
        assert_eq!(results.len(), 1);
        let error = results[0].as_ref().unwrap_err();
        assert!(error.is_fatal());
        assert!(
            error
                .to_string()
                .starts_with("line 2: this is a JSON array"),
            "{error}"
        );
    }

    #[test]
    fn jsonl_strips_a_byte_order_mark() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "bom.jsonl", b"\xEF\xBB\xBF{\"a\": 1}\n");
        assert_eq!(detect(&path).unwrap().format, Format::Jsonl);
        let rows = read_ok(&path);
        assert_eq!(rows[0].fields["a"], json!(1));
    }

    #[test]
    fn damaged_gzip_is_a_fatal_error_naming_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let mut plain = Vec::new();
        for i in 0..5000 {
            plain.extend_from_slice(
                format!("{{\"i\": {i}, \"pad\": \"{}\"}}\n", "x".repeat(i % 50)).as_bytes(),
            );
        }
        let mut compressed = gzip(&plain);
        let cut = compressed.len() / 2;
        compressed.truncate(cut);
        let results = read_all(&write(dir.path(), "cut.jsonl.gz", &compressed));
        let last = results.last().unwrap().as_ref().unwrap_err();
        assert!(last.is_fatal());
        assert!(last.to_string().starts_with("line "), "{last}");
        assert!(results[..results.len() - 1].iter().all(Result::is_ok));
        assert!(results.len() > 10);
    }

    #[test]
    fn csv_multi_line_field_keeps_its_start_line_and_empty_cells_are_null() {
        let dir = tempfile::tempdir().unwrap();
        let crlf = "prompt,response_0,id\r\n\
                    \"first\r\nspans\nthree lines\",\"r\",1\r\n\
                    second,,2\r\n\
                    \r\n\
                    \"third, quoted \"\"here\"\"\",r3,\"3\"\r\n";
        // The same with bare LF, two blank lines before the header and no
        // newline at the end.
        let lf = "\n\nprompt,response_0,id\n\
                  \"first\nspans\nthree lines\",\"r\",1\n\
                  second,,2\n\
                  \n\
                  \"third, quoted \"\"here\"\"\",r3,\"3\"";
        for (name, text, numbers, first) in [
            ("crlf.csv", crlf, [2, 5, 7], "first\r\nspans\nthree lines"),
            ("lf.csv", lf, [4, 7, 9], "first\nspans\nthree lines"),
        ] {
            let rows = read_ok(&write(dir.path(), name, text.as_bytes()));
            let got: Vec<u64> = rows.iter().map(|r| r.number).collect();
            assert_eq!(got, numbers, "{name}");
            assert_eq!(rows[0].fields["prompt"], json!(first), "{name}");
            assert_eq!(rows[0].fields["id"], json!("1"), "{name}");
            assert_eq!(rows[1].fields["response_0"], Value::Null, "{name}");
            assert_eq!(rows[1].fields["id"], json!("2"), "{name}");
            assert_eq!(
                rows[2].fields["prompt"],
                json!("third, quoted \"here\""),
                "{name}"
            );
            assert_eq!(rows[2].fields["id"], json!("3"), "{name}");
        }
    }

    #[test]
    fn csv_reports_wrong_cell_counts_and_bad_utf8_and_goes_on() {
        let dir = tempfile::tempdir().unwrap();
        let mut bytes = b"\xEF\xBB\xBFprompt,response_0\n".to_vec();
        bytes.extend_from_slice(b"ok,fine\n");
        bytes.extend_from_slice(b"too,many,cells\n");
        bytes.extend_from_slice(b"few\n");
        bytes.extend_from_slice(b"good,caf\xE9\n");
        bytes.extend_from_slice(b"last,one\n");
        let results = read_all(&write(dir.path(), "bad.csv", &bytes));
        assert_eq!(results.len(), 5);
        let first = results[0].as_ref().unwrap();
        assert_eq!(first.number, 2);
        assert_eq!(
            first.fields["prompt"],
            json!("ok"),
            "BOM stripped from the header"
        );
        let messages: Vec<String> = results[1..4]
            .iter()
            .map(|r| r.as_ref().unwrap_err().to_string())
            .collect();
        assert_eq!(messages[0], "line 3: 3 cells, but the header has 2 columns");
        assert_eq!(messages[1], "line 4: 1 cells, but the header has 2 columns");
        assert_eq!(
            messages[2],
            "line 5: column \"response_0\" is not valid UTF-8 (byte offset 3 in the cell)"
        );
        assert_eq!(results[4].as_ref().unwrap().number, 6);
    }

    #[test]
    fn csv_header_with_a_repeated_name_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "dup.csv", b"a,b,a\n1,2,3\n");
        let error = rows(&path).err().expect("refused");
        assert_eq!(
            error.to_string(),
            "line 1: CSV header: column name \"a\" appears twice (columns 1 and 3)"
        );
        assert!(error.is_fatal());
    }

    #[test]
    fn unknown_extensions_are_sniffed() {
        let dir = tempfile::tempdir().unwrap();
        let jsonl = jsonl_bytes();
        let csv = csv_bytes();
        let parquet = parquet_bytes(ParquetCompression::SNAPPY);
        let cases = [
            ("a.txt", b"  \n {\"a\": 1}\n".to_vec(), Format::Jsonl, false),
            ("a.dat", csv.clone(), Format::Csv, false),
            ("a", parquet.clone(), Format::Parquet, false),
            ("a.bin", gzip(&parquet), Format::Parquet, true),
            ("a.gz", gzip(&jsonl), Format::Jsonl, true),
            ("a.data.gz", gzip(&csv), Format::Csv, true),
            // gzip by its magic bytes, whatever the name says
            ("plain.jsonl", gzip(&jsonl), Format::Jsonl, true),
            ("empty.unknown", Vec::new(), Format::Csv, false),
        ];
        for (name, bytes, format, gz) in cases {
            let path = write(dir.path(), name, &bytes);
            assert_eq!(
                detect(&path).unwrap(),
                Detected { format, gzip: gz },
                "{name}"
            );
        }
        let sniffed = read_ok(&dir.path().join("a.bin"));
        assert_eq!(sniffed.len(), 3);
        assert_eq!(sniffed[0].fields, records()[0]);
        assert!(read_ok(&dir.path().join("empty.unknown")).is_empty());
    }

    #[test]
    fn opening_problems_are_errors_not_panics() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.jsonl");
        let error = rows(&missing).err().unwrap();
        assert!(error.to_string().starts_with("cannot open "), "{error}");
        let path = write(dir.path(), "fake.parquet", b"prompt\nnot parquet\n");
        let error = rows(&path).err().unwrap();
        assert!(
            error.to_string().starts_with("not a readable Parquet file"),
            "{error}"
        );
    }

    #[test]
    fn reads_the_real_pku_sample() {
        let path =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/pku-saferlhf-sample.jsonl");
        let rows = read_ok(&path);
        assert_eq!(rows.len(), 76);
        for (i, row) in rows.iter().enumerate() {
            assert_eq!(row.number, i as u64 + 1);
            assert_eq!(row.fields.len(), 16);
            assert_eq!(
                row.fields["response_0_harm_category"]
                    .as_object()
                    .unwrap()
                    .len(),
                19
            );
        }
    }
}
