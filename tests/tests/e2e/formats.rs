//! Writing the same records as CSV, Parquet and gzip, as other tools do.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::{ArrayRef, BooleanArray, Int64Array, RecordBatch, StringArray, StructArray};
use arrow_schema::{DataType, Field, Fields};
use serde_json::{Map, Value};

/// CSV with a header; maps and lists as JSON text, booleans as Python prints them.
pub fn write_csv(dir: &Path, name: &str, rows: &[Map<String, Value>]) -> PathBuf {
    let path = dir.join(name);
    let mut writer = csv::Writer::from_path(&path).unwrap();
    let keys: Vec<&String> = rows[0].keys().collect();
    writer.write_record(&keys).unwrap();
    for row in rows {
        let cells: Vec<String> = keys
            .iter()
            .map(|k| match &row[*k] {
                Value::String(s) => s.clone(),
                Value::Bool(true) => "True".into(),
                Value::Bool(false) => "False".into(),
                other => other.to_string(),
            })
            .collect();
        writer.write_record(&cells).unwrap();
    }
    writer.flush().unwrap();
    path
}

/// Parquet as Hugging Face stores PKU-SafeRLHF: harm categories a struct of booleans.
pub fn write_parquet(dir: &Path, name: &str, rows: &[Map<String, Value>]) -> PathBuf {
    let keys: Vec<String> = rows[0].keys().cloned().collect();
    let mut fields = Vec::new();
    let mut columns: Vec<ArrayRef> = Vec::new();
    for key in &keys {
        let values: Vec<&Value> = rows.iter().map(|r| &r[key]).collect();
        let (field, column): (Field, ArrayRef) = match values[0] {
            Value::String(_) => (
                Field::new(key, DataType::Utf8, true),
                Arc::new(StringArray::from(
                    values.iter().map(|v| v.as_str()).collect::<Vec<_>>(),
                )),
            ),
            Value::Bool(_) => (
                Field::new(key, DataType::Boolean, true),
                Arc::new(BooleanArray::from(
                    values.iter().map(|v| v.as_bool()).collect::<Vec<_>>(),
                )),
            ),
            Value::Number(_) => (
                Field::new(key, DataType::Int64, true),
                Arc::new(Int64Array::from(
                    values.iter().map(|v| v.as_i64()).collect::<Vec<_>>(),
                )),
            ),
            Value::Object(first) => {
                let names: Vec<&String> = first.keys().collect();
                let parts: Vec<(Arc<Field>, ArrayRef)> = names
                    .iter()
                    .map(|n| {
                        let bools: Vec<Option<bool>> =
                            values.iter().map(|v| v[n.as_str()].as_bool()).collect();
                        (
                            Arc::new(Field::new(n.as_str(), DataType::Boolean, true)),
                            Arc::new(BooleanArray::from(bools)) as ArrayRef,
                        )
                    })
                    .collect();
                let struct_fields: Fields = parts.iter().map(|(f, _)| f.clone()).collect();
                (
                    Field::new(key, DataType::Struct(struct_fields), true),
                    Arc::new(StructArray::from(parts)),
                )
            }
            other => panic!("no Parquet column for {other}"),
        };
        fields.push(field);
        columns.push(column);
    }
    let schema = Arc::new(arrow_schema::Schema::new(fields));
    let batch = RecordBatch::try_new(schema.clone(), columns).unwrap();
    let path = dir.join(name);
    let file = std::fs::File::create(&path).unwrap();
    let mut writer = parquet::arrow::ArrowWriter::try_new(file, schema, None).unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
    path
}

/// A gzip-compressed copy beside the file, named `<file>.gz`.
pub fn gzip(path: &Path) -> PathBuf {
    let target = PathBuf::from(format!("{}.gz", path.display()));
    let mut encoder = flate2::write::GzEncoder::new(
        std::fs::File::create(&target).unwrap(),
        flate2::Compression::default(),
    );
    std::io::copy(&mut std::fs::File::open(path).unwrap(), &mut encoder).unwrap();
    encoder.finish().unwrap();
    target
}
