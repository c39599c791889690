//! The names `ip` and the rest of netswitch use for the kernel's numbers.
//! Pure; unknown numbers come back as their decimal string.

/// A hardware address as lower-case colon-separated hex; `None` when the
/// kernel sent none (tun in L3 mode, some tunnels).
pub(crate) fn mac(bytes: &[u8]) -> Option<String> {
    if bytes.is_empty() {
        return None;
    }
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 3);
    for (i, b) in bytes.iter().enumerate() {
        if i > 0 {
            out.push(':');
        }
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0xf)]));
    }
    Some(out)
}

/// An address scope (`ifa_scope`) as `ip addr` names it.
pub(crate) fn addr_scope(scope: u8) -> String {
    match scope {
        0 => "global".into(),
        200 => "site".into(),
        253 => "link".into(),
        254 => "host".into(),
        255 => "nowhere".into(),
        n => n.to_string(),
    }
}

/// A route scope (`rtm_scope`) as `ip route` names it.
pub(crate) fn route_scope(scope: u8) -> String {
    match scope {
        0 => "universe".into(),
        200 => "site".into(),
        253 => "link".into(),
        254 => "host".into(),
        255 => "nowhere".into(),
        n => n.to_string(),
    }
}

/// Who installed a route (`rtm_protocol`). Only the origins netswitch
/// reasons about are named; routing daemons' numbers stay numbers.
pub(crate) fn route_protocol(protocol: u8) -> String {
    match protocol {
        1 => "redirect".into(),
        2 => "kernel".into(),
        3 => "boot".into(),
        4 => "static".into(),
        9 => "ra".into(),
        16 => "dhcp".into(),
        n => n.to_string(),
    }
}

/// A route's type (`rtm_type`) as `ip route` names it.
pub(crate) fn route_kind(kind: u8) -> String {
    match kind {
        0 => "unspec".into(),
        1 => "unicast".into(),
        2 => "local".into(),
        3 => "broadcast".into(),
        4 => "anycast".into(),
        5 => "multicast".into(),
        6 => "blackhole".into(),
        7 => "unreachable".into(),
        8 => "prohibit".into(),
        9 => "throw".into(),
        10 => "nat".into(),
        11 => "xresolve".into(),
        n => n.to_string(),
    }
}

/// `IFLA_OPERSTATE` (RFC 2863) by its number, in lower case; in the
/// forms `ip` prints.
pub(crate) fn oper_state_code(state: u8) -> String {
    match state {
        0 => "unknown".into(),
        1 => "notpresent".into(),
        2 => "down".into(),
        3 => "lowerlayerdown".into(),
        4 => "testing".into(),
        5 => "dormant".into(),
        6 => "up".into(),
        n => n.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn macs_are_lower_case_colon_hex() {
        assert_eq!(
            mac(&[0x02, 0xAB, 0, 0x10, 0xff, 1]).as_deref(),
            Some("02:ab:00:10:ff:01")
        );
        assert_eq!(mac(&[]), None);
    }

    #[test]
    fn unknown_numbers_stay_numbers() {
        assert_eq!(addr_scope(0), "global");
        assert_eq!(addr_scope(17), "17");
        assert_eq!(route_scope(0), "universe");
        assert_eq!(route_protocol(186), "186");
        assert_eq!(route_protocol(16), "dhcp");
        assert_eq!(route_kind(7), "unreachable");
        assert_eq!(route_kind(42), "42");
    }

    #[test]
    fn oper_states_are_lower_case() {
        assert_eq!(oper_state_code(3), "lowerlayerdown");
        assert_eq!(oper_state_code(6), "up");
        assert_eq!(oper_state_code(9), "9");
    }
}
