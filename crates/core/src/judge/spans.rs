//! Where the answer's JSON is in the model's text, and where each value is
//! in it. `serde_json` says what the values are but not where they were
//! written; log-probability scores need the where, so a small scanner
//! records the byte span of every value by its path.

use std::ops::Range;

use serde_json::{Map, Value};

/// The answer's JSON object: its bytes in the text and its fields.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Found {
    pub span: Range<usize>,
    pub object: Map<String, Value>,
}

/// The answer's object in `text`: the first balanced `{…}` that reads as a
/// JSON object with a `labels` or `responses` key, else the first that reads
/// as a JSON object at all, so that a code fence or prose around the answer
/// (even prose quoting some other JSON first) does not matter. Braces are
/// balanced from the outside in: an object holding other objects is taken
/// whole, and a brace in a JSON string does not count. When a balanced
/// stretch is not JSON (prose such as "{see below}"), the search goes on
/// from the character after its `{`.
///
/// Err says why nothing was found, for the model to read.
pub(crate) fn find_object(text: &str) -> Result<Found, String> {
    let bytes = text.as_bytes();
    let mut from = 0;
    let mut last_error = None;
    let mut first = None;
    while let Some(offset) = text[from..].find('{') {
        let start = from + offset;
        let Some(end) = balanced_end(bytes, start) else {
            // Nothing after this opens and closes either: the answer was
            // cut off or is not JSON. An inner object of a truncated answer
            // is not taken for the answer.
            return first.ok_or_else(|| {
                last_error.unwrap_or_else(|| {
                    "the JSON object is not closed: a \"}\" is missing (was the answer cut off?)"
                        .to_string()
                })
            });
        };
        // A stretch from "{" to its "}" is an object whenever it is JSON.
        match serde_json::from_str::<Map<String, Value>>(&text[start..end]) {
            Ok(object) => {
                let found = Found {
                    span: start..end,
                    object,
                };
                if is_answer(&found.object) {
                    return Ok(found);
                }
                first.get_or_insert(found);
                from = end;
                continue;
            }
            Err(e) => {
                last_error.get_or_insert_with(|| format!("the JSON could not be read: {e}"));
            }
        }
        from = start + 1;
    }
    first.ok_or_else(|| last_error.unwrap_or_else(|| "the answer holds no JSON object".to_string()))
}

/// Whether an object is shaped like an answer, wrapped or bare.
fn is_answer(object: &Map<String, Value>) -> bool {
    object.contains_key("labels") || object.contains_key("responses")
}

/// The end (exclusive) of the `{…}` opening at `start`, skipping JSON
/// strings and their escapes.
fn balanced_end(bytes: &[u8], start: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for (i, &b) in bytes.iter().enumerate().skip(start) {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' => depth += 1,
            b'}' => {
                depth -= 1;
                if depth == 0 {
                    return Some(i + 1);
                }
            }
            _ => {}
        }
    }
    None
}

/// The byte span of every value inside the JSON object that starts at
/// `start`, by path: `labels.responses[0].safe`, `helpfulness`. Spans are
/// of the value as written (a string with its quotes, an array with its
/// brackets). None when the text there is not JSON.
pub(crate) fn value_spans(text: &str, start: usize) -> Option<Vec<(String, Range<usize>)>> {
    let mut scanner = Scanner {
        bytes: text.as_bytes(),
        at: start,
        spans: Vec::new(),
    };
    scanner.value(String::new())?;
    Some(scanner.spans)
}

struct Scanner<'a> {
    bytes: &'a [u8],
    at: usize,
    spans: Vec<(String, Range<usize>)>,
}

impl Scanner<'_> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn skip_space(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.at += 1;
        }
    }

    fn eat(&mut self, b: u8) -> Option<()> {
        self.skip_space();
        (self.peek() == Some(b)).then(|| self.at += 1)
    }

    /// Scans one value and records its span under `path` (the root, with
    /// an empty path, is not recorded).
    fn value(&mut self, path: String) -> Option<()> {
        self.skip_space();
        let start = self.at;
        match self.peek()? {
            b'{' => self.object(&path)?,
            b'[' => self.array(&path)?,
            b'"' => {
                self.string()?;
            }
            _ => {
                // A number, true, false or null: serde_json has read the
                // whole object already, so the scanner only needs the extent.
                let len = self.bytes[start..]
                    .iter()
                    .take_while(|b| b.is_ascii_alphanumeric() || b"+-.".contains(b))
                    .count();
                if len == 0 {
                    return None;
                }
                self.at += len;
            }
        }
        if !path.is_empty() {
            self.spans.push((path, start..self.at));
        }
        Some(())
    }

    fn object(&mut self, path: &str) -> Option<()> {
        self.eat(b'{')?;
        if self.eat(b'}').is_some() {
            return Some(());
        }
        loop {
            self.skip_space();
            let key = self.string()?;
            self.eat(b':')?;
            let child = if path.is_empty() {
                key
            } else {
                format!("{path}.{key}")
            };
            self.value(child)?;
            if self.eat(b',').is_none() {
                return self.eat(b'}');
            }
        }
    }

    fn array(&mut self, path: &str) -> Option<()> {
        self.eat(b'[')?;
        if self.eat(b']').is_some() {
            return Some(());
        }
        let mut i = 0;
        loop {
            self.value(format!("{path}[{i}]"))?;
            i += 1;
            if self.eat(b',').is_none() {
                return self.eat(b']');
            }
        }
    }

    /// A JSON string, decoded (keys are compared decoded).
    fn string(&mut self) -> Option<String> {
        let start = self.at;
        if self.peek()? != b'"' {
            return None;
        }
        let mut escaped = false;
        for (i, &b) in self.bytes.iter().enumerate().skip(start + 1) {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => {
                    self.at = i + 1;
                    let raw = std::str::from_utf8(&self.bytes[start..self.at]).ok()?;
                    return serde_json::from_str(raw).ok();
                }
                _ => {}
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span_of<'t>(text: &'t str, spans: &[(String, Range<usize>)], path: &str) -> &'t str {
        let (_, range) = spans
            .iter()
            .find(|(p, _)| p == path)
            .unwrap_or_else(|| panic!("no span for {path}: {spans:?}"));
        &text[range.clone()]
    }

    #[test]
    fn the_object_is_found_in_fences_and_prose() {
        let fenced = "```json\n{\"a\": 1}\n```";
        assert_eq!(find_object(fenced).unwrap().span, 8..16);
        let prose = "Here {is} my answer: {\"a\": {\"b\": \"}{\"}} — done.";
        let found = find_object(prose).unwrap();
        assert_eq!(&prose[found.span], "{\"a\": {\"b\": \"}{\"}}");
        assert_eq!(found.object["a"]["b"], "}{");
    }

    #[test]
    fn no_object_says_why() {
        assert!(
            find_object("I cannot help with that.")
                .unwrap_err()
                .contains("no JSON object")
        );
        assert!(
            find_object("{\"a\": [1, 2}")
                .unwrap_err()
                .contains("could not be read")
        );
        assert!(
            find_object("{\"labels\": {\"responses\": []}")
                .unwrap_err()
                .contains("not closed")
        );
    }

    #[test]
    fn every_value_has_its_span_by_path() {
        let text = r#"ok {"labels": {"responses": [{"safe": false, "categories": ["Drugs", "a\"b"], "severity": 2}], "helpfulness": [1, 0]}, "x": null, "n": -1.5e3}"#;
        let spans = value_spans(text, 3).unwrap();
        assert_eq!(span_of(text, &spans, "labels.responses[0].safe"), "false");
        assert_eq!(span_of(text, &spans, "labels.responses[0].severity"), "2");
        assert_eq!(
            span_of(text, &spans, "labels.responses[0].categories"),
            r#"["Drugs", "a\"b"]"#
        );
        assert_eq!(
            span_of(text, &spans, "labels.responses[0].categories[1]"),
            r#""a\"b""#
        );
        assert_eq!(span_of(text, &spans, "labels.helpfulness"), "[1, 0]");
        assert_eq!(span_of(text, &spans, "x"), "null");
        assert_eq!(span_of(text, &spans, "n"), "-1.5e3");
        assert!(value_spans("{\"a\": }", 0).is_none());
    }
}
