//! CSV with a header row; each record capped.

use std::io::{self, Read};

use serde_json::{Map, Value};

use super::{BUF_BYTES, ReadError, Row, UTF8_BOM};

pub(super) struct CsvRows {
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
pub(super) struct EndWithNewline<R> {
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
    pub(super) fn new(input: Box<dyn Read + Send>, max_record: usize) -> Result<Self, ReadError> {
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
pub(super) fn cell(record: &csv::ByteRecord, i: usize) -> &[u8] {
    let value = &record[i];
    if i + 1 == record.len() {
        value.strip_suffix(b"\r").unwrap_or(value)
    } else {
        value
    }
}

/// Reads the next record that is not a blank line; returns the line where
/// it starts, or `None` at the end of the input.
pub(super) fn next_record<R: Read>(
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
pub(super) fn csv_fatal(error: csv::Error, line: u64) -> ReadError {
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
