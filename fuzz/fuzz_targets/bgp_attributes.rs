//! Decode arbitrary bytes as the path attribute block of an UPDATE (with one IPv4
//! prefix of NLRI, so the mandatory-attribute checks run) under a context taken from
//! the first byte. Never panics; whatever decodes re-encodes to an UPDATE that
//! decodes to the same attributes.
#![no_main]

use bgp_wire::{Bytes, DecodeContext, Family, Message};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&first, attrs)) = data.split_first() else {
        return;
    };
    let mut add_path = Vec::new();
    if first & 2 != 0 {
        add_path.push(Family::IPV4_UNICAST);
    }
    if first & 4 != 0 {
        add_path.push(Family::IPV6_UNICAST);
    }
    let ctx = DecodeContext {
        four_octet_as: first & 1 == 0,
        add_path,
        extended_message: true,
    };
    let nlri: &[u8] = if first & 16 != 0 {
        &[]
    } else if first & 2 != 0 {
        &[0, 0, 0, 1, 24, 203, 0, 113]
    } else {
        &[24, 203, 0, 113]
    };
    let body_len = 4 + attrs.len() + nlri.len();
    if 19 + body_len > 65535 {
        return;
    }
    let mut m = vec![0xff; 16];
    m.extend_from_slice(&((19 + body_len) as u16).to_be_bytes());
    m.push(2);
    m.extend_from_slice(&[0, 0]);
    m.extend_from_slice(&(attrs.len() as u16).to_be_bytes());
    m.extend_from_slice(attrs);
    m.extend_from_slice(nlri);
    let Ok(Message::Update(u)) = Message::decode(Bytes::from(m), &ctx) else {
        return;
    };
    for e in &u.errors {
        // The NOTIFICATION mapping works for every reported error.
        let n = e.notification();
        assert_eq!(n.code, 3);
    }
    let bytes = Message::Update(u.clone())
        .to_bytes(&ctx)
        .expect("re-encodes");
    let Ok(Message::Update(again)) = Message::decode(bytes, &ctx) else {
        panic!("re-encoded UPDATE decodes")
    };
    assert_eq!(again.attributes, u.attributes);
    assert_eq!(again.nlri, u.nlri);
});
