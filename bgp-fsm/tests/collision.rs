//! Connection collision (RFC 4271 §6.8) on one session, message by message.

mod common;

use bgp_fsm::{Action, ConnId, Direction, Reason, State};
use bgp_wire::{Message, Open};
use common::*;

/// A connects out (c1) and completes the OPEN exchange up to OpenConfirm; then
/// the peer connects in (c2) and sends its OPEN there.
fn collide(a_router_id: std::net::Ipv4Addr) -> (Solo, ConnId, ConnId, Vec<Action>) {
    let mut cfg = configs().0;
    cfg.router_id = a_router_id;
    let mut s = Solo::new(cfg);
    let c1 = s.connect();
    s.feed(&encode(peer_open()));
    assert_eq!(s.s.state(), State::OpenConfirm);
    let c2 = s.s.new_conn_id();
    s.s.handle_connected(s.now, c2, Direction::Inbound);
    let acts = s.drain();
    // OPEN sent on the new connection; still OpenConfirm overall.
    assert_eq!(acts.len(), 1, "{acts:?}");
    assert!(
        matches!(&acts[0], Action::Send { conn, bytes } if *conn == c2 && matches!(decode_all(bytes)[..], [Message::Open(_)]))
    );
    s.s.handle_bytes(s.now, c2, &encode(peer_open()));
    let acts = s.drain();
    (s, c1, c2, acts)
}

#[test]
fn lower_local_id_keeps_the_inbound_connection() {
    let (mut s, c1, c2, acts) = collide(A_ID); // 192.0.2.1 < peer 192.0.2.2
    assert_eq!(acts.len(), 3, "{acts:?}");
    assert_eq!(
        acts[0],
        Action::Send {
            conn: c1,
            bytes: notification_bytes(6, 7, &[]).into()
        }
    );
    assert_eq!(acts[1], Action::Close { conn: c1 });
    let Action::Send { conn, bytes } = &acts[2] else {
        panic!()
    };
    assert_eq!((*conn, decode_all(bytes)), (c2, vec![Message::Keepalive]));
    assert_eq!(s.s.state(), State::OpenConfirm);
    s.s.handle_bytes(s.now, c2, &encode(Message::Keepalive));
    s.drain();
    assert_eq!(s.s.established_conn(), Some(c2));
}

#[test]
fn higher_local_id_keeps_the_outbound_connection() {
    let (mut s, c1, c2, acts) = collide(std::net::Ipv4Addr::new(192, 0, 2, 3));
    assert_eq!(
        acts,
        vec![
            Action::Send {
                conn: c2,
                bytes: notification_bytes(6, 7, &[]).into()
            },
            Action::Close { conn: c2 },
        ]
    );
    assert_eq!(s.s.state(), State::OpenConfirm);
    s.s.handle_bytes(s.now, c1, &encode(Message::Keepalive));
    let acts = s.drain();
    assert!(matches!(
        acts[0],
        Action::StateChanged {
            to: State::Established,
            reason: Reason::Established,
            ..
        }
    ));
    assert_eq!(s.s.established_conn(), Some(c1));
}

#[test]
fn equal_ids_on_ebgp_resolved_by_as_number() {
    // RFC 6286 §2.3: same identifier → the higher AS wins (peer 64501 > us 64500).
    let mut s = Solo::new(configs().0);
    let c1 = s.connect();
    let same = Open::new(
        B_AS,
        90,
        A_ID,
        vec![bgp_wire::Capability::FourOctetAs(B_AS)],
    );
    s.feed(&encode(same.clone()));
    let c2 = s.s.new_conn_id();
    s.s.handle_connected(s.now, c2, Direction::Inbound);
    s.s.handle_bytes(s.now, c2, &encode(same));
    let acts = s.drain();
    assert!(acts.contains(&Action::Close { conn: c1 }), "{acts:?}");
    assert!(!acts.contains(&Action::Close { conn: c2 }));
}

#[test]
fn pending_connect_abandoned_when_inbound_session_opens() {
    let mut s = Solo::new(configs().0);
    s.s.handle_start(s.now);
    let acts = s.drain();
    let Action::Connect { conn: c1 } = acts[0] else {
        panic!("{acts:?}")
    };
    assert_eq!(s.s.state(), State::Connect);
    let c2 = s.s.new_conn_id();
    s.s.handle_connected(s.now, c2, Direction::Inbound);
    s.drain();
    assert_eq!(s.s.state(), State::OpenSent);
    s.s.handle_bytes(s.now, c2, &encode(peer_open()));
    let acts = s.drain();
    // The pending connect is dropped without a NOTIFICATION (no OPEN went out on it).
    assert_eq!(acts[0], Action::Close { conn: c1 });
    assert_eq!(s.s.state(), State::OpenConfirm);
    // Its late completion is closed again at once.
    s.s.handle_connected(s.now, c1, Direction::Outbound);
    assert_eq!(s.drain(), vec![Action::Close { conn: c1 }]);
    assert_eq!(s.s.state(), State::OpenConfirm);
}

#[test]
fn second_inbound_replaces_the_first() {
    let mut cfg = configs().0;
    cfg.passive = true;
    let mut s = Solo::new(cfg);
    s.s.handle_start(s.now);
    s.drain();
    let c1 = s.s.new_conn_id();
    s.s.handle_connected(s.now, c1, Direction::Inbound);
    s.drain();
    let c2 = s.s.new_conn_id();
    s.s.handle_connected(s.now, c2, Direction::Inbound);
    let acts = s.drain();
    assert_eq!(
        acts[0],
        Action::Send {
            conn: c1,
            bytes: notification_bytes(6, 7, &[]).into()
        }
    );
    assert_eq!(acts[1], Action::Close { conn: c1 });
    assert!(matches!(&acts[2], Action::Send { conn, .. } if *conn == c2));
    assert_eq!(s.s.state(), State::OpenSent);
}
