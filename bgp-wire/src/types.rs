//! Address families, prefixes and the decode/encode context.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use bytes::BytesMut;
use ipnet::{IpNet, Ipv4Net, Ipv6Net};

/// Address Family Identifier (IANA). A newtype so unknown values are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Afi(pub u16);

impl Afi {
    /// IPv4 (1).
    pub const IPV4: Afi = Afi(1);
    /// IPv6 (2).
    pub const IPV6: Afi = Afi(2);
}

impl fmt::Display for Afi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Afi::IPV4 => f.write_str("ipv4"),
            Afi::IPV6 => f.write_str("ipv6"),
            Afi(v) => write!(f, "afi{v}"),
        }
    }
}

/// Subsequent Address Family Identifier (IANA). A newtype so unknown values are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Safi(pub u8);

impl Safi {
    /// Unicast (1).
    pub const UNICAST: Safi = Safi(1);
    /// Multicast (2).
    pub const MULTICAST: Safi = Safi(2);
}

impl fmt::Display for Safi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Safi::UNICAST => f.write_str("unicast"),
            Safi::MULTICAST => f.write_str("multicast"),
            Safi(v) => write!(f, "safi{v}"),
        }
    }
}

/// An (AFI, SAFI) pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Family {
    /// Address family.
    pub afi: Afi,
    /// Subsequent address family.
    pub safi: Safi,
}

impl Family {
    /// IPv4 unicast (1/1).
    pub const IPV4_UNICAST: Family = Family::new(Afi::IPV4, Safi::UNICAST);
    /// IPv6 unicast (2/1).
    pub const IPV6_UNICAST: Family = Family::new(Afi::IPV6, Safi::UNICAST);

    /// Builds a family from its parts.
    pub const fn new(afi: Afi, safi: Safi) -> Family {
        Family { afi, safi }
    }

    /// True when NLRI of this family are plain IP prefixes this crate parses
    /// (AFI 1 or 2 with SAFI unicast or multicast).
    pub fn is_ip_prefix(self) -> bool {
        matches!(self.afi, Afi::IPV4 | Afi::IPV6)
            && matches!(self.safi, Safi::UNICAST | Safi::MULTICAST)
    }
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.afi, self.safi)
    }
}

/// What both directions of the codec need to know about the session.
///
/// The same struct is used for decoding (`add_path` = families for which we
/// *receive* path identifiers) and encoding (`add_path` = families for which we
/// *send* them); see [`EncodeContext`].
///
/// `Default` is `four_octet_as: true, add_path: [], extended_message: false`:
/// four-octet AS numbers are what practically every peer negotiates, and OPEN
/// decoding does not depend on the context at all. A session must set
/// `four_octet_as: false` when the capability was not exchanged by both sides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeContext {
    /// RFC 6793: both sides announced the 4-octet AS capability, so AS_PATH and
    /// AGGREGATOR carry 4-octet AS numbers.
    pub four_octet_as: bool,
    /// RFC 7911: families whose NLRI carry a 4-byte path identifier in this direction.
    /// On encode, an [`Nlri`] without `path_id` is written with path identifier 0 for
    /// these families, and `path_id` is ignored for the others.
    pub add_path: Vec<Family>,
    /// RFC 8654: extended messages negotiated (maximum length 65535 instead of 4096).
    pub extended_message: bool,
}

/// The encoding context: identical in shape to [`DecodeContext`]; `add_path`
/// lists the families for which path identifiers are *sent*.
pub type EncodeContext = DecodeContext;

impl Default for DecodeContext {
    fn default() -> Self {
        DecodeContext {
            four_octet_as: true,
            add_path: Vec::new(),
            extended_message: false,
        }
    }
}

impl DecodeContext {
    /// A context for a session with 2-octet AS numbers only (RFC 4271 without RFC 6793).
    pub fn two_octet_as() -> Self {
        DecodeContext {
            four_octet_as: false,
            ..Default::default()
        }
    }

    /// True when NLRI of `family` carry a path identifier in this direction.
    #[inline]
    pub fn has_add_path(&self, family: Family) -> bool {
        self.add_path.contains(&family)
    }

    /// The largest message allowed: 65535 with extended messages, else 4096.
    #[inline]
    pub fn max_message_len(&self) -> usize {
        if self.extended_message {
            MAX_EXTENDED_MESSAGE_LEN
        } else {
            MAX_MESSAGE_LEN
        }
    }
}

/// RFC 4271 §4.1: the maximum message size.
pub const MAX_MESSAGE_LEN: usize = 4096;
/// RFC 8654: the maximum message size with extended messages.
pub const MAX_EXTENDED_MESSAGE_LEN: usize = 65535;
/// RFC 4271 §4.1: the header length (marker, length, type).
pub const HEADER_LEN: usize = 19;

/// A prefix as carried in NLRI. Host bits beyond the prefix length are kept
/// exactly as they were on the wire (so messages re-encode byte-exact); call
/// [`IpNet::trunc`] to normalise.
pub type Prefix = IpNet;

/// One NLRI entry: a prefix, with its ADD-PATH path identifier when negotiated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Nlri {
    /// RFC 7911 path identifier; `None` when ADD-PATH is not in use for the family.
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub path_id: Option<u32>,
    /// The prefix.
    pub prefix: Prefix,
}

impl Nlri {
    /// An NLRI without path identifier.
    #[inline]
    pub const fn new(prefix: Prefix) -> Nlri {
        Nlri {
            path_id: None,
            prefix,
        }
    }

    /// An NLRI with a path identifier.
    #[inline]
    pub const fn with_path_id(prefix: Prefix, path_id: u32) -> Nlri {
        Nlri {
            path_id: Some(path_id),
            prefix,
        }
    }

    /// The address family (unicast) of the prefix.
    #[inline]
    pub fn afi(&self) -> Afi {
        match self.prefix {
            IpNet::V4(_) => Afi::IPV4,
            IpNet::V6(_) => Afi::IPV6,
        }
    }

    /// Bytes this NLRI takes on the wire (with or without path identifier).
    #[inline]
    pub fn wire_len(&self, add_path: bool) -> usize {
        1 + (self.prefix.prefix_len() as usize).div_ceil(8) + if add_path { 4 } else { 0 }
    }
}

impl From<IpNet> for Nlri {
    fn from(p: IpNet) -> Self {
        Nlri::new(p)
    }
}
impl From<Ipv4Net> for Nlri {
    fn from(p: Ipv4Net) -> Self {
        Nlri::new(IpNet::V4(p))
    }
}
impl From<Ipv6Net> for Nlri {
    fn from(p: Ipv6Net) -> Self {
        Nlri::new(IpNet::V6(p))
    }
}

impl fmt::Display for Nlri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.path_id {
            Some(id) => write!(f, "{} path-id {id}", self.prefix),
            None => write!(f, "{}", self.prefix),
        }
    }
}

/// Why a run of NLRI could not be parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NlriError {
    /// A prefix length larger than the address.
    BadLength,
    /// The field ends in the middle of an entry.
    Truncated,
}

/// Keeps the first `nb` bytes of a big-endian u32 (index: whole bytes of prefix).
const V4_MASKS: [u32; 5] = [0, 0xff00_0000, 0xffff_0000, 0xffff_ff00, 0xffff_ffff];

/// Decodes a run of IPv4 prefixes (RFC 4271 §4.3 encoding).
///
/// Tight loop: while a whole worst-case entry's bytes remain, one fixed-size
/// load, a mask and a push per prefix; the last few bytes take a careful path.
/// Host bits inside the bytes on the wire are kept as sent.
#[inline]
pub(crate) fn decode_v4_prefixes(
    buf: &[u8],
    add_path: bool,
    out: &mut Vec<Nlri>,
) -> Result<(), NlriError> {
    // Real prefixes take 2+ bytes (6+ with a path identifier): one allocation.
    out.reserve(if add_path {
        buf.len() / 5
    } else {
        buf.len() / 2
    });
    let i = if add_path {
        v4_fast::<true>(buf, out)?
    } else {
        v4_fast::<false>(buf, out)?
    };
    v4_tail(&buf[i..], add_path, out)
}

#[inline(always)]
fn v4_fast<const AP: bool>(buf: &[u8], out: &mut Vec<Nlri>) -> Result<usize, NlriError> {
    let hdr = if AP { 5 } else { 1 };
    let mut i = 0;
    while let Some(w) = buf.get(i..i + hdr + 4) {
        let path_id = if AP {
            Some(u32::from_be_bytes([w[0], w[1], w[2], w[3]]))
        } else {
            None
        };
        let len = w[hdr - 1];
        // RFC 4271 §4.3: prefix length is at most 32 for IPv4.
        if len > 32 {
            return Err(NlriError::BadLength);
        }
        let nb = (len as usize + 7) >> 3;
        let raw = u32::from_be_bytes([w[hdr], w[hdr + 1], w[hdr + 2], w[hdr + 3]]) & V4_MASKS[nb];
        i += hdr + nb;
        let Ok(net) = Ipv4Net::new(Ipv4Addr::from(raw), len) else {
            return Err(NlriError::BadLength);
        };
        out.push(Nlri {
            path_id,
            prefix: IpNet::V4(net),
        });
    }
    Ok(i)
}

fn v4_tail(buf: &[u8], add_path: bool, out: &mut Vec<Nlri>) -> Result<(), NlriError> {
    let n = buf.len();
    let mut i = 0;
    while i < n {
        let path_id = if add_path {
            let Some(b) = buf.get(i..i + 4) else {
                return Err(NlriError::Truncated);
            };
            i += 4;
            Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
        } else {
            None
        };
        let Some(&len) = buf.get(i) else {
            return Err(NlriError::Truncated);
        };
        i += 1;
        // RFC 4271 §4.3: prefix length is at most 32 for IPv4.
        if len > 32 {
            return Err(NlriError::BadLength);
        }
        let nb = (len as usize).div_ceil(8);
        let Some(src) = buf.get(i..i + nb) else {
            return Err(NlriError::Truncated);
        };
        i += nb;
        let mut a = [0u8; 4];
        a[..nb].copy_from_slice(src);
        let Ok(net) = Ipv4Net::new(Ipv4Addr::from(a), len) else {
            return Err(NlriError::BadLength);
        };
        out.push(Nlri {
            path_id,
            prefix: IpNet::V4(net),
        });
    }
    Ok(())
}

/// Decodes a run of IPv6 prefixes (RFC 4760 §5 encoding); same shape as the IPv4 loop.
#[inline]
pub(crate) fn decode_v6_prefixes(
    buf: &[u8],
    add_path: bool,
    out: &mut Vec<Nlri>,
) -> Result<(), NlriError> {
    out.reserve(if add_path {
        buf.len() / 8
    } else {
        buf.len() / 4
    });
    let i = if add_path {
        v6_fast::<true>(buf, out)?
    } else {
        v6_fast::<false>(buf, out)?
    };
    v6_tail(&buf[i..], add_path, out)
}

#[inline(always)]
fn v6_fast<const AP: bool>(buf: &[u8], out: &mut Vec<Nlri>) -> Result<usize, NlriError> {
    let hdr = if AP { 5 } else { 1 };
    let mut i = 0;
    while let Some(w) = buf.get(i..i + hdr + 16) {
        let path_id = if AP {
            Some(u32::from_be_bytes([w[0], w[1], w[2], w[3]]))
        } else {
            None
        };
        let len = w[hdr - 1];
        // RFC 4760 §5: prefix length is at most 128 for IPv6.
        if len > 128 {
            return Err(NlriError::BadLength);
        }
        let nb = (len as u32 + 7) >> 3;
        let mut a = [0u8; 16];
        a.copy_from_slice(&w[hdr..hdr + 16]);
        let mask = if nb == 0 {
            0
        } else {
            u128::MAX << (128 - 8 * nb)
        };
        let raw = u128::from_be_bytes(a) & mask;
        i += hdr + nb as usize;
        let Ok(net) = Ipv6Net::new(Ipv6Addr::from(raw), len) else {
            return Err(NlriError::BadLength);
        };
        out.push(Nlri {
            path_id,
            prefix: IpNet::V6(net),
        });
    }
    Ok(i)
}

fn v6_tail(buf: &[u8], add_path: bool, out: &mut Vec<Nlri>) -> Result<(), NlriError> {
    let n = buf.len();
    let mut i = 0;
    while i < n {
        let path_id = if add_path {
            let Some(b) = buf.get(i..i + 4) else {
                return Err(NlriError::Truncated);
            };
            i += 4;
            Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
        } else {
            None
        };
        let Some(&len) = buf.get(i) else {
            return Err(NlriError::Truncated);
        };
        i += 1;
        // RFC 4760 §5: prefix length is at most 128 for IPv6.
        if len > 128 {
            return Err(NlriError::BadLength);
        }
        let nb = (len as usize).div_ceil(8);
        let Some(src) = buf.get(i..i + nb) else {
            return Err(NlriError::Truncated);
        };
        i += nb;
        let mut a = [0u8; 16];
        a[..nb].copy_from_slice(src);
        let Ok(net) = Ipv6Net::new(Ipv6Addr::from(a), len) else {
            return Err(NlriError::BadLength);
        };
        out.push(Nlri {
            path_id,
            prefix: IpNet::V6(net),
        });
    }
    Ok(())
}

/// Decodes prefixes of `afi` (1 or 2).
#[inline]
pub(crate) fn decode_prefixes(
    afi: Afi,
    buf: &[u8],
    add_path: bool,
    out: &mut Vec<Nlri>,
) -> Result<(), NlriError> {
    if afi == Afi::IPV6 {
        decode_v6_prefixes(buf, add_path, out)
    } else {
        decode_v4_prefixes(buf, add_path, out)
    }
}

/// Writes the prefixes of one family (`v4`: IPv4, else IPv6) straight into `out`.
/// With `skip_other`, prefixes of the other family are skipped; otherwise the
/// first one stops the run and is returned as the error (nothing is written).
///
/// The buffer is grown once to the upper bound, each prefix is a fixed-size copy
/// of its address (4 or 16 bytes) followed by advancing past the bytes that
/// belong to it, and the excess is truncated at the end.
#[inline]
pub(crate) fn put_prefixes(
    out: &mut BytesMut,
    nlri: &[Nlri],
    v4: bool,
    add_path: bool,
    skip_other: bool,
) -> Result<(), IpNet> {
    if nlri.is_empty() {
        return Ok(());
    }
    let per = if v4 { 5 } else { 17 } + if add_path { 4 } else { 0 };
    let start = out.len();
    // One or two IPv4 prefixes without path identifiers are written one by one
    // (a fixed 5-byte copy, then the unused address bytes dropped): no zero-fill call.
    if v4 && !add_path && nlri.len() <= 2 {
        out.reserve(nlri.len() * 5);
        for n in nlri {
            match n.prefix {
                IpNet::V4(p) => {
                    let len = p.prefix_len();
                    let o = p.addr().octets();
                    out.extend_from_slice(&[len, o[0], o[1], o[2], o[3]]);
                    let l = out.len();
                    out.truncate(l - 4 + (len as usize).div_ceil(8));
                }
                other if !skip_other => {
                    out.truncate(start);
                    return Err(other);
                }
                _ => {}
            }
        }
        return Ok(());
    }
    out.resize(start + nlri.len() * per, 0);
    let dst = &mut out[start..];
    let mut k = 0;
    for n in nlri {
        match n.prefix {
            IpNet::V4(p) if v4 => {
                if add_path {
                    dst[k..k + 4].copy_from_slice(&n.path_id.unwrap_or(0).to_be_bytes());
                    k += 4;
                }
                let len = p.prefix_len();
                let d = &mut dst[k..k + 5];
                d[0] = len;
                d[1..5].copy_from_slice(&p.addr().octets());
                k += 1 + (len as usize).div_ceil(8);
            }
            IpNet::V6(p) if !v4 => {
                if add_path {
                    dst[k..k + 4].copy_from_slice(&n.path_id.unwrap_or(0).to_be_bytes());
                    k += 4;
                }
                let len = p.prefix_len();
                let d = &mut dst[k..k + 17];
                d[0] = len;
                d[1..17].copy_from_slice(&p.addr().octets());
                k += 1 + (len as usize).div_ceil(8);
            }
            other if !skip_other => {
                out.truncate(start);
                return Err(other);
            }
            _ => {}
        }
    }
    out.truncate(start + k);
    Ok(())
}
