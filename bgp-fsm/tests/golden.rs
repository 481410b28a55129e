//! OPENs captured from real peers (FRR, BIRD, GoBGP, ExaBGP; the golden files
//! of bgp-wire) are accepted by a session configured for them, and answered
//! with Bad Peer AS when the configured AS differs.

mod common;

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;

use bgp_fsm::{Action, SessionConfig, State};
use bgp_wire::{Bytes, DecodeContext, Message, Open};
use common::*;

fn golden_opens() -> Vec<(String, Open, Bytes)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../bgp-wire/tests/golden");
    let mut out = Vec::new();
    for e in std::fs::read_dir(&dir).expect("bgp-wire golden directory") {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        if !name.contains("-open-") || name.contains("notification") || !name.ends_with(".hex") {
            continue;
        }
        let text = std::fs::read_to_string(&p).unwrap();
        let hex: String = text
            .lines()
            .filter(|l| !l.starts_with('#'))
            .flat_map(|l| l.split_whitespace())
            .collect();
        let bytes = Bytes::from(hex::decode(hex).unwrap());
        let Message::Open(open) =
            Message::decode(bytes.clone(), &DecodeContext::default()).unwrap()
        else {
            panic!("{name} is not an OPEN")
        };
        out.push((name, open, bytes));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn config_for(open: &Open, peer_asn: u32, ibgp: bool) -> SessionConfig {
    let local_asn = if ibgp { open.asn() } else { 64511 };
    let mut cfg = SessionConfig::new(
        local_asn,
        Ipv4Addr::new(203, 0, 113, 250),
        peer_asn,
        IpAddr::V4(open.bgp_id),
    );
    let fams: Vec<_> = open.multiprotocol().collect();
    if !fams.is_empty() {
        cfg.families = fams;
    }
    cfg
}

#[test]
fn real_peers_opens_are_accepted() {
    let opens = golden_opens();
    assert!(opens.len() >= 10, "only {} golden OPENs", opens.len());
    for (name, open, bytes) in &opens {
        let cfg = config_for(open, open.asn(), name.contains("ibgp"));
        let mut s = Solo::new(cfg);
        s.connect();
        let acts = s.feed(bytes);
        assert_eq!(s.s.state(), State::OpenConfirm, "{name}: {acts:?}");
        let Action::Send { bytes, .. } = &acts[0] else {
            panic!("{name}: {acts:?}")
        };
        assert_eq!(decode_all(bytes), vec![Message::Keepalive], "{name}");
        let n = s.s.negotiated().unwrap();
        assert_eq!(n.hold_time, open.hold_time.min(90), "{name}");
        assert_eq!(n.peer_asn, open.asn(), "{name}");
        s.feed(&encode(Message::Keepalive));
        assert_eq!(s.s.state(), State::Established, "{name}");
    }
}

#[test]
fn real_peers_opens_with_wrong_configured_as_get_bad_peer_as() {
    for (name, open, bytes) in &golden_opens() {
        let cfg = config_for(open, open.asn() + 1, false);
        let mut s = Solo::new(cfg);
        s.connect();
        let acts = s.feed(bytes);
        let Action::Send { bytes, .. } = &acts[0] else {
            panic!("{name}: {acts:?}")
        };
        let [Message::Notification(n)] = &decode_all(bytes)[..] else {
            panic!("{name}")
        };
        assert_eq!((n.code, n.subcode), (2, 2), "{name}");
        assert_eq!(s.s.state(), State::Idle, "{name}");
    }
}
