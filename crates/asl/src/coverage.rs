//! Which states of a definition a set of executions entered: the measure of "every path
//! drilled". Read from the executions' histories (`*StateEntered` events), so it counts
//! exactly what Step Functions would show, nested Map and Parallel states included.

use std::collections::BTreeSet;

use serde::Serialize;

use crate::{Definition, HistoryEvent};

/// The states of one definition, entered or never entered.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Coverage {
    /// Every state of the definition, nested ones included.
    pub states: BTreeSet<String>,
    /// The states some execution entered.
    pub entered: BTreeSet<String>,
}

impl Coverage {
    /// The coverage of `def` by nothing yet.
    pub fn of(def: &Definition) -> Coverage {
        Coverage { states: def.state_names().into_iter().collect(), entered: BTreeSet::new() }
    }

    /// Counts the states entered in one execution's history (events of states that are not
    /// the definition's are ignored: another machine's).
    pub fn record(&mut self, history: &[HistoryEvent]) {
        for ev in history {
            if ev.event_type.ends_with("StateEntered")
                && let Some(name) = ev.state_name()
                && self.states.contains(name)
            {
                self.entered.insert(name.to_string());
            }
        }
    }

    /// Adds what another coverage of the same definition entered.
    pub fn merge(&mut self, other: &Coverage) {
        self.states.extend(other.states.iter().cloned());
        self.entered.extend(other.entered.iter().cloned());
    }

    /// The states no execution entered, in name order.
    pub fn never_entered(&self) -> Vec<String> {
        self.states.difference(&self.entered).cloned().collect()
    }
}
