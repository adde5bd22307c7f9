//! Values a condition compares: literals and `filterValues` entries ([`Scalar`]) on one side,
//! the parts of a dataset attribute ([`Part`]) on the other.

use super::Value;
use crate::Error;

/// A literal or parameter value: its text, and its number when the text is one.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Scalar {
    pub(crate) text: String,
    pub(crate) num: Option<f64>,
}

impl Scalar {
    pub(crate) fn text(text: String) -> Scalar {
        let num = parse_number(&text);
        Scalar { text, num }
    }

    pub(crate) fn number(text: String, num: f64) -> Scalar {
        Scalar {
            text,
            num: Some(num),
        }
    }

    fn from_part(part: Part<'_>) -> Scalar {
        match part {
            Part::Text(s) => Scalar::text(s.to_string()),
            Part::Number(n) => Scalar::number(n.to_string(), n),
            Part::Bool(b) => Scalar::text(b.to_string()),
        }
    }
}

/// Rust's float syntax, finite values only: "inf" and "NaN" are words, not numbers, here.
pub(crate) fn parse_number(text: &str) -> Option<f64> {
    text.parse::<f64>().ok().filter(|n| n.is_finite())
}

/// One value of an attribute; a categorical text attribute holds several, joined by `|`.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Part<'a> {
    Text(&'a str),
    Number(f64),
    Bool(bool),
}

impl Part<'_> {
    /// IN's exact match. A number attribute has no canonical text ("10" vs "10.0"), so it
    /// matches by value; booleans are spelled "True"/"False" in filters, so case is ignored.
    pub(crate) fn same_text(self, s: &Scalar) -> bool {
        match self {
            Part::Text(t) => t == s.text,
            Part::Number(n) => s.num == Some(n),
            Part::Bool(b) => s
                .text
                .eq_ignore_ascii_case(if b { "true" } else { "false" }),
        }
    }

    /// `=`: the same text, or the same number however it is written.
    pub(crate) fn equals(self, s: &Scalar) -> bool {
        self.same_text(s) || matches!((self.number(), s.num), (Some(a), Some(b)) if a == b)
    }

    pub(crate) fn number(self) -> Option<f64> {
        match self {
            Part::Text(t) => parse_number(t),
            Part::Number(n) => Some(n).filter(|n| n.is_finite()),
            Part::Bool(_) => None,
        }
    }
}

/// Whether any part of `value` satisfies `f`.
pub(crate) fn any_part(value: Value<'_>, mut f: impl FnMut(Part<'_>) -> bool) -> bool {
    match value {
        Value::Text(s) => s.split('|').any(|p| f(Part::Text(p))),
        Value::Number(n) => f(Part::Number(n)),
        Value::Bool(b) => f(Part::Bool(b)),
    }
}

/// Every part of `value`, owned, to compare other attributes against (CurrentItem).
pub(crate) fn scalars(value: Option<Value<'_>>) -> Vec<Scalar> {
    let mut out = Vec::new();
    if let Some(v) = value {
        any_part(v, |p| {
            out.push(Scalar::from_part(p));
            false
        });
    }
    out
}

/// Parses one `filterValues` entry: a comma-separated list of JSON-quoted strings. Bare JSON
/// numbers are accepted too, since clients send numeric parameters both ways. `None` when the
/// entry is blank, which counts as not supplied.
pub(crate) fn parse_filter_value(name: &str, raw: &str) -> Result<Option<Vec<Scalar>>, Error> {
    if raw.trim().is_empty() {
        return Ok(None);
    }
    let malformed = || {
        Error::InvalidInput(format!(
            "filter value for ${name} must be a comma-separated list of JSON-quoted strings, \
             e.g. \"\\\"comedy\\\",\\\"drama\\\"\""
        ))
    };
    // Wrapping in brackets lets serde_json do the quoting, escapes and commas; a value that
    // tries to close the bracket early leaves trailing input and is rejected.
    let items: Vec<serde_json::Value> =
        serde_json::from_str(&format!("[{raw}]")).map_err(|_| malformed())?;
    items
        .into_iter()
        .map(|item| match item {
            serde_json::Value::String(s) => Ok(Scalar::text(s)),
            serde_json::Value::Number(n) => {
                let num = n.as_f64().filter(|v| v.is_finite()).ok_or_else(malformed)?;
                Ok(Scalar::number(n.to_string(), num))
            }
            _ => Err(malformed()),
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(raw: &str) -> Vec<String> {
        parse_filter_value("P", raw)
            .expect("well-formed")
            .expect("supplied")
            .into_iter()
            .map(|s| s.text)
            .collect()
    }

    #[test]
    fn filter_values_are_json_quoted_lists() {
        assert_eq!(texts(r#""comedy","drama""#), ["comedy", "drama"]);
        assert_eq!(texts(r#" "a, b" , "c\"d" "#), ["a, b", "c\"d"]);
        assert_eq!(texts("10"), ["10"]);
        assert_eq!(texts(r#""10""#), ["10"]);
        let bare = parse_filter_value("P", "2.5").unwrap().unwrap();
        assert_eq!(bare[0].num, Some(2.5));
    }

    #[test]
    fn blank_filter_values_count_as_missing() {
        assert_eq!(parse_filter_value("P", "").unwrap(), None);
        assert_eq!(parse_filter_value("P", "  ").unwrap(), None);
    }

    #[test]
    fn malformed_filter_values_are_invalid_input() {
        for raw in [
            "comedy",
            r#""a"],["b""#,
            r#""a""#.repeat(2).as_str(),
            "true",
            "null",
            "[1]",
            r#""a","#,
        ] {
            let err = parse_filter_value("GENRE", raw).expect_err(raw);
            assert!(
                matches!(&err, Error::InvalidInput(m) if m.contains("$GENRE")),
                "{raw}"
            );
        }
    }

    #[test]
    fn parts_compare_as_text_or_number() {
        let ten = Scalar::text("10".into());
        assert!(Part::Number(10.0).same_text(&ten));
        assert!(!Part::Text("10.0").same_text(&ten));
        assert!(Part::Text("10.0").equals(&ten));
        assert!(Part::Bool(true).same_text(&Scalar::text("True".into())));
        assert_eq!(Part::Text("NaN").number(), None);
        assert_eq!(Part::Text("inf").number(), None);
        assert_eq!(scalars(Some(Value::Text("a|b"))).len(), 2);
    }
}
