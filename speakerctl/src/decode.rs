//! `speakerctl decode`: hex text or a pcap capture in, one JSON object per BGP or BFD
//! message out.
//!
//! * BGP messages are decoded with bgp-wire (its `serde` view); BFD Control packets with the
//!   `bfd` crate, shown through [`BfdView`].
//! * Hex text: whitespace and `#` comment lines are ignored; a `# ctx: as4 addpath-ipv4
//!   extmsg` line (as in bgp-wire's golden files) sets the decode context. Bytes starting
//!   with the 16-byte BGP marker are BGP messages (any number, back to back); anything else
//!   is one BFD packet.
//! * pcap (classic format, microsecond or nanosecond, either byte order; link types
//!   Ethernet with VLAN tags, Linux cooked SLL and SLL2, raw IP): IPv4/IPv6, TCP port 179
//!   reassembled per direction in sequence order, UDP ports 3784 (single hop) and 4784
//!   (multihop) for BFD.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use bfd::{AuthSection, ControlPacket, Flags};
use bgp_wire::{Bytes, DecodeContext, Family, Framer, Message};
use serde::Serialize;
use serde_json::{Value, json};

/// The BGP marker: 16 bytes of ones (RFC 4271 §4.1).
const MARKER: [u8; 16] = [0xff; 16];

/// A serializable view of a BFD Control packet (RFC 5880 §4.1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BfdView {
    /// Diagnostic code.
    pub diag: u8,
    /// Its name.
    pub diag_name: String,
    /// Session state of the sender.
    pub state: String,
    /// Poll.
    pub poll: bool,
    /// Final.
    #[serde(rename = "final")]
    pub fin: bool,
    /// Control Plane Independent.
    pub control_plane_independent: bool,
    /// Demand.
    pub demand: bool,
    /// Detect time multiplier.
    pub detect_mult: u8,
    /// My Discriminator.
    pub my_discriminator: u32,
    /// Your Discriminator.
    pub your_discriminator: u32,
    /// Desired Min TX Interval, µs.
    pub desired_min_tx_us: u32,
    /// Required Min RX Interval, µs.
    pub required_min_rx_us: u32,
    /// Required Min Echo RX Interval, µs.
    pub required_min_echo_rx_us: u32,
    /// The authentication section, when present.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth: Option<BfdAuthView>,
}

/// The authentication section of a BFD packet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BfdAuthView {
    /// `simple-password`, `keyed-md5`, `meticulous-keyed-md5`, `keyed-sha1`,
    /// `meticulous-keyed-sha1`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Auth Key ID.
    pub key_id: u8,
    /// Sequence number (MD5, SHA1).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sequence: Option<u32>,
    /// The digest, hash or password, hex.
    pub data: String,
}

impl From<&ControlPacket> for BfdView {
    fn from(p: &ControlPacket) -> BfdView {
        BfdView {
            diag: p.diag.code(),
            diag_name: p.diag.to_string(),
            state: p.state.to_string(),
            poll: p.flags.contains(Flags::POLL),
            fin: p.flags.contains(Flags::FINAL),
            control_plane_independent: p.flags.contains(Flags::CONTROL_PLANE_INDEPENDENT),
            demand: p.flags.contains(Flags::DEMAND),
            detect_mult: p.detect_mult,
            my_discriminator: p.my_discr,
            your_discriminator: p.your_discr,
            desired_min_tx_us: p.desired_min_tx,
            required_min_rx_us: p.required_min_rx,
            required_min_echo_rx_us: p.required_min_echo_rx,
            auth: p.auth.as_ref().map(|a| match a {
                AuthSection::SimplePassword { key_id, password } => BfdAuthView {
                    kind: "simple-password".into(),
                    key_id: *key_id,
                    sequence: None,
                    data: hex::encode(password.as_bytes()),
                },
                AuthSection::Md5 {
                    meticulous,
                    key_id,
                    sequence,
                    digest,
                } => BfdAuthView {
                    kind: if *meticulous {
                        "meticulous-keyed-md5"
                    } else {
                        "keyed-md5"
                    }
                    .into(),
                    key_id: *key_id,
                    sequence: Some(*sequence),
                    data: hex::encode(digest),
                },
                AuthSection::Sha1 {
                    meticulous,
                    key_id,
                    sequence,
                    hash,
                } => BfdAuthView {
                    kind: if *meticulous {
                        "meticulous-keyed-sha1"
                    } else {
                        "keyed-sha1"
                    }
                    .into(),
                    key_id: *key_id,
                    sequence: Some(*sequence),
                    data: hex::encode(hash),
                },
            }),
        }
    }
}

/// Applies `# ctx:` tokens (`as4`, `as2`, `addpath-ipv4`, `addpath-ipv6`, `extmsg`).
pub fn apply_ctx_token(ctx: &mut DecodeContext, token: &str) -> Result<(), String> {
    match token {
        "as4" => ctx.four_octet_as = true,
        "as2" => ctx.four_octet_as = false,
        "addpath-ipv4" => ctx.add_path.push(Family::IPV4_UNICAST),
        "addpath-ipv6" => ctx.add_path.push(Family::IPV6_UNICAST),
        "extmsg" => ctx.extended_message = true,
        other => {
            return Err(format!(
                "unknown context token {other:?} (as4, as2, addpath-ipv4, addpath-ipv6, extmsg)"
            ));
        }
    }
    Ok(())
}

/// The JSON object of one BFD packet (or its decode error).
pub fn bfd_json(payload: &[u8]) -> Value {
    match ControlPacket::decode(payload) {
        Ok(p) => json!({"protocol": "bfd", "packet": BfdView::from(&p)}),
        Err(e) => json!({"protocol": "bfd", "error": e.to_string(), "hex": hex::encode(payload)}),
    }
}

/// The JSON objects of the BGP messages in a byte stream (stops at the first framing error,
/// reported as an object with `error`).
pub fn bgp_stream_json(bytes: &[u8], ctx: &DecodeContext) -> Vec<(usize, Value)> {
    let mut out = Vec::new();
    let mut framer = Framer::new(ctx.max_message_len());
    framer.push(bytes);
    let mut offset = 0;
    loop {
        match framer.next_frame() {
            Ok(Some(frame)) => {
                offset += frame.len();
                let v = match Message::decode(frame.clone(), ctx) {
                    Ok(m) => json!({"protocol": "bgp", "message": m}),
                    Err(e) => json!({
                        "protocol": "bgp",
                        "error": e.to_string(),
                        "hex": hex::encode(&frame),
                    }),
                };
                out.push((offset, v));
            }
            Ok(None) => {
                if framer.buffered() > 0 {
                    out.push((
                        bytes.len(),
                        json!({"protocol": "bgp", "error": format!("{} trailing bytes: an incomplete message", framer.buffered())}),
                    ));
                }
                return out;
            }
            Err(e) => {
                out.push((
                    bytes.len(),
                    json!({"protocol": "bgp", "error": format!("cannot frame: {e}")}),
                ));
                return out;
            }
        }
    }
}

/// Decodes hex text (see the module docs). `ctx` is the starting context; `force_bfd`
/// decodes the bytes as one BFD packet whatever they start with.
pub fn decode_hex_text(
    text: &str,
    mut ctx: DecodeContext,
    force_bfd: bool,
) -> Result<Vec<Value>, String> {
    let mut hex_digits = String::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if let Some(c) = line.strip_prefix('#') {
            if let Some(tokens) = c.trim().strip_prefix("ctx:") {
                for t in tokens.split_whitespace() {
                    apply_ctx_token(&mut ctx, t).map_err(|e| format!("line {}: {e}", n + 1))?;
                }
            }
            continue;
        }
        for word in line.split_whitespace() {
            let w = word.strip_prefix("0x").unwrap_or(word);
            hex_digits.extend(w.chars().filter(|c| *c != ':'));
        }
    }
    let bytes = hex::decode(&hex_digits).map_err(|e| format!("not hex: {e}"))?;
    if bytes.is_empty() {
        return Err("no bytes to decode".into());
    }
    if force_bfd || !bytes.starts_with(&MARKER) {
        return Ok(vec![bfd_json(&bytes)]);
    }
    Ok(bgp_stream_json(&bytes, &ctx)
        .into_iter()
        .map(|(_, v)| v)
        .collect())
}

/// True when the bytes start with a classic pcap magic number.
pub fn is_pcap(bytes: &[u8]) -> bool {
    matches!(
        bytes.get(..4),
        Some(
            [0xd4, 0xc3, 0xb2, 0xa1]
                | [0xa1, 0xb2, 0xc3, 0xd4]
                | [0x4d, 0x3c, 0xb2, 0xa1]
                | [0xa1, 0xb2, 0x3c, 0x4d]
        )
    )
}

struct Reader<'a> {
    b: &'a [u8],
    le: bool,
}

impl Reader<'_> {
    fn u32(&self, at: usize) -> Option<u32> {
        let s: [u8; 4] = self.b.get(at..at + 4)?.try_into().ok()?;
        Some(if self.le {
            u32::from_le_bytes(s)
        } else {
            u32::from_be_bytes(s)
        })
    }
}

fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// One TCP segment of a flow.
struct Segment {
    seq: u32,
    data: Vec<u8>,
    time: f64,
}

#[derive(Default)]
struct Flow {
    isn: Option<u32>,
    segments: Vec<Segment>,
    first: usize,
}

/// Decodes a classic pcap capture: BGP over TCP port 179 (reassembled per direction) and
/// BFD over UDP 3784/4784, in capture order (a BGP message at the time of the segment that
/// completed it). Each object has `time`, `src`, `dst` and the decoded message.
///
/// When a connection's two OPENs are in the capture and `explicit_ctx` is false, its
/// UPDATEs are decoded with the context the OPENs negotiated (4-octet AS, ADD-PATH per
/// direction, extended messages); otherwise with `ctx`.
pub fn decode_pcap(
    bytes: &[u8],
    ctx: &DecodeContext,
    explicit_ctx: bool,
) -> Result<Vec<Value>, String> {
    decode_pcap_port(bytes, ctx, explicit_ctx, 179)
}

/// [`decode_pcap`] with BGP on TCP port `bgp_port` instead of 179.
pub fn decode_pcap_port(
    bytes: &[u8],
    ctx: &DecodeContext,
    explicit_ctx: bool,
    bgp_port: u16,
) -> Result<Vec<Value>, String> {
    if bytes.len() < 24 || !is_pcap(bytes) {
        return Err("not a classic pcap file (pcapng is not supported: convert it with `tcpdump -r in.pcapng -w out.pcap` or editcap -F pcap)".into());
    }
    let le = bytes[0] == 0xd4 || bytes[0] == 0x4d;
    let nanos = matches!(
        bytes[..4],
        [0x4d, 0x3c, 0xb2, 0xa1] | [0xa1, 0xb2, 0x3c, 0x4d]
    );
    let r = Reader { b: bytes, le };
    let linktype = r.u32(20).ok_or("truncated pcap header")?;
    let mut pos = 24;
    let mut index = 0usize;
    // (time, order, value) of every output object.
    let mut out: Vec<(f64, usize, Value)> = Vec::new();
    let mut flows: BTreeMap<(SocketAddr, SocketAddr), Flow> = BTreeMap::new();
    while pos + 16 <= bytes.len() {
        let sec = r.u32(pos).unwrap_or(0);
        let frac = r.u32(pos + 4).unwrap_or(0);
        let incl = r.u32(pos + 8).unwrap_or(0) as usize;
        let time = f64::from(sec) + f64::from(frac) / if nanos { 1e9 } else { 1e6 };
        pos += 16;
        let Some(pkt) = bytes.get(pos..pos + incl) else {
            out.push((
                time,
                index,
                json!({"error": "truncated packet record at the end of the file"}),
            ));
            break;
        };
        pos += incl;
        index += 1;
        let Some((ethertype, l3)) = link_payload(linktype, pkt) else {
            continue;
        };
        let Some((src, dst, proto, l4)) = ip_payload(ethertype, l3) else {
            continue;
        };
        match proto {
            // TCP
            6 => {
                let (Some(sport), Some(dport), Some(seq)) = (be16(l4, 0), be16(l4, 2), be32(l4, 4))
                else {
                    continue;
                };
                if sport != bgp_port && dport != bgp_port {
                    continue;
                }
                let off = usize::from(l4.get(12).copied().unwrap_or(0) >> 4) * 4;
                let flags = l4.get(13).copied().unwrap_or(0);
                let key = (SocketAddr::new(src, sport), SocketAddr::new(dst, dport));
                let flow = flows.entry(key).or_insert_with(|| Flow {
                    first: index,
                    ..Flow::default()
                });
                if flags & 0x02 != 0 {
                    // SYN: the data starts at ISN + 1.
                    flow.isn = Some(seq.wrapping_add(1));
                }
                let data = l4.get(off..).unwrap_or(&[]);
                if !data.is_empty() {
                    flow.segments.push(Segment {
                        seq,
                        data: data.to_vec(),
                        time,
                    });
                }
            }
            // UDP
            17 => {
                let (Some(sport), Some(dport), Some(len)) = (be16(l4, 0), be16(l4, 2), be16(l4, 4))
                else {
                    continue;
                };
                if dport != 3784 && dport != 4784 {
                    continue;
                }
                let end = usize::from(len).clamp(8, l4.len());
                let mut v = bfd_json(&l4[8..end]);
                annotate(
                    &mut v,
                    time,
                    SocketAddr::new(src, sport),
                    SocketAddr::new(dst, dport),
                );
                if dport == 4784 {
                    v["multihop"] = json!(true);
                }
                out.push((time, index, v));
            }
            _ => {}
        }
    }
    let streams: BTreeMap<(SocketAddr, SocketAddr), Stream> =
        flows.into_iter().map(|(k, f)| (k, reassemble(f))).collect();
    for ((src, dst), st) in &streams {
        let reverse = streams.get(&(*dst, *src));
        let ctx = match (
            first_open(&st.bytes),
            reverse.and_then(|r| first_open(&r.bytes)),
        ) {
            (Some(mine), Some(theirs)) if !explicit_ctx => session_ctx(&mine, &theirs),
            _ => ctx.clone(),
        };
        out.extend(decode_stream(st, &ctx, *src, *dst));
    }
    out.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    Ok(out.into_iter().map(|(_, _, v)| v).collect())
}

fn annotate(v: &mut Value, time: f64, src: SocketAddr, dst: SocketAddr) {
    v["time"] = json!(time);
    v["src"] = json!(src.to_string());
    v["dst"] = json!(dst.to_string());
}

/// One direction of a TCP connection, reassembled.
struct Stream {
    bytes: Vec<u8>,
    /// (stream end offset, time) of each segment that added bytes.
    marks: Vec<(usize, f64)>,
    /// (offset, missing bytes) of the first hole.
    gap: Option<(usize, usize)>,
    first: usize,
}

/// Orders a flow's segments by sequence number (relative to the ISN, or to the lowest
/// sequence seen), drops retransmitted bytes and stops at a gap.
fn reassemble(mut flow: Flow) -> Stream {
    let base = flow.isn.unwrap_or_else(|| {
        // No SYN captured: start at the segment that is earliest in sequence space relative
        // to the first one seen.
        let first = flow.segments.first().map_or(0, |s| s.seq);
        flow.segments
            .iter()
            .map(|s| s.seq)
            .min_by_key(|s| s.wrapping_sub(first).wrapping_add(1 << 31))
            .unwrap_or(first)
    });
    flow.segments.sort_by_key(|s| s.seq.wrapping_sub(base));
    let mut stream = Vec::new();
    let mut marks: Vec<(usize, f64)> = Vec::new();
    let mut gap = None;
    for s in &flow.segments {
        let rel = s.seq.wrapping_sub(base) as usize;
        let end = rel + s.data.len();
        if end <= stream.len() {
            continue; // retransmission
        }
        if rel > stream.len() {
            gap = Some((stream.len(), rel - stream.len()));
            break;
        }
        stream.extend_from_slice(&s.data[stream.len() - rel..]);
        // A message is complete once every segment before it is there: the latest time so far.
        let t = marks.last().map_or(s.time, |m| m.1.max(s.time));
        marks.push((stream.len(), t));
    }
    Stream {
        bytes: stream,
        marks,
        gap,
        first: flow.first,
    }
}

/// The first message of a stream, when it is an OPEN.
fn first_open(stream: &[u8]) -> Option<bgp_wire::Open> {
    let mut f = Framer::new(65535);
    f.push(stream);
    let frame = f.next_frame().ok()??;
    match Message::decode(frame, &DecodeContext::default()).ok()? {
        Message::Open(o) => Some(o),
        _ => None,
    }
}

/// The context for messages sent by the speaker of `mine` to the speaker of `theirs`.
fn session_ctx(mine: &bgp_wire::Open, theirs: &bgp_wire::Open) -> DecodeContext {
    use bgp_wire::AddPathMode;
    // RFC 6793: 4-octet AS when both sides announce it.
    let four_octet_as = mine.four_octet_as().is_some() && theirs.four_octet_as().is_some();
    // RFC 8654: extended messages when both sides announce them (capability 6).
    let extended_message = mine.has_capability(6) && theirs.has_capability(6);
    // RFC 7911: path identifiers in this direction for the families the sender may send
    // and the receiver may receive.
    let can = |o: &bgp_wire::Open, f: Family, bit: u8| {
        o.add_path().any(|a| a.family == f && a.mode.0 & bit != 0)
    };
    let add_path = [Family::IPV4_UNICAST, Family::IPV6_UNICAST]
        .into_iter()
        .filter(|f| can(mine, *f, AddPathMode::SEND.0) && can(theirs, *f, AddPathMode::RECEIVE.0))
        .collect();
    DecodeContext {
        four_octet_as,
        add_path,
        extended_message,
    }
}

/// Frames and decodes a reassembled stream; each object at the time its last byte arrived.
fn decode_stream(
    st: &Stream,
    ctx: &DecodeContext,
    src: SocketAddr,
    dst: SocketAddr,
) -> Vec<(f64, usize, Value)> {
    let mut out = Vec::new();
    let last_time = st.marks.last().map_or(0.0, |m| m.1);
    for (end, mut v) in bgp_stream_json(&st.bytes, ctx) {
        let time = st
            .marks
            .iter()
            .find(|(e, _)| *e >= end)
            .map_or(last_time, |m| m.1);
        annotate(&mut v, time, src, dst);
        out.push((time, st.first, v));
    }
    if let Some((at, len)) = st.gap {
        let mut v = json!({"protocol": "bgp", "error": format!("{len} bytes missing from the capture after stream offset {at}: the rest of this direction is not decoded")});
        annotate(&mut v, last_time, src, dst);
        out.push((last_time, st.first, v));
    }
    out
}

/// The ethertype and layer-3 bytes of a link-layer frame.
fn link_payload(linktype: u32, pkt: &[u8]) -> Option<(u16, &[u8])> {
    match linktype {
        // Ethernet, with 802.1Q / 802.1ad tags.
        1 => {
            let mut et = be16(pkt, 12)?;
            let mut off = 14;
            while et == 0x8100 || et == 0x88a8 {
                et = be16(pkt, off + 2)?;
                off += 4;
            }
            Some((et, pkt.get(off..)?))
        }
        // Linux cooked capture (SLL): protocol at 14, 16-byte header.
        113 => Some((be16(pkt, 14)?, pkt.get(16..)?)),
        // SLL2: protocol at 0, 20-byte header.
        276 => Some((be16(pkt, 0)?, pkt.get(20..)?)),
        // Raw IP.
        12 | 14 | 101 => match pkt.first()? >> 4 {
            4 => Some((0x0800, pkt)),
            6 => Some((0x86dd, pkt)),
            _ => None,
        },
        _ => None,
    }
}

/// Source, destination, protocol and layer-4 bytes of an IP packet (unfragmented).
fn ip_payload(ethertype: u16, p: &[u8]) -> Option<(IpAddr, IpAddr, u8, &[u8])> {
    match ethertype {
        0x0800 => {
            let ihl = usize::from(p.first()? & 0x0f) * 4;
            let total = usize::from(be16(p, 2)?).min(p.len());
            let frag = be16(p, 6)?;
            if frag & 0x1fff != 0 || frag & 0x2000 != 0 {
                return None; // fragments are not reassembled
            }
            let src = Ipv4Addr::from(be32(p, 12)?);
            let dst = Ipv4Addr::from(be32(p, 16)?);
            Some((src.into(), dst.into(), *p.get(9)?, p.get(ihl..total)?))
        }
        0x86dd => {
            let plen = usize::from(be16(p, 4)?);
            let mut next = *p.get(6)?;
            let src: [u8; 16] = p.get(8..24)?.try_into().ok()?;
            let dst: [u8; 16] = p.get(24..40)?.try_into().ok()?;
            let mut off = 40;
            let end = (40 + plen).min(p.len());
            // Hop-by-hop, routing, destination options: skip; fragments: not reassembled.
            while matches!(next, 0 | 43 | 60) {
                next = *p.get(off)?;
                off += (usize::from(*p.get(off + 1)?) + 1) * 8;
            }
            Some((
                Ipv6Addr::from(src).into(),
                Ipv6Addr::from(dst).into(),
                next,
                p.get(off..end)?,
            ))
        }
        _ => None,
    }
}

/// Decodes one BGP message given as bytes (for tests and callers with whole frames).
pub fn bgp_message_json(frame: &[u8], ctx: &DecodeContext) -> Value {
    match Message::decode(Bytes::copy_from_slice(frame), ctx) {
        Ok(m) => json!({"protocol": "bgp", "message": m}),
        Err(e) => json!({"protocol": "bgp", "error": e.to_string()}),
    }
}
