//! Request bodies to wire types, with errors a client can act on.
//!
//! serde's own messages name Rust types (`expected struct PutEventsRequest`, `expected usize`)
//! and echo whole values. Here every failure becomes an InvalidInputException naming the field
//! the way Personalize does (`eventList[0].sentAt`), the JSON type expected and the JSON type
//! found, built from a fixed vocabulary so that nothing of the implementation shows through.

use serde::de::DeserializeOwned;
use serde_json::error::Category;

use super::text::{shown, SHOWN_CHARS};
use crate::error::{Error, Result};

/// Parses a request body into `T`; failures are InvalidInput with a field-named message.
pub fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T> {
    match body.iter().find(|b| !b.is_ascii_whitespace()) {
        None => {
            return Err(Error::InvalidInput(
                "request body is empty; send a JSON object".into(),
            ))
        }
        // serde reads a struct from a list too, positionally; Personalize takes objects only.
        Some(b'[') => {
            return Err(Error::InvalidInput(
                "request body must be an object, not a list".into(),
            ))
        }
        Some(_) => {}
    }
    let mut de = serde_json::Deserializer::from_slice(body);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = field_path(e.path());
        Error::InvalidInput(message(&path, e.inner()))
    })?;
    de.end().map_err(|e| Error::InvalidInput(message("", &e)))?;
    Ok(value)
}

fn message(path: &str, e: &serde_json::Error) -> String {
    match e.classify() {
        Category::Syntax | Category::Eof | Category::Io => format!(
            "request body is not valid JSON at line {}, column {}: {}",
            e.line(),
            e.column(),
            syntax_reason(e)
        ),
        Category::Data => data_message(path, &e.to_string()),
    }
}

/// serde_json's syntax message without its position suffix. These come from a fixed list
/// (`expected value`, `trailing characters`, ...) that names no Rust type; it is still cut
/// to a bound in case a future version echoes input.
fn syntax_reason(e: &serde_json::Error) -> String {
    let full = e.to_string();
    let suffix = format!(" at line {} column {}", e.line(), e.column());
    shown(full.strip_suffix(&suffix).unwrap_or(&full))
}

/// `eventList[0].sentAt`, `context.DEVICE`: JSON keys are client text, so each is shown
/// escaped and bounded.
fn field_path(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut out = String::new();
    for seg in path {
        match seg {
            Segment::Seq { index } => out.push_str(&format!("[{index}]")),
            Segment::Map { key } => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(&shown(key));
            }
            Segment::Enum { .. } | Segment::Unknown => {}
        }
        if out.len() > 4 * SHOWN_CHARS {
            out.push('…');
            break;
        }
    }
    out
}

/// A field-named message from serde's data error (`invalid type: X, expected Y`, ...), told
/// in JSON's terms.
fn data_message(path: &str, serde_msg: &str) -> String {
    let subject = if path.is_empty() {
        "request body"
    } else {
        path
    };
    let serde_msg = serde_msg
        .rsplit_once(" at line ")
        .map_or(serde_msg, |(m, _)| m);
    if let Some(rest) = serde_msg.strip_prefix("invalid type: ") {
        if let Some((got, expected)) = rest.split_once(", expected ") {
            return format!(
                "{subject} must be {}, not {}",
                json_expected(expected),
                json_found(got)
            );
        }
    }
    if let Some(rest) = serde_msg.strip_prefix("invalid value: ") {
        if let Some((got, expected)) = rest.split_once(", expected ") {
            let got = number_in(got).map_or_else(|| json_found(got).to_string(), String::from);
            return format!("{subject} must be {}, not {got}", json_expected(expected));
        }
    }
    if let Some(name) = serde_msg
        .strip_prefix("missing field `")
        .and_then(|r| r.strip_suffix('`'))
    {
        let field = if path.is_empty() {
            shown(name)
        } else {
            format!("{path}.{}", shown(name))
        };
        return format!("{field} is required");
    }
    if let Some(name) = serde_msg
        .strip_prefix("duplicate field `")
        .and_then(|r| r.strip_suffix('`'))
    {
        return format!("{subject} has the field {} more than once", shown(name));
    }
    format!("{subject} has a value of the wrong type")
}

/// What serde expected, as a JSON type. Rust names (`usize`, `struct X`) never pass through.
fn json_expected(expected: &str) -> &'static str {
    match expected {
        "a string" | "a borrowed string" | "a character" => "a string",
        "usize" | "u8" | "u16" | "u32" | "u64" | "u128" => "a whole number of at least 0",
        "isize" | "i8" | "i16" | "i32" | "i64" | "i128" => "a whole number",
        "f32" | "f64" => "a number",
        "a boolean" => "true or false",
        "a sequence" => "a list",
        "a map" => "an object",
        e if e.starts_with("struct ") => "an object",
        e if e.starts_with("tuple") => "a list",
        _ => "a value of another type",
    }
}

/// What the request held, as a JSON type (never the value: it is client text).
fn json_found(got: &str) -> &'static str {
    let word = got.split([' ', '`']).next().unwrap_or_default();
    match word {
        "string" | "character" => "a string",
        "integer" | "floating" => "a number",
        "boolean" => "a boolean",
        "map" => "an object",
        "sequence" => "a list",
        "null" | "unit" | "Option" => "null",
        _ => "a value of another type",
    }
}

/// The number in serde's `integer `-1``, when it is one (digits only, so safe to echo).
fn number_in(got: &str) -> Option<&str> {
    let n = got.split('`').nth(1)?;
    let plain = !n.is_empty()
        && n.len() <= 40
        && n.chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '-' | '+' | '.' | 'e' | 'E'));
    plain.then_some(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::events::PutEventsRequest;
    use crate::api::runtime::GetRecommendationsRequest;

    fn err<T: DeserializeOwned + std::fmt::Debug>(body: &str) -> String {
        match parse_json::<T>(body.as_bytes()) {
            Err(Error::InvalidInput(m)) => m,
            other => panic!("{body}: {other:?}"),
        }
    }

    #[test]
    fn type_errors_name_the_field_and_json_types_only() {
        assert_eq!(
            err::<GetRecommendationsRequest>(r#"{"campaignArn": 5}"#),
            "campaignArn must be a string, not a number"
        );
        assert_eq!(
            err::<GetRecommendationsRequest>(r#"{"numResults": -1}"#),
            "numResults must be a whole number of at least 0, not -1"
        );
        assert_eq!(
            err::<GetRecommendationsRequest>(r#"{"numResults": 2.5}"#),
            "numResults must be a whole number of at least 0, not a number"
        );
        assert_eq!(
            err::<GetRecommendationsRequest>("[1]"),
            "request body must be an object, not a list"
        );
        assert_eq!(
            err::<PutEventsRequest>(r#"{"eventList": [{"sentAt": "yesterday"}]}"#),
            "eventList[0].sentAt must be a number, not a string"
        );
        assert_eq!(
            err::<PutEventsRequest>(r#"{"eventList": [{"metricAttribution": {}}]}"#),
            "eventList[0].metricAttribution.eventAttributionSource is required"
        );
        assert_eq!(
            err::<GetRecommendationsRequest>(r#"{"promotions": [5]}"#),
            "promotions[0] must be an object, not a number"
        );
        assert_eq!(
            err::<GetRecommendationsRequest>(r#"{"userId": "a", "userId": "b"}"#),
            "request body has the field userId more than once"
        );
    }

    #[test]
    fn client_keys_in_paths_are_escaped_and_bounded() {
        let key = format!("a\n\u{1b}{}", "k".repeat(5000));
        let body = serde_json::json!({ "context": { key: 5 } }).to_string();
        let m = err::<GetRecommendationsRequest>(&body);
        assert!(m.starts_with("context.a\\n\\u{1b}k"), "{m}");
        assert!(m.len() < 400, "{}", m.len());
    }

    #[test]
    fn syntax_errors_give_the_position() {
        assert_eq!(
            err::<GetRecommendationsRequest>("{not json"),
            "request body is not valid JSON at line 1, column 2: key must be a string"
        );
        assert_eq!(
            err::<GetRecommendationsRequest>("{} x"),
            "request body is not valid JSON at line 1, column 4: trailing characters"
        );
        assert_eq!(
            err::<GetRecommendationsRequest>("  "),
            "request body is empty; send a JSON object"
        );
    }
}
