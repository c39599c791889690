//! The IPv6 router of a DHCPv6 network that is not the defaultRoute
//! network, into the network's own source-routing table.
//!
//! DHCPv6 carries no router: it comes from router advertisements. The
//! kernel's RA handling puts it in the main table only, which is the
//! defaultRoute network's (`accept_ra_defrtr` is off elsewhere, see
//! [`crate::spec::ra_settings`]). So the client listens to the RAs of its
//! device itself (a raw ICMPv6 socket bound to it, solicited once) and
//! installs, while it holds a lease and a router announces itself: in
//! table [`table6_of`] the default route via the router (expiring with the
//! router lifetime unless refreshed) and the on-link prefix holding the
//! leased address, and the two rules the legacy planner makes for a static
//! address (`from prefix`, `to prefix iif dev`, priority 32000). Only RAs
//! from a link-local source count (RFC 4861 §6.1.2; one from off-link
//! cannot carry one).

use std::io;
use std::net::{IpAddr, Ipv6Addr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use netlink_packet_route::route::RouteProtocol;
use netlink_packet_route::rule::RuleMessage;
use tokio::io::unix::AsyncFd;
use tokio::sync::watch;
use tracing::{debug, info, warn};

use crate::install::RULE_PRIORITY;
use crate::nl::{self, Add, Handle, RouteSpec};

const ND_ROUTER_SOLICIT: u8 = 133;
const ND_ROUTER_ADVERT: u8 = 134;
/// `ICMP6_FILTER` of `<netinet/icmp6.h>` (not in the libc crate).
const ICMP6_FILTER: libc::c_int = 1;
const OPT_PREFIX_INFO: u8 = 3;

/// The source-routing table of a leased IPv6 address, numbered as the
/// planner numbers a static IPv6 address's table.
pub fn table6_of(ip: Ipv6Addr) -> u32 {
    netswitch_model::routing::table_v6(ip)
}

/// What one router advertisement says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Advert {
    /// The router (the RA's link-local source).
    pub router: Ipv6Addr,
    /// Router lifetime in seconds; 0: not a default router (any more).
    pub lifetime: u16,
    /// On-link prefixes (prefix information with the L flag).
    pub onlink: Vec<(Ipv6Addr, u8)>,
}

/// Parses an RA's ICMPv6 message (from its type byte on).
pub fn parse(src: Ipv6Addr, msg: &[u8]) -> Option<Advert> {
    if msg.len() < 16 || msg[0] != ND_ROUTER_ADVERT || msg[1] != 0 {
        return None;
    }
    if (src.segments()[0] & 0xffc0) != 0xfe80 {
        return None;
    }
    let lifetime = u16::from_be_bytes([msg[6], msg[7]]);
    let mut onlink = Vec::new();
    let mut at = 16;
    while at + 2 <= msg.len() {
        let (kind, len) = (msg[at], usize::from(msg[at + 1]) * 8);
        if len == 0 || at + len > msg.len() {
            break;
        }
        let opt = &msg[at..at + len];
        if kind == OPT_PREFIX_INFO && len == 32 && opt[3] & 0x80 != 0 && opt[2] <= 128 {
            let mut p = [0u8; 16];
            p.copy_from_slice(&opt[16..32]);
            onlink.push((Ipv6Addr::from(p), opt[2]));
        }
        at += len;
    }
    Some(Advert {
        router: src,
        lifetime,
        onlink,
    })
}

fn contains((net, len): (Ipv6Addr, u8), ip: Ipv6Addr) -> bool {
    let mask = if len == 0 {
        0
    } else {
        u128::MAX << (128 - u32::from(len))
    };
    u128::from(net) & mask == u128::from(ip) & mask
}

fn trunc((net, len): (Ipv6Addr, u8)) -> (Ipv6Addr, u8) {
    let mask = if len == 0 {
        0
    } else {
        u128::MAX << (128 - u32::from(len))
    };
    (Ipv6Addr::from(u128::from(net) & mask), len)
}

/// The routing one lease and one router make.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Routing {
    table: u32,
    router: Ipv6Addr,
    subnet: (Ipv6Addr, u8),
}

fn socket(dev: &str, index: u32) -> io::Result<AsyncFd<OwnedFd>> {
    let check = |r: libc::c_int| {
        if r < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(r)
        }
    };
    // SAFETY: plain syscalls on a descriptor owned from its creation; the
    // option values live across each call.
    unsafe {
        let fd = check(libc::socket(
            libc::AF_INET6,
            libc::SOCK_RAW | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            libc::IPPROTO_ICMPV6,
        ))?;
        let fd = OwnedFd::from_raw_fd(fd);
        let raw = fd.as_raw_fd();
        check(libc::setsockopt(
            raw,
            libc::SOL_SOCKET,
            libc::SO_BINDTODEVICE,
            dev.as_ptr().cast(),
            dev.len() as libc::socklen_t,
        ))?;
        // Pass router advertisements only (a set bit blocks a type).
        let mut filter = [u32::MAX; 8];
        filter[usize::from(ND_ROUTER_ADVERT >> 5)] &= !(1u32 << (ND_ROUTER_ADVERT & 31));
        check(libc::setsockopt(
            raw,
            libc::IPPROTO_ICMPV6,
            ICMP6_FILTER,
            filter.as_ptr().cast(),
            std::mem::size_of_val(&filter) as libc::socklen_t,
        ))?;
        let hops: libc::c_int = 255;
        check(libc::setsockopt(
            raw,
            libc::IPPROTO_IPV6,
            libc::IPV6_MULTICAST_HOPS,
            (&hops as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        ))?;
        let ifindex = index as libc::c_int;
        check(libc::setsockopt(
            raw,
            libc::IPPROTO_IPV6,
            libc::IPV6_MULTICAST_IF,
            (&ifindex as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        ))?;
        AsyncFd::register(fd).map_err(io::Error::from)
    }
}

/// Asks the routers of the link to advertise now (RFC 4861 §6.3.7).
fn solicit(fd: &AsyncFd<OwnedFd>, index: u32) {
    let msg = [ND_ROUTER_SOLICIT, 0, 0, 0, 0, 0, 0, 0];
    // SAFETY: sockaddr_in6 is plain data; sendto reads within its size.
    let r = unsafe {
        let mut to: libc::sockaddr_in6 = std::mem::zeroed();
        to.sin6_family = libc::AF_INET6 as libc::sa_family_t;
        to.sin6_addr.s6_addr = "ff02::2"
            .parse::<Ipv6Addr>()
            .unwrap_or(Ipv6Addr::UNSPECIFIED)
            .octets();
        to.sin6_scope_id = index;
        libc::sendto(
            fd.as_raw_fd(),
            msg.as_ptr().cast(),
            msg.len(),
            0,
            (&to as *const libc::sockaddr_in6).cast(),
            std::mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t,
        )
    };
    if r < 0 {
        debug!(error = %io::Error::last_os_error(), "router solicitation not sent");
    }
}

/// Receives one RA (waiting for it).
async fn receive(fd: &AsyncFd<OwnedFd>, buf: &mut [u8]) -> io::Result<Option<Advert>> {
    loop {
        let mut ready = fd.readable().await?;
        let got = ready.try_io(|fd| {
            // SAFETY: recvfrom writes within buf and the sockaddr's size.
            unsafe {
                let mut from: libc::sockaddr_in6 = std::mem::zeroed();
                let mut len = std::mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t;
                let n = libc::recvfrom(
                    fd.as_raw_fd(),
                    buf.as_mut_ptr().cast(),
                    buf.len(),
                    0,
                    (&mut from as *mut libc::sockaddr_in6).cast(),
                    &mut len,
                );
                if n < 0 {
                    Err(io::Error::last_os_error())
                } else {
                    Ok((n as usize, Ipv6Addr::from(from.sin6_addr.s6_addr)))
                }
            }
        });
        match got {
            Ok(Ok((n, src))) => return Ok(parse(src, &buf[..n])),
            Ok(Err(e)) => return Err(e),
            Err(_would_block) => continue,
        }
    }
}

async fn install(handle: &Handle, index: u32, dev: &str, r: &Routing, lifetime: u16) {
    let (subnet, len) = r.subnet;
    let default = RouteSpec {
        table: r.table,
        dst: None,
        family: IpAddr::V6(r.router),
        gateway: Some(IpAddr::V6(r.router)),
        oif: index,
        prefsrc: None,
        link_scope: false,
        protocol: RouteProtocol::Ra,
        expires: Some(u32::from(lifetime)),
    };
    let on_link = RouteSpec {
        dst: Some((IpAddr::V6(subnet), len)),
        gateway: None,
        expires: None,
        ..default
    };
    for spec in [default, on_link] {
        if let Err(e) = handle.add_route(&nl::route(&spec), Add::Replace) {
            warn!(dev, error = %e, table = r.table, "ipv6 source routing: route not added");
        }
    }
    for m in rules(dev, r) {
        if let Err(e) = handle.add_rule(&m, Add::Exclusive) {
            if !nl::is_exists(&e) {
                warn!(dev, error = %e, table = r.table, "ipv6 source routing: rule not added");
            }
        }
    }
}

fn rules(dev: &str, r: &Routing) -> [RuleMessage; 2] {
    let (subnet, len) = r.subnet;
    let net = (IpAddr::V6(subnet), len);
    [
        nl::rule(RULE_PRIORITY, r.table, net, None),
        nl::rule(RULE_PRIORITY, r.table, net, Some(dev)),
    ]
}

async fn uninstall(handle: &Handle, index: u32, dev: &str, r: &Routing) {
    for m in rules(dev, r) {
        let _ = handle.del_rule(&m);
    }
    // Whatever the table holds through this device is ours.
    if let Err(e) = handle.flush_routes6(r.table, index) {
        debug!(dev, error = %e, table = r.table, "ipv6 source routing: routes not read");
    }
}

/// Runs until `stop`: follows the leased address (`lease`, from the
/// DHCPv6 client) and the device's RAs, keeping the network's IPv6 table
/// and rules in line; takes them off at the end.
pub async fn run(
    handle: Handle,
    index: u32,
    dev: String,
    mut lease: watch::Receiver<Option<Ipv6Addr>>,
    mut stop: watch::Receiver<bool>,
) {
    let fd = match socket(&dev, index) {
        Ok(fd) => fd,
        Err(e) => {
            warn!(dev, error = %e, "no router advertisements: the IPv6 source routing stays off");
            return;
        }
    };
    let mut buf = vec![0u8; 2048];
    let mut last: Option<Advert> = None;
    let mut installed: Option<Routing> = None;
    loop {
        let addr = *lease.borrow();
        let want = match (addr, &last) {
            (Some(ip), Some(ra)) if ra.lifetime > 0 => Some(Routing {
                table: table6_of(ip),
                router: ra.router,
                subnet: ra
                    .onlink
                    .iter()
                    .copied()
                    .find(|p| contains(*p, ip))
                    .map(trunc)
                    .unwrap_or((ip, 128)),
            }),
            _ => None,
        };
        if installed.is_some() && installed != want {
            if let Some(old) = installed.take() {
                uninstall(&handle, index, &dev, &old).await;
                info!(dev, table = old.table, "ipv6 source routing removed");
            }
        }
        if let (Some(w), Some(ra)) = (&want, &last) {
            install(&handle, index, &dev, w, ra.lifetime).await;
            if installed.is_none() {
                info!(dev, table = w.table, router = %w.router, "ipv6 source routing installed");
            }
            installed = want;
        }
        tokio::select! {
            _ = stop.changed() => break,
            changed = lease.changed() => {
                if changed.is_err() {
                    break;
                }
                if lease.borrow().is_some() {
                    solicit(&fd, index);
                }
            }
            got = receive(&fd, &mut buf) => match got {
                Ok(Some(ra)) => last = Some(ra),
                Ok(None) => {}
                Err(e) => {
                    warn!(dev, error = %e, "reading router advertisements");
                    break;
                }
            },
        }
    }
    if let Some(old) = installed {
        uninstall(&handle, index, &dev, &old).await;
        info!(dev, table = old.table, "ipv6 source routing removed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_advert_with_its_on_link_prefix() {
        let mut m = vec![134, 0, 0, 0, 64, 0, 0x07, 0x08, 0, 0, 0, 0, 0, 0, 0, 0];
        // Source link-layer address option, then a prefix (L and A set).
        m.extend([1, 1, 2, 0, 0, 0, 0, 1]);
        let mut p = vec![3, 4, 64, 0xc0, 0, 0, 0, 120, 0, 0, 0, 60, 0, 0, 0, 0];
        p.extend("fd78::".parse::<Ipv6Addr>().unwrap().octets());
        m.extend(p);
        let ll: Ipv6Addr = "fe80::1".parse().unwrap();
        let a = parse(ll, &m).unwrap();
        assert_eq!(a.router, ll);
        assert_eq!(a.lifetime, 0x0708);
        assert_eq!(a.onlink, vec![("fd78::".parse().unwrap(), 64)]);
        assert!(contains(a.onlink[0], "fd78::1a2".parse().unwrap()));
        assert!(!contains(a.onlink[0], "fd77::1a2".parse().unwrap()));
        // Not from a link-local source: ignored.
        assert!(parse("fd78::1".parse().unwrap(), &m).is_none());
        // Truncated options stop the walk, not the parse.
        assert!(parse(ll, &m[..30]).unwrap().onlink.is_empty());
    }

    #[test]
    fn tables_stay_off_the_kernel_numbers() {
        assert_eq!(table6_of("fd78::1a2".parse().unwrap()), 0x1a2);
        assert_eq!(table6_of("fd78::fe".parse().unwrap()), 0x8000_00fe);
        assert_eq!(table6_of("fd78::".parse().unwrap()), 0x8000_0000);
    }
}
