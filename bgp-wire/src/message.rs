//! The message envelope: header, type dispatch, KEEPALIVE and ROUTE-REFRESH,
//! and the stream de-framer.

use bytes::{BufMut, Bytes, BytesMut};

use crate::error::{DecodeError, EncodeError};
use crate::notification::Notification;
use crate::open::Open;
use crate::types::{Afi, DecodeContext, EncodeContext, Family, HEADER_LEN, MAX_MESSAGE_LEN, Safi};
use crate::update::Update;

/// Message type codes (RFC 4271 §4.1, RFC 2918).
pub mod message_type {
    /// OPEN.
    pub const OPEN: u8 = 1;
    /// UPDATE.
    pub const UPDATE: u8 = 2;
    /// NOTIFICATION.
    pub const NOTIFICATION: u8 = 3;
    /// KEEPALIVE.
    pub const KEEPALIVE: u8 = 4;
    /// ROUTE-REFRESH (RFC 2918).
    pub const ROUTE_REFRESH: u8 = 5;
}

/// RFC 4271 §4.1: the 16-octet all-ones marker.
pub const MARKER: [u8; 16] = [0xff; 16];

/// A ROUTE-REFRESH message (RFC 2918, RFC 7313).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct RouteRefresh {
    /// The family to refresh.
    pub family: Family,
    /// RFC 7313 message subtype: 0 normal request, 1 BoRR, 2 EoRR (others are
    /// kept; RFC 7313 §5 says to ignore them).
    pub subtype: u8,
}

impl RouteRefresh {
    /// Normal route refresh request (RFC 2918).
    pub const NORMAL: u8 = 0;
    /// Beginning of Route Refresh (RFC 7313).
    pub const BORR: u8 = 1;
    /// End of Route Refresh (RFC 7313).
    pub const EORR: u8 = 2;

    /// A normal refresh request for `family`.
    pub fn new(family: Family) -> RouteRefresh {
        RouteRefresh {
            family,
            subtype: Self::NORMAL,
        }
    }
}

/// A BGP message.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub enum Message {
    /// OPEN.
    Open(Open),
    /// UPDATE.
    Update(Update),
    /// NOTIFICATION.
    Notification(Notification),
    /// KEEPALIVE.
    Keepalive,
    /// ROUTE-REFRESH.
    RouteRefresh(RouteRefresh),
}

impl Message {
    /// The message type code.
    pub fn msg_type(&self) -> u8 {
        match self {
            Message::Open(_) => message_type::OPEN,
            Message::Update(_) => message_type::UPDATE,
            Message::Notification(_) => message_type::NOTIFICATION,
            Message::Keepalive => message_type::KEEPALIVE,
            Message::RouteRefresh(_) => message_type::ROUTE_REFRESH,
        }
    }

    /// Decodes one whole message (header included), as returned by [`Framer`].
    ///
    /// Never panics and never reads past a length field, whatever the bytes.
    pub fn decode(frame: Bytes, ctx: &DecodeContext) -> Result<Message, DecodeError> {
        let max = ctx.max_message_len();
        let Some(hdr) = frame.get(..HEADER_LEN) else {
            return Err(DecodeError::BadMessageLength {
                length: frame.len().min(u16::MAX as usize) as u16,
            });
        };
        let (msg_type, len) = check_header(hdr, max)?;
        // The length field must describe exactly this frame.
        if len != frame.len() {
            return Err(DecodeError::BadMessageLength { length: len as u16 });
        }
        check_type_length(msg_type, &frame)?;
        Ok(match msg_type {
            message_type::OPEN => Message::Open(Open::decode_body(frame.slice(HEADER_LEN..))?),
            message_type::UPDATE => Message::Update(Update::decode_body(&frame, HEADER_LEN, ctx)?),
            message_type::NOTIFICATION => {
                Message::Notification(Notification::decode_body(frame.slice(HEADER_LEN..)))
            }
            message_type::KEEPALIVE => Message::Keepalive,
            _ => {
                let b = &frame[HEADER_LEN..];
                Message::RouteRefresh(RouteRefresh {
                    family: Family::new(Afi(u16::from_be_bytes([b[0], b[1]])), Safi(b[3])),
                    subtype: b[2],
                })
            }
        })
    }

    /// Appends the encoded message (header included) to `out`.
    ///
    /// The header length is patched after the body is written. Fails (leaving
    /// `out` as it was) if the message exceeds `ctx.max_message_len()` (4096
    /// for OPEN and KEEPALIVE in all cases, RFC 8654 §4) or a field overflows.
    pub fn encode(&self, ctx: &EncodeContext, out: &mut BytesMut) -> Result<(), EncodeError> {
        let start = out.len();
        let r = self.encode_inner(ctx, out, start);
        if r.is_err() {
            out.truncate(start);
        }
        r
    }

    fn encode_inner(
        &self,
        ctx: &EncodeContext,
        out: &mut BytesMut,
        start: usize,
    ) -> Result<(), EncodeError> {
        out.reserve(HEADER_LEN + 64);
        let mut hdr = [0xff; HEADER_LEN];
        hdr[16..].copy_from_slice(&[0, 0, self.msg_type()]);
        out.extend_from_slice(&hdr);
        let mut max = ctx.max_message_len();
        match self {
            Message::Open(o) => {
                // RFC 8654 §4: OPEN is never larger than 4096.
                max = MAX_MESSAGE_LEN;
                o.encode_body(out)?
            }
            Message::Update(u) => u.encode_body(ctx, out)?,
            Message::Notification(n) => n.encode_body(out),
            Message::Keepalive => max = MAX_MESSAGE_LEN,
            Message::RouteRefresh(r) => {
                out.put_u16(r.family.afi.0);
                out.put_u8(r.subtype);
                out.put_u8(r.family.safi.0);
            }
        }
        let len = out.len() - start;
        if len > max {
            return Err(EncodeError::MessageTooLong { len, max });
        }
        out[start + 16..start + 18].copy_from_slice(&(len as u16).to_be_bytes());
        Ok(())
    }

    /// Encodes into a fresh buffer.
    pub fn to_bytes(&self, ctx: &EncodeContext) -> Result<Bytes, EncodeError> {
        let mut out = BytesMut::new();
        self.encode(ctx, &mut out)?;
        Ok(out.freeze())
    }
}

impl From<Open> for Message {
    fn from(m: Open) -> Self {
        Message::Open(m)
    }
}
impl From<Update> for Message {
    fn from(m: Update) -> Self {
        Message::Update(m)
    }
}
impl From<Notification> for Message {
    fn from(m: Notification) -> Self {
        Message::Notification(m)
    }
}
impl From<RouteRefresh> for Message {
    fn from(m: RouteRefresh) -> Self {
        Message::RouteRefresh(m)
    }
}

/// Checks a 19-byte header: marker, length within 19..=`max_len`, known type.
/// Returns (type, length).
pub fn check_header(hdr: &[u8], max_len: usize) -> Result<(u8, usize), DecodeError> {
    let Some(hdr) = hdr.get(..HEADER_LEN) else {
        return Err(DecodeError::BadMessageLength {
            length: hdr.len() as u16,
        });
    };
    // RFC 4271 §6.1: marker not all ones → Connection Not Synchronized.
    if hdr[..16] != MARKER {
        return Err(DecodeError::ConnectionNotSynchronized);
    }
    let length = u16::from_be_bytes([hdr[16], hdr[17]]);
    // RFC 4271 §6.1 / RFC 8654 §4: length below 19 or above the maximum → Bad Message Length.
    if (length as usize) < HEADER_LEN || length as usize > max_len {
        return Err(DecodeError::BadMessageLength { length });
    }
    let t = hdr[18];
    // RFC 4271 §6.1: unrecognized type → Bad Message Type.
    if !(message_type::OPEN..=message_type::ROUTE_REFRESH).contains(&t) {
        return Err(DecodeError::BadMessageType { msg_type: t });
    }
    Ok((t, length as usize))
}

/// Checks the per-type length rules on a whole frame (RFC 4271 §6.1: OPEN 29..=4096,
/// UPDATE ≥ 23, KEEPALIVE = 19, NOTIFICATION ≥ 21; RFC 2918/7313: ROUTE-REFRESH = 23).
pub fn check_type_length(msg_type: u8, frame: &[u8]) -> Result<(), DecodeError> {
    let len = frame.len();
    let ok = match msg_type {
        // RFC 8654 §4: OPEN never exceeds 4096 bytes, even with extended messages.
        message_type::OPEN => (29..=MAX_MESSAGE_LEN).contains(&len),
        message_type::UPDATE => len >= 23,
        message_type::NOTIFICATION => len >= 21,
        message_type::KEEPALIVE => len == 19,
        _ => len == 23,
    };
    if ok {
        return Ok(());
    }
    // RFC 7313 §5: an enhanced ROUTE-REFRESH (subtype 1, 2) of wrong length → 7/1 with the message.
    if msg_type == message_type::ROUTE_REFRESH && matches!(frame.get(21), Some(1 | 2)) {
        return Err(DecodeError::RouteRefreshInvalidLength {
            message: Bytes::copy_from_slice(frame),
        });
    }
    Err(DecodeError::BadMessageLength { length: len as u16 })
}

/// Splits a TCP byte stream into whole messages.
///
/// Feed bytes as they arrive with [`Framer::push`] (any chunking), then call
/// [`Framer::next_frame`] until it returns `Ok(None)`. Frames are split off the
/// internal buffer without copying. Header errors (marker, length, type and the
/// per-type length rules) are reported as soon as the bytes that show them have
/// arrived; after an error the stream is unusable and the session must close
/// (further calls return the same error).
#[derive(Debug)]
pub struct Framer {
    buf: BytesMut,
    max_len: usize,
}

impl Framer {
    /// A framer accepting messages up to `max_len` bytes (4096, or 65535 after
    /// extended messages were negotiated).
    pub fn new(max_len: usize) -> Framer {
        Framer {
            buf: BytesMut::with_capacity(MAX_MESSAGE_LEN),
            max_len,
        }
    }

    /// Changes the maximum (e.g. after the OPEN exchange negotiated RFC 8654).
    pub fn set_max_len(&mut self, max_len: usize) {
        self.max_len = max_len;
    }

    /// The current maximum.
    pub fn max_len(&self) -> usize {
        self.max_len
    }

    /// Appends received bytes.
    pub fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// The internal buffer, for reading from a socket into it directly.
    pub fn buffer_mut(&mut self) -> &mut BytesMut {
        &mut self.buf
    }

    /// Bytes buffered but not yet returned as frames.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// The next whole message (header included), `Ok(None)` if more bytes are needed.
    pub fn next_frame(&mut self) -> Result<Option<Bytes>, DecodeError> {
        // Report a bad marker as early as the bytes show it.
        let n = self.buf.len().min(16);
        if self.buf[..n] != MARKER[..n] {
            return Err(DecodeError::ConnectionNotSynchronized);
        }
        if self.buf.len() < HEADER_LEN {
            return Ok(None);
        }
        let (t, len) = check_header(&self.buf[..HEADER_LEN], self.max_len)?;
        if self.buf.len() < len {
            // RFC 4271 §6.1: a KEEPALIVE longer than 19 is known bad from the header alone.
            if t == message_type::KEEPALIVE {
                return Err(DecodeError::BadMessageLength { length: len as u16 });
            }
            self.buf.reserve(len - self.buf.len());
            return Ok(None);
        }
        check_type_length(t, &self.buf[..len])?;
        Ok(Some(self.buf.split_to(len).freeze()))
    }
}

impl std::fmt::Display for Message {
    /// A one-line summary for logs, e.g. `UPDATE withdrawn 0, 4 attributes, NLRI 12`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Message::Open(o) => {
                write!(
                    f,
                    "OPEN version {} AS {} hold {} id {} capabilities [",
                    o.version,
                    o.asn(),
                    o.hold_time,
                    o.bgp_id
                )?;
                for (i, c) in o.capabilities().enumerate() {
                    if i > 0 {
                        f.write_str(" ")?;
                    }
                    write!(f, "{}", c.code())?;
                }
                f.write_str("]")
            }
            Message::Update(u) => {
                if let Some(fam) = u.is_end_of_rib() {
                    return write!(f, "UPDATE End-of-RIB {fam}");
                }
                write!(
                    f,
                    "UPDATE withdrawn {}, {} attributes, NLRI {}",
                    u.withdrawn_all().count(),
                    u.attributes.len(),
                    u.announced().count()
                )?;
                if !u.errors.is_empty() {
                    write!(f, ", {} errors", u.errors.len())?;
                }
                Ok(())
            }
            Message::Notification(n) => write!(f, "NOTIFICATION {n}"),
            Message::Keepalive => f.write_str("KEEPALIVE"),
            Message::RouteRefresh(r) => {
                write!(f, "ROUTE-REFRESH {} subtype {}", r.family, r.subtype)
            }
        }
    }
}
