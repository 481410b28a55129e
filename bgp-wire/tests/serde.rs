//! `--features serde`: every message type serializes to JSON with byte blobs as
//! hex strings and addresses/prefixes as strings.
#![cfg(feature = "serde")]

use std::net::Ipv4Addr;

use bgp_wire::{
    AsPath, AttributeValue, Bytes, Capability, Community, DecodeContext, Family, LargeCommunity,
    Message, MpNextHop, MpReach, Nlri, Notification, Open, Origin, PathAttribute, RouteRefresh,
    Update,
};

fn json(m: &Message) -> String {
    serde_json::to_string(m).unwrap()
}

#[test]
fn update_as_json() {
    let u = Update {
        attributes: vec![
            PathAttribute::new(AttributeValue::Origin(Origin::Igp)),
            PathAttribute::new(AttributeValue::AsPath(AsPath::from_sequence(vec![64500]))),
            PathAttribute::new(AttributeValue::NextHop(Ipv4Addr::new(192, 0, 2, 1))),
            PathAttribute::new(AttributeValue::Communities(vec![
                Community::new(64500, 100),
                Community::NO_EXPORT,
            ])),
            PathAttribute::new(AttributeValue::LargeCommunities(vec![LargeCommunity {
                global_admin: 64500,
                local_data_1: 1,
                local_data_2: 2,
            }])),
            PathAttribute::new(AttributeValue::MpReach(MpReach {
                family: Family::IPV6_UNICAST,
                next_hop: MpNextHop::Ipv6 {
                    global: "2001:db8::1".parse().unwrap(),
                    link_local: None,
                },
                nlri: vec![Nlri::new("2001:db8:1::/48".parse().unwrap())],
            })),
            PathAttribute::new(AttributeValue::Unknown {
                type_code: 99,
                data: Bytes::from_static(&[0xde, 0xad]),
            }),
        ],
        nlri: vec![Nlri::new("203.0.113.0/24".parse().unwrap())],
        ..Default::default()
    };
    let s = json(&Message::Update(u));
    for needle in [
        "\"203.0.113.0/24\"",
        "\"192.0.2.1\"",
        "\"2001:db8:1::/48\"",
        "\"2001:db8::1\"",
        "\"64500:100\"",
        "\"no-export\"",
        "\"64500:1:2\"",
        "\"data\":\"dead\"",
        "\"Igp\"",
    ] {
        assert!(s.contains(needle), "{needle} not in {s}");
    }
    // Parses back as JSON.
    let v: serde_json::Value = serde_json::from_str(&s).unwrap();
    assert!(v.get("Update").is_some());
}

#[test]
fn other_messages_as_json() {
    let open = Open::new(
        64500,
        90,
        Ipv4Addr::new(192, 0, 2, 1),
        vec![
            Capability::FourOctetAs(64500),
            Capability::Unknown {
                code: 200,
                data: Bytes::from_static(&[1, 2]),
            },
        ],
    );
    let s = json(&Message::Open(open));
    assert!(s.contains("\"192.0.2.1\""), "{s}");
    assert!(s.contains("\"data\":\"0102\""), "{s}");
    let s = json(&Message::Notification(Notification::cease_with_message(
        2, "bye",
    )));
    assert!(s.contains("\"data\":\"03627965\""), "{s}");
    assert_eq!(json(&Message::Keepalive), "\"Keepalive\"");
    let s = json(&Message::RouteRefresh(RouteRefresh::new(
        Family::IPV4_UNICAST,
    )));
    assert!(s.contains("\"subtype\":0"), "{s}");
}

#[test]
fn decode_errors_serialize() {
    let ctx = DecodeContext::default();
    // An UPDATE with a discarded ATOMIC_AGGREGATE: errors carry hex attribute bytes.
    let mut m = vec![0xff; 16];
    let body = [0u8, 0, 0, 4, 0x40, 6, 1, 7];
    m.extend_from_slice(&((19 + body.len()) as u16).to_be_bytes());
    m.push(2);
    m.extend_from_slice(&body);
    let msg = Message::decode(Bytes::from(m), &ctx).unwrap();
    let s = json(&msg);
    assert!(s.contains("\"attribute\":\"40060107\""), "{s}");
    assert!(s.contains("AttributeDiscard"), "{s}");
}
