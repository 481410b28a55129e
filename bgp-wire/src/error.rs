//! Typed errors and THE one place that maps each of them to a NOTIFICATION.

use std::net::Ipv4Addr;

use bytes::Bytes;

use crate::notification::{
    Notification, code, header_subcode, open_subcode, route_refresh_subcode, update_subcode,
};

/// What RFC 7606 says to do about an error in an UPDATE message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub enum ErrorAction {
    /// RFC 7606 §2 "attribute discard": the attribute was dropped, the rest of the
    /// UPDATE is used as usual.
    AttributeDiscard,
    /// RFC 7606 §2 "treat-as-withdraw": every NLRI of the UPDATE (traditional and
    /// MP_REACH) must be handled as if it had been withdrawn.
    TreatAsWithdraw,
    /// RFC 4271 §6 / RFC 7606 §2 "session reset": send the NOTIFICATION and close.
    SessionReset,
}

/// The kind of a path attribute error; decides the NOTIFICATION subcode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub enum AttributeErrorKind {
    /// RFC 4271 §6.3: Attribute Flags Error (3/4), data = the attribute.
    Flags,
    /// RFC 4271 §6.3: Attribute Length Error (3/5), data = the attribute.
    Length,
    /// RFC 4271 §6.3: Invalid ORIGIN Attribute (3/6), data = the attribute.
    InvalidOrigin,
    /// RFC 4271 §6.3: Invalid NEXT_HOP Attribute (3/8), data = the attribute.
    InvalidNextHop,
    /// RFC 4271 §6.3: Optional Attribute Error (3/9), data = the attribute.
    Malformed,
    /// RFC 4271 §6.3: Malformed AS_PATH (3/11), data empty.
    MalformedAsPath,
    /// RFC 4271 §6.3: Unrecognized Well-known Attribute (3/2), data = the attribute.
    UnrecognizedWellKnown,
    /// RFC 4271 §6.3: Missing Well-known Attribute (3/3), data = the type code.
    MissingWellKnown,
    /// RFC 7606 §3(g): an attribute appeared more than once (3/1, data empty).
    Duplicate,
    /// RFC 7606 §4: an attribute header or length runs past the path attribute
    /// block (3/1 Malformed Attribute List, data empty).
    Overrun,
    /// RFC 4760 / RFC 7606 §5.3: NLRI inside MP_REACH/MP_UNREACH unparsable
    /// (3/10 Invalid Network Field, data empty).
    InvalidNetworkField,
}

/// An error in one path attribute, with the RFC 7606 action to take.
#[derive(Debug, Clone, PartialEq, Eq, Hash, thiserror::Error)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[error("path attribute {type_code}: {kind:?} ({action:?})")]
pub struct AttributeError {
    /// What was wrong.
    pub kind: AttributeErrorKind,
    /// The attribute type code concerned (0 when the header itself was unreadable).
    pub type_code: u8,
    /// The whole attribute as received (flags, type, length, value), or empty.
    #[cfg_attr(feature = "serde", serde(serialize_with = "crate::hexser::bytes"))]
    pub attribute: Bytes,
    /// What RFC 7606 says to do.
    pub action: ErrorAction,
}

/// A decode error. Each variant knows its NOTIFICATION ([`DecodeError::notification`])
/// and its RFC 7606 action ([`DecodeError::action`]).
///
/// Variants are also used by the session layer (e.g. [`DecodeError::BadPeerAs`],
/// [`DecodeError::RoleMismatch`]) so that every NOTIFICATION caused by a received
/// message is built in one place.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// RFC 4271 §6.1: the marker is not all ones (1/1, no data).
    #[error("message header: connection not synchronized (bad marker)")]
    ConnectionNotSynchronized,
    /// RFC 4271 §6.1: bad length (1/2, data = the 2-byte length field).
    #[error("message header: bad message length {length}")]
    BadMessageLength {
        /// The length field as received.
        length: u16,
    },
    /// RFC 4271 §6.1: unknown message type (1/3, data = the type byte).
    #[error("message header: bad message type {msg_type}")]
    BadMessageType {
        /// The type byte as received.
        msg_type: u8,
    },
    /// RFC 4271 §6.2: version not 4 (2/1, data = 2-byte largest supported version).
    #[error("OPEN: unsupported version {version}")]
    UnsupportedVersion {
        /// The version received.
        version: u8,
    },
    /// RFC 4271 §6.2: peer AS unacceptable (2/2, data = the AS field: 2 bytes when
    /// it fits, 4 bytes for a 4-octet AS).
    #[error("OPEN: bad peer AS {asn}")]
    BadPeerAs {
        /// The AS received.
        asn: u32,
    },
    /// RFC 4271 §6.2 / RFC 6286: BGP identifier unacceptable (2/3, data = the identifier).
    #[error("OPEN: bad BGP identifier {id}")]
    BadBgpIdentifier {
        /// The identifier received.
        id: Ipv4Addr,
    },
    /// RFC 4271 §6.2: an optional parameter we do not support (2/4, data = the parameter).
    #[error("OPEN: unsupported optional parameter {param_type}")]
    UnsupportedOptionalParameter {
        /// Its type.
        param_type: u8,
        /// The whole parameter (type, length, value) as received.
        parameter: Bytes,
    },
    /// RFC 4271 §6.2: hold time 1 or 2 seconds, or refused by policy (2/6, data = the 2-byte hold time).
    #[error("OPEN: unacceptable hold time {hold_time}")]
    UnacceptableHoldTime {
        /// The hold time received.
        hold_time: u16,
    },
    /// RFC 5492 §5: a required capability is missing or unsupported (2/7, data = the capability TLVs).
    #[error("OPEN: unsupported capability")]
    UnsupportedCapability {
        /// Capability TLVs (code, length, value) as they go in the data field.
        capabilities: Bytes,
    },
    /// RFC 9234 §4.2: BGP role mismatch (2/11, no data).
    #[error("OPEN: role mismatch")]
    RoleMismatch,
    /// OPEN structurally broken (optional parameter lengths inconsistent): 2/0, no data.
    #[error("OPEN: malformed ({reason})")]
    MalformedOpen {
        /// What was wrong.
        reason: &'static str,
    },
    /// A known capability with an impossible length or value: 2/0, data = the capability TLV.
    #[error("OPEN: malformed capability {code}")]
    MalformedCapability {
        /// The capability code.
        code: u8,
        /// The capability TLV as received.
        capability: Bytes,
    },
    /// RFC 4271 §6.3: withdrawn routes or total attribute length inconsistent
    /// with the message length (3/1, no data).
    #[error("UPDATE: malformed attribute list ({reason})")]
    MalformedAttributeList {
        /// What was wrong.
        reason: &'static str,
    },
    /// RFC 4271 §6.3 / RFC 7606 §5.3: withdrawn routes or NLRI field syntactically
    /// incorrect (3/10, no data).
    #[error("UPDATE: invalid network field ({reason})")]
    InvalidNetworkField {
        /// What was wrong.
        reason: &'static str,
    },
    /// A path attribute error whose RFC 7606 action is session reset.
    #[error("UPDATE: {0}")]
    Attribute(AttributeError),
    /// RFC 7313 §5: an enhanced ROUTE-REFRESH (subtype 1 or 2) whose length is not
    /// 23 (7/1, data = the complete message).
    #[error("ROUTE-REFRESH: invalid message length")]
    RouteRefreshInvalidLength {
        /// The complete message as received.
        message: Bytes,
    },
}

/// The largest BGP version this crate speaks.
pub const BGP_VERSION: u8 = 4;

impl DecodeError {
    /// RFC 5492 §5: Unsupported Capability carrying `caps` encoded as TLVs (what
    /// the session sends when the peer lacks a capability it requires).
    pub fn unsupported_capability(caps: &[crate::Capability]) -> DecodeError {
        let mut b = bytes::BytesMut::new();
        for c in caps {
            // A capability that cannot be encoded (over 255 bytes) is left out.
            let before = b.len();
            if c.encode(&mut b).is_err() {
                b.truncate(before);
            }
        }
        DecodeError::UnsupportedCapability {
            capabilities: b.freeze(),
        }
    }

    /// THE mapping of every error to the NOTIFICATION to send (code, subcode, data
    /// as RFC 4271 §6 and the extension RFCs specify).
    pub fn notification(&self) -> Notification {
        use DecodeError as E;
        match self {
            E::ConnectionNotSynchronized => Notification::new(
                code::MESSAGE_HEADER,
                header_subcode::CONNECTION_NOT_SYNCHRONIZED,
                Bytes::new(),
            ),
            // RFC 4271 §6.1: "the Data field MUST contain the erroneous Length field".
            E::BadMessageLength { length } => Notification::new(
                code::MESSAGE_HEADER,
                header_subcode::BAD_MESSAGE_LENGTH,
                Bytes::copy_from_slice(&length.to_be_bytes()),
            ),
            // RFC 4271 §6.1: "the Data field MUST contain the erroneous Type field".
            E::BadMessageType { msg_type } => Notification::new(
                code::MESSAGE_HEADER,
                header_subcode::BAD_MESSAGE_TYPE,
                Bytes::copy_from_slice(&[*msg_type]),
            ),
            // RFC 4271 §6.2: data is a 2-octet unsigned integer, the largest supported version.
            E::UnsupportedVersion { .. } => Notification::new(
                code::OPEN_MESSAGE,
                open_subcode::UNSUPPORTED_VERSION,
                Bytes::copy_from_slice(&u16::from(BGP_VERSION).to_be_bytes()),
            ),
            E::BadPeerAs { asn } => {
                let data = match u16::try_from(*asn) {
                    Ok(a) => Bytes::copy_from_slice(&a.to_be_bytes()),
                    Err(_) => Bytes::copy_from_slice(&asn.to_be_bytes()),
                };
                Notification::new(code::OPEN_MESSAGE, open_subcode::BAD_PEER_AS, data)
            }
            E::BadBgpIdentifier { id } => Notification::new(
                code::OPEN_MESSAGE,
                open_subcode::BAD_BGP_IDENTIFIER,
                Bytes::copy_from_slice(&id.octets()),
            ),
            E::UnsupportedOptionalParameter { parameter, .. } => Notification::new(
                code::OPEN_MESSAGE,
                open_subcode::UNSUPPORTED_OPTIONAL_PARAMETER,
                parameter.clone(),
            ),
            E::UnacceptableHoldTime { hold_time } => Notification::new(
                code::OPEN_MESSAGE,
                open_subcode::UNACCEPTABLE_HOLD_TIME,
                Bytes::copy_from_slice(&hold_time.to_be_bytes()),
            ),
            // RFC 5492 §5: data = the capabilities (code, length, value) not supported.
            E::UnsupportedCapability { capabilities } => Notification::new(
                code::OPEN_MESSAGE,
                open_subcode::UNSUPPORTED_CAPABILITY,
                capabilities.clone(),
            ),
            E::RoleMismatch => Notification::new(
                code::OPEN_MESSAGE,
                open_subcode::ROLE_MISMATCH,
                Bytes::new(),
            ),
            E::MalformedOpen { .. } => {
                Notification::new(code::OPEN_MESSAGE, open_subcode::UNSPECIFIC, Bytes::new())
            }
            E::MalformedCapability { capability, .. } => Notification::new(
                code::OPEN_MESSAGE,
                open_subcode::UNSPECIFIC,
                capability.clone(),
            ),
            E::MalformedAttributeList { .. } => Notification::new(
                code::UPDATE_MESSAGE,
                update_subcode::MALFORMED_ATTRIBUTE_LIST,
                Bytes::new(),
            ),
            E::InvalidNetworkField { .. } => Notification::new(
                code::UPDATE_MESSAGE,
                update_subcode::INVALID_NETWORK_FIELD,
                Bytes::new(),
            ),
            E::Attribute(a) => a.notification(),
            // RFC 7313 §5: data = the complete ROUTE-REFRESH message.
            E::RouteRefreshInvalidLength { message } => Notification::new(
                code::ROUTE_REFRESH,
                route_refresh_subcode::INVALID_MESSAGE_LENGTH,
                message.clone(),
            ),
        }
    }

    /// The RFC 7606 action: always [`ErrorAction::SessionReset`] for a returned
    /// error, except [`DecodeError::Attribute`] which carries its own.
    pub fn action(&self) -> ErrorAction {
        match self {
            DecodeError::Attribute(a) => a.action,
            _ => ErrorAction::SessionReset,
        }
    }
}

impl AttributeError {
    /// The NOTIFICATION for this attribute error (sent only when its action is
    /// session reset; exposed for logging the others).
    pub fn notification(&self) -> Notification {
        use AttributeErrorKind as K;
        let (sub, data) = match self.kind {
            K::Flags => (
                update_subcode::ATTRIBUTE_FLAGS_ERROR,
                self.attribute.clone(),
            ),
            K::Length => (
                update_subcode::ATTRIBUTE_LENGTH_ERROR,
                self.attribute.clone(),
            ),
            K::InvalidOrigin => (update_subcode::INVALID_ORIGIN, self.attribute.clone()),
            K::InvalidNextHop => (update_subcode::INVALID_NEXT_HOP, self.attribute.clone()),
            K::Malformed => (
                update_subcode::OPTIONAL_ATTRIBUTE_ERROR,
                self.attribute.clone(),
            ),
            // RFC 4271 §6.3: Malformed AS_PATH carries no data.
            K::MalformedAsPath => (update_subcode::MALFORMED_AS_PATH, Bytes::new()),
            K::UnrecognizedWellKnown => (
                update_subcode::UNRECOGNIZED_WELL_KNOWN_ATTRIBUTE,
                self.attribute.clone(),
            ),
            // RFC 4271 §6.3: "the Data field MUST contain the Attribute Type Code of the missing, well-known attribute".
            K::MissingWellKnown => (
                update_subcode::MISSING_WELL_KNOWN_ATTRIBUTE,
                Bytes::copy_from_slice(&[self.type_code]),
            ),
            K::Duplicate | K::Overrun => (update_subcode::MALFORMED_ATTRIBUTE_LIST, Bytes::new()),
            K::InvalidNetworkField => (update_subcode::INVALID_NETWORK_FIELD, Bytes::new()),
        };
        Notification::new(code::UPDATE_MESSAGE, sub, data)
    }
}

impl From<AttributeError> for DecodeError {
    fn from(e: AttributeError) -> Self {
        DecodeError::Attribute(e)
    }
}

/// An encode error: the value cannot be represented on the wire.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// The message would exceed the negotiated maximum length.
    #[error("message of {len} bytes exceeds the maximum of {max}")]
    MessageTooLong {
        /// Length the message would have.
        len: usize,
        /// The maximum allowed.
        max: usize,
    },
    /// A field whose length is one byte (or two) got a longer value.
    #[error("{what} too long ({len} bytes)")]
    FieldTooLong {
        /// Which field.
        what: &'static str,
        /// Its length.
        len: usize,
    },
    /// An IPv6 prefix in a field that carries only IPv4 (traditional NLRI or
    /// withdrawn routes), or a prefix whose family does not match its MP attribute.
    #[error("prefix {0} does not belong in this field")]
    WrongFamily(ipnet::IpNet),
    /// An MP_REACH/MP_UNREACH of a family whose NLRI this crate cannot encode.
    #[error("cannot encode NLRI of family {0}")]
    UnsupportedFamily(crate::types::Family),
    /// The update packer was given announcements for a family but no next hop
    /// (NEXT_HOP for IPv4, MP_REACH_NLRI for IPv6).
    #[error("no next hop for {0}")]
    MissingNextHop(crate::types::Family),
}
