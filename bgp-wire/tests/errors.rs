//! Negative tests: every error subcode of RFC 4271 §6.1–6.3 produced from real
//! bytes, with the exact NOTIFICATION bytes; RFC 7606 actions per class; and the
//! table of every error variant → (code, subcode, data).

use std::net::Ipv4Addr;

use bgp_wire::{
    AttributeError, AttributeErrorKind as K, AttributeValue, Bytes, DecodeContext, DecodeError,
    ErrorAction as A, Family, Framer, Message, Update, attr_type,
};

/// A whole message from a type and body (independent of the crate's encoder).
fn msg(t: u8, body: &[u8]) -> Vec<u8> {
    let mut m = vec![0xff; 16];
    m.extend_from_slice(&((19 + body.len()) as u16).to_be_bytes());
    m.push(t);
    m.extend_from_slice(body);
    m
}

/// The NOTIFICATION message bytes expected on the wire.
fn notification_bytes(code: u8, sub: u8, data: &[u8]) -> Vec<u8> {
    let mut b = vec![code, sub];
    b.extend_from_slice(data);
    msg(3, &b)
}

fn attr(flags: u8, tc: u8, v: &[u8]) -> Vec<u8> {
    let mut a = vec![flags, tc];
    if flags & 0x10 != 0 {
        a.extend_from_slice(&(v.len() as u16).to_be_bytes());
    } else {
        a.push(v.len() as u8);
    }
    a.extend_from_slice(v);
    a
}

fn update(withdrawn: &[u8], attrs: &[Vec<u8>], nlri: &[u8]) -> Vec<u8> {
    let a: Vec<u8> = attrs.concat();
    let mut b = Vec::new();
    b.extend_from_slice(&(withdrawn.len() as u16).to_be_bytes());
    b.extend_from_slice(withdrawn);
    b.extend_from_slice(&(a.len() as u16).to_be_bytes());
    b.extend_from_slice(&a);
    b.extend_from_slice(nlri);
    msg(2, &b)
}

fn origin() -> Vec<u8> {
    attr(0x40, 1, &[0])
}
fn as_path() -> Vec<u8> {
    attr(0x40, 2, &[2, 1, 0, 0, 0xfb, 0xf4])
}
fn next_hop() -> Vec<u8> {
    attr(0x40, 3, &[192, 0, 2, 1])
}
/// 203.0.113.0/24
const NLRI: &[u8] = &[24, 203, 0, 113];

fn ctx() -> DecodeContext {
    DecodeContext::default()
}

fn decode(m: &[u8]) -> Result<Message, DecodeError> {
    Message::decode(Bytes::copy_from_slice(m), &ctx())
}

/// Decoding fails; the NOTIFICATION on the wire is exactly `expected`.
fn assert_fatal(m: &[u8], expected: &[u8]) {
    let e = decode(m).expect_err("must fail");
    assert_eq!(e.action(), A::SessionReset, "{e:?}");
    let wire = Message::Notification(e.notification())
        .to_bytes(&ctx())
        .unwrap();
    assert_eq!(hex::encode(&wire), hex::encode(expected), "{e:?}");
}

fn decode_update(m: &[u8]) -> Update {
    match decode(m).expect("non-fatal") {
        Message::Update(u) => u,
        other => panic!("not an update: {other:?}"),
    }
}

/// Decoding succeeds with exactly one non-fatal error of this kind and action,
/// whose NOTIFICATION (for logging) is `expected`.
fn assert_nonfatal(m: &[u8], kind: K, action: A, expected: &[u8]) -> Update {
    let u = decode_update(m);
    assert_eq!(u.errors.len(), 1, "{:?}", u.errors);
    let e = &u.errors[0];
    assert_eq!((e.kind, e.action), (kind, action), "{e:?}");
    let wire = Message::Notification(e.notification())
        .to_bytes(&ctx())
        .unwrap();
    assert_eq!(hex::encode(&wire), hex::encode(expected));
    assert_eq!(u.treat_as_withdraw(), action == A::TreatAsWithdraw);
    u
}

// ---- RFC 4271 §6.1 Message Header errors -------------------------------------------------

#[test]
fn header_1_1_bad_marker() {
    let mut m = msg(4, &[]);
    m[3] = 0xfe;
    assert_fatal(&m, &notification_bytes(1, 1, &[]));
    let mut f = Framer::new(4096);
    f.push(&m[..4]);
    assert_eq!(f.next_frame(), Err(DecodeError::ConnectionNotSynchronized));
}

#[test]
fn header_1_2_bad_length() {
    // Below 19.
    let mut m = msg(4, &[]);
    m[16..18].copy_from_slice(&18u16.to_be_bytes());
    let mut f = Framer::new(4096);
    f.push(&m);
    let e = f.next_frame().unwrap_err();
    assert_eq!(
        Message::Notification(e.notification())
            .to_bytes(&ctx())
            .unwrap()[..],
        notification_bytes(1, 2, &[0, 18])[..]
    );
    // Above 4096 without extended messages.
    let mut f = Framer::new(4096);
    let mut h = vec![0xff; 16];
    h.extend_from_slice(&4097u16.to_be_bytes());
    h.push(2);
    f.push(&h);
    let e = f.next_frame().unwrap_err();
    assert_eq!(e, DecodeError::BadMessageLength { length: 4097 });
    assert_eq!(&e.notification().data[..], &[0x10, 0x01]);
    // Accepted once RFC 8654 raised the limit (frame not complete yet).
    let mut f = Framer::new(65535);
    f.push(&h);
    assert_eq!(f.next_frame(), Ok(None));
}

#[test]
fn header_1_2_per_type_lengths() {
    // KEEPALIVE must be exactly 19.
    assert_fatal(&msg(4, &[0]), &notification_bytes(1, 2, &[0, 20]));
    // OPEN at least 29.
    assert_fatal(
        &msg(1, &[4, 0xfb, 0xf4, 0, 90, 192, 0, 2, 1]),
        &notification_bytes(1, 2, &[0, 28]),
    );
    // UPDATE at least 23.
    assert_fatal(&msg(2, &[0, 0, 0]), &notification_bytes(1, 2, &[0, 22]));
    // NOTIFICATION at least 21.
    assert_fatal(&msg(3, &[6]), &notification_bytes(1, 2, &[0, 20]));
    // ROUTE-REFRESH exactly 23 (subtype 0).
    assert_fatal(
        &msg(5, &[0, 1, 0, 1, 0]),
        &notification_bytes(1, 2, &[0, 24]),
    );
    // The framer applies the same rules.
    let mut f = Framer::new(4096);
    f.push(&msg(4, &[0]));
    assert_eq!(
        f.next_frame(),
        Err(DecodeError::BadMessageLength { length: 20 })
    );
}

#[test]
fn route_refresh_7_1_enhanced_bad_length() {
    // RFC 7313 §5: BoRR of the wrong length → 7/1 with the whole message as data.
    let m = msg(5, &[0, 1, 1, 1, 0]);
    assert_fatal(&m, &notification_bytes(7, 1, &m));
}

#[test]
fn header_1_3_bad_type() {
    assert_fatal(&msg(6, &[]), &notification_bytes(1, 3, &[6]));
    assert_fatal(&msg(0, &[]), &notification_bytes(1, 3, &[0]));
}

// ---- RFC 4271 §6.2 OPEN errors ------------------------------------------------------------

fn open_body(version: u8, my_as: u16, hold: u16, id: [u8; 4], params: &[u8]) -> Vec<u8> {
    let mut b = vec![version];
    b.extend_from_slice(&my_as.to_be_bytes());
    b.extend_from_slice(&hold.to_be_bytes());
    b.extend_from_slice(&id);
    b.push(params.len() as u8);
    b.extend_from_slice(params);
    b
}

#[test]
fn open_2_1_unsupported_version() {
    let m = msg(1, &open_body(3, 64500, 90, [192, 0, 2, 1], &[]));
    assert_fatal(&m, &notification_bytes(2, 1, &[0, 4]));
}

#[test]
fn open_2_2_bad_peer_as() {
    // RFC 7607: AS 0.
    let m = msg(1, &open_body(4, 0, 90, [192, 0, 2, 1], &[]));
    assert_fatal(&m, &notification_bytes(2, 2, &[0, 0]));
    // The session layer reports a wrong AS through the same mapping.
    assert_eq!(
        &DecodeError::BadPeerAs { asn: 64501 }.notification().data[..],
        &[0xfb, 0xf5]
    );
    assert_eq!(
        &DecodeError::BadPeerAs { asn: 4_200_000_000 }
            .notification()
            .data[..],
        &4_200_000_000u32.to_be_bytes()
    );
}

#[test]
fn open_2_3_bad_bgp_identifier() {
    let m = msg(1, &open_body(4, 64500, 90, [0, 0, 0, 0], &[]));
    assert_fatal(&m, &notification_bytes(2, 3, &[0, 0, 0, 0]));
}

#[test]
fn open_2_4_unsupported_optional_parameter() {
    // Parameter type 1 (deprecated authentication) → the whole parameter as data.
    let param = [1, 2, 0xaa, 0xbb];
    let m = msg(1, &open_body(4, 64500, 90, [192, 0, 2, 1], &param));
    assert_fatal(&m, &notification_bytes(2, 4, &param));
}

#[test]
fn open_2_6_unacceptable_hold_time() {
    for hold in [1u16, 2] {
        let m = msg(1, &open_body(4, 64500, hold, [192, 0, 2, 1], &[]));
        assert_fatal(&m, &notification_bytes(2, 6, &hold.to_be_bytes()));
    }
    // 0 and 3 are fine.
    for hold in [0u16, 3] {
        assert!(decode(&msg(1, &open_body(4, 64500, hold, [192, 0, 2, 1], &[]))).is_ok());
    }
}

#[test]
fn open_2_7_unsupported_capability_mapping() {
    let caps = Bytes::from_static(&[69, 4, 0, 1, 1, 3]);
    let e = DecodeError::UnsupportedCapability {
        capabilities: caps.clone(),
    };
    let wire = Message::Notification(e.notification())
        .to_bytes(&ctx())
        .unwrap();
    assert_eq!(wire[..], notification_bytes(2, 7, &caps)[..]);
}

#[test]
fn open_2_7_built_from_capabilities() {
    use bgp_wire::{AddPathFamily, AddPathMode, Capability};
    let e = DecodeError::unsupported_capability(&[
        Capability::FourOctetAs(64500),
        Capability::AddPath(vec![AddPathFamily {
            family: Family::IPV4_UNICAST,
            mode: AddPathMode::BOTH,
        }]),
    ]);
    let wire = Message::Notification(e.notification())
        .to_bytes(&ctx())
        .unwrap();
    assert_eq!(
        wire[..],
        notification_bytes(2, 7, &[65, 4, 0, 0, 0xfb, 0xf4, 69, 4, 0, 1, 1, 3])[..]
    );
}

#[test]
fn open_2_0_malformed() {
    // Optional parameters length larger than what follows.
    let mut b = open_body(4, 64500, 90, [192, 0, 2, 1], &[2, 2, 2, 0]);
    b[9] = 5;
    assert_fatal(&msg(1, &b), &notification_bytes(2, 0, &[]));
    // Multiprotocol capability of length 3 → 2/0 with the capability.
    let cap = [1, 3, 0, 1, 0];
    let m = msg(
        1,
        &open_body(4, 64500, 90, [192, 0, 2, 1], &[2, 5, 1, 3, 0, 1, 0]),
    );
    assert_fatal(&m, &notification_bytes(2, 0, &cap));
}

#[test]
fn open_extended_parameters_rfc9072() {
    // RFC 9072: 255, 255, 2-octet length, 2-octet parameter lengths.
    let caps = [65u8, 4, 0, 0, 0xfb, 0xf4];
    let mut b = vec![4, 0xfb, 0xf4, 0, 90, 192, 0, 2, 1, 255, 255, 0, 9, 2, 0, 6];
    b.extend_from_slice(&caps);
    let m = msg(1, &b);
    let Message::Open(o) = decode(&m).unwrap() else {
        panic!()
    };
    assert!(o.extended_params);
    assert_eq!(o.asn(), 64500);
    assert_eq!(Message::Open(o).to_bytes(&ctx()).unwrap()[..], m[..]);
}

// ---- RFC 4271 §6.3 UPDATE errors with RFC 7606 actions -------------------------------------

#[test]
fn update_3_1_withdrawn_length_overrun_resets() {
    let mut m = update(&[], &[], &[]);
    m[19..21].copy_from_slice(&10u16.to_be_bytes());
    assert_fatal(&m, &notification_bytes(3, 1, &[]));
}

#[test]
fn update_3_1_attribute_length_overrun_resets() {
    let mut m = update(&[], &[origin()], &[]);
    m[21..23].copy_from_slice(&100u16.to_be_bytes());
    assert_fatal(&m, &notification_bytes(3, 1, &[]));
}

#[test]
fn update_3_2_unrecognized_well_known() {
    let a = attr(0x40, 99, &[1, 2]);
    let m = update(&[], &[origin(), as_path(), next_hop(), a.clone()], NLRI);
    assert_fatal(&m, &notification_bytes(3, 2, &a));
}

#[test]
fn update_3_3_missing_well_known_treat_as_withdraw() {
    // No ORIGIN with NLRI present.
    let m = update(&[], &[as_path(), next_hop()], NLRI);
    let u = assert_nonfatal(
        &m,
        K::MissingWellKnown,
        A::TreatAsWithdraw,
        &notification_bytes(3, 3, &[1]),
    );
    assert_eq!(u.nlri.len(), 1);
    // No NEXT_HOP.
    let m = update(&[], &[origin(), as_path()], NLRI);
    assert_nonfatal(
        &m,
        K::MissingWellKnown,
        A::TreatAsWithdraw,
        &notification_bytes(3, 3, &[3]),
    );
    // Without NLRI nothing is mandatory.
    let u = decode_update(&update(&[24, 203, 0, 113], &[], &[]));
    assert!(u.errors.is_empty());
    // MP_REACH NLRI needs ORIGIN and AS_PATH but not NEXT_HOP (RFC 4760 §3).
    let mp = attr(
        0x80,
        14,
        &[
            0, 2, 1, 16, 0x20, 1, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 32, 0x20, 1,
            0x0d, 0xb8,
        ],
    );
    let m = update(&[], &[mp.clone(), origin()], &[]);
    assert_nonfatal(
        &m,
        K::MissingWellKnown,
        A::TreatAsWithdraw,
        &notification_bytes(3, 3, &[2]),
    );
    assert!(
        decode_update(&update(&[], &[mp, origin(), as_path()], &[]))
            .errors
            .is_empty()
    );
}

#[test]
fn update_3_4_attribute_flags_error() {
    // ORIGIN marked optional → treat-as-withdraw, data = the attribute.
    let a = attr(0xc0, 1, &[0]);
    let m = update(&[], &[a.clone(), as_path(), next_hop()], NLRI);
    let u = decode_update(&m);
    let e = u
        .errors
        .iter()
        .find(|e| e.kind == K::Flags)
        .expect("flags error");
    assert_eq!(e.action, A::TreatAsWithdraw);
    assert_eq!(
        Message::Notification(e.notification())
            .to_bytes(&ctx())
            .unwrap()[..],
        notification_bytes(3, 4, &a)[..]
    );
    assert!(u.treat_as_withdraw());
    // AGGREGATOR marked well-known → attribute discard (RFC 7606 §7.7).
    let a = attr(0x40, 7, &[0, 0, 0xfb, 0xf4, 192, 0, 2, 1]);
    let m = update(&[], &[origin(), as_path(), next_hop(), a.clone()], NLRI);
    let u = assert_nonfatal(
        &m,
        K::Flags,
        A::AttributeDiscard,
        &notification_bytes(3, 4, &a),
    );
    assert!(u.aggregator().is_none());
    // MP_REACH with wrong flags → session reset (RFC 7606 §7.11).
    let a = attr(0xc0, 15, &[0, 2, 1]);
    assert_fatal(
        &update(&[], std::slice::from_ref(&a), &[]),
        &notification_bytes(3, 4, &a),
    );
}

#[test]
fn update_3_5_attribute_length_error() {
    let a = attr(0x80, 4, &[0, 0, 1]);
    let m = update(&[], &[origin(), as_path(), next_hop(), a.clone()], NLRI);
    let u = assert_nonfatal(
        &m,
        K::Length,
        A::TreatAsWithdraw,
        &notification_bytes(3, 5, &a),
    );
    assert!(u.med().is_none());
    // NEXT_HOP of 5 bytes.
    let a = attr(0x40, 3, &[192, 0, 2, 1, 0]);
    assert_nonfatal(
        &update(&[], &[origin(), as_path(), a.clone()], NLRI),
        K::Length,
        A::TreatAsWithdraw,
        &notification_bytes(3, 5, &a),
    );
    // COMMUNITIES not a multiple of 4.
    let a = attr(0xc0, 8, &[0, 0, 1]);
    assert_nonfatal(
        &update(&[], &[origin(), as_path(), next_hop(), a.clone()], NLRI),
        K::Length,
        A::TreatAsWithdraw,
        &notification_bytes(3, 5, &a),
    );
    // LARGE_COMMUNITY not a multiple of 12.
    let a = attr(0xc0, 32, &[0; 11]);
    assert_nonfatal(
        &update(&[], &[origin(), as_path(), next_hop(), a.clone()], NLRI),
        K::Length,
        A::TreatAsWithdraw,
        &notification_bytes(3, 5, &a),
    );
}

#[test]
fn update_3_6_invalid_origin() {
    let a = attr(0x40, 1, &[3]);
    let m = update(&[], &[a.clone(), as_path(), next_hop()], NLRI);
    assert_nonfatal(
        &m,
        K::InvalidOrigin,
        A::TreatAsWithdraw,
        &notification_bytes(3, 6, &a),
    );
}

#[test]
fn update_3_8_invalid_next_hop() {
    let a = attr(0x40, 3, &[224, 0, 0, 1]);
    let m = update(&[], &[origin(), as_path(), a.clone()], NLRI);
    assert_nonfatal(
        &m,
        K::InvalidNextHop,
        A::TreatAsWithdraw,
        &notification_bytes(3, 8, &a),
    );
}

#[test]
fn update_3_9_optional_attribute_error() {
    // AS4_PATH with a confederation segment → attribute discard (RFC 6793 §6).
    let a = attr(0xc0, 17, &[3, 1, 0, 0, 0xfb, 0xf4]);
    let m = update(&[], &[origin(), as_path(), next_hop(), a.clone()], NLRI);
    let u = assert_nonfatal(
        &m,
        K::Malformed,
        A::AttributeDiscard,
        &notification_bytes(3, 9, &a),
    );
    assert!(u.as4_path().is_none());
    assert_eq!(u.nlri.len(), 1);
}

#[test]
fn update_3_10_invalid_network_field() {
    // Prefix length 33.
    assert_fatal(
        &update(
            &[],
            &[origin(), as_path(), next_hop()],
            &[33, 1, 2, 3, 4, 5],
        ),
        &notification_bytes(3, 10, &[]),
    );
    // Truncated prefix in withdrawn routes.
    assert_fatal(
        &update(&[24, 203, 0], &[], &[]),
        &notification_bytes(3, 10, &[]),
    );
    // Bad prefix inside MP_UNREACH → session reset (RFC 7606 §7.11).
    let a = attr(0x80, 15, &[0, 2, 1, 129]);
    assert_fatal(&update(&[], &[a], &[]), &notification_bytes(3, 10, &[]));
}

#[test]
fn update_3_11_malformed_as_path() {
    // Segment type 5.
    let a = attr(0x40, 2, &[5, 1, 0, 0, 0xfb, 0xf4]);
    assert_nonfatal(
        &update(&[], &[origin(), a, next_hop()], NLRI),
        K::MalformedAsPath,
        A::TreatAsWithdraw,
        &notification_bytes(3, 11, &[]),
    );
    // Segment overruns the attribute.
    let a = attr(0x40, 2, &[2, 2, 0, 0, 0xfb, 0xf4]);
    assert_nonfatal(
        &update(&[], &[origin(), a, next_hop()], NLRI),
        K::MalformedAsPath,
        A::TreatAsWithdraw,
        &notification_bytes(3, 11, &[]),
    );
    // Zero-length segment (RFC 7606 §7.2).
    let a = attr(0x40, 2, &[2, 0]);
    assert_nonfatal(
        &update(&[], &[origin(), a, next_hop()], NLRI),
        K::MalformedAsPath,
        A::TreatAsWithdraw,
        &notification_bytes(3, 11, &[]),
    );
    // AS 0 (RFC 7607).
    let a = attr(0x40, 2, &[2, 1, 0, 0, 0, 0]);
    assert_nonfatal(
        &update(&[], &[origin(), a, next_hop()], NLRI),
        K::MalformedAsPath,
        A::TreatAsWithdraw,
        &notification_bytes(3, 11, &[]),
    );
}

// ---- RFC 7606 classes ---------------------------------------------------------------------

#[test]
fn rfc7606_attribute_discard() {
    // ATOMIC_AGGREGATE with a value (§7.6).
    let a = attr(0x40, 6, &[1]);
    let u = assert_nonfatal(
        &update(&[], &[origin(), as_path(), next_hop(), a.clone()], NLRI),
        K::Length,
        A::AttributeDiscard,
        &notification_bytes(3, 5, &a),
    );
    assert!(!u.atomic_aggregate());
    assert_eq!(u.attributes.len(), 3);
    // AGGREGATOR of 7 bytes (§7.7).
    let a = attr(0xc0, 7, &[0; 7]);
    assert_nonfatal(
        &update(&[], &[origin(), as_path(), next_hop(), a.clone()], NLRI),
        K::Length,
        A::AttributeDiscard,
        &notification_bytes(3, 5, &a),
    );
    // AS4_AGGREGATOR of 6 bytes (RFC 6793 §6).
    let a = attr(0xc0, 18, &[0; 6]);
    assert_nonfatal(
        &update(&[], &[origin(), as_path(), next_hop(), a.clone()], NLRI),
        K::Length,
        A::AttributeDiscard,
        &notification_bytes(3, 5, &a),
    );
}

#[test]
fn rfc7606_duplicate_attributes() {
    // §3(g): all but the first discarded.
    let med1 = attr(0x80, 4, &[0, 0, 0, 1]);
    let med2 = attr(0x80, 4, &[0, 0, 0, 2]);
    let u = decode_update(&update(
        &[],
        &[origin(), as_path(), next_hop(), med1, med2],
        NLRI,
    ));
    assert_eq!(u.med(), Some(&1));
    assert_eq!(u.errors.len(), 1);
    assert_eq!(
        (u.errors[0].kind, u.errors[0].action),
        (K::Duplicate, A::AttributeDiscard)
    );
    assert!(!u.treat_as_withdraw());
    // §3(g): MP_UNREACH twice → Malformed Attribute List, session reset.
    let a = attr(0x80, 15, &[0, 2, 1]);
    assert_fatal(
        &update(&[], &[a.clone(), a], &[]),
        &notification_bytes(3, 1, &[]),
    );
}

#[test]
fn rfc7606_attribute_overrun_treat_as_withdraw() {
    // §4: the last attribute's length runs past the attribute block.
    let mut attrs = [origin(), as_path(), next_hop()].concat();
    attrs.extend_from_slice(&[0x80, 4, 10, 0, 0]);
    let m = update(&[], &[attrs], NLRI);
    let u = decode_update(&m);
    assert!(u.treat_as_withdraw());
    assert_eq!(u.errors[0].kind, K::Overrun);
    // NLRI still located through the total attribute length.
    assert_eq!(u.nlri.len(), 1);
    // Fewer than 3 octets left.
    let mut attrs = [origin(), as_path(), next_hop()].concat();
    attrs.extend_from_slice(&[0x80, 4]);
    let u = decode_update(&update(&[], &[attrs], NLRI));
    assert!(u.treat_as_withdraw());
}

#[test]
fn rfc7606_mp_reach_errors_reset() {
    // Next hop length 5 (§7.11).
    let a = attr(0x80, 14, &[0, 2, 1, 5, 1, 2, 3, 4, 5, 0]);
    assert_fatal(
        &update(&[], &[a.clone(), origin(), as_path()], &[]),
        &notification_bytes(3, 9, &a),
    );
    // Too short for AFI/SAFI/next hop length.
    let a = attr(0x80, 14, &[0, 2, 1]);
    assert_fatal(
        &update(&[], std::slice::from_ref(&a), &[]),
        &notification_bytes(3, 5, &a),
    );
}

#[test]
fn unknown_attributes_kept_and_partial_on_propagation() {
    let a = attr(0xc0, 99, &[1, 2, 3]);
    let b = attr(0x80, 98, &[4]);
    let m = update(&[], &[origin(), as_path(), next_hop(), a, b], NLRI);
    let u = decode_update(&m);
    assert!(u.errors.is_empty());
    let unk = u.attribute(99).unwrap();
    assert!(
        matches!(&unk.value, AttributeValue::Unknown { type_code: 99, data } if data[..] == [1, 2, 3])
    );
    let p = unk.propagated().unwrap();
    assert_eq!(p.flags.bits(), 0xe0);
    // Optional non-transitive unknown attributes are not passed on.
    assert!(u.attribute(98).unwrap().propagated().is_none());
    assert_eq!(Message::Update(u).to_bytes(&ctx()).unwrap()[..], m[..]);
}

#[test]
fn end_of_rib_markers() {
    let u = decode_update(&update(&[], &[], &[]));
    assert_eq!(u.is_end_of_rib(), Some(Family::IPV4_UNICAST));
    let u = decode_update(&update(&[], &[attr(0x80, 15, &[0, 2, 1])], &[]));
    assert_eq!(u.is_end_of_rib(), Some(Family::IPV6_UNICAST));
    assert_eq!(
        Message::Update(Update::end_of_rib(Family::IPV6_UNICAST))
            .to_bytes(&ctx())
            .unwrap()[..],
        update(&[], &[attr(0x80, 15, &[0, 2, 1])], &[])[..]
    );
    assert_eq!(
        decode_update(&update(&[], &[origin(), as_path(), next_hop()], NLRI)).is_end_of_rib(),
        None
    );
}

// ---- The table: every variant → (code, subcode, data) ------------------------------------

#[test]
fn every_error_variant_maps_to_its_notification() {
    let attr_bytes = Bytes::from_static(&[0x40, 1, 1, 7]);
    let ae = |kind: K, action: A| {
        DecodeError::Attribute(AttributeError {
            kind,
            type_code: 1,
            attribute: attr_bytes.clone(),
            action,
        })
    };
    let table: Vec<(DecodeError, u8, u8, Vec<u8>)> = vec![
        (DecodeError::ConnectionNotSynchronized, 1, 1, vec![]),
        (
            DecodeError::BadMessageLength { length: 5000 },
            1,
            2,
            vec![0x13, 0x88],
        ),
        (DecodeError::BadMessageType { msg_type: 42 }, 1, 3, vec![42]),
        (
            DecodeError::UnsupportedVersion { version: 5 },
            2,
            1,
            vec![0, 4],
        ),
        (
            DecodeError::BadPeerAs { asn: 64500 },
            2,
            2,
            vec![0xfb, 0xf4],
        ),
        (
            DecodeError::BadPeerAs { asn: 65536 },
            2,
            2,
            vec![0, 1, 0, 0],
        ),
        (
            DecodeError::BadBgpIdentifier {
                id: Ipv4Addr::new(192, 0, 2, 9),
            },
            2,
            3,
            vec![192, 0, 2, 9],
        ),
        (
            DecodeError::UnsupportedOptionalParameter {
                param_type: 1,
                parameter: Bytes::from_static(&[1, 1, 9]),
            },
            2,
            4,
            vec![1, 1, 9],
        ),
        (
            DecodeError::UnacceptableHoldTime { hold_time: 2 },
            2,
            6,
            vec![0, 2],
        ),
        (
            DecodeError::UnsupportedCapability {
                capabilities: Bytes::from_static(&[9, 1, 3]),
            },
            2,
            7,
            vec![9, 1, 3],
        ),
        (DecodeError::RoleMismatch, 2, 11, vec![]),
        (DecodeError::MalformedOpen { reason: "x" }, 2, 0, vec![]),
        (
            DecodeError::MalformedCapability {
                code: 1,
                capability: Bytes::from_static(&[1, 0]),
            },
            2,
            0,
            vec![1, 0],
        ),
        (
            DecodeError::MalformedAttributeList { reason: "x" },
            3,
            1,
            vec![],
        ),
        (
            DecodeError::InvalidNetworkField { reason: "x" },
            3,
            10,
            vec![],
        ),
        (ae(K::Flags, A::SessionReset), 3, 4, attr_bytes.to_vec()),
        (ae(K::Length, A::SessionReset), 3, 5, attr_bytes.to_vec()),
        (
            ae(K::InvalidOrigin, A::TreatAsWithdraw),
            3,
            6,
            attr_bytes.to_vec(),
        ),
        (
            ae(K::InvalidNextHop, A::TreatAsWithdraw),
            3,
            8,
            attr_bytes.to_vec(),
        ),
        (ae(K::Malformed, A::SessionReset), 3, 9, attr_bytes.to_vec()),
        (ae(K::MalformedAsPath, A::TreatAsWithdraw), 3, 11, vec![]),
        (
            ae(K::UnrecognizedWellKnown, A::SessionReset),
            3,
            2,
            attr_bytes.to_vec(),
        ),
        (ae(K::MissingWellKnown, A::TreatAsWithdraw), 3, 3, vec![1]),
        (ae(K::Duplicate, A::SessionReset), 3, 1, vec![]),
        (ae(K::Overrun, A::TreatAsWithdraw), 3, 1, vec![]),
        (ae(K::InvalidNetworkField, A::SessionReset), 3, 10, vec![]),
        (
            DecodeError::RouteRefreshInvalidLength {
                message: Bytes::from_static(&[0xff, 0, 1]),
            },
            7,
            1,
            vec![0xff, 0, 1],
        ),
    ];
    for (e, code, sub, data) in table {
        let n = e.notification();
        assert_eq!(
            (n.code, n.subcode, &n.data[..]),
            (code, sub, &data[..]),
            "{e:?}"
        );
        let expected_action = match &e {
            DecodeError::Attribute(a) => a.action,
            _ => A::SessionReset,
        };
        assert_eq!(e.action(), expected_action);
    }
}

#[test]
fn shutdown_communication_rfc9003() {
    let n = bgp_wire::Notification::cease_with_message(2, "maintenance");
    assert_eq!(n.shutdown_message().as_deref(), Some("maintenance"));
    assert_eq!(
        n.to_string(),
        "Cease/Administrative Shutdown: \"maintenance\""
    );
    let wire = Message::Notification(n).to_bytes(&ctx()).unwrap();
    let mut expected = vec![6, 2, 11];
    expected.extend_from_slice(b"maintenance");
    assert_eq!(wire[..], msg(3, &expected)[..]);
    // Truncated at 255 bytes on a character boundary.
    let long = "é".repeat(200);
    let n = bgp_wire::Notification::cease_with_message(4, &long);
    assert_eq!(n.data[0], 254);
    assert_eq!(n.shutdown_message().unwrap().len(), 254);
    // Not UTF-8 or wrong length → no message, Display falls back to hex.
    let n = bgp_wire::Notification::new(6, 2, Bytes::from_static(&[5, b'a']));
    assert_eq!(n.shutdown_message(), None);
    assert_eq!(n.to_string(), "Cease/Administrative Shutdown (data 0561)");
    assert_eq!(
        bgp_wire::Notification::new(6, 10, Bytes::new()).to_string(),
        "Cease/BFD Down"
    );
}

#[test]
fn attribute_errors_report_attribute_type() {
    let m = update(&[], &[attr(0x40, 1, &[9]), as_path(), next_hop()], NLRI);
    let u = decode_update(&m);
    assert_eq!(u.errors[0].type_code, attr_type::ORIGIN);
}

#[test]
fn message_display_for_logs() {
    assert_eq!(Message::Keepalive.to_string(), "KEEPALIVE");
    assert_eq!(
        Message::Update(Update::end_of_rib(Family::IPV6_UNICAST)).to_string(),
        "UPDATE End-of-RIB ipv6-unicast"
    );
    let u = decode_update(&update(&[], &[origin(), as_path(), next_hop()], NLRI));
    assert_eq!(
        Message::Update(u).to_string(),
        "UPDATE withdrawn 0, 3 attributes, NLRI 1"
    );
    let o = bgp_wire::Open::new(
        64500,
        90,
        Ipv4Addr::new(192, 0, 2, 1),
        vec![bgp_wire::Capability::RouteRefresh],
    );
    assert_eq!(
        Message::Open(o).to_string(),
        "OPEN version 4 AS 64500 hold 90 id 192.0.2.1 capabilities [2]"
    );
    assert_eq!(
        Message::RouteRefresh(bgp_wire::RouteRefresh::new(Family::IPV4_UNICAST)).to_string(),
        "ROUTE-REFRESH ipv4-unicast subtype 0"
    );
    let n = Message::Notification(bgp_wire::Notification::new(4, 0, Bytes::new()));
    assert_eq!(n.to_string(), "NOTIFICATION Hold Timer Expired/subcode 0");
}
