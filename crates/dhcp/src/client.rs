//! One network's DHCP clients, run until told to stop: DHCPv4 and DHCPv6
//! side by side, each binding, renewing and rebinding through `mozim`,
//! installing what its lease grants and taking it off again when the lease
//! expires or the client stops (after releasing it).
//!
//! Async and free of process concerns, so the daemon can run it as a task;
//! the CLI runs it in a supervisor process ([`crate::supervise::serve`]).

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::nl::{Handle, Rtnl};
use mozim::{
    DhcpV4Client, DhcpV4Config, DhcpV4State, DhcpV6Client, DhcpV6Config, DhcpV6Mode, DhcpV6State,
};
use tokio::sync::watch;
use tracing::{info, warn};

use crate::install;
use crate::lease::{EndReason, Lease4, Lease6, LeaseFile};
use crate::spec::ClientSpec;
use crate::DhcpError;

/// Where a network's client reports.
#[derive(Debug, Clone)]
pub struct Paths {
    /// The lease file kept current (see [`LeaseFile`]).
    pub lease_file: PathBuf,
    /// The resolver configuration the defaultRoute network's leases write.
    pub resolv_conf: PathBuf,
}

struct Shared {
    spec: ClientSpec,
    paths: Paths,
    state: Mutex<LeaseFile>,
}

impl Shared {
    fn update(&self, f: impl FnOnce(&mut LeaseFile)) {
        let Ok(mut s) = self.state.lock() else { return };
        f(&mut s);
        if let Err(e) = s.write(&self.paths.lease_file) {
            warn!(error = %e, "writing the lease file");
        }
        if self.spec.dns {
            let mut servers: Vec<IpAddr> = Vec::new();
            servers.extend(
                s.v4.iter()
                    .flat_map(|l| l.dns.iter().map(|a| IpAddr::V4(*a))),
            );
            servers.extend(
                s.v6.iter()
                    .flat_map(|l| l.dns.iter().map(|a| IpAddr::V6(*a))),
            );
            if let Err(e) = crate::resolv::write_nameservers(&self.paths.resolv_conf, &servers) {
                warn!(error = %e, "writing the resolver configuration");
            }
        }
    }
}

/// Sleeps, or returns true early when stop is asked.
async fn pause(stop: &mut watch::Receiver<bool>, d: Duration) -> bool {
    tokio::select! {
        _ = stop.changed() => true,
        _ = tokio::time::sleep(d) => *stop.borrow(),
    }
}

/// Runs the network's clients until `stop` turns true, then releases the
/// leases and takes them off the host. Errors of the protocol are retried
/// (a server that is away is the normal case); only a stop ends it.
pub async fn run(
    spec: ClientSpec,
    paths: Paths,
    mut stop: watch::Receiver<bool>,
) -> Result<(), DhcpError> {
    let handle = Rtnl::open().map_err(|e| DhcpError::io(&paths.lease_file, e))?;
    // The device may still be coming up (a bridge just created).
    let (index, mac) = loop {
        if let Some(l) = install::link_of(&handle, &spec.dev).await {
            break l;
        }
        if pause(&mut stop, Duration::from_millis(200)).await {
            return Ok(());
        }
    };
    let shared = Arc::new(Shared {
        spec: spec.clone(),
        paths,
        state: Mutex::new(LeaseFile {
            dev: spec.dev.clone(),
            ..LeaseFile::default()
        }),
    });
    shared.update(|_| {});
    info!(
        net = spec.net,
        dev = spec.dev,
        index,
        v4 = spec.v4,
        v6 = spec.v6,
        "dhcp clients starting"
    );
    let v4 = async {
        if spec.v4 {
            run_v4(&shared, &handle, index, &mac, stop.clone()).await;
        }
    };
    // The leased IPv6 address, for the router's source routing.
    let (addr6_tx, addr6_rx) = watch::channel(None);
    let v6 = async {
        if spec.v6 {
            run_v6(&shared, &handle, index, &mac, &addr6_tx, stop.clone()).await;
        }
    };
    let router6 = async {
        if spec.v6 && !spec.default_route {
            crate::ra::run(
                handle.clone(),
                index,
                spec.dev.clone(),
                addr6_rx,
                stop.clone(),
            )
            .await;
        }
    };
    futures::join!(v4, v6, router6);
    info!(net = spec.net, "dhcp clients stopped");
    Ok(())
}

async fn run_v4(
    shared: &Shared,
    handle: &Handle,
    index: u32,
    mac: &[u8],
    mut stop: watch::Receiver<bool>,
) {
    let spec = &shared.spec;
    let dev = spec.dev.as_str();
    let mut cfg = DhcpV4Config::new(dev);
    cfg.set_iface_index(index);
    if let Err(e) = cfg.set_iface_mac_raw(mac) {
        warn!(dev, error = %e, "dhcpv4: unusable MAC address; no client");
        return;
    }
    cfg.use_mac_as_client_id();
    cfg.set_timeout_sec(0);
    let mut cli = match DhcpV4Client::init(cfg.clone(), None).await {
        Ok(c) => c,
        Err(e) => {
            warn!(dev, error = %e, "dhcpv4: client init failed");
            return;
        }
    };
    let mut held: Option<(mozim::DhcpV4Lease, Lease4)> = None;
    let mut grants = 0u64;
    loop {
        let state = tokio::select! {
            _ = stop.changed() => break,
            s = cli.run() => s,
        };
        match state {
            Ok(DhcpV4State::Done(lease)) => {
                let lease = *lease;
                if let Some((_, old)) = &held {
                    if old.address != lease.yiaddr {
                        install::uninstall_v4(
                            handle,
                            index,
                            dev,
                            old.address,
                            old.prefix,
                            old.gateway,
                            spec.default_route,
                        )
                        .await;
                    }
                }
                let prefix = lease.prefix_length();
                let gateway = lease.gateways.as_ref().and_then(|g| g.first().copied());
                if let Err(e) = install::install_v4(
                    handle,
                    index,
                    dev,
                    lease.yiaddr,
                    prefix,
                    lease.lease_time_sec,
                    gateway,
                    spec.default_route,
                )
                .await
                {
                    warn!(dev, error = %e, "dhcpv4: installing the lease failed");
                }
                grants += 1;
                let mine = Lease4 {
                    address: lease.yiaddr,
                    prefix,
                    gateway,
                    dns: lease.dns_srvs.clone().unwrap_or_default(),
                    server: lease.srv_id,
                    lease_time: lease.lease_time_sec,
                    table: if spec.default_route || gateway.is_none() {
                        None
                    } else {
                        install::table_of(lease.yiaddr)
                    },
                    grants,
                };
                info!(dev, address = %mine.address, prefix, lease_time = mine.lease_time, grants, "dhcpv4 lease bound");
                shared.update(|f| {
                    f.v4 = Some(mine.clone());
                    f.ended_v4 = None;
                });
                held = Some((lease, mine));
            }
            Ok(DhcpV4State::InitReboot) => {
                // The lease ran out without a renewal or rebinding.
                if let Some((_, old)) = held.take() {
                    warn!(dev, address = %old.address, "dhcpv4 lease expired");
                    install::uninstall_v4(
                        handle,
                        index,
                        dev,
                        old.address,
                        old.prefix,
                        old.gateway,
                        spec.default_route,
                    )
                    .await;
                    shared.update(|f| f.end_v4(old.address, EndReason::Expired));
                }
            }
            Ok(other) => info!(dev, state = %other, "dhcpv4"),
            Err(e) => {
                warn!(dev, error = %e, "dhcpv4: client error; starting over");
                cli.clean_up();
                if let Some((_, old)) = held.take() {
                    install::uninstall_v4(
                        handle,
                        index,
                        dev,
                        old.address,
                        old.prefix,
                        old.gateway,
                        spec.default_route,
                    )
                    .await;
                    shared.update(|f| f.end_v4(old.address, EndReason::Expired));
                }
                if pause(&mut stop, Duration::from_secs(1)).await {
                    break;
                }
            }
        }
    }
    if let Some((lease, old)) = held {
        let _ = tokio::time::timeout(Duration::from_secs(1), cli.release(&lease)).await;
        // Let the release leave before its source address and maybe its
        // device go; a userspace datapath forwards it a moment later.
        let peers: Vec<IpAddr> = [Some(lease.srv_id), old.gateway]
            .into_iter()
            .flatten()
            .map(IpAddr::V4)
            .collect();
        install::wait_resolved(handle, index, &peers, Duration::from_secs(1)).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        install::uninstall_v4(
            handle,
            index,
            dev,
            old.address,
            old.prefix,
            old.gateway,
            spec.default_route,
        )
        .await;
        info!(dev, address = %old.address, "dhcpv4 lease released");
        shared.update(|f| f.end_v4(old.address, EndReason::Released));
    }
}

async fn run_v6(
    shared: &Shared,
    handle: &Handle,
    index: u32,
    mac: &[u8],
    addr6: &watch::Sender<Option<std::net::Ipv6Addr>>,
    mut stop: watch::Receiver<bool>,
) {
    let dev = shared.spec.dev.as_str();
    // Bound to the link-local address: wait for it to leave DAD.
    let ll = loop {
        if let Some(a) = install::link_local(handle, index).await {
            break a;
        }
        if pause(&mut stop, Duration::from_millis(200)).await {
            return;
        }
    };
    let mut cfg = DhcpV6Config::new(dev, DhcpV6Mode::NonTemporaryAddresses);
    cfg.set_iface_index(index);
    cfg.set_link_local_ip(ll);
    cfg.set_duid_by_iface_mac(mac);
    // RFC 8415 §12: the IAID stays the same across restarts.
    let tail: [u8; 4] =
        [mac.get(2), mac.get(3), mac.get(4), mac.get(5)].map(|b| b.copied().unwrap_or(0));
    cfg.set_iaid(u32::from_be_bytes(tail));
    cfg.set_timeout_sec(0);
    let mut cli = match DhcpV6Client::init(cfg, None).await {
        Ok(c) => c,
        Err(e) => {
            warn!(dev, error = %e, "dhcpv6: client init failed");
            return;
        }
    };
    let mut held: Option<(mozim::DhcpV6Lease, Lease6)> = None;
    let mut grants = 0u64;
    loop {
        let state = tokio::select! {
            _ = stop.changed() => break,
            s = cli.run() => s,
        };
        match state {
            Ok(DhcpV6State::Done(lease)) => {
                let lease = *lease;
                let prefix = if lease.prefix_len == 0 {
                    128
                } else {
                    lease.prefix_len
                };
                if let Some((_, old)) = &held {
                    if old.address != lease.address {
                        install::del_addr(handle, index, IpAddr::V6(old.address), old.prefix).await;
                    }
                }
                if let Err(e) = install::put_addr(
                    handle,
                    index,
                    IpAddr::V6(lease.address),
                    prefix,
                    lease.valid_time_sec,
                    lease.preferred_time_sec,
                )
                .await
                {
                    warn!(dev, error = %e, "dhcpv6: installing the lease failed");
                }
                grants += 1;
                let mine = Lease6 {
                    address: lease.address,
                    prefix,
                    dns: lease.dns_srvs.clone(),
                    valid_time: lease.valid_time_sec,
                    preferred_time: lease.preferred_time_sec,
                    grants,
                    table: (!shared.spec.default_route)
                        .then(|| crate::ra::table6_of(lease.address)),
                };
                addr6.send_replace(Some(lease.address));
                info!(dev, address = %mine.address, grants, "dhcpv6 lease bound");
                shared.update(|f| {
                    f.v6 = Some(mine.clone());
                    f.ended_v6 = None;
                });
                held = Some((lease, mine));
            }
            Ok(DhcpV6State::Solicit) => {
                if let Some((_, old)) = held.take() {
                    warn!(dev, address = %old.address, "dhcpv6 lease expired");
                    install::del_addr(handle, index, IpAddr::V6(old.address), old.prefix).await;
                    addr6.send_replace(None);
                    shared.update(|f| f.end_v6(old.address, EndReason::Expired));
                }
            }
            Ok(other) => info!(dev, state = %other, "dhcpv6"),
            Err(e) => {
                warn!(dev, error = %e, "dhcpv6: client error; starting over");
                cli.clean_up();
                if let Some((_, old)) = held.take() {
                    install::del_addr(handle, index, IpAddr::V6(old.address), old.prefix).await;
                    addr6.send_replace(None);
                    shared.update(|f| f.end_v6(old.address, EndReason::Expired));
                }
                if pause(&mut stop, Duration::from_secs(1)).await {
                    break;
                }
            }
        }
    }
    if let Some((lease, old)) = held {
        let _ = tokio::time::timeout(Duration::from_secs(1), cli.release(&lease)).await;
        // Multicast, no neighbour to wait for; a moment for a userspace
        // datapath to forward it before the device may go.
        tokio::time::sleep(Duration::from_millis(100)).await;
        install::del_addr(handle, index, IpAddr::V6(old.address), old.prefix).await;
        info!(dev, address = %old.address, "dhcpv6 lease released");
        addr6.send_replace(None);
        shared.update(|f| f.end_v6(old.address, EndReason::Released));
    }
}
