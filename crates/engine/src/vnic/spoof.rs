//! MAC spoofing protection for a vNIC (`macSpoof: false`): the VM may
//! send only from the MAC it was plugged with.
//!
//! On a Linux bridge the port is locked to that MAC
//! (`netswitch_kernel::macguard`: `IFLA_BRPORT_LOCKED`, learning off, one
//! static FDB entry), all of which goes with the port's membership, so an
//! unplug needs nothing more. On OVS the device's own ingress is guarded
//! (`netswitch_tc::macguard`: `u32` filters on its `ingress` qdisc that
//! pass frames, and ARP senders, from the MAC and drop the rest). The
//! kernel runs that hook before OVS's kernel datapath takes the frame;
//! OVS's userspace datapath reads the device from a packet socket, which
//! sees frames before it, so there the guard is installed but does not
//! hold (a test datapath, not a production one). ovs-vswitchd deletes a
//! port's ingress qdisc when it sets the port's policing (on adding it,
//! and again after its own restart), so the guard goes on once the port
//! is in OVS, and a re-plug (any setup reaching the network, `restore`)
//! puts back a guard that went. tc state stays on a device that leaves
//! OVS, so an unplug (and a re-plug's leave) takes the guard off.

use netswitch_model::host::HostState;

use super::{backend, Plugged, Vnic};
use crate::EngineError;

/// Whether `v` asks for protection.
pub(super) fn protected(v: &Vnic) -> bool {
    v.mac_spoof == Some(false)
}

/// The six octets of a MAC checked by `valid_mac`.
fn octets(mac: &str) -> Option<[u8; 6]> {
    let mut out = [0u8; 6];
    let mut parts = mac.split(':');
    for o in &mut out {
        *o = u8::from_str_radix(parts.next()?, 16).ok()?;
    }
    parts.next().is_none().then_some(out)
}

/// The joined device's index and the vNIC's MAC.
fn target(p: &Plugged, host: &HostState) -> Result<(u32, [u8; 6]), EngineError> {
    let dev = &p.vnic.device;
    let index = host
        .link(dev)
        .map(|l| l.index)
        .ok_or_else(|| backend(format!("vnic {dev}: device gone")))?;
    let mac = octets(&p.vnic.mac).ok_or_else(|| backend(format!("vnic {dev}: bad MAC")))?;
    Ok((index, mac))
}

/// Locks the joined device to the vNIC's MAC, when asked: its bridge
/// port on a Linux bridge, its ingress on OVS.
pub(super) fn guard(p: &Plugged, host: &HostState) -> Result<(), EngineError> {
    if !protected(&p.vnic) {
        return Ok(());
    }
    let dev = &p.vnic.device;
    let (index, mac) = target(p, host)?;
    match p.switch.as_str() {
        "legacy" => netswitch_kernel::macguard::lock_port_to_mac(index, mac)
            .map_err(|e| backend(format!("vnic {dev}: macSpoof: {e}"))),
        "ovs" => {
            let g = netswitch_tc::macguard::guard(index, mac)
                .map_err(|e| backend(format!("vnic {dev}: macSpoof: {e}")))?;
            if g.mac() != Some(mac) {
                return Err(backend(format!(
                    "vnic {dev}: macSpoof: the ingress filters read back as {g:?}"
                )));
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// Whether an OVS vNIC's guard is in place (ovs-vswitchd deletes a
/// port's ingress qdisc when it (re)configures the port's policing, as
/// on its restart): a re-plug puts back one that is not.
pub(super) fn holds(p: &Plugged, host: &HostState) -> bool {
    if p.switch != "ovs" || !protected(&p.vnic) {
        return true;
    }
    let Ok((index, mac)) = target(p, host) else {
        return true;
    };
    netswitch_tc::macguard::read(index).is_ok_and(|g| g.mac() == Some(mac))
}

/// Takes an OVS vNIC's ingress guard off its device (before it leaves
/// OVS); a device that is gone has nothing left to take off.
pub(super) fn unguard(p: &Plugged, host: &HostState) -> Result<(), EngineError> {
    if p.switch != "ovs" || !protected(&p.vnic) {
        return Ok(());
    }
    let Some(link) = host.link(&p.vnic.device) else {
        return Ok(());
    };
    netswitch_tc::macguard::unguard(link.index)
        .map_err(|e| backend(format!("vnic {}: macSpoof: {e}", p.vnic.device)))
}

#[cfg(test)]
mod tests {
    #[test]
    fn octets_of_a_mac() {
        assert_eq!(
            super::octets("52:54:00:0a:ff:01"),
            Some([0x52, 0x54, 0, 0x0a, 0xff, 1])
        );
        assert_eq!(super::octets("52:54:00:0a:ff"), None);
        assert_eq!(super::octets("52:54:00:0a:ff:01:02"), None);
    }
}
