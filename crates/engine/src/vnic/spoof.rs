//! MAC spoofing protection for a vNIC (`macSpoof: false`): the VM may
//! send only from the MAC it was plugged with.
//!
//! On a Linux bridge the port is locked to that MAC
//! (`netswitch_kernel::macguard`: `IFLA_BRPORT_LOCKED`, learning off, one
//! static FDB entry), all of which goes with the port's membership, so an
//! unplug needs nothing more. On OVS it is not built yet: such a plug is
//! refused (21) rather than made unprotected.

use netswitch_model::host::HostState;
use netswitch_model::Code;

use super::{backend, refuse, Plugged, Vnic};
use crate::EngineError;

/// Whether `v` asks for protection.
pub(super) fn protected(v: &Vnic) -> bool {
    v.mac_spoof == Some(false)
}

/// Refuses (21) protection where it is not built (OVS).
pub(super) fn check(p: &Plugged) -> Result<(), EngineError> {
    if protected(&p.vnic) && p.switch != "legacy" {
        return Err(refuse(
            Code::BadParams,
            &p.vnic.device,
            "macSpoof",
            "MAC spoofing protection is built for Linux-bridge networks only, not yet on OVS",
        ));
    }
    Ok(())
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

/// Locks the joined device's bridge port to the vNIC's MAC, when asked.
pub(super) fn guard(p: &Plugged, host: &HostState) -> Result<(), EngineError> {
    if !protected(&p.vnic) || p.switch != "legacy" {
        return Ok(());
    }
    let dev = &p.vnic.device;
    let index = host
        .link(dev)
        .map(|l| l.index)
        .ok_or_else(|| backend(format!("vnic {dev}: device gone")))?;
    let mac = octets(&p.vnic.mac).ok_or_else(|| backend(format!("vnic {dev}: bad MAC")))?;
    netswitch_kernel::macguard::lock_port_to_mac(index, mac)
        .map_err(|e| backend(format!("vnic {dev}: macSpoof: {e}")))
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
