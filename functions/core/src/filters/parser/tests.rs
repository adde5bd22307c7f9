use super::*;

fn ok(src: &str) -> Parsed {
    parse(src).unwrap_or_else(|e| panic!("{src}: {e}"))
}

fn err(src: &str) -> FilterError {
    match parse(src) {
        Ok(p) => panic!("{src} parsed: {p:?}"),
        Err(e) => e,
    }
}

fn leaf(p: &Parsed) -> &Condition {
    match &p.expressions[0].cond {
        Cond::Leaf(c) => c,
        other => panic!("not a leaf: {other:?}"),
    }
}

fn strings(values: &[&str]) -> Operand {
    Operand::Values(values.iter().map(|v| Scalar::text(v.to_string())).collect())
}

#[test]
fn reference_examples_parse() {
    // §5.2 and the developer guide's examples.
    for src in [
        r#"EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("purchase")"#,
        "INCLUDE ItemID WHERE Items.PRICE <= $PRICE",
        "EXCLUDE ItemID WHERE Items.GENRE IN ($GENRE) IF CurrentUser.AGE = $AGE",
        r#"INCLUDE ItemID WHERE Items.GENRE IN ($GENRE) | EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("click","stream")"#,
        "INCLUDE UserID WHERE Users.MEMBERSHIP_STATUS IN ($MEMBERSHIP)",
        r#"INCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("*")"#,
        r#"EXCLUDE ItemID WHERE Items.CATEGORY IN ("shoe") AND Items.DESCRIPTION NOT IN ("boot")"#,
        "INCLUDE ItemID WHERE Items.NUMBER_OF_DOWNLOADS < 20",
        "EXCLUDE ItemID WHERE Items.NUMBER_OF_DOWNLOADS < 20 IF CurrentUser.AGE > 18 AND CurrentUser.AGE < 30",
        r#"INCLUDE ItemID WHERE Items.CATEGORY IN ("watch") AND Items.DESCRIPTION IN ("luxury") IF CurrentUser.AGE > 18"#,
        "INCLUDE ItemID WHERE Items.PRICE < CurrentItem.PRICE AND Items.GENRE IN CurrentItem.GENRE",
    ] {
        ok(src);
    }
}

#[test]
fn example_with_if_has_the_expected_shape() {
    let p = ok("EXCLUDE ItemID WHERE Items.GENRE IN ($GENRE) IF CurrentUser.AGE = $AGE");
    assert_eq!(p.target, Target::ItemId);
    assert_eq!(p.params, ["GENRE", "AGE"]);
    let e = &p.expressions[0];
    assert_eq!(e.action, Action::Exclude);
    assert_eq!(
        e.cond,
        Cond::Leaf(Condition {
            dataset: Dataset::Items,
            field: "GENRE".into(),
            op: Op::In,
            operand: Operand::Param("GENRE".into()),
        })
    );
    assert_eq!(
        e.guard,
        [Condition {
            dataset: Dataset::CurrentUser,
            field: "AGE".into(),
            op: Op::Eq,
            operand: Operand::Param("AGE".into()),
        }]
    );
}

#[test]
fn every_operator() {
    let cases = [
        (r#"Items.G IN ("a", "b")"#, Op::In, strings(&["a", "b"])),
        (r#"Items.G NOT IN ("a")"#, Op::NotIn, strings(&["a"])),
        (r#"Items.G not in ("a")"#, Op::NotIn, strings(&["a"])),
        (r#"Items.G = "a""#, Op::Eq, strings(&["a"])),
        (
            "Items.P = 3",
            Op::Eq,
            Operand::Values(vec![Scalar::number("3".into(), 3.0)]),
        ),
        (
            "Items.P < 3",
            Op::Lt,
            Operand::Values(vec![Scalar::number("3".into(), 3.0)]),
        ),
        (
            "Items.P <= -1.5",
            Op::Le,
            Operand::Values(vec![Scalar::number("-1.5".into(), -1.5)]),
        ),
        (
            "Items.P > 1e3",
            Op::Gt,
            Operand::Values(vec![Scalar::number("1e3".into(), 1000.0)]),
        ),
        (
            "Items.P >= (7)",
            Op::Ge,
            Operand::Values(vec![Scalar::number("7".into(), 7.0)]),
        ),
        ("Items.P >= ($P)", Op::Ge, Operand::Param("P".into())),
        ("Items.G IN $G", Op::In, Operand::Param("G".into())),
    ];
    for (cond, op, operand) in cases {
        let p = ok(&format!("INCLUDE ItemID WHERE {cond}"));
        let c = leaf(&p);
        assert_eq!((c.op, &c.operand), (op, &operand), "{cond}");
    }
}

#[test]
fn keywords_and_datasets_ignore_case() {
    let p = ok(
        r#"include itemid where items.Genre in ("a") | exclude ITEMID WHERE INTERACTIONS.event_type IN ("x") if currentuser.AGE > 1"#,
    );
    assert_eq!(p.expressions.len(), 2);
    assert_eq!(p.expressions[0].action, Action::Include);
    assert_eq!(leaf(&p).field, "Genre", "field names keep their spelling");
    assert_eq!(p.expressions[1].guard.len(), 1);
}

#[test]
fn strings_keep_their_content() {
    let p = ok(r#"INCLUDE ItemID WHERE Items.G IN ("a \"b\"", "", "Horror|Thriller", "ü")"#);
    assert_eq!(
        leaf(&p).operand,
        strings(&["a \"b\"", "", "Horror|Thriller", "ü"])
    );
}

#[test]
fn parameters_are_distinct_in_order_of_appearance() {
    let p = ok(
        "INCLUDE ItemID WHERE Items.A IN ($X) OR Items.B <= $Y AND Items.C = $X \
                IF CurrentUser.D IN ($Z) | EXCLUDE ItemID WHERE Items.E IN ($Y) \
                IF CurrentUser.F = $W",
    );
    assert_eq!(p.params, ["X", "Y", "Z", "W"]);
    assert_eq!(p.expressions[0].params, ["X", "Y", "Z"]);
    assert_eq!(p.expressions[1].params, ["Y", "W"]);
}

#[test]
fn and_binds_tighter_than_or_and_parentheses_group() {
    let p = ok(r#"INCLUDE ItemID WHERE Items.A IN ("1") OR Items.B IN ("2") AND Items.C IN ("3")"#);
    let Cond::Any(alternatives) = &p.expressions[0].cond else {
        panic!("OR at the top");
    };
    assert!(matches!(&alternatives[0], Cond::Leaf(_)));
    assert!(matches!(&alternatives[1], Cond::All(terms) if terms.len() == 2));

    let p =
        ok(r#"INCLUDE ItemID WHERE (Items.A IN ("1") OR Items.B IN ("2")) AND Items.C IN ("3")"#);
    let Cond::All(terms) = &p.expressions[0].cond else {
        panic!("AND at the top");
    };
    assert!(matches!(&terms[0], Cond::Any(alternatives) if alternatives.len() == 2));
}

#[test]
fn chaining_keeps_every_expression() {
    let p = ok(
        r#"INCLUDE ItemID WHERE Items.A IN ("1") | INCLUDE ItemID WHERE Items.B IN ("2") | EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("*")"#,
    );
    let actions: Vec<Action> = p.expressions.iter().map(|e| e.action).collect();
    assert_eq!(actions, [Action::Include, Action::Include, Action::Exclude]);
}

#[test]
fn current_item_operands() {
    for (src, op) in [
        ("Items.G IN (CurrentItem.G)", Op::In),
        ("Items.G IN CurrentItem.G", Op::In),
        ("Items.G NOT IN (CurrentItem.G)", Op::NotIn),
        ("Items.G = CurrentItem.G", Op::Eq),
        ("Items.P < currentitem.P", Op::Lt),
        ("Items.P >= (CurrentItem.Q)", Op::Ge),
    ] {
        let p = ok(&format!("INCLUDE ItemID WHERE {src}"));
        let c = leaf(&p);
        assert_eq!(c.op, op, "{src}");
        assert!(matches!(c.operand, Operand::CurrentItem(_)), "{src}");
    }
}

#[test]
fn user_and_action_targets_parse() {
    assert_eq!(
        ok(r#"INCLUDE UserID WHERE Users.M IN ("gold")"#).target,
        Target::UserId
    );
    let p = ok(r#"EXCLUDE ActionID WHERE Actions.KIND IN ("x")"#);
    assert_eq!(p.target, Target::ActionId);
}

/// (expression, offset, a fragment of `expected`)
fn assert_error(src: &str, offset: usize, expected: &str) {
    let e = err(src);
    assert_eq!(e.offset, offset, "{src}: {e}");
    assert!(e.expected.contains(expected), "{src}: {e}");
}

#[test]
fn syntax_errors_point_at_the_offending_token() {
    let cases = [
        // missing WHERE
        (r#"INCLUDE ItemID Items.G IN ("a")"#, 15, "WHERE"),
        // unknown dataset
        (r#"INCLUDE ItemID WHERE Movies.G IN ("a")"#, 21, "a dataset"),
        // unterminated string: the opening quote
        (r#"INCLUDE ItemID WHERE Items.G IN ("a"#, 33, "closed by"),
        // empty list
        ("INCLUDE ItemID WHERE Items.G IN ()", 33, "a quoted string"),
        // trailing garbage
        (
            r#"INCLUDE ItemID WHERE Items.G IN ("a") foo"#,
            38,
            "AND, OR, IF",
        ),
        (
            r#"INCLUDE ItemID WHERE Items.G IN ("a") IF CurrentUser.A = 1 OR"#,
            59,
            "AND, '|'",
        ),
        (
            r#"INCLUDE ItemID WHERE Items.G IN ("a"))"#,
            37,
            "AND, OR, IF",
        ),
        // bad action, bad target, nothing after '|'
        (
            r#"KEEP ItemID WHERE Items.G IN ("a")"#,
            0,
            "INCLUDE or EXCLUDE",
        ),
        (r#"INCLUDE Item WHERE Items.G IN ("a")"#, 8, "ItemID"),
        (
            r#"INCLUDE ItemID WHERE Items.G IN ("a") |"#,
            39,
            "INCLUDE or EXCLUDE",
        ),
        // operators and operands
        (
            r#"INCLUDE ItemID WHERE Items.G LIKE ("a")"#,
            29,
            "IN, NOT IN",
        ),
        (
            r#"INCLUDE ItemID WHERE Items.G NOT ("a")"#,
            33,
            "IN after NOT",
        ),
        (r#"INCLUDE ItemID WHERE Items.G IN "a""#, 32, "'('"),
        (
            r#"INCLUDE ItemID WHERE Items.G IN ("a" "b")"#,
            37,
            "',' or ')'",
        ),
        (
            r#"INCLUDE ItemID WHERE Items.G IN ("a", $P)"#,
            38,
            "no parameters",
        ),
        (r#"INCLUDE ItemID WHERE Items.P < "5""#, 31, "a number"),
        (r#"INCLUDE ItemID WHERE Items.P = (1, 2)"#, 33, "')'"),
        ("INCLUDE ItemID WHERE Items.G IN (2)", 33, "a quoted string"),
        ("INCLUDE ItemID WHERE Items G IN (2)", 27, "'.'"),
        ("INCLUDE ItemID WHERE Items.", 27, "a field name"),
        // lexical
        (r#"INCLUDE ItemID WHERE Items.G IN ('a')"#, 33, "a token"),
        ("INCLUDE ItemID WHERE Items.P != 1", 29, "a token"),
        // whitespace only
        ("   ", 3, "INCLUDE or EXCLUDE"),
    ];
    let mut bad = Vec::new();
    for (src, offset, expected) in cases {
        let e = err(src);
        if e.offset != offset || !e.expected.contains(expected) {
            bad.push(format!("{src}\n  want {offset} {expected:?}\n  got  {e}"));
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

#[test]
fn rule_violations_point_at_the_offending_token() {
    let cases = [
        // AND/OR stay on the first condition's dataset
        (
            r#"INCLUDE ItemID WHERE Items.G IN ("a") AND Interactions.EVENT_TYPE IN ("x")"#,
            42,
            "Items (AND/OR",
        ),
        (
            r#"EXCLUDE ItemID WHERE Users.A IN ("1") OR (Users.B = 1 OR Items.C = 2)"#,
            57,
            "Users",
        ),
        // IF only with CurrentUser, CurrentUser only in IF
        (
            r#"INCLUDE ItemID WHERE Items.G IN ("a") IF Users.A = 1"#,
            41,
            "CurrentUser",
        ),
        (
            r#"INCLUDE ItemID WHERE CurrentUser.A IN ("a")"#,
            21,
            "after IF",
        ),
        // IF only at the end
        (
            r#"INCLUDE ItemID WHERE Items.G IN ("a") IF CurrentUser.A = 1 AND Items.B = 2"#,
            63,
            "CurrentUser",
        ),
        // NOT IN takes no parameter
        (
            "INCLUDE ItemID WHERE Items.G NOT IN ($G)",
            37,
            "not allowed with NOT IN",
        ),
        (
            "INCLUDE ItemID WHERE Items.G NOT IN $G",
            36,
            "not allowed with NOT IN",
        ),
        // CurrentItem only as the operand of an Items condition
        (
            r#"INCLUDE ItemID WHERE CurrentItem.G IN ("a")"#,
            21,
            "only compared against",
        ),
        (
            "INCLUDE ItemID WHERE Users.G IN (CurrentItem.G)",
            33,
            "a quoted string or $PARAM",
        ),
        (
            "INCLUDE ItemID WHERE Items.G IN (CurrentItem.G, \"a\")",
            46,
            "')'",
        ),
        // Interactions: EVENT_TYPE with IN / NOT IN only
        (
            r#"INCLUDE ItemID WHERE Interactions.VALUE IN ("1")"#,
            34,
            "EVENT_TYPE",
        ),
        (
            r#"INCLUDE ItemID WHERE Interactions.EVENT_TYPE = "click""#,
            45,
            "IN or NOT IN",
        ),
        // "*" only for event types
        (
            r#"INCLUDE ItemID WHERE Items.G IN ("a", "*")"#,
            38,
            "wildcard",
        ),
        // one target per filter; Actions only for ActionID
        (
            r#"INCLUDE ItemID WHERE Items.G IN ("a") | EXCLUDE UserID WHERE Users.A IN ("b")"#,
            48,
            "ItemID (every expression",
        ),
        (r#"INCLUDE ItemID WHERE Actions.A IN ("b")"#, 21, "ActionID"),
    ];
    let mut bad = Vec::new();
    for (src, offset, expected) in cases {
        let e = err(src);
        if e.offset != offset || !e.expected.contains(expected) {
            bad.push(format!("{src}\n  want {offset} {expected:?}\n  got  {e}"));
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

#[test]
fn length_limits() {
    assert_error("", 0, "a filter expression");
    let base = r#"INCLUDE ItemID WHERE Items.G IN ("")"#;
    let fill = |n: usize| base.replace(r#""""#, &format!("\"{}\"", "ü".repeat(n)));
    let longest = fill(MAX_CHARS - base.chars().count());
    assert_eq!(longest.chars().count(), MAX_CHARS);
    ok(&longest);
    let too_long = fill(MAX_CHARS - base.chars().count() + 1);
    let e = err(&too_long);
    // Offsets are in bytes: the 2501st character sits after 2-byte 'ü's.
    let expected_offset = too_long.char_indices().nth(MAX_CHARS).map(|(i, _)| i);
    assert_eq!(Some(e.offset), expected_offset);
    assert_eq!(e.found, "2501 characters");
}

#[test]
fn nesting_is_bounded() {
    let depth = MAX_NESTING + 1;
    let src = format!(
        r#"INCLUDE ItemID WHERE {}Items.G IN ("a"){}"#,
        "(".repeat(depth),
        ")".repeat(depth)
    );
    assert_error(&src, 21 + MAX_NESTING, "nest at most");
    let src = format!(
        r#"INCLUDE ItemID WHERE {}Items.G IN ("a"){}"#,
        "(".repeat(MAX_NESTING),
        ")".repeat(MAX_NESTING)
    );
    ok(&src);
}

#[test]
fn error_message_names_offset_expected_and_found() {
    let e = err(r#"INCLUDE ItemID Items.G IN ("a")"#);
    assert_eq!(
        e.to_string(),
        "filter expression error at offset 15: expected WHERE, found 'Items'"
    );
}

/// `n` distinct parameters `$P0..`, each in its own chained expression.
fn with_params(n: usize) -> String {
    (0..n)
        .map(|i| format!("INCLUDE ItemID WHERE Items.G{i} IN ($P{i})"))
        .collect::<Vec<_>>()
        .join(" | ")
}

#[test]
fn at_most_25_distinct_parameters() {
    assert_eq!(ok(&with_params(MAX_PARAMS)).params.len(), 25);
    let src = with_params(MAX_PARAMS + 1);
    let at = src.rfind("$P25").unwrap();
    assert_error(&src, at, "at most 25 distinct parameters");
    // Repeating a parameter does not count it twice.
    let repeated = format!(
        "{} | EXCLUDE ItemID WHERE Items.X IN ($P0)",
        with_params(25)
    );
    assert_eq!(ok(&repeated).params.len(), 25);
}

#[test]
fn parameter_names_of_at_most_50_characters() {
    let name = |n: usize| "N".repeat(n);
    let p = ok(&format!("INCLUDE ItemID WHERE Items.G IN (${})", name(50)));
    assert_eq!(p.params, [name(50)]);
    for src in [
        format!("INCLUDE ItemID WHERE Items.G IN (${})", name(51)),
        format!("INCLUDE ItemID WHERE Items.P <= ${}", name(51)),
        format!(
            "INCLUDE ItemID WHERE Items.G IN (\"a\") IF CurrentUser.A = ${}",
            name(51)
        ),
    ] {
        let at = src.find('$').unwrap();
        assert_error(&src, at, "at most 50 characters");
    }
}

#[test]
fn fields_are_recorded_with_their_datasets_and_offsets() {
    let src = "INCLUDE ItemID WHERE Items.G IN (CurrentItem.H) IF CurrentUser.A = 1 \
               | EXCLUDE ItemID WHERE Interactions.event_type IN (\"x\") OR Interactions.EVENT_TYPE IN (\"y\")";
    let p = ok(src);
    let got: Vec<(Dataset, &str, &str, &str, &str)> = p
        .fields
        .iter()
        .map(|f| {
            (
                f.dataset,
                f.written.as_str(),
                f.name.as_str(),
                &src[f.dataset_at..f.dataset_at + f.written.len()],
                &src[f.field_at..f.field_at + f.name.len()],
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (Dataset::Items, "Items", "G", "Items", "G"),
            (Dataset::Items, "CurrentItem", "H", "CurrentItem", "H"),
            (Dataset::Users, "CurrentUser", "A", "CurrentUser", "A"),
            (
                Dataset::Interactions,
                "Interactions",
                "event_type",
                "Interactions",
                "event_type"
            ),
            (
                Dataset::Interactions,
                "Interactions",
                "EVENT_TYPE",
                "Interactions",
                "EVENT_TYPE"
            ),
        ]
    );
}
