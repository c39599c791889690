//! The planner's former home, kept for its callers: the planner is now
//! [`crate::planner`], one module per capability.

pub use crate::planner::plan;
pub use netswitch_model::routing::{table6_of, table_of, RULE_PRIORITY};
