//! The OVN chassis: what `vdsm-tool ovn-config` did, through OVSDB.
//!
//! ovn-controller reads its whole configuration from the local
//! `Open_vSwitch.external_ids`: `system-id` (the chassis name),
//! `ovn-remote` (the southbound database), `ovn-encap-type` and
//! `ovn-encap-ip` (the tunnel endpoint), `ovn-bridge-mappings` (physical
//! networks onto bridges; kept in step with OVS networks by `crate::ovs`).
//! [`Engine::configure_ovn`] writes these keys in one transaction with the
//! integration bridge `br-int`, made here rather than by ovn-controller
//! so it has the host's `datapath_type` (ovn-controller would make a
//! kernel-datapath bridge, which a host without the openvswitch module
//! cannot carry).
//!
//! The request is kept as `<state-dir>/ovn.json`: it says the chassis is
//! configured (`ovn show`, caps), lets a later setup move `ovn-encap-ip`
//! with the address of an `encapNetwork`, and lets a boot's restore write
//! the keys again.

mod keys;

use std::net::IpAddr;

use netswitch_model::caps::OvnReport;
use netswitch_model::config::{Config, SwitchType};
use netswitch_model::host::HostState;
use netswitch_model::{Code, RequestError};
use serde::{Deserialize, Serialize};
use tracing::{info, warn};

use crate::{EngineError, FailureKind, TransactionError};

pub(crate) use keys::br_int as br_int_rows;
pub use keys::{random_uuid, valid_remote};

/// The state dir's file with the chassis' configuration.
const OVN_FILE: &str = "ovn.json";

/// `Open_vSwitch.external_ids` keys.
pub const SYSTEM_ID: &str = "system-id";
/// See [`SYSTEM_ID`].
pub const REMOTE: &str = "ovn-remote";
/// See [`SYSTEM_ID`].
pub const ENCAP_TYPE: &str = "ovn-encap-type";
/// See [`SYSTEM_ID`].
pub const ENCAP_IP: &str = "ovn-encap-ip";
/// See [`SYSTEM_ID`].
pub const MAPPINGS: &str = "ovn-bridge-mappings";
/// The integration bridge ovn-controller programs.
pub const BR_INT: &str = "br-int";

/// `Host.configureOvn`'s parameters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OvnConfig {
    /// The southbound database: `tcp:IP:PORT`, `ssl:IP:PORT` or
    /// `unix:PATH`, several separated by commas.
    pub remote: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encap_ip: Option<String>,
    /// A netswitch network whose address is the tunnel endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encap_network: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system_id: Option<String>,
    /// `geneve` (the default) or `vxlan`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encap_type: Option<String>,
}

fn refuse(code: Code, attr: &str, reason: impl Into<String>) -> EngineError {
    RequestError::request(code, format!("ovn: {attr}: {}", reason.into())).into()
}

fn backend(reason: impl Into<String>) -> EngineError {
    TransactionError::new(FailureKind::BackendOp, reason.into()).into()
}

/// The checks that need nothing but the request (21).
fn check_shape(c: &OvnConfig) -> Result<(), EngineError> {
    if let Err(why) = valid_remote(&c.remote) {
        return Err(refuse(Code::BadParams, "remote", why));
    }
    match (&c.encap_ip, &c.encap_network) {
        (Some(_), Some(_)) => {
            return Err(refuse(
                Code::BadParams,
                "encapIp",
                "give encapIp or encapNetwork, not both",
            ))
        }
        (None, None) => {
            return Err(refuse(
                Code::BadParams,
                "encapIp",
                "give encapIp or encapNetwork",
            ))
        }
        (Some(ip), None) if ip.parse::<IpAddr>().is_err() => {
            let ip = netswitch_model::error::clip(ip, 60);
            return Err(refuse(
                Code::BadParams,
                "encapIp",
                format!("{ip:?} is not an IP address"),
            ));
        }
        _ => {}
    }
    if let Some(id) = &c.system_id {
        let ok = !id.is_empty()
            && id.len() <= 64
            && id
                .chars()
                .all(|ch| ch.is_ascii_alphanumeric() || "-_.".contains(ch));
        if !ok {
            return Err(refuse(
                Code::BadParams,
                "systemId",
                "1 to 64 letters, digits, '-', '_' or '.'",
            ));
        }
    }
    if let Some(t) = &c.encap_type {
        if t != "geneve" && t != "vxlan" {
            let t = netswitch_model::error::clip(t, 40);
            return Err(refuse(
                Code::BadParams,
                "encapType",
                format!("{t:?} is not geneve or vxlan"),
            ));
        }
    }
    Ok(())
}

/// Runs `tx` (a transaction that makes br-int when its read lacks it)
/// again once if it failed: ovn-controller makes br-int as soon as it
/// connects to OVS, so it can slip in between the read and the commit, and
/// OVSDB then refuses a second bridge of that name. Its row is in the
/// replica by the time the refusal arrives, so the second read sees it.
pub(crate) fn with_br_int_retry(mut tx: impl FnMut() -> Result<(), String>) -> Result<(), String> {
    match tx() {
        Err(e) => {
            warn!("OVS transaction with br-int failed ({e}); reading again");
            tx()
        }
        ok => ok,
    }
}

/// The device that carries network `name`'s address.
fn top_device(name: &str, running: &Config) -> Option<String> {
    let net = running.networks.get(name)?;
    if net.bridged || net.switch == SwitchType::Ovs {
        return Some(name.to_string());
    }
    let base = net.base()?;
    Some(match net.vlan {
        Some(id) => format!("{base}.{id}"),
        None => base.to_string(),
    })
}

/// The current address of network `name` (IPv4 first): 27 when there is
/// no such network, 21 when it has no address.
pub fn network_address(
    name: &str,
    running: &Config,
    host: &HostState,
) -> Result<IpAddr, EngineError> {
    let Some(dev) = top_device(name, running) else {
        let n = netswitch_model::error::clip(name, 40);
        return Err(refuse(
            Code::BadBridge,
            "encapNetwork",
            format!("no network {n:?}"),
        ));
    };
    let global: Vec<IpAddr> = host
        .addrs_of(&dev)
        .filter(|a| a.scope == "global" && !a.secondary)
        .map(|a| a.address)
        .collect();
    let configured = running.networks.get(name).and_then(|n| n.ipaddr);
    global
        .iter()
        .find(|a| a.is_ipv4())
        .or(global.first())
        .copied()
        .or(configured.map(IpAddr::V4))
        .ok_or_else(|| {
            refuse(
                Code::BadParams,
                "encapNetwork",
                format!("network {name} has no address"),
            )
        })
}

impl crate::Engine {
    fn read_ovn_file(&self) -> Result<Option<OvnConfig>, EngineError> {
        let Some(dir) = self.store.dir(false)? else {
            return Ok(None);
        };
        let Some(bytes) = dir.read(OVN_FILE)? else {
            return Ok(None);
        };
        match serde_json::from_slice(&bytes) {
            Ok(c) => Ok(Some(c)),
            Err(e) => {
                warn!("{OVN_FILE}: unreadable ({e}); the chassis counts as unconfigured");
                Ok(None)
            }
        }
    }

    /// The chassis' configuration as kept, `None` when it is not
    /// configured.
    pub fn ovn_config(&self) -> Result<Option<OvnConfig>, EngineError> {
        self.read_ovn_file()
    }

    /// `Host.configureOvn`: checks everything first (nothing changes on a
    /// refusal), then writes the keys and br-int in one OVSDB transaction
    /// and keeps the request.
    pub fn configure_ovn(&self, c: &OvnConfig) -> Result<OvnReport, EngineError> {
        let _span = tracing::info_span!("configure_ovn").entered();
        check_shape(c)?;
        let _lock = self.lock()?;
        self.write_ovn(c)?;
        let dir = self
            .store
            .dir(true)?
            .ok_or_else(|| backend("ovn: no state directory"))?;
        let bytes = serde_json::to_vec_pretty(c).map_err(|e| backend(format!("ovn: {e}")))?;
        dir.replace(OVN_FILE, &bytes)?;
        info!(remote = %c.remote, "OVN chassis configured");
        self.ovn_report()
    }

    /// Writes `c`'s keys (the encap IP resolved now) and br-int.
    fn write_ovn(&self, c: &OvnConfig) -> Result<(), EngineError> {
        let encap_ip = match (&c.encap_ip, &c.encap_network) {
            (Some(ip), _) => ip.clone(),
            (None, Some(net)) => {
                let running = self.running()?;
                let host = self.host.read()?;
                network_address(net, &running, &host)?.to_string()
            }
            (None, None) => return Err(refuse(Code::BadParams, "encapIp", "missing")),
        };
        let encap_type = c.encap_type.clone().unwrap_or_else(|| "geneve".into());
        let set = vec![
            (REMOTE.to_string(), c.remote.clone()),
            (ENCAP_TYPE.to_string(), encap_type),
            (ENCAP_IP.to_string(), encap_ip),
        ];
        let given = c.system_id.clone();
        with_br_int_retry(|| {
            let mut set = set.clone();
            crate::ovs::transact_root(&self.ovs, |now| {
                let id = given
                    .clone()
                    .or_else(|| now.root_external_ids.get(SYSTEM_ID).cloned())
                    .unwrap_or_else(random_uuid);
                set.push((SYSTEM_ID.to_string(), id));
                let br = now.bridge_uuid.get(BR_INT).map(|u| {
                    let have = now.state.bridges.get(BR_INT);
                    (u, have.map_or("", |b| b.datapath_type.as_str()))
                });
                Ok(keys::set_ops(&set, br, &self.ovs.datapath))
            })
        })
        .map_err(|e| backend(format!("ovn: {e}")))
    }

    /// `Host.unconfigureOvn`: removes the keys `configure` set but
    /// `system-id` (the chassis keeps its name, so bindings made under it
    /// stay this host's), and forgets the kept request. br-int stays: vNICs
    /// may still be ports of it.
    pub fn unconfigure_ovn(&self) -> Result<OvnReport, EngineError> {
        let _span = tracing::info_span!("unconfigure_ovn").entered();
        let _lock = self.lock()?;
        crate::ovs::transact_root(&self.ovs, |_| {
            Ok(keys::remove_ops(&[REMOTE, ENCAP_TYPE, ENCAP_IP]))
        })
        .map_err(|e| backend(format!("ovn: {e}")))?;
        if let Some(dir) = self.store.dir(false)? {
            dir.remove_file(OVN_FILE)?;
            dir.sync()?;
        }
        info!("OVN chassis unconfigured");
        self.ovn_report()
    }

    /// `ovn show` and the caps' `ovn`: the kept request and what OVS has.
    /// Reads OVS only when configured (a host without OVS reports
    /// `configured: false` without it).
    pub fn ovn_report(&self) -> Result<OvnReport, EngineError> {
        let Some(c) = self.read_ovn_file()? else {
            return Ok(OvnReport::default());
        };
        let ids = self.ovs.link.read(&self.ovs)?.root_external_ids;
        Ok(OvnReport {
            configured: true,
            system_id: ids.get(SYSTEM_ID).cloned(),
            remote: ids.get(REMOTE).cloned(),
            encap_type: ids.get(ENCAP_TYPE).cloned(),
            encap_ip: ids.get(ENCAP_IP).cloned(),
            encap_network: c.encap_network,
            bridge_mappings: ids.get(MAPPINGS).cloned(),
        })
    }

    /// Fills the caps' `ovn` and `openstack_binding_host_ids`. An OVS that
    /// cannot be read leaves `ovn` saying only `configured` (with a
    /// warning) rather than failing the whole report.
    pub fn fill_ovn_caps(&self, caps: &mut netswitch_model::caps::Caps) {
        caps.ovn = match self.ovn_report() {
            Ok(r) => r,
            Err(e) => {
                warn!("caps: the OVN chassis: {e}");
                OvnReport {
                    configured: self.read_ovn_file().ok().flatten().is_some(),
                    ..OvnReport::default()
                }
            }
        };
        caps.openstack_binding_host_ids = caps.ovn.binding_host_ids();
    }

    /// After a setup: moves `ovn-encap-ip` with the address of the
    /// `encapNetwork`, if it changed. Best effort: the setup is done and
    /// stays; a failure is logged.
    pub(crate) fn ovn_follow(&self) {
        let Ok(Some(c)) = self.read_ovn_file() else {
            return;
        };
        let Some(net) = &c.encap_network else {
            return;
        };
        let (Ok(running), Ok(host)) = (self.running(), self.host.read()) else {
            return;
        };
        let Ok(addr) = network_address(net, &running, &host) else {
            warn!(network = %net, "the OVN encap network has no address now");
            return;
        };
        let now = self
            .ovs
            .link
            .read(&self.ovs)
            .ok()
            .and_then(|r| r.root_external_ids.get(ENCAP_IP).cloned());
        if now.as_deref() == Some(addr.to_string().as_str()) {
            return;
        }
        let set = [(ENCAP_IP.to_string(), addr.to_string())];
        match crate::ovs::transact_root(&self.ovs, |_| Ok(keys::set_keys(&set))) {
            Ok(()) => info!(network = %net, %addr, "OVN encap IP follows its network"),
            Err(e) => warn!("ovn: moving ovn-encap-ip to {addr}: {e}"),
        }
    }

    /// At boot (restore): writes the kept configuration again. `Err` says
    /// why it could not, for the restore's report.
    pub(crate) fn ovn_restore(&self) -> Result<(), String> {
        match self.read_ovn_file() {
            Ok(Some(c)) => self.write_ovn(&c).map_err(|e| format!("ovn: {e}")),
            Ok(None) => Ok(()),
            Err(e) => Err(format!("ovn: {e}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(remote: &str, ip: Option<&str>) -> OvnConfig {
        OvnConfig {
            remote: remote.into(),
            encap_ip: ip.map(str::to_string),
            encap_network: None,
            system_id: None,
            encap_type: None,
        }
    }

    #[test]
    fn bad_shapes_are_refused_naming_the_attribute() {
        let e = check_shape(&cfg("tcp:1.2.3.4", Some("10.0.0.1"))).unwrap_err();
        assert!(e.to_string().contains("remote"), "{e}");
        assert_eq!(e.code(), 21);
        let e = check_shape(&cfg("tcp:192.0.2.1:6642", Some("10.0.0.300"))).unwrap_err();
        assert!(e.to_string().contains("encapIp"), "{e}");
        let e = check_shape(&cfg("tcp:192.0.2.1:6642", None)).unwrap_err();
        assert!(e.to_string().contains("encapIp"), "{e}");
        let mut c = cfg("ssl:[2001:db8::1]:6642", Some("2001:db8::2"));
        assert!(check_shape(&c).is_ok());
        c.encap_type = Some("gre".into());
        assert!(check_shape(&c)
            .unwrap_err()
            .to_string()
            .contains("encapType"));
        c.encap_type = None;
        c.system_id = Some("a b".into());
        assert!(check_shape(&c)
            .unwrap_err()
            .to_string()
            .contains("systemId"));
    }

    #[test]
    fn binding_host_ids_only_when_configured() {
        let mut r = OvnReport {
            system_id: Some("abc".into()),
            ..OvnReport::default()
        };
        assert_eq!(r.binding_host_ids(), None);
        r.configured = true;
        assert_eq!(
            r.binding_host_ids().unwrap()["OVIRT_PROVIDER_OVN"],
            "abc".to_string()
        );
    }
}
