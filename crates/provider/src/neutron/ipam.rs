//! IPv4 address management for subnets: CIDRs, pools, and the first free
//! address. The provider allocates itself (OVN's dynamic addresses would
//! only be known after northd runs, and Neutron answers with the address).

use std::collections::HashSet;
use std::net::Ipv4Addr;

/// A parsed IPv4 CIDR.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Cidr {
    /// The network address (host bits cleared).
    pub net: Ipv4Addr,
    /// The prefix length.
    pub prefix: u8,
}

impl Cidr {
    /// Parses `a.b.c.d/n`; host bits must be clear, as Neutron requires.
    pub fn parse(s: &str) -> Option<Cidr> {
        let (a, p) = s.split_once('/')?;
        let ip: Ipv4Addr = a.parse().ok()?;
        let prefix: u8 = p.parse().ok()?;
        if prefix > 32 {
            return None;
        }
        let c = Cidr { net: ip, prefix };
        (u32::from(ip) & c.mask() == u32::from(ip)).then_some(c)
    }

    fn mask(&self) -> u32 {
        if self.prefix == 0 {
            0
        } else {
            u32::MAX << (32 - self.prefix)
        }
    }

    /// Whether `ip` is inside.
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & self.mask() == u32::from(self.net)
    }

    /// Whether the two share any address.
    pub fn overlaps(&self, o: &Cidr) -> bool {
        self.contains(o.net) || o.contains(self.net)
    }

    /// The first host address (network + 1; the network itself for /31, /32).
    pub fn first_host(&self) -> Ipv4Addr {
        if self.prefix >= 31 {
            self.net
        } else {
            Ipv4Addr::from(u32::from(self.net) + 1)
        }
    }

    /// The last host address (before broadcast).
    pub fn last_host(&self) -> Ipv4Addr {
        let bcast = u32::from(self.net) | !self.mask();
        if self.prefix >= 31 {
            Ipv4Addr::from(bcast)
        } else {
            Ipv4Addr::from(bcast - 1)
        }
    }
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.net, self.prefix)
    }
}

/// An allocation pool, inclusive.
pub type Pool = (Ipv4Addr, Ipv4Addr);

/// The first address of `pools` not in `used`.
pub fn first_free(pools: &[Pool], used: &HashSet<Ipv4Addr>) -> Option<Ipv4Addr> {
    first_free_from(pools, used, None)
}

/// The first address of `pools` after `after` (all when none) not in
/// `used`. A call that allocates several addresses from a `used` set that
/// only grows resumes after the last one instead of rescanning from the
/// pools' start.
pub fn first_free_from(
    pools: &[Pool],
    used: &HashSet<Ipv4Addr>,
    after: Option<Ipv4Addr>,
) -> Option<Ipv4Addr> {
    let from = after.map_or(0, |a| u64::from(u32::from(a)) + 1);
    pools.iter().find_map(|(a, b)| {
        let start = u64::from(u32::from(*a)).max(from);
        (start..=u64::from(u32::from(*b)))
            .filter_map(|x| u32::try_from(x).ok())
            .map(Ipv4Addr::from)
            .find(|ip| !used.contains(ip))
    })
}

/// Pools as stored: `a-b,c-d`.
pub fn parse_pools(s: &str) -> Vec<Pool> {
    s.split(',')
        .filter_map(|p| {
            let (a, b) = p.split_once('-')?;
            Some((a.parse().ok()?, b.parse().ok()?))
        })
        .collect()
}

/// Pools to store.
pub fn format_pools(p: &[Pool]) -> String {
    p.iter()
        .map(|(a, b)| format!("{a}-{b}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// The default pool: every host address but the gateway (split around it).
pub fn default_pools(c: &Cidr, gw: Option<Ipv4Addr>) -> Vec<Pool> {
    let (a, b) = (c.first_host(), c.last_host());
    match gw {
        Some(g) if g == a && a < b => vec![(Ipv4Addr::from(u32::from(a) + 1), b)],
        Some(g) if g == b && a < b => vec![(a, Ipv4Addr::from(u32::from(b) - 1))],
        Some(g) if g > a && g < b => vec![
            (a, Ipv4Addr::from(u32::from(g) - 1)),
            (Ipv4Addr::from(u32::from(g) + 1), b),
        ],
        _ => vec![(a, b)],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidrs_and_pools() {
        let c = Cidr::parse("10.0.0.0/24").unwrap();
        assert!(Cidr::parse("10.0.0.1/24").is_none());
        assert!(c.contains("10.0.0.77".parse().unwrap()));
        assert!(c.overlaps(&Cidr::parse("10.0.0.128/25").unwrap()));
        let pools = default_pools(&c, Some("10.0.0.1".parse().unwrap()));
        assert_eq!(format_pools(&pools), "10.0.0.2-10.0.0.254");
        let mut used = HashSet::new();
        used.insert("10.0.0.2".parse().unwrap());
        assert_eq!(first_free(&pools, &used), Some("10.0.0.3".parse().unwrap()));
        assert_eq!(parse_pools("10.0.0.2-10.0.0.254"), pools);
        let after = Some("10.0.0.3".parse().unwrap());
        assert_eq!(
            first_free_from(&pools, &used, after),
            Some("10.0.0.4".parse().unwrap())
        );
        let last = Some("10.0.0.254".parse().unwrap());
        assert_eq!(first_free_from(&pools, &used, last), None);
    }
}
