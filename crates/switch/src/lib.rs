//! The switches: for each switch type, the planner and the reporter.
//!
//! Pure: they read a [`HostState`] and configs and return plans and
//! reports; applying a plan is the engine's and the backends' job. The
//! engine calls [`plan`], which routes to the switch the desired config
//! runs on (docs/api.md §1, "NetSwitch").

pub mod foreign;
pub mod inverse;
pub mod legacy;
pub mod ovs;
pub mod planner;
pub mod report;
pub mod scope;
pub mod topology;

use netswitch_model::config::Config;
use netswitch_model::error::RequestError;
use netswitch_model::host::HostState;
use netswitch_model::plan::Plan;

/// Plans the move from `running` to `desired`: one planner for both
/// switches, so a switch-type change is one plan (legacy devices torn down,
/// OVS bridges built, or back) and IP config works the same on both.
pub fn plan(host: &HostState, running: &Config, desired: &Config) -> Result<Plan, RequestError> {
    Ok(planner::plan(host, running, desired))
}
