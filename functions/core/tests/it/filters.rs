//! Filters end to end: parse an expression, evaluate it over a small in-memory catalogue.

// The cases sit in a module of their own so `--test it cases` selects them.
mod cases {
    use std::collections::BTreeMap;

    use proptest::prelude::*;
    use tailor_core::filters::{Filter, FilterData, FilterError, Target, Value};
    use tailor_core::{Error, ErrorKind};

    type Attrs = Vec<(&'static str, Value<'static>)>;

    struct Catalogue {
        items: Vec<Attrs>,
        user: Attrs,
        interactions: Vec<(u32, String)>,
        current: Option<u32>,
    }

    fn lookup(attrs: &Attrs, field: &str) -> Option<Value<'static>> {
        attrs
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(field))
            .map(|&(_, v)| v)
    }

    impl FilterData for Catalogue {
        fn n_items(&self) -> usize {
            self.items.len()
        }
        fn item_attribute(&self, item: u32, field: &str) -> Option<Value<'_>> {
            lookup(self.items.get(item as usize)?, field)
        }
        fn user_attribute(&self, field: &str) -> Option<Value<'_>> {
            lookup(&self.user, field)
        }
        fn interactions(&self) -> Vec<(u32, String)> {
            self.interactions.clone()
        }
        fn current_item(&self) -> Option<u32> {
            self.current
        }
    }

    use Value::{Bool, Number as N, Text as T};

    /// Items 0..=5; item 3 has no PRICE, item 4 no GENRES and a non-numeric PRICE.
    fn catalogue() -> Catalogue {
        Catalogue {
            items: vec![
                vec![("GENRES", T("Comedy|Drama")), ("PRICE", N(10.0))],
                vec![("GENRES", T("Horror|Thriller")), ("PRICE", T("25.5"))],
                vec![("GENRES", T("Drama")), ("PRICE", N(5.0))],
                vec![("GENRES", T("Comedy"))],
                vec![("PRICE", T("cheap"))],
                vec![
                    ("GENRES", T("Documentary")),
                    ("PRICE", N(100.0)),
                    ("FAMILY", Bool(true)),
                ],
            ],
            user: vec![("AGE", N(25.0)), ("MEMBERSHIP", T("gold"))],
            interactions: vec![
                (0, "click".into()),
                (1, "Purchase".into()),
                (2, "CLICK".into()),
                (3, "stream".into()),
            ],
            current: None,
        }
    }

    fn allowed_in(
        data: &Catalogue,
        expr: &str,
        values: &[(&str, &str)],
    ) -> Result<Vec<u32>, Error> {
        let filter = Filter::parse(expr).unwrap_or_else(|e| panic!("{expr}: {e}"));
        let values: BTreeMap<String, String> = values
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Ok(filter.allowed(data, &values)?.iter().collect())
    }

    fn allowed(expr: &str, values: &[(&str, &str)]) -> Vec<u32> {
        allowed_in(&catalogue(), expr, values).unwrap_or_else(|e| panic!("{expr}: {e}"))
    }

    fn invalid(expr: &str, values: &[(&str, &str)]) -> String {
        match allowed_in(&catalogue(), expr, values) {
            Err(e @ Error::InvalidInput(_)) => e.to_string(),
            other => panic!("{expr}: expected InvalidInput, got {other:?}"),
        }
    }

    const ALL: [u32; 6] = [0, 1, 2, 3, 4, 5];
    const NONE: [u32; 0] = [];

    #[test]
    fn comparison_operators_are_numeric() {
        let cases: [(&str, &[u32]); 7] = [
            ("Items.PRICE < 10", &[2]),
            ("Items.PRICE <= 10", &[0, 2]),
            ("Items.PRICE > 10", &[1, 5]),
            ("Items.PRICE >= 25.5", &[1, 5]),
            ("Items.PRICE = 10", &[0]),
            ("Items.PRICE = \"10.0\"", &[0]),
            ("Items.PRICE > -1000", &[0, 1, 2, 5]),
        ];
        for (cond, want) in cases {
            assert_eq!(
                allowed(&format!("INCLUDE ItemID WHERE {cond}"), &[]),
                want,
                "{cond}"
            );
        }
    }

    #[test]
    fn in_and_not_in_match_exact_strings_per_value() {
        let cases: [(&str, &[u32]); 8] = [
            (r#"Items.GENRES IN ("Drama")"#, &[0, 2]),
            (r#"Items.GENRES IN ("Comedy", "Horror")"#, &[0, 1, 3]),
            (r#"Items.GENRES IN ("drama")"#, &[]),
            (r#"Items.GENRES IN ("Horror|Thriller")"#, &[]),
            (r#"Items.GENRES = "Thriller""#, &[1]),
            // A null attribute is in no list, so it is NOT IN every list.
            (r#"Items.GENRES NOT IN ("Drama")"#, &[1, 3, 4, 5]),
            (r#"Items.FAMILY IN ("True")"#, &[5]),
            (r#"Items.PRICE IN ("10")"#, &[0]),
        ];
        for (cond, want) in cases {
            assert_eq!(
                allowed(&format!("INCLUDE ItemID WHERE {cond}"), &[]),
                want,
                "{cond}"
            );
        }
        assert_eq!(
            allowed(r#"EXCLUDE ItemID WHERE Items.GENRES IN ("Drama")"#, &[]),
            [1, 3, 4, 5]
        );
        assert_eq!(
            allowed(r#"exclude itemid where items.genres in ("Comedy")"#, &[]),
            [1, 2, 4, 5]
        );
    }

    #[test]
    fn and_or_and_parentheses() {
        let f = r#"INCLUDE ItemID WHERE Items.GENRES IN ("Comedy") AND Items.PRICE <= 10 OR Items.PRICE > 50"#;
        assert_eq!(allowed(f, &[]), [0, 5]);
        let f = r#"INCLUDE ItemID WHERE Items.GENRES IN ("Comedy") AND (Items.PRICE <= 10 OR Items.PRICE > 50)"#;
        assert_eq!(allowed(f, &[]), [0]);
        let f =
            r#"EXCLUDE ItemID WHERE Items.GENRES IN ("Drama") AND Items.GENRES NOT IN ("Comedy")"#;
        assert_eq!(allowed(f, &[]), [0, 1, 3, 4, 5]);
    }

    #[test]
    fn parameters_take_json_quoted_lists_and_bare_numbers() {
        let f = "INCLUDE ItemID WHERE Items.GENRES IN ($GENRE)";
        assert_eq!(
            allowed(f, &[("GENRE", r#""Comedy","Documentary""#)]),
            [0, 3, 5]
        );
        assert_eq!(allowed(f, &[("GENRE", r#""Horror""#)]), [1]);
        let f = "INCLUDE ItemID WHERE Items.PRICE <= $PRICE";
        assert_eq!(allowed(f, &[("PRICE", r#""10""#)]), [0, 2]);
        assert_eq!(allowed(f, &[("PRICE", "10")]), [0, 2]);
        assert_eq!(allowed(f, &[("PRICE", "25.5")]), [0, 1, 2]);
        // Keys are case-sensitive: PRICE is not price.
        assert!(invalid(f, &[("price", "10")]).contains("$PRICE"));
        assert!(invalid(f, &[("PRICE", r#""cheap""#)]).contains("number"));
        assert!(invalid(f, &[("PRICE", r#""1","2""#)]).contains("single value"));
        assert!(invalid(f, &[("PRICE", "ten")]).contains("JSON-quoted"));
    }

    #[test]
    fn include_needs_every_parameter() {
        let f = "INCLUDE ItemID WHERE Items.GENRES IN ($GENRE) | EXCLUDE ItemID WHERE Items.PRICE > $MAX";
        assert!(invalid(f, &[("MAX", "10")]).contains("$GENRE"));
        assert!(invalid(f, &[("GENRE", ""), ("MAX", "10")]).contains("$GENRE"));
        // The guard's parameters count too.
        let f = r#"INCLUDE ItemID WHERE Items.GENRES IN ("Drama") IF CurrentUser.AGE > $AGE"#;
        assert!(invalid(f, &[]).contains("$AGE"));
    }

    #[test]
    fn an_omitted_exclude_parameter_disables_its_expression() {
        let f = "EXCLUDE ItemID WHERE Items.GENRES IN ($GENRE)";
        assert_eq!(allowed(f, &[]), ALL);
        assert_eq!(allowed(f, &[("GENRE", "  ")]), ALL);
        assert_eq!(allowed(f, &[("GENRE", r#""Drama""#)]), [1, 3, 4, 5]);
        let f = "INCLUDE ItemID WHERE Items.PRICE <= 10 | EXCLUDE ItemID WHERE Items.GENRES IN ($GENRE)";
        assert_eq!(allowed(f, &[]), [0, 2]);
        assert_eq!(allowed(f, &[("GENRE", r#""Comedy""#)]), [2]);
    }

    #[test]
    fn chained_expressions_union_then_subtract() {
        let inc_a = r#"INCLUDE ItemID WHERE Items.GENRES IN ("Drama")"#; // 0, 2
        let inc_b = "INCLUDE ItemID WHERE Items.PRICE > 50"; // 5
        let exc_c = r#"EXCLUDE ItemID WHERE Items.GENRES IN ("Comedy")"#; // 0, 3
        let exc_d = r#"EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("purchase")"#; // 1
        assert_eq!(allowed(&format!("{inc_a} | {inc_b}"), &[]), [0, 2, 5]);
        assert_eq!(allowed(&format!("{exc_c} | {exc_d}"), &[]), [2, 4, 5]);
        assert_eq!(allowed(&format!("{inc_a} | {exc_c}"), &[]), [2]);
        assert_eq!(
            allowed(&format!("{exc_c} | {inc_a} | {inc_b}"), &[]),
            [2, 5]
        );
        assert_eq!(
            allowed(&format!("{inc_b}|{exc_c}|{inc_a}|{exc_d}"), &[]),
            [2, 5]
        );
    }

    #[test]
    fn if_clauses_switch_expressions_on_and_off() {
        let comedy = r#"EXCLUDE ItemID WHERE Items.GENRES IN ("Comedy")"#;
        assert_eq!(
            allowed(&format!("{comedy} IF CurrentUser.AGE > 18"), &[]),
            [1, 2, 4, 5]
        );
        assert_eq!(
            allowed(&format!("{comedy} IF CurrentUser.AGE < 18"), &[]),
            ALL
        );
        assert_eq!(
            allowed(&format!("{comedy} IF CurrentUser.SHOE_SIZE > 1"), &[]),
            ALL
        );
        // Unknown counts as false even for NOT IN.
        assert_eq!(
            allowed(&format!(r#"{comedy} IF CurrentUser.X NOT IN ("a")"#), &[]),
            ALL
        );
        let both =
            format!(r#"{comedy} IF CurrentUser.AGE >= 25 AND CurrentUser.MEMBERSHIP IN ($TIER)"#);
        assert_eq!(
            allowed(&both, &[("TIER", r#""gold","silver""#)]),
            [1, 2, 4, 5]
        );
        assert_eq!(allowed(&both, &[("TIER", r#""silver""#)]), ALL);
        assert_eq!(allowed(&both, &[]), ALL, "omitted EXCLUDE parameter");
        // The documented example: IF CurrentUser.AGE = $AGE.
        let f = "EXCLUDE ItemID WHERE Items.GENRES IN ($GENRE) IF CurrentUser.AGE = $AGE";
        assert_eq!(
            allowed(f, &[("GENRE", r#""Drama""#), ("AGE", "25")]),
            [1, 3, 4, 5]
        );
        assert_eq!(
            allowed(f, &[("GENRE", r#""Drama""#), ("AGE", r#""30""#)]),
            ALL
        );
        // An INCLUDE switched off is as if absent.
        let f = r#"INCLUDE ItemID WHERE Items.GENRES IN ("Drama") IF CurrentUser.AGE > 60"#;
        assert_eq!(allowed(f, &[]), ALL);
        let g = format!(r#"{f} | INCLUDE ItemID WHERE Items.GENRES IN ("Horror")"#);
        assert_eq!(allowed(&g, &[]), [1]);
    }

    #[test]
    fn users_conditions_select_all_items_or_none() {
        let f = r#"INCLUDE ItemID WHERE Users.MEMBERSHIP IN ("gold")"#;
        assert_eq!(allowed(f, &[]), ALL);
        assert_eq!(
            allowed(
                r#"INCLUDE ItemID WHERE Users.membership IN ("silver")"#,
                &[]
            ),
            NONE
        );
        assert_eq!(allowed("EXCLUDE ItemID WHERE Users.AGE < 30", &[]), NONE);
        assert_eq!(allowed("EXCLUDE ItemID WHERE Users.HEIGHT < 30", &[]), ALL);
    }

    #[test]
    fn interactions_match_event_types_ignoring_case() {
        let inc = |types: &str| {
            allowed(
                &format!("INCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ({types})"),
                &[],
            )
        };
        assert_eq!(inc(r#""click""#), [0, 2]);
        assert_eq!(inc(r#""Click""#), [0, 2]);
        assert_eq!(inc(r#""PURCHASE", "stream""#), [1, 3]);
        assert_eq!(inc(r#""*""#), [0, 1, 2, 3]);
        assert_eq!(inc(r#""rate""#), NONE);
        let f = r#"INCLUDE ItemID WHERE Interactions.EVENT_TYPE NOT IN ("click")"#;
        assert_eq!(allowed(f, &[]), [1, 3]);
        let f = r#"EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("click", "stream")"#;
        assert_eq!(allowed(f, &[]), [1, 4, 5]);
        let f = "EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ($EVENT_TYPE)";
        assert_eq!(allowed(f, &[("EVENT_TYPE", r#""*""#)]), [4, 5]);
        assert_eq!(allowed(f, &[]), ALL);
    }

    #[test]
    fn only_the_latest_100_interactions_per_event_type_count() {
        let mut data = catalogue();
        data.items = (0..200).map(|_| Vec::new()).collect();
        data.interactions = vec![(199, "purchase".into())];
        let spellings = ["click", "Click"].into_iter().cycle();
        data.interactions
            .extend((0..150).zip(spellings).map(|(i, t)| (i, t.to_string())));
        // Codes outside the catalogue are ignored rather than set past its end.
        data.interactions.push((500, "click".into()));
        let clicked = allowed_in(
            &data,
            r#"INCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("click")"#,
            &[],
        )
        .unwrap();
        assert_eq!(clicked, (51..150).collect::<Vec<u32>>());
        let bought = allowed_in(
            &data,
            r#"INCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("purchase")"#,
            &[],
        )
        .unwrap();
        assert_eq!(bought, [199]);
    }

    #[test]
    fn current_item_compares_candidates_with_the_query_item() {
        let mut data = catalogue();
        data.current = Some(0); // Comedy|Drama, PRICE 10
        let run =
            |expr: &str| allowed_in(&data, expr, &[]).unwrap_or_else(|e| panic!("{expr}: {e}"));
        assert_eq!(
            run("INCLUDE ItemID WHERE Items.GENRES IN (CurrentItem.GENRES)"),
            [0, 2, 3]
        );
        assert_eq!(
            run("INCLUDE ItemID WHERE Items.GENRES NOT IN (CurrentItem.GENRES)"),
            [1, 4, 5]
        );
        assert_eq!(
            run("INCLUDE ItemID WHERE Items.PRICE = CurrentItem.PRICE"),
            [0]
        );
        assert_eq!(
            run("INCLUDE ItemID WHERE Items.PRICE < CurrentItem.PRICE"),
            [2]
        );
        assert_eq!(
            run("INCLUDE ItemID WHERE Items.PRICE >= CurrentItem.PRICE"),
            [0, 1, 5]
        );
        assert_eq!(
            run("INCLUDE ItemID WHERE Items.PRICE > CurrentItem.PRICE AND Items.GENRES IN CurrentItem.GENRES"),
            NONE
        );
        assert_eq!(
            run("INCLUDE ItemID WHERE Items.PRICE < CurrentItem.PRICE AND Items.GENRES IN CurrentItem.GENRES"),
            [2]
        );
        // A query item without the attribute matches nothing.
        data.current = Some(3);
        assert_eq!(
            allowed_in(
                &data,
                "INCLUDE ItemID WHERE Items.PRICE <= CurrentItem.PRICE",
                &[]
            )
            .unwrap(),
            NONE
        );
        data.current = None;
        let e = allowed_in(
            &data,
            "INCLUDE ItemID WHERE Items.GENRES IN (CurrentItem.GENRES)",
            &[],
        );
        assert!(matches!(e, Err(Error::InvalidInput(m)) if m.contains("itemId")));
    }

    #[test]
    fn user_and_action_filters_do_not_filter_items() {
        let m = invalid(r#"INCLUDE UserID WHERE Users.MEMBERSHIP IN ("gold")"#, &[]);
        assert!(m.contains("UserID"), "{m}");
        invalid(r#"EXCLUDE ActionID WHERE Actions.KIND IN ("x")"#, &[]);
    }

    #[test]
    fn an_empty_catalogue_allows_nothing() {
        let mut data = catalogue();
        data.items.clear();
        let got = allowed_in(
            &data,
            r#"EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("*")"#,
            &[],
        );
        assert_eq!(got.unwrap(), NONE);
    }

    #[test]
    fn filters_report_what_they_read() {
        let f = Filter::parse(
            "INCLUDE ItemID WHERE Items.PRICE <= $PRICE | EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ($E) \
             IF CurrentUser.AGE > $AGE",
        )
        .unwrap();
        assert_eq!(f.parameters(), ["PRICE", "E", "AGE"]);
        assert_eq!(f.target(), Target::ItemId);
        assert!(f.uses_interactions() && f.uses_current_user() && !f.uses_current_item());
        let f = Filter::parse("INCLUDE ItemID WHERE Items.G IN (CurrentItem.G)").unwrap();
        assert!(f.uses_current_item() && !f.uses_interactions() && !f.uses_current_user());
        assert!(f.parameters().is_empty());
        let f = Filter::parse(r#"INCLUDE ItemID WHERE Users.M IN ("gold")"#).unwrap();
        assert!(f.uses_current_user());
    }

    #[test]
    fn parse_errors_surface_as_invalid_input() {
        let e: FilterError =
            Filter::parse(r#"INCLUDE ItemID WHERE Items.G IN ("a") AND"#).unwrap_err();
        assert_eq!(e.offset, 41);
        let e: Error = e.into();
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
        assert!(e.to_string().contains("offset 41"));
    }

    const VALID: [&str; 10] = [
        r#"EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("purchase")"#,
        "INCLUDE ItemID WHERE Items.PRICE <= $PRICE",
        "EXCLUDE ItemID WHERE Items.GENRES IN ($GENRE) IF CurrentUser.AGE = $AGE",
        r#"INCLUDE ItemID WHERE Items.GENRES IN ($GENRE) | EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("click","stream")"#,
        "INCLUDE UserID WHERE Users.MEMBERSHIP_STATUS IN ($MEMBERSHIP)",
        "INCLUDE ItemID WHERE Items.PRICE < CurrentItem.PRICE AND Items.GENRES IN CurrentItem.GENRES",
        r#"EXCLUDE ItemID WHERE (Items.GENRES IN ("Comedy") OR Items.PRICE > 5) AND Items.GENRES NOT IN ("x") IF CurrentUser.AGE > 18 AND CurrentUser.MEMBERSHIP IN ($M)"#,
        r#"INCLUDE ItemID WHERE Users.AGE >= $AGE | EXCLUDE ItemID WHERE Items.FAMILY = "True""#,
        "EXCLUDE ItemID WHERE Interactions.EVENT_TYPE NOT IN (\"*\") | INCLUDE ItemID WHERE Items.PRICE = -1.5e1",
        "INCLUDE ItemID WHERE Items.GENRES = CurrentItem.GENRES OR Items.PRICE >= ($P)",
    ];

    const PIECES: [&str; 24] = [
        "(",
        ")",
        "\"",
        ",",
        "|",
        ".",
        "$",
        "$P",
        "=",
        "<",
        ">=",
        " AND ",
        " OR ",
        " IF ",
        " NOT ",
        " IN ",
        "Items",
        "CurrentItem",
        "CurrentUser",
        "Interactions",
        "EVENT_TYPE",
        "\"*\"",
        "-",
        "1e999",
    ];

    /// A valid expression with a few random edits: deletions, insertions of grammar pieces, and
    /// duplicated spans; all on character boundaries.
    fn mutated() -> impl Strategy<Value = String> {
        let edit = (
            0..3u8,
            any::<prop::sample::Index>(),
            any::<prop::sample::Index>(),
            0..PIECES.len(),
        );
        (0..VALID.len(), prop::collection::vec(edit, 1..4)).prop_map(|(i, edits)| {
            let mut chars: Vec<char> = VALID[i].chars().collect();
            for (kind, at, len, piece) in edits {
                let at = at.index(chars.len() + 1);
                let end = (at + len.index(12)).min(chars.len());
                match kind {
                    0 => {
                        chars.drain(at..end);
                    }
                    1 => {
                        chars.splice(at..at, PIECES[piece].chars());
                    }
                    _ => {
                        let span: Vec<char> = chars[at..end].to_vec();
                        chars.splice(at..at, span);
                    }
                }
            }
            chars.into_iter().collect()
        })
    }

    fn values_map() -> impl Strategy<Value = BTreeMap<String, String>> {
        let key = prop_oneof![
            Just("PRICE".to_string()),
            Just("GENRE".to_string()),
            Just("AGE".to_string()),
            Just("M".to_string()),
            Just("P".to_string()),
            Just("MEMBERSHIP".to_string()),
            "[A-Za-z_]{1,6}",
        ];
        let value = prop_oneof![
            any::<String>(),
            "[0-9.eE+-]{0,8}",
            prop::collection::vec("[A-Za-z0-9*|\\\\\" ]{0,6}", 0..4).prop_map(|vs| {
                vs.iter()
                    .map(|v| format!("{v:?}"))
                    .collect::<Vec<_>>()
                    .join(",")
            }),
            "[\\[\\]{}\",0-9a-z ]{0,12}",
        ];
        prop::collection::btree_map(key, value, 0..6)
    }

    /// Grammar tokens, whole and broken, for soups that reach deep parser states.
    fn token() -> impl Strategy<Value = String> {
        const WORDS: [&str; 36] = [
            "INCLUDE",
            "EXCLUDE",
            "include",
            "ItemID",
            "UserID",
            "ActionID",
            "WHERE",
            "AND",
            "OR",
            "IF",
            "NOT",
            "IN",
            "Items",
            "Interactions",
            "Users",
            "Actions",
            "CurrentItem",
            "CurrentUser",
            "EVENT_TYPE",
            "CATEGORY_L1",
            "PRICE",
            "AGE",
            "GENRES",
            ".",
            ",",
            "(",
            ")",
            "|",
            "=",
            "<",
            "<=",
            ">",
            ">=",
            "-",
            "!=",
            "\\",
        ];
        const LITERALS: [&str; 10] = [
            "\"a\"", "\"*\"", "\"\"", "\"\\\"\"", "\"", "\"ü|x\"", "1", "-2.5e3", "1e999", "$",
        ];
        prop_oneof![
            4 => prop::sample::select(&WORDS[..]).prop_map(String::from),
            2 => prop::sample::select(&LITERALS[..]).prop_map(String::from),
            // Up to 40 distinct names, past the 25 a filter may hold.
            2 => (0..40u8).prop_map(|n| format!("$P{n}")),
            // Names around the 50-character limit.
            1 => (45..56usize).prop_map(|n| format!("${}", "N".repeat(n))),
            1 => "[A-Za-z_]{1,8}",
            1 => any::<char>().prop_map(String::from),
        ]
    }

    fn token_soup() -> impl Strategy<Value = String> {
        let sep = prop::sample::select(&[" ", " ", "", "\n", "\t "][..]);
        prop::collection::vec((token(), sep), 0..80).prop_map(|parts| {
            parts
                .into_iter()
                .map(|(t, sep)| format!("{t}{sep}"))
                .collect()
        })
    }

    /// The ecommerce Interactions, Items and Users schemas, parsed once.
    fn group_schemas() -> &'static [tailor_core::schema::DatasetSchema] {
        use tailor_core::sample::schemas;
        use tailor_core::schema::DatasetSchema;
        static SCHEMAS: std::sync::OnceLock<Vec<DatasetSchema>> = std::sync::OnceLock::new();
        SCHEMAS.get_or_init(|| {
            [
                schemas::ECOMMERCE_INTERACTIONS,
                schemas::ECOMMERCE_ITEMS,
                schemas::ECOMMERCE_USERS,
            ]
            .iter()
            .map(|s| DatasetSchema::parse(s).unwrap())
            .collect()
        })
    }

    fn offset_ok(src: &str, e: &FilterError) -> Result<(), TestCaseError> {
        prop_assert!(
            e.offset <= src.len() && src.is_char_boundary(e.offset),
            "{src:?}: {e}"
        );
        Ok(())
    }

    proptest! {
        // The filter parser's fuzz target (run long with PROPTEST_CASES): arbitrary text,
        // character soups, token soups and mutated valid expressions never panic; every error
        // points at a character boundary inside the input; what parses holds only parameters
        // filterValues can supply, and passes or fails the schema check with such an offset.
        #[test]
        fn fuzz_filter_parser(src in prop_oneof![
            any::<String>(),
            "[A-Za-z_.$()\",|<>=! 0-9*\\\\-]{0,300}",
            token_soup(),
            mutated(),
        ]) {
            let parsed = Filter::parse(&src);
            prop_assert_eq!(&parsed, &Filter::parse(&src), "parsing is deterministic");
            match parsed {
                Err(e) => offset_ok(&src, &e)?,
                Ok(filter) => {
                    let params = filter.parameters();
                    prop_assert!(params.len() <= 25, "{src:?}");
                    for p in &params {
                        prop_assert!(p.len() <= 50 && src.contains(&format!("${p}")), "{src:?}");
                    }
                    let schemas = group_schemas();
                    let checked = filter.check_fields(|kind| {
                        schemas.iter().find(|s| s.dataset_type == kind)
                    });
                    if let Err(e) = checked {
                        offset_ok(&src, &e)?;
                    }
                    // Every expression reads some dataset, so a group with none rejects it.
                    let e = filter.check_fields(|_| None);
                    prop_assert!(e.is_err(), "{src:?}");
                    if let Err(e) = e {
                        offset_ok(&src, &e)?;
                    }
                }
            }
        }

        #[test]
        fn allowed_never_panics(src in mutated(), values in values_map(), current in prop::option::of(0u32..8)) {
            for expr in [src.as_str()].into_iter().chain(VALID) {
                if let Ok(filter) = Filter::parse(expr) {
                    let mut data = catalogue();
                    data.current = current;
                    if let Ok(set) = filter.allowed(&data, &values) {
                        prop_assert!(set.iter().all(|i| (i as usize) < data.items.len()));
                        prop_assert!(set.len() <= data.items.len());
                    }
                }
            }
        }
    }
}

/// CreateFilter against a dataset group's schemas and filterValues' limits.
mod create_filter {
    use tailor_core::domain::ArnBuilder;
    use tailor_core::sample::schemas;
    use tailor_core::schema::DatasetType;
    use tailor_core::{Error, ErrorKind, Stores, Tailor};

    /// A group with Interactions and Items datasets (ecommerce schemas) and no Users dataset.
    async fn group() -> (tempfile::TempDir, Tailor, String) {
        let dir = tempfile::tempdir().unwrap();
        let t = Tailor::new(Stores::embedded(dir.path()).unwrap(), ArnBuilder::default());
        let g = t
            .create_dataset_group("shop", None, None)
            .await
            .unwrap()
            .dataset_group_arn;
        for (kind, schema) in [
            (DatasetType::Interactions, schemas::ECOMMERCE_INTERACTIONS),
            (DatasetType::Items, schemas::ECOMMERCE_ITEMS),
        ] {
            add_dataset(&t, &g, kind, schema).await;
        }
        (dir, t, g)
    }

    async fn add_dataset(t: &Tailor, g: &str, kind: DatasetType, schema: &str) {
        let name = kind.as_str().to_lowercase();
        let s = t.create_schema(&name, schema).await.unwrap().schema_arn;
        t.create_dataset(&name, &s, g, kind).await.unwrap();
    }

    /// The InvalidInputException message of a CreateFilter that must fail; nothing is stored.
    async fn rejected(t: &Tailor, g: &str, expression: &str) -> String {
        let before = t.list_filters(Some(g)).await.unwrap().len();
        match t.create_filter("f", g, expression).await {
            Err(e) => {
                assert_eq!(e.kind(), ErrorKind::InvalidInput, "{expression}: {e}");
                assert_eq!(t.list_filters(Some(g)).await.unwrap().len(), before);
                e.to_string()
            }
            Ok(f) => panic!("{expression} was accepted: {f:?}"),
        }
    }

    fn offset_of(expression: &str, part: &str) -> String {
        format!("offset {}", expression.find(part).unwrap())
    }

    #[tokio::test]
    async fn a_field_the_schema_lacks_is_rejected_naming_it() {
        let (_dir, t, g) = group().await;
        let expr = r#"INCLUDE ItemID WHERE Items.CATEGOY_L1 IN ("Books")"#;
        let m = rejected(&t, &g, expr).await;
        for part in [
            "Items.CATEGOY_L1",
            "the Items dataset has no field CATEGOY_L1",
            "did you mean CATEGORY_L1?",
        ] {
            assert!(m.contains(part), "{part:?} not in {m}");
        }
        assert!(m.contains(&offset_of(expr, "CATEGOY_L1")), "{m}");

        let expr = "INCLUDE ItemID WHERE Items.CATEGORY_L1 IN (CurrentItem.COLOUR)";
        let m = rejected(&t, &g, expr).await;
        assert!(
            m.contains("CurrentItem.COLOUR") && m.contains("Items dataset"),
            "{m}"
        );
        assert!(m.contains(&offset_of(expr, "COLOUR")), "{m}");
        // In a later expression and after a valid field too.
        let expr = r#"INCLUDE ItemID WHERE Items.PRICE < 5 | EXCLUDE ItemID WHERE Items.PRICE > 1 OR Items.WEIGHT > 3"#;
        let m = rejected(&t, &g, expr).await;
        assert!(m.contains(&offset_of(expr, "WEIGHT")), "{m}");
    }

    #[tokio::test]
    async fn a_dataset_the_group_lacks_is_rejected_naming_it() {
        let (_dir, t, g) = group().await;
        let expr = r#"INCLUDE ItemID WHERE Items.PRICE < 5 IF CurrentUser.AGE > 18"#;
        let m = rejected(&t, &g, expr).await;
        assert!(
            m.contains("CurrentUser.AGE") && m.contains("no Users dataset yet"),
            "{m}"
        );
        assert!(m.contains(&offset_of(expr, "CurrentUser")), "{m}");
        let m = rejected(
            &t,
            &g,
            r#"INCLUDE ItemID WHERE Users.MEMBERSHIP IN ("gold")"#,
        )
        .await;
        assert!(m.contains("no Users dataset yet"), "{m}");

        // Once the Users dataset exists, its fields are checked like any other.
        add_dataset(&t, &g, DatasetType::Users, schemas::ECOMMERCE_USERS).await;
        t.create_filter("adults", &g, expr).await.unwrap();
        let m = rejected(
            &t,
            &g,
            r#"INCLUDE ItemID WHERE Items.PRICE < 5 IF CurrentUser.AGEE > 18"#,
        )
        .await;
        assert!(
            m.contains("the Users dataset has no field AGEE (did you mean AGE?)"),
            "{m}"
        );
    }

    #[tokio::test]
    async fn interactions_filters_need_the_interactions_dataset() {
        let dir = tempfile::tempdir().unwrap();
        let t = Tailor::new(Stores::embedded(dir.path()).unwrap(), ArnBuilder::default());
        let g = t
            .create_dataset_group("items-only", None, None)
            .await
            .unwrap()
            .dataset_group_arn;
        add_dataset(&t, &g, DatasetType::Items, schemas::ECOMMERCE_ITEMS).await;
        let expr = r#"EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("Purchase")"#;
        let m = rejected(&t, &g, expr).await;
        assert!(m.contains("no Interactions dataset yet"), "{m}");
        t.create_filter(
            "books",
            &g,
            r#"INCLUDE ItemID WHERE Items.CATEGORY_L1 IN ("x")"#,
        )
        .await
        .unwrap();
    }

    #[tokio::test]
    async fn interactions_allow_only_event_type() {
        let (_dir, t, g) = group().await;
        // DEVICE is a column of the Interactions schema, but filters read only EVENT_TYPE.
        let m = rejected(
            &t,
            &g,
            r#"INCLUDE ItemID WHERE Interactions.DEVICE IN ("phone")"#,
        )
        .await;
        assert!(m.contains("EVENT_TYPE"), "{m}");
        t.create_filter(
            "seen",
            &g,
            r#"EXCLUDE ItemID WHERE Interactions.event_type IN ("*")"#,
        )
        .await
        .unwrap();
    }

    #[tokio::test]
    async fn textual_and_boolean_fields_are_rejected() {
        let (_dir, t, g) = group().await;
        let m = rejected(&t, &g, r#"INCLUDE ItemID WHERE Items.DESCRIPTION IN ("x")"#).await;
        assert!(
            m.contains("Items.DESCRIPTION") && m.contains("textual"),
            "{m}"
        );
        let m = rejected(&t, &g, r#"INCLUDE ItemID WHERE Items.IN_STOCK = "True""#).await;
        assert!(m.contains("Items.IN_STOCK") && m.contains("boolean"), "{m}");
    }

    #[tokio::test]
    async fn fields_match_ignoring_case_and_valid_filters_are_stored() {
        let (_dir, t, g) = group().await;
        for (name, expr) in [
            (
                "lower",
                r#"INCLUDE ItemID WHERE items.category_l1 IN ($CAT)"#,
            ),
            (
                "mixed",
                "INCLUDE ItemID WHERE Items.Price <= $MAX AND Items.CREATION_TIMESTAMP > 0",
            ),
            (
                "current",
                "INCLUDE ItemID WHERE Items.CATEGORY_L1 IN (CurrentItem.category_L1)",
            ),
        ] {
            t.create_filter(name, &g, expr)
                .await
                .unwrap_or_else(|e| panic!("{expr}: {e}"));
        }
        assert_eq!(t.list_filters(Some(&g)).await.unwrap().len(), 3);
    }

    #[tokio::test]
    async fn more_parameters_than_filter_values_holds_are_rejected() {
        let (_dir, t, g) = group().await;
        let params = |n: usize| {
            (0..n)
                .map(|i| format!("Items.CATEGORY_L1 IN ($P{i})"))
                .collect::<Vec<_>>()
                .join(" OR ")
        };
        let expr = format!("INCLUDE ItemID WHERE {}", params(26));
        let m = rejected(&t, &g, &expr).await;
        assert!(m.contains("at most 25 distinct parameters"), "{m}");
        assert!(m.contains(&offset_of(&expr, "$P25")), "{m}");
        t.create_filter("p25", &g, &format!("INCLUDE ItemID WHERE {}", params(25)))
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn parameter_names_filter_values_cannot_supply_are_rejected() {
        let (_dir, t, g) = group().await;
        let long = |n: usize| format!("INCLUDE ItemID WHERE Items.PRICE <= ${}", "X".repeat(n));
        let m = rejected(&t, &g, &long(51)).await;
        assert!(m.contains("at most 50 characters"), "{m}");
        assert!(m.contains(&offset_of(&long(51), "$")), "{m}");
        t.create_filter("n50", &g, &long(50)).await.unwrap();
    }

    #[tokio::test]
    async fn syntax_errors_still_come_first() {
        let (_dir, t, g) = group().await;
        let m = rejected(&t, &g, r#"INCLUDE ItemID WHERE Items.NOPE IN ("a)"#).await;
        assert!(m.contains("unterminated"), "{m}");
        assert!(matches!(
            t.create_filter("f", &g, "INCLUDE").await,
            Err(Error::InvalidInput(_))
        ));
    }
}

/// The per-campaign item index answers exactly what a walk of the catalogue answers, and an
/// index behind the catalogue (items changed since it was built) still does.
mod item_index {
    use std::collections::BTreeMap;

    use proptest::prelude::*;
    use tailor_core::filters::{Filter, FilterData, IndexView, ItemIndex, Value};

    #[derive(Debug, Clone, PartialEq)]
    enum V {
        T(String),
        N(f64),
        B(bool),
    }

    type Item = Vec<(&'static str, V)>;

    struct Catalogue {
        items: Vec<Item>,
        current: Option<u32>,
        index: Option<(ItemIndex, Vec<u32>)>,
        /// Attribute reads, to see that an indexed answer reads only what changed.
        reads: std::cell::Cell<usize>,
    }

    const FIELDS: [&str; 3] = ["GENRES", "PRICE", "FAMILY"];

    impl FilterData for Catalogue {
        fn n_items(&self) -> usize {
            self.items.len()
        }
        fn item_attribute(&self, item: u32, field: &str) -> Option<Value<'_>> {
            self.reads.set(self.reads.get() + 1);
            let (_, v) = self
                .items
                .get(item as usize)?
                .iter()
                .find(|(f, _)| f.eq_ignore_ascii_case(field))?;
            Some(match v {
                V::T(s) => Value::Text(s),
                V::N(n) => Value::Number(*n),
                V::B(b) => Value::Bool(*b),
            })
        }
        fn user_attribute(&self, _: &str) -> Option<Value<'_>> {
            None
        }
        fn interactions(&self) -> Vec<(u32, String)> {
            Vec::new()
        }
        fn current_item(&self) -> Option<u32> {
            self.current
        }
        fn item_index(&self) -> Option<IndexView<'_>> {
            self.index
                .as_ref()
                .map(|(index, stale)| IndexView { index, stale })
        }
    }

    fn index_of(c: &Catalogue) -> ItemIndex {
        let mut index = ItemIndex::new(c.items.len());
        for field in FIELDS {
            index.add_field(field, |item| c.item_attribute(item, field));
        }
        index
    }

    const WORDS: [&str; 10] = [
        "Comedy", "comedy", "Drama", "10", "10.0", "25.5", "-0", "true", "True", "x",
    ];
    const NUMBERS: [f64; 7] = [-15.0, -0.0, 0.0, 5.0, 10.0, 25.5, 100.0];

    fn value() -> impl Strategy<Value = V> {
        prop_oneof![
            prop::collection::vec(prop::sample::select(&WORDS[..]), 1..4)
                .prop_map(|w| V::T(w.join("|"))),
            prop::sample::select(&NUMBERS[..]).prop_map(V::N),
            any::<bool>().prop_map(V::B),
        ]
    }

    fn item() -> impl Strategy<Value = Item> {
        prop::collection::vec(prop::option::of(value()), 3).prop_map(|vs| {
            FIELDS
                .iter()
                .zip(vs)
                .filter_map(|(f, v)| Some((*f, v?)))
                .collect()
        })
    }

    /// One condition on an item field: any operator against literals, a parameter or the
    /// current item.
    fn condition() -> impl Strategy<Value = String> {
        let field = prop::sample::select(&["GENRES", "PRICE", "FAMILY", "genres"][..]);
        let op = prop::sample::select(&["IN", "NOT IN", "=", "<", "<=", ">", ">="][..]);
        let literal = prop_oneof![
            prop::sample::select(&WORDS[..]).prop_map(|w| format!("\"{w}\"")),
            prop::sample::select(&["10", "-1.5e1", "0", "25.5", "100"][..]).prop_map(String::from),
        ];
        let operand = prop_oneof![
            prop::collection::vec(literal.clone(), 1..3).prop_map(|l| format!("({})", l.join(","))),
            literal,
            Just("$P".to_string()),
            Just("($P)".to_string()),
            prop::sample::select(&FIELDS[..]).prop_map(|f| format!("CurrentItem.{f}")),
        ];
        (field, op, operand).prop_map(|(f, op, rhs)| format!("Items.{f} {op} {rhs}"))
    }

    fn expression() -> impl Strategy<Value = String> {
        let action = prop::sample::select(&["INCLUDE", "EXCLUDE"][..]);
        let joiner = prop::sample::select(&[" AND ", " OR "][..]);
        (
            action,
            condition(),
            prop::option::of((joiner, condition())),
            prop::option::of(condition()),
        )
            .prop_map(|(action, a, b, second)| {
                let cond = match b {
                    Some((j, b)) => format!("{a}{j}{b}"),
                    None => a,
                };
                let mut expr = format!("{action} ItemID WHERE {cond}");
                if let Some(c) = second {
                    expr.push_str(&format!(" | EXCLUDE ItemID WHERE {c}"));
                }
                expr
            })
    }

    fn param() -> impl Strategy<Value = BTreeMap<String, String>> {
        prop_oneof![
            prop::collection::vec(prop::sample::select(&WORDS[..]), 1..3).prop_map(|w| w
                .iter()
                .map(|w| format!("\"{w}\""))
                .collect::<Vec<_>>()
                .join(",")),
            prop::sample::select(&["10", "25.5", "-15", "\"100\""][..]).prop_map(String::from),
        ]
        .prop_map(|p| BTreeMap::from([("P".to_string(), p)]))
    }

    fn answer(
        c: &Catalogue,
        filter: &Filter,
        values: &BTreeMap<String, String>,
    ) -> Result<Vec<u32>, String> {
        filter
            .allowed(c, values)
            .map(|s| s.iter().collect())
            .map_err(|e| e.to_string())
    }

    proptest! {
        #[test]
        fn an_index_answers_what_a_scan_answers(
            items in prop::collection::vec(item(), 0..150),
            exprs in prop::collection::vec(expression(), 1..6),
            values in param(),
            current in prop::option::of(0u32..160),
        ) {
            let scan = Catalogue { items, current, index: None, reads: Default::default() };
            let indexed = Catalogue {
                items: scan.items.clone(),
                current,
                index: Some((index_of(&scan), Vec::new())),
                reads: Default::default(),
            };
            let mut parsed = 0;
            for expr in &exprs {
                let Ok(filter) = Filter::parse(expr) else { continue };
                parsed += 1;
                prop_assert_eq!(answer(&scan, &filter, &values), answer(&indexed, &filter, &values), "{}", expr);
            }
            prop_assume!(parsed > 0);
        }

        #[test]
        fn an_index_behind_the_catalogue_rechecks_what_changed(
            before in prop::collection::vec(item(), 1..120),
            changes in prop::collection::vec((any::<prop::sample::Index>(), item()), 0..12),
            exprs in prop::collection::vec(expression(), 1..6),
            values in param(),
        ) {
            let old = Catalogue { items: before, current: None, index: None, reads: Default::default() };
            let index = index_of(&old);
            let mut items = old.items.clone();
            let mut stale = Vec::new();
            for (at, item) in changes {
                let at = at.index(items.len());
                items[at] = item;
                stale.push(at as u32);
            }
            let changed = stale.len();
            let now = Catalogue { items: items.clone(), current: None, index: None, reads: Default::default() };
            let behind = Catalogue { items, current: None, index: Some((index, stale)), reads: Default::default() };
            for expr in &exprs {
                let Ok(filter) = Filter::parse(expr) else { continue };
                behind.reads.set(0);
                prop_assert_eq!(answer(&now, &filter, &values), answer(&behind, &filter, &values), "{}", expr);
                if !expr.contains("CurrentItem") {
                    // Each condition re-reads the changed items, and nothing else.
                    prop_assert!(behind.reads.get() <= changed * 4, "{}", expr);
                }
            }
        }
    }

    #[test]
    fn common_and_rare_values_match_alike() {
        // 200 items: "Drama" on 98 (a bitset), "Comedy" on three (a list), "Horror" on the rest.
        let items: Vec<Item> = (0..200)
            .map(|i| {
                let genre = match i {
                    7 | 70 | 170 => "Comedy",
                    _ if i % 2 == 0 => "Drama",
                    _ => "Horror",
                };
                vec![("GENRES", V::T(genre.into())), ("PRICE", V::N(i as f64))]
            })
            .collect();
        let scan = Catalogue {
            items,
            current: None,
            index: None,
            reads: Default::default(),
        };
        let indexed = Catalogue {
            items: scan.items.clone(),
            current: None,
            index: Some((index_of(&scan), Vec::new())),
            reads: Default::default(),
        };
        let none = BTreeMap::new();
        for (expr, expected) in [
            (r#"INCLUDE ItemID WHERE Items.GENRES IN ("Comedy")"#, 3),
            (
                r#"INCLUDE ItemID WHERE Items.GENRES IN ("Drama", "Comedy")"#,
                101,
            ),
            (r#"EXCLUDE ItemID WHERE Items.GENRES NOT IN ("Drama")"#, 98),
            (
                "INCLUDE ItemID WHERE Items.PRICE >= 150 AND Items.PRICE < 160",
                10,
            ),
        ] {
            let filter = Filter::parse(expr).unwrap();
            let got = answer(&indexed, &filter, &none).unwrap();
            assert_eq!(got.len(), expected, "{expr}");
            assert_eq!(
                indexed.reads.get(),
                0,
                "{expr}: answered without reading attributes"
            );
            assert_eq!(Ok(got), answer(&scan, &filter, &none), "{expr}");
        }
    }
}
