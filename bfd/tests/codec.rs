//! Packet codec: every RFC 5880 §6.8.6 validation failure, round trips, arbitrary bytes.

use std::time::Instant;

use bfd::{
    AuthSection, ControlPacket, DecodeError, Diagnostic, Flags, Password, RxError, Session,
    SessionConfig, SplitMix64, State,
};
use proptest::prelude::*;

fn base() -> ControlPacket {
    ControlPacket {
        diag: Diagnostic::NONE,
        state: State::Up,
        flags: Flags::empty(),
        detect_mult: 3,
        my_discr: 0x1122_3344,
        your_discr: 0x5566_7788,
        desired_min_tx: 300_000,
        required_min_rx: 250_000,
        required_min_echo_rx: 0,
        auth: None,
    }
}

#[test]
fn wire_layout_of_the_mandatory_section() {
    let p = ControlPacket {
        diag: Diagnostic::NEIGHBOR_SIGNALED_SESSION_DOWN,
        flags: Flags::POLL | Flags::CONTROL_PLANE_INDEPENDENT,
        ..base()
    };
    let bytes = p.encode();
    assert_eq!(
        &bytes[..],
        &[
            0x23, // version 1, diag 3
            0xe8, // state Up (3), P, C
            3, 24, // detect mult, length
            0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, // discriminators
            0x00, 0x04, 0x93, 0xe0, // 300000
            0x00, 0x03, 0xd0, 0x90, // 250000
            0, 0, 0, 0,
        ][..]
    );
    assert_eq!(ControlPacket::decode(&bytes), Ok(p));
}

#[test]
fn wire_layout_of_auth_sections() {
    let simple = ControlPacket {
        auth: Some(AuthSection::SimplePassword {
            key_id: 9,
            password: Password::new(b"abc").unwrap(),
        }),
        ..base()
    };
    let b = simple.encode();
    assert_eq!(b[1] & 0x04, 0x04, "A bit");
    assert_eq!(b[3], 30);
    assert_eq!(&b[24..], &[1, 6, 9, b'a', b'b', b'c']);
    let md5 = ControlPacket {
        auth: Some(AuthSection::Md5 {
            meticulous: true,
            key_id: 2,
            sequence: 0x0102_0304,
            digest: [0xaa; 16],
        }),
        ..base()
    };
    let b = md5.encode();
    assert_eq!(b[3], 48);
    assert_eq!(&b[24..32], &[3, 24, 2, 0, 1, 2, 3, 4]);
    assert_eq!(&b[32..], &[0xaa; 16]);
    let sha1 = ControlPacket {
        auth: Some(AuthSection::Sha1 {
            meticulous: false,
            key_id: 2,
            sequence: 7,
            hash: [0xbb; 20],
        }),
        ..base()
    };
    let b = sha1.encode();
    assert_eq!(b[3], 52);
    assert_eq!(&b[24..32], &[4, 28, 2, 0, 0, 0, 0, 7]);
    for p in [simple, md5, sha1] {
        assert_eq!(ControlPacket::decode(&p.encode()), Ok(p));
    }
}

/// Encoded `base()` with a patch applied to the bytes.
fn patched(f: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let mut v = base().encode().to_vec();
    f(&mut v);
    v
}

#[test]
fn every_validation_failure_has_its_error() {
    let cases: Vec<(Vec<u8>, DecodeError)> = vec![
        (vec![], DecodeError::Truncated { len: 0 }),
        (
            patched(|v| v.truncate(23)),
            DecodeError::Truncated { len: 23 },
        ),
        // RFC 5880 §6.8.6: version must be 1.
        (
            patched(|v| v[0] = (2 << 5) | (v[0] & 0x1f)),
            DecodeError::BadVersion(2),
        ),
        (patched(|v| v[0] &= 0x1f), DecodeError::BadVersion(0)),
        // Length below 24, or 26 with A set.
        (
            patched(|v| v[3] = 23),
            DecodeError::LengthTooSmall {
                length: 23,
                min: 24,
            },
        ),
        (
            patched(|v| {
                v[1] |= 0x04;
                v[3] = 25;
                v.extend_from_slice(&[1, 4, 1, b'x']);
            }),
            DecodeError::LengthTooSmall {
                length: 25,
                min: 26,
            },
        ),
        // Length beyond the payload.
        (
            patched(|v| v[3] = 25),
            DecodeError::LengthExceedsPayload {
                length: 25,
                payload: 24,
            },
        ),
        // Detect Mult zero.
        (patched(|v| v[2] = 0), DecodeError::ZeroDetectMult),
        // Multipoint bit.
        (patched(|v| v[1] |= 0x01), DecodeError::MultipointSet),
        // My Discriminator zero.
        (
            patched(|v| v[4..8].fill(0)),
            DecodeError::ZeroMyDiscriminator,
        ),
        // Your Discriminator zero in Up and in Init.
        (
            patched(|v| v[8..12].fill(0)),
            DecodeError::ZeroYourDiscriminator(State::Up),
        ),
        (
            patched(|v| {
                v[8..12].fill(0);
                v[1] = (v[1] & 0x3f) | (2 << 6);
            }),
            DecodeError::ZeroYourDiscriminator(State::Init),
        ),
        // Poll and Final together.
        (patched(|v| v[1] |= 0x30), DecodeError::PollAndFinal),
        // Auth sections.
        (
            patched(|v| {
                v[1] |= 0x04;
                v.extend_from_slice(&[0, 4, 1, b'x']);
                v[3] = 28;
            }),
            DecodeError::UnknownAuthType(0),
        ),
        (
            patched(|v| {
                v[1] |= 0x04;
                v.extend_from_slice(&[6, 4, 1, b'x']);
                v[3] = 28;
            }),
            DecodeError::UnknownAuthType(6),
        ),
        (
            // Simple password with an empty password (Auth Len 3).
            patched(|v| {
                v[1] |= 0x04;
                v.extend_from_slice(&[1, 3, 1]);
                v[3] = 27;
            }),
            DecodeError::BadAuthLength {
                auth_type: 1,
                auth_len: 3,
                length: 27,
            },
        ),
        (
            // Auth Len larger than what Length leaves.
            patched(|v| {
                v[1] |= 0x04;
                v.extend_from_slice(&[1, 8, 1, b'x']);
                v[3] = 28;
            }),
            DecodeError::BadAuthLength {
                auth_type: 1,
                auth_len: 8,
                length: 28,
            },
        ),
        (
            // MD5 with Auth Len 28.
            patched(|v| {
                v[1] |= 0x04;
                v.extend_from_slice(&[2, 28]);
                v.resize(52, 0);
                v[3] = 52;
            }),
            DecodeError::BadAuthLength {
                auth_type: 2,
                auth_len: 28,
                length: 52,
            },
        ),
        (
            // SHA1 with Auth Len 24.
            patched(|v| {
                v[1] |= 0x04;
                v.extend_from_slice(&[5, 24]);
                v.resize(48, 0);
                v[3] = 48;
            }),
            DecodeError::BadAuthLength {
                auth_type: 5,
                auth_len: 24,
                length: 48,
            },
        ),
    ];
    for (bytes, expected) in cases {
        assert_eq!(ControlPacket::decode(&bytes), Err(expected), "{bytes:02x?}");
        // The session reports the same error, wrapped.
        let t0 = Instant::now();
        let mut s = Session::new(
            SessionConfig::default(),
            0x5566_7788,
            t0,
            SplitMix64::new(1),
        )
        .unwrap();
        let before = format!("{s:?}");
        assert_eq!(s.handle_packet(t0, &bytes), Err(RxError::Decode(expected)));
        assert_eq!(format!("{s:?}"), before, "a dropped packet changes nothing");
    }
}

#[test]
fn your_discriminator_zero_is_fine_in_down_and_admin_down() {
    for st in [State::Down, State::AdminDown] {
        let p = ControlPacket {
            state: st,
            your_discr: 0,
            ..base()
        };
        assert_eq!(ControlPacket::decode(&p.encode()), Ok(p));
    }
}

#[test]
fn session_level_checks() {
    let t0 = Instant::now();
    let mut s = Session::new(SessionConfig::default(), 42, t0, SplitMix64::new(1)).unwrap();
    // RFC 5880 §6.8.6: Your Discriminator selects the session.
    let p = ControlPacket {
        your_discr: 41,
        ..base()
    };
    assert_eq!(
        s.handle_packet(t0, &p.encode()),
        Err(RxError::DiscriminatorMismatch {
            received: 41,
            local: 42
        })
    );
    assert_eq!(s.remote_discr(), 0);
}

#[test]
fn trailing_bytes_after_length_are_ignored() {
    let mut v = base().encode().to_vec();
    v.extend_from_slice(&[0xff; 10]);
    assert_eq!(ControlPacket::decode(&v), Ok(base()));
}

#[test]
fn unassigned_diagnostics_round_trip() {
    for code in 0..32u8 {
        let p = ControlPacket {
            diag: Diagnostic::from_code(code),
            ..base()
        };
        assert_eq!(
            ControlPacket::decode(&p.encode()).unwrap().diag.code(),
            code
        );
    }
    assert_eq!(
        Diagnostic::from_code(1),
        Diagnostic::CONTROL_DETECTION_TIME_EXPIRED
    );
    assert_eq!(
        Diagnostic::ADMINISTRATIVELY_DOWN.to_string(),
        "Administratively Down (7)"
    );
}

fn arb_state() -> impl Strategy<Value = State> {
    (0u8..4).prop_map(State::from_bits)
}

fn arb_auth() -> impl Strategy<Value = Option<AuthSection>> {
    prop_oneof![
        Just(None),
        (any::<u8>(), prop::collection::vec(any::<u8>(), 1..=16)).prop_map(|(key_id, pw)| Some(
            AuthSection::SimplePassword {
                key_id,
                password: Password::new(&pw).unwrap()
            }
        )),
        (any::<bool>(), any::<u8>(), any::<u32>(), any::<[u8; 16]>()).prop_map(
            |(meticulous, key_id, sequence, digest)| Some(AuthSection::Md5 {
                meticulous,
                key_id,
                sequence,
                digest
            })
        ),
        (any::<bool>(), any::<u8>(), any::<u32>(), any::<[u8; 20]>()).prop_map(
            |(meticulous, key_id, sequence, hash)| Some(AuthSection::Sha1 {
                meticulous,
                key_id,
                sequence,
                hash
            })
        ),
    ]
}

prop_compose! {
    fn arb_packet()(
        diag in 0u8..32,
        state in arb_state(),
        flag_bits in any::<u8>(),
        detect_mult in 1u8..,
        my_discr in 1u32..,
        your_discr in any::<u32>(),
        desired_min_tx in any::<u32>(),
        required_min_rx in any::<u32>(),
        required_min_echo_rx in any::<u32>(),
        auth in arb_auth(),
    ) -> ControlPacket {
        let mut flags = Flags::from_bits_truncate(flag_bits);
        if flags.contains(Flags::POLL | Flags::FINAL) {
            flags.remove(Flags::FINAL);
        }
        let your_discr = if matches!(state, State::Init | State::Up) && your_discr == 0 { 1 } else { your_discr };
        ControlPacket {
            diag: Diagnostic::from_code(diag),
            state,
            flags,
            detect_mult,
            my_discr,
            your_discr,
            desired_min_tx,
            required_min_rx,
            required_min_echo_rx,
            auth,
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn decode_encode_round_trip(p in arb_packet()) {
        prop_assert_eq!(p.check(), Ok(()));
        let bytes = p.encode();
        prop_assert_eq!(bytes.len(), p.encoded_len());
        prop_assert_eq!(usize::from(bytes[3]), bytes.len());
        prop_assert_eq!(ControlPacket::decode(&bytes), Ok(p));
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..80)) {
        if let Ok(p) = ControlPacket::decode(&bytes) {
            // Whatever decodes re-encodes to something that decodes to the same packet.
            prop_assert_eq!(ControlPacket::decode(&p.encode()), Ok(p));
        }
        let t0 = Instant::now();
        let mut s = Session::new(SessionConfig::default(), 7, t0, SplitMix64::new(1)).unwrap();
        let _ = s.handle_packet(t0, &bytes);
        while s.poll_transmit(t0).is_some() {}
    }

    #[test]
    fn mutated_valid_packets_never_panic(p in arb_packet(), at in 0usize..52, byte in any::<u8>(), cut in 0usize..60) {
        let mut bytes = p.encode().to_vec();
        if let Some(b) = bytes.get_mut(at) {
            *b = byte;
        }
        bytes.truncate(cut.max(1));
        if let Ok(q) = ControlPacket::decode(&bytes) {
            prop_assert_eq!(ControlPacket::decode(&q.encode()), Ok(q));
        }
        let t0 = Instant::now();
        let cfg = SessionConfig {
            auth: Some(bfd::AuthConfig { auth_type: bfd::AuthType::KeyedSha1, key_id: 1, key: b"k".to_vec() }),
            ..SessionConfig::default()
        };
        let mut s = Session::new(cfg, p.your_discr.max(1), t0, SplitMix64::new(1)).unwrap();
        let _ = s.handle_packet(t0, &bytes);
    }
}

#[test]
fn demux_selects_by_your_discriminator_then_by_peer() {
    let mut d: bfd::Demux<&str, &str> = bfd::Demux::new();
    assert!(d.is_empty());
    d.insert(0x5566_7788, "192.0.2.1", "s1");
    d.insert(9, "192.0.2.2", "s2");
    assert_eq!(d.len(), 2);
    assert!(d.contains_discriminator(9));
    // Your Discriminator wins over the peer address.
    assert_eq!(d.lookup(&"192.0.2.2", &base().encode()), Ok(&"s1"));
    let other = ControlPacket {
        your_discr: 10,
        ..base()
    };
    assert_eq!(
        d.lookup(&"192.0.2.1", &other.encode()),
        Err(bfd::DemuxError::UnknownDiscriminator(10))
    );
    // Your Discriminator zero (a Down packet): by peer.
    let down = ControlPacket {
        state: State::Down,
        your_discr: 0,
        ..base()
    };
    assert_eq!(d.lookup(&"192.0.2.2", &down.encode()), Ok(&"s2"));
    assert_eq!(
        d.lookup(&"198.51.100.1", &down.encode()),
        Err(bfd::DemuxError::UnknownPeer)
    );
    assert_eq!(
        d.lookup(&"192.0.2.2", &[0u8; 3]),
        Err(bfd::DemuxError::Decode(DecodeError::BadVersion(0)))
    );
    assert_eq!(d.remove(9, &"192.0.2.2"), Some("s2"));
    assert_eq!(
        d.lookup(&"192.0.2.2", &down.encode()),
        Err(bfd::DemuxError::UnknownPeer)
    );
}
