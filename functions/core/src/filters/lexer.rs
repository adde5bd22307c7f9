//! Splits a filter expression into tokens, each with its byte span, one token at a time so
//! errors surface in source order.

use super::ast::Op;
use super::FilterError;

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tok {
    /// A keyword, dataset, field or target name; its text is the token's span.
    Word,
    /// `$NAME`; the name is the span after the `$`.
    Param,
    /// A double-quoted string, unescaped.
    Str(String),
    Num(f64),
    Cmp(Op),
    Dot,
    Comma,
    LParen,
    RParen,
    Pipe,
    Eof,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Token {
    pub(crate) tok: Tok,
    pub(crate) start: usize,
    pub(crate) end: usize,
}

pub(crate) struct Lexer<'a> {
    src: &'a str,
    pos: usize,
}

impl<'a> Lexer<'a> {
    pub(crate) fn new(src: &'a str) -> Lexer<'a> {
        Lexer { src, pos: 0 }
    }

    fn peek(&self) -> Option<char> {
        self.src[self.pos..].chars().next()
    }

    fn bump_while(&mut self, f: impl Fn(char) -> bool) {
        while let Some(c) = self.peek().filter(|&c| f(c)) {
            self.pos += c.len_utf8();
        }
    }

    fn describe_here(&self) -> String {
        self.peek()
            .map_or_else(|| "end of expression".to_string(), |c| format!("'{c}'"))
    }

    pub(crate) fn next_token(&mut self) -> Result<Token, FilterError> {
        self.bump_while(char::is_whitespace);
        let start = self.pos;
        let Some(c) = self.peek() else {
            return Ok(Token {
                tok: Tok::Eof,
                start,
                end: start,
            });
        };
        self.pos += c.len_utf8();
        let tok = match c {
            '.' => Tok::Dot,
            ',' => Tok::Comma,
            '(' => Tok::LParen,
            ')' => Tok::RParen,
            '|' => Tok::Pipe,
            '=' => Tok::Cmp(Op::Eq),
            '<' | '>' => {
                let or_equal = self.peek() == Some('=');
                if or_equal {
                    self.pos += 1;
                }
                Tok::Cmp(match (c, or_equal) {
                    ('<', false) => Op::Lt,
                    ('<', true) => Op::Le,
                    (_, false) => Op::Gt,
                    (_, true) => Op::Ge,
                })
            }
            '"' => self.string(start)?,
            '$' => {
                self.bump_while(is_word_char);
                if self.pos == start + 1 {
                    return Err(FilterError::new(
                        self.pos,
                        "a parameter name after '$'",
                        self.describe_here(),
                    ));
                }
                Tok::Param
            }
            c if c.is_ascii_alphabetic() || c == '_' => {
                self.bump_while(is_word_char);
                Tok::Word
            }
            c if c.is_ascii_digit() || c == '-' => self.number(start)?,
            _ => return Err(FilterError::new(start, "a token", format!("'{c}'"))),
        };
        Ok(Token {
            tok,
            start,
            end: self.pos,
        })
    }

    /// After the opening quote. A backslash takes the next character literally, so values can
    /// hold `"`.
    fn string(&mut self, start: usize) -> Result<Tok, FilterError> {
        let mut text = String::new();
        let mut chars = self.src[self.pos..].char_indices();
        while let Some((i, c)) = chars.next() {
            let c = match c {
                '"' => {
                    self.pos += i + 1;
                    return Ok(Tok::Str(text));
                }
                '\\' => match chars.next() {
                    Some((_, escaped)) => escaped,
                    None => break,
                },
                c => c,
            };
            text.push(c);
        }
        Err(FilterError::new(
            start,
            "a string closed by '\"'",
            "an unterminated string",
        ))
    }

    /// `-?digits(.digits)?([eE][+-]?digits)?`, the first character already taken.
    fn number(&mut self, start: usize) -> Result<Tok, FilterError> {
        if self.src[start..].starts_with('-') && !self.peek().is_some_and(|c| c.is_ascii_digit()) {
            return Err(FilterError::new(
                self.pos,
                "a digit after '-'",
                self.describe_here(),
            ));
        }
        self.bump_while(|c| c.is_ascii_digit());
        let rest = &self.src[self.pos..];
        if rest.starts_with('.') && rest[1..].starts_with(|c: char| c.is_ascii_digit()) {
            self.pos += 1;
            self.bump_while(|c| c.is_ascii_digit());
        }
        let rest = &self.src[self.pos..];
        if rest.starts_with(['e', 'E']) {
            let sign = usize::from(rest[1..].starts_with(['+', '-']));
            if rest[1 + sign..].starts_with(|c: char| c.is_ascii_digit()) {
                self.pos += 1 + sign;
                self.bump_while(|c| c.is_ascii_digit());
            }
        }
        self.src[start..self.pos]
            .parse::<f64>()
            .ok()
            .filter(|n| n.is_finite())
            .map(Tok::Num)
            .ok_or_else(|| {
                FilterError::new(
                    start,
                    "a finite number",
                    format!("'{}'", &self.src[start..self.pos]),
                )
            })
    }
}

fn is_word_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lex(src: &str) -> Result<Vec<(Tok, &str)>, FilterError> {
        let mut lexer = Lexer::new(src);
        let mut out = Vec::new();
        loop {
            let t = lexer.next_token()?;
            if t.tok == Tok::Eof {
                return Ok(out);
            }
            out.push((t.tok, &src[t.start..t.end]));
        }
    }

    #[test]
    fn tokens_and_spans() {
        let toks = lex(r#"Items.PRICE <= $P_1 AND x IN ("a\"b", "*") | y>=-2.5e3"#).unwrap();
        let expected = vec![
            (Tok::Word, "Items"),
            (Tok::Dot, "."),
            (Tok::Word, "PRICE"),
            (Tok::Cmp(Op::Le), "<="),
            (Tok::Param, "$P_1"),
            (Tok::Word, "AND"),
            (Tok::Word, "x"),
            (Tok::Word, "IN"),
            (Tok::LParen, "("),
            (Tok::Str("a\"b".into()), r#""a\"b""#),
            (Tok::Comma, ","),
            (Tok::Str("*".into()), r#""*""#),
            (Tok::RParen, ")"),
            (Tok::Pipe, "|"),
            (Tok::Word, "y"),
            (Tok::Cmp(Op::Ge), ">="),
            (Tok::Num(-2500.0), "-2.5e3"),
        ];
        assert_eq!(toks, expected);
    }

    #[test]
    fn every_comparison_operator() {
        let ops: Vec<Tok> = lex("= < <= > >=")
            .unwrap()
            .into_iter()
            .map(|t| t.0)
            .collect();
        let expected = [Op::Eq, Op::Lt, Op::Le, Op::Gt, Op::Ge].map(Tok::Cmp);
        assert_eq!(ops, expected);
    }

    #[test]
    fn numbers_stop_before_a_dangling_dot_or_exponent() {
        let toks = lex("5. 7e x").unwrap();
        let kinds: Vec<&str> = toks.iter().map(|t| t.1).collect();
        assert_eq!(kinds, ["5", ".", "7", "e", "x"]);
    }

    #[test]
    fn errors_point_at_the_offending_byte() {
        let err = lex(r#"IN ("abc"#).unwrap_err();
        assert_eq!(err.offset, 4);
        assert_eq!(err.found, "an unterminated string");
        assert_eq!(lex("a # b").unwrap_err().offset, 2);
        assert_eq!(lex("a $ b").unwrap_err().offset, 3);
        assert_eq!(lex("a - b").unwrap_err().offset, 3);
        assert_eq!(lex("x < 1e999").unwrap_err().offset, 4);
        assert_eq!(lex("é !").unwrap_err().offset, 0);
        assert_eq!(lex(r#""ok" "\"#).unwrap_err().offset, 5);
    }
}
