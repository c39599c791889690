//! The client's netlink: the workspace's one socket (`netswitch-netlink`),
//! shared by the client's tasks behind a lock. Requests are encoded with
//! netlink-packet-route's message types; replies are read in place with the
//! shared attribute walker. Every request is a round trip of microseconds
//! to the kernel, so the tasks call it directly.

use std::io;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use netlink_packet_core::Emitable;
use netlink_packet_route::address::{AddressAttribute, AddressMessage, CacheInfo};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteProtocol, RouteScope, RouteType,
};
use netlink_packet_route::rule::{RuleAction, RuleAttribute, RuleMessage};
use netlink_packet_route::AddressFamily;
use netswitch_netlink::attr::{self, Attrs};
use netswitch_netlink::{
    Message, Socket, NETLINK_ROUTE, NLM_F_ACK, NLM_F_CREATE, NLM_F_EXCL, NLM_F_REPLACE,
};

const RTM_NEWLINK: u16 = 16;
const RTM_GETLINK: u16 = 18;
const RTM_NEWADDR: u16 = 20;
const RTM_DELADDR: u16 = 21;
const RTM_GETADDR: u16 = 22;
const RTM_NEWROUTE: u16 = 24;
const RTM_DELROUTE: u16 = 25;
const RTM_GETROUTE: u16 = 26;
const RTM_NEWRULE: u16 = 32;
const RTM_DELRULE: u16 = 33;
const RTM_NEWNEIGH: u16 = 28;
const RTM_GETNEIGH: u16 = 30;
const IFLA_ADDRESS: u16 = 1;
const IFLA_IFNAME: u16 = 3;
const IFA_ADDRESS: u16 = 1;
const IFA_FLAGS: u16 = 8;
const IFA_F_TENTATIVE: u32 = 0x40;
const RTA_OIF: u16 = 4;
const RTA_TABLE: u16 = 15;
const NDA_DST: u16 = 1;
/// `NUD_REACHABLE | NUD_STALE | NUD_DELAY | NUD_PROBE | NUD_PERMANENT`:
/// the neighbour answered at some point.
const NUD_RESOLVED: u16 = 0x02 | 0x04 | 0x08 | 0x10 | 0x80;
const AF_INET6: u8 = 10;

/// A shared handle on the client's socket.
pub type Handle = Arc<Rtnl>;

/// The client's `NETLINK_ROUTE` socket.
pub struct Rtnl {
    sock: Mutex<Socket>,
}

/// How a route or rule is added: replacing what holds its place, or
/// failing with `EEXIST` when it is there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Add {
    /// `NLM_F_REPLACE`.
    Replace,
    /// `NLM_F_EXCL`.
    Exclusive,
}

impl Rtnl {
    /// Opens the socket in the calling thread's network namespace.
    pub fn open() -> io::Result<Handle> {
        let sock = Socket::open(NETLINK_ROUTE)?;
        sock.set_ext_ack(true)?;
        sock.set_cap_ack(true)?;
        Ok(Arc::new(Rtnl {
            sock: Mutex::new(sock),
        }))
    }

    fn lock(&self) -> MutexGuard<'_, Socket> {
        // A panic mid-request leaves the socket usable: replies of an
        // old sequence number are skipped.
        self.sock.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// One request that the kernel acks; its refusal as the errno.
    fn ack(&self, kind: u16, flags: u16, body: &[u8]) -> io::Result<()> {
        self.lock()
            .request(kind, NLM_F_ACK | flags, body, |_| {})
            .map(drop)
    }

    fn dump<T>(
        &self,
        what: &str,
        kind: u16,
        body: &[u8],
        parse: impl FnMut(&Message<'_>) -> Option<T>,
    ) -> io::Result<Vec<T>> {
        self.lock().dump(&what, kind, body, parse)
    }

    /// The ifindex and MAC of device `dev`, if it exists.
    pub fn link(&self, dev: &str) -> io::Result<Option<(u32, Vec<u8>)>> {
        let mut body = vec![0u8; 16];
        let mut name = dev.as_bytes().to_vec();
        name.push(0);
        attr::push(&mut body, IFLA_IFNAME, &name);
        let mut found = None;
        let got = self.lock().request(RTM_GETLINK, 0, &body, |m| {
            if m.kind == RTM_NEWLINK && m.payload.len() >= 16 {
                let mac = Attrs::new(&m.payload[16..]).find_kind(IFLA_ADDRESS);
                found = mac.map(|mac| (attr::u32_at(m.payload, 4), mac.to_vec()));
            }
        });
        match got {
            Ok(_) => Ok(found),
            Err(e) if e.raw_os_error() == Some(libc::ENODEV) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The IPv6 addresses of link `index`, each with whether it is still
    /// tentative (duplicate address detection running).
    pub fn addrs6(&self, index: u32) -> io::Result<Vec<(std::net::Ipv6Addr, bool)>> {
        let mut body = [0u8; 8];
        body[0] = AF_INET6;
        let all = self.dump("ipv6 address", RTM_GETADDR, &body, |m| {
            let p = m.payload;
            if m.kind != RTM_NEWADDR || p.len() < 8 || attr::u32_at(p, 4) != index {
                return None;
            }
            let mut flags = u32::from(p[2]);
            let mut addr = None;
            for (t, v) in Attrs::new(&p[8..]) {
                match t {
                    IFA_ADDRESS => addr = attr::ip_of(v),
                    IFA_FLAGS => flags = attr::u32_of(v).unwrap_or(flags),
                    _ => {}
                }
            }
            match addr? {
                IpAddr::V6(v6) => Some((v6, flags & IFA_F_TENTATIVE != 0)),
                IpAddr::V4(_) => None,
            }
        })?;
        Ok(all)
    }

    /// Whether one of `ips` is a resolved neighbour on link `index`.
    pub fn resolved(&self, index: u32, ips: &[IpAddr]) -> io::Result<bool> {
        let hits = self.dump("neighbour", RTM_GETNEIGH, &[0u8; 12], |m| {
            let p = m.payload;
            let state = p.get(8..10).and_then(attr::u16_of)?;
            let hit = m.kind == RTM_NEWNEIGH
                && attr::u32_at(p, 4) == index
                && state & NUD_RESOLVED != 0
                && Attrs::new(p.get(12..)?)
                    .find_kind(NDA_DST)
                    .and_then(attr::ip_of)
                    .is_some_and(|ip| ips.contains(&ip));
            hit.then_some(())
        })?;
        Ok(!hits.is_empty())
    }

    /// Adds or refreshes an address with lifetimes in seconds.
    pub fn put_addr(
        &self,
        index: u32,
        ip: IpAddr,
        prefix: u8,
        valid: u32,
        preferred: u32,
    ) -> io::Result<()> {
        let mut m = address(index, ip, prefix);
        let mut c = CacheInfo::default();
        c.ifa_preferred = preferred;
        c.ifa_valid = valid;
        m.attributes.push(AddressAttribute::CacheInfo(c));
        self.ack(RTM_NEWADDR, NLM_F_REPLACE | NLM_F_CREATE, &emit(&m))
    }

    /// Removes an address.
    pub fn del_addr(&self, index: u32, ip: IpAddr, prefix: u8) -> io::Result<()> {
        self.ack(RTM_DELADDR, 0, &emit(&address(index, ip, prefix)))
    }

    /// Adds a route.
    pub fn add_route(&self, m: &RouteMessage, how: Add) -> io::Result<()> {
        self.ack(RTM_NEWROUTE, how.flags() | NLM_F_CREATE, &emit(m))
    }

    /// Removes a route.
    pub fn del_route(&self, m: &RouteMessage) -> io::Result<()> {
        self.ack(RTM_DELROUTE, 0, &emit(m))
    }

    /// Removes every IPv6 route of `table` through link `index`.
    pub fn flush_routes6(&self, table: u32, index: u32) -> io::Result<()> {
        let mut body = [0u8; 12];
        body[0] = AF_INET6;
        let mine = self.dump("ipv6 route", RTM_GETROUTE, &body, |m| {
            let p = m.payload;
            let attrs = Attrs::new(p.get(12..)?);
            let t = attrs.clone().find_kind(RTA_TABLE).and_then(attr::u32_of);
            let oif = attrs.find_kind(RTA_OIF).and_then(attr::u32_of);
            (t.unwrap_or(u32::from(p[4])) == table && oif == Some(index)).then(|| p.to_vec())
        })?;
        for route in mine {
            // A dumped route's payload is its own delete request.
            let _ = self.ack(RTM_DELROUTE, 0, &route);
        }
        Ok(())
    }

    /// Adds a rule.
    pub fn add_rule(&self, m: &RuleMessage, how: Add) -> io::Result<()> {
        self.ack(RTM_NEWRULE, how.flags() | NLM_F_CREATE, &emit(m))
    }

    /// Removes a rule.
    pub fn del_rule(&self, m: &RuleMessage) -> io::Result<()> {
        self.ack(RTM_DELRULE, 0, &emit(m))
    }
}

impl Add {
    fn flags(self) -> u16 {
        match self {
            Add::Replace => NLM_F_REPLACE,
            Add::Exclusive => NLM_F_EXCL,
        }
    }
}

/// Whether a request failed because its object exists already.
pub fn is_exists(e: &io::Error) -> bool {
    e.raw_os_error() == Some(libc::EEXIST)
}

fn emit<M: Emitable>(m: &M) -> Vec<u8> {
    let mut b = vec![0; m.buffer_len()];
    m.emit(&mut b);
    b
}

fn family(ip: IpAddr) -> AddressFamily {
    match ip {
        IpAddr::V4(_) => AddressFamily::Inet,
        IpAddr::V6(_) => AddressFamily::Inet6,
    }
}

/// An address on link `index` (`IFA_LOCAL` and `IFA_ADDRESS` both `ip`).
fn address(index: u32, ip: IpAddr, prefix: u8) -> AddressMessage {
    let mut m = AddressMessage::default();
    m.header.family = family(ip);
    m.header.index = index;
    m.header.prefix_len = prefix;
    m.attributes.push(AddressAttribute::Address(ip));
    m.attributes.push(AddressAttribute::Local(ip));
    m
}

/// What a route of the client says.
#[derive(Debug, Clone, Copy)]
pub struct RouteSpec {
    /// The routing table.
    pub table: u32,
    /// The destination prefix; `None` for the default route of the family
    /// of `family`.
    pub dst: Option<(IpAddr, u8)>,
    /// An address of the route's family, for its family.
    pub family: IpAddr,
    /// The next hop.
    pub gateway: Option<IpAddr>,
    /// The output link.
    pub oif: u32,
    /// The preferred source address.
    pub prefsrc: Option<IpAddr>,
    /// `RT_SCOPE_LINK` for an on-link subnet route.
    pub link_scope: bool,
    /// Who owns it (`dhcp`, `ra`).
    pub protocol: RouteProtocol,
    /// `RTA_EXPIRES` in seconds (IPv6).
    pub expires: Option<u32>,
}

/// The route message of `spec`: a unicast route, its table in the header
/// when it fits a byte and in `RTA_TABLE` always.
pub fn route(spec: &RouteSpec) -> RouteMessage {
    let mut m = RouteMessage::default();
    let h = &mut m.header;
    h.address_family = family(spec.family);
    h.table = u8::try_from(spec.table).unwrap_or(RouteHeader::RT_TABLE_UNSPEC);
    h.protocol = spec.protocol;
    h.scope = if spec.link_scope {
        RouteScope::Link
    } else {
        RouteScope::Universe
    };
    h.kind = RouteType::Unicast;
    let a = &mut m.attributes;
    a.push(RouteAttribute::Table(spec.table));
    if let Some((dst, len)) = spec.dst {
        m.header.destination_prefix_length = len;
        a.push(RouteAttribute::Destination(RouteAddress::from(dst)));
    }
    a.extend(
        spec.gateway
            .map(|g| RouteAttribute::Gateway(RouteAddress::from(g))),
    );
    a.push(RouteAttribute::Oif(spec.oif));
    a.extend(
        spec.prefsrc
            .map(|p| RouteAttribute::PrefSource(RouteAddress::from(p))),
    );
    a.extend(spec.expires.map(RouteAttribute::Expires));
    m
}

/// A source-routing rule at `priority` to `table`: from `src` (a prefix)
/// or, with `iif`, to it from that device.
pub fn rule(priority: u32, table: u32, (net, len): (IpAddr, u8), iif: Option<&str>) -> RuleMessage {
    let mut m = RuleMessage::default();
    m.header.family = family(net);
    m.header.table = u8::try_from(table).unwrap_or(RouteHeader::RT_TABLE_UNSPEC);
    // As the rule requests have always gone out: the kernel takes the table
    // from `FRA_TABLE`.
    m.header.action = RuleAction::Unspec;
    m.attributes.push(RuleAttribute::Priority(priority));
    m.attributes.push(RuleAttribute::Table(table));
    match iif {
        None => {
            m.header.src_len = len;
            m.attributes.push(RuleAttribute::Source(net));
        }
        Some(dev) => {
            m.header.dst_len = len;
            m.attributes.push(RuleAttribute::Destination(net));
            m.attributes.push(RuleAttribute::Iifname(dev.to_string()));
        }
    }
    m
}
