//! Host QoS in the engine: the tc backend's reading side. The host's tc
//! objects are read next to its links whenever the engine observes the
//! host for planning, verifying or rolling back, so the planner diffs
//! QoS against the kernel as it diffs links.

use std::collections::BTreeMap;
use std::sync::Arc;

use netswitch_model::host::HostState;
use netswitch_tc::TcError;

/// Reads the tc objects of the host's links into `host.tc`. One qdisc
/// dump for the whole host; classes and filters only of devices with a
/// root qdisc of their own (the default qdiscs have handle 0 and are
/// skipped), so a host without QoS costs one short dump.
pub(crate) fn read_tc(host: &mut Arc<HostState>) -> Result<(), TcError> {
    let devs: BTreeMap<String, i32> = host
        .links
        .values()
        .map(|l| (l.name.clone(), l.index as i32))
        .collect();
    let tc = netswitch_tc::dump(&devs)?;
    if tc != host.tc {
        Arc::make_mut(host).tc = tc;
    }
    Ok(())
}
