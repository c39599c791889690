//! Which networks need a DHCP client, and what a lease may do on the host.
//!
//! Pure: derived from a canonical `Config`, so the planner's desired and
//! running configs give the clients to stop and to start by comparing two
//! maps.

use std::collections::BTreeMap;

use netswitch_model::config::{BootProto, Config};
use netswitch_model::routing::place;
use serde::{Deserialize, Serialize};

/// One network's DHCP clients and what their leases may install.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientSpec {
    /// The network's name (names the supervisor and its files).
    pub net: String,
    /// The device carrying the network's IP config (bridge or southbound).
    pub dev: String,
    /// Run a DHCPv4 client (`bootproto: dhcp`).
    pub v4: bool,
    /// Run a DHCPv6 client (`dhcpv6: true`).
    pub v6: bool,
    /// The lease's router becomes the main table's default route; else it
    /// goes into the network's own source-routing table.
    pub default_route: bool,
    /// The lease's name servers go into the resolver configuration (the
    /// defaultRoute network without explicit `nameservers`).
    pub dns: bool,
}

/// The DHCP clients a config needs, by network. Networks without a
/// northbound device (none can exist for a legacy network with an IP
/// config) get none.
pub fn specs(config: &Config) -> BTreeMap<String, ClientSpec> {
    let mut out = BTreeMap::new();
    for (net, a) in &config.networks {
        let v4 = a.bootproto == BootProto::Dhcp;
        if !v4 && !a.dhcpv6 {
            continue;
        }
        let Some(dev) = place(net, a).northbound else {
            continue;
        };
        out.insert(
            net.clone(),
            ClientSpec {
                net: net.clone(),
                dev,
                v4,
                v6: a.dhcpv6,
                default_route: a.default_route,
                dns: a.default_route && a.nameservers.is_empty(),
            },
        );
    }
    out
}

/// IPv6 router-advertisement handling wanted on one device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RaSettings {
    /// `accept_ra`: on for `ipv6autoconf` (SLAAC) and for `dhcpv6` (the
    /// router and on-link prefix come from RAs, the address from DHCPv6).
    pub accept_ra: bool,
    /// `autoconf`: SLAAC addresses, only for `ipv6autoconf`.
    pub autoconf: bool,
    /// `accept_ra_defrtr`: an RA's router becomes a default route only on
    /// the defaultRoute network.
    pub defrtr: bool,
}

/// The RA settings of every northbound device of a config: off unless the
/// network asks for autoconf or DHCPv6.
pub fn ra_settings(config: &Config) -> BTreeMap<String, RaSettings> {
    let mut out = BTreeMap::new();
    for (net, a) in &config.networks {
        let Some(dev) = place(net, a).northbound else {
            continue;
        };
        let dynamic = a.ipv6autoconf || a.dhcpv6;
        out.insert(
            dev,
            RaSettings {
                accept_ra: dynamic,
                autoconf: a.ipv6autoconf,
                defrtr: dynamic && a.default_route,
            },
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use netswitch_model::config::NetAttrs;

    fn net(f: impl FnOnce(&mut NetAttrs)) -> NetAttrs {
        let mut a = NetAttrs {
            nic: Some("eth0".into()),
            ..NetAttrs::default()
        };
        f(&mut a);
        a
    }

    #[test]
    fn only_dhcp_networks_get_clients_on_their_northbound() {
        let mut c = Config::default();
        c.networks.insert("st".into(), net(|_| {}));
        c.networks.insert(
            "mgmt".into(),
            net(|a| {
                a.bootproto = BootProto::Dhcp;
                a.default_route = true;
            }),
        );
        c.networks.insert(
            "stor".into(),
            net(|a| {
                a.nic = Some("eth1".into());
                a.vlan = Some(7);
                a.bridged = false;
                a.dhcpv6 = true;
            }),
        );
        let s = specs(&c);
        assert_eq!(s.len(), 2);
        assert_eq!(s["mgmt"].dev, "mgmt");
        assert!(s["mgmt"].v4 && !s["mgmt"].v6 && s["mgmt"].default_route && s["mgmt"].dns);
        assert_eq!(s["stor"].dev, "eth1.7");
        assert!(!s["stor"].v4 && s["stor"].v6 && !s["stor"].default_route && !s["stor"].dns);
    }

    #[test]
    fn explicit_nameservers_keep_the_lease_dns_out() {
        let mut c = Config::default();
        c.networks.insert(
            "mgmt".into(),
            net(|a| {
                a.bootproto = BootProto::Dhcp;
                a.default_route = true;
                a.nameservers = vec!["192.0.2.53".parse().unwrap()];
            }),
        );
        assert!(!specs(&c)["mgmt"].dns);
    }

    #[test]
    fn ra_is_off_unless_asked_and_routers_only_on_the_default_network() {
        let mut c = Config::default();
        c.networks.insert("st".into(), net(|_| {}));
        c.networks.insert(
            "auto".into(),
            net(|a| {
                a.nic = Some("eth1".into());
                a.ipv6autoconf = true;
            }),
        );
        let r = ra_settings(&c);
        assert_eq!(
            r["st"],
            RaSettings {
                accept_ra: false,
                autoconf: false,
                defrtr: false
            }
        );
        assert!(r["auto"].accept_ra && r["auto"].autoconf && !r["auto"].defrtr);
    }
}
