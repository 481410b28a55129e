//! Authentication (RFC 5880 §6.7): simple password, keyed and meticulous keyed MD5 and SHA1.
//!
//! The digest is computed over the whole packet with the Auth Key/Digest field replaced by the
//! key, zero-padded to the digest length (§6.7.3, §6.7.4). Sequence numbers compare in the
//! unsigned 32-bit circular space.

use std::fmt;

use md5::{Digest, Md5};
use sha1::Sha1;
use thiserror::Error;

use crate::packet::{AuthSection, AuthType, MANDATORY_LEN, Password};

/// Offset of the digest inside the authentication section of the keyed types.
const DIGEST_OFFSET: usize = 8;

/// Authentication configured on a session: one key, identified by its Key ID.
#[derive(Clone, PartialEq, Eq)]
pub struct AuthConfig {
    /// Which authentication type to send and to require.
    pub auth_type: AuthType,
    /// The Auth Key ID sent, and required on received packets.
    pub key_id: u8,
    /// The key: 1–16 bytes for simple password and MD5, 1–20 bytes for SHA1.
    pub key: Vec<u8>,
}

impl fmt::Debug for AuthConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print secrets.
        f.debug_struct("AuthConfig")
            .field("auth_type", &self.auth_type)
            .field("key_id", &self.key_id)
            .field("key", &format_args!("<{} bytes>", self.key.len()))
            .finish()
    }
}

impl AuthConfig {
    /// Largest key accepted for the configured type.
    pub const fn max_key_len(auth_type: AuthType) -> usize {
        match auth_type {
            AuthType::SimplePassword | AuthType::KeyedMd5 | AuthType::MeticulousKeyedMd5 => 16,
            AuthType::KeyedSha1 | AuthType::MeticulousKeyedSha1 => 20,
        }
    }

    /// Checks the key length for the type (RFC 5880 §4.2–§4.4).
    pub fn validate(&self) -> Result<(), AuthConfigError> {
        let max = Self::max_key_len(self.auth_type);
        if self.key.is_empty() || self.key.len() > max {
            return Err(AuthConfigError::KeyLength {
                len: self.key.len(),
                max,
            });
        }
        Ok(())
    }
}

/// An [`AuthConfig`] that cannot be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum AuthConfigError {
    /// Key is empty or too long for the type.
    #[error("key of {len} bytes, expected 1 to {max}")]
    KeyLength {
        /// Key length given.
        len: usize,
        /// Maximum for the type.
        max: usize,
    },
}

/// Why an authenticated packet was dropped (RFC 5880 §6.7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum AuthError {
    /// The packet's Auth Type is not the configured one.
    #[error("authentication type {received:?}, configured {configured:?}")]
    TypeMismatch {
        /// Auth Type in the packet.
        received: AuthType,
        /// Configured Auth Type.
        configured: AuthType,
    },
    /// The Auth Key ID is not the configured key's.
    #[error("key id {received}, configured {configured}")]
    KeyIdMismatch {
        /// Key ID in the packet.
        received: u8,
        /// Configured key ID.
        configured: u8,
    },
    /// Simple password differs.
    #[error("wrong password")]
    BadPassword,
    /// Digest (MD5) or hash (SHA1) does not match.
    #[error("wrong digest")]
    BadDigest,
    /// Sequence number outside the accepted window (replay or too far ahead).
    #[error("sequence number {received} outside the window {low}..={high}")]
    SequenceOutOfWindow {
        /// Sequence number received.
        received: u32,
        /// Lowest accepted (circular).
        low: u32,
        /// Highest accepted (circular).
        high: u32,
    },
}

/// Receive-side sequence state (RFC 5880 §6.8.1 bfd.RcvAuthSeq / bfd.AuthSeqKnown).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RcvSeq {
    /// bfd.RcvAuthSeq, when bfd.AuthSeqKnown is 1.
    pub last: Option<u32>,
}

/// The window of acceptable sequence numbers, as `(low, high)` inclusive in circular space, or
/// `None` when any number is accepted (bfd.AuthSeqKnown is 0).
pub fn seq_window(rcv: RcvSeq, meticulous: bool, detect_mult: u8) -> Option<(u32, u32)> {
    let last = rcv.last?;
    let span = 3 * u32::from(detect_mult);
    // RFC 5880 §6.7.3: keyed accepts RcvAuthSeq..=RcvAuthSeq+3*DetectMult, meticulous from +1.
    let low = if meticulous {
        last.wrapping_add(1)
    } else {
        last
    };
    Some((low, last.wrapping_add(span)))
}

/// Whether `seq` lies in `low..=high` in the unsigned 32-bit circular number space.
pub fn in_circular_window(seq: u32, low: u32, high: u32) -> bool {
    seq.wrapping_sub(low) <= high.wrapping_sub(low)
}

fn keyed_digest(auth_type: AuthType, packet: &mut [u8], key: &[u8], out: &mut [u8]) {
    // RFC 5880 §6.7.3/§6.7.4: the digest field holds the key, zero padded, while hashing.
    let field = MANDATORY_LEN + DIGEST_OFFSET;
    let dlen = out.len();
    let Some(slot) = packet.get_mut(field..field + dlen) else {
        return;
    };
    slot.fill(0);
    let klen = key.len().min(dlen);
    slot[..klen].copy_from_slice(&key[..klen]);
    match auth_type {
        AuthType::KeyedSha1 | AuthType::MeticulousKeyedSha1 => {
            let h: [u8; 20] = Sha1::digest(&*packet).into();
            out.copy_from_slice(&h[..dlen.min(20)]);
        }
        _ => {
            let h: [u8; 16] = Md5::digest(&*packet).into();
            out.copy_from_slice(&h[..dlen.min(16)]);
        }
    }
}

/// The authentication section to send with sequence number `seq` (digest still zero:
/// call [`sign`] on the encoded packet). `None` only for a simple password that fails
/// [`AuthConfig::validate`].
pub fn section_for(config: &AuthConfig, seq: u32) -> Option<AuthSection> {
    Some(match config.auth_type {
        AuthType::SimplePassword => AuthSection::SimplePassword {
            key_id: config.key_id,
            password: Password::new(&config.key)?,
        },
        t @ (AuthType::KeyedMd5 | AuthType::MeticulousKeyedMd5) => AuthSection::Md5 {
            meticulous: t.is_meticulous(),
            key_id: config.key_id,
            sequence: seq,
            digest: [0; 16],
        },
        t @ (AuthType::KeyedSha1 | AuthType::MeticulousKeyedSha1) => AuthSection::Sha1 {
            meticulous: t.is_meticulous(),
            key_id: config.key_id,
            sequence: seq,
            hash: [0; 20],
        },
    })
}

/// Fills the digest of an encoded keyed MD5/SHA1 packet in place. No-op for simple password
/// or packets without an authentication section.
pub fn sign(config: &AuthConfig, packet: &mut [u8]) {
    let dlen = match config.auth_type {
        AuthType::SimplePassword => return,
        AuthType::KeyedMd5 | AuthType::MeticulousKeyedMd5 => 16,
        AuthType::KeyedSha1 | AuthType::MeticulousKeyedSha1 => 20,
    };
    let mut out = [0u8; 20];
    keyed_digest(config.auth_type, packet, &config.key, &mut out[..dlen]);
    let field = MANDATORY_LEN + DIGEST_OFFSET;
    if let Some(slot) = packet.get_mut(field..field + dlen) {
        slot.copy_from_slice(&out[..dlen]);
    }
}

/// Verifies a received section against the configuration (RFC 5880 §6.7.2–§6.7.4).
///
/// `packet` is the received bytes up to the Length field; `detect_mult` is the packet's Detect
/// Mult. On success returns the sequence number to store as bfd.RcvAuthSeq (for keyed types).
/// Changes nothing: the caller commits the returned sequence number.
pub fn verify(
    config: &AuthConfig,
    section: &AuthSection,
    packet: &[u8],
    detect_mult: u8,
    rcv: RcvSeq,
) -> Result<Option<u32>, AuthError> {
    let received = section.auth_type();
    // RFC 5880 §6.7.2-§6.7.4: Auth Type must match bfd.AuthType.
    if received != config.auth_type {
        return Err(AuthError::TypeMismatch {
            received,
            configured: config.auth_type,
        });
    }
    // RFC 5880 §6.7.2-§6.7.4: Auth Key ID must match a configured key.
    if section.key_id() != config.key_id {
        return Err(AuthError::KeyIdMismatch {
            received: section.key_id(),
            configured: config.key_id,
        });
    }
    match section {
        AuthSection::SimplePassword { password, .. } => {
            // RFC 5880 §6.7.2: the password must match the configured one.
            if password.as_bytes() == config.key.as_slice() {
                Ok(None)
            } else {
                Err(AuthError::BadPassword)
            }
        }
        AuthSection::Md5 {
            meticulous,
            sequence,
            digest,
            ..
        } => verify_keyed(
            config,
            *meticulous,
            *sequence,
            digest,
            packet,
            detect_mult,
            rcv,
        ),
        AuthSection::Sha1 {
            meticulous,
            sequence,
            hash,
            ..
        } => verify_keyed(
            config,
            *meticulous,
            *sequence,
            hash,
            packet,
            detect_mult,
            rcv,
        ),
    }
}

fn verify_keyed(
    config: &AuthConfig,
    meticulous: bool,
    sequence: u32,
    received_digest: &[u8],
    packet: &[u8],
    detect_mult: u8,
    rcv: RcvSeq,
) -> Result<Option<u32>, AuthError> {
    // RFC 5880 §6.7.3/§6.7.4: with bfd.AuthSeqKnown, the sequence number must be in the window.
    if let Some((low, high)) = seq_window(rcv, meticulous, detect_mult) {
        if !in_circular_window(sequence, low, high) {
            return Err(AuthError::SequenceOutOfWindow {
                received: sequence,
                low,
                high,
            });
        }
    }
    // Length is one byte, so a packet is at most 255 bytes: hash a stack copy.
    let mut copy = [0u8; 256];
    let Some(buf) = copy.get_mut(..packet.len()) else {
        return Err(AuthError::BadDigest);
    };
    buf.copy_from_slice(packet);
    let dlen = received_digest.len();
    let mut computed = [0u8; 20];
    keyed_digest(config.auth_type, buf, &config.key, &mut computed[..dlen]);
    // RFC 5880 §6.7.3/§6.7.4: the computed digest must equal the received one.
    if !constant_time_eq(&computed[..dlen], received_digest) {
        return Err(AuthError::BadDigest);
    }
    Ok(Some(sequence))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
