//! Filters: Personalize's filter expressions (reference §5), parsed once at CreateFilter time
//! into an AST and evaluated per request into the set of catalogue items a recommendation may
//! contain.
//!
//! ```text
//! INCLUDE ItemID WHERE Items.GENRES IN ($GENRE) | EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("purchase")
//! ```
//!
//! Beyond the documented grammar, conditions may be grouped with parentheses (AND binds tighter
//! than OR), and comparison values may be parenthesised (`Items.PRICE <= ($PRICE)`).

mod ast;
mod eval;
mod fields;
mod index;
mod lexer;
mod parser;
mod values;

use std::collections::BTreeMap;

pub use ast::Target;
pub use index::{IndexView, ItemIndex};

use crate::engine::ItemSet;

/// A parsed filter expression.
#[derive(Debug, Clone, PartialEq)]
pub struct Filter {
    target: Target,
    expressions: Vec<ast::Expression>,
    params: Vec<String>,
    fields: Vec<ast::FieldRef>,
}

/// Where a parse failed: byte offset into the expression, and what was expected.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("filter expression error at offset {offset}: expected {expected}, found {found}")]
pub struct FilterError {
    pub offset: usize,
    pub expected: String,
    pub found: String,
}

impl FilterError {
    fn new(offset: usize, expected: impl Into<String>, found: impl Into<String>) -> FilterError {
        FilterError {
            offset,
            expected: expected.into(),
            found: found.into(),
        }
    }
}

/// CreateFilter rejects a bad expression with InvalidInputException.
impl From<FilterError> for crate::Error {
    fn from(e: FilterError) -> crate::Error {
        crate::Error::InvalidInput(e.to_string())
    }
}

/// An attribute value as a filter sees it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value<'a> {
    /// Categorical values are `|`-joined ("Horror|Thriller"); each is matched on its own.
    Text(&'a str),
    Number(f64),
    Bool(bool),
}

/// Read access to what a filter looks at, supplied per request by the serving layer.
///
/// Field names are passed exactly as written in the filter expression; implementations match
/// them against schema column names ignoring ASCII case (as
/// [`crate::schema`]'s `field_index_ignore_case` does), since Personalize's schemas cannot
/// hold two fields differing only in case.
pub trait FilterData {
    fn n_items(&self) -> usize;
    /// Item attribute `field` of catalogue item `item`; None when null/absent.
    fn item_attribute(&self, item: u32, field: &str) -> Option<Value<'_>>;
    /// The current user's attribute (Users dataset); None when unknown.
    fn user_attribute(&self, field: &str) -> Option<Value<'_>>;
    /// The current user's interactions, oldest first: (item code, event type).
    fn interactions(&self) -> Vec<(u32, String)>;
    /// For related-items requests: the item asked about.
    fn current_item(&self) -> Option<u32>;
    /// The catalogue's attributes indexed ahead of the request ([`Filter::item_fields`]);
    /// without one, `Items.*` conditions read [`FilterData::item_attribute`] for every item.
    fn item_index(&self) -> Option<IndexView<'_>> {
        None
    }
}

impl Filter {
    /// Parses and validates an expression as CreateFilter does.
    pub fn parse(expression: &str) -> Result<Filter, FilterError> {
        let parsed = parser::parse(expression)?;
        Ok(Filter {
            target: parsed.target,
            expressions: parsed.expressions,
            params: parsed.params,
            fields: parsed.fields,
        })
    }

    /// What the filter selects; only [`Target::ItemId`] filters apply to item recommendations.
    pub fn target(&self) -> Target {
        self.target
    }

    /// Distinct `$NAME`s (without `$`), in order of appearance.
    pub fn parameters(&self) -> Vec<String> {
        self.params.clone()
    }

    /// The Items fields whose values select items (an [`ItemIndex`] serves these), as written.
    pub fn item_fields(&self) -> Vec<&str> {
        let mut fields: Vec<&str> = Vec::new();
        for c in self.conditions() {
            if c.dataset == ast::Dataset::Items
                && !fields.iter().any(|f| f.eq_ignore_ascii_case(&c.field))
            {
                fields.push(&c.field);
            }
        }
        fields
    }

    /// Whether [`FilterData::interactions`] is read.
    pub fn uses_interactions(&self) -> bool {
        self.conditions()
            .any(|c| c.dataset == ast::Dataset::Interactions)
    }

    /// Whether [`FilterData::user_attribute`] is read: an IF clause, or a Users condition.
    pub fn uses_current_user(&self) -> bool {
        self.conditions()
            .any(|c| matches!(c.dataset, ast::Dataset::Users | ast::Dataset::CurrentUser))
    }

    /// Whether [`FilterData::current_item`] is needed (related-items requests only).
    pub fn uses_current_item(&self) -> bool {
        self.conditions()
            .any(|c| matches!(c.operand, ast::Operand::CurrentItem(_)))
    }

    /// The catalogue items this filter allows for one request. `values` is the request's
    /// `filterValues`, keyed by parameter name without `$`.
    ///
    /// Errors (all [`crate::Error::InvalidInput`]): a parameter of an INCLUDE expression is
    /// missing or blank, a value is not a list of JSON-quoted strings, a comparison gets other
    /// than one (numeric) value, CurrentItem is used without a current item, or the filter
    /// selects users or actions.
    pub fn allowed(
        &self,
        data: &dyn FilterData,
        values: &BTreeMap<String, String>,
    ) -> Result<ItemSet, crate::Error> {
        eval::allowed(self, data, values)
    }

    /// For a `UserID` filter (batch segments): whether the user whose attributes
    /// [`FilterData::user_attribute`] answers belongs in the segment. `data` is a one-item
    /// catalogue; errors as [`Filter::allowed`], and for a filter that selects items.
    pub fn allows_user(
        &self,
        data: &dyn FilterData,
        values: &BTreeMap<String, String>,
    ) -> Result<bool, crate::Error> {
        eval::allows_user(self, data, values)
    }

    fn conditions(&self) -> impl Iterator<Item = &ast::Condition> {
        self.expressions
            .iter()
            .flat_map(ast::Expression::conditions)
    }
}
