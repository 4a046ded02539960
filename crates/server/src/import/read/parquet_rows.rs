//! Parquet: record batches read after the footer and page headers are checked, values turned into JSON.

use std::fs::File;
use std::io::{self, Seek, SeekFrom};
use std::path::Path;

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Float16Type, Float32Type, Float64Type, Int8Type, Int16Type, Int32Type, Int64Type, UInt8Type,
    UInt16Type, UInt32Type, UInt64Type,
};
use arrow_array::{Array, RecordBatch};
use arrow_schema::DataType;
use parquet::arrow::arrow_reader::{ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder};
use serde_json::{Map, Value};

use super::{
    Limits, MAX_GZIP_RATIO, MIN_GZIP_LIMIT, PARQUET_BATCH_ROWS, ReadError, Row, gunzip, open_error,
};

pub(super) struct ParquetRows {
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
pub(super) struct ParquetLimits {
    /// The largest page, compressed or not (see [`MAX_PARQUET_PAGE_BYTES`]).
    pub(super) page: u64,
    /// A row group's uncompressed size may be this many times its
    /// compressed size ...
    pub(super) ratio: u64,
    /// ... or this much, whichever is more.
    pub(super) floor: u64,
}

/// The parquet crate reads a page's compressed bytes into one buffer of the
/// size its header claims, so a larger page is refused before it is read.
/// Writers make pages of about 1 MB; a text at the JSONL line cap fits four
/// times over.
pub(super) const MAX_PARQUET_PAGE_BYTES: u64 = 256 << 20;

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
pub(super) struct PageCapped {
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
pub(super) fn check_row_groups(
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
            let largest = super::super::parquet_pages::largest_page(file, start, len)
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
    pub(super) fn open(path: &Path, gzip: bool, limits: &Limits) -> Result<Self, ReadError> {
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
pub(super) fn survive_panic<T>(call: impl FnOnce() -> T) -> Result<T, String> {
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
pub(super) fn readable(data_type: &DataType) -> bool {
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

pub(super) fn float(value: f64) -> Value {
    // NaN and the infinities have no JSON form.
    serde_json::Number::from_f64(value).map_or(Value::Null, Value::Number)
}

pub(super) fn float32(value: f32) -> Value {
    // Through the shortest decimal form, so 0.1f32 becomes 0.1, not
    // 0.10000000149011612.
    match value.to_string().parse::<f64>() {
        Ok(v) if value.is_finite() => float(v),
        _ => Value::Null,
    }
}

pub(super) fn utf8(bytes: &[u8]) -> Result<Value, String> {
    match std::str::from_utf8(bytes) {
        Ok(text) => Ok(Value::String(text.to_owned())),
        Err(e) => Err(format!(
            "binary value is not valid UTF-8 text (byte offset {})",
            e.valid_up_to()
        )),
    }
}

pub(super) fn json_values(
    values: &dyn Array,
    range: std::ops::Range<usize>,
) -> Result<Value, String> {
    range
        .map(|j| json_value(values, j))
        .collect::<Result<Vec<_>, _>>()
        .map(Value::Array)
}

pub(super) fn dictionary_key(keys: &dyn Array, i: usize) -> Result<usize, String> {
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
pub(super) fn json_value(array: &dyn Array, i: usize) -> Result<Value, String> {
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
