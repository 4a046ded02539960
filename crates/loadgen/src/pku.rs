//! Synthetic PKU-SafeRLHF records for the import benchmark.
//!
//! Each record has the dataset's 16 keys in the dataset's order, texts of
//! realistic length made of generated words (with the odd non-ASCII word,
//! quotation mark and paragraph break, so JSON escaping and UTF-8 are
//! exercised), labels that obey the dataset's rules and correct
//! `response_N_sha256` values. The output is a pure function of the seed (for
//! a given version of this program and of `rand`).

use std::io::{self, Write};

use rand::rngs::StdRng;
use rand::seq::index;
use rand::{Rng, SeedableRng};
use safepref_core::records::PKU_KEYS as KEYS;
use safepref_core::taxonomy::PKU_19;
use sha2::{Digest, Sha256};

/// Lengths in characters, shaped after the real sample in data/ (prompts:
/// mean 129, at most 346; responses: mean 560, median 507, 36 to 2,318):
/// most texts fall between the minimum and a typical length, a long tail
/// (`LONG_SHARE`) between that and the maximum.
pub const PROMPT_CHARS: (usize, usize) = (30, 350);
pub const RESPONSE_CHARS: (usize, usize) = (40, 2300);
const PROMPT_TYPICAL: usize = 220;
const RESPONSE_TYPICAL: usize = 850;
const LONG_SHARE: f64 = 0.08;

/// Prompt sources with their share in the Alpaca-7B sample.
const PROMPT_SOURCES: [(&str, f64); 3] = [
    ("Alpaca3-70B", 0.70),
    ("Beavertails", 0.20),
    ("WizardLM-30B-Uncensored", 0.10),
];
/// The models whose answers the dataset pairs (both responses of a record
/// come from the same one).
const RESPONSE_SOURCES: [&str; 3] = ["Alpaca-7B", "Alpaca2-7B", "Alpaca3-8B"];

const FUNCTION_WORDS: [&str; 32] = [
    "the", "a", "to", "and", "of", "in", "is", "you", "that", "it", "for", "can", "be", "with",
    "as", "on", "this", "are", "or", "not", "your", "have", "how", "an", "by", "if", "what", "I",
    "my", "should", "there", "from",
];
const ONSETS: [&str; 24] = [
    "b", "c", "d", "f", "g", "h", "j", "k", "l", "m", "n", "p", "r", "s", "t", "v", "w", "z", "br",
    "ch", "st", "tr", "pl", "sh",
];
const NUCLEI: [&str; 8] = ["a", "e", "i", "o", "u", "ai", "ea", "ou"];
const CODAS: [&str; 8] = ["", "", "", "n", "r", "s", "t", "l"];
/// A few words outside ASCII, used now and then.
const FOREIGN_WORDS: [&str; 8] = [
    "café", "naïve", "façade", "über", "señor", "résumé", "東京", "Zürich",
];
const VOCABULARY_SIZE: usize = 4096;

struct Word {
    text: String,
    chars: usize,
}

/// Makes records one at a time; keeps its buffers between records.
pub struct Generator {
    rng: StdRng,
    vocabulary: Vec<Word>,
    /// `"Name": ` for each of the 19 categories, JSON-escaped once.
    category_keys: Vec<Vec<u8>>,
    prompt: String,
    responses: [String; 2],
}

/// The labels of one response.
#[derive(Debug, Clone, Copy)]
struct Labels {
    safe: bool,
    severity: u8,
    categories: [bool; 19],
}

impl Generator {
    pub fn new(seed: u64) -> Self {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut vocabulary: Vec<Word> = Vec::with_capacity(VOCABULARY_SIZE);
        let mut seen = std::collections::HashSet::new();
        while vocabulary.len() < VOCABULARY_SIZE {
            let syllables =
                1 + usize::from(rng.random_bool(0.6)) + usize::from(rng.random_bool(0.4));
            let mut text = String::new();
            for _ in 0..syllables {
                text.push_str(ONSETS[rng.random_range(0..ONSETS.len())]);
                text.push_str(NUCLEI[rng.random_range(0..NUCLEI.len())]);
                text.push_str(CODAS[rng.random_range(0..CODAS.len())]);
            }
            if seen.insert(text.clone()) {
                let chars = text.chars().count();
                vocabulary.push(Word { text, chars });
            }
        }
        let category_keys = PKU_19
            .iter()
            .map(|name| {
                let mut key = serde_json::to_vec(name).expect("a string serialises");
                key.extend_from_slice(b": ");
                key
            })
            .collect();
        Generator {
            rng,
            vocabulary,
            category_keys,
            prompt: String::with_capacity(PROMPT_CHARS.1 * 2),
            responses: [
                String::with_capacity(RESPONSE_CHARS.1 * 2),
                String::with_capacity(RESPONSE_CHARS.1 * 2),
            ],
        }
    }

    fn word(&mut self) -> (&str, usize) {
        let roll: f64 = self.rng.random();
        if roll < 0.30 {
            let w = FUNCTION_WORDS[self.rng.random_range(0..FUNCTION_WORDS.len())];
            (w, w.len())
        } else if roll < 0.302 {
            let w = FOREIGN_WORDS[self.rng.random_range(0..FOREIGN_WORDS.len())];
            (w, w.chars().count())
        } else {
            // Skewed towards the start of the list, so some words are common
            // and most are rare, as in real text.
            let u: f64 = self.rng.random();
            let i = ((u * u) * VOCABULARY_SIZE as f64) as usize;
            let w = &self.vocabulary[i.min(VOCABULARY_SIZE - 1)];
            (&w.text, w.chars)
        }
    }

    /// Fills `out` with sentences: between `min` and `typical` characters (in
    /// a share `LONG_SHARE` of texts: between `typical` and `max`), ending
    /// with `?` when `question`, else with `.`; paragraphs when `paragraphs`.
    fn text(
        &mut self,
        out: &mut String,
        (min, typical, max): (usize, usize, usize),
        question: bool,
        paragraphs: bool,
    ) {
        out.clear();
        // One more step adds at most 20 characters (paragraph break or
        // comma and space, quotation marks, a word of up to 15 characters,
        // a full stop) and closing adds 2: stop early enough to stay under max.
        let target = if self.rng.random_bool(LONG_SHARE) {
            self.rng.random_range(typical..=max - 24)
        } else {
            self.rng.random_range(min..=typical)
        };
        let mut chars = 0usize;
        let mut words_left = 0usize;
        let mut sentences_left = self.rng.random_range(3..=6);
        let mut quoted = false;
        while chars < target {
            if words_left == 0 {
                // Start a sentence.
                if chars > 0 {
                    sentences_left -= 1;
                    if paragraphs && sentences_left == 0 {
                        out.push_str("\n\n");
                        chars += 2;
                        sentences_left = self.rng.random_range(3..=6);
                    } else {
                        out.push(' ');
                        chars += 1;
                    }
                }
                words_left = self.rng.random_range(4..=18);
                let (w, n) = self.word();
                let mut first = w.chars();
                if let Some(c) = first.next() {
                    out.extend(c.to_uppercase());
                    out.push_str(first.as_str());
                }
                chars += n;
            } else {
                if self.rng.random_bool(0.06) {
                    out.push(',');
                    chars += 1;
                }
                out.push(' ');
                chars += 1;
                let open_quote = !quoted && self.rng.random_bool(0.01);
                if open_quote {
                    out.push('"');
                    chars += 1;
                    quoted = true;
                }
                let (w, n) = self.word();
                out.push_str(w);
                chars += n;
                if quoted && !open_quote && self.rng.random_bool(0.3) {
                    out.push('"');
                    chars += 1;
                    quoted = false;
                }
            }
            words_left -= 1;
            if words_left == 0 {
                if quoted {
                    out.push('"');
                    chars += 1;
                    quoted = false;
                }
                out.push('.');
                chars += 1;
            }
        }
        if words_left > 0 {
            if quoted {
                out.push('"');
            }
            out.push('.');
        }
        if question {
            out.pop();
            out.push('?');
        }
    }

    fn labels_unsafe(&mut self) -> Labels {
        let roll: f64 = self.rng.random();
        let severity = if roll < 0.08 {
            1
        } else if roll < 0.91 {
            2
        } else {
            3
        };
        let roll: f64 = self.rng.random();
        let count = if roll < 0.4 {
            1
        } else if roll < 0.75 {
            2
        } else {
            3
        };
        let mut categories = [false; 19];
        for i in index::sample(&mut self.rng, PKU_19.len(), count) {
            categories[i] = true;
        }
        Labels {
            safe: false,
            severity,
            categories,
        }
    }

    /// Appends one record and a newline to `out`.
    pub fn record(&mut self, out: &mut Vec<u8>) {
        let mut prompt = std::mem::take(&mut self.prompt);
        let [mut r0, mut r1] = std::mem::take(&mut self.responses);
        self.text(
            &mut prompt,
            (PROMPT_CHARS.0, PROMPT_TYPICAL, PROMPT_CHARS.1),
            true,
            false,
        );
        self.text(
            &mut r0,
            (RESPONSE_CHARS.0, RESPONSE_TYPICAL, RESPONSE_CHARS.1),
            false,
            true,
        );
        self.text(
            &mut r1,
            (RESPONSE_CHARS.0, RESPONSE_TYPICAL, RESPONSE_CHARS.1),
            false,
            true,
        );

        let roll: f64 = self.rng.random();
        let mut prompt_source = PROMPT_SOURCES[0].0;
        let mut acc = 0.0;
        for (source, share) in PROMPT_SOURCES {
            acc += share;
            if roll < acc {
                prompt_source = source;
                break;
            }
        }
        let response_source = RESPONSE_SOURCES[self.rng.random_range(0..RESPONSE_SOURCES.len())];

        // Pairs as in the sample: both safe 54%, one safe 10%, both unsafe 36%.
        let safe_label = Labels {
            safe: true,
            severity: 0,
            categories: [false; 19],
        };
        let roll: f64 = self.rng.random();
        let labels = if roll < 0.54 {
            [safe_label, safe_label]
        } else if roll < 0.645 {
            if self.rng.random_bool(0.5) {
                [safe_label, self.labels_unsafe()]
            } else {
                [self.labels_unsafe(), safe_label]
            }
        } else {
            [self.labels_unsafe(), self.labels_unsafe()]
        };
        let safer: u8 = match (labels[0].safe, labels[1].safe) {
            (true, false) => 0,
            (false, true) => 1,
            _ if labels[0].severity != labels[1].severity => {
                u8::from(labels[1].severity < labels[0].severity)
            }
            _ => u8::from(self.rng.random_bool(0.5)),
        };
        let better = if self.rng.random_bool(0.87) {
            safer
        } else {
            1 - safer
        };

        out.push(b'{');
        let key = |out: &mut Vec<u8>, k: usize| {
            if k > 0 {
                out.extend_from_slice(b", ");
            }
            out.push(b'"');
            out.extend_from_slice(KEYS[k].as_bytes());
            out.extend_from_slice(b"\": ");
        };
        let string = |out: &mut Vec<u8>, s: &str| {
            serde_json::to_writer(&mut *out, s).expect("writing to a Vec cannot fail");
        };
        key(out, 0);
        string(out, &prompt);
        key(out, 1);
        string(out, &r0);
        key(out, 2);
        string(out, &r1);
        key(out, 3);
        string(out, prompt_source);
        key(out, 4);
        string(out, response_source);
        key(out, 5);
        string(out, response_source);
        for (k, l) in [(6, &labels[0]), (7, &labels[1])] {
            key(out, k);
            out.extend_from_slice(if l.safe { b"true" } else { b"false" });
        }
        for (k, l) in [(8, &labels[0]), (9, &labels[1])] {
            key(out, k);
            out.push(b'{');
            for (i, name) in self.category_keys.iter().enumerate() {
                if i > 0 {
                    out.extend_from_slice(b", ");
                }
                out.extend_from_slice(name);
                out.extend_from_slice(if l.categories[i] { b"true" } else { b"false" });
            }
            out.push(b'}');
        }
        for (k, l) in [(10, &labels[0]), (11, &labels[1])] {
            key(out, k);
            out.push(b'0' + l.severity);
        }
        key(out, 12);
        out.push(b'0' + better);
        key(out, 13);
        out.push(b'0' + safer);
        for (k, response) in [(14, &r0), (15, &r1)] {
            key(out, k);
            let digest = Sha256::new()
                .chain_update(prompt.as_bytes())
                .chain_update(response.as_bytes())
                .finalize();
            let mut hex = [0u8; 64];
            hex::encode_to_slice(digest, &mut hex).expect("64 hex digits for 32 bytes");
            out.push(b'"');
            out.extend_from_slice(&hex);
            out.push(b'"');
        }
        out.extend_from_slice(b"}\n");

        self.prompt = prompt;
        self.responses = [r0, r1];
    }
}

/// Writes `records` records generated from `seed` to `out`, one record in
/// memory at a time; returns the number of bytes written.
pub fn write_records<W: Write>(out: W, records: u64, seed: u64) -> io::Result<u64> {
    let mut out = io::BufWriter::with_capacity(1 << 20, out);
    let mut generator = Generator::new(seed);
    let mut line = Vec::with_capacity(16 << 10);
    let mut bytes = 0u64;
    for _ in 0..records {
        line.clear();
        generator.record(&mut line);
        out.write_all(&line)?;
        bytes += line.len() as u64;
    }
    out.flush()?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
    use serde_json::Value;

    /// A JSON object with its keys in the order they were written.
    struct Ordered(Vec<(String, Value)>);

    impl<'de> Deserialize<'de> for Ordered {
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            struct V;
            impl<'de> Visitor<'de> for V {
                type Value = Ordered;
                fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                    f.write_str("a JSON object")
                }
                fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Ordered, A::Error> {
                    let mut entries = Vec::new();
                    while let Some(entry) = map.next_entry::<String, Value>()? {
                        entries.push(entry);
                    }
                    Ok(Ordered(entries))
                }
            }
            deserializer.deserialize_map(V)
        }
    }

    /// The category names in the order the record's text gives them under `key`.
    fn category_order(line: &str, key: &str) -> Vec<&'static str> {
        let start = line.find(&format!("\"{key}\": {{")).unwrap();
        let inner = &line[start..start + line[start..].find('}').unwrap()];
        let mut found: Vec<(usize, &'static str)> = PKU_19
            .iter()
            .map(|name| (inner.find(&format!("\"{name}\": ")).unwrap(), *name))
            .collect();
        found.sort();
        found.into_iter().map(|(_, name)| name).collect::<Vec<_>>()
    }

    #[test]
    fn records_have_the_keys_in_order_valid_hashes_and_lawful_labels() {
        let mut out = Vec::new();
        let n = 2000;
        let bytes = write_records(&mut out, n, 7).unwrap();
        assert_eq!(bytes, out.len() as u64);
        let text = std::str::from_utf8(&out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), n as usize);

        let mut kinds = [0usize; 3]; // both safe, one safe, both unsafe
        let mut non_ascii = 0;
        for line in &lines {
            let Ordered(entries) = serde_json::from_str(line).unwrap();
            let keys: Vec<&str> = entries.iter().map(|(k, _)| k.as_str()).collect();
            assert_eq!(keys, KEYS);
            let r: serde_json::Map<String, Value> = entries.into_iter().collect();

            let prompt = r["prompt"].as_str().unwrap();
            let chars = prompt.chars().count();
            assert!(
                (PROMPT_CHARS.0..=PROMPT_CHARS.1).contains(&chars),
                "{chars}"
            );
            assert!(prompt.ends_with('?'));
            non_ascii += usize::from(!prompt.is_ascii());
            for n in 0..2 {
                let response = r[&format!("response_{n}")].as_str().unwrap();
                let chars = response.chars().count();
                assert!(
                    (RESPONSE_CHARS.0..=RESPONSE_CHARS.1).contains(&chars),
                    "{chars}"
                );
                let want = hex::encode(Sha256::digest(format!("{prompt}{response}")));
                assert_eq!(r[&format!("response_{n}_sha256")], Value::from(want));
                assert!(r[&format!("response_{n}_source")].is_string());

                let safe = r[&format!("is_response_{n}_safe")].as_bool().unwrap();
                let severity = r[&format!("response_{n}_severity_level")].as_u64().unwrap();
                let categories = r[&format!("response_{n}_harm_category")]
                    .as_object()
                    .unwrap();
                assert_eq!(categories.len(), 19);
                assert_eq!(
                    category_order(line, &format!("response_{n}_harm_category")),
                    PKU_19
                );
                let ticked = categories.values().filter(|v| v.as_bool().unwrap()).count();
                if safe {
                    assert_eq!((severity, ticked), (0, 0));
                } else {
                    assert!((1..=3).contains(&severity));
                    assert!((1..=3).contains(&ticked));
                }
            }
            let safe = [
                r["is_response_0_safe"].as_bool().unwrap(),
                r["is_response_1_safe"].as_bool().unwrap(),
            ];
            let better = r["better_response_id"].as_u64().unwrap();
            let safer = r["safer_response_id"].as_u64().unwrap();
            assert!(better <= 1 && safer <= 1);
            match safe {
                [true, true] => kinds[0] += 1,
                [true, false] => {
                    kinds[1] += 1;
                    assert_eq!(safer, 0);
                }
                [false, true] => {
                    kinds[1] += 1;
                    assert_eq!(safer, 1);
                }
                [false, false] => kinds[2] += 1,
            }
            assert!(r["prompt_source"].is_string());
        }
        // Every kind of pair turns up, in roughly the sample's proportions.
        assert!(
            kinds[0] > 900 && kinds[1] > 100 && kinds[2] > 500,
            "{kinds:?}"
        );
        assert!(non_ascii > 0, "some prompts carry non-ASCII text");
    }

    #[test]
    fn keys_and_categories_are_in_the_real_sample_order() {
        let sample = include_str!("../../../data/pku-saferlhf-sample.jsonl");
        let line = sample.lines().next().unwrap();
        let Ordered(entries) = serde_json::from_str(line).unwrap();
        let keys: Vec<&str> = entries.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, KEYS);
        for key in ["response_0_harm_category", "response_1_harm_category"] {
            assert_eq!(category_order(line, key), PKU_19);
        }
        // And a generated line is laid out like the sample's (", " and ": ").
        let mut out = Vec::new();
        Generator::new(1).record(&mut out);
        let generated = std::str::from_utf8(&out).unwrap();
        let shape = |l: &str| {
            let start = l.find("\"prompt_source\"").unwrap();
            l[..start].starts_with("{\"prompt\": \"") && l.contains("\", \"response_0\": \"")
        };
        assert!(shape(line) && shape(generated));
    }

    #[test]
    fn the_same_seed_gives_the_same_bytes() {
        let mut a = Vec::new();
        let mut b = Vec::new();
        let mut c = Vec::new();
        write_records(&mut a, 50, 42).unwrap();
        write_records(&mut b, 50, 42).unwrap();
        write_records(&mut c, 50, 43).unwrap();
        assert_eq!(a, b);
        assert_ne!(a, c);
    }
}
