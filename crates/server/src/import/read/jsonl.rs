//! JSON Lines: one object per line, each line capped.

use std::io::{self, BufRead, Read};

use serde_json::Value;

use super::{MAX_LINE_BYTES, ReadError, Row, SHRINK_ABOVE_BYTES};

pub(super) struct JsonlRows<R> {
    reader: R,
    buf: Vec<u8>,
    /// Longer lines are reported and skipped.
    pub(super) max_line: usize,
    /// The number of the last line read.
    line: u64,
    seen_content: bool,
    done: bool,
}

impl<R: BufRead> JsonlRows<R> {
    pub(super) fn new(reader: R) -> Self {
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

pub(super) fn json_kind(value: &Value) -> &'static str {
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
pub(super) fn json_message(error: &serde_json::Error) -> String {
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
