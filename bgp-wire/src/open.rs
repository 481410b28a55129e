//! OPEN (RFC 4271 §4.2), optional parameters (RFC 9072) and capabilities (RFC 5492).

use std::net::Ipv4Addr;

use bytes::{BufMut, Bytes, BytesMut};

use crate::error::{BGP_VERSION, DecodeError, EncodeError};
use crate::types::{Afi, Family, Safi};

/// RFC 6793 §9: AS_TRANS, the 2-octet stand-in for a 4-octet AS.
pub const AS_TRANS: u16 = 23456;

/// Optional parameter type: Capabilities (RFC 5492).
pub const PARAM_CAPABILITIES: u8 = 2;

/// Capability codes (IANA).
pub mod cap_code {
    /// Multiprotocol Extensions (RFC 4760).
    pub const MULTIPROTOCOL: u8 = 1;
    /// Route Refresh (RFC 2918).
    pub const ROUTE_REFRESH: u8 = 2;
    /// Extended Next Hop Encoding (RFC 8950).
    pub const EXTENDED_NEXT_HOP: u8 = 5;
    /// BGP Extended Message (RFC 8654).
    pub const EXTENDED_MESSAGE: u8 = 6;
    /// BGP Role (RFC 9234).
    pub const ROLE: u8 = 9;
    /// Graceful Restart (RFC 4724).
    pub const GRACEFUL_RESTART: u8 = 64;
    /// Support for 4-octet AS number (RFC 6793).
    pub const FOUR_OCTET_AS: u8 = 65;
    /// ADD-PATH (RFC 7911).
    pub const ADD_PATH: u8 = 69;
    /// Enhanced Route Refresh (RFC 7313).
    pub const ENHANCED_ROUTE_REFRESH: u8 = 70;
    /// Long-Lived Graceful Restart (RFC 9494).
    pub const LONG_LIVED_GRACEFUL_RESTART: u8 = 71;
    /// FQDN (draft-walton-bgp-hostname-capability).
    pub const FQDN: u8 = 73;
    /// Software Version (draft-abraitis-bgp-version-capability).
    pub const SOFTWARE_VERSION: u8 = 75;
}

/// An OPEN message.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Open {
    /// BGP version (4).
    pub version: u8,
    /// The 2-octet My Autonomous System field (AS_TRANS when the AS needs 4 octets).
    pub my_as: u16,
    /// Proposed hold time in seconds.
    pub hold_time: u16,
    /// BGP Identifier.
    pub bgp_id: Ipv4Addr,
    /// Optional parameters in wire order.
    pub params: Vec<OptionalParameter>,
    /// RFC 9072: the parameters were (or shall be) encoded in the extended form.
    /// Encoding uses the extended form when this is set or when the parameters
    /// exceed 255 bytes.
    pub extended_params: bool,
}

/// One optional parameter of an OPEN.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub enum OptionalParameter {
    /// Parameter type 2 (RFC 5492): one or more capabilities. FRR sends one
    /// capability per parameter, BIRD all in one; both re-encode unchanged.
    Capabilities(Vec<Capability>),
    /// Any other parameter type. Never produced by decoding (RFC 4271 §6.2
    /// rejects them with Unsupported Optional Parameter); encodable for tests.
    Unknown {
        /// Parameter type.
        param_type: u8,
        /// Parameter value.
        #[cfg_attr(feature = "serde", serde(serialize_with = "crate::hexser::bytes"))]
        data: Bytes,
    },
}

/// A capability (RFC 5492) advertised in an OPEN.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub enum Capability {
    /// RFC 4760: multiprotocol extensions for a family.
    Multiprotocol(Family),
    /// RFC 2918: route refresh.
    RouteRefresh,
    /// RFC 7313: enhanced route refresh.
    EnhancedRouteRefresh,
    /// RFC 6793: 4-octet AS support, with the speaker's AS.
    FourOctetAs(u32),
    /// RFC 4724 (and RFC 8538 N bit): graceful restart.
    GracefulRestart(GracefulRestart),
    /// RFC 9494: long-lived graceful restart, per family.
    LongLivedGracefulRestart(Vec<LlgrFamily>),
    /// RFC 7911: ADD-PATH, per family.
    AddPath(Vec<AddPathFamily>),
    /// RFC 8654: extended messages.
    ExtendedMessage,
    /// RFC 8950: extended next hop encoding entries.
    ExtendedNextHop(Vec<ExtendedNextHopEntry>),
    /// RFC 9234: BGP role.
    Role(Role),
    /// draft-walton-bgp-hostname-capability (code 73): host and domain name.
    Fqdn {
        /// Host name.
        hostname: String,
        /// Domain name.
        domain: String,
    },
    /// Software version (code 75).
    SoftwareVersion(String),
    /// Any other capability (or a known one whose value is not UTF-8 where text
    /// is expected), kept as received and re-encoded unchanged.
    Unknown {
        /// Capability code.
        code: u8,
        /// Capability value.
        #[cfg_attr(feature = "serde", serde(serialize_with = "crate::hexser::bytes"))]
        data: Bytes,
    },
}

/// RFC 4724 graceful restart capability.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct GracefulRestart {
    /// Restart flags, the high 4 bits of the first octet: 0x8 = Restart State (R),
    /// 0x4 = Notification (N, RFC 8538).
    pub flags: u8,
    /// Restart time in seconds (12 bits).
    pub restart_time: u16,
    /// Families with their forwarding-state flags.
    pub families: Vec<GracefulRestartFamily>,
}

impl GracefulRestart {
    /// Restart State flag (R).
    pub const RESTART_STATE: u8 = 0x8;
    /// Notification flag (N, RFC 8538).
    pub const NOTIFICATION: u8 = 0x4;

    /// True when the Restart State bit is set.
    pub fn restart_state(&self) -> bool {
        self.flags & Self::RESTART_STATE != 0
    }
    /// True when the N bit (RFC 8538) is set.
    pub fn notification(&self) -> bool {
        self.flags & Self::NOTIFICATION != 0
    }
}

/// One family of the graceful restart capability.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct GracefulRestartFamily {
    /// The family.
    pub family: Family,
    /// Flags for address family; 0x80 = forwarding state preserved.
    pub flags: u8,
}

impl GracefulRestartFamily {
    /// True when the Forwarding State bit is set.
    pub fn forwarding_preserved(&self) -> bool {
        self.flags & 0x80 != 0
    }
}

/// One family of the long-lived graceful restart capability (RFC 9494).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct LlgrFamily {
    /// The family.
    pub family: Family,
    /// Flags; 0x80 = forwarding state preserved.
    pub flags: u8,
    /// Long-lived stale time in seconds (24 bits).
    pub stale_time: u32,
}

/// ADD-PATH direction (RFC 7911 §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct AddPathMode(pub u8);

impl AddPathMode {
    /// Able to receive.
    pub const RECEIVE: AddPathMode = AddPathMode(1);
    /// Able to send.
    pub const SEND: AddPathMode = AddPathMode(2);
    /// Both.
    pub const BOTH: AddPathMode = AddPathMode(3);

    /// True when the receive bit is set.
    pub fn can_receive(self) -> bool {
        self.0 & 1 != 0
    }
    /// True when the send bit is set.
    pub fn can_send(self) -> bool {
        self.0 & 2 != 0
    }
}

/// One family of the ADD-PATH capability.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct AddPathFamily {
    /// The family.
    pub family: Family,
    /// Send/receive.
    pub mode: AddPathMode,
}

/// One entry of the extended next hop capability (RFC 8950 §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct ExtendedNextHopEntry {
    /// NLRI AFI.
    pub afi: Afi,
    /// NLRI SAFI (two octets in this capability).
    pub safi: u16,
    /// Next hop AFI.
    pub next_hop_afi: Afi,
}

impl ExtendedNextHopEntry {
    /// The NLRI family, when the SAFI fits in one octet.
    pub fn family(&self) -> Option<Family> {
        u8::try_from(self.safi)
            .ok()
            .map(|s| Family::new(self.afi, Safi(s)))
    }
}

/// BGP role (RFC 9234 §4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Role(pub u8);

impl Role {
    /// Provider.
    pub const PROVIDER: Role = Role(0);
    /// Route server.
    pub const RS: Role = Role(1);
    /// Route server client.
    pub const RS_CLIENT: Role = Role(2);
    /// Customer.
    pub const CUSTOMER: Role = Role(3);
    /// Lateral peer.
    pub const PEER: Role = Role(4);
}

impl Capability {
    /// The capability code.
    pub fn code(&self) -> u8 {
        use cap_code as c;
        match self {
            Capability::Multiprotocol(_) => c::MULTIPROTOCOL,
            Capability::RouteRefresh => c::ROUTE_REFRESH,
            Capability::EnhancedRouteRefresh => c::ENHANCED_ROUTE_REFRESH,
            Capability::FourOctetAs(_) => c::FOUR_OCTET_AS,
            Capability::GracefulRestart(_) => c::GRACEFUL_RESTART,
            Capability::LongLivedGracefulRestart(_) => c::LONG_LIVED_GRACEFUL_RESTART,
            Capability::AddPath(_) => c::ADD_PATH,
            Capability::ExtendedMessage => c::EXTENDED_MESSAGE,
            Capability::ExtendedNextHop(_) => c::EXTENDED_NEXT_HOP,
            Capability::Role(_) => c::ROLE,
            Capability::Fqdn { .. } => c::FQDN,
            Capability::SoftwareVersion(_) => c::SOFTWARE_VERSION,
            Capability::Unknown { code, .. } => *code,
        }
    }

    /// Encodes this capability as a TLV (code, length, value).
    pub fn encode(&self, out: &mut BytesMut) -> Result<(), EncodeError> {
        out.put_u8(self.code());
        let len_pos = out.len();
        out.put_u8(0);
        match self {
            Capability::Multiprotocol(f) => {
                out.put_u16(f.afi.0);
                out.put_u8(0);
                out.put_u8(f.safi.0);
            }
            Capability::RouteRefresh
            | Capability::EnhancedRouteRefresh
            | Capability::ExtendedMessage => {}
            Capability::FourOctetAs(asn) => out.put_u32(*asn),
            Capability::GracefulRestart(gr) => {
                out.put_u16((u16::from(gr.flags & 0xf) << 12) | (gr.restart_time & 0x0fff));
                for f in &gr.families {
                    out.put_u16(f.family.afi.0);
                    out.put_u8(f.family.safi.0);
                    out.put_u8(f.flags);
                }
            }
            Capability::LongLivedGracefulRestart(fams) => {
                for f in fams {
                    out.put_u16(f.family.afi.0);
                    out.put_u8(f.family.safi.0);
                    out.put_u8(f.flags);
                    out.put_slice(&(f.stale_time & 0xff_ffff).to_be_bytes()[1..]);
                }
            }
            Capability::AddPath(fams) => {
                for f in fams {
                    out.put_u16(f.family.afi.0);
                    out.put_u8(f.family.safi.0);
                    out.put_u8(f.mode.0);
                }
            }
            Capability::ExtendedNextHop(entries) => {
                for e in entries {
                    out.put_u16(e.afi.0);
                    out.put_u16(e.safi);
                    out.put_u16(e.next_hop_afi.0);
                }
            }
            Capability::Role(r) => out.put_u8(r.0),
            Capability::Fqdn { hostname, domain } => {
                for s in [hostname, domain] {
                    let len = u8::try_from(s.len()).map_err(|_| EncodeError::FieldTooLong {
                        what: "FQDN capability name",
                        len: s.len(),
                    })?;
                    out.put_u8(len);
                    out.put_slice(s.as_bytes());
                }
            }
            Capability::SoftwareVersion(s) => {
                let len = u8::try_from(s.len()).map_err(|_| EncodeError::FieldTooLong {
                    what: "software version",
                    len: s.len(),
                })?;
                out.put_u8(len);
                out.put_slice(s.as_bytes());
            }
            Capability::Unknown { data, .. } => out.put_slice(data),
        }
        let len = out.len() - len_pos - 1;
        // RFC 5492 §4: the capability length is one octet.
        out[len_pos] = u8::try_from(len).map_err(|_| EncodeError::FieldTooLong {
            what: "capability",
            len,
        })?;
        Ok(())
    }

    /// Decodes one capability value. `tlv` is the whole TLV (for error data).
    fn decode(code: u8, value: Bytes, tlv: Bytes) -> Result<Capability, DecodeError> {
        use cap_code as c;
        let v = &value[..];
        let bad = || DecodeError::MalformedCapability {
            code,
            capability: tlv.clone(),
        };
        let fam = |b: &[u8]| Family::new(Afi(u16::from_be_bytes([b[0], b[1]])), Safi(b[2]));
        Ok(match code {
            c::MULTIPROTOCOL => {
                // RFC 4760 §8: AFI (2), reserved (1), SAFI (1).
                if v.len() != 4 {
                    return Err(bad());
                }
                Capability::Multiprotocol(Family::new(
                    Afi(u16::from_be_bytes([v[0], v[1]])),
                    Safi(v[3]),
                ))
            }
            c::ROUTE_REFRESH if v.is_empty() => Capability::RouteRefresh,
            c::ENHANCED_ROUTE_REFRESH if v.is_empty() => Capability::EnhancedRouteRefresh,
            c::EXTENDED_MESSAGE if v.is_empty() => Capability::ExtendedMessage,
            // RFC 2918 §3 / RFC 7313 §3 / RFC 8654 §3: these carry no value.
            c::ROUTE_REFRESH | c::ENHANCED_ROUTE_REFRESH | c::EXTENDED_MESSAGE => return Err(bad()),
            c::FOUR_OCTET_AS => {
                // RFC 6793 §3: the value is the 4-octet AS.
                if v.len() != 4 {
                    return Err(bad());
                }
                Capability::FourOctetAs(u32::from_be_bytes([v[0], v[1], v[2], v[3]]))
            }
            c::GRACEFUL_RESTART => {
                // RFC 4724 §3: 2 octets flags/time, then 4 octets per family.
                if v.len() < 2 || (v.len() - 2) % 4 != 0 {
                    return Err(bad());
                }
                let w = u16::from_be_bytes([v[0], v[1]]);
                let families = v[2..]
                    .chunks_exact(4)
                    .map(|b| GracefulRestartFamily {
                        family: fam(b),
                        flags: b[3],
                    })
                    .collect();
                Capability::GracefulRestart(GracefulRestart {
                    flags: (w >> 12) as u8,
                    restart_time: w & 0x0fff,
                    families,
                })
            }
            c::LONG_LIVED_GRACEFUL_RESTART => {
                // RFC 9494 §3: 7 octets per family.
                if v.len() % 7 != 0 {
                    return Err(bad());
                }
                Capability::LongLivedGracefulRestart(
                    v.chunks_exact(7)
                        .map(|b| LlgrFamily {
                            family: fam(b),
                            flags: b[3],
                            stale_time: u32::from_be_bytes([0, b[4], b[5], b[6]]),
                        })
                        .collect(),
                )
            }
            c::ADD_PATH => {
                // RFC 7911 §4: 4 octets per family.
                if v.is_empty() || v.len() % 4 != 0 {
                    return Err(bad());
                }
                Capability::AddPath(
                    v.chunks_exact(4)
                        .map(|b| AddPathFamily {
                            family: fam(b),
                            mode: AddPathMode(b[3]),
                        })
                        .collect(),
                )
            }
            c::EXTENDED_NEXT_HOP => {
                // RFC 8950 §3: 6 octets per entry.
                if v.len() % 6 != 0 {
                    return Err(bad());
                }
                Capability::ExtendedNextHop(
                    v.chunks_exact(6)
                        .map(|b| ExtendedNextHopEntry {
                            afi: Afi(u16::from_be_bytes([b[0], b[1]])),
                            safi: u16::from_be_bytes([b[2], b[3]]),
                            next_hop_afi: Afi(u16::from_be_bytes([b[4], b[5]])),
                        })
                        .collect(),
                )
            }
            c::ROLE => {
                // RFC 9234 §4.1: length 1.
                if v.len() != 1 {
                    return Err(bad());
                }
                Capability::Role(Role(v[0]))
            }
            c::FQDN => match decode_fqdn(v) {
                Some((hostname, domain)) => Capability::Fqdn { hostname, domain },
                None => Capability::Unknown { code, data: value },
            },
            c::SOFTWARE_VERSION => match decode_short_string(v) {
                Some((s, [])) => Capability::SoftwareVersion(s),
                _ => Capability::Unknown { code, data: value },
            },
            _ => Capability::Unknown { code, data: value },
        })
    }
}

/// A length-prefixed UTF-8 string and the rest.
fn decode_short_string(v: &[u8]) -> Option<(String, &[u8])> {
    let (&len, rest) = v.split_first()?;
    let s = rest.get(..len as usize)?;
    let s = std::str::from_utf8(s).ok()?.to_owned();
    Some((s, &rest[len as usize..]))
}

fn decode_fqdn(v: &[u8]) -> Option<(String, String)> {
    let (host, rest) = decode_short_string(v)?;
    let (dom, rest) = decode_short_string(rest)?;
    rest.is_empty().then_some((host, dom))
}

impl Open {
    /// Builds an OPEN for `asn` (AS_TRANS in the 2-octet field when it does not
    /// fit, RFC 6793 §4.1), with all `caps` in one optional parameter. Add
    /// [`Capability::FourOctetAs`] yourself (it is not implied).
    pub fn new(asn: u32, hold_time: u16, bgp_id: Ipv4Addr, caps: Vec<Capability>) -> Open {
        let my_as = u16::try_from(asn).unwrap_or(AS_TRANS);
        let params = if caps.is_empty() {
            Vec::new()
        } else {
            vec![OptionalParameter::Capabilities(caps)]
        };
        Open {
            version: BGP_VERSION,
            my_as,
            hold_time,
            bgp_id,
            params,
            extended_params: false,
        }
    }

    /// All capabilities across all optional parameters, in wire order.
    pub fn capabilities(&self) -> impl Iterator<Item = &Capability> {
        self.params.iter().flat_map(|p| match p {
            OptionalParameter::Capabilities(c) => c.as_slice(),
            OptionalParameter::Unknown { .. } => &[],
        })
    }

    /// The speaker's AS: the 4-octet AS capability if present, else `my_as`.
    pub fn asn(&self) -> u32 {
        self.four_octet_as().unwrap_or(u32::from(self.my_as))
    }

    /// The AS of the 4-octet AS capability, if announced.
    pub fn four_octet_as(&self) -> Option<u32> {
        self.capabilities().find_map(|c| match c {
            Capability::FourOctetAs(a) => Some(*a),
            _ => None,
        })
    }

    /// Families announced with the multiprotocol capability.
    pub fn multiprotocol(&self) -> impl Iterator<Item = Family> + '_ {
        self.capabilities().filter_map(|c| match c {
            Capability::Multiprotocol(f) => Some(*f),
            _ => None,
        })
    }

    /// ADD-PATH families announced (merged across capabilities).
    pub fn add_path(&self) -> impl Iterator<Item = &AddPathFamily> {
        self.capabilities().flat_map(|c| match c {
            Capability::AddPath(f) => f.as_slice(),
            _ => &[],
        })
    }

    /// True when a capability with this code is present.
    pub fn has_capability(&self, code: u8) -> bool {
        self.capabilities().any(|c| c.code() == code)
    }

    pub(crate) fn encode_body(&self, out: &mut BytesMut) -> Result<(), EncodeError> {
        out.put_u8(self.version);
        out.put_u16(self.my_as);
        out.put_u16(self.hold_time);
        out.put_slice(&self.bgp_id.octets());
        let start = out.len();
        // Try the classic form first unless asked for the extended one.
        if !self.extended_params {
            out.put_u8(0);
            let mut fits = true;
            for p in &self.params {
                if !encode_param(p, out, false)? {
                    fits = false;
                    break;
                }
            }
            let len = out.len() - start - 1;
            if fits && len <= 255 {
                out[start] = len as u8;
                return Ok(());
            }
            out.truncate(start);
        }
        // RFC 9072 §2: 255, 255, 2-octet extended length, then 2-octet parameter lengths.
        out.put_u8(255);
        out.put_u8(255);
        out.put_u16(0);
        for p in &self.params {
            encode_param(p, out, true)?;
        }
        let len = out.len() - start - 4;
        let len = u16::try_from(len).map_err(|_| EncodeError::FieldTooLong {
            what: "optional parameters",
            len,
        })?;
        out[start + 2..start + 4].copy_from_slice(&len.to_be_bytes());
        Ok(())
    }

    pub(crate) fn decode_body(body: Bytes) -> Result<Open, DecodeError> {
        // Framing guarantees 10 bytes (RFC 4271 §4.2: minimum length 29).
        if body.len() < 10 {
            return Err(DecodeError::BadMessageLength {
                length: (body.len() + crate::types::HEADER_LEN) as u16,
            });
        }
        let b = &body[..];
        let version = b[0];
        // RFC 4271 §6.2: only version 4 is supported.
        if version != BGP_VERSION {
            return Err(DecodeError::UnsupportedVersion { version });
        }
        let my_as = u16::from_be_bytes([b[1], b[2]]);
        let hold_time = u16::from_be_bytes([b[3], b[4]]);
        let bgp_id = Ipv4Addr::new(b[5], b[6], b[7], b[8]);
        // RFC 4271 §6.2: hold time of one or two seconds MUST be rejected.
        if hold_time == 1 || hold_time == 2 {
            return Err(DecodeError::UnacceptableHoldTime { hold_time });
        }
        // RFC 6286 §2.2: the BGP Identifier is a nonzero 4-octet value.
        if bgp_id.is_unspecified() {
            return Err(DecodeError::BadBgpIdentifier { id: bgp_id });
        }
        // RFC 7607 §2: AS 0 in OPEN is Bad Peer AS.
        if my_as == 0 {
            return Err(DecodeError::BadPeerAs { asn: 0 });
        }
        let opt_len = b[9] as usize;
        // RFC 9072 §2: Non-Ext OP Len 255 and Non-Ext OP Type 255 mean the extended form.
        let extended = opt_len == 255 && b.get(10) == Some(&255);
        let (params_start, params_len) = if extended {
            let Some(l) = b.get(11..13) else {
                return Err(DecodeError::MalformedOpen {
                    reason: "extended parameter length truncated",
                });
            };
            (13, u16::from_be_bytes([l[0], l[1]]) as usize)
        } else {
            (10, opt_len)
        };
        // RFC 4271 §6.2 / RFC 9072 §2: parameters must fill the rest of the message exactly.
        if params_start + params_len != b.len() {
            return Err(DecodeError::MalformedOpen {
                reason: "optional parameters length mismatch",
            });
        }
        let mut params = Vec::new();
        let mut i = params_start;
        while i < b.len() {
            let hdr = if extended { 3 } else { 2 };
            if i + hdr > b.len() {
                return Err(DecodeError::MalformedOpen {
                    reason: "optional parameter header truncated",
                });
            }
            let ptype = b[i];
            let plen = if extended {
                u16::from_be_bytes([b[i + 1], b[i + 2]]) as usize
            } else {
                b[i + 1] as usize
            };
            let vstart = i + hdr;
            let vend = vstart + plen;
            if vend > b.len() {
                return Err(DecodeError::MalformedOpen {
                    reason: "optional parameter overruns",
                });
            }
            if ptype != PARAM_CAPABILITIES {
                // RFC 4271 §6.2: unrecognized optional parameter.
                return Err(DecodeError::UnsupportedOptionalParameter {
                    param_type: ptype,
                    parameter: body.slice(i..vend),
                });
            }
            let mut caps = Vec::new();
            let mut j = vstart;
            while j < vend {
                if j + 2 > vend {
                    return Err(DecodeError::MalformedOpen {
                        reason: "capability header truncated",
                    });
                }
                let code = b[j];
                let clen = b[j + 1] as usize;
                let cend = j + 2 + clen;
                if cend > vend {
                    return Err(DecodeError::MalformedOpen {
                        reason: "capability overruns its parameter",
                    });
                }
                caps.push(Capability::decode(
                    code,
                    body.slice(j + 2..cend),
                    body.slice(j..cend),
                )?);
                j = cend;
            }
            params.push(OptionalParameter::Capabilities(caps));
            i = vend;
        }
        Ok(Open {
            version,
            my_as,
            hold_time,
            bgp_id,
            params,
            extended_params: extended,
        })
    }
}

/// Encodes one parameter; in the classic form returns `Ok(false)` when it does
/// not fit a one-octet length (caller switches to the extended form).
fn encode_param(
    p: &OptionalParameter,
    out: &mut BytesMut,
    extended: bool,
) -> Result<bool, EncodeError> {
    let (ptype, start) = match p {
        OptionalParameter::Capabilities(_) => (PARAM_CAPABILITIES, out.len()),
        OptionalParameter::Unknown { param_type, .. } => (*param_type, out.len()),
    };
    out.put_u8(ptype);
    if extended {
        out.put_u16(0)
    } else {
        out.put_u8(0)
    }
    let vstart = out.len();
    match p {
        OptionalParameter::Capabilities(caps) => {
            for c in caps {
                c.encode(out)?;
            }
        }
        OptionalParameter::Unknown { data, .. } => out.put_slice(data),
    }
    let len = out.len() - vstart;
    if extended {
        let l = u16::try_from(len).map_err(|_| EncodeError::FieldTooLong {
            what: "optional parameter",
            len,
        })?;
        out[start + 1..start + 3].copy_from_slice(&l.to_be_bytes());
    } else {
        let Ok(l) = u8::try_from(len) else {
            return Ok(false);
        };
        out[start + 1] = l;
    }
    Ok(true)
}

/// What two OPENs negotiate: the context to decode what the peer sends and the
/// context to encode what we send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Negotiated {
    /// For decoding the peer's messages.
    pub decode: crate::DecodeContext,
    /// For encoding ours.
    pub encode: crate::EncodeContext,
}

impl Negotiated {
    /// Computes the contexts from our OPEN and the peer's:
    /// 4-octet AS when both announced it (RFC 6793 §3), extended messages when both
    /// did (RFC 8654 §3), and ADD-PATH per family (RFC 7911 §4): we receive path
    /// identifiers where we can receive and the peer can send, and send them where we
    /// can send and the peer can receive.
    pub fn from_opens(local: &Open, remote: &Open) -> Negotiated {
        let four_octet_as = local.four_octet_as().is_some() && remote.four_octet_as().is_some();
        let extended_message = local.has_capability(cap_code::EXTENDED_MESSAGE)
            && remote.has_capability(cap_code::EXTENDED_MESSAGE);
        let mode = |o: &Open, f: Family| {
            o.add_path()
                .filter(|a| a.family == f)
                .fold(AddPathMode(0), |m, a| AddPathMode(m.0 | a.mode.0))
        };
        let mut recv = Vec::new();
        let mut send = Vec::new();
        for a in local.add_path() {
            let (l, r) = (mode(local, a.family), mode(remote, a.family));
            if l.can_receive() && r.can_send() && !recv.contains(&a.family) {
                recv.push(a.family);
            }
            if l.can_send() && r.can_receive() && !send.contains(&a.family) {
                send.push(a.family);
            }
        }
        Negotiated {
            decode: crate::DecodeContext {
                four_octet_as,
                add_path: recv,
                extended_message,
            },
            encode: crate::DecodeContext {
                four_octet_as,
                add_path: send,
                extended_message,
            },
        }
    }
}
