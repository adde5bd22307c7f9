//! Client-supplied text made safe to show: in a log line or in an error message sent back.
//!
//! A value from a request may hold newlines and terminal escapes (a forged log line), invisible
//! direction overrides (a line that reads differently than it is) or megabytes (a log that grows
//! by the request size). Everything shown passes through here: control and formatting
//! characters are escaped, and the result is cut to a bound with the original size noted.

/// How much of one echoed value (an ARN, an id, a name) is shown.
pub const SHOWN_CHARS: usize = 200;

/// How much of a whole message (a log line's error, an error sent to a client) is shown.
pub const MESSAGE_CHARS: usize = 1000;

/// `value` escaped and cut to [`SHOWN_CHARS`], for quoting inside a message.
pub fn shown(value: &str) -> String {
    escape_bounded(value, SHOWN_CHARS)
}

/// `s` with control characters, `\` and invisible formatting characters escaped (`\n`,
/// `\u{1b}`, ...), at most `max_chars` characters of output, then `…(N bytes)` naming the
/// size of the whole input when it was cut.
pub fn escape_bounded(s: &str, max_chars: usize) -> String {
    render(s, max_chars, true)
}

/// [`escape_bounded`] for a whole message whose echoed values went through [`shown`]
/// already: control and formatting characters are escaped, `\` is left as it is so those
/// echoes are not escaped twice.
pub fn message_bounded(s: &str) -> String {
    render(s, MESSAGE_CHARS, false)
}

fn render(s: &str, max_chars: usize, escape_backslash: bool) -> String {
    let mut out = String::with_capacity(s.len().min(max_chars) + 16);
    let mut shown_chars = 0;
    for c in s.chars() {
        let piece = if c == '\\' && !escape_backslash {
            None
        } else {
            escaped(c)
        };
        let n = piece.as_ref().map_or(1, |p| p.chars().count());
        if shown_chars + n > max_chars {
            out.push_str(&format!("…({} bytes)", s.len()));
            return out;
        }
        shown_chars += n;
        match piece {
            Some(p) => out.push_str(&p),
            None => out.push(c),
        }
    }
    out
}

/// The escape for `c`, or `None` when it is shown as itself.
fn escaped(c: char) -> Option<String> {
    match c {
        '\n' => Some("\\n".into()),
        '\r' => Some("\\r".into()),
        '\t' => Some("\\t".into()),
        // Escaped too so that an escape in the output always means the input held that char.
        '\\' => Some("\\\\".into()),
        c if c.is_control() || is_invisible_format(c) => Some(format!("\\u{{{:x}}}", c as u32)),
        _ => None,
    }
}

/// Characters that change how a line reads without being seen: bidi overrides and isolates,
/// zero-width characters, line and paragraph separators, the BOM.
fn is_invisible_format(c: char) -> bool {
    matches!(
        c,
        '\u{061c}'
            | '\u{200b}'..='\u{200f}'
            | '\u{2028}'..='\u{202e}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{2069}'
            | '\u{feff}'
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_and_invisible_characters_are_escaped() {
        assert_eq!(shown("a\nb"), "a\\nb");
        assert_eq!(shown("x\u{1b}[31mred"), "x\\u{1b}[31mred");
        assert_eq!(shown("\\n"), "\\\\n");
        assert_eq!(shown("a\u{202e}b\u{7f}\u{85}"), "a\\u{202e}b\\u{7f}\\u{85}");
        assert_eq!(shown("plain ümlaut ✓"), "plain ümlaut ✓");
    }

    #[test]
    fn long_values_are_cut_and_their_size_named() {
        let long = "a".repeat(1_900_000);
        let s = shown(&long);
        assert_eq!(s, format!("{}…(1900000 bytes)", "a".repeat(SHOWN_CHARS)));
        // Escapes count towards the bound: a value of escapes cannot grow past it either.
        let esc = shown(&"\u{1b}".repeat(10_000));
        assert!(esc.chars().count() <= SHOWN_CHARS + 20, "{}", esc.len());
        assert!(esc.ends_with("…(10000 bytes)"));
        assert_eq!(shown(&"a".repeat(SHOWN_CHARS)), "a".repeat(SHOWN_CHARS));
    }

    #[test]
    fn messages_keep_earlier_escapes() {
        let echo = shown("x\ny\n");
        assert_eq!(
            message_bounded(&format!("id '{echo}'\u{1b}")),
            "id 'x\\ny\\n'\\u{1b}"
        );
        assert!(message_bounded(&"m".repeat(5000)).ends_with("…(5000 bytes)"));
    }
}
