//! The switches: for each switch type, the planner and the reporter.
//!
//! Pure: they read a [`HostState`] and configs and return plans and
//! reports; applying a plan is the engine's and the backends' job. The
//! engine calls [`plan`], which routes to the switch the desired config
//! runs on (DESIGN §1, "NetSwitch").

pub mod inverse;
pub mod legacy;
pub mod report;
pub mod topology;

use netswitch_model::config::{Config, SwitchType};
use netswitch_model::error::{Code, RequestError};
use netswitch_model::host::HostState;
use netswitch_model::plan::Plan;

/// Plans the move from `running` to `desired` on the switch the desired
/// config uses.
pub fn plan(host: &HostState, running: &Config, desired: &Config) -> Result<Plan, RequestError> {
    match (running.switch(), desired.switch()) {
        (SwitchType::Legacy, SwitchType::Legacy) => Ok(legacy::plan(host, running, desired)),
        _ => Err(RequestError::request(
            Code::BadParams,
            "switch ovs is not available in this build yet; use switch legacy",
        )),
    }
}
