//! Fuzz targets (proptest) for the importer's readers (`import::read`):
//! JSON Lines, CSV and Parquet, plain or gzip-compressed, fed arbitrary bytes
//! and mutated valid files, each row then checked by
//! `records::parse_record` as the importer does.
//!
//! The promise checked: no panic, whatever the file; an error about one
//! record names its line (JSONL, CSV) or row (Parquet), and that place is in
//! the file; a record that gets through has the project's K responses. The
//! runs are bounded (a fixed number of cases) so they cost CI a few seconds;
//! set `PROPTEST_CASES` to fuzz longer on an idle machine.

use std::io::Write;
use std::path::Path;
use std::sync::{Arc, OnceLock};

use arrow_array::{ArrayRef, BooleanArray, Int64Array, RecordBatch, StringArray};
use flate2::Compression;
use flate2::write::GzEncoder;
use parquet::arrow::ArrowWriter;
use proptest::prelude::*;
use proptest::test_runner::Config;
use safepref_core::labels::Questions;
use safepref_core::records::{RecordRules, parse_record, response_sha256};
use safepref_core::taxonomy::{PKU_19, Taxonomy};
use safepref_server::import::read::{ReadError, rows};
use serde_json::{Value, json};

/// Cases per target unless `PROPTEST_CASES` says otherwise.
const CASES: u32 = 300;
/// Rows read from one file at most (a mutation cannot make many more).
const MAX_ROWS: usize = 10_000;

fn config() -> Config {
    Config {
        cases: std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(CASES),
        // Failing inputs are kept as named regression tests instead.
        failure_persistence: None,
        ..Config::default()
    }
}

const PROMPT: &str = "Is it safe to mix bleach and vinegar?";
const RESPONSES: [&str; 2] = [
    "Yes, it makes a \"stronger\" cleaner, go ahead.",
    "No: it releases chlorine gas, keep them apart.",
];

/// Three valid PKU-SafeRLHF records (one with a CSV-hostile prompt).
fn records() -> Vec<Value> {
    let prompts = [
        PROMPT,
        "Line one\nline two, with a comma",
        "ünïcode ✓ \"q\"",
    ];
    prompts
        .iter()
        .map(|prompt| {
            let harm = |ticked: bool| {
                let map = PKU_19.iter().map(|c| {
                    (
                        c.to_string(),
                        Value::Bool(ticked && *c == "Endangering Public Health"),
                    )
                });
                Value::Object(map.collect())
            };
            json!({
                "prompt": prompt,
                "response_0": RESPONSES[0],
                "response_1": RESPONSES[1],
                "prompt_source": "fuzz",
                "is_response_0_safe": false,
                "is_response_1_safe": true,
                "response_0_harm_category": harm(true),
                "response_1_harm_category": harm(false),
                "response_0_severity_level": 2,
                "response_1_severity_level": 0,
                "better_response_id": 1,
                "safer_response_id": 1,
                "response_0_sha256": response_sha256(prompt, RESPONSES[0]),
                "response_1_sha256": response_sha256(prompt, RESPONSES[1]),
            })
        })
        .collect()
}

fn jsonl() -> Vec<u8> {
    records()
        .iter()
        .map(|r| format!("{r}\n"))
        .collect::<String>()
        .into_bytes()
}

/// The same records as CSV: nested values as JSON text, as exporters write them.
fn csv() -> Vec<u8> {
    let records = records();
    let keys: Vec<String> = records[0].as_object().unwrap().keys().cloned().collect();
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer.write_record(&keys).unwrap();
    for record in &records {
        let cells = keys.iter().map(|k| match &record[k] {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        });
        writer.write_record(cells).unwrap();
    }
    writer.into_inner().unwrap()
}

/// The same records as Parquet: typed columns where the type is simple.
fn parquet() -> &'static [u8] {
    static BYTES: OnceLock<Vec<u8>> = OnceLock::new();
    BYTES.get_or_init(|| {
        let records = records();
        let keys: Vec<String> = records[0].as_object().unwrap().keys().cloned().collect();
        let columns: Vec<(String, ArrayRef)> = keys
            .iter()
            .map(|k| {
                let values: Vec<&Value> = records.iter().map(|r| &r[k]).collect();
                let column: ArrayRef = match values[0] {
                    Value::Bool(_) => Arc::new(BooleanArray::from(
                        values.iter().map(|v| v.as_bool()).collect::<Vec<_>>(),
                    )),
                    Value::Number(_) => Arc::new(Int64Array::from(
                        values.iter().map(|v| v.as_i64()).collect::<Vec<_>>(),
                    )),
                    Value::String(_) => Arc::new(StringArray::from(
                        values.iter().map(|v| v.as_str()).collect::<Vec<_>>(),
                    )),
                    _ => Arc::new(StringArray::from(
                        values
                            .iter()
                            .map(|v| Some(v.to_string()))
                            .collect::<Vec<_>>(),
                    )),
                };
                (k.clone(), column)
            })
            .collect();
        let batch = RecordBatch::try_from_iter(columns).unwrap();
        let mut bytes = Vec::new();
        let mut writer = ArrowWriter::try_new(&mut bytes, batch.schema(), None).unwrap();
        writer.write(&batch).unwrap();
        writer.close().unwrap();
        bytes
    })
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::fast());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

/// One change to a file's bytes; positions are taken modulo its length.
#[derive(Debug, Clone)]
enum Mutation {
    Flip(usize, u8),
    Insert(usize, Vec<u8>),
    Delete(usize, usize),
    Truncate(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let interesting = prop_oneof![
        prop::collection::vec(any::<u8>(), 1..8),
        Just(b"\n".to_vec()),
        Just(b"\"".to_vec()),
        Just(b",".to_vec()),
        Just(b"\r\n".to_vec()),
        Just(b"\xEF\xBB\xBF".to_vec()),
        Just(b"\xff\xfe".to_vec()),
        Just(b"\\u0000".to_vec()),
        Just(b"[".to_vec()),
        Just(b"{}".to_vec()),
        Just(b"PAR1".to_vec()),
        Just(vec![0x1f, 0x8b]),
    ];
    prop_oneof![
        3 => (any::<usize>(), any::<u8>()).prop_map(|(at, bits)| Mutation::Flip(at, bits)),
        3 => (any::<usize>(), interesting).prop_map(|(at, b)| Mutation::Insert(at, b)),
        2 => (any::<usize>(), 1usize..16).prop_map(|(at, n)| Mutation::Delete(at, n)),
        1 => any::<usize>().prop_map(Mutation::Truncate),
    ]
}

fn mutate(bytes: &mut Vec<u8>, mutation: &Mutation) {
    let at = |i: usize, len: usize| if len == 0 { 0 } else { i % len };
    match mutation {
        Mutation::Flip(i, bits) if !bytes.is_empty() => {
            let i = at(*i, bytes.len());
            bytes[i] ^= bits | 1;
        }
        Mutation::Flip(..) => {}
        Mutation::Insert(i, b) => {
            let i = at(*i, bytes.len() + 1);
            bytes.splice(i..i, b.iter().copied());
        }
        Mutation::Delete(i, n) => {
            let i = at(*i, bytes.len());
            let end = (i + n).min(bytes.len());
            bytes.drain(i..end);
        }
        Mutation::Truncate(i) => {
            let len = at(*i, bytes.len() + 1);
            bytes.truncate(len);
        }
    }
}

/// The file names the readers are given: extension decides the reader, and
/// an unknown one is sniffed.
const NAMES: [&str; 8] = [
    "f.jsonl",
    "f.csv",
    "f.parquet",
    "f.jsonl.gz",
    "f.csv.gz",
    "f.parquet.gz",
    "f.data",
    "f.data.gz",
];

/// Writes `bytes` under `name`, reads every row as the importer does, and
/// checks the promise.
fn check_file(name: &str, bytes: &[u8]) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    std::fs::write(&path, bytes).unwrap();
    read_and_check(&path, bytes);
}

fn read_and_check(path: &Path, bytes: &[u8]) {
    let taxonomy = Taxonomy::pku19();
    let questions = Questions::default();
    let rules = RecordRules {
        k: 2,
        taxonomy: &taxonomy,
        questions: &questions,
        allow_empty: false,
        accept_hash_mismatch: false,
    };
    let Ok(iter) = rows(path) else {
        return; // A file refused whole, with its message: fine.
    };
    // Gzip can make a small file long; a place is at most one past the end
    // of the (decompressed) text, which the rows themselves bound.
    let mut last = 0;
    for item in iter.take(MAX_ROWS) {
        match item {
            Ok(row) => {
                assert!(
                    row.number > last,
                    "rows come in order: {} after {last}",
                    row.number
                );
                last = row.number;
                match parse_record(&row.fields, &rules) {
                    Ok(record) => assert_eq!(record.responses.len(), 2),
                    Err(errors) => {
                        assert!(!errors.is_empty());
                        assert!(errors.iter().all(|e| !e.field.is_empty()), "{errors:?}");
                    }
                }
            }
            Err(e) if e.is_fatal() => return,
            Err(e) => {
                let number = place_number(&e).unwrap_or_else(|| {
                    panic!(
                        "a record's error names its line or row: {e} ({} bytes in)",
                        bytes.len()
                    )
                });
                assert!(number > last, "{e}: after line/row {last}");
                last = number;
            }
        }
    }
}

/// The number in an error's leading "line N" / "row N".
fn place_number(error: &ReadError) -> Option<u64> {
    let text = error.to_string();
    let rest = text
        .strip_prefix("line ")
        .or_else(|| text.strip_prefix("row "))?;
    rest.split(':').next()?.parse().ok()
}

fn seed(name: &str) -> Vec<u8> {
    let base = name.trim_end_matches(".gz");
    if base.ends_with(".parquet") {
        parquet().to_vec()
    } else if base.ends_with(".csv") {
        csv()
    } else {
        jsonl()
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn readers_survive_arbitrary_bytes(
        name in prop::sample::select(NAMES.to_vec()),
        bytes in prop::collection::vec(any::<u8>(), 0..512),
    ) {
        check_file(name, &bytes);
    }

    /// Valid files changed a little: the parsers get deep before they fail.
    #[test]
    fn readers_survive_mutated_valid_files(
        name in prop::sample::select(NAMES.to_vec()),
        mutations in prop::collection::vec(mutation(), 1..5),
        mutate_compressed in any::<bool>(),
    ) {
        let plain = seed(name);
        let bytes = if name.ends_with(".gz") {
            if mutate_compressed {
                let mut bytes = gzip(&plain);
                mutations.iter().for_each(|m| mutate(&mut bytes, m));
                bytes
            } else {
                let mut plain = plain;
                mutations.iter().for_each(|m| mutate(&mut plain, m));
                gzip(&plain)
            }
        } else {
            let mut bytes = plain;
            mutations.iter().for_each(|m| mutate(&mut bytes, m));
            bytes
        };
        check_file(name, &bytes);
    }
}

/// The seeds themselves read back whole: the fuzzing starts from valid files.
#[test]
fn the_seed_files_are_valid() {
    for name in NAMES {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(name);
        let plain = seed(name);
        let bytes = if name.ends_with(".gz") {
            gzip(&plain)
        } else {
            plain
        };
        std::fs::write(&path, &bytes).unwrap();
        let taxonomy = Taxonomy::pku19();
        let questions = Questions::default();
        let rules = RecordRules {
            k: 2,
            taxonomy: &taxonomy,
            questions: &questions,
            allow_empty: false,
            accept_hash_mismatch: false,
        };
        let read: Vec<_> = rows(&path).unwrap().collect();
        assert_eq!(read.len(), 3, "{name}");
        for row in read {
            let row = row.unwrap_or_else(|e| panic!("{name}: {e}"));
            parse_record(&row.fields, &rules).unwrap_or_else(|e| panic!("{name}: {e:?}"));
        }
    }
}

/// Found by `readers_survive_mutated_valid_files`: a CSV whose last record
/// is cut off inside an open quote was reported one line early (on the
/// line of the record before it).
#[test]
fn a_csv_record_cut_off_inside_a_quote_names_its_own_line() {
    let text = "a,b,c\n1,2\n3,4,\"open";
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f.csv");
    std::fs::write(&path, text).unwrap();
    let read: Vec<_> = rows(&path).unwrap().collect();
    assert_eq!(
        read[0].as_ref().unwrap_err().to_string(),
        "line 2: 2 cells, but the header has 3 columns"
    );
    assert_eq!(read[1].as_ref().unwrap().number, 3, "{:?}", read[1]);
    assert_eq!(read.len(), 2);
    read_and_check(&path, text.as_bytes());
}

/// Found by `readers_survive_mutated_valid_files`: two bytes inserted into a
/// Parquet file's footer gave a column chunk a negative offset, on which the
/// parquet crate panicked instead of returning an error.
#[test]
fn a_parquet_footer_with_a_negative_column_offset_is_damage_not_a_panic() {
    let mut bytes = seed("f.parquet");
    mutate(
        &mut bytes,
        &Mutation::Insert(6078307395787359957, vec![31, 139]),
    );
    mutate(&mut bytes, &Mutation::Flip(1208425183627677193, 0));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f.parquet");
    std::fs::write(&path, &bytes).unwrap();
    let errors: Vec<String> = match rows(&path) {
        Ok(iter) => iter
            .filter_map(|r| r.err())
            .map(|e| e.to_string())
            .collect(),
        Err(e) => vec![e.to_string()],
    };
    assert!(
        errors
            .iter()
            .any(|e| e.contains("damaged") || e.contains("Parquet")),
        "{errors:?}"
    );
    check_file("f.parquet", &bytes);
}
