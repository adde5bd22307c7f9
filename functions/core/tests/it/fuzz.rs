//! Property tests of the parsers that read client text: the filter-expression parser and the
//! request decoder. Case counts come from `PROPTEST_CASES` (default 256), so the test command
//! runs them briefly and a long run is `PROPTEST_CASES=<n> cargo test --release -p tailor-core
//! --test it fuzz`.

use proptest::prelude::*;
use tailor_core::api::events::PutEventsRequest;
use tailor_core::api::parse_json;
use tailor_core::api::runtime::{GetPersonalizedRankingRequest, GetRecommendationsRequest};
use tailor_core::filters::Filter;

/// Words of the filter grammar, and near misses, for inputs that get past the first token.
const FILTER_WORDS: &[&str] = &[
    "INCLUDE",
    "EXCLUDE",
    "ItemID",
    "UserID",
    "WHERE",
    "Items.GENRES",
    "Items.PRICE",
    "Users.AGE",
    "Interactions.EVENT_TYPE",
    "CurrentUser.AGE",
    "CurrentItem.GENRES",
    "IN",
    "NOT",
    "AND",
    "OR",
    "IF",
    "(",
    ")",
    ",",
    "\"a\"",
    "\"\"",
    "\"x\\\"y\"",
    "$P",
    "$",
    "$LONG_NAME",
    "<",
    "<=",
    ">",
    ">=",
    "=",
    "*",
    "1",
    "-2.5",
    "1e309",
    "|",
    "\"",
    "\u{0}",
    "é",
    "WHERE WHERE",
];

fn filter_words() -> impl Strategy<Value = String> {
    proptest::collection::vec(proptest::sample::select(FILTER_WORDS), 0..24)
        .prop_map(|w| w.join(" "))
}

/// A condition list over one dataset, as AND/OR may not mix datasets: `Items` fields, or
/// `Interactions.EVENT_TYPE`. A list is one `$PARAM` (never after NOT IN, as in Personalize)
/// or quoted values.
fn conditions() -> impl Strategy<Value = String> {
    let values = || {
        prop_oneof![
            proptest::collection::vec("[A-Za-z0-9 ]{1,8}".prop_map(|v| format!("\"{v}\"")), 1..4)
                .prop_map(|vs| vs.join(", ")),
            "[A-Z][A-Z0-9_]{0,10}".prop_map(|p| format!("${p}")),
        ]
    };
    let condition = |field: BoxedStrategy<&'static str>| {
        (field, values(), any::<bool>()).prop_map(|(f, vs, not)| {
            let vs = match vs.strip_prefix('$') {
                Some(p) if not => format!("\"{p}\""),
                _ => vs,
            };
            format!("{f} {}IN ({vs})", if not { "NOT " } else { "" })
        })
    };
    let items = proptest::sample::select(&["Items.GENRES", "Items.COLOR"][..]).boxed();
    let interactions = Just("Interactions.EVENT_TYPE").boxed();
    let joined = |conds: Vec<String>, ops: Vec<bool>| {
        let mut text = conds[0].clone();
        for (c, and) in conds[1..].iter().zip(ops) {
            text.push_str(if and { " AND " } else { " OR " });
            text.push_str(c);
        }
        text
    };
    prop_oneof![
        (
            proptest::collection::vec(condition(items), 1..4),
            proptest::collection::vec(any::<bool>(), 3)
        )
            .prop_map(move |(c, o)| joined(c, o)),
        (
            proptest::collection::vec(condition(interactions), 1..3),
            proptest::collection::vec(any::<bool>(), 2)
        )
            .prop_map(move |(c, o)| joined(c, o)),
    ]
}

/// A valid filter of one to three `|`-chained expressions, and the `$NAME`s it uses in order.
fn valid_filter() -> impl Strategy<Value = (String, Vec<String>)> {
    proptest::collection::vec((any::<bool>(), conditions()), 1..4).prop_map(|exprs| {
        let text = exprs
            .iter()
            .map(|(include, conds)| {
                format!(
                    "{} ItemID WHERE {conds}",
                    if *include { "INCLUDE" } else { "EXCLUDE" }
                )
            })
            .collect::<Vec<_>>()
            .join(" | ");
        let mut params: Vec<String> = Vec::new();
        for word in text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '$')) {
            if let Some(p) = word.strip_prefix('$') {
                if !params.iter().any(|q| q == p) {
                    params.push(p.to_string());
                }
            }
        }
        (text, params)
    })
}

/// JSON documents shaped like requests, with wrong types and odd values mixed in. Client text
/// has no `:` or `<`, so a `::` or `Option<` in a message can only come from the implementation.
fn json_value() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::Bool),
        any::<i64>().prop_map(|n| serde_json::json!(n)),
        any::<f64>().prop_map(|n| serde_json::json!(n)),
        "[^:<]{0,40}".prop_map(serde_json::Value::String),
        "arn:aws:personalize:us-east-1:000000000000:campaign/[a-z/]{0,12}"
            .prop_map(serde_json::Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        let key = prop_oneof![
            proptest::sample::select(
                &[
                    "campaignArn",
                    "userId",
                    "itemId",
                    "numResults",
                    "filterArn",
                    "filterValues",
                    "context",
                    "inputList",
                    "trackingId",
                    "sessionId",
                    "eventList",
                    "eventType",
                    "sentAt",
                    "properties",
                    "impression",
                    "excludeItemIds",
                    "promotions",
                    "metadataColumns",
                    "recommenderArn",
                ][..]
            )
            .prop_map(str::to_string),
            "[^:<]{0,12}",
        ];
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::Array),
            proptest::collection::btree_map(key, inner, 0..8)
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

/// What a decoder failure may say: bounded, and nothing of the implementation.
fn check_message(msg: &str) {
    assert!(msg.len() <= 2048, "message of {} bytes", msg.len());
    for leak in [
        "struct ", "usize", "Option<", "alloc::", "tailor", "Vec<", "::",
    ] {
        assert!(!msg.contains(leak), "message leaks {leak:?}: {msg}");
    }
    assert!(
        !msg.chars().any(|c| c.is_control()),
        "control character in {msg:?}"
    );
}

fn decode_all(body: &[u8]) {
    for result in [
        parse_json::<GetRecommendationsRequest>(body).err(),
        parse_json::<GetPersonalizedRankingRequest>(body).err(),
        parse_json::<PutEventsRequest>(body).err(),
    ]
    .into_iter()
    .flatten()
    {
        check_message(&result.to_string());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::default())]

    #[test]
    fn fuzz_filter_parser_takes_any_text(text in any::<String>()) {
        let _ = Filter::parse(&text);
    }

    #[test]
    fn fuzz_filter_parser_takes_grammar_word_salad(text in filter_words()) {
        if let Ok(f) = Filter::parse(&text) {
            // Deterministic, and a parsed filter's parameters are names it holds.
            let again = Filter::parse(&text).unwrap();
            prop_assert_eq!(f.parameters(), again.parameters());
            for p in f.parameters() {
                let used = format!("${p}");
                prop_assert!(text.contains(&used), "{} not in {}", used, text);
            }
        }
    }

    #[test]
    fn fuzz_filter_parser_accepts_valid_expressions((text, params) in valid_filter()) {
        let f = Filter::parse(&text).map_err(|e| TestCaseError::fail(format!("{text}: {e}")))?;
        prop_assert_eq!(f.parameters(), params);
    }

    #[test]
    fn fuzz_request_decoder_takes_any_bytes(body in proptest::collection::vec(any::<u8>(), 0..256)) {
        decode_all(&body);
    }

    #[test]
    fn fuzz_request_decoder_takes_request_shaped_json(value in json_value()) {
        decode_all(&serde_json::to_vec(&value).unwrap());
    }
}
