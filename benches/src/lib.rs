//! Shared fixtures for the speakerd codec benchmarks.
//!
//! The benchmarks in `benches/codec.rs` decode and encode the *same* UPDATE bytes with
//! `bgp-wire` and with other Rust BGP crates (rustbgpd-wire, netgauze-bgp-pkt, zettabgp,
//! bgpkit-parser), in the same run, so the figures are comparable ratios.
//!
//! The bytes are built here by hand from RFC 4271 §4.1/§4.3 and RFC 4760 §3, with no BGP crate
//! involved, so no codec under test also produced its own input.
//!
//! Every fixture is one complete UPDATE message (19-byte header included) carrying a typical
//! attribute set, in type-code order:
//!
//! | attribute | flags | value |
//! |---|---|---|
//! | ORIGIN (1) | well-known transitive | IGP |
//! | AS_PATH (2) | well-known transitive | one AS_SEQUENCE of 64496 65536 64511, 4-octet ASNs (RFC 6793, both sides negotiated 4-octet AS) |
//! | NEXT_HOP (3) | well-known transitive | 192.0.2.1 (IPv4 fixtures only) |
//! | MULTI_EXIT_DISC (4) | optional non-transitive | 100 |
//! | LOCAL_PREF (5) | well-known transitive | 200 |
//! | COMMUNITIES (8) | optional transitive | 64496:100 64496:200 |
//! | MP_REACH_NLRI (14) | optional non-transitive, extended length | IPv6 unicast, next hop 2001:db8::1 (IPv6 fixture only) |
//!
//! IPv4 prefixes live in 240.0.0.0/4 (reserved, never routed: the test nets are too small to
//! hold 500 distinct prefixes), lengths cycling through a realistic mix (see
//! [`IPV4_PREFIX_LENGTHS`]). IPv6 prefixes live in 2001:db8::/32 (see [`IPV6_PREFIX_LENGTHS`]).
//! Every prefix is distinct and has its host bits clear.
#![forbid(unsafe_code)]

use std::net::{Ipv4Addr, Ipv6Addr};

/// Numbers of IPv4 prefixes per UPDATE that the benchmarks measure.
pub const IPV4_SIZES: [usize; 4] = [1, 10, 100, 500];

/// Numbers of IPv6 prefixes per UPDATE (in MP_REACH_NLRI) that the benchmarks measure.
pub const IPV6_SIZES: [usize; 1] = [100];

/// Prefix lengths of the IPv4 fixtures, used in turn (prefix `i` has length `[i % 8]`).
///
/// Roughly the shape of a full table: mostly /24, some /22-/23, a few /20, /16 and /32.
pub const IPV4_PREFIX_LENGTHS: [u8; 8] = [24, 24, 24, 23, 22, 20, 16, 32];

/// Prefix lengths of the IPv6 fixtures, used in turn (all at least /40 so that 256 distinct
/// prefixes fit under 2001:db8::/32).
pub const IPV6_PREFIX_LENGTHS: [u8; 8] = [48, 48, 48, 44, 40, 56, 64, 128];

/// AS_PATH of every fixture: one AS_SEQUENCE (documentation ASNs of RFC 5398, one of them
/// only representable in 4 octets).
pub const AS_PATH: [u32; 3] = [64496, 65536, 64511];

/// NEXT_HOP of the IPv4 fixtures.
pub const IPV4_NEXT_HOP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);

/// Next hop inside MP_REACH_NLRI of the IPv6 fixtures.
pub const IPV6_NEXT_HOP: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1);

/// MULTI_EXIT_DISC of every fixture.
pub const MED: u32 = 100;

/// LOCAL_PREF of every fixture.
pub const LOCAL_PREF: u32 = 200;

/// COMMUNITIES of every fixture (as 32-bit values, `asn << 16 | value`).
pub const COMMUNITIES: [u32; 2] = [(64496 << 16) | 100, (64496 << 16) | 200];

/// RFC 4271 §4.1: the largest message without the Extended Message capability.
pub const MAX_MESSAGE_LEN: usize = 4096;

/// The `i`-th IPv4 fixture prefix, as (network address, length).
///
/// # Panics
///
/// Panics if `i >= 4096` (the scheme only keeps 4096 prefixes of each length distinct).
pub fn ipv4_prefix(i: usize) -> (Ipv4Addr, u8) {
    assert!(i < 4096, "fixture prefix index out of range");
    let len = IPV4_PREFIX_LENGTHS[i % IPV4_PREFIX_LENGTHS.len()];
    // 240.0.0.0/4 keeps the top 4 bits; the index sits just above the host bits, so it needs
    // at most 12 bits of the 28 available, and the host bits stay zero.
    let index = u32::try_from(i).expect("i < 4096");
    let addr = 0xF000_0000 | (index << (32 - u32::from(len)));
    (Ipv4Addr::from(addr), len)
}

/// The `i`-th IPv6 fixture prefix, as (network address, length).
///
/// # Panics
///
/// Panics if `i >= 256` (a /40 under 2001:db8::/32 only has 256 distinct values).
pub fn ipv6_prefix(i: usize) -> (Ipv6Addr, u8) {
    assert!(i < 256, "fixture prefix index out of range");
    let len = IPV6_PREFIX_LENGTHS[i % IPV6_PREFIX_LENGTHS.len()];
    let base: u128 = 0x2001_0db8 << 96;
    let index = u128::try_from(i).expect("i < 256");
    let addr = base | (index << (128 - u32::from(len)));
    (Ipv6Addr::from(addr), len)
}

/// The first `n` IPv4 fixture prefixes.
pub fn ipv4_prefixes(n: usize) -> Vec<(Ipv4Addr, u8)> {
    (0..n).map(ipv4_prefix).collect()
}

/// The first `n` IPv6 fixture prefixes.
pub fn ipv6_prefixes(n: usize) -> Vec<(Ipv6Addr, u8)> {
    (0..n).map(ipv6_prefix).collect()
}

/// RFC 4271 §4.3: a prefix is its length in bits, then the fewest octets that hold it.
fn put_prefix(out: &mut Vec<u8>, octets: &[u8], len: u8) {
    out.push(len);
    out.extend_from_slice(&octets[..usize::from(len).div_ceil(8)]);
}

/// RFC 4271 §4.3: flags, type code, then a 1-octet length, or a 2-octet one with the
/// Extended Length bit (0x10) when the value is longer than 255 octets.
fn put_attribute(out: &mut Vec<u8>, flags: u8, type_code: u8, value: &[u8]) {
    if value.len() > 255 {
        out.push(flags | 0x10);
        out.push(type_code);
        let len = u16::try_from(value.len()).expect("attribute fits in 65535 octets");
        out.extend_from_slice(&len.to_be_bytes());
    } else {
        out.push(flags);
        out.push(type_code);
        out.push(u8::try_from(value.len()).expect("checked above"));
    }
    out.extend_from_slice(value);
}

const WELL_KNOWN: u8 = 0x40; // transitive bit set, optional bit clear
const OPTIONAL: u8 = 0x80;
const OPTIONAL_TRANSITIVE: u8 = 0xC0;

/// The attributes shared by every fixture: ORIGIN, AS_PATH, then (IPv4 only) NEXT_HOP,
/// then MED, LOCAL_PREF and COMMUNITIES.
fn common_attributes(out: &mut Vec<u8>, ipv4_next_hop: Option<Ipv4Addr>) {
    // RFC 4271 §5.1.1: ORIGIN 0 = IGP.
    put_attribute(out, WELL_KNOWN, 1, &[0]);
    // RFC 4271 §4.3 / RFC 6793 §3: AS_SEQUENCE (2), count, then 4-octet ASNs.
    let mut as_path = vec![2, u8::try_from(AS_PATH.len()).expect("short path")];
    for asn in AS_PATH {
        as_path.extend_from_slice(&asn.to_be_bytes());
    }
    put_attribute(out, WELL_KNOWN, 2, &as_path);
    if let Some(nh) = ipv4_next_hop {
        // RFC 4271 §5.1.3: NEXT_HOP, 4 octets.
        put_attribute(out, WELL_KNOWN, 3, &nh.octets());
    }
    // RFC 4271 §5.1.4: MULTI_EXIT_DISC is optional non-transitive.
    put_attribute(out, OPTIONAL, 4, &MED.to_be_bytes());
    // RFC 4271 §5.1.5: LOCAL_PREF is well-known.
    put_attribute(out, WELL_KNOWN, 5, &LOCAL_PREF.to_be_bytes());
    // RFC 1997: COMMUNITIES is optional transitive, 4 octets each.
    let mut communities = Vec::new();
    for c in COMMUNITIES {
        communities.extend_from_slice(&c.to_be_bytes());
    }
    put_attribute(out, OPTIONAL_TRANSITIVE, 8, &communities);
}

/// RFC 4271 §4.1 and §4.3: marker, length, type 2, withdrawn length 0, attribute length,
/// attributes, NLRI.
fn frame_update(attributes: &[u8], nlri: &[u8]) -> Vec<u8> {
    let total = 19 + 2 + 2 + attributes.len() + nlri.len();
    assert!(total <= MAX_MESSAGE_LEN, "fixture exceeds 4096 octets");
    let mut msg = Vec::with_capacity(total);
    msg.extend_from_slice(&[0xFF; 16]);
    msg.extend_from_slice(&u16::try_from(total).expect("<= 4096").to_be_bytes());
    msg.push(2); // UPDATE
    msg.extend_from_slice(&0u16.to_be_bytes()); // no withdrawn routes
    let attr_len = u16::try_from(attributes.len()).expect("<= 4096");
    msg.extend_from_slice(&attr_len.to_be_bytes());
    msg.extend_from_slice(attributes);
    msg.extend_from_slice(nlri);
    msg
}

/// A complete UPDATE message announcing the first `n` IPv4 fixture prefixes in the NLRI field,
/// with NEXT_HOP 192.0.2.1 and the common attributes.
///
/// # Panics
///
/// Panics if the message would not fit in 4096 octets (well above 500 prefixes).
pub fn ipv4_update(n: usize) -> Vec<u8> {
    let mut attributes = Vec::new();
    common_attributes(&mut attributes, Some(IPV4_NEXT_HOP));
    let mut nlri = Vec::new();
    for (addr, len) in ipv4_prefixes(n) {
        put_prefix(&mut nlri, &addr.octets(), len);
    }
    frame_update(&attributes, &nlri)
}

/// A complete UPDATE message announcing the first `n` IPv6 fixture prefixes in an
/// MP_REACH_NLRI attribute (AFI 2, SAFI 1, next hop 2001:db8::1), with the common attributes
/// and no NEXT_HOP attribute.
///
/// # Panics
///
/// Panics if the message would not fit in 4096 octets, or `n > 256`.
pub fn ipv6_update(n: usize) -> Vec<u8> {
    let mut attributes = Vec::new();
    common_attributes(&mut attributes, None);
    // RFC 4760 §3: AFI (2 octets), SAFI, next hop length, next hop, reserved octet, NLRI.
    let mut mp_reach = Vec::new();
    mp_reach.extend_from_slice(&2u16.to_be_bytes()); // AFI IPv6
    mp_reach.push(1); // SAFI unicast
    mp_reach.push(16);
    mp_reach.extend_from_slice(&IPV6_NEXT_HOP.octets());
    mp_reach.push(0); // reserved
    for (addr, len) in ipv6_prefixes(n) {
        put_prefix(&mut mp_reach, &addr.octets(), len);
    }
    // RFC 4760 §3: MP_REACH_NLRI is optional non-transitive.
    put_attribute(&mut attributes, OPTIONAL, 14, &mp_reach);
    frame_update(&attributes, &[])
}

/// Address family of a [`Fixture`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// IPv4 unicast prefixes in the UPDATE's NLRI field.
    Ipv4,
    /// IPv6 unicast prefixes in MP_REACH_NLRI.
    Ipv6,
}

/// One benchmark input: a complete UPDATE message and what it carries.
#[derive(Debug, Clone)]
pub struct Fixture {
    /// Benchmark id, e.g. `ipv4/100`.
    pub name: String,
    /// Address family of the announced prefixes.
    pub family: Family,
    /// Number of announced prefixes (the criterion throughput unit).
    pub prefixes: usize,
    /// The whole message, header included.
    pub bytes: Vec<u8>,
}

/// Every fixture the benchmarks run: IPv4 for each of [`IPV4_SIZES`], then IPv6 for each of
/// [`IPV6_SIZES`].
pub fn fixtures() -> Vec<Fixture> {
    let v4 = IPV4_SIZES.iter().map(|&n| Fixture {
        name: format!("ipv4/{n}"),
        family: Family::Ipv4,
        prefixes: n,
        bytes: ipv4_update(n),
    });
    let v6 = IPV6_SIZES.iter().map(|&n| Fixture {
        name: format!("ipv6/{n}"),
        family: Family::Ipv6,
        prefixes: n,
        bytes: ipv6_update(n),
    });
    v4.chain(v6).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use bgpkit_parser::models::{AsPath, AsnLength, BgpMessage, Origin};
    use std::collections::HashSet;
    use std::net::IpAddr;

    #[test]
    fn one_prefix_update_matches_hand_written_bytes() {
        let expected: Vec<u8> = [
            &[0xFF; 16][..],
            &[0, 80, 2],    // length 19 + 4 + 53 + 4, type UPDATE
            &[0, 0, 0, 53], // no withdrawn routes, 53 octets of attributes
            &[0x40, 1, 1, 0],
            &[
                0x40, 2, 14, 2, 3, 0, 0, 0xFB, 0xF0, 0, 1, 0, 0, 0, 0, 0xFB, 0xFF,
            ],
            &[0x40, 3, 4, 192, 0, 2, 1],
            &[0x80, 4, 4, 0, 0, 0, 100],
            &[0x40, 5, 4, 0, 0, 0, 200],
            &[0xC0, 8, 8, 0xFB, 0xF0, 0, 100, 0xFB, 0xF0, 0, 200],
            &[24, 240, 0, 0],
        ]
        .concat();
        assert_eq!(ipv4_update(1), expected);
    }

    #[test]
    fn prefixes_are_distinct_and_in_reserved_or_documentation_space() {
        let v4 = ipv4_prefixes(500);
        assert_eq!(v4.iter().collect::<HashSet<_>>().len(), 500);
        for (addr, len) in &v4 {
            assert_eq!(
                addr.octets()[0] & 0xF0,
                0xF0,
                "{addr}/{len} outside 240.0.0.0/4"
            );
            let host_mask = u32::MAX.checked_shr(u32::from(*len)).unwrap_or(0);
            assert_eq!(
                u32::from(*addr) & host_mask,
                0,
                "{addr}/{len} has host bits"
            );
        }
        let v6 = ipv6_prefixes(256);
        assert_eq!(v6.iter().collect::<HashSet<_>>().len(), 256);
        for (addr, len) in &v6 {
            assert_eq!(
                addr.segments()[..2],
                [0x2001, 0xdb8],
                "{addr} outside 2001:db8::/32"
            );
            let host_mask = u128::MAX.checked_shr(u32::from(*len)).unwrap_or(0);
            assert_eq!(
                u128::from(*addr) & host_mask,
                0,
                "{addr}/{len} has host bits"
            );
        }
    }

    #[test]
    fn fixtures_fit_in_a_standard_message() {
        for f in fixtures() {
            let declared = usize::from(u16::from_be_bytes([f.bytes[16], f.bytes[17]]));
            assert_eq!(declared, f.bytes.len(), "{}", f.name);
            assert!(f.bytes.len() <= MAX_MESSAGE_LEN, "{}", f.name);
        }
    }

    /// Parse with an independent crate (bgpkit-parser) and check every field, so a bad
    /// fixture is caught before it skews a benchmark.
    #[test]
    fn fixtures_parse_with_bgpkit_parser() {
        for f in fixtures() {
            let mut data = bytes::Bytes::from(f.bytes.clone());
            let msg =
                bgpkit_parser::parser::bgp::parse_bgp_message(&mut data, false, &AsnLength::Bits32)
                    .unwrap_or_else(|e| panic!("{}: {e}", f.name));
            assert!(data.is_empty(), "{}: trailing bytes", f.name);
            let BgpMessage::Update(update) = msg else {
                panic!("{}: not an UPDATE", f.name)
            };
            assert!(update.withdrawn_prefixes.is_empty());
            let attrs = &update.attributes;
            assert!(
                attrs.validation_warnings().is_empty(),
                "{}: {:?}",
                f.name,
                attrs.validation_warnings()
            );
            assert_eq!(attrs.origin(), Origin::IGP);
            assert_eq!(
                attrs.as_path(),
                Some(&AsPath::from_sequence(AS_PATH)),
                "{}",
                f.name
            );
            assert_eq!(attrs.multi_exit_discriminator(), Some(MED));
            assert_eq!(attrs.local_preference(), Some(LOCAL_PREF));
            let communities: Vec<_> = attrs.iter_communities().collect();
            assert_eq!(communities.len(), 2, "{}", f.name);
            match f.family {
                Family::Ipv4 => {
                    assert_eq!(attrs.next_hop(), Some(IPV4_NEXT_HOP.into()));
                    let got: Vec<(IpAddr, u8)> = update
                        .announced_prefixes
                        .iter()
                        .map(|p| (p.prefix.addr(), p.prefix.prefix_len()))
                        .collect();
                    let want: Vec<(IpAddr, u8)> = ipv4_prefixes(f.prefixes)
                        .into_iter()
                        .map(|(a, l)| (a.into(), l))
                        .collect();
                    assert_eq!(got, want, "{}", f.name);
                }
                Family::Ipv6 => {
                    assert!(update.announced_prefixes.is_empty());
                    let mp = attrs.get_reachable_nlri().expect("MP_REACH_NLRI");
                    assert_eq!(mp.next_hop_addr(), IpAddr::V6(IPV6_NEXT_HOP));
                    let got: Vec<(IpAddr, u8)> = mp
                        .prefixes
                        .iter()
                        .map(|p| (p.prefix.addr(), p.prefix.prefix_len()))
                        .collect();
                    let want: Vec<(IpAddr, u8)> = ipv6_prefixes(f.prefixes)
                        .into_iter()
                        .map(|(a, l)| (a.into(), l))
                        .collect();
                    assert_eq!(got, want, "{}", f.name);
                }
            }
        }
    }
}
