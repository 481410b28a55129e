//! Authentication (RFC 5880 §6.7) on virtual time: every type works, a wrong key or a replayed
//! or out-of-window sequence number is dropped and changes nothing.

mod common;

use std::time::Duration;

use bfd::auth::{section_for, sign};
use bfd::{
    AuthConfig, AuthError, AuthType, ControlPacket, Diagnostic, Flags, RxError, SessionConfig,
    State,
};
use common::{DISCR_A, DISCR_B, Pair, config};

const ALL: [AuthType; 5] = [
    AuthType::SimplePassword,
    AuthType::KeyedMd5,
    AuthType::MeticulousKeyedMd5,
    AuthType::KeyedSha1,
    AuthType::MeticulousKeyedSha1,
];
const KEYED: [AuthType; 4] = [
    AuthType::KeyedMd5,
    AuthType::MeticulousKeyedMd5,
    AuthType::KeyedSha1,
    AuthType::MeticulousKeyedSha1,
];

fn auth(auth_type: AuthType, key: &[u8]) -> AuthConfig {
    AuthConfig {
        auth_type,
        key_id: 5,
        key: key.to_vec(),
    }
}

fn with_auth(a: AuthConfig) -> SessionConfig {
    SessionConfig {
        auth: Some(a),
        ..config(50, 50, 3)
    }
}

fn up_pair(t: AuthType) -> Pair {
    let mut p = Pair::new(with_auth(auth(t, b"secret")), with_auth(auth(t, b"secret")));
    p.delay = Duration::from_millis(1);
    p.establish();
    p
}

/// A packet as B would send it while Up, with the given state and sequence number.
fn forge(cfg: &AuthConfig, seq: u32, state: State) -> Vec<u8> {
    let pkt = ControlPacket {
        diag: Diagnostic::NONE,
        state,
        flags: Flags::empty(),
        detect_mult: 3,
        my_discr: DISCR_B,
        your_discr: DISCR_A,
        desired_min_tx: 50_000,
        required_min_rx: 50_000,
        required_min_echo_rx: 0,
        auth: section_for(cfg, seq),
    };
    let mut bytes = pkt.encode().to_vec();
    sign(cfg, &mut bytes);
    bytes
}

fn last_seq_at_a(p: &Pair) -> u32 {
    p.a.received
        .last()
        .and_then(|(_, pk)| pk.auth)
        .and_then(|a| a.sequence())
        .expect("keyed packets received")
}

fn snapshot(p: &Pair) -> String {
    format!("{:?}", p.a.s)
}

#[test]
fn every_auth_type_brings_the_session_up_and_keeps_it_up() {
    for t in ALL {
        let mut p = up_pair(t);
        p.run_for(Duration::from_secs(20));
        assert!(p.both_up(), "{t:?}");
        assert!(
            p.a.rx_errors.is_empty() && p.b.rx_errors.is_empty(),
            "{t:?}"
        );
        assert!(!p.a.events.iter().any(|(_, e)| e.is_failure()), "{t:?}");
        let sent: Vec<_> = p.a.sent.iter().map(|(_, pk)| pk.auth.unwrap()).collect();
        assert!(sent.iter().all(|s| s.auth_type() == t && s.key_id() == 5));
        if t != AuthType::SimplePassword {
            // Sequence numbers advance by one per packet (circular).
            for w in sent.windows(2) {
                assert_eq!(
                    w[1].sequence().unwrap(),
                    w[0].sequence().unwrap().wrapping_add(1)
                );
            }
        }
    }
}

#[test]
fn wrong_key_of_every_type_never_comes_up() {
    for t in ALL {
        let mut p = Pair::new(with_auth(auth(t, b"secret")), with_auth(auth(t, b"Secret")));
        p.run_for(Duration::from_secs(10));
        assert_eq!(p.a.s.state(), State::Down, "{t:?}");
        assert_eq!(p.b.s.state(), State::Down, "{t:?}");
        assert_eq!(p.a.s.remote_discr(), 0, "{t:?}: nothing learned");
        let expected = if t == AuthType::SimplePassword {
            AuthError::BadPassword
        } else {
            AuthError::BadDigest
        };
        assert!(!p.a.rx_errors.is_empty());
        for (_, e) in &p.a.rx_errors {
            assert_eq!(*e, RxError::Auth(expected), "{t:?}");
        }
    }
}

#[test]
fn wrong_key_packet_changes_nothing_in_an_up_session() {
    for t in ALL {
        let mut p = up_pair(t);
        // Simple password has no sequence number: any value goes.
        let next = if t == AuthType::SimplePassword {
            0
        } else {
            last_seq_at_a(&p).wrapping_add(1)
        };
        let bad = forge(&auth(t, b"wrong!"), next, State::Down);
        let before = snapshot(&p);
        let err = p.a.deliver(p.now, &bad).unwrap_err();
        assert!(matches!(
            err,
            RxError::Auth(AuthError::BadDigest | AuthError::BadPassword)
        ));
        assert_eq!(snapshot(&p), before, "{t:?}");
        // The same packet with the right key is accepted and takes the session down.
        let good = forge(&auth(t, b"secret"), next, State::Down);
        p.a.deliver(p.now, &good).unwrap();
        assert_eq!(p.a.s.state(), State::Down, "{t:?}");
        assert_eq!(
            p.a.s.local_diag(),
            Diagnostic::NEIGHBOR_SIGNALED_SESSION_DOWN
        );
    }
}

#[test]
fn key_id_type_and_presence_mismatches_are_dropped() {
    let mut p = up_pair(AuthType::KeyedSha1);
    let next = last_seq_at_a(&p).wrapping_add(1);
    let before = snapshot(&p);
    let other_id = AuthConfig {
        key_id: 6,
        ..auth(AuthType::KeyedSha1, b"secret")
    };
    assert_eq!(
        p.a.deliver(p.now, &forge(&other_id, next, State::Down)),
        Err(RxError::Auth(AuthError::KeyIdMismatch {
            received: 6,
            configured: 5
        }))
    );
    assert_eq!(
        p.a.deliver(
            p.now,
            &forge(&auth(AuthType::KeyedMd5, b"secret"), next, State::Down)
        ),
        Err(RxError::Auth(AuthError::TypeMismatch {
            received: AuthType::KeyedMd5,
            configured: AuthType::KeyedSha1
        }))
    );
    let mut plain = ControlPacket::decode(&forge(&other_id, next, State::Down)).unwrap();
    plain.auth = None;
    assert_eq!(
        p.a.deliver(p.now, &plain.encode()),
        Err(RxError::MissingAuth)
    );
    assert_eq!(snapshot(&p), before);

    // And the other way round: authentication present where none is configured.
    let mut q = Pair::new(config(50, 50, 3), config(50, 50, 3));
    q.establish();
    let before = snapshot(&q);
    let authed = forge(&auth(AuthType::KeyedMd5, b"secret"), 1, State::Down);
    assert_eq!(q.a.deliver(q.now, &authed), Err(RxError::UnexpectedAuth));
    assert_eq!(snapshot(&q), before);
}

#[test]
fn replayed_old_packet_is_dropped_for_every_keyed_type() {
    for t in KEYED {
        let mut p = up_pair(t);
        p.run_for(Duration::from_secs(5));
        // Replay one of B's early packets (a Down or Init one from the handshake).
        let old = p.b.sent_raw[0].1;
        let before = snapshot(&p);
        let err = p.a.deliver(p.now, &old).unwrap_err();
        assert!(
            matches!(err, RxError::Auth(AuthError::SequenceOutOfWindow { .. })),
            "{t:?}: {err:?}"
        );
        assert_eq!(snapshot(&p), before, "{t:?}");
        assert_eq!(p.a.s.state(), State::Up);
    }
}

#[test]
fn meticulous_requires_strictly_increasing_sequence() {
    for t in KEYED {
        let mut p = up_pair(t);
        let (_, last_raw) = *p.b.sent_raw.last().unwrap();
        let before = snapshot(&p);
        let r = p.a.deliver(p.now, &last_raw);
        if t.is_meticulous() {
            // RFC 5880 §6.7.3: meticulous accepts RcvAuthSeq+1 ..= RcvAuthSeq+3*DetectMult.
            assert!(
                matches!(r, Err(RxError::Auth(AuthError::SequenceOutOfWindow { .. }))),
                "{t:?}: {r:?}"
            );
            assert_eq!(snapshot(&p), before);
        } else {
            // Keyed: the window starts at RcvAuthSeq itself (inclusive).
            assert_eq!(r, Ok(()), "{t:?}");
        }
    }
}

#[test]
fn sequence_window_edges() {
    for t in KEYED {
        let key = auth(t, b"secret");
        let mut p = up_pair(t);
        let last = last_seq_at_a(&p);
        // 3 x Detect Mult (3) = 9 ahead is the edge; 10 ahead is out.
        let before = snapshot(&p);
        let r =
            p.a.deliver(p.now, &forge(&key, last.wrapping_add(10), State::Up));
        assert!(matches!(
            r,
            Err(RxError::Auth(AuthError::SequenceOutOfWindow { .. }))
        ));
        assert_eq!(snapshot(&p), before);
        p.a.deliver(p.now, &forge(&key, last.wrapping_add(9), State::Up))
            .unwrap();
        // Going backwards is out.
        let r =
            p.a.deliver(p.now, &forge(&key, last.wrapping_add(8), State::Up));
        assert!(matches!(
            r,
            Err(RxError::Auth(AuthError::SequenceOutOfWindow { .. }))
        ));
    }
}

#[test]
fn sequence_wraps_around() {
    for t in KEYED {
        let key = auth(t, b"secret");
        let mut p = Pair::new(with_auth(key.clone()), with_auth(key.clone()));
        p.drop_b_to_a = true;
        p.settle();
        // A first hears a packet just below the wrap (any number is accepted at first).
        let near = u32::MAX - 1;
        let first = forge(&key, near, State::Down);
        let mut pk = ControlPacket::decode(&first).unwrap();
        pk.your_discr = 0;
        pk.state = State::Down;
        let mut bytes = pk.encode().to_vec();
        sign(&key, &mut bytes);
        p.a.deliver(p.now, &bytes).unwrap();
        assert_eq!(p.a.s.state(), State::Init);
        // u32::MAX - 1 + 4 wraps to 2: inside the window.
        p.a.deliver(p.now, &forge(&key, 2, State::Up)).unwrap();
        assert_eq!(p.a.s.state(), State::Up);
        // Back to before the wrap: outside.
        let r = p.a.deliver(p.now, &forge(&key, u32::MAX, State::Up));
        assert!(
            matches!(r, Err(RxError::Auth(AuthError::SequenceOutOfWindow { .. }))),
            "{t:?}"
        );
    }
}

#[test]
fn sequence_is_forgotten_after_twice_the_detection_time() {
    for t in KEYED {
        let key = auth(t, b"secret");
        let mut p = up_pair(t);
        let last = last_seq_at_a(&p);
        let det = p.a.s.detection_time().unwrap();
        p.drop_b_to_a = true;
        // Still known just before 2 x detection time after the last packet.
        let last_rx = p.a.s.last_received().unwrap();
        p.run_until(last_rx + det * 2 - Duration::from_millis(1));
        let before = snapshot(&p);
        let far = last.wrapping_add(1_000_000);
        let r = p.a.deliver(p.now, &forge(&key, far, State::Down));
        assert!(matches!(
            r,
            Err(RxError::Auth(AuthError::SequenceOutOfWindow { .. }))
        ));
        assert_eq!(snapshot(&p), before);
        // RFC 5880 §6.8.1: bfd.AuthSeqKnown resets after 2 x detection time of silence.
        p.run_until(last_rx + det * 2);
        p.a.deliver(p.now, &forge(&key, far, State::Down)).unwrap();
    }
}

/// Digests computed independently (Python hashlib, following RFC 5880 §6.7.3/§6.7.4: the key,
/// zero padded, in the digest field while hashing the whole packet).
#[test]
fn digests_match_independently_computed_vectors() {
    let base = ControlPacket {
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
    };
    let cases = [
        (
            AuthType::MeticulousKeyedMd5,
            "2aca9df7f6c94b26ddfd343dc1e9e9b0",
        ),
        (
            AuthType::MeticulousKeyedSha1,
            "ab0d73c8772fabe43e5e08e7bb9d33d27e90ebed",
        ),
    ];
    for (t, hex) in cases {
        let cfg = AuthConfig {
            auth_type: t,
            key_id: 2,
            key: b"secret".to_vec(),
        };
        let p = ControlPacket {
            auth: section_for(&cfg, 0x0102_0304),
            ..base
        };
        let mut bytes = p.encode().to_vec();
        sign(&cfg, &mut bytes);
        let digest: String = bytes[32..].iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(digest, hex, "{t:?}");
        // And verification accepts exactly these bytes.
        let sec = ControlPacket::decode(&bytes).unwrap().auth.unwrap();
        assert_eq!(
            bfd::auth::verify(&cfg, &sec, &bytes, 3, bfd::auth::RcvSeq::default()),
            Ok(Some(0x0102_0304))
        );
        bytes[40] ^= 1;
        let sec = ControlPacket::decode(&bytes).unwrap().auth.unwrap();
        assert_eq!(
            bfd::auth::verify(&cfg, &sec, &bytes, 3, bfd::auth::RcvSeq::default()),
            Err(AuthError::BadDigest)
        );
    }
}
