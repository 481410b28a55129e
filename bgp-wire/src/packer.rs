//! Packing many prefixes that share one attribute set into the fewest UPDATEs.

use bytes::{BufMut, Bytes, BytesMut};
use ipnet::IpNet;

use crate::attributes::{AttrFlags, AttributeValue, MpNextHop, PathAttribute, attr_type};
use crate::error::EncodeError;
use crate::message::{MARKER, message_type};
use crate::types::{EncodeContext, Family, HEADER_LEN, Nlri, put_prefixes};
use crate::update::{encode_attribute, put_mp_reach_head};

/// Packs announcements and withdrawals into UPDATE messages no larger than the
/// negotiated maximum (4096, or 65535 with RFC 8654).
///
/// The attribute block is encoded once and copied into each message; prefixes
/// are written straight into one output buffer from which each finished message
/// is split off without copying. Messages are filled greedily, so for prefixes
/// of equal size the message count is the minimum possible.
///
/// IPv4 prefixes go in the traditional NLRI / withdrawn routes fields, unless the
/// attributes hold an IPv4 [`AttributeValue::MpReach`] (RFC 8950 IPv6 next hop),
/// in which case they go in MP_REACH_NLRI. IPv6 prefixes go in MP_REACH_NLRI /
/// MP_UNREACH_NLRI; the attributes must then hold an IPv6 `MpReach` giving the
/// family and next hop (its own NLRI list is ignored). MP_REACH_NLRI is written
/// first (RFC 7606 §5.1).
#[derive(Debug, Clone)]
pub struct UpdatePacker {
    ctx: EncodeContext,
    max_len: usize,
}

impl UpdatePacker {
    /// A packer for a session with this encode context (maximum size from it).
    pub fn new(ctx: &EncodeContext) -> UpdatePacker {
        UpdatePacker {
            ctx: ctx.clone(),
            max_len: ctx.max_message_len(),
        }
    }

    /// Overrides the maximum message size (for tests; at most the context's).
    pub fn with_max_len(mut self, max_len: usize) -> UpdatePacker {
        self.max_len = max_len.min(self.ctx.max_message_len());
        self
    }

    /// The maximum message size in use.
    pub fn max_len(&self) -> usize {
        self.max_len
    }

    /// UPDATEs announcing `prefixes` with `attrs`.
    pub fn announce(
        &self,
        attrs: &[PathAttribute],
        prefixes: &[Nlri],
    ) -> Result<Vec<Bytes>, EncodeError> {
        let mut block = BytesMut::new();
        let mut mp4: Option<(Family, MpNextHop)> = None;
        let mut mp6: Option<(Family, MpNextHop)> = None;
        let mut has_next_hop = false;
        for a in attrs {
            match &a.value {
                AttributeValue::MpReach(m) if m.family.afi == crate::Afi::IPV4 => {
                    mp4 = Some((m.family, m.next_hop))
                }
                AttributeValue::MpReach(m) if m.family.afi == crate::Afi::IPV6 => {
                    mp6 = Some((m.family, m.next_hop))
                }
                AttributeValue::MpReach(m) => return Err(EncodeError::UnsupportedFamily(m.family)),
                AttributeValue::MpUnreach(_) => {}
                v => {
                    has_next_hop |= v.type_code() == attr_type::NEXT_HOP;
                    encode_attribute(a, &self.ctx, &mut block)?;
                }
            }
        }
        let (n4, n6) = count_families(prefixes);
        let mut out = Vec::new();
        let mut buf = BytesMut::new();
        if n4 > 0 {
            match mp4 {
                Some((fam, nh)) => {
                    self.pack_mp(prefixes, true, fam, Some(&nh), &block, &mut buf, &mut out)?
                }
                None if !has_next_hop => {
                    return Err(EncodeError::MissingNextHop(Family::IPV4_UNICAST));
                }
                None => self.pack_traditional(prefixes, &block, false, &mut buf, &mut out)?,
            }
        }
        if n6 > 0 {
            let Some((fam, nh)) = mp6 else {
                return Err(EncodeError::MissingNextHop(Family::IPV6_UNICAST));
            };
            self.pack_mp(prefixes, false, fam, Some(&nh), &block, &mut buf, &mut out)?;
        }
        Ok(out)
    }

    /// UPDATEs withdrawing `prefixes` (IPv4 in the withdrawn routes field, IPv6
    /// in MP_UNREACH_NLRI for IPv6 unicast).
    pub fn withdraw(&self, prefixes: &[Nlri]) -> Result<Vec<Bytes>, EncodeError> {
        let (n4, n6) = count_families(prefixes);
        let mut out = Vec::new();
        let mut buf = BytesMut::new();
        if n4 > 0 {
            self.pack_traditional(prefixes, &[], true, &mut buf, &mut out)?;
        }
        if n6 > 0 {
            self.pack_mp(
                prefixes,
                false,
                Family::IPV6_UNICAST,
                None,
                &[],
                &mut buf,
                &mut out,
            )?;
        }
        Ok(out)
    }

    /// Traditional fields: header, withdrawn len, [withdrawn], attr len, attrs, [nlri].
    fn pack_traditional(
        &self,
        prefixes: &[Nlri],
        block: &[u8],
        withdraw: bool,
        buf: &mut BytesMut,
        out: &mut Vec<Bytes>,
    ) -> Result<(), EncodeError> {
        let ap = self.ctx.has_add_path(Family::IPV4_UNICAST);
        let fixed = HEADER_LEN + 4 + block.len();
        let room = self.max_len.saturating_sub(fixed);
        let max_one = 5 + if ap { 4 } else { 0 };
        if room < max_one {
            return Err(EncodeError::MessageTooLong {
                len: fixed + max_one,
                max: self.max_len,
            });
        }
        buf.reserve(estimate(prefixes.len(), ap, 5, fixed, room));
        let mut rest = prefixes;
        loop {
            // Greedy: as many prefixes as fit in `room`, then one batch copy.
            let (take, used) = fill(rest, true, ap, room);
            if used == 0 {
                break;
            }
            buf.put_slice(&MARKER);
            buf.put_u16(0);
            buf.put_u8(message_type::UPDATE);
            if withdraw {
                buf.put_u16(used as u16);
            } else {
                buf.put_u16(0);
                buf.put_u16(block.len() as u16);
                buf.put_slice(block);
            }
            let _ = put_prefixes(buf, &rest[..take], true, ap, true);
            if withdraw {
                buf.put_u16(0); // total path attribute length
            }
            let len = buf.len() as u16;
            buf[16..18].copy_from_slice(&len.to_be_bytes());
            rest = &rest[take..];
            out.push(take_message(buf, rest.is_empty()));
        }
        Ok(())
    }

    /// MP fields: header, 0, attr len, MP_(UN)REACH {head, nlri}, other attrs.
    #[allow(clippy::too_many_arguments)]
    fn pack_mp(
        &self,
        prefixes: &[Nlri],
        v4: bool,
        family: Family,
        next_hop: Option<&MpNextHop>,
        block: &[u8],
        buf: &mut BytesMut,
        out: &mut Vec<Bytes>,
    ) -> Result<(), EncodeError> {
        let ap = self.ctx.has_add_path(family);
        // At most 2 + 1 + 1 + 32 + 1 bytes: no allocation.
        let mut head_buf = [0u8; 40];
        let head_len = {
            let mut w = &mut head_buf[..];
            match next_hop {
                Some(nh) => put_mp_reach_head(family, nh, &mut w),
                None => {
                    w.put_u16(family.afi.0);
                    w.put_u8(family.safi.0);
                }
            }
            40 - w.len()
        };
        let head = &head_buf[..head_len];
        let type_code = if next_hop.is_some() {
            attr_type::MP_REACH_NLRI
        } else {
            attr_type::MP_UNREACH_NLRI
        };
        // header + withdrawn len + attr len + MP attr header (extended length) + head + other attrs
        let fixed = HEADER_LEN + 4 + 4 + head.len() + block.len();
        let room = self.max_len.saturating_sub(fixed);
        let max_one = if v4 { 5 } else { 17 } + if ap { 4 } else { 0 };
        if room < max_one {
            return Err(EncodeError::MessageTooLong {
                len: fixed + max_one,
                max: self.max_len,
            });
        }
        buf.reserve(estimate(
            prefixes.len(),
            ap,
            if v4 { 5 } else { 17 },
            fixed,
            room,
        ));
        let flags = (AttrFlags::OPTIONAL | AttrFlags::EXTENDED_LENGTH).bits();
        let mut rest = prefixes;
        loop {
            let (take, used) = fill(rest, v4, ap, room);
            if used == 0 {
                break;
            }
            buf.put_slice(&MARKER);
            buf.put_u16(0);
            buf.put_u8(message_type::UPDATE);
            buf.put_u16(0);
            let alen = 4 + head.len() + used + block.len();
            buf.put_u16(alen as u16);
            buf.put_u8(flags);
            buf.put_u8(type_code);
            buf.put_u16((head.len() + used) as u16);
            buf.put_slice(head);
            let _ = put_prefixes(buf, &rest[..take], v4, ap, true);
            buf.put_slice(block);
            let len = buf.len() as u16;
            buf[16..18].copy_from_slice(&len.to_be_bytes());
            rest = &rest[take..];
            out.push(take_message(buf, rest.is_empty()));
        }
        Ok(())
    }
}

/// The finished message at the start of `buf`. The last one takes the whole
/// buffer (no shared allocation when it is the only one).
fn take_message(buf: &mut BytesMut, last: bool) -> Bytes {
    if last {
        std::mem::take(buf).freeze()
    } else {
        buf.split().freeze()
    }
}

fn count_families(prefixes: &[Nlri]) -> (usize, usize) {
    let n4 = prefixes
        .iter()
        .filter(|n| matches!(n.prefix, IpNet::V4(_)))
        .count();
    (n4, prefixes.len() - n4)
}

/// An upper bound of the output (every prefix at its largest size, which is also
/// what each batch write needs as scratch), so the buffer is allocated once.
fn estimate(n: usize, ap: bool, max_one: usize, fixed: usize, room: usize) -> usize {
    let bytes = n * (max_one + if ap { 4 } else { 0 });
    bytes + (bytes / room.max(1) + 2) * (fixed + max_one + 4)
}

/// How many of `prefixes` (counting those of the other family, which are
/// skipped) go in the next message, and the bytes the ones of this family take.
#[inline]
fn fill(prefixes: &[Nlri], v4: bool, ap: bool, room: usize) -> (usize, usize) {
    let extra = 1 + if ap { 4 } else { 0 };
    let mut used = 0;
    for (i, n) in prefixes.iter().enumerate() {
        let l = match n.prefix {
            IpNet::V4(p) if v4 => extra + (p.prefix_len() as usize).div_ceil(8),
            IpNet::V6(p) if !v4 => extra + (p.prefix_len() as usize).div_ceil(8),
            _ => continue,
        };
        if used + l > room {
            return (i, used);
        }
        used += l;
    }
    (prefixes.len(), used)
}

/// Convenience: [`UpdatePacker::announce`] with the context's maximum size.
pub fn pack_announcements(
    attrs: &[PathAttribute],
    prefixes: &[Nlri],
    ctx: &EncodeContext,
) -> Result<Vec<Bytes>, EncodeError> {
    UpdatePacker::new(ctx).announce(attrs, prefixes)
}

/// Convenience: [`UpdatePacker::withdraw`] with the context's maximum size.
pub fn pack_withdrawals(prefixes: &[Nlri], ctx: &EncodeContext) -> Result<Vec<Bytes>, EncodeError> {
    UpdatePacker::new(ctx).withdraw(prefixes)
}
