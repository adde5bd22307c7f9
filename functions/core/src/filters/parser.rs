//! Recursive-descent parser for the filter grammar (reference §5.1), enforcing the rules
//! Personalize checks at CreateFilter time.

use super::ast::{Action, Cond, Condition, Dataset, Expression, FieldRef, Op, Operand, Target};
use super::lexer::{Lexer, Tok, Token};
use super::values::Scalar;
use super::FilterError;

/// CreateFilter's limit on `filterExpression`, in characters.
pub(crate) const MAX_CHARS: usize = 2500;
/// Bounds recursion on parenthesised conditions, so hostile input cannot overflow the stack.
const MAX_NESTING: usize = 16;
/// A request's `filterValues` holds at most this many entries, so a filter with more distinct
/// parameters could never be given all of them.
pub(crate) const MAX_PARAMS: usize = 25;
/// `filterValues` keys are at most this long, so a longer `$NAME` could never be supplied.
pub(crate) const MAX_PARAM_CHARS: usize = 50;

#[derive(Debug)]
pub(crate) struct Parsed {
    pub(crate) target: Target,
    pub(crate) expressions: Vec<Expression>,
    pub(crate) params: Vec<String>,
    pub(crate) fields: Vec<FieldRef>,
}

pub(crate) fn parse(src: &str) -> Result<Parsed, FilterError> {
    let chars = src.chars().count();
    if chars == 0 {
        return Err(FilterError::new(
            0,
            "a filter expression",
            "an empty expression",
        ));
    }
    if chars > MAX_CHARS {
        let offset = src
            .char_indices()
            .nth(MAX_CHARS)
            .map_or(src.len(), |(i, _)| i);
        return Err(FilterError::new(
            offset,
            format!("at most {MAX_CHARS} characters"),
            format!("{chars} characters"),
        ));
    }
    let mut p = Parser::new(src)?;
    let mut expressions = vec![p.expression()?];
    while p.tok.tok == Tok::Pipe {
        p.advance()?;
        expressions.push(p.expression()?);
    }
    let target = p.target.ok_or_else(|| p.error("INCLUDE or EXCLUDE"))?;
    Ok(Parsed {
        target,
        expressions,
        params: p.params,
        fields: p.fields,
    })
}

struct Parser<'a> {
    src: &'a str,
    lexer: Lexer<'a>,
    tok: Token,
    /// Every expression of a filter selects the same kind of thing.
    target: Option<Target>,
    /// The dataset of the current expression's first condition; AND/OR may not leave it.
    first: Option<Dataset>,
    params: Vec<String>,
    expr_params: Vec<String>,
    /// Every `Dataset.FIELD` written, for the check against the group's schemas.
    fields: Vec<FieldRef>,
}

impl<'a> Parser<'a> {
    fn new(src: &'a str) -> Result<Parser<'a>, FilterError> {
        let mut lexer = Lexer::new(src);
        let tok = lexer.next_token()?;
        Ok(Parser {
            src,
            lexer,
            tok,
            target: None,
            first: None,
            params: Vec::new(),
            expr_params: Vec::new(),
            fields: Vec::new(),
        })
    }

    fn advance(&mut self) -> Result<Token, FilterError> {
        let next = self.lexer.next_token()?;
        Ok(std::mem::replace(&mut self.tok, next))
    }

    fn text(&self, tok: &Token) -> &'a str {
        &self.src[tok.start..tok.end]
    }

    fn describe(&self, tok: &Token) -> String {
        if tok.tok == Tok::Eof {
            return "end of expression".to_string();
        }
        let text = self.text(tok);
        match text.char_indices().nth(40) {
            Some((cut, _)) => format!("'{}...'", &text[..cut]),
            None => format!("'{text}'"),
        }
    }

    fn error_at(&self, tok: &Token, expected: impl Into<String>) -> FilterError {
        FilterError::new(tok.start, expected, self.describe(tok))
    }

    fn error(&self, expected: impl Into<String>) -> FilterError {
        self.error_at(&self.tok, expected)
    }

    fn is_word(&self, keyword: &str) -> bool {
        self.tok.tok == Tok::Word && self.text(&self.tok).eq_ignore_ascii_case(keyword)
    }

    fn expect_word(&mut self, keyword: &str) -> Result<(), FilterError> {
        if !self.is_word(keyword) {
            return Err(self.error(keyword));
        }
        self.advance()?;
        Ok(())
    }

    fn expect(&mut self, tok: Tok, expected: &str) -> Result<Token, FilterError> {
        if self.tok.tok != tok {
            return Err(self.error(expected));
        }
        self.advance()
    }

    /// `.FIELD` after the dataset name `dataset_tok`, recorded as a field of `schema`; the
    /// token is kept for errors about the field.
    fn field(
        &mut self,
        dataset_tok: &Token,
        schema: Dataset,
    ) -> Result<(Token, String), FilterError> {
        self.expect(Tok::Dot, "'.'")?;
        let tok = self.expect(Tok::Word, "a field name")?;
        let name = self.text(&tok).to_string();
        self.fields.push(FieldRef {
            dataset: schema,
            written: self.text(dataset_tok).to_string(),
            name: name.clone(),
            dataset_at: dataset_tok.start,
            field_at: tok.start,
        });
        Ok((tok, name))
    }

    fn expression(&mut self) -> Result<Expression, FilterError> {
        let action = if self.is_word("INCLUDE") {
            Action::Include
        } else if self.is_word("EXCLUDE") {
            Action::Exclude
        } else {
            return Err(self.error("INCLUDE or EXCLUDE"));
        };
        self.advance()?;
        self.target()?;
        self.expect_word("WHERE")?;
        self.first = None;
        self.expr_params.clear();
        let cond = self.any(0)?;
        let mut guard = Vec::new();
        let expected_next = if self.is_word("IF") {
            self.advance()?;
            loop {
                guard.push(self.condition(true)?);
                if !self.is_word("AND") {
                    break;
                }
                self.advance()?;
            }
            "AND, '|' or end of expression"
        } else {
            "AND, OR, IF, '|' or end of expression"
        };
        if !matches!(self.tok.tok, Tok::Pipe | Tok::Eof) {
            return Err(self.error(expected_next));
        }
        Ok(Expression {
            action,
            cond,
            guard,
            params: std::mem::take(&mut self.expr_params),
        })
    }

    fn target(&mut self) -> Result<(), FilterError> {
        let target = [Target::ItemId, Target::UserId, Target::ActionId]
            .into_iter()
            .find(|t| self.is_word(&t.to_string()))
            .ok_or_else(|| self.error("ItemID, UserID or ActionID"))?;
        match self.target {
            Some(first) if first != target => {
                return Err(self.error(format!(
                    "{first} (every expression of a filter selects the same target)"
                )))
            }
            _ => self.target = Some(target),
        }
        self.advance()?;
        Ok(())
    }

    fn any(&mut self, depth: usize) -> Result<Cond, FilterError> {
        let mut alternatives = vec![self.all(depth)?];
        while self.is_word("OR") {
            self.advance()?;
            alternatives.push(self.all(depth)?);
        }
        Ok(collapse(alternatives, Cond::Any))
    }

    fn all(&mut self, depth: usize) -> Result<Cond, FilterError> {
        let mut terms = vec![self.term(depth)?];
        while self.is_word("AND") {
            self.advance()?;
            terms.push(self.term(depth)?);
        }
        Ok(collapse(terms, Cond::All))
    }

    fn term(&mut self, depth: usize) -> Result<Cond, FilterError> {
        if self.tok.tok != Tok::LParen {
            return Ok(Cond::Leaf(self.condition(false)?));
        }
        if depth >= MAX_NESTING {
            return Err(self.error(format!(
                "a condition (parentheses nest at most {MAX_NESTING} deep)"
            )));
        }
        self.advance()?;
        let cond = self.any(depth + 1)?;
        self.expect(Tok::RParen, "AND, OR or ')'")?;
        Ok(cond)
    }

    /// `Dataset.FIELD op value`; in an IF clause the dataset must be CurrentUser.
    fn condition(&mut self, in_if: bool) -> Result<Condition, FilterError> {
        let dataset_tok = self.tok.clone();
        let dataset = self.dataset(in_if)?;
        if !in_if {
            match self.first {
                None => self.first = Some(dataset),
                Some(first) if first != dataset => {
                    return Err(self.error_at(
                        &dataset_tok,
                        format!(
                            "{first} (AND/OR stay within the dataset of the first condition; \
                             chain expressions with '|' to mix datasets)"
                        ),
                    ))
                }
                Some(_) => {}
            }
        }
        self.advance()?;
        let schema = match dataset {
            Dataset::CurrentUser => Dataset::Users,
            other => other,
        };
        let (field_tok, field) = self.field(&dataset_tok, schema)?;
        if dataset == Dataset::Interactions && !field.eq_ignore_ascii_case("EVENT_TYPE") {
            return Err(self.error_at(
                &field_tok,
                "EVENT_TYPE (the only Interactions field filters can use)",
            ));
        }
        let op_tok = self.tok.clone();
        let op = self.op()?;
        if dataset == Dataset::Interactions && op.is_comparison() {
            return Err(self.error_at(&op_tok, "IN or NOT IN (Interactions.EVENT_TYPE)"));
        }
        let operand = self.operand(dataset, op)?;
        Ok(Condition {
            dataset,
            field,
            op,
            operand,
        })
    }

    fn dataset(&self, in_if: bool) -> Result<Dataset, FilterError> {
        let word = if self.tok.tok == Tok::Word {
            self.text(&self.tok)
        } else {
            ""
        };
        let is = |name: &str| word.eq_ignore_ascii_case(name);
        if in_if {
            return if is("CurrentUser") {
                Ok(Dataset::CurrentUser)
            } else {
                Err(self.error("CurrentUser (IF only checks the current user)"))
            };
        }
        let dataset = if is("Items") {
            Dataset::Items
        } else if is("Interactions") {
            Dataset::Interactions
        } else if is("Users") {
            Dataset::Users
        } else if is("Actions") {
            Dataset::Actions
        } else if is("CurrentUser") {
            return Err(self.error(
                "Items, Interactions, Users or Actions (CurrentUser only appears after IF)",
            ));
        } else if is("CurrentItem") {
            return Err(self.error(
                "Items, Interactions, Users or Actions (CurrentItem is only compared against, \
                 as in Items.FIELD IN (CurrentItem.FIELD))",
            ));
        } else {
            return Err(self.error("a dataset: Items, Interactions, Users or Actions"));
        };
        let fits = match dataset {
            Dataset::Actions => self.target == Some(Target::ActionId),
            _ => true,
        };
        if !fits {
            return Err(
                self.error("Items, Interactions or Users (Actions is for ActionID filters)")
            );
        }
        Ok(dataset)
    }

    fn op(&mut self) -> Result<Op, FilterError> {
        let op = match self.tok.tok {
            Tok::Cmp(op) => op,
            _ if self.is_word("IN") => Op::In,
            _ if self.is_word("NOT") => {
                self.advance()?;
                if !self.is_word("IN") {
                    return Err(self.error("IN after NOT"));
                }
                Op::NotIn
            }
            _ => return Err(self.error("IN, NOT IN, =, <, <=, > or >=")),
        };
        self.advance()?;
        Ok(op)
    }

    fn operand(&mut self, dataset: Dataset, op: Op) -> Result<Operand, FilterError> {
        let current_item = dataset == Dataset::Items;
        let parenthesised = self.tok.tok == Tok::LParen;
        if parenthesised {
            self.advance()?;
        }
        let operand = match &self.tok.tok {
            Tok::Str(_) if op.is_ordering() => return Err(self.error(expected(op, current_item))),
            Tok::Str(_) if op.is_comparison() => Operand::Values(vec![self.string(dataset)?]),
            Tok::Str(_) if parenthesised => {
                let mut list = vec![self.string(dataset)?];
                while self.tok.tok == Tok::Comma {
                    self.advance()?;
                    if !matches!(self.tok.tok, Tok::Str(_)) {
                        return Err(self.error(
                            "a quoted string (lists hold only quoted strings, no parameters)",
                        ));
                    }
                    list.push(self.string(dataset)?);
                }
                self.expect(Tok::RParen, "',' or ')'")?;
                return Ok(Operand::Values(list));
            }
            &Tok::Num(n) if op.is_comparison() => {
                let tok = self.advance()?;
                Operand::Values(vec![Scalar::number(self.text(&tok).to_string(), n)])
            }
            Tok::Param if op == Op::NotIn => {
                return Err(self.error("a quoted string ($PARAM is not allowed with NOT IN)"))
            }
            Tok::Param => {
                let name = self.param_name()?;
                for list in [&mut self.params, &mut self.expr_params] {
                    if !list.contains(&name) {
                        list.push(name.clone());
                    }
                }
                Operand::Param(name)
            }
            Tok::Word if current_item && self.is_word("CurrentItem") => {
                let tok = self.advance()?;
                Operand::CurrentItem(self.field(&tok, Dataset::Items)?.1)
            }
            _ => {
                let want = if parenthesised || op.is_comparison() {
                    expected(op, current_item)
                } else {
                    let param = if op == Op::NotIn { "" } else { ", $PARAM" };
                    let current = if current_item {
                        " or CurrentItem.FIELD"
                    } else {
                        ""
                    };
                    format!("'('{param}{current}")
                };
                return Err(self.error(want));
            }
        };
        if parenthesised {
            self.expect(Tok::RParen, "')'")?;
        }
        Ok(operand)
    }

    /// A `$NAME` that a request's `filterValues` can supply: a key of at most
    /// [`MAX_PARAM_CHARS`], and at most [`MAX_PARAMS`] distinct names per filter.
    fn param_name(&mut self) -> Result<String, FilterError> {
        let name = self.text(&self.tok)[1..].to_string();
        if name.len() > MAX_PARAM_CHARS {
            return Err(self.error(format!(
                "a parameter name of at most {MAX_PARAM_CHARS} characters \
                 (the longest filterValues key), not {}",
                name.len()
            )));
        }
        if self.params.len() >= MAX_PARAMS && !self.params.contains(&name) {
            return Err(self.error(format!(
                "at most {MAX_PARAMS} distinct parameters (filterValues holds at most \
                 {MAX_PARAMS} entries)"
            )));
        }
        self.advance()?;
        Ok(name)
    }

    fn string(&mut self, dataset: Dataset) -> Result<Scalar, FilterError> {
        let tok = self.advance()?;
        let Tok::Str(text) = tok.tok.clone() else {
            return Err(self.error_at(&tok, "a quoted string"));
        };
        if text == "*" && dataset != Dataset::Interactions {
            return Err(self.error_at(
                &tok,
                "a value other than \"*\" (the wildcard is only for Interactions.EVENT_TYPE)",
            ));
        }
        Ok(Scalar::text(text))
    }
}

fn collapse(mut conds: Vec<Cond>, join: fn(Vec<Cond>) -> Cond) -> Cond {
    if conds.len() == 1 {
        if let Some(only) = conds.pop() {
            return only;
        }
    }
    join(conds)
}

/// What may follow an operator (inside parentheses, if any).
fn expected(op: Op, current_item: bool) -> String {
    let mut options = match op {
        Op::In => vec!["a quoted string", "$PARAM"],
        Op::NotIn => vec!["a quoted string"],
        Op::Eq => vec!["a number", "a quoted string", "$PARAM"],
        _ => vec!["a number", "$PARAM"],
    };
    if current_item {
        options.push("CurrentItem.FIELD");
    }
    match options.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
        _ => options.join(""),
    }
}

#[cfg(test)]
mod tests;
