//! Decode arbitrary bytes as one BGP message under a context taken from the first
//! byte; whatever decodes must re-encode, decode again to the same message, and
//! re-encode to the same bytes.
//!
//! First byte: bit 0 = 2-octet AS, bit 1 = ADD-PATH IPv4, bit 2 = ADD-PATH IPv6,
//! bit 3 = extended messages; the message follows. An input starting with 0xff
//! (a raw message, as in the golden seeds) is decoded whole with the default
//! context plus extended messages.
#![no_main]

use bgp_wire::{Bytes, DecodeContext, Family, Framer, Message};
use libfuzzer_sys::fuzz_target;

fn context(b: u8) -> DecodeContext {
    let mut add_path = Vec::new();
    if b & 2 != 0 {
        add_path.push(Family::IPV4_UNICAST);
    }
    if b & 4 != 0 {
        add_path.push(Family::IPV6_UNICAST);
    }
    DecodeContext {
        four_octet_as: b & 1 == 0,
        add_path,
        extended_message: b & 8 != 0,
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let (ctx, msg) = if first == 0xff {
        (context(8), data)
    } else {
        (context(first), rest)
    };
    let decoded = Message::decode(Bytes::copy_from_slice(msg), &ctx);
    // The framer agrees with decode about the header.
    let mut f = Framer::new(ctx.max_message_len());
    f.push(msg);
    if let Err(e) = f.next_frame() {
        assert!(decoded.is_err(), "framer error {e:?} but decode ok");
    }
    let Ok(m) = decoded else { return };
    let bytes = m.to_bytes(&ctx).expect("a decoded message re-encodes");
    let again = Message::decode(bytes.clone(), &ctx).expect("a re-encoded message decodes");
    let clean = match &m {
        Message::Update(u) => u.errors.is_empty(),
        _ => true,
    };
    if clean {
        assert_eq!(again, m);
    }
    assert_eq!(again.to_bytes(&ctx).expect("encodes again"), bytes);
});
