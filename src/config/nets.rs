//! "Our" networks: parsing one (CIDR or a bare address), the set of them
//! with its membership test (IPv4-mapped IPv6 counts as IPv4), and each as
//! the `ip_bin` range the store filters on.

use std::net::IpAddr;

use ipnet::IpNet;

/// Parses one network: CIDR (`192.0.2.0/24`, `2001:db8::/32`) or a bare
/// address (a /32 or /128). Surrounding spaces are ignored, so
/// `DMARCDB_OUR_NETS="a/24, b/24"` works.
pub fn parse_net(s: &str) -> Result<IpNet, NotANet> {
    let s = s.trim();
    if let Ok(n) = s.parse::<IpNet>() {
        return Ok(n.trunc());
    }
    s.parse::<IpAddr>()
        .map(IpNet::from)
        .map_err(|_| NotANet(s.to_string()))
}

/// A network that does not parse (the text as given, trimmed).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a network (CIDR like 192.0.2.0/24, or an address)")]
pub struct NotANet(pub String);

/// The networks whose source IPs are "ours".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OurNets {
    nets: Vec<IpNet>,
}

impl OurNets {
    pub fn new(nets: Vec<IpNet>) -> OurNets {
        OurNets { nets }
    }

    pub fn is_empty(&self) -> bool {
        self.nets.is_empty()
    }

    pub fn nets(&self) -> &[IpNet] {
        &self.nets
    }

    /// Whether `ip` is in one of the networks. An IPv4-mapped IPv6
    /// address (`::ffff:192.0.2.1`, as some reporters write) counts as its
    /// IPv4 address.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.nets.iter().any(|n| n.contains(&ip))
            || self.nets.iter().any(|n| n.contains(&mapped(ip)))
    }

    /// Each network as an inclusive range of 16-byte addresses, the form of
    /// `record.ip_bin` (IPv4 mapped into IPv6), for `ip_bin BETWEEN lo AND hi`.
    pub fn ranges(&self) -> Vec<([u8; 16], [u8; 16])> {
        self.nets.iter().map(range).collect()
    }
}

/// `net` as an inclusive `ip_bin` range.
pub fn range(net: &IpNet) -> ([u8; 16], [u8; 16]) {
    (bin(net.network()), bin(net.broadcast()))
}

fn bin(ip: IpAddr) -> [u8; 16] {
    match ip {
        IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
        IpAddr::V6(v6) => v6.octets(),
    }
}

fn mapped(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => IpAddr::V6(v4.to_ipv6_mapped()),
        v6 => v6,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn mapped_ipv6_counts_as_its_ipv4() {
        let nets = OurNets::new(vec![parse_net("207.174.124.0/24").unwrap()]);
        assert!(nets.contains(ip("207.174.124.94")));
        assert!(nets.contains(ip("::ffff:207.174.124.94")));
        assert!(!nets.contains(ip("207.174.125.1")));
        let v6 = OurNets::new(vec![parse_net("::ffff:198.51.100.0/120").unwrap()]);
        assert!(v6.contains(ip("198.51.100.7")));
    }

    #[test]
    fn bare_addresses_and_host_bits() {
        assert_eq!(
            parse_net(" 192.0.2.1 ").unwrap().to_string(),
            "192.0.2.1/32"
        );
        assert_eq!(
            parse_net("192.0.2.9/24").unwrap().to_string(),
            "192.0.2.0/24"
        );
        assert!(parse_net("192.0.2.0/33").is_err());
        assert!(parse_net("example.com").is_err());
    }
}
