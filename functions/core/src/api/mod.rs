//! The wire types of the runtime, events and control-plane APIs, with Personalize's JSON field names and
//! limits. One definition, used by the local server, the Lambdas and the CLI.

pub mod control;
mod decode;
pub mod events;
pub mod runtime;
pub mod text;

pub use decode::parse_json;

use crate::error::{Error, Result};

/// Fails with InvalidInputException naming `field` unless `value` has 1..=`max` characters.
pub(crate) fn check_len(field: &str, value: &str, min: usize, max: usize) -> Result<()> {
    let n = value.chars().count();
    if n < min || n > max {
        return Err(Error::InvalidInput(format!(
            "{field} must have length between {min} and {max}, but has {n}"
        )));
    }
    Ok(())
}

pub(crate) fn check_count(field: &str, n: usize, min: usize, max: usize) -> Result<()> {
    if n < min || n > max {
        return Err(Error::InvalidInput(format!(
            "{field} must have between {min} and {max} members, but has {n}"
        )));
    }
    Ok(())
}

/// `camelCase` property key → `UPPER_SNAKE` schema column (`numberOfRatings` → `NUMBER_OF_RATINGS`).
pub fn column_of_property(key: &str) -> String {
    let mut out = String::with_capacity(key.len() + 4);
    for (i, c) in key.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_uppercase());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn property_keys_map_to_columns() {
        assert_eq!(column_of_property("numberOfRatings"), "NUMBER_OF_RATINGS");
        assert_eq!(column_of_property("genres"), "GENRES");
        assert_eq!(
            column_of_property("creationTimestamp"),
            "CREATION_TIMESTAMP"
        );
    }
}
