//! The BFD Control packet (RFC 5880 §4.1) and its authentication section (§4.2–§4.4).
//!
//! [`ControlPacket::decode`] performs every packet-level check of RFC 5880 §6.8.6 (the ones that
//! need no session state) and never panics, whatever the bytes. [`ControlPacket::encode`] writes
//! the exact wire form; `decode(encode(p)) == p` for every packet that passes [`ControlPacket::check`].

use std::fmt;
use std::ops::Deref;

use bitflags::bitflags;
use thiserror::Error;

/// The only protocol version this crate speaks (RFC 5880 §4.1 "Version (Vers)").
pub const VERSION: u8 = 1;
/// Length of the mandatory section of a Control packet, in bytes.
pub const MANDATORY_LEN: usize = 24;
/// Length of a keyed (meticulous or not) MD5 authentication section (RFC 5880 §4.3).
pub const MD5_AUTH_LEN: usize = 24;
/// Length of a keyed (meticulous or not) SHA1 authentication section (RFC 5880 §4.4).
pub const SHA1_AUTH_LEN: usize = 28;
/// Largest Control packet this crate produces: mandatory section plus a SHA1 section.
pub const MAX_PACKET_LEN: usize = MANDATORY_LEN + SHA1_AUTH_LEN;
/// Longest simple password (RFC 5880 §4.2: 1 to 16 bytes).
pub const MAX_PASSWORD_LEN: usize = 16;

/// Session state as carried in the Sta field (RFC 5880 §4.1) and held by a [`crate::Session`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum State {
    /// 0 — administratively down.
    AdminDown,
    /// 1 — down.
    Down,
    /// 2 — init (heard the peer, the peer has not yet heard us).
    Init,
    /// 3 — up.
    Up,
}

impl State {
    /// Decodes the two-bit wire value (only the low two bits are used).
    pub const fn from_bits(bits: u8) -> State {
        match bits & 0b11 {
            0 => State::AdminDown,
            1 => State::Down,
            2 => State::Init,
            _ => State::Up,
        }
    }

    /// The two-bit wire value.
    pub const fn bits(self) -> u8 {
        match self {
            State::AdminDown => 0,
            State::Down => 1,
            State::Init => 2,
            State::Up => 3,
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            State::AdminDown => "AdminDown",
            State::Down => "Down",
            State::Init => "Init",
            State::Up => "Up",
        })
    }
}

/// The five-bit diagnostic code (RFC 5880 §4.1 "Diagnostic (Diag)").
///
/// A newtype rather than an enum so that unassigned codes (9–31) survive a decode/encode round
/// trip; the assigned codes are associated constants usable in `match` patterns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Diagnostic(u8);

impl Diagnostic {
    /// 0 — No Diagnostic.
    pub const NONE: Diagnostic = Diagnostic(0);
    /// 1 — Control Detection Time Expired.
    pub const CONTROL_DETECTION_TIME_EXPIRED: Diagnostic = Diagnostic(1);
    /// 2 — Echo Function Failed.
    pub const ECHO_FUNCTION_FAILED: Diagnostic = Diagnostic(2);
    /// 3 — Neighbor Signaled Session Down.
    pub const NEIGHBOR_SIGNALED_SESSION_DOWN: Diagnostic = Diagnostic(3);
    /// 4 — Forwarding Plane Reset.
    pub const FORWARDING_PLANE_RESET: Diagnostic = Diagnostic(4);
    /// 5 — Path Down.
    pub const PATH_DOWN: Diagnostic = Diagnostic(5);
    /// 6 — Concatenated Path Down.
    pub const CONCATENATED_PATH_DOWN: Diagnostic = Diagnostic(6);
    /// 7 — Administratively Down.
    pub const ADMINISTRATIVELY_DOWN: Diagnostic = Diagnostic(7);
    /// 8 — Reverse Concatenated Path Down.
    pub const REVERSE_CONCATENATED_PATH_DOWN: Diagnostic = Diagnostic(8);

    /// Builds a diagnostic from a code; only the low five bits are kept.
    pub const fn from_code(code: u8) -> Diagnostic {
        Diagnostic(code & 0x1f)
    }

    /// The five-bit code.
    pub const fn code(self) -> u8 {
        self.0
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self.0 {
            0 => "No Diagnostic",
            1 => "Control Detection Time Expired",
            2 => "Echo Function Failed",
            3 => "Neighbor Signaled Session Down",
            4 => "Forwarding Plane Reset",
            5 => "Path Down",
            6 => "Concatenated Path Down",
            7 => "Administratively Down",
            8 => "Reverse Concatenated Path Down",
            _ => return write!(f, "Unassigned ({})", self.0),
        };
        write!(f, "{name} ({})", self.0)
    }
}

bitflags! {
    /// The freely settable flag bits of the second byte (RFC 5880 §4.1). The A (authentication
    /// present) bit follows [`ControlPacket::auth`], and the M (multipoint) bit must be zero, so
    /// neither appears here.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
    pub struct Flags: u8 {
        /// P — Poll: the sender asks for a packet with Final set (§6.5).
        const POLL = 0x20;
        /// F — Final: answers a Poll (§6.5).
        const FINAL = 0x10;
        /// C — Control Plane Independent.
        const CONTROL_PLANE_INDEPENDENT = 0x08;
        /// D — Demand mode is active on the sender (§6.6).
        const DEMAND = 0x02;
    }
}

const AUTH_BIT: u8 = 0x04;
const MULTIPOINT_BIT: u8 = 0x01;

/// Authentication type codes (RFC 5880 §4.1 "Auth Type").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuthType {
    /// 1 — Simple Password.
    SimplePassword,
    /// 2 — Keyed MD5.
    KeyedMd5,
    /// 3 — Meticulous Keyed MD5.
    MeticulousKeyedMd5,
    /// 4 — Keyed SHA1.
    KeyedSha1,
    /// 5 — Meticulous Keyed SHA1.
    MeticulousKeyedSha1,
}

impl AuthType {
    /// The wire code.
    pub const fn code(self) -> u8 {
        match self {
            AuthType::SimplePassword => 1,
            AuthType::KeyedMd5 => 2,
            AuthType::MeticulousKeyedMd5 => 3,
            AuthType::KeyedSha1 => 4,
            AuthType::MeticulousKeyedSha1 => 5,
        }
    }

    /// Decodes a wire code; `None` for 0 (reserved) and 6–255.
    pub const fn from_code(code: u8) -> Option<AuthType> {
        Some(match code {
            1 => AuthType::SimplePassword,
            2 => AuthType::KeyedMd5,
            3 => AuthType::MeticulousKeyedMd5,
            4 => AuthType::KeyedSha1,
            5 => AuthType::MeticulousKeyedSha1,
            _ => return None,
        })
    }

    /// Whether the sequence number must increase on every packet (§6.7.3, §6.7.4).
    pub const fn is_meticulous(self) -> bool {
        matches!(
            self,
            AuthType::MeticulousKeyedMd5 | AuthType::MeticulousKeyedSha1
        )
    }
}

/// A simple password of 1 to 16 bytes (RFC 5880 §4.2), stored inline (no allocation).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Password {
    bytes: [u8; MAX_PASSWORD_LEN],
    len: u8,
}

impl Password {
    /// Builds a password; `None` unless `1 <= bytes.len() <= 16`.
    pub fn new(bytes: &[u8]) -> Option<Password> {
        if bytes.is_empty() || bytes.len() > MAX_PASSWORD_LEN {
            return None;
        }
        let mut buf = [0u8; MAX_PASSWORD_LEN];
        buf[..bytes.len()].copy_from_slice(bytes);
        Some(Password {
            bytes: buf,
            len: bytes.len() as u8,
        })
    }

    /// The password bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print secrets.
        write!(f, "Password(<{} bytes>)", self.len)
    }
}

/// The authentication section of a Control packet (RFC 5880 §4.2–§4.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuthSection {
    /// Simple Password (§4.2): Auth Len = 3 + password length.
    SimplePassword {
        /// Auth Key ID.
        key_id: u8,
        /// The password, in clear.
        password: Password,
    },
    /// Keyed MD5 or Meticulous Keyed MD5 (§4.3): Auth Len = 24.
    Md5 {
        /// Meticulous (Auth Type 3) rather than plain keyed (Auth Type 2).
        meticulous: bool,
        /// Auth Key ID.
        key_id: u8,
        /// Sequence Number.
        sequence: u32,
        /// Auth Key/Digest.
        digest: [u8; 16],
    },
    /// Keyed SHA1 or Meticulous Keyed SHA1 (§4.4): Auth Len = 28.
    Sha1 {
        /// Meticulous (Auth Type 5) rather than plain keyed (Auth Type 4).
        meticulous: bool,
        /// Auth Key ID.
        key_id: u8,
        /// Sequence Number.
        sequence: u32,
        /// Auth Key/Hash.
        hash: [u8; 20],
    },
}

impl AuthSection {
    /// The Auth Type of this section.
    pub const fn auth_type(&self) -> AuthType {
        match self {
            AuthSection::SimplePassword { .. } => AuthType::SimplePassword,
            AuthSection::Md5 {
                meticulous: false, ..
            } => AuthType::KeyedMd5,
            AuthSection::Md5 {
                meticulous: true, ..
            } => AuthType::MeticulousKeyedMd5,
            AuthSection::Sha1 {
                meticulous: false, ..
            } => AuthType::KeyedSha1,
            AuthSection::Sha1 {
                meticulous: true, ..
            } => AuthType::MeticulousKeyedSha1,
        }
    }

    /// The Auth Key ID.
    pub const fn key_id(&self) -> u8 {
        match self {
            AuthSection::SimplePassword { key_id, .. }
            | AuthSection::Md5 { key_id, .. }
            | AuthSection::Sha1 { key_id, .. } => *key_id,
        }
    }

    /// The sequence number, for the keyed types.
    pub const fn sequence(&self) -> Option<u32> {
        match self {
            AuthSection::SimplePassword { .. } => None,
            AuthSection::Md5 { sequence, .. } | AuthSection::Sha1 { sequence, .. } => {
                Some(*sequence)
            }
        }
    }

    /// The Auth Len field value: the length of the section in bytes.
    pub fn len(&self) -> usize {
        match self {
            AuthSection::SimplePassword { password, .. } => 3 + password.as_bytes().len(),
            AuthSection::Md5 { .. } => MD5_AUTH_LEN,
            AuthSection::Sha1 { .. } => SHA1_AUTH_LEN,
        }
    }

    /// Always false: a section is never empty (kept for the `len`/`is_empty` convention).
    pub const fn is_empty(&self) -> bool {
        false
    }
}

/// A BFD Control packet (RFC 5880 §4.1). Intervals are in microseconds, as on the wire.
///
/// The version is always [`VERSION`]; the A bit is set exactly when `auth` is `Some`; the M bit
/// is always zero; the Length field is computed on encode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ControlPacket {
    /// Diagnostic code.
    pub diag: Diagnostic,
    /// Sender's session state.
    pub state: State,
    /// P, F, C and D bits.
    pub flags: Flags,
    /// Detect time multiplier (nonzero).
    pub detect_mult: u8,
    /// My Discriminator (nonzero).
    pub my_discr: u32,
    /// Your Discriminator (zero only in Down and AdminDown packets).
    pub your_discr: u32,
    /// Desired Min TX Interval, µs.
    pub desired_min_tx: u32,
    /// Required Min RX Interval, µs.
    pub required_min_rx: u32,
    /// Required Min Echo RX Interval, µs (0: the sender does not do Echo).
    pub required_min_echo_rx: u32,
    /// Authentication section, present exactly when the A bit is set.
    pub auth: Option<AuthSection>,
}

/// Why [`ControlPacket::decode`] rejected some bytes. Each variant is one check of RFC 5880
/// §6.8.6 (or of the authentication section layout of §4.2–§4.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum DecodeError {
    /// Fewer bytes than the 24-byte mandatory section.
    #[error("truncated packet: {len} bytes, the mandatory section needs 24")]
    Truncated {
        /// Bytes received.
        len: usize,
    },
    /// Version field is not 1.
    #[error("unsupported version {0}, expected 1")]
    BadVersion(u8),
    /// Length field below 24 (26 with the A bit set).
    #[error("length field {length} below minimum {min}")]
    LengthTooSmall {
        /// Length field.
        length: u8,
        /// Minimum for this packet (24, or 26 with A set).
        min: u8,
    },
    /// Length field larger than the bytes received.
    #[error("length field {length} exceeds the {payload} bytes received")]
    LengthExceedsPayload {
        /// Length field.
        length: u8,
        /// Bytes received.
        payload: usize,
    },
    /// Detect Mult is zero.
    #[error("detect multiplier is zero")]
    ZeroDetectMult,
    /// Multipoint (M) bit is set.
    #[error("multipoint bit is set")]
    MultipointSet,
    /// My Discriminator is zero.
    #[error("my discriminator is zero")]
    ZeroMyDiscriminator,
    /// Your Discriminator is zero while the state is Init or Up.
    #[error("your discriminator is zero in a packet with state {0}")]
    ZeroYourDiscriminator(State),
    /// A packet must not carry both Poll and Final (§6.5).
    #[error("both poll and final bits are set")]
    PollAndFinal,
    /// Auth Type is 0 (reserved) or unassigned.
    #[error("unknown authentication type {0}")]
    UnknownAuthType(u8),
    /// Auth Len wrong for the Auth Type, or the section does not fit in Length.
    #[error("bad authentication length {auth_len} for type {auth_type} in a {length}-byte packet")]
    BadAuthLength {
        /// Auth Type code.
        auth_type: u8,
        /// Auth Len field.
        auth_len: u8,
        /// Length field of the packet.
        length: u8,
    },
}

/// Stack buffer holding one encoded Control packet; derefs to the bytes to send.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PacketBuf {
    buf: [u8; MAX_PACKET_LEN],
    len: u8,
}

impl PacketBuf {
    /// The encoded bytes (same as deref).
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..usize::from(self.len)]
    }

    pub(crate) fn as_mut_bytes(&mut self) -> &mut [u8] {
        &mut self.buf[..usize::from(self.len)]
    }
}

impl Deref for PacketBuf {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl AsRef<[u8]> for PacketBuf {
    fn as_ref(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl fmt::Debug for PacketBuf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PacketBuf(")?;
        for b in self.as_bytes() {
            write!(f, "{b:02x}")?;
        }
        write!(f, ")")
    }
}

fn be32(b: &[u8], at: usize) -> u32 {
    // Callers index only within the checked 24-byte header or a checked auth section.
    let mut w = [0u8; 4];
    w.copy_from_slice(&b[at..at + 4]);
    u32::from_be_bytes(w)
}

impl ControlPacket {
    /// Decodes and validates one Control packet from a UDP payload.
    ///
    /// Applies, in the order of RFC 5880 §6.8.6, every check that needs no session state.
    /// Bytes after the Length field are ignored. Never panics.
    pub fn decode(payload: &[u8]) -> Result<ControlPacket, DecodeError> {
        let Some(&b0) = payload.first() else {
            return Err(DecodeError::Truncated { len: 0 });
        };
        let version = b0 >> 5;
        // RFC 5880 §6.8.6: if the version number is not correct (1), discard.
        if version != VERSION {
            return Err(DecodeError::BadVersion(version));
        }
        if payload.len() < MANDATORY_LEN {
            return Err(DecodeError::Truncated { len: payload.len() });
        }
        let b1 = payload[1];
        let has_auth = b1 & AUTH_BIT != 0;
        let length = payload[3];
        let min = if has_auth { 26 } else { 24 };
        // RFC 5880 §6.8.6: Length below 24 (26 with A set) is discarded.
        if length < min {
            return Err(DecodeError::LengthTooSmall { length, min });
        }
        // RFC 5880 §6.8.6: Length greater than the encapsulating payload is discarded.
        if usize::from(length) > payload.len() {
            return Err(DecodeError::LengthExceedsPayload {
                length,
                payload: payload.len(),
            });
        }
        let detect_mult = payload[2];
        // RFC 5880 §6.8.6: Detect Mult of zero is discarded.
        if detect_mult == 0 {
            return Err(DecodeError::ZeroDetectMult);
        }
        // RFC 5880 §6.8.6: Multipoint (M) bit nonzero is discarded.
        if b1 & MULTIPOINT_BIT != 0 {
            return Err(DecodeError::MultipointSet);
        }
        let my_discr = be32(payload, 4);
        // RFC 5880 §6.8.6: My Discriminator of zero is discarded.
        if my_discr == 0 {
            return Err(DecodeError::ZeroMyDiscriminator);
        }
        let state = State::from_bits(b1 >> 6);
        let your_discr = be32(payload, 8);
        // RFC 5880 §6.8.6: Your Discriminator zero with State not Down/AdminDown is discarded.
        if your_discr == 0 && !matches!(state, State::Down | State::AdminDown) {
            return Err(DecodeError::ZeroYourDiscriminator(state));
        }
        let flags = Flags::from_bits_truncate(b1);
        // RFC 5880 §6.5: a Control packet MUST NOT have both the Poll and Final bits set.
        if flags.contains(Flags::POLL | Flags::FINAL) {
            return Err(DecodeError::PollAndFinal);
        }
        let auth = if has_auth {
            Some(decode_auth(
                &payload[MANDATORY_LEN..usize::from(length)],
                length,
            )?)
        } else {
            None
        };
        Ok(ControlPacket {
            diag: Diagnostic::from_code(b0),
            state,
            flags,
            detect_mult,
            my_discr,
            your_discr,
            desired_min_tx: be32(payload, 12),
            required_min_rx: be32(payload, 16),
            required_min_echo_rx: be32(payload, 20),
            auth,
        })
    }

    /// The packet-level checks [`decode`](Self::decode) applies, on a packet built in memory.
    /// A packet that passes encodes to bytes that decode back to an equal packet.
    pub fn check(&self) -> Result<(), DecodeError> {
        if self.detect_mult == 0 {
            return Err(DecodeError::ZeroDetectMult);
        }
        if self.my_discr == 0 {
            return Err(DecodeError::ZeroMyDiscriminator);
        }
        if self.your_discr == 0 && !matches!(self.state, State::Down | State::AdminDown) {
            return Err(DecodeError::ZeroYourDiscriminator(self.state));
        }
        if self.flags.contains(Flags::POLL | Flags::FINAL) {
            return Err(DecodeError::PollAndFinal);
        }
        Ok(())
    }

    /// Length of the encoded packet (the Length field).
    pub fn encoded_len(&self) -> usize {
        MANDATORY_LEN + self.auth.as_ref().map_or(0, AuthSection::len)
    }

    /// Encodes the packet exactly as given (digests are written as they are in `auth`; see
    /// [`crate::auth`] to compute them). Does not validate; see [`check`](Self::check).
    pub fn encode(&self) -> PacketBuf {
        let mut buf = [0u8; MAX_PACKET_LEN];
        let len = self.encoded_len();
        buf[0] = (VERSION << 5) | self.diag.code();
        let mut b1 = (self.state.bits() << 6) | self.flags.bits();
        if self.auth.is_some() {
            b1 |= AUTH_BIT;
        }
        buf[1] = b1;
        buf[2] = self.detect_mult;
        buf[3] = len as u8;
        buf[4..8].copy_from_slice(&self.my_discr.to_be_bytes());
        buf[8..12].copy_from_slice(&self.your_discr.to_be_bytes());
        buf[12..16].copy_from_slice(&self.desired_min_tx.to_be_bytes());
        buf[16..20].copy_from_slice(&self.required_min_rx.to_be_bytes());
        buf[20..24].copy_from_slice(&self.required_min_echo_rx.to_be_bytes());
        if let Some(auth) = &self.auth {
            let a = &mut buf[MANDATORY_LEN..len];
            a[0] = auth.auth_type().code();
            a[1] = auth.len() as u8;
            a[2] = auth.key_id();
            match auth {
                AuthSection::SimplePassword { password, .. } => {
                    a[3..].copy_from_slice(password.as_bytes());
                }
                AuthSection::Md5 {
                    sequence, digest, ..
                } => {
                    // a[3] is Reserved: zero on transmit (§4.3).
                    a[4..8].copy_from_slice(&sequence.to_be_bytes());
                    a[8..24].copy_from_slice(digest);
                }
                AuthSection::Sha1 { sequence, hash, .. } => {
                    a[4..8].copy_from_slice(&sequence.to_be_bytes());
                    a[8..28].copy_from_slice(hash);
                }
            }
        }
        PacketBuf {
            buf,
            len: len as u8,
        }
    }
}

/// Decodes the authentication section; `a` is bytes 24..Length of the packet (≥ 2 bytes).
fn decode_auth(a: &[u8], length: u8) -> Result<AuthSection, DecodeError> {
    let auth_type = a[0];
    let auth_len = a[1];
    let bad_len = DecodeError::BadAuthLength {
        auth_type,
        auth_len,
        length,
    };
    let Some(kind) = AuthType::from_code(auth_type) else {
        // RFC 5880 §4.1: Auth Type 0 is reserved, 6-255 unassigned.
        return Err(DecodeError::UnknownAuthType(auth_type));
    };
    // RFC 5880 §4.2-§4.4: the section (Auth Len bytes) lies within the packet.
    if usize::from(auth_len) > a.len() {
        return Err(bad_len);
    }
    let a = &a[..usize::from(auth_len)];
    match kind {
        AuthType::SimplePassword => {
            // RFC 5880 §4.2: password is 1 to 16 bytes, so Auth Len is 4 to 19.
            if !(4..=3 + MAX_PASSWORD_LEN).contains(&a.len()) {
                return Err(bad_len);
            }
            let password = Password::new(&a[3..]).ok_or(bad_len)?;
            Ok(AuthSection::SimplePassword {
                key_id: a[2],
                password,
            })
        }
        AuthType::KeyedMd5 | AuthType::MeticulousKeyedMd5 => {
            // RFC 5880 §4.3: Auth Len is 24 for (Meticulous) Keyed MD5.
            if a.len() != MD5_AUTH_LEN {
                return Err(bad_len);
            }
            let mut digest = [0u8; 16];
            digest.copy_from_slice(&a[8..24]);
            Ok(AuthSection::Md5 {
                meticulous: kind.is_meticulous(),
                key_id: a[2],
                sequence: be32(a, 4),
                digest,
            })
        }
        AuthType::KeyedSha1 | AuthType::MeticulousKeyedSha1 => {
            // RFC 5880 §4.4: Auth Len is 28 for (Meticulous) Keyed SHA1.
            if a.len() != SHA1_AUTH_LEN {
                return Err(bad_len);
            }
            let mut hash = [0u8; 20];
            hash.copy_from_slice(&a[8..28]);
            Ok(AuthSection::Sha1 {
                meticulous: kind.is_meticulous(),
                key_id: a[2],
                sequence: be32(a, 4),
                hash,
            })
        }
    }
}
