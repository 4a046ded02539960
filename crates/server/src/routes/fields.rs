//! Reading what a browser sent: a form field's first value, and a query
//! string value that counts only when it is not blank.

/// The first value the form sent for `name`.
pub(crate) fn form_field<'a>(fields: &'a [(String, String)], name: &str) -> Option<&'a str> {
    fields
        .iter()
        .find(|(key, _)| key == name)
        .map(|(_, v)| v.as_str())
}

/// A query string value, trimmed; None when it is absent or blank ("any").
pub(crate) fn given(value: &Option<String>) -> Option<String> {
    value
        .as_deref()
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(String::from)
}
