//! Property tests: decode(encode(m)) == m and encode(decode(b)) == b for every
//! message type over generated values and contexts; the framer under arbitrary
//! chunking; decode never panics on arbitrary bytes.

use std::net::{Ipv4Addr, Ipv6Addr};

use bgp_wire::{
    AddPathFamily, AddPathMode, Afi, Aggregator, AsPath, AsSegment, AsSegmentType, AttrFlags,
    AttributeValue, Bytes, Capability, Community, DecodeContext, ExtendedCommunity,
    ExtendedNextHopEntry, Family, Framer, GracefulRestart, GracefulRestartFamily, IpNet, Ipv4Net,
    Ipv6Net, LargeCommunity, LlgrFamily, Message, MpNextHop, MpReach, MpUnreach, Nlri,
    Notification, Open, OptionalParameter, Origin, PathAttribute, Role, RouteRefresh, Safi, Update,
    attr_type,
};
use proptest::collection::vec;
use proptest::prelude::*;

// ---- strategies --------------------------------------------------------------------------

fn family() -> impl Strategy<Value = Family> {
    (any::<u16>(), any::<u8>()).prop_map(|(a, s)| Family::new(Afi(a), Safi(s)))
}

fn ip_family() -> impl Strategy<Value = Family> {
    (
        prop_oneof![Just(Afi::IPV4), Just(Afi::IPV6)],
        prop_oneof![Just(Safi::UNICAST), Just(Safi::MULTICAST)],
    )
        .prop_map(|(a, s)| Family::new(a, s))
}

fn short_string(max: usize) -> impl Strategy<Value = String> {
    proptest::string::string_regex(&format!("[a-zA-Z0-9.é-]{{0,{max}}}")).unwrap()
}

const KNOWN_CAPS: [u8; 12] = [1, 2, 5, 6, 9, 64, 65, 69, 70, 71, 73, 75];

fn capability() -> impl Strategy<Value = Capability> {
    prop_oneof![
        family().prop_map(Capability::Multiprotocol),
        Just(Capability::RouteRefresh),
        Just(Capability::EnhancedRouteRefresh),
        any::<u32>().prop_map(Capability::FourOctetAs),
        (0u8..16, 0u16..4096, vec((family(), any::<u8>()), 0..6)).prop_map(
            |(flags, restart_time, f)| {
                Capability::GracefulRestart(GracefulRestart {
                    flags,
                    restart_time,
                    families: f
                        .into_iter()
                        .map(|(family, flags)| GracefulRestartFamily { family, flags })
                        .collect(),
                })
            }
        ),
        vec((family(), any::<u8>(), 0u32..1 << 24), 0..6).prop_map(|f| {
            Capability::LongLivedGracefulRestart(
                f.into_iter()
                    .map(|(family, flags, stale_time)| LlgrFamily {
                        family,
                        flags,
                        stale_time,
                    })
                    .collect(),
            )
        }),
        vec((family(), any::<u8>()), 1..6).prop_map(|f| {
            Capability::AddPath(
                f.into_iter()
                    .map(|(family, m)| AddPathFamily {
                        family,
                        mode: AddPathMode(m),
                    })
                    .collect(),
            )
        }),
        Just(Capability::ExtendedMessage),
        vec((any::<u16>(), any::<u16>(), any::<u16>()), 0..6).prop_map(|e| {
            Capability::ExtendedNextHop(
                e.into_iter()
                    .map(|(a, s, n)| ExtendedNextHopEntry {
                        afi: Afi(a),
                        safi: s,
                        next_hop_afi: Afi(n),
                    })
                    .collect(),
            )
        }),
        any::<u8>().prop_map(|r| Capability::Role(Role(r))),
        (short_string(20), short_string(20))
            .prop_map(|(hostname, domain)| Capability::Fqdn { hostname, domain }),
        short_string(40).prop_map(Capability::SoftwareVersion),
        (
            any::<u8>().prop_filter("unknown code", |c| !KNOWN_CAPS.contains(c)),
            vec(any::<u8>(), 0..20)
        )
            .prop_map(|(code, d)| Capability::Unknown {
                code,
                data: Bytes::from(d)
            }),
    ]
}

fn open() -> impl Strategy<Value = Open> {
    (
        1u16..,
        any::<u16>().prop_filter("hold 1/2 invalid", |h| *h != 1 && *h != 2),
        1u32..,
        vec(vec(capability(), 0..4), 0..4),
        any::<bool>(),
    )
        .prop_map(|(my_as, hold_time, id, params, extended_params)| Open {
            version: 4,
            my_as,
            hold_time,
            bgp_id: Ipv4Addr::from(id),
            params: params
                .into_iter()
                .map(OptionalParameter::Capabilities)
                .collect(),
            extended_params,
        })
}

fn notification() -> impl Strategy<Value = Notification> {
    (any::<u8>(), any::<u8>(), vec(any::<u8>(), 0..100))
        .prop_map(|(c, s, d)| Notification::new(c, s, Bytes::from(d)))
}

fn route_refresh() -> impl Strategy<Value = RouteRefresh> {
    (family(), 0u8..3).prop_map(|(family, subtype)| RouteRefresh { family, subtype })
}

/// A prefix whose bytes past the prefix length are zero (they are not on the wire).
fn v4_prefix() -> impl Strategy<Value = IpNet> {
    (any::<[u8; 4]>(), 0u8..=32).prop_map(|(mut a, len)| {
        let nb = (len as usize).div_ceil(8);
        a[nb..].fill(0);
        IpNet::V4(Ipv4Net::new(Ipv4Addr::from(a), len).unwrap())
    })
}

fn v6_prefix() -> impl Strategy<Value = IpNet> {
    (any::<[u8; 16]>(), 0u8..=128).prop_map(|(mut a, len)| {
        let nb = (len as usize).div_ceil(8);
        a[nb..].fill(0);
        IpNet::V6(Ipv6Net::new(Ipv6Addr::from(a), len).unwrap())
    })
}

fn nlri_list(v4: bool, add_path: bool, max: usize) -> BoxedStrategy<Vec<Nlri>> {
    let p = if v4 {
        v4_prefix().boxed()
    } else {
        v6_prefix().boxed()
    };
    vec((p, any::<u32>()), 0..max)
        .prop_map(move |v| {
            v.into_iter()
                .map(|(prefix, id)| Nlri {
                    path_id: add_path.then_some(id),
                    prefix,
                })
                .collect()
        })
        .boxed()
}

fn nonzero_asns(as4: bool, max: usize) -> BoxedStrategy<Vec<u32>> {
    if as4 {
        vec(1u32.., 1..max).boxed()
    } else {
        vec(1u32..=65535, 1..max).boxed()
    }
}

fn as_path(as4: bool, confed: bool) -> impl Strategy<Value = AsPath> {
    let kinds = if confed {
        prop_oneof![
            Just(AsSegmentType::Set),
            Just(AsSegmentType::Sequence),
            Just(AsSegmentType::ConfedSequence),
            Just(AsSegmentType::ConfedSet)
        ]
        .boxed()
    } else {
        prop_oneof![Just(AsSegmentType::Set), Just(AsSegmentType::Sequence)].boxed()
    };
    vec((kinds, nonzero_asns(as4, 10)), 0..4).prop_map(|s| AsPath {
        segments: s
            .into_iter()
            .map(|(kind, asns)| AsSegment { kind, asns })
            .collect(),
    })
}

fn unicast_v4() -> impl Strategy<Value = Ipv4Addr> {
    any::<u32>()
        .prop_map(Ipv4Addr::from)
        .prop_filter("not multicast/broadcast", |a| {
            !a.is_multicast() && !a.is_broadcast()
        })
}

fn mp_next_hop(afi: Afi) -> BoxedStrategy<MpNextHop> {
    let v6 =
        (any::<u128>(), proptest::option::of(any::<u128>())).prop_map(|(g, l)| MpNextHop::Ipv6 {
            global: Ipv6Addr::from(g),
            link_local: l.map(Ipv6Addr::from),
        });
    if afi == Afi::IPV4 {
        prop_oneof![
            any::<u32>().prop_map(|a| MpNextHop::Ipv4(Ipv4Addr::from(a))),
            v6
        ]
        .boxed()
    } else {
        v6.boxed()
    }
}

const KNOWN_ATTRS: [u8; 16] = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 14, 15, 16, 17, 18, 32];

fn update(ctx: DecodeContext) -> impl Strategy<Value = Update> {
    let as4 = ctx.four_octet_as;
    let ap4 = ctx.has_add_path(Family::IPV4_UNICAST);
    let mp_reach = ip_family().prop_flat_map({
        let ctx = ctx.clone();
        move |family| {
            let ap = ctx.has_add_path(family);
            (
                mp_next_hop(family.afi),
                nlri_list(family.afi == Afi::IPV4, ap, 8),
            )
                .prop_map(move |(next_hop, nlri)| {
                    AttributeValue::MpReach(MpReach {
                        family,
                        next_hop,
                        nlri,
                    })
                })
        }
    });
    let mp_unreach = ip_family().prop_flat_map({
        let ctx = ctx.clone();
        move |family| {
            let ap = ctx.has_add_path(family);
            nlri_list(family.afi == Afi::IPV4, ap, 8).prop_map(move |withdrawn| {
                AttributeValue::MpUnreach(MpUnreach { family, withdrawn })
            })
        }
    });
    let agg = move || {
        (
            if as4 {
                (1u32..).boxed()
            } else {
                (1u32..=65535).boxed()
            },
            any::<u32>(),
        )
            .prop_map(|(asn, a)| Aggregator {
                asn,
                addr: Ipv4Addr::from(a),
            })
    };
    let optional = (
        (
            proptest::option::of(prop_oneof![
                Just(Origin::Igp),
                Just(Origin::Egp),
                Just(Origin::Incomplete)
            ]),
            proptest::option::of(as_path(as4, true)),
            proptest::option::of(unicast_v4()),
            proptest::option::of(any::<u32>()),
            proptest::option::of(any::<u32>()),
            any::<bool>(),
            proptest::option::of(agg()),
            proptest::option::of(vec(any::<u32>().prop_map(Community), 1..20)),
        ),
        (
            proptest::option::of(any::<u32>().prop_map(Ipv4Addr::from)),
            proptest::option::of(vec(any::<u32>().prop_map(Ipv4Addr::from), 1..10)),
            proptest::option::of(mp_reach),
            proptest::option::of(mp_unreach),
            proptest::option::of(vec(
                any::<[u8; 8]>().prop_map(ExtendedCommunity::from_bytes),
                0..10,
            )),
            proptest::option::of(as_path(true, false)),
            proptest::option::of(agg()),
            proptest::option::of(vec(any::<[u32; 3]>(), 1..10)),
        ),
        vec(
            (
                any::<u8>().prop_filter("unknown", |c| !KNOWN_ATTRS.contains(c)),
                any::<u8>(),
                vec(any::<u8>(), 0..300),
            ),
            0..3,
        ),
    );
    (
        nlri_list(true, ap4, 20),
        nlri_list(true, ap4, 20),
        optional,
        any::<bool>(),
        any::<u64>(),
    )
        .prop_map(
            move |(
                withdrawn,
                nlri,
                (
                    (o, ap, nh, med, lp, atomic, ag, comm),
                    (oid, cl, mpr, mpu, ext, as4p, as4ag, large),
                    unk,
                ),
                ext_len,
                seed,
            )| {
                let mut values: Vec<AttributeValue> = Vec::new();
                let mp_has_nlri =
                    matches!(&mpr, Some(AttributeValue::MpReach(m)) if !m.nlri.is_empty());
                let announcing = !nlri.is_empty() || mp_has_nlri;
                // RFC 7606 §3(d): keep the mandatory attributes when NLRI are present.
                let o = if announcing {
                    Some(o.unwrap_or(Origin::Igp))
                } else {
                    o
                };
                let ap = if announcing {
                    Some(ap.unwrap_or_default())
                } else {
                    ap
                };
                let nh = if !nlri.is_empty() {
                    Some(nh.unwrap_or(Ipv4Addr::new(192, 0, 2, 1)))
                } else {
                    nh
                };
                values.extend(o.map(AttributeValue::Origin));
                values.extend(ap.map(AttributeValue::AsPath));
                values.extend(nh.map(AttributeValue::NextHop));
                values.extend(med.map(AttributeValue::Med));
                values.extend(lp.map(AttributeValue::LocalPref));
                if atomic {
                    values.push(AttributeValue::AtomicAggregate);
                }
                values.extend(ag.map(AttributeValue::Aggregator));
                values.extend(comm.map(AttributeValue::Communities));
                values.extend(oid.map(AttributeValue::OriginatorId));
                values.extend(cl.map(AttributeValue::ClusterList));
                values.extend(mpr);
                values.extend(mpu);
                values.extend(ext.map(AttributeValue::ExtendedCommunities));
                values.extend(as4p.map(AttributeValue::As4Path));
                values.extend(as4ag.map(AttributeValue::As4Aggregator));
                values.extend(large.map(|l| {
                    AttributeValue::LargeCommunities(
                        l.into_iter()
                            .map(|[a, b, c]| LargeCommunity {
                                global_admin: a,
                                local_data_1: b,
                                local_data_2: c,
                            })
                            .collect(),
                    )
                }));
                let mut attributes: Vec<PathAttribute> = values
                    .into_iter()
                    .map(|v| {
                        let mut a = PathAttribute::new(v);
                        if ext_len {
                            a.flags |= AttrFlags::EXTENDED_LENGTH;
                        }
                        a
                    })
                    .collect();
                let mut seen = std::collections::HashSet::new();
                for (tc, flags, data) in unk {
                    if !seen.insert(tc) {
                        continue;
                    }
                    // Optional (unknown well-known attributes are a session reset).
                    let mut flags = AttrFlags::from_bits_retain(flags) | AttrFlags::OPTIONAL;
                    if data.len() > 255 {
                        flags |= AttrFlags::EXTENDED_LENGTH;
                    }
                    attributes.push(PathAttribute {
                        flags,
                        value: AttributeValue::Unknown {
                            type_code: tc,
                            data: Bytes::from(data),
                        },
                    });
                }
                // Deterministic shuffle: order must be preserved whatever it is.
                let mut s = seed;
                for i in (1..attributes.len()).rev() {
                    s = s
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    attributes.swap(i, (s >> 33) as usize % (i + 1));
                }
                Update {
                    withdrawn,
                    attributes,
                    nlri,
                    errors: Vec::new(),
                }
            },
        )
}

fn context() -> impl Strategy<Value = DecodeContext> {
    (
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(four_octet_as, a4, a6, a4m, a6m, extended_message)| {
            let mut add_path = Vec::new();
            for (on, f) in [
                (a4, Family::IPV4_UNICAST),
                (a6, Family::IPV6_UNICAST),
                (a4m, Family::new(Afi::IPV4, Safi::MULTICAST)),
                (a6m, Family::new(Afi::IPV6, Safi::MULTICAST)),
            ] {
                if on {
                    add_path.push(f);
                }
            }
            DecodeContext {
                four_octet_as,
                add_path,
                extended_message,
            }
        })
}

fn message_with_ctx() -> impl Strategy<Value = (DecodeContext, Message)> {
    context().prop_flat_map(|ctx| {
        let m = prop_oneof![
            open().prop_map(Message::Open),
            update(ctx.clone()).prop_map(Message::Update),
            notification().prop_map(Message::Notification),
            Just(Message::Keepalive),
            route_refresh().prop_map(Message::RouteRefresh),
        ];
        (Just(ctx), m)
    })
}

fn check_roundtrip(ctx: &DecodeContext, m: &Message) -> Result<Bytes, TestCaseError> {
    let bytes = m
        .to_bytes(ctx)
        .map_err(|e| TestCaseError::fail(format!("encode: {e}")))?;
    let back = Message::decode(bytes.clone(), ctx)
        .map_err(|e| TestCaseError::fail(format!("decode: {e}")))?;
    prop_assert_eq!(&back, m);
    let again = back.to_bytes(ctx).unwrap();
    prop_assert_eq!(&again[..], &bytes[..]);
    Ok(bytes)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn every_message_roundtrips((ctx, m) in message_with_ctx()) {
        check_roundtrip(&ctx, &m)?;
    }

    #[test]
    fn open_roundtrips(o in open()) {
        check_roundtrip(&DecodeContext::default(), &Message::Open(o))?;
    }

    #[test]
    fn update_roundtrips((ctx, u) in context().prop_flat_map(|c| (Just(c.clone()), update(c)))) {
        check_roundtrip(&ctx, &Message::Update(u))?;
    }

    #[test]
    fn notification_roundtrips(n in notification()) {
        check_roundtrip(&DecodeContext::default(), &Message::Notification(n))?;
    }

    #[test]
    fn route_refresh_roundtrips(r in route_refresh()) {
        check_roundtrip(&DecodeContext::default(), &Message::RouteRefresh(r))?;
    }

    /// The framer yields the same frames whatever the chunking.
    #[test]
    fn framer_any_chunking(
        msgs in vec(message_with_ctx().prop_filter_map("encodable", |(c, m)| {
            let c = DecodeContext { extended_message: true, ..c };
            m.to_bytes(&c).ok()
        }), 1..8),
        cuts in vec(1usize..300, 0..64),
    ) {
        let stream: Vec<u8> = msgs.iter().flat_map(|b| b.iter().copied()).collect();
        let mut f = Framer::new(65535);
        let mut got = Vec::new();
        let mut pos = 0;
        for c in cuts.iter().chain(std::iter::repeat(&usize::MAX)) {
            if pos >= stream.len() {
                break;
            }
            let end = pos.saturating_add(*c).min(stream.len());
            f.push(&stream[pos..end]);
            pos = end;
            while let Some(frame) = f.next_frame().unwrap() {
                got.push(frame);
            }
        }
        prop_assert_eq!(got, msgs);
        prop_assert_eq!(f.buffered(), 0);
    }

    /// Arbitrary bytes never panic; whatever decodes re-encodes and decodes the same.
    #[test]
    fn decode_arbitrary_bytes_never_panics(ctx in context(), t in 1u8..=5, body in vec(any::<u8>(), 0..600)) {
        let mut m = vec![0xff; 16];
        m.extend_from_slice(&((19 + body.len()) as u16).to_be_bytes());
        m.push(t);
        m.extend_from_slice(&body);
        if let Ok(msg) = Message::decode(Bytes::from(m), &ctx) {
            if let Ok(b) = msg.to_bytes(&ctx) {
                let again = Message::decode(b, &ctx);
                if let Message::Update(u) = &msg {
                    // Errors found the first time are not re-encoded.
                    if u.errors.is_empty() {
                        prop_assert_eq!(again.unwrap(), msg.clone());
                    }
                } else {
                    prop_assert_eq!(again.unwrap(), msg.clone());
                }
            }
        }
    }
}

#[test]
fn open_params_over_255_bytes_use_extended_form() {
    let caps: Vec<Capability> = (0..50)
        .map(|i| Capability::Multiprotocol(Family::new(Afi(i), Safi::UNICAST)))
        .collect();
    let o = Open::new(64500, 90, Ipv4Addr::new(192, 0, 2, 1), caps);
    let ctx = DecodeContext::default();
    let b = Message::Open(o.clone()).to_bytes(&ctx).unwrap();
    // RFC 9072: 255, 255 then a 2-octet length.
    assert_eq!(&b[28..30], &[255, 255]);
    let Message::Open(back) = Message::decode(b, &ctx).unwrap() else {
        panic!()
    };
    assert!(back.extended_params);
    assert_eq!(back.params, o.params);
}

#[test]
fn attribute_over_255_bytes_gets_extended_length() {
    let comms: Vec<Community> = (0..100).map(Community).collect();
    let mut a = PathAttribute::new(AttributeValue::Communities(comms));
    assert!(!a.flags.contains(AttrFlags::EXTENDED_LENGTH));
    let u = Update {
        attributes: vec![a.clone()],
        ..Default::default()
    };
    let ctx = DecodeContext::default();
    let b = Message::Update(u).to_bytes(&ctx).unwrap();
    let Message::Update(back) = Message::decode(b, &ctx).unwrap() else {
        panic!()
    };
    a.flags |= AttrFlags::EXTENDED_LENGTH;
    assert_eq!(back.attributes, vec![a]);
    assert_eq!(
        back.attribute(attr_type::COMMUNITIES).unwrap().flags.bits(),
        0xd0
    );
}

#[test]
fn two_octet_context_uses_as_trans() {
    let ctx = DecodeContext::two_octet_as();
    let u = Update {
        attributes: vec![
            PathAttribute::new(AttributeValue::AsPath(AsPath::from_sequence(vec![
                64500,
                4_200_000_000,
            ]))),
            PathAttribute::new(AttributeValue::Aggregator(Aggregator {
                asn: 4_200_000_000,
                addr: Ipv4Addr::new(192, 0, 2, 1),
            })),
        ],
        ..Default::default()
    };
    let b = Message::Update(u).to_bytes(&ctx).unwrap();
    let Message::Update(back) = Message::decode(b, &ctx).unwrap() else {
        panic!()
    };
    assert_eq!(
        back.as_path().unwrap().asns().collect::<Vec<_>>(),
        vec![64500, 23456]
    );
    assert_eq!(back.aggregator().unwrap().asn, 23456);
}

#[test]
fn negotiation_from_two_opens() {
    use bgp_wire::Negotiated;
    let ap = |f, m| AddPathFamily { family: f, mode: m };
    let local = Open::new(
        64500,
        90,
        Ipv4Addr::new(192, 0, 2, 1),
        vec![
            Capability::FourOctetAs(64500),
            Capability::ExtendedMessage,
            Capability::AddPath(vec![
                ap(Family::IPV4_UNICAST, AddPathMode::BOTH),
                ap(Family::IPV6_UNICAST, AddPathMode::SEND),
            ]),
        ],
    );
    let remote = Open::new(
        64501,
        90,
        Ipv4Addr::new(192, 0, 2, 2),
        vec![
            Capability::FourOctetAs(64501),
            Capability::AddPath(vec![
                ap(Family::IPV4_UNICAST, AddPathMode::SEND),
                ap(Family::IPV6_UNICAST, AddPathMode::RECEIVE),
            ]),
        ],
    );
    let n = Negotiated::from_opens(&local, &remote);
    assert!(n.decode.four_octet_as && n.encode.four_octet_as);
    assert!(
        !n.decode.extended_message,
        "only one side announced extended messages"
    );
    assert_eq!(n.decode.add_path, vec![Family::IPV4_UNICAST]);
    assert_eq!(n.encode.add_path, vec![Family::IPV6_UNICAST]);
    let old = Open::new(64502, 90, Ipv4Addr::new(192, 0, 2, 3), vec![]);
    let n = Negotiated::from_opens(&local, &old);
    assert!(!n.decode.four_octet_as);
    assert!(n.decode.add_path.is_empty() && n.encode.add_path.is_empty());
}
