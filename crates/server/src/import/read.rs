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
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Float16Type, Float32Type, Float64Type, Int8Type, Int16Type, Int32Type, Int64Type, UInt8Type,
    UInt16Type, UInt32Type, UInt64Type,
};
use arrow_array::{Array, RecordBatch};
use arrow_schema::DataType;
use flate2::bufread::MultiGzDecoder;
use parquet::arrow::arrow_reader::{ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder};
use serde_json::{Map, Value};

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

// ---------------------------------------------------------------- JSONL

struct JsonlRows<R> {
    reader: R,
    buf: Vec<u8>,
    /// Longer lines are reported and skipped.
    max_line: usize,
    /// The number of the last line read.
    line: u64,
    seen_content: bool,
    done: bool,
}

impl<R: BufRead> JsonlRows<R> {
    fn new(reader: R) -> Self {
        JsonlRows {
            reader,
            buf: Vec::with_capacity(16 << 10),
            max_line: MAX_LINE_BYTES,
            line: 0,
            seen_content: false,
            done: false,
        }
    }

    /// Skips the rest of an over-long line.
    fn skip_line(&mut self) -> io::Result<()> {
        loop {
            let available = match self.reader.fill_buf() {
                Ok(b) => b,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if available.is_empty() {
                return Ok(());
            }
            match available.iter().position(|&b| b == b'\n') {
                Some(p) => {
                    self.reader.consume(p + 1);
                    return Ok(());
                }
                None => {
                    let n = available.len();
                    self.reader.consume(n);
                }
            }
        }
    }

    fn fatal(&mut self, error: ReadError) -> Option<Result<Row, ReadError>> {
        self.done = true;
        Some(Err(error))
    }
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// serde_json's message without its "at line 1 column N" (always line 1
/// here: it parsed one line), with the column kept.
fn json_message(error: &serde_json::Error) -> String {
    let full = error.to_string();
    let suffix = format!(" at line {} column {}", error.line(), error.column());
    match full.strip_suffix(&suffix) {
        Some(message) => format!("{message} (column {})", error.column()),
        None => full,
    }
}

impl<R: BufRead> Iterator for JsonlRows<R> {
    type Item = Result<Row, ReadError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if self.done {
                return None;
            }
            self.buf.clear();
            if self.buf.capacity() > SHRINK_ABOVE_BYTES {
                // Give back what one unusually long line made us take.
                self.buf.shrink_to(16 << 10);
            }
            let read = (&mut self.reader)
                .take(self.max_line as u64 + 1)
                .read_until(b'\n', &mut self.buf);
            let n = match read {
                Ok(n) => n,
                Err(source) => {
                    let place = format!("line {}", self.line + 1);
                    return self.fatal(ReadError::Io { place, source });
                }
            };
            if n == 0 {
                self.done = true;
                return None;
            }
            self.line += 1;
            let line = self.line;

            let mut bytes = &self.buf[..];
            if let Some(rest) = bytes.strip_suffix(b"\n") {
                bytes = rest.strip_suffix(b"\r").unwrap_or(rest);
            } else if bytes.len() > self.max_line {
                if let Err(source) = self.skip_line() {
                    let place = format!("line {line}");
                    return self.fatal(ReadError::Io { place, source });
                }
                self.seen_content = true;
                return Some(Err(ReadError::LineTooLong {
                    line,
                    limit: self.max_line,
                }));
            } else {
                bytes = bytes.strip_suffix(b"\r").unwrap_or(bytes);
            }

            let text = match std::str::from_utf8(bytes) {
                Ok(text) => text,
                Err(e) => {
                    self.seen_content = true;
                    return Some(Err(ReadError::Utf8 {
                        line,
                        offset: e.valid_up_to(),
                    }));
                }
            };
            let text = if line == 1 {
                text.strip_prefix('\u{feff}').unwrap_or(text)
            } else {
                text
            };
            let trimmed = text.trim_start();
            if trimmed.is_empty() {
                continue;
            }
            if !self.seen_content && trimmed.starts_with('[') {
                return self.fatal(ReadError::JsonArray { line });
            }
            self.seen_content = true;
            return Some(match serde_json::from_str::<Value>(text) {
                Ok(Value::Object(fields)) => Ok(Row {
                    number: line,
                    fields,
                }),
                Ok(other) => Err(ReadError::NotObject {
                    line,
                    found: json_kind(&other),
                }),
                Err(e) => Err(ReadError::Json {
                    line,
                    message: json_message(&e),
                }),
            });
        }
    }
}

// ---------------------------------------------------------------- CSV

struct CsvRows {
    reader: csv::Reader<EndWithNewline<Box<dyn Read + Send>>>,
    headers: Vec<String>,
    record: csv::ByteRecord,
    /// Longer records end the file with an error.
    max_record: usize,
    done: bool,
}

/// Passes bytes through and adds a final `\n` when the input does not end
/// with one, so that every CSV record ends with a newline and its lines can
/// be counted from where the reader stands after it.
struct EndWithNewline<R> {
    inner: R,
    last: u8,
    finished: bool,
    /// A read has answered that the input is over: a record read after
    /// that ran into the end of the input rather than a `\n` of its own.
    ended: bool,
    /// Bytes passed on so far, and how many may be passed on before the
    /// record being read is too long (set before each record).
    passed: u64,
    allowed: u64,
}

impl<R> EndWithNewline<R> {
    /// Lets the next record be up to `max` bytes long, counted from `start`,
    /// where the CSV parser stands; the parser's buffer holds up to
    /// `BUF_BYTES` read ahead of it.
    fn allow_record(&mut self, start: u64, max: usize) {
        self.allowed = start + (max + BUF_BYTES) as u64;
    }

    fn over_limit(&self) -> bool {
        self.passed > self.allowed
    }
}

impl<R: Read> Read for EndWithNewline<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if self.finished {
            self.ended = true;
            return Ok(0);
        }
        if self.over_limit() {
            return Err(io::Error::other("the CSV record is too long"));
        }
        let n = self.inner.read(buf)?;
        self.passed += n as u64;
        if n > 0 {
            self.last = buf[n - 1];
            return Ok(n);
        }
        self.finished = true;
        if self.last == b'\n' {
            self.ended = true;
            Ok(0)
        } else {
            buf[0] = b'\n';
            Ok(1)
        }
    }
}

impl CsvRows {
    fn new(input: Box<dyn Read + Send>, max_record: usize) -> Result<Self, ReadError> {
        let input = EndWithNewline {
            inner: input,
            // An empty input stays empty.
            last: b'\n',
            finished: false,
            ended: false,
            passed: 0,
            allowed: 0,
        };
        // The header is read as an ordinary record, and records end at `\n`
        // only (a `\r` before it is dropped from the last cell): the csv
        // crate's own record positions point at the end of the previous
        // record, before any blank lines, so the line where a record starts
        // is worked out here from where it ends.
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .terminator(csv::Terminator::Any(b'\n'))
            // Rows with the wrong number of cells are reported by us, with
            // the line, and reading goes on.
            .flexible(true)
            .buffer_capacity(BUF_BYTES)
            .from_reader(input);
        let mut header = csv::ByteRecord::new();
        let Some(header_line) = next_record(&mut reader, &mut header, max_record)? else {
            // No header at all: an empty file, no rows.
            return Ok(CsvRows {
                reader,
                headers: Vec::new(),
                record: header,
                max_record,
                done: true,
            });
        };
        let mut headers: Vec<String> = Vec::with_capacity(header.len());
        for i in 0..header.len() {
            let name = cell(&header, i);
            let name = if i == 0 {
                name.strip_prefix(UTF8_BOM).unwrap_or(name)
            } else {
                name
            };
            let name = std::str::from_utf8(name).map_err(|e| ReadError::CsvHeader {
                line: header_line,
                message: format!(
                    "the name of column {} is not valid UTF-8 (byte offset {})",
                    i + 1,
                    e.valid_up_to()
                ),
            })?;
            if let Some(first) = headers.iter().position(|h| h == name) {
                return Err(ReadError::CsvHeader {
                    line: header_line,
                    message: format!(
                        "column name \"{name}\" appears twice (columns {} and {})",
                        first + 1,
                        i + 1
                    ),
                });
            }
            headers.push(name.to_owned());
        }
        Ok(CsvRows {
            reader,
            headers,
            record: csv::ByteRecord::new(),
            max_record,
            done: false,
        })
    }
}

/// Cell `i` of a record, without the `\r` of a CRLF line end on the last.
fn cell(record: &csv::ByteRecord, i: usize) -> &[u8] {
    let value = &record[i];
    if i + 1 == record.len() {
        value.strip_suffix(b"\r").unwrap_or(value)
    } else {
        value
    }
}

/// Reads the next record that is not a blank line; returns the line where
/// it starts, or `None` at the end of the input.
fn next_record<R: Read>(
    reader: &mut csv::Reader<EndWithNewline<R>>,
    record: &mut csv::ByteRecord,
    max_record: usize,
) -> Result<Option<u64>, ReadError> {
    loop {
        let start = reader.position().clone();
        reader.get_mut().allow_record(start.byte(), max_record);
        match reader.read_byte_record(record) {
            Ok(false) => return Ok(None),
            Ok(true) => {
                if record.len() == 1 && cell(record, 0).is_empty() {
                    continue; // a blank line (CRLF ones reach us as "\r")
                }
                // Every record ends with a `\n` (see EndWithNewline), which
                // the line counter has already passed; except a record cut
                // off inside an unclosed quote, which ends at the end of the
                // input with that `\n` inside its last cell.
                let line = reader.position().line();
                let cut_off = reader.get_ref().ended;
                let last_line = if cut_off {
                    line
                } else {
                    line.saturating_sub(1)
                };
                let inside: usize = record
                    .iter()
                    .map(|field| field.iter().filter(|&&b| b == b'\n').count())
                    .sum();
                return Ok(Some(last_line.saturating_sub(inside as u64).max(1)));
            }
            Err(_) if reader.get_ref().over_limit() => {
                return Err(ReadError::RecordTooLong {
                    line: start.line(),
                    limit: max_record,
                });
            }
            Err(e) => {
                let line = reader.position().line();
                return Err(csv_fatal(e, line));
            }
        }
    }
}

/// A csv error other than on a single record: with byte records and flexible
/// rows, only I/O errors remain, and they end the file.
fn csv_fatal(error: csv::Error, line: u64) -> ReadError {
    let place = format!("line {line}");
    let source = if error.is_io_error() {
        match error.into_kind() {
            csv::ErrorKind::Io(source) => source,
            other => io::Error::other(format!("{other:?}")),
        }
    } else {
        io::Error::other(error.to_string())
    };
    ReadError::Io { place, source }
}

impl Iterator for CsvRows {
    type Item = Result<Row, ReadError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let line = match next_record(&mut self.reader, &mut self.record, self.max_record) {
            Ok(Some(line)) => line,
            Ok(None) => {
                self.done = true;
                return None;
            }
            Err(e) => {
                self.done = true;
                return Some(Err(e));
            }
        };
        if self.record.len() != self.headers.len() {
            return Some(Err(ReadError::CellCount {
                line,
                expected: self.headers.len(),
                found: self.record.len(),
            }));
        }
        let mut fields = Map::new();
        for (i, name) in self.headers.iter().enumerate() {
            let bytes = cell(&self.record, i);
            let value = if bytes.is_empty() {
                Value::Null
            } else {
                match std::str::from_utf8(bytes) {
                    Ok(text) => Value::String(text.to_owned()),
                    Err(e) => {
                        return Some(Err(ReadError::CsvUtf8 {
                            line,
                            column: name.clone(),
                            offset: e.valid_up_to(),
                        }));
                    }
                }
            };
            fields.insert(name.clone(), value);
        }
        Some(Ok(Row {
            number: line,
            fields,
        }))
    }
}

// ---------------------------------------------------------------- Parquet

struct ParquetRows {
    reader: ParquetRecordBatchReader,
    names: Vec<String>,
    batch: Option<RecordBatch>,
    /// The next row to yield within `batch`.
    index: usize,
    /// The 1-based number of the next row in the file.
    next_row: u64,
    done: bool,
}

/// What a Parquet file may ask the reader to hold.
#[derive(Debug, Clone, Copy)]
struct ParquetLimits {
    /// The largest compressed page (see [`MAX_PARQUET_PAGE_BYTES`]).
    page: u64,
    /// A row group's uncompressed size may be this many times its
    /// compressed size ...
    ratio: u64,
    /// ... or this much, whichever is more.
    floor: u64,
}

/// The parquet crate reads a page's compressed bytes into one buffer of the
/// size its header claims, so a larger page is refused before it is read.
/// Writers make pages of about 1 MB; a text at the JSONL line cap fits four
/// times over.
const MAX_PARQUET_PAGE_BYTES: u64 = 256 << 20;

impl Default for ParquetLimits {
    fn default() -> Self {
        // Row groups obey the gzip rule: about what real data expands to.
        ParquetLimits {
            page: MAX_PARQUET_PAGE_BYTES,
            ratio: MAX_GZIP_RATIO,
            floor: MIN_GZIP_LIMIT,
        }
    }
}

/// A Parquet file that refuses to hand out a chunk (a page's compressed
/// bytes) larger than the page limit, before reading or allocating it.
struct PageCapped {
    file: File,
    max_page: u64,
}

impl parquet::file::reader::Length for PageCapped {
    fn len(&self) -> u64 {
        self.file.len()
    }
}

impl parquet::file::reader::ChunkReader for PageCapped {
    type T = <File as parquet::file::reader::ChunkReader>::T;

    fn get_read(&self, start: u64) -> parquet::errors::Result<Self::T> {
        self.file.get_read(start)
    }

    fn get_bytes(&self, start: u64, length: usize) -> parquet::errors::Result<axum::body::Bytes> {
        if length as u64 > self.max_page {
            return Err(parquet::errors::ParquetError::General(format!(
                "a page of {length} bytes (at byte {start}) is larger than the limit of {} bytes",
                self.max_page
            )));
        }
        self.file.get_bytes(start, length)
    }
}

/// Checks the footer's row groups before any is read: each column chunk
/// lies inside the file, no row group expands past the limit, and no page
/// header (`file`'s) claims an uncompressed size past the page limit.
fn check_row_groups(
    metadata: &parquet::file::metadata::ParquetMetaData,
    file: &File,
    file_len: u64,
    limits: &ParquetLimits,
) -> Result<(), ReadError> {
    let mut first_row: u64 = 1;
    for (g, group) in metadata.row_groups().iter().enumerate() {
        let rows = u64::try_from(group.num_rows()).unwrap_or(0);
        let place = format!(
            "rows {first_row} to {} (row group {})",
            first_row + rows.saturating_sub(1),
            g + 1
        );
        let too_big = |message: String| ReadError::ParquetTooLarge {
            place: place.clone(),
            message,
        };
        let compressed = u64::try_from(group.compressed_size()).unwrap_or(u64::MAX);
        let uncompressed = u64::try_from(group.total_byte_size()).unwrap_or(u64::MAX);
        let limit = compressed.saturating_mul(limits.ratio).max(limits.floor);
        if uncompressed > limit {
            return Err(too_big(format!(
                "the row group expands to {uncompressed} bytes, more than the limit of {limit} \
                 ({} times its {compressed} compressed bytes, or {} bytes)",
                limits.ratio, limits.floor
            )));
        }
        for column in group.columns() {
            let (start, len) = column.byte_range();
            if start.checked_add(len).is_none_or(|end| end > file_len) {
                return Err(too_big(format!(
                    "column \"{}\" claims {len} bytes from byte {start}, past the end of the \
                     {file_len}-byte file",
                    column.column_path()
                )));
            }
            let largest = super::parquet_pages::largest_page(file, start, len)
                .map_err(|m| too_big(format!("column \"{}\": {m}", column.column_path())))?;
            if largest > limits.page {
                return Err(too_big(format!(
                    "column \"{}\" has a page that expands to {largest} bytes, more than the \
                     limit of {} bytes",
                    column.column_path(),
                    limits.page
                )));
            }
        }
        first_row += rows;
    }
    Ok(())
}

impl ParquetRows {
    fn open(path: &Path, gzip: bool, limits: &Limits) -> Result<Self, ReadError> {
        let file = if gzip {
            let decompress_error = |source| ReadError::Decompress {
                path: path.to_path_buf(),
                source,
            };
            let compressed = File::open(path).map_err(open_error(path))?;
            let mut decoder = gunzip(compressed, limits).map_err(open_error(path))?;
            // Anonymous: the operating system removes it when it is closed.
            let mut plain = tempfile::tempfile().map_err(decompress_error)?;
            io::copy(&mut decoder, &mut plain).map_err(decompress_error)?;
            plain.seek(SeekFrom::Start(0)).map_err(decompress_error)?;
            plain
        } else {
            File::open(path).map_err(open_error(path))?
        };
        let file_len = file.metadata().map_err(open_error(path))?.len();
        let headers = file.try_clone().map_err(open_error(path))?;
        let file = PageCapped {
            file,
            max_page: limits.parquet.page,
        };
        let builder =
            ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| ReadError::ParquetOpen {
                message: e.to_string(),
            })?;
        // `byte_range` asserts on a negative offset, which a damaged footer has.
        let metadata = builder.metadata();
        survive_panic(|| check_row_groups(metadata, &headers, file_len, &limits.parquet))
            .map_err(|message| ReadError::ParquetOpen { message })??;
        let schema = builder.schema().clone();
        let mut names = Vec::with_capacity(schema.fields().len());
        for field in schema.fields() {
            if !readable(field.data_type()) {
                return Err(ReadError::ParquetType {
                    column: field.name().clone(),
                    data_type: field.data_type().to_string(),
                });
            }
            names.push(field.name().clone());
        }
        let reader = builder
            .with_batch_size(PARQUET_BATCH_ROWS)
            .build()
            .map_err(|e| ReadError::ParquetOpen {
                message: e.to_string(),
            })?;
        Ok(ParquetRows {
            reader,
            names,
            batch: None,
            index: 0,
            next_row: 1,
            done: false,
        })
    }
}

impl Iterator for ParquetRows {
    type Item = Result<Row, ReadError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if self.done {
                return None;
            }
            if let Some(batch) = &self.batch
                && self.index < batch.num_rows()
            {
                let i = self.index;
                self.index += 1;
                let number = self.next_row;
                self.next_row += 1;
                let mut fields = Map::new();
                for (name, column) in self.names.iter().zip(batch.columns()) {
                    match json_value(column.as_ref(), i) {
                        Ok(value) => {
                            fields.insert(name.clone(), value);
                        }
                        Err(message) => {
                            return Some(Err(ReadError::ParquetValue {
                                row: number,
                                column: name.clone(),
                                message,
                            }));
                        }
                    }
                }
                return Some(Ok(Row { number, fields }));
            }
            self.batch = None;
            let reader = &mut self.reader;
            let next = match survive_panic(|| reader.next()) {
                Ok(next) => next,
                Err(message) => Some(Err(arrow_schema::ArrowError::ParquetError(message))),
            };
            match next {
                None => {
                    self.done = true;
                    return None;
                }
                Some(Ok(batch)) => {
                    self.batch = Some(batch);
                    self.index = 0;
                }
                Some(Err(e)) => {
                    self.done = true;
                    return Some(Err(ReadError::Parquet {
                        row: self.next_row,
                        message: e.to_string(),
                    }));
                }
            }
        }
    }
}

/// Runs a call into the parquet crate, which panics on some damaged files
/// (an assertion on a negative column offset in the footer, say) instead of
/// returning an error: such a panic is the file's fault, reported as damage.
fn survive_panic<T>(call: impl FnOnce() -> T) -> Result<T, String> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(call)).map_err(|payload| {
        let what = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "an unexpected layout".into());
        format!("the file is damaged: {what}")
    })
}

/// Whether [`json_value`] can turn values of this type into JSON.
fn readable(data_type: &DataType) -> bool {
    use DataType::*;
    match data_type {
        Null | Boolean | Int8 | Int16 | Int32 | Int64 | UInt8 | UInt16 | UInt32 | UInt64
        | Float16 | Float32 | Float64 | Utf8 | LargeUtf8 | Utf8View | Binary | LargeBinary
        | BinaryView => true,
        List(item) | LargeList(item) | FixedSizeList(item, _) => readable(item.data_type()),
        Struct(fields) => fields.iter().all(|f| readable(f.data_type())),
        Map(entries, _) => readable(entries.data_type()),
        Dictionary(key, value) => key.is_dictionary_key_type() && readable(value),
        _ => false,
    }
}

fn float(value: f64) -> Value {
    // NaN and the infinities have no JSON form.
    serde_json::Number::from_f64(value).map_or(Value::Null, Value::Number)
}

fn float32(value: f32) -> Value {
    // Through the shortest decimal form, so 0.1f32 becomes 0.1, not
    // 0.10000000149011612.
    match value.to_string().parse::<f64>() {
        Ok(v) if value.is_finite() => float(v),
        _ => Value::Null,
    }
}

fn utf8(bytes: &[u8]) -> Result<Value, String> {
    match std::str::from_utf8(bytes) {
        Ok(text) => Ok(Value::String(text.to_owned())),
        Err(e) => Err(format!(
            "binary value is not valid UTF-8 text (byte offset {})",
            e.valid_up_to()
        )),
    }
}

fn json_values(values: &dyn Array, range: std::ops::Range<usize>) -> Result<Value, String> {
    range
        .map(|j| json_value(values, j))
        .collect::<Result<Vec<_>, _>>()
        .map(Value::Array)
}

fn dictionary_key(keys: &dyn Array, i: usize) -> Result<usize, String> {
    let key = match keys.data_type() {
        DataType::Int8 => usize::try_from(keys.as_primitive::<Int8Type>().value(i)).ok(),
        DataType::Int16 => usize::try_from(keys.as_primitive::<Int16Type>().value(i)).ok(),
        DataType::Int32 => usize::try_from(keys.as_primitive::<Int32Type>().value(i)).ok(),
        DataType::Int64 => usize::try_from(keys.as_primitive::<Int64Type>().value(i)).ok(),
        DataType::UInt8 => Some(usize::from(keys.as_primitive::<UInt8Type>().value(i))),
        DataType::UInt16 => Some(usize::from(keys.as_primitive::<UInt16Type>().value(i))),
        DataType::UInt32 => usize::try_from(keys.as_primitive::<UInt32Type>().value(i)).ok(),
        DataType::UInt64 => usize::try_from(keys.as_primitive::<UInt64Type>().value(i)).ok(),
        _ => None,
    };
    key.ok_or_else(|| "dictionary key out of range".to_owned())
}

/// Value `i` of an Arrow array as JSON: strings, booleans, integers, floats
/// and nulls as themselves, lists as arrays, structs and maps as objects,
/// dictionary-encoded values as the values they stand for. Binary values
/// become strings when they are UTF-8 text.
fn json_value(array: &dyn Array, i: usize) -> Result<Value, String> {
    if array.is_null(i) {
        return Ok(Value::Null);
    }
    Ok(match array.data_type() {
        DataType::Null => Value::Null,
        DataType::Boolean => Value::Bool(array.as_boolean().value(i)),
        DataType::Int8 => array.as_primitive::<Int8Type>().value(i).into(),
        DataType::Int16 => array.as_primitive::<Int16Type>().value(i).into(),
        DataType::Int32 => array.as_primitive::<Int32Type>().value(i).into(),
        DataType::Int64 => array.as_primitive::<Int64Type>().value(i).into(),
        DataType::UInt8 => array.as_primitive::<UInt8Type>().value(i).into(),
        DataType::UInt16 => array.as_primitive::<UInt16Type>().value(i).into(),
        DataType::UInt32 => array.as_primitive::<UInt32Type>().value(i).into(),
        DataType::UInt64 => array.as_primitive::<UInt64Type>().value(i).into(),
        DataType::Float16 => float(array.as_primitive::<Float16Type>().value(i).to_f64()),
        DataType::Float32 => float32(array.as_primitive::<Float32Type>().value(i)),
        DataType::Float64 => float(array.as_primitive::<Float64Type>().value(i)),
        DataType::Utf8 => Value::String(array.as_string::<i32>().value(i).to_owned()),
        DataType::LargeUtf8 => Value::String(array.as_string::<i64>().value(i).to_owned()),
        DataType::Utf8View => Value::String(array.as_string_view().value(i).to_owned()),
        DataType::Binary => utf8(array.as_binary::<i32>().value(i))?,
        DataType::LargeBinary => utf8(array.as_binary::<i64>().value(i))?,
        DataType::BinaryView => utf8(array.as_binary_view().value(i))?,
        DataType::List(_) => {
            let list = array.as_list::<i32>();
            let offsets = list.value_offsets();
            let range = offsets[i] as usize..offsets[i + 1] as usize;
            json_values(list.values().as_ref(), range)?
        }
        DataType::LargeList(_) => {
            let list = array.as_list::<i64>();
            let offsets = list.value_offsets();
            let range = offsets[i] as usize..offsets[i + 1] as usize;
            json_values(list.values().as_ref(), range)?
        }
        DataType::FixedSizeList(_, _) => {
            let list = array.as_fixed_size_list();
            let start = list.value_offset_at(i);
            let range = start..start + list.value_length() as usize;
            json_values(list.values().as_ref(), range)?
        }
        DataType::Struct(fields) => {
            let structs = array.as_struct();
            let mut object = Map::new();
            for (field, column) in fields.iter().zip(structs.columns()) {
                object.insert(field.name().clone(), json_value(column.as_ref(), i)?);
            }
            Value::Object(object)
        }
        DataType::Map(_, _) => {
            let map = array.as_map();
            let offsets = map.value_offsets();
            let (keys, values) = (map.keys().as_ref(), map.values().as_ref());
            let mut object = Map::new();
            for j in offsets[i] as usize..offsets[i + 1] as usize {
                let key = match json_value(keys, j)? {
                    Value::String(key) => key,
                    other => other.to_string(),
                };
                object.insert(key, json_value(values, j)?);
            }
            Value::Object(object)
        }
        DataType::Dictionary(_, _) => {
            let dictionary = array.as_any_dictionary();
            let key = dictionary_key(dictionary.keys(), i)?;
            let values = dictionary.values();
            if key >= values.len() {
                return Err("dictionary key out of range".to_owned());
            }
            json_value(values.as_ref(), key)?
        }
        other => return Err(format!("values of type {other} cannot be read")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::sync::Arc;

    use arrow_array::builder::{ListBuilder, StringBuilder};
    use arrow_array::{ArrayRef, BooleanArray, Float64Array, Int64Array, StringArray, StructArray};
    use arrow_schema::{Field, Schema};
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
