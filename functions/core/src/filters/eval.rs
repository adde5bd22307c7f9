//! Turns a parsed filter, one request's data and its `filterValues` into the allowed items.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};

use super::ast::{Action, Cond, Condition, Dataset, Op, Operand, Target};
use super::values::{any_part, parse_filter_value, scalars, Scalar};
use super::{Filter, FilterData, Value};
use crate::engine::ItemSet;
use crate::Error;

/// Filters see only this many of a user's most recent interactions per event type (§5.1).
pub(crate) const HISTORY_PER_EVENT_TYPE: usize = 100;

pub(crate) fn allowed(
    filter: &Filter,
    data: &dyn FilterData,
    values: &BTreeMap<String, String>,
) -> Result<ItemSet, Error> {
    if filter.target != Target::ItemId {
        return Err(Error::InvalidInput(format!(
            "this filter selects {} and cannot filter item recommendations",
            filter.target
        )));
    }
    evaluate(filter, data, values)
}

/// Whether a `UserID` filter lets the user whose attributes `data` holds (as the current
/// user, over a one-item catalogue) into a segment.
pub(crate) fn allows_user(
    filter: &Filter,
    data: &dyn FilterData,
    values: &BTreeMap<String, String>,
) -> Result<bool, Error> {
    if filter.target != Target::UserId {
        return Err(Error::InvalidInput(format!(
            "this filter selects {} and cannot filter users of a segment",
            filter.target
        )));
    }
    Ok(evaluate(filter, data, values)?.contains(0))
}

fn evaluate(
    filter: &Filter,
    data: &dyn FilterData,
    values: &BTreeMap<String, String>,
) -> Result<ItemSet, Error> {
    let mut params = HashMap::new();
    for name in &filter.params {
        if let Some(raw) = values.get(name) {
            if let Some(parsed) = parse_filter_value(name, raw)? {
                params.insert(name.as_str(), parsed);
            }
        }
    }
    let mut cx = Context {
        data,
        n_items: data.n_items(),
        params,
        history: None,
    };
    let mut include: Option<ItemSet> = None;
    let mut exclude = ItemSet::new(cx.n_items);
    for expr in &filter.expressions {
        if let Some(missing) = expr
            .params
            .iter()
            .find(|p| !cx.params.contains_key(p.as_str()))
        {
            match expr.action {
                Action::Include => {
                    return Err(Error::InvalidInput(format!(
                        "the filter needs a value for ${missing} in filterValues"
                    )))
                }
                Action::Exclude => continue,
            }
        }
        if !cx.guard_holds(&expr.guard)? {
            continue;
        }
        let matched = cx.eval(&expr.cond)?;
        match expr.action {
            Action::Include => match &mut include {
                Some(set) => set.union_with(&matched),
                None => include = Some(matched),
            },
            Action::Exclude => exclude.union_with(&matched),
        }
    }
    // With no INCLUDE in force, everything not excluded is allowed.
    let mut out = include.unwrap_or_else(|| ItemSet::full(cx.n_items));
    out.subtract(&exclude);
    Ok(out)
}

struct Context<'a> {
    data: &'a dyn FilterData,
    n_items: usize,
    params: HashMap<&'a str, Vec<Scalar>>,
    /// The capped interaction history as (item, lower-cased event type), built on first use.
    history: Option<Vec<(u32, String)>>,
}

impl Context<'_> {
    fn guard_holds(&self, guard: &[Condition]) -> Result<bool, Error> {
        for cond in guard {
            let rhs = self.operand(cond)?;
            // An unknown user attribute switches the expression off whatever the operator.
            let holds = self
                .data
                .user_attribute(&cond.field)
                .is_some_and(|v| holds(Some(v), cond.op, &rhs));
            if !holds {
                return Ok(false);
            }
        }
        Ok(true)
    }

    fn eval(&mut self, cond: &Cond) -> Result<ItemSet, Error> {
        match cond {
            Cond::Leaf(c) => self.leaf(c),
            Cond::All(cs) | Cond::Any(cs) => {
                let mut acc: Option<ItemSet> = None;
                for c in cs {
                    let set = self.eval(c)?;
                    match (&mut acc, cond) {
                        (None, _) => acc = Some(set),
                        (Some(a), Cond::All(_)) => a.intersect_with(&set),
                        (Some(a), _) => a.union_with(&set),
                    }
                }
                Ok(acc.unwrap_or_else(|| ItemSet::new(self.n_items)))
            }
        }
    }

    fn leaf(&mut self, cond: &Condition) -> Result<ItemSet, Error> {
        let rhs = self.operand(cond)?;
        let n = self.n_items;
        let mut set = ItemSet::new(n);
        match cond.dataset {
            Dataset::Items => {
                let view = self.data.item_index().filter(|v| v.index.n_items() == n);
                match view.and_then(|v| Some((v, v.index.matching(&cond.field, cond.op, &rhs)?))) {
                    Some((view, indexed)) => {
                        set = indexed;
                        for &item in view.stale {
                            let attr = self.data.item_attribute(item, &cond.field);
                            match holds(attr, cond.op, &rhs) {
                                true if (item as usize) < n => set.insert(item),
                                _ => set.remove(item),
                            }
                        }
                    }
                    None => {
                        for item in 0..n as u32 {
                            if holds(self.data.item_attribute(item, &cond.field), cond.op, &rhs) {
                                set.insert(item);
                            }
                        }
                    }
                }
            }
            Dataset::Users => {
                if holds(self.data.user_attribute(&cond.field), cond.op, &rhs) {
                    set = ItemSet::full(n);
                }
            }
            Dataset::Interactions => {
                let types: Vec<String> = rhs.iter().map(|s| s.text.to_lowercase()).collect();
                let any_type = types.iter().any(|t| t == "*");
                let wanted = cond.op == Op::In;
                let data = self.data;
                let history = self
                    .history
                    .get_or_insert_with(|| recent_interactions(data));
                for (item, event_type) in history.iter() {
                    let listed = any_type || types.contains(event_type);
                    // ItemSet::insert does not bound-check within the last word.
                    if listed == wanted && (*item as usize) < n {
                        set.insert(*item);
                    }
                }
            }
            Dataset::Actions | Dataset::CurrentUser => {
                return Err(Error::Internal(format!(
                    "{} condition reached item filtering",
                    cond.dataset
                )))
            }
        }
        Ok(set)
    }

    /// The values a condition compares against for this request.
    fn operand<'c>(&self, cond: &'c Condition) -> Result<Cow<'c, [Scalar]>, Error> {
        match &cond.operand {
            Operand::Values(values) => Ok(Cow::Borrowed(values)),
            Operand::CurrentItem(field) => {
                let item = self.data.current_item().ok_or_else(|| {
                    Error::InvalidInput(
                        "the filter compares with CurrentItem, so the request needs an itemId"
                            .to_string(),
                    )
                })?;
                Ok(Cow::Owned(scalars(self.data.item_attribute(item, field))))
            }
            Operand::Param(name) => {
                let values = self.params.get(name.as_str()).ok_or_else(|| {
                    Error::InvalidInput(format!(
                        "the filter needs a value for ${name} in filterValues"
                    ))
                })?;
                if cond.op.is_comparison() && values.len() != 1 {
                    return Err(Error::InvalidInput(format!(
                        "filter value for ${name} must be a single value for {}",
                        cond.op
                    )));
                }
                if cond.op.is_ordering() && values.iter().any(|v| v.num.is_none()) {
                    return Err(Error::InvalidInput(format!(
                        "filter value for ${name} must be a number for {}",
                        cond.op
                    )));
                }
                Ok(Cow::Owned(values.clone()))
            }
        }
    }
}

/// Whether an attribute satisfies `op` against `rhs`. A multi-value attribute matches when any
/// of its values does; NOT IN is exactly the negation of IN, so a null attribute is NOT IN
/// every list.
fn holds(attr: Option<Value<'_>>, op: Op, rhs: &[Scalar]) -> bool {
    let Some(attr) = attr else {
        return op == Op::NotIn;
    };
    match op {
        Op::In => any_part(attr, |p| rhs.iter().any(|s| p.same_text(s))),
        Op::NotIn => !any_part(attr, |p| rhs.iter().any(|s| p.same_text(s))),
        Op::Eq => any_part(attr, |p| rhs.iter().any(|s| p.equals(s))),
        Op::Lt | Op::Le | Op::Gt | Op::Ge => any_part(attr, |p| {
            p.number().is_some_and(|a| {
                rhs.iter().filter_map(|s| s.num).any(|b| match op {
                    Op::Lt => a < b,
                    Op::Le => a <= b,
                    Op::Gt => a > b,
                    _ => a >= b,
                })
            })
        }),
    }
}

/// The most recent interactions per (case-folded) event type, newest first.
fn recent_interactions(data: &dyn FilterData) -> Vec<(u32, String)> {
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut kept = Vec::new();
    for (item, event_type) in data.interactions().into_iter().rev() {
        let event_type = event_type.to_lowercase();
        let count = seen.entry(event_type.clone()).or_default();
        if *count < HISTORY_PER_EVENT_TYPE {
            *count += 1;
            kept.push((item, event_type));
        }
    }
    kept
}
