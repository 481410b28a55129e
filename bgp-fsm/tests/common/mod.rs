//! Shared helpers for the bgp-fsm tests (virtual time only).
#![allow(dead_code, unreachable_pub)]

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use bgp_fsm::{Action, ConnId, Direction, Session, SessionConfig, State};
use bgp_wire::{
    AsPath, AttributeValue, Bytes, Capability, DecodeContext, EncodeContext, Family, Framer,
    Message, Nlri, Open, Origin, PathAttribute, Update,
};

pub const A_ID: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
pub const B_ID: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);
pub const A_AS: u32 = 64500;
pub const B_AS: u32 = 64501;

/// A's config (peer B), B's config (peer A).
pub fn configs() -> (SessionConfig, SessionConfig) {
    (
        SessionConfig::new(A_AS, A_ID, B_AS, IpAddr::V4(B_ID)),
        SessionConfig::new(B_AS, B_ID, A_AS, IpAddr::V4(A_ID)),
    )
}

pub fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// Decodes every message in `bytes` (lenient context).
pub fn decode_all(bytes: &[u8]) -> Vec<Message> {
    let ctx = DecodeContext {
        extended_message: true,
        ..DecodeContext::default()
    };
    let mut f = Framer::new(65535);
    f.push(bytes);
    let mut out = Vec::new();
    while let Ok(Some(fr)) = f.next_frame() {
        out.push(Message::decode(fr, &ctx).expect("decodable"));
    }
    out
}

pub fn encode(m: impl Into<Message>) -> Bytes {
    m.into().to_bytes(&EncodeContext::default()).unwrap()
}

/// B's OPEN as a well-behaved peer sends it.
pub fn peer_open() -> Open {
    Open::new(
        B_AS,
        90,
        B_ID,
        vec![
            Capability::Multiprotocol(Family::IPV4_UNICAST),
            Capability::RouteRefresh,
            Capability::FourOctetAs(B_AS),
        ],
    )
}

/// One IPv4 UPDATE announcing `prefixes` from B.
pub fn update_v4(prefixes: &[&str]) -> Update {
    Update {
        attributes: vec![
            PathAttribute::new(AttributeValue::Origin(Origin::Igp)),
            PathAttribute::new(AttributeValue::AsPath(AsPath::from_sequence(vec![B_AS]))),
            PathAttribute::new(AttributeValue::NextHop(B_ID)),
        ],
        nlri: prefixes
            .iter()
            .map(|p| Nlri::new(p.parse().unwrap()))
            .collect(),
        ..Default::default()
    }
}

/// One session driven by hand against a scripted peer.
pub struct Solo {
    pub s: Session,
    pub now: Instant,
    pub actions: Vec<(Instant, Action)>,
    pub conn: Option<ConnId>,
}

impl Solo {
    pub fn new(cfg: SessionConfig) -> Solo {
        Solo {
            s: Session::new(cfg),
            now: Instant::now(),
            actions: Vec::new(),
            conn: None,
        }
    }

    pub fn drain(&mut self) -> Vec<Action> {
        let mut v = Vec::new();
        while let Some(a) = self.s.poll_action() {
            self.actions.push((self.now, a.clone()));
            v.push(a);
        }
        v
    }

    /// Start, connect outbound; returns the actions (Connect, StateChanged, Send OPEN, ...).
    pub fn connect(&mut self) -> ConnId {
        self.s.handle_start(self.now);
        let acts = self.drain();
        let conn = acts
            .iter()
            .find_map(|a| match a {
                Action::Connect { conn } => Some(*conn),
                _ => None,
            })
            .expect("connect action");
        self.s.handle_connected(self.now, conn, Direction::Outbound);
        let acts = self.drain();
        assert!(matches!(&acts[0], Action::Send { .. }), "{acts:?}");
        assert_eq!(self.s.state(), State::OpenSent);
        self.conn = Some(conn);
        conn
    }

    pub fn feed(&mut self, bytes: &[u8]) -> Vec<Action> {
        let conn = self.conn.unwrap();
        self.s.handle_bytes(self.now, conn, bytes);
        self.drain()
    }

    /// Connect and complete the OPEN exchange with `peer_open()`.
    pub fn establish(&mut self) -> ConnId {
        let c = self.connect();
        self.feed(&encode(peer_open()));
        assert_eq!(self.s.state(), State::OpenConfirm);
        self.feed(&encode(Message::Keepalive));
        assert_eq!(self.s.state(), State::Established);
        c
    }

    pub fn advance(&mut self, d: Duration) -> Vec<Action> {
        self.now += d;
        self.s.handle_timeout(self.now);
        self.drain()
    }
}

/// The bytes of the Send actions in `acts`.
pub fn sent_bytes(acts: &[Action]) -> Vec<Bytes> {
    acts.iter()
        .filter_map(|a| match a {
            Action::Send { bytes, .. } => Some(bytes.clone()),
            _ => None,
        })
        .collect()
}

/// Expected NOTIFICATION wire bytes.
pub fn notification_bytes(code: u8, subcode: u8, data: &[u8]) -> Vec<u8> {
    let mut v = vec![0xff; 16];
    v.extend_from_slice(&((21 + data.len()) as u16).to_be_bytes());
    v.push(3);
    v.push(code);
    v.push(subcode);
    v.extend_from_slice(data);
    v
}
