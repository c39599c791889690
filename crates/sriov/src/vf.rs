//! Per-VF settings of a PF, by rtnetlink: set with `RTM_SETLINK` on the PF
//! (`IFLA_VFINFO_LIST` / `IFLA_VF_INFO` / `IFLA_VF_MAC`, `IFLA_VF_VLAN`,
//! `IFLA_VF_SPOOFCHK`, `IFLA_VF_TRUST`, `IFLA_VF_LINK_STATE`) and read back
//! from the PF's VF info in a link dump (`IFLA_EXT_MASK` with
//! `RTEXT_FILTER_VF`), which is what `ip link show PF` prints as `vf N`.
//! The driver keeps them; a VF need not be a netdev (netdevsim's are not).

use netswitch_netlink::{attr, Attrs, Socket, NETLINK_ROUTE, NLM_F_ACK};
use serde::{Deserialize, Serialize};

use crate::SriovError;

const RTM_NEWLINK: u16 = 16;
const RTM_GETLINK: u16 = 18;
const RTM_SETLINK: u16 = 19;
const IFLA_IFNAME: u16 = 3;
const IFLA_VFINFO_LIST: u16 = 22;
const IFLA_EXT_MASK: u16 = 29;
const RTEXT_FILTER_VF: u32 = 1;
const IFLA_VF_INFO: u16 = 1;
const IFLA_VF_MAC: u16 = 1;
const IFLA_VF_VLAN: u16 = 2;
const IFLA_VF_SPOOFCHK: u16 = 4;
const IFLA_VF_LINK_STATE: u16 = 5;
const IFLA_VF_TRUST: u16 = 9;
const NLA_F_NESTED: u16 = 0x8000;
const IFINFOMSG_LEN: usize = 16;

/// A VF's link state as the PF forces it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LinkState {
    /// Follows the PF's uplink.
    Auto,
    /// Always up.
    Enable,
    /// Always down.
    Disable,
}

impl LinkState {
    fn number(self) -> u32 {
        match self {
            LinkState::Auto => 0,
            LinkState::Enable => 1,
            LinkState::Disable => 2,
        }
    }

    fn from_number(n: u32) -> Option<Self> {
        match n {
            0 => Some(LinkState::Auto),
            1 => Some(LinkState::Enable),
            2 => Some(LinkState::Disable),
            _ => None,
        }
    }
}

/// Settings of one VF; `None` leaves a setting as it is (and reads as
/// "not reported").
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VfSettings {
    /// The MAC a VM sees, `xx:xx:xx:xx:xx:xx`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac: Option<String>,
    /// The VLAN the PF tags the VF's traffic with; 0 is none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vlan: Option<u16>,
    /// Whether the PF drops frames from another source MAC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spoofchk: Option<bool>,
    /// Whether the VF may change its MAC or go promiscuous.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trust: Option<bool>,
    /// Whether the VF's link follows the uplink or is forced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link_state: Option<LinkState>,
}

impl VfSettings {
    /// What a VF goes back to when its vNIC is unplugged: no MAC, no
    /// VLAN, spoof checking on, untrusted, link following the uplink.
    pub fn reset() -> Self {
        Self {
            mac: Some("00:00:00:00:00:00".into()),
            vlan: Some(0),
            spoofchk: Some(true),
            trust: Some(false),
            link_state: Some(LinkState::Auto),
        }
    }
}

/// Parses `xx:xx:xx:xx:xx:xx`.
fn mac_bytes(mac: &str) -> Option<[u8; 6]> {
    let mut out = [0u8; 6];
    let mut parts = mac.split(':');
    for b in &mut out {
        let p = parts.next()?;
        if p.len() != 2 {
            return None;
        }
        *b = u8::from_str_radix(p, 16).ok()?;
    }
    parts.next().is_none().then_some(out)
}

/// Two u32s (`vf`, value), as most `ifla_vf_*` structs are.
fn pair(vf: u32, v: u32) -> Vec<u8> {
    let mut b = vf.to_ne_bytes().to_vec();
    b.extend(v.to_ne_bytes());
    b
}

/// The `IFLA_VF_INFO` nest for `vf`; Err names a bad MAC.
fn vf_info_nest(vf: u32, s: &VfSettings) -> Result<Vec<u8>, String> {
    let mut inner = Vec::new();
    if let Some(mac) = &s.mac {
        let bytes =
            mac_bytes(mac).ok_or_else(|| format!("mac {mac:?} is not xx:xx:xx:xx:xx:xx"))?;
        let mut v = vf.to_ne_bytes().to_vec();
        v.extend(bytes);
        v.resize(4 + 32, 0);
        attr::push(&mut inner, IFLA_VF_MAC, &v);
    }
    if let Some(vlan) = s.vlan {
        let mut v = pair(vf, u32::from(vlan));
        v.extend(0u32.to_ne_bytes());
        attr::push(&mut inner, IFLA_VF_VLAN, &v);
    }
    if let Some(on) = s.spoofchk {
        attr::push(&mut inner, IFLA_VF_SPOOFCHK, &pair(vf, u32::from(on)));
    }
    if let Some(on) = s.trust {
        attr::push(&mut inner, IFLA_VF_TRUST, &pair(vf, u32::from(on)));
    }
    if let Some(ls) = s.link_state {
        attr::push(&mut inner, IFLA_VF_LINK_STATE, &pair(vf, ls.number()));
    }
    let mut info = Vec::new();
    attr::push(&mut info, IFLA_VF_INFO | NLA_F_NESTED, &inner);
    let mut list = Vec::new();
    attr::push(&mut list, IFLA_VFINFO_LIST | NLA_F_NESTED, &info);
    Ok(list)
}

/// A link request body: `ifinfomsg` (by name, index 0) and attributes.
fn body(pf: &str, attrs: &[u8]) -> Vec<u8> {
    let mut b = vec![0u8; IFINFOMSG_LEN];
    let mut name = pf.as_bytes().to_vec();
    name.push(0);
    attr::push(&mut b, IFLA_IFNAME, &name);
    b.extend_from_slice(attrs);
    b
}

/// Sets VF `vf` of the PF netdev `pf` (in this network namespace).
pub fn set_vf(pf: &str, vf: u32, s: &VfSettings) -> Result<(), SriovError> {
    let nest = vf_info_nest(vf, s).map_err(|e| {
        SriovError::Netlink(std::io::Error::new(std::io::ErrorKind::InvalidInput, e))
    })?;
    let mut sock = Socket::open(NETLINK_ROUTE).map_err(SriovError::Netlink)?;
    sock.request(RTM_SETLINK, NLM_F_ACK, &body(pf, &nest), |_| {})
        .map_err(SriovError::Netlink)?;
    Ok(())
}

/// The VFs of the PF netdev `pf` as the driver reports them, by VF number.
pub fn vfs_of(pf: &str) -> Result<Vec<(u32, VfSettings)>, SriovError> {
    let mut mask = Vec::new();
    attr::push(&mut mask, IFLA_EXT_MASK, &RTEXT_FILTER_VF.to_ne_bytes());
    let mut sock = Socket::open(NETLINK_ROUTE).map_err(SriovError::Netlink)?;
    let mut out = Vec::new();
    sock.request(RTM_GETLINK, 0, &body(pf, &mask), |m| {
        if m.kind == RTM_NEWLINK {
            if let Some(attrs) = m.payload.get(IFINFOMSG_LEN..) {
                out = parse_vfinfo(attrs);
            }
        }
    })
    .map_err(SriovError::Netlink)?;
    Ok(out)
}

/// The VFs of one link message's attributes.
fn parse_vfinfo(attrs: &[u8]) -> Vec<(u32, VfSettings)> {
    let Some(list) = Attrs::new(attrs).find_kind(IFLA_VFINFO_LIST) else {
        return Vec::new();
    };
    Attrs::new(list)
        .filter(|(k, _)| *k == IFLA_VF_INFO)
        .filter_map(|(_, info)| parse_one(info))
        .collect()
}

fn parse_one(info: &[u8]) -> Option<(u32, VfSettings)> {
    let mut vf = None;
    let mut s = VfSettings::default();
    for (kind, p) in Attrs::new(info) {
        let value = p.get(4..8).map(|b| attr::u32_at(b, 0));
        match kind {
            IFLA_VF_MAC => {
                vf = attr::u32_of(p.get(..4)?);
                let m = p.get(4..10)?;
                s.mac = Some(
                    m.iter()
                        .map(|b| format!("{b:02x}"))
                        .collect::<Vec<_>>()
                        .join(":"),
                );
            }
            IFLA_VF_VLAN => s.vlan = value.and_then(|v| u16::try_from(v).ok()),
            IFLA_VF_SPOOFCHK => s.spoofchk = value.map(|v| v == 1),
            IFLA_VF_TRUST => s.trust = value.map(|v| v == 1),
            IFLA_VF_LINK_STATE => s.link_state = value.and_then(LinkState::from_number),
            _ => {}
        }
    }
    Some((vf?, s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_nest_reads_back_as_what_was_set() {
        let s = VfSettings {
            mac: Some("52:54:00:aa:bb:0c".into()),
            vlan: Some(100),
            spoofchk: Some(true),
            trust: Some(false),
            link_state: Some(LinkState::Disable),
        };
        let list = vf_info_nest(3, &s).unwrap();
        let got = parse_vfinfo(&list);
        assert_eq!(got, vec![(3, s)]);
    }

    #[test]
    fn a_bad_mac_is_refused_before_any_request() {
        let s = VfSettings {
            mac: Some("52:54:00:aa:bb".into()),
            ..VfSettings::default()
        };
        assert!(vf_info_nest(0, &s).unwrap_err().contains("mac"));
        assert_eq!(mac_bytes("52:54:00:aa:bb:0g"), None);
        assert_eq!(mac_bytes("52:54:00:aa:bb:0c:00"), None);
    }
}
