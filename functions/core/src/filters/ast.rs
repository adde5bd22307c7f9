//! The parsed form of a filter: what [`super::parser`] builds and [`super::eval`] walks.

use std::fmt;

use super::values::Scalar;

/// What a filter selects: the element after INCLUDE/EXCLUDE.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// Item recommendations (campaigns, recommenders, batch inference).
    ItemId,
    /// User segments (batch segment jobs).
    UserId,
    /// Action recommendations.
    ActionId,
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Target::ItemId => "ItemID",
            Target::UserId => "UserID",
            Target::ActionId => "ActionID",
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Action {
    Include,
    Exclude,
}

/// The dataset a condition reads. CurrentItem is not here: it only appears as an operand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dataset {
    Items,
    Interactions,
    Users,
    Actions,
    /// Only in IF clauses.
    CurrentUser,
}

impl fmt::Display for Dataset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Dataset::Items => "Items",
            Dataset::Interactions => "Interactions",
            Dataset::Users => "Users",
            Dataset::Actions => "Actions",
            Dataset::CurrentUser => "CurrentUser",
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    In,
    NotIn,
    Eq,
    Lt,
    Le,
    Gt,
    Ge,
}

impl Op {
    /// `=` and the ordering operators take exactly one value.
    pub(crate) fn is_comparison(self) -> bool {
        !matches!(self, Op::In | Op::NotIn)
    }

    pub(crate) fn is_ordering(self) -> bool {
        matches!(self, Op::Lt | Op::Le | Op::Gt | Op::Ge)
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Op::In => "IN",
            Op::NotIn => "NOT IN",
            Op::Eq => "=",
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
        })
    }
}

/// The right-hand side of a condition.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Operand {
    /// Literals written in the expression (one for comparisons, one or more for IN lists).
    Values(Vec<Scalar>),
    /// `$NAME`, stored without the `$`.
    Param(String),
    /// `CurrentItem.FIELD`: the query item's attribute.
    CurrentItem(String),
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Condition {
    pub(crate) dataset: Dataset,
    pub(crate) field: String,
    pub(crate) op: Op,
    pub(crate) operand: Operand,
}

/// A `Dataset.FIELD` as written and where it sits, for CreateFilter's check against the
/// dataset group's schemas.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct FieldRef {
    /// The dataset whose schema must hold the field: CurrentItem reads Items, CurrentUser Users.
    pub(crate) dataset: Dataset,
    /// The dataset as written (`Items`, `currentitem`, ...), for messages.
    pub(crate) written: String,
    pub(crate) name: String,
    pub(crate) dataset_at: usize,
    pub(crate) field_at: usize,
}

/// Conditions joined by AND/OR, kept n-ary so long chains do not deepen recursion.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Cond {
    Leaf(Condition),
    All(Vec<Cond>),
    Any(Vec<Cond>),
}

impl Cond {
    pub(crate) fn leaves(&self) -> Box<dyn Iterator<Item = &Condition> + '_> {
        match self {
            Cond::Leaf(c) => Box::new(std::iter::once(c)),
            Cond::All(cs) | Cond::Any(cs) => Box::new(cs.iter().flat_map(Cond::leaves)),
        }
    }
}

/// One `INCLUDE|EXCLUDE target WHERE ... [IF ...]` between `|`s.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Expression {
    pub(crate) action: Action,
    pub(crate) cond: Cond,
    /// CurrentUser conditions, all of which must hold for the expression to apply.
    pub(crate) guard: Vec<Condition>,
    /// Distinct parameter names of this expression, WHERE and IF alike.
    pub(crate) params: Vec<String>,
}

impl Expression {
    pub(crate) fn conditions(&self) -> impl Iterator<Item = &Condition> {
        self.cond.leaves().chain(self.guard.iter())
    }
}
