//! The UPDATE packer: fewest messages, all within the negotiated size, decoding
//! back to exactly the input.

use std::net::{Ipv4Addr, Ipv6Addr};

use bgp_wire::{
    AsPath, AttributeValue, Community, DecodeContext, EncodeError, Family, Ipv4Net, Ipv6Net,
    Message, MpNextHop, MpReach, Nlri, Origin, PathAttribute, UpdatePacker,
};

const TEST_NETS: [[u8; 3]; 3] = [[192, 0, 2], [198, 51, 100], [203, 0, 113]];

/// `n` IPv4 /32 prefixes from the documentation ranges (repeating; all 5 bytes on the wire).
fn v4_prefixes(n: usize) -> Vec<Nlri> {
    (0..n)
        .map(|i| {
            let net = TEST_NETS[i % 3];
            let a = Ipv4Addr::new(net[0], net[1], net[2], (i / 3 % 256) as u8);
            Nlri::from(Ipv4Net::new(a, 32).unwrap())
        })
        .collect()
}

/// `n` distinct IPv6 /64 prefixes inside 2001:db8::/32 (9 bytes each on the wire).
fn v6_prefixes(n: usize) -> Vec<Nlri> {
    (0..n)
        .map(|i| {
            let a = Ipv6Addr::new(0x2001, 0xdb8, (i >> 16) as u16, i as u16, 0, 0, 0, 0);
            Nlri::from(Ipv6Net::new(a, 64).unwrap())
        })
        .collect()
}

fn base_attrs() -> Vec<PathAttribute> {
    vec![
        PathAttribute::new(AttributeValue::Origin(Origin::Igp)),
        PathAttribute::new(AttributeValue::AsPath(AsPath::from_sequence(vec![
            64500, 64501,
        ]))),
        PathAttribute::new(AttributeValue::Med(50)),
        PathAttribute::new(AttributeValue::Communities(vec![
            Community::new(64500, 100),
            Community::NO_EXPORT,
        ])),
    ]
}

fn decode_all(msgs: &[bgp_wire::Bytes], ctx: &DecodeContext) -> (Vec<Nlri>, Vec<Nlri>) {
    let mut ann = Vec::new();
    let mut wd = Vec::new();
    for m in msgs {
        assert!(
            m.len() <= ctx.max_message_len(),
            "message of {} bytes",
            m.len()
        );
        let Message::Update(u) = Message::decode(m.clone(), ctx).unwrap() else {
            panic!("not an UPDATE")
        };
        assert!(u.errors.is_empty(), "{:?}", u.errors);
        ann.extend(u.announced().copied());
        wd.extend(u.withdrawn_all().copied());
    }
    (ann, wd)
}

#[test]
fn ipv4_100k_prefixes_fewest_messages() {
    let ctx = DecodeContext::default();
    let prefixes = v4_prefixes(100_000);
    let mut attrs = base_attrs();
    attrs.push(PathAttribute::new(AttributeValue::NextHop(Ipv4Addr::new(
        192, 0, 2, 1,
    ))));
    let packer = UpdatePacker::new(&ctx);
    let msgs = packer.announce(&attrs, &prefixes).unwrap();
    let (ann, wd) = decode_all(&msgs, &ctx);
    assert_eq!(ann, prefixes);
    assert!(wd.is_empty());
    // Attribute block size from one message: header 19 + 2 + 2 + attrs.
    let one = Message::Update(bgp_wire::Update {
        attributes: attrs.clone(),
        ..Default::default()
    })
    .to_bytes(&ctx)
    .unwrap();
    let room = 4096 - one.len();
    let per_msg = room / 5;
    assert_eq!(msgs.len(), prefixes.len().div_ceil(per_msg));
    // Every message except the last is full to within one prefix.
    for m in &msgs[..msgs.len() - 1] {
        assert!(m.len() + 5 > 4096);
    }
    // Attributes of every message are the input attributes.
    let Message::Update(u) = Message::decode(msgs[3].clone(), &ctx).unwrap() else {
        panic!()
    };
    assert_eq!(u.attributes, attrs);
}

#[test]
fn ipv4_withdrawals_and_add_path() {
    let ctx = DecodeContext {
        add_path: vec![Family::IPV4_UNICAST],
        ..Default::default()
    };
    let prefixes: Vec<Nlri> = v4_prefixes(20_000)
        .into_iter()
        .enumerate()
        .map(|(i, n)| Nlri {
            path_id: Some(i as u32),
            ..n
        })
        .collect();
    let msgs = UpdatePacker::new(&ctx).withdraw(&prefixes).unwrap();
    let (ann, wd) = decode_all(&msgs, &ctx);
    assert!(ann.is_empty());
    assert_eq!(wd, prefixes);
    // 23 bytes of fixed overhead, 9 bytes per prefix.
    assert_eq!(msgs.len(), prefixes.len().div_ceil((4096 - 23) / 9));
}

#[test]
fn ipv6_100k_prefixes_mp_reach_and_unreach() {
    for extended in [false, true] {
        let ctx = DecodeContext {
            extended_message: extended,
            ..Default::default()
        };
        let max = ctx.max_message_len();
        let prefixes = v6_prefixes(100_000);
        let nh = MpNextHop::Ipv6 {
            global: "2001:db8::1".parse().unwrap(),
            link_local: Some("fe80::1".parse().unwrap()),
        };
        let mut attrs = base_attrs();
        attrs.insert(
            1,
            PathAttribute::new(AttributeValue::MpReach(MpReach {
                family: Family::IPV6_UNICAST,
                next_hop: nh,
                nlri: vec![],
            })),
        );
        let packer = UpdatePacker::new(&ctx);
        let msgs = packer.announce(&attrs, &prefixes).unwrap();
        let (ann, _) = decode_all(&msgs, &ctx);
        assert_eq!(ann, prefixes);
        // Fixed part: header 19 + 4, MP_REACH header 4 + 3 + 1 + 32 + 1, other attributes.
        let others: Vec<PathAttribute> = attrs
            .iter()
            .filter(|a| !matches!(a.value, AttributeValue::MpReach(_)))
            .cloned()
            .collect();
        let block = Message::Update(bgp_wire::Update {
            attributes: others,
            ..Default::default()
        })
        .to_bytes(&ctx)
        .unwrap();
        let fixed = block.len() + 4 + 3 + 1 + 32 + 1;
        let per_msg = (max - fixed) / 9;
        assert_eq!(
            msgs.len(),
            prefixes.len().div_ceil(per_msg),
            "extended={extended}"
        );
        // MP_REACH is the first attribute (RFC 7606 §5.1).
        let Message::Update(u) = Message::decode(msgs[0].clone(), &ctx).unwrap() else {
            panic!()
        };
        assert!(matches!(u.attributes[0].value, AttributeValue::MpReach(_)));

        let msgs = packer.withdraw(&prefixes).unwrap();
        let (ann, wd) = decode_all(&msgs, &ctx);
        assert!(ann.is_empty());
        assert_eq!(wd, prefixes);
        assert_eq!(msgs.len(), prefixes.len().div_ceil((max - 23 - 4 - 3) / 9));
    }
}

#[test]
fn ipv4_with_ipv6_next_hop_rfc8950() {
    let ctx = DecodeContext::default();
    let prefixes = v4_prefixes(3000);
    let mut attrs = base_attrs();
    attrs.push(PathAttribute::new(AttributeValue::MpReach(MpReach {
        family: Family::IPV4_UNICAST,
        next_hop: MpNextHop::Ipv6 {
            global: "2001:db8::1".parse().unwrap(),
            link_local: None,
        },
        nlri: vec![],
    })));
    let msgs = UpdatePacker::new(&ctx).announce(&attrs, &prefixes).unwrap();
    let (ann, _) = decode_all(&msgs, &ctx);
    assert_eq!(ann, prefixes);
    let Message::Update(u) = Message::decode(msgs[0].clone(), &ctx).unwrap() else {
        panic!()
    };
    assert!(u.nlri.is_empty());
    assert_eq!(u.mp_reach().unwrap().family, Family::IPV4_UNICAST);
}

#[test]
fn mixed_lengths_all_fit() {
    let ctx = DecodeContext::default();
    let prefixes: Vec<Nlri> = (0..5000u32)
        .map(|i| {
            let net = TEST_NETS[(i % 3) as usize];
            let len = [8u8, 17, 24, 25, 32][(i % 5) as usize];
            let a = u32::from(Ipv4Addr::new(net[0], net[1], net[2], (i % 256) as u8));
            let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
            Nlri::from(Ipv4Net::new(Ipv4Addr::from(a & mask), len).unwrap())
        })
        .collect();
    let mut attrs = base_attrs();
    attrs.push(PathAttribute::new(AttributeValue::NextHop(Ipv4Addr::new(
        192, 0, 2, 1,
    ))));
    let msgs = UpdatePacker::new(&ctx)
        .with_max_len(1000)
        .announce(&attrs, &prefixes)
        .unwrap();
    assert!(msgs.iter().all(|m| m.len() <= 1000));
    let (ann, _) = decode_all(&msgs, &ctx);
    assert_eq!(ann, prefixes);
}

#[test]
fn missing_next_hop_is_an_error() {
    let ctx = DecodeContext::default();
    assert_eq!(
        UpdatePacker::new(&ctx).announce(&base_attrs(), &v4_prefixes(1)),
        Err(EncodeError::MissingNextHop(Family::IPV4_UNICAST))
    );
    assert_eq!(
        UpdatePacker::new(&ctx).announce(&base_attrs(), &v6_prefixes(1)),
        Err(EncodeError::MissingNextHop(Family::IPV6_UNICAST))
    );
    assert_eq!(
        UpdatePacker::new(&ctx).announce(&base_attrs(), &[]),
        Ok(vec![])
    );
}

#[test]
fn mixed_families_in_one_call() {
    let ctx = DecodeContext::default();
    let v4 = v4_prefixes(2000);
    let v6 = v6_prefixes(2000);
    let mixed: Vec<Nlri> = v4.iter().zip(&v6).flat_map(|(a, b)| [*a, *b]).collect();
    let mut attrs = base_attrs();
    attrs.push(PathAttribute::new(AttributeValue::NextHop(Ipv4Addr::new(
        192, 0, 2, 1,
    ))));
    attrs.push(PathAttribute::new(AttributeValue::MpReach(MpReach {
        family: Family::IPV6_UNICAST,
        next_hop: MpNextHop::Ipv6 {
            global: "2001:db8::1".parse().unwrap(),
            link_local: None,
        },
        nlri: vec![],
    })));
    let packer = UpdatePacker::new(&ctx);
    let (ann, _) = decode_all(&packer.announce(&attrs, &mixed).unwrap(), &ctx);
    assert_eq!(ann, [v4.clone(), v6.clone()].concat());
    let (_, wd) = decode_all(&packer.withdraw(&mixed).unwrap(), &ctx);
    assert_eq!(wd, [v4, v6].concat());
}
