//! Decode arbitrary bytes as a BFD Control packet; whatever decodes must re-encode to bytes
//! that decode to the same packet. The bytes are also fed to sessions (with and without
//! authentication), which must never panic.
#![no_main]

use std::time::Instant;

use bfd::{AuthConfig, AuthType, ControlPacket, Session, SessionConfig, SplitMix64};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(p) = ControlPacket::decode(data) {
        let bytes = p.encode();
        assert_eq!(usize::from(bytes[3]), bytes.len());
        let again = ControlPacket::decode(&bytes).expect("re-encoded packet decodes");
        assert_eq!(again, p);
        assert_eq!(again.encode().as_bytes(), bytes.as_bytes());
    }
    let now = Instant::now();
    let discr = data
        .get(8..12)
        .map_or(1, |b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]).max(1));
    let plain = SessionConfig::default();
    let keyed = SessionConfig {
        auth: Some(AuthConfig {
            auth_type: AuthType::MeticulousKeyedSha1,
            key_id: 1,
            key: b"key".to_vec(),
        }),
        ..SessionConfig::default()
    };
    for cfg in [plain, keyed] {
        if let Ok(mut s) = Session::new(cfg, discr, now, SplitMix64::new(1)) {
            let _ = s.handle_packet(now, data);
            s.handle_timeout(now);
            while s.poll_transmit(now).is_some() {}
            while s.poll_event().is_some() {}
        }
    }
});
