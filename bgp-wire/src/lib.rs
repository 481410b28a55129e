//! BGP-4 message codec (RFC 4271 and extensions): bytes in, typed messages out, and back.
//!
//! # Contract
//!
//! * **Pure.** No I/O, no clock, no async runtime, no global state. The same bytes and
//!   context always give the same result.
//! * **Never panics, never reads past a length.** Every length field is checked
//!   against the bytes that are actually there before it is used, whatever the input
//!   (fuzzed by `fuzz/fuzz_targets/bgp_*.rs`).
//! * **Byte-exact round trip.** Decoding keeps what re-encoding needs: optional
//!   parameter layout (one capability per parameter or many, RFC 9072 extended
//!   form), attribute order and flags (including Extended Length), host bits of
//!   prefixes, unknown capabilities and attributes (as zero-copy [`Bytes`] slices
//!   of the input). `encode(decode(x)) == x` for every message a real peer sends.
//! * **One place maps errors to NOTIFICATIONs.** Every [`DecodeError`] knows the
//!   NOTIFICATION to send ([`DecodeError::notification`]: code, subcode and the data
//!   RFC 4271 §6 asks for) and its RFC 7606 action ([`DecodeError::action`]).
//!   Non-fatal UPDATE errors (treat-as-withdraw, attribute discard) do not fail the
//!   decode: they are listed in [`Update::errors`], and
//!   [`Update::treat_as_withdraw`] says whether the NLRI must be handled as withdrawn.
//!
//! # Pieces
//!
//! * [`Framer`] splits a TCP stream (any chunking) into whole messages (`Bytes`,
//!   zero-copy), checking the header (marker, length, type) on the way.
//! * [`Message::decode`] / [`Message::encode`] with a [`DecodeContext`] /
//!   [`EncodeContext`] (4-octet AS, ADD-PATH families, extended messages).
//! * [`Open`] with [`Capability`]s; [`Update`] with [`PathAttribute`]s;
//!   [`Notification`] with every registered code/subcode and RFC 9003 shutdown
//!   communications; [`RouteRefresh`] with RFC 7313 subtypes.
//! * [`Negotiated::from_opens`] turns the two OPENs of a session into its decode and
//!   encode contexts.
//! * [`UpdatePacker`] packs one attribute set and any number of prefixes into the
//!   fewest UPDATEs that fit the negotiated size.
//! * Feature `serde`: every message type implements `serde::Serialize` (byte blobs
//!   as hex strings, addresses and prefixes as strings).
//!
//! # The context
//!
//! [`DecodeContext`] says what the OPEN exchange negotiated: `four_octet_as`
//! (RFC 6793: AS_PATH and AGGREGATOR carry 4-octet AS numbers), `add_path` (RFC 7911:
//! the families whose NLRI carry a path identifier *in this direction*) and
//! `extended_message` (RFC 8654: 65535-byte messages). [`EncodeContext`] is the same
//! type, with `add_path` listing the families we *send* path identifiers for. The
//! default is 4-octet AS, no ADD-PATH, 4096 bytes. OPEN decoding does not depend on it.
//! Encoding in a 2-octet context writes AS_TRANS for AS numbers above 65535 (building
//! AS4_PATH is the caller's job).
//!
//! # UPDATE error handling (RFC 7606)
//!
//! | Problem | Action |
//! | --- | --- |
//! | withdrawn routes / total attribute length overrun, unparsable withdrawn routes or NLRI | session reset (`Err`) |
//! | attribute header or length overruns the attribute block (§4) | treat-as-withdraw |
//! | ORIGIN, AS_PATH, NEXT_HOP, MED, LOCAL_PREF, COMMUNITIES, ORIGINATOR_ID, CLUSTER_LIST, EXTENDED_COMMUNITIES, LARGE_COMMUNITY malformed (length, value, flags) | treat-as-withdraw |
//! | ATOMIC_AGGREGATE, AGGREGATOR, AS4_PATH, AS4_AGGREGATOR malformed | attribute discard |
//! | MP_REACH_NLRI / MP_UNREACH_NLRI malformed, or present twice (§3(g), §7.11) | session reset (`Err`) |
//! | any other attribute present twice (§3(g)) | attribute discard (the first is kept) |
//! | ORIGIN or AS_PATH missing with NLRI, NEXT_HOP missing with traditional NLRI (§3(d)) | treat-as-withdraw |
//! | unrecognized well-known attribute | session reset (`Err`) |
//!
//! Checks that need session knowledge are left to the caller, which reports them
//! through the same [`DecodeError`] mapping: the peer's AS ([`DecodeError::BadPeerAs`]),
//! required capabilities ([`DecodeError::UnsupportedCapability`]), roles
//! ([`DecodeError::RoleMismatch`]), a hold time refused by policy, LOCAL_PREF or
//! confederation segments received over eBGP, and a NEXT_HOP equal to our own address.
//!
//! # Example
//!
//! ```
//! use bgp_wire::{
//!     AsPath, AttributeValue, Bytes, Capability, DecodeContext, Family, Framer, Message, Nlri,
//!     Open, Origin, PathAttribute, Update,
//! };
//! use std::net::Ipv4Addr;
//!
//! let ctx = DecodeContext::default(); // 4-octet AS, no ADD-PATH, 4096-byte messages
//!
//! // Build and encode an OPEN and an UPDATE.
//! let open = Open::new(
//!     4_200_000_000,
//!     90,
//!     Ipv4Addr::new(192, 0, 2, 1),
//!     vec![Capability::Multiprotocol(Family::IPV4_UNICAST), Capability::FourOctetAs(4_200_000_000)],
//! );
//! let update = Update {
//!     attributes: vec![
//!         PathAttribute::new(AttributeValue::Origin(Origin::Igp)),
//!         PathAttribute::new(AttributeValue::AsPath(AsPath::from_sequence(vec![4_200_000_000]))),
//!         PathAttribute::new(AttributeValue::NextHop(Ipv4Addr::new(192, 0, 2, 1))),
//!     ],
//!     nlri: vec![Nlri::new("203.0.113.100/32".parse().unwrap())],
//!     ..Default::default()
//! };
//! let mut wire = Vec::new();
//! wire.extend_from_slice(&Message::Open(open.clone()).to_bytes(&ctx).unwrap());
//! wire.extend_from_slice(&Message::Update(update.clone()).to_bytes(&ctx).unwrap());
//!
//! // Feed the stream in odd chunks, decode the frames.
//! let mut framer = Framer::new(ctx.max_message_len());
//! let mut got = Vec::new();
//! for chunk in wire.chunks(7) {
//!     framer.push(chunk);
//!     while let Some(frame) = framer.next_frame().unwrap() {
//!         got.push(Message::decode(frame, &ctx).unwrap());
//!     }
//! }
//! assert_eq!(got, vec![Message::Open(open), Message::Update(update)]);
//! if let Message::Open(o) = &got[0] {
//!     assert_eq!(o.my_as, bgp_wire::AS_TRANS);
//!     assert_eq!(o.asn(), 4_200_000_000);
//! }
//!
//! // A broken message maps to its NOTIFICATION in one call.
//! let mut bad = [0xffu8; 19];
//! bad[16..18].copy_from_slice(&19u16.to_be_bytes());
//! bad[18] = 9; // no such message type
//! let err = Message::decode(Bytes::copy_from_slice(&bad), &ctx).unwrap_err();
//! let n = err.notification();
//! assert_eq!((n.code, n.subcode, &n.data[..]), (1, 3, &[9u8][..]));
//! ```
#![forbid(unsafe_code)]

mod attributes;
mod error;
#[cfg(feature = "serde")]
mod hexser;
mod message;
pub mod notification;
mod open;
mod packer;
mod types;
mod update;

pub use bytes::Bytes;
pub use bytes::BytesMut;
pub use ipnet::{IpNet, Ipv4Net, Ipv6Net};

pub use attributes::{
    Aggregator, AsPath, AsSegment, AsSegmentType, AttrFlags, AttributeValue, Community,
    ExtendedCommunity, LargeCommunity, MpNextHop, MpReach, MpUnreach, Origin, PathAttribute,
    attr_type,
};
pub use error::{
    AttributeError, AttributeErrorKind, BGP_VERSION, DecodeError, EncodeError, ErrorAction,
};
pub use message::{
    Framer, MARKER, Message, RouteRefresh, check_header, check_type_length, message_type,
};
pub use notification::Notification;
pub use open::{
    AS_TRANS, AddPathFamily, AddPathMode, Capability, ExtendedNextHopEntry, GracefulRestart,
    GracefulRestartFamily, LlgrFamily, Negotiated, Open, OptionalParameter, PARAM_CAPABILITIES,
    Role, cap_code,
};
pub use packer::{UpdatePacker, pack_announcements, pack_withdrawals};
pub use types::{
    Afi, DecodeContext, EncodeContext, Family, HEADER_LEN, MAX_EXTENDED_MESSAGE_LEN,
    MAX_MESSAGE_LEN, Nlri, Prefix, Safi,
};
pub use update::Update;
