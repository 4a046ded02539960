//! Reading what a browser sent: a form field's first value. (A query
//! string value that counts only when it is not blank: `review::given`.)

/// The first value the form sent for `name`.
pub(crate) fn form_field<'a>(fields: &'a [(String, String)], name: &str) -> Option<&'a str> {
    fields
        .iter()
        .find(|(key, _)| key == name)
        .map(|(_, v)| v.as_str())
}
