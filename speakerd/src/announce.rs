//! `[[announce]]` tables: the routes the configuration announces, and the textual grammar of
//! communities (parsed with `nom`, as DESIGN.md asks for textual grammars).
//!
//! ```toml
//! [[announce]]
//! prefix = "203.0.113.100/32"            # IPv4 or IPv6; host bits must be zero
//! communities = ["64511:100", "no-export", "large:64511:1:2", "rt:64511:100", "soo:192.0.2.1:7"]
//! large_communities = ["64511:3:4"]      # optional: large communities without the "large:" tag
//! local_pref = 200                       # sent to iBGP peers only (RFC 4271 §5.1.5); default 100
//! med = 10
//! next_hop = "192.0.2.11"                # optional; default: our address on each session
//! origin = "igp"                         # "igp" (default) | "egp" | "incomplete"
//! as_path_prepend = 2                    # extra copies of our AS, 0..=16
//! peers = ["tor1"]                       # optional: only these [[peer]] names
//! ```
//!
//! Community syntax (one string each):
//!
//! | form | meaning |
//! |---|---|
//! | `ASN:VALUE` (both 0..=65535) | standard community (RFC 1997) |
//! | `no-export`, `no-advertise`, `no-export-subconfed`, `nopeer`, `blackhole`, `graceful-shutdown` | well-known communities |
//! | `large:GLOBAL:LOCAL1:LOCAL2` (each 0..=4294967295) | large community (RFC 8092) |
//! | `rt:ASN:VALUE`, `soo:ASN:VALUE` | route target / route origin extended community (RFC 4360): 2-octet AS with a 32-bit value, or a 4-octet AS (above 65535) with a 16-bit value (RFC 5668) |
//! | `rt:IPV4:VALUE`, `soo:IPV4:VALUE` | IPv4-address specific route target / origin, 16-bit value |
//! | `ext:HHHHHHHHHHHHHHHH` | any extended community, 8 octets in hex |

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};

use bgp_wire::{Community, ExtendedCommunity, IpNet, LargeCommunity, Origin};
use nom::branch::alt;
use nom::bytes::complete::{tag, take_while1};
use nom::character::complete::{char, digit1};
use nom::combinator::{all_consuming, map, opt, recognize};
use nom::multi::separated_list1;
use nom::sequence::terminated;
use nom::{IResult, Parser};
use rib::{Advertisement, NextHop, PeerSelection};
use serde::Deserialize;
use toml::Spanned;

use crate::config::PeerConfig;

/// One validated `[[announce]]` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Announcement {
    /// The prefix (host bits zero).
    pub prefix: IpNet,
    /// Its attributes and peer selection.
    pub advertisement: Advertisement,
}

/// Any community a string can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnyCommunity {
    /// Standard (RFC 1997).
    Standard(Community),
    /// Large (RFC 8092).
    Large(LargeCommunity),
    /// Extended (RFC 4360).
    Extended(ExtendedCommunity),
}

/// One field between colons: a number or a dotted IPv4 address.
#[derive(Debug, Clone, Copy)]
enum Field<'a> {
    Num(&'a str),
    Ip(&'a str),
}

fn field(i: &str) -> IResult<&str, Field<'_>> {
    alt((
        map(
            recognize((
                digit1,
                char('.'),
                digit1,
                char('.'),
                digit1,
                char('.'),
                digit1,
            )),
            Field::Ip,
        ),
        map(digit1, Field::Num),
    ))
    .parse(i)
}

/// `[keyword ':'] field (':' field)*`, or a bare keyword, or `ext:` hex.
fn lexical(i: &str) -> IResult<&str, (Option<&str>, Vec<Field<'_>>)> {
    alt((
        map(
            (
                opt(terminated(
                    alt((tag("large"), tag("rt"), tag("soo"))),
                    char(':'),
                )),
                separated_list1(char(':'), field),
            ),
            |(k, f)| (k, f),
        ),
        map(
            (
                terminated(tag("ext"), char(':')),
                take_while1(|c: char| c.is_ascii_hexdigit()),
            ),
            |(k, h)| (Some(k), vec![Field::Num(h)]),
        ),
    ))
    .parse(i)
}

fn num(f: Field<'_>, what: &str, max: u64) -> Result<u64, String> {
    match f {
        Field::Num(s) => match s.parse::<u64>() {
            Ok(n) if n <= max => Ok(n),
            _ => Err(format!("{what} {s} out of range 0..={max}")),
        },
        Field::Ip(s) => Err(format!("{what}: expected a number, found {s}")),
    }
}

/// Parses one community string (see the module docs for the syntax).
pub fn parse_community(s: &str) -> Result<AnyCommunity, String> {
    let well_known = [
        ("no-export", Community::NO_EXPORT),
        ("no-advertise", Community::NO_ADVERTISE),
        ("no-export-subconfed", Community::NO_EXPORT_SUBCONFED),
        ("nopeer", Community::NOPEER),
        ("blackhole", Community::BLACKHOLE),
        ("graceful-shutdown", Community::GRACEFUL_SHUTDOWN),
    ];
    if let Some((_, c)) = well_known.iter().find(|(n, _)| *n == s) {
        return Ok(AnyCommunity::Standard(*c));
    }
    let (_, (kw, fields)) = all_consuming(lexical).parse(s).map_err(|_| {
        "expected ASN:VALUE, large:A:B:C, rt:ASN:VALUE, soo:ASN:VALUE, ext:<16 hex digits> or a well-known name (no-export, no-advertise, ...)".to_string()
    })?;
    let arity = |n: usize, form: &str| {
        if fields.len() == n {
            Ok(())
        } else {
            Err(format!("{} field(s) where {form} has {n}", fields.len()))
        }
    };
    match kw {
        None => {
            arity(2, "ASN:VALUE")?;
            // RFC 1997: a community is two 16-bit halves.
            let a = num(fields[0], "ASN", u16::MAX.into())?;
            let v = num(fields[1], "value", u16::MAX.into())?;
            Ok(AnyCommunity::Standard(Community::new(a as u16, v as u16)))
        }
        Some("large") => {
            arity(3, "large:GLOBAL:LOCAL1:LOCAL2")?;
            // RFC 8092 §3: three 32-bit fields.
            let m = u32::MAX.into();
            Ok(AnyCommunity::Large(LargeCommunity {
                global_admin: num(fields[0], "global administrator", m)? as u32,
                local_data_1: num(fields[1], "local data 1", m)? as u32,
                local_data_2: num(fields[2], "local data 2", m)? as u32,
            }))
        }
        Some("ext") => {
            let Field::Num(h) = fields[0] else {
                unreachable_field()?
            };
            if h.len() != 16 {
                return Err(format!("ext: {} hex digits where 16 are needed", h.len()));
            }
            let v = u64::from_str_radix(h, 16).map_err(|e| e.to_string())?;
            Ok(AnyCommunity::Extended(ExtendedCommunity::from_bytes(
                v.to_be_bytes(),
            )))
        }
        Some(k) => {
            let form = format!("{k}:ASN:VALUE or {k}:IPV4:VALUE");
            arity(2, &form)?;
            // RFC 4360 §4/§5: route target subtype 0x02, route origin 0x03.
            let subtype = if k == "rt" { 0x02 } else { 0x03 };
            let (typ, value) = match fields[0] {
                Field::Ip(a) => {
                    let ip: Ipv4Addr = a
                        .parse()
                        .map_err(|_| format!("{a} is not an IPv4 address"))?;
                    let v = num(fields[1], "value", u16::MAX.into())? as u16;
                    let (o, l) = (ip.octets(), v.to_be_bytes());
                    (0x01, [o[0], o[1], o[2], o[3], l[0], l[1]])
                }
                asn => {
                    let a = num(asn, "ASN", u32::MAX.into())?;
                    if a <= u64::from(u16::MAX) {
                        let v = num(fields[1], "value", u32::MAX.into())? as u32;
                        let (a, l) = ((a as u16).to_be_bytes(), v.to_be_bytes());
                        (0x00, [a[0], a[1], l[0], l[1], l[2], l[3]])
                    } else {
                        // RFC 5668: 4-octet AS specific, 16-bit local value.
                        let v = num(
                            fields[1],
                            "value (16 bits with a 4-octet ASN)",
                            u16::MAX.into(),
                        )? as u16;
                        let (a, l) = ((a as u32).to_be_bytes(), v.to_be_bytes());
                        (0x02, [a[0], a[1], a[2], a[3], l[0], l[1]])
                    }
                }
            };
            Ok(AnyCommunity::Extended(ExtendedCommunity {
                typ,
                subtype,
                value,
            }))
        }
    }
}

fn unreachable_field<T>() -> Result<T, String> {
    Err("malformed extended community".to_string())
}

// ----- raw (as written) and validation ------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawAnnounce {
    prefix: Spanned<String>,
    communities: Option<Vec<Spanned<String>>>,
    large_communities: Option<Vec<Spanned<String>>>,
    local_pref: Option<Spanned<i64>>,
    med: Option<Spanned<i64>>,
    next_hop: Option<Spanned<String>>,
    origin: Option<Spanned<String>>,
    as_path_prepend: Option<Spanned<i64>>,
    peers: Option<Vec<Spanned<String>>>,
}

/// Where a validation error is reported: byte offset into the file, message, hint.
pub(crate) type Report<'a> = dyn FnMut(usize, String, Option<&str>) + 'a;

fn u32_of(v: &Spanned<i64>, key: &str, err: &mut Report<'_>) -> Option<u32> {
    match u32::try_from(*v.get_ref()) {
        Ok(n) => Some(n),
        Err(_) => {
            err(
                v.span().start,
                format!("{key} {} out of range 0..=4294967295", v.get_ref()),
                None,
            );
            None
        }
    }
}

/// Validates the `[[announce]]` tables against the (validated) peers.
pub(crate) fn validate(
    raw: &[RawAnnounce],
    peers: &[PeerConfig],
    line_of: &dyn Fn(usize) -> usize,
    err: &mut Report<'_>,
) -> Vec<Announcement> {
    let mut out = Vec::new();
    let mut seen: HashMap<IpNet, usize> = HashMap::new();
    for ra in raw {
        let at = ra.prefix.span().start;
        let prefix = match ra.prefix.get_ref().parse::<IpNet>() {
            Ok(p) if p.trunc() == p => Some(p),
            Ok(p) => {
                err(
                    at,
                    format!("prefix {p} has host bits set"),
                    Some(&format!("did you mean {}?", p.trunc())),
                );
                None
            }
            Err(_) => {
                err(
                    at,
                    format!("prefix: invalid prefix {:?}", ra.prefix.get_ref()),
                    Some("address/length, e.g. \"203.0.113.100/32\" or \"2001:db8::/48\""),
                );
                None
            }
        };
        if let Some(p) = prefix {
            if let Some(&line) = seen.get(&p) {
                err(
                    at,
                    format!("prefix {p} announced twice (first on line {line})"),
                    Some("merge the two [[announce]] tables"),
                );
            } else {
                seen.insert(p, line_of(at));
            }
        }
        let mut adv = Advertisement::new();
        for c in ra.communities.iter().flatten() {
            match parse_community(c.get_ref()) {
                Ok(AnyCommunity::Standard(x)) => adv.communities.push(x),
                Ok(AnyCommunity::Large(x)) => adv.large_communities.push(x),
                Ok(AnyCommunity::Extended(x)) => adv.extended_communities.push(x),
                Err(e) => err(
                    c.span().start,
                    format!("community {:?}: {e}", c.get_ref()),
                    Some(
                        "e.g. \"64511:100\", \"large:64511:1:2\", \"rt:64511:100\", \"no-export\"",
                    ),
                ),
            }
        }
        for c in ra.large_communities.iter().flatten() {
            match parse_community(&format!("large:{}", c.get_ref())) {
                Ok(AnyCommunity::Large(x)) => adv.large_communities.push(x),
                r => err(
                    c.span().start,
                    format!(
                        "large community {:?}: {}",
                        c.get_ref(),
                        r.err().unwrap_or_default()
                    ),
                    Some("GLOBAL:LOCAL1:LOCAL2, e.g. \"64511:1:2\""),
                ),
            }
        }
        if let Some(v) = &ra.local_pref {
            adv.local_pref = u32_of(v, "local_pref", err);
        }
        if let Some(v) = &ra.med {
            adv.med = u32_of(v, "med", err);
        }
        if let Some(nh) = &ra.next_hop {
            match nh.get_ref().parse::<IpAddr>() {
                Ok(a) if !a.is_unspecified() && !a.is_multicast() => match (prefix, a) {
                    (Some(IpNet::V6(_)), IpAddr::V4(_)) => err(
                        nh.span().start,
                        format!("next_hop {a}: an IPv6 prefix needs an IPv6 next hop"),
                        Some("RFC 4760/2545: MP_REACH_NLRI for IPv6 carries an IPv6 next hop"),
                    ),
                    _ => adv.next_hop = NextHop::Explicit(a),
                },
                _ => err(
                    nh.span().start,
                    format!("next_hop: invalid unicast address {:?}", nh.get_ref()),
                    Some("leave it out for next hop self"),
                ),
            }
        }
        if let Some(o) = &ra.origin {
            adv.origin = match o.get_ref().as_str() {
                "igp" => Origin::Igp,
                "egp" => Origin::Egp,
                "incomplete" => Origin::Incomplete,
                other => {
                    err(
                        o.span().start,
                        format!("origin {other:?} is not one of \"igp\", \"egp\", \"incomplete\""),
                        None,
                    );
                    Origin::Igp
                }
            };
        }
        if let Some(n) = &ra.as_path_prepend {
            match u8::try_from(*n.get_ref()) {
                Ok(k) if k <= 16 => adv.as_path_prepend = k,
                _ => err(
                    n.span().start,
                    format!("as_path_prepend {} out of range 0..=16", n.get_ref()),
                    None,
                ),
            }
        }
        if let Some(names) = &ra.peers {
            let mut list = Vec::new();
            for n in names {
                if peers.iter().any(|p| p.name == *n.get_ref()) {
                    list.push(n.get_ref().clone());
                } else {
                    let known: Vec<String> =
                        peers.iter().map(|p| format!("{:?}", p.name)).collect();
                    let hint = if known.is_empty() {
                        "no [[peer]] is defined".to_string()
                    } else {
                        format!("defined peers: {}", known.join(", "))
                    };
                    err(
                        n.span().start,
                        format!("unknown peer {:?}", n.get_ref()),
                        Some(&hint),
                    );
                }
            }
            adv.peers = PeerSelection::Named(list);
        }
        if let Some(prefix) = prefix {
            out.push(Announcement {
                prefix,
                advertisement: adv,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn std(a: u16, v: u16) -> AnyCommunity {
        AnyCommunity::Standard(Community::new(a, v))
    }

    #[test]
    fn standard_and_well_known() {
        assert_eq!(parse_community("64511:100"), Ok(std(64511, 100)));
        assert_eq!(parse_community("0:0"), Ok(std(0, 0)));
        assert_eq!(
            parse_community("no-export"),
            Ok(AnyCommunity::Standard(Community::NO_EXPORT))
        );
        assert_eq!(
            parse_community("blackhole"),
            Ok(AnyCommunity::Standard(Community::BLACKHOLE))
        );
        assert_eq!(
            parse_community("64511:70000").unwrap_err(),
            "value 70000 out of range 0..=65535"
        );
        assert_eq!(
            parse_community("1:2:3").unwrap_err(),
            "3 field(s) where ASN:VALUE has 2"
        );
        assert!(parse_community("64511").is_err());
        assert!(parse_community("").is_err());
        assert!(parse_community("64511:").is_err());
        assert!(parse_community("no-exports").is_err());
        assert!(parse_community("64511:-1").is_err());
        assert!(parse_community("99999999999999999999999:1").is_err());
    }

    #[test]
    fn large() {
        assert_eq!(
            parse_community("large:4200000000:1:2"),
            Ok(AnyCommunity::Large(LargeCommunity {
                global_admin: 4_200_000_000,
                local_data_1: 1,
                local_data_2: 2
            }))
        );
        assert_eq!(
            parse_community("large:1:2").unwrap_err(),
            "2 field(s) where large:GLOBAL:LOCAL1:LOCAL2 has 3"
        );
        assert_eq!(
            parse_community("large:1:2:4294967296").unwrap_err(),
            "local data 2 4294967296 out of range 0..=4294967295"
        );
    }

    #[test]
    fn extended() {
        let rt = parse_community("rt:64511:100").unwrap();
        assert_eq!(
            rt,
            AnyCommunity::Extended(ExtendedCommunity::route_target_as2(64511, 100))
        );
        let AnyCommunity::Extended(e) = parse_community("soo:192.0.2.1:7").unwrap() else {
            panic!()
        };
        assert_eq!(e.to_bytes(), [0x01, 0x03, 192, 0, 2, 1, 0, 7]);
        let AnyCommunity::Extended(e) = parse_community("rt:4200000000:5").unwrap() else {
            panic!()
        };
        assert_eq!(e.to_bytes(), [0x02, 0x02, 0xfa, 0x56, 0xea, 0x00, 0, 5]);
        assert_eq!(
            parse_community("rt:4200000000:70000").unwrap_err(),
            "value (16 bits with a 4-octet ASN) 70000 out of range 0..=65535"
        );
        let AnyCommunity::Extended(e) = parse_community("ext:0043000000000001").unwrap() else {
            panic!()
        };
        assert_eq!(e.to_bytes(), [0x00, 0x43, 0, 0, 0, 0, 0, 1]);
        assert!(parse_community("ext:0043").is_err());
        assert!(parse_community("rt:192.0.2.300:1").is_err());
        assert!(parse_community("rt:1").is_err());
        assert!(parse_community("xx:1:2").is_err());
    }

    const HEAD: &str = "[speaker]\nasn = 64511\nrouter_id = \"192.0.2.11\"\n[[peer]]\nname = \"tor1\"\naddress = \"192.0.2.1\"\nasn = 64500\n";

    fn errors(body: &str) -> Vec<String> {
        match crate::config::Config::parse(&format!("{HEAD}{body}"), "t.toml") {
            Ok(_) => Vec::new(),
            Err(e) => e.0.iter().map(|e| e.to_string()).collect(),
        }
    }

    #[test]
    fn config_announce_parses() {
        let c = crate::config::Config::parse(
            &format!(
                "{HEAD}[[announce]]\nprefix = \"203.0.113.100/32\"\ncommunities = [\"64511:100\", \"large:1:2:3\", \"rt:64511:5\"]\nlarge_communities = [\"4:5:6\"]\nmed = 7\nlocal_pref = 300\nnext_hop = \"192.0.2.11\"\norigin = \"egp\"\nas_path_prepend = 3\npeers = [\"tor1\"]\n[[announce]]\nprefix = \"2001:db8::/32\"\n"
            ),
            "t.toml",
        )
        .unwrap();
        assert_eq!(c.announce.len(), 2);
        let a = &c.announce[0].advertisement;
        assert_eq!(c.announce[0].prefix.to_string(), "203.0.113.100/32");
        assert_eq!(a.communities, vec![Community::new(64511, 100)]);
        assert_eq!(a.large_communities.len(), 2);
        assert_eq!(
            a.extended_communities,
            vec![ExtendedCommunity::route_target_as2(64511, 5)]
        );
        assert_eq!(
            (a.med, a.local_pref, a.as_path_prepend),
            (Some(7), Some(300), 3)
        );
        assert_eq!(a.origin, Origin::Egp);
        assert_eq!(a.next_hop, NextHop::Explicit("192.0.2.11".parse().unwrap()));
        assert_eq!(a.peers, PeerSelection::Named(vec!["tor1".into()]));
        assert_eq!(c.announce[1].advertisement, Advertisement::new());
    }

    #[test]
    fn config_announce_errors_have_positions() {
        // HEAD is 7 lines; [[announce]] on 8, prefix on 9.
        assert_eq!(
            errors("[[announce]]\nprefix = \"203.0.113.7/24\"\n"),
            vec![
                "t.toml:9:10: prefix 203.0.113.7/24 has host bits set\n  hint: did you mean 203.0.113.0/24?"
            ]
        );
        let e = errors(
            "[[announce]]\nprefix = \"203.0.113.0/24\"\ncommunities = [\"1:2\", \"64511:65536\"]\n",
        );
        assert_eq!(e.len(), 1);
        assert!(
            e[0].starts_with(
                "t.toml:10:23: community \"64511:65536\": value 65536 out of range 0..=65535"
            ),
            "{e:?}"
        );
        let e = errors("[[announce]]\nprefix = \"203.0.113.0/24\"\npeers = [\"tor2\"]\n");
        assert_eq!(
            e,
            vec!["t.toml:10:10: unknown peer \"tor2\"\n  hint: defined peers: \"tor1\""]
        );
        let e = errors(
            "[[announce]]\nprefix = \"2001:db8::/32\"\nnext_hop = \"192.0.2.1\"\norigin = \"bgp\"\nas_path_prepend = 17\nmed = -1\n",
        );
        let mut e = e;
        e.sort();
        assert_eq!(e.len(), 4, "{e:?}");
        assert!(
            e[0].starts_with("t.toml:10:12: next_hop 192.0.2.1: an IPv6 prefix needs"),
            "{e:?}"
        );
        assert!(e[0].starts_with("t.toml:10:12: next_hop 192.0.2.1: an IPv6 prefix needs"));
        assert!(e[1].starts_with("t.toml:11:10: origin \"bgp\""));
        assert!(e[2].starts_with("t.toml:12:19: as_path_prepend 17"));
        assert!(e[3].starts_with("t.toml:13:7: med -1 out of range"));
        let e = errors(
            "[[announce]]\nprefix = \"198.51.100.0/24\"\n[[announce]]\nprefix = \"198.51.100.0/24\"\n",
        );
        assert_eq!(e.len(), 1);
        assert!(
            e[0].starts_with(
                "t.toml:11:10: prefix 198.51.100.0/24 announced twice (first on line 9)"
            ),
            "{e:?}"
        );
        let e = errors("[[announce]]\nprefix = \"198.51.100.0/24\"\ncolour = 1\n");
        assert!(
            e[0].starts_with("t.toml:10:1: unknown field `colour`"),
            "{e:?}"
        );
    }
}
