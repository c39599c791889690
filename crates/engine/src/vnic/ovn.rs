//! OVN vNICs: the device joins the integration bridge `br-int` carrying
//! the logical port's id in `Interface.external_ids` (`iface-id`, with
//! `attached-mac`, `vm-id` and `iface-status=active`, as libvirt and
//! VDSM's OVN hook write them); ovn-controller sees it, binds the logical
//! port to this chassis and, once the port's flows are installed, sets
//! `external_ids:ovn-installed=true` on the Interface. A plug answers then:
//! before it, the VM's first packets would be dropped.
//!
//! The wait watches a monitor of the Interface table (the replica wakes the
//! waiter on every update; no polling). A plug that is not installed within
//! its timeout is taken back whole: the ports it added go, the records it
//! wrote go, and it fails with 29 naming the devices.
//!
//! Plugs come in batches ([`crate::Engine::plug_vnics`]): one OVSDB
//! transaction and one wait for all of them, so plugging a VM's ten vNICs,
//! or a host's 500 after a restart, costs one round trip, not 500.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use netswitch_model::{Code, RequestError};
use netswitch_ovsdb::datum::{named_uuid, set, str_map};
use netswitch_ovsdb::{row, Condition, Mutation, Mutator, Op, TableMonitor};
use serde_json::json;
use tracing::{info, warn};

use super::{check_free, check_shape, config_user, refuse, Plugged, Vnic};
use crate::ovn::BR_INT;
use crate::EngineError;

/// `Plugged::switch` of an OVN vNIC.
pub(super) const SWITCH: &str = "ovn";

/// The key ovn-controller sets once a port's flows are installed.
const INSTALLED: &str = "ovn-installed";

fn backend(reason: String) -> EngineError {
    super::backend(reason)
}

/// The checks of an OVN vNIC that need nothing but the batch.
fn check_batch(vnics: &[Vnic]) -> Result<(), EngineError> {
    let mut seen = BTreeSet::new();
    for v in vnics {
        check_shape(v)?;
        if v.vf.is_some() {
            return Err(refuse(
                Code::BadParams,
                v.name(),
                "vf",
                "a VF vNIC is plugged on its own (vnic plug --vf), not with OVN ports",
            ));
        }
        let Some(port) = &v.port else {
            return Err(refuse(
                Code::BadParams,
                &v.device,
                "port",
                "a batch plug takes OVN vNICs (with port) only",
            ));
        };
        if port.is_empty() || port.len() > 256 || port.contains('\0') {
            return Err(refuse(
                Code::BadParams,
                &v.device,
                "port",
                "empty, over 256 bytes or with a NUL",
            ));
        }
        if !v.network.is_empty() {
            return Err(refuse(
                Code::BadParams,
                &v.device,
                "network",
                "give network or port, not both",
            ));
        }
        if !seen.insert(v.device.as_str()) {
            return Err(refuse(
                Code::BadParams,
                &v.device,
                "device",
                "twice in one batch",
            ));
        }
    }
    Ok(())
}

/// Whether the kept record `k` is the plug of `v` (the same VM, MAC and
/// port on the same device).
fn same(k: &Plugged, v: &Vnic) -> bool {
    k.switch == SWITCH
        && k.vnic.vm_id == v.vm_id
        && k.vnic.mac.eq_ignore_ascii_case(&v.mac)
        && k.vnic.port == v.port
}

impl crate::Engine {
    /// `Host.plugVnics`: plugs OVN vNICs as one batch and answers when
    /// ovn-controller has installed every one of them (or takes the batch
    /// back after `timeout`, the engine's `ovs.ovn_timeout` when `None`,
    /// and fails with 29). A vNIC already plugged the same way is kept
    /// (and waited for); one plugged another way is refused (24) before
    /// anything changes.
    pub fn plug_vnics(
        &self,
        vnics: &[Vnic],
        timeout: Option<Duration>,
    ) -> Result<Vec<Plugged>, EngineError> {
        let _span = tracing::info_span!("plug_vnics", n = vnics.len()).entered();
        check_batch(vnics)?;
        let _lock = self.lock()?;
        if self.ovn_config()?.is_none() {
            let dev = vnics.first().map_or("", |v| v.device.as_str());
            return Err(refuse(
                Code::BadParams,
                dev,
                "port",
                "the OVN chassis is not configured (netswitch ovn configure)",
            ));
        }
        let started = Instant::now();
        let (plugs, new) = self.place_ovn(vnics)?;
        let timeout = timeout.unwrap_or(self.ovs.ovn_timeout);
        let watch = self.watch_interfaces()?;
        let placed = started.elapsed();
        self.keep_records(&new)?;
        let recorded = started.elapsed();
        let added = match self.add_ports(&new) {
            Ok(a) => {
                info!(
                    added_ms = started.elapsed().as_millis() as u64,
                    "OVN ports added"
                );
                a
            }
            Err(e) => {
                self.take_back(&new, &[]);
                return Err(e);
            }
        };
        let devices: Vec<&str> = plugs.iter().map(|p| p.vnic.device.as_str()).collect();
        if let Err(e) = wait_installed(&watch, &devices, timeout) {
            self.take_back(&new, &added);
            return Err(e);
        }
        info!(
            n = plugs.len(),
            placed_ms = placed.as_millis() as u64,
            recorded_ms = recorded.as_millis() as u64,
            total_ms = started.elapsed().as_millis() as u64,
            "OVN vNICs plugged and installed"
        );
        Ok(plugs)
    }

    /// Checks every vNIC against the kept records and the host; returns
    /// the plugs of the whole batch and the ones still to make.
    fn place_ovn(&self, vnics: &[Vnic]) -> Result<(Vec<Plugged>, Vec<Plugged>), EngineError> {
        let kept = self.vnics()?;
        let running = self.running()?;
        let host = self.observe(true)?;
        let ovs = host.ovs.clone().unwrap_or_default();
        let (mut all, mut new) = (Vec::new(), Vec::new());
        for v in vnics {
            let on_int = ovs
                .bridge_of_port(&v.device)
                .is_some_and(|b| b.name == BR_INT);
            if let Some(k) = kept.get(&v.device) {
                if !same(k, v) {
                    let what = k.vnic.port.as_deref().unwrap_or(&k.vnic.network);
                    return Err(refuse(
                        Code::UsedNic,
                        &v.device,
                        "device",
                        format!(
                            "already plugged as VM {}'s vNIC on {what}; unplug it first",
                            k.vnic.vm_id
                        ),
                    ));
                }
                if !on_int {
                    new.push(k.clone());
                }
                all.push(k.clone());
                continue;
            }
            let Some(link) = host.link(&v.device) else {
                return Err(refuse(Code::BadNic, &v.device, "device", "no such device"));
            };
            if let Some(user) = config_user(&running, &v.device) {
                return Err(refuse(
                    Code::UsedNic,
                    &v.device,
                    "device",
                    format!("{user} uses it"),
                ));
            }
            check_free(v, link.master.as_deref(), &host, BR_INT)?;
            if on_int {
                return Err(refuse(
                    Code::UsedNic,
                    &v.device,
                    "device",
                    format!("already a port of {BR_INT} that netswitch did not plug"),
                ));
            }
            let p = Plugged {
                vnic: v.clone(),
                switch: SWITCH.into(),
                bridge: BR_INT.into(),
                tag: None,
                mtu: v.mtu.unwrap_or(link.mtu),
                vf_info: None,
            };
            new.push(p.clone());
            all.push(p);
        }
        Ok((all, new))
    }

    /// A connection of its own monitoring the Interface table's names and
    /// `external_ids`, opened before the ports are added so no update is
    /// missed.
    fn watch_interfaces(&self) -> Result<netswitch_ovsdb::Client, EngineError> {
        let options = netswitch_ovsdb::Options {
            timeout: self.ovs.timeout,
            max_message: self.ovs.max_message,
        };
        let c = netswitch_ovsdb::Client::connect_with(&self.ovs.db, options)?;
        let m = TableMonitor::columns("Interface", &["name", "external_ids"]);
        c.monitor(netswitch_ovsdb::VSWITCH_DB, &[m])?;
        Ok(c)
    }

    /// Writes the records of `new` (each atomically, by rename; all made
    /// durable by one filesystem flush).
    fn keep_records(&self, new: &[Plugged]) -> Result<(), EngineError> {
        if new.is_empty() {
            return Ok(());
        }
        let dir = self
            .vnics_dir(true)?
            .ok_or_else(|| backend("vnic: no state directory".into()))?;
        for (i, p) in new.iter().enumerate() {
            let dev = &p.vnic.device;
            let written = serde_json::to_vec_pretty(p)
                .map_err(|e| backend(format!("vnic {dev}: {e}")))
                .and_then(|bytes| {
                    let tmp = format!("{dev}.tmp");
                    dir.remove_file(&tmp)?;
                    dir.create_unsynced(&tmp, &bytes)?;
                    Ok(dir.rename(&tmp, dev)?)
                });
            if let Err(e) = written {
                self.take_back(&new[..i], &[]);
                return Err(e);
            }
        }
        // One flush for the batch rather than one per record. A crash
        // before it can leave empty records, which `vnics` skips; no port
        // was added yet then.
        Ok(dir.sync_filesystem()?)
    }

    /// Adds the ports of `new` to br-int (made if absent) in one
    /// transaction; returns the devices added. Sets the devices up.
    fn add_ports(&self, new: &[Plugged]) -> Result<Vec<String>, EngineError> {
        if new.is_empty() {
            return Ok(Vec::new());
        }
        let datapath = self.ovs.datapath.clone();
        crate::ovn::with_br_int_retry(|| {
            crate::ovs::transact_root(&self.ovs, |now| {
                Ok(port_ops(new, now.bridge_uuid.get(BR_INT), &datapath))
            })
        })
        .map_err(|e| backend(format!("vnic {}: {e}", new[0].vnic.device)))?;
        let host = self.host.read()?;
        // Only the devices that are down: an op on each of 500 devices
        // that are up already is 500 round trips for nothing.
        let ops: Vec<_> = new
            .iter()
            .filter(|p| host.link(&p.vnic.device).is_none_or(|l| !l.admin_up))
            .map(|p| netswitch_model::plan::KernelOp::SetUp {
                link: p.vnic.device.clone(),
            })
            .collect();
        let added: Vec<String> = new.iter().map(|p| p.vnic.device.clone()).collect();
        if ops.is_empty() {
            return Ok(added);
        }
        if let Err(e) = super::kernel(&host, &ops, &new[0].vnic.device) {
            self.take_back(new, &added);
            return Err(e);
        }
        Ok(added)
    }

    /// Undoes a failed batch: the ports `added` leave br-int, the records
    /// of `new` go. Best effort (each step is tried): it runs on a failure
    /// path already.
    fn take_back(&self, new: &[Plugged], added: &[String]) {
        if !added.is_empty() {
            if let Err(e) = remove_ports(self, added) {
                warn!("vnic: taking back {} OVN ports: {e}", added.len());
            }
        }
        if let Ok(Some(dir)) = self.vnics_dir(false) {
            for p in new {
                let _ = dir.remove_file(&p.vnic.device);
            }
            let _ = dir.sync();
        }
    }
}

/// Takes `devices`' ports off br-int in one transaction (OVSDB collects
/// the orphaned Port and Interface rows); devices that are no ports of it
/// are skipped.
pub(super) fn remove_ports(engine: &crate::Engine, devices: &[String]) -> Result<(), String> {
    crate::ovs::transact_root(&engine.ovs, |now| {
        let Some(br) = now.bridge_uuid.get(BR_INT) else {
            return Ok((Vec::new(), Vec::new()));
        };
        let on_int = now.state.bridges.get(BR_INT);
        let ports: Vec<_> = devices
            .iter()
            .filter(|d| on_int.is_some_and(|b| b.ports.contains_key(*d)))
            .filter_map(|d| now.port_uuid.get(d))
            .map(|u| u.to_json())
            .collect();
        if ports.is_empty() {
            return Ok((Vec::new(), Vec::new()));
        }
        let op = Op::mutate(
            "Bridge",
            vec![Condition::uuid(br)],
            vec![Mutation::new("ports", Mutator::Delete, set(ports))],
        );
        Ok((vec![op], Vec::new()))
    })
}

/// The rows of `new`'s ports on br-int (`br`; made when `None`).
fn port_ops(
    new: &[Plugged],
    br: Option<&netswitch_ovsdb::Uuid>,
    datapath: &str,
) -> (Vec<Op>, Vec<Mutation>) {
    let mut ops = Vec::new();
    let mut ports = Vec::new();
    for (i, p) in new.iter().enumerate() {
        let v = &p.vnic;
        let ids = [
            ("iface-id", v.port.as_deref().unwrap_or("")),
            ("attached-mac", v.mac.as_str()),
            ("vm-id", v.vm_id.as_str()),
            ("iface-status", "active"),
        ];
        let mut iface = row([("name", json!(v.device)), ("external_ids", str_map(ids))]);
        if let Some(m) = v.mtu {
            iface.insert("mtu_request".into(), json!(m));
        }
        let (iname, pname) = (format!("vi{i}"), format!("vp{i}"));
        ops.push(Op::insert_named("Interface", &iname, iface));
        let port = row([
            ("name", json!(v.device)),
            ("interfaces", named_uuid(&iname)),
        ]);
        ops.push(Op::insert_named("Port", &pname, port));
        ports.push(named_uuid(&pname));
    }
    let mut mutations = Vec::new();
    match br {
        Some(u) => ops.push(Op::mutate(
            "Bridge",
            vec![Condition::uuid(u)],
            vec![Mutation::new("ports", Mutator::Insert, set(ports))],
        )),
        None => {
            let (brops, m) = crate::ovn::br_int_rows(datapath, ports);
            ops.extend(brops);
            mutations.push(m);
        }
    }
    (ops, mutations)
}

/// Waits until every one of `devices` has `ovn-installed=true`; 29 naming
/// the ones still waiting after `timeout`.
fn wait_installed(
    watch: &netswitch_ovsdb::Client,
    devices: &[&str],
    timeout: Duration,
) -> Result<(), EngineError> {
    let started = Instant::now();
    let want: BTreeSet<&str> = devices.iter().copied().collect();
    // Runs on every monitor update while the replica is locked: it reads
    // the raw rows rather than decoding typed ones.
    let installed = |r: &netswitch_ovsdb::Replica| -> BTreeSet<String> {
        r.tables
            .get("Interface")
            .into_iter()
            .flat_map(|rows| rows.values())
            .filter_map(|row| {
                let name = row.get("name")?.as_str()?;
                let ids = netswitch_ovsdb::datum::map_entries(row.get("external_ids")?)?;
                let ok = ids
                    .iter()
                    .any(|(k, v)| k.as_str() == Some(INSTALLED) && v.as_str() == Some("true"));
                (ok && want.contains(name)).then(|| name.to_string())
            })
            .collect()
    };
    let pending = |r: &netswitch_ovsdb::Replica| -> Vec<String> {
        let done = installed(r);
        devices
            .iter()
            .filter(|d| !done.contains(**d))
            .map(|d| d.to_string())
            .collect()
    };
    match watch.wait_for(timeout, |r| installed(r).len() == want.len()) {
        Ok(()) => {
            info!(
                elapsed_ms = started.elapsed().as_millis() as u64,
                "ovn-installed"
            );
            Ok(())
        }
        Err(netswitch_ovsdb::Error::ReplicaTimeout { .. }) => {
            let left = watch.with_replica(pending);
            let mut names = left.join(", ");
            if names.len() > 200 {
                names = format!(
                    "{}... ({} in all)",
                    netswitch_model::error::clip(&names, 200),
                    left.len()
                );
            }
            Err(backend(format!(
                "vnic {names}: ovn-controller did not install the port within {timeout:?} (is the logical port defined, and the chassis connected?); unplugged again"
            )))
        }
        Err(e) => Err(backend(format!("vnic: waiting for ovn-installed: {e}"))),
    }
}

/// Refuses (21) the per-call timeout when it is no number of seconds in
/// (0, 86400].
pub fn timeout_of(secs: Option<f64>) -> Result<Option<Duration>, RequestError> {
    match secs {
        None => Ok(None),
        Some(s) if s.is_finite() && s > 0.0 && s <= 86_400.0 => {
            Ok(Some(Duration::from_secs_f64(s)))
        }
        Some(s) => Err(RequestError::request(
            Code::BadParams,
            format!("timeout: {s} is not a number of seconds in 0..86400"),
        )),
    }
}
