//! The BFD timer thread's logic ([`Scheduler`]) on virtual time: two schedulers exchange
//! packets in memory, no sockets, no clock.

use std::collections::HashSet;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use bfd::{ControlPacket, Diagnostic, State};
use speakerd::bfd::{
    AddError, BfdProfile, BfdStatus, Dropped, Received, Scheduler, SessionId, SessionParams,
    Transmit,
};
use tokio::sync::watch;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn fast() -> BfdProfile {
    BfdProfile {
        receive_interval: Duration::from_millis(100),
        transmit_interval: Duration::from_millis(100),
        detect_multiplier: 3,
        passive: false,
        minimum_ttl: 254,
    }
}

fn params(peer: &str, local: &str) -> SessionParams {
    SessionParams {
        peer: ip(peer),
        local: Some(ip(local)),
        ifindex: None,
        multihop: false,
        profile: fast(),
    }
}

/// Two schedulers joined by a lossless, instant in-memory network.
struct Net {
    a: Scheduler,
    b: Scheduler,
    now: Instant,
    /// Packets from these (sender side, sender local address) are lost.
    cut_a: HashSet<IpAddr>,
    cut_b: HashSet<IpAddr>,
    /// Every state change seen by A: (instant, session, new state).
    a_changes: Vec<(Instant, SessionId, State)>,
    a_watch: Vec<(SessionId, watch::Receiver<BfdStatus>)>,
    b_watch: Vec<(SessionId, watch::Receiver<BfdStatus>)>,
}

fn received(t: &Transmit, ttl: u8) -> Received {
    Received {
        from: SocketAddr::new(t.local.unwrap(), 49152),
        to: Some(t.to),
        ifindex: None,
        ttl: Some(ttl),
        multihop: t.multihop,
    }
}

impl Net {
    fn new() -> Net {
        Net {
            a: Scheduler::new(1),
            b: Scheduler::new(2),
            now: Instant::now(),
            cut_a: HashSet::new(),
            cut_b: HashSet::new(),
            a_changes: Vec::new(),
            a_watch: Vec::new(),
            b_watch: Vec::new(),
        }
    }

    fn add_pair(&mut self, a_local: &str, b_local: &str) -> (SessionId, SessionId) {
        let (ia, wa) = self.a.add(self.now, params(b_local, a_local)).unwrap();
        let (ib, wb) = self.b.add(self.now, params(a_local, b_local)).unwrap();
        self.a_watch.push((ia, wa));
        self.b_watch.push((ib, wb));
        (ia, ib)
    }

    /// Delivers everything queued (answers too) at the current instant.
    fn exchange(&mut self) {
        loop {
            let mut moved = false;
            while let Some(t) = self.a.poll_transmit() {
                moved = true;
                let rx = received(&t, 255);
                if !self.cut_a.contains(&rx.from.ip()) {
                    let _ = self.b.on_packet(self.now, rx, &t.packet);
                }
            }
            while let Some(t) = self.b.poll_transmit() {
                moved = true;
                let rx = received(&t, 255);
                if !self.cut_b.contains(&rx.from.ip()) {
                    let _ = self.a.on_packet(self.now, rx, &t.packet);
                }
            }
            if !moved {
                break;
            }
        }
        for (id, w) in &mut self.a_watch {
            if w.has_changed().unwrap_or(false) {
                let st = w.borrow_and_update().state;
                self.a_changes.push((self.now, *id, st));
            }
        }
    }

    /// Runs both schedulers on virtual time until `until`, jumping from deadline to deadline.
    fn run_until(&mut self, until: Instant) {
        loop {
            self.a.on_timer(self.now);
            self.b.on_timer(self.now);
            self.exchange();
            let next = [self.a.next_deadline(), self.b.next_deadline()]
                .into_iter()
                .flatten()
                .min();
            match next {
                Some(t) if t <= until => self.now = t.max(self.now),
                _ => {
                    self.now = until;
                    return;
                }
            }
        }
    }

    fn run_for(&mut self, d: Duration) {
        let until = self.now + d;
        self.run_until(until);
    }
}

#[test]
fn two_schedulers_reach_up_and_publish_it() {
    let mut net = Net::new();
    let (ia, ib) = net.add_pair("192.0.2.11", "192.0.2.1");
    let mut wa = net.a_watch[0].1.clone();
    assert_eq!(wa.borrow_and_update().state, State::Down);
    net.run_for(Duration::from_secs(3));
    assert_eq!(net.a.session(ia).unwrap().state(), State::Up);
    assert_eq!(net.b.session(ib).unwrap().state(), State::Up);
    let st = wa.borrow().clone();
    assert_eq!(st.state, State::Up);
    assert_eq!(st.down_count, 0);
    // Both Up well within the 1 s slow start: Down → Init → Up needs only a packet exchange.
    let up_at = net
        .a_changes
        .iter()
        .find(|(_, _, s)| *s == State::Up)
        .unwrap()
        .0;
    assert!(up_at - (net.now - Duration::from_secs(3)) < Duration::from_secs(2));
    // The negotiated 100 ms interval is in force after the Poll Sequence.
    assert_eq!(
        net.a.session(ia).unwrap().detection_time(),
        Some(Duration::from_millis(300))
    );
    let c = net.a.counters();
    assert!(c.accepted > 20 && c.dropped_ttl == 0 && c.dropped_unknown == 0);
}

#[test]
fn silent_peer_goes_down_exactly_at_detection_time() {
    let mut net = Net::new();
    let (ia, _) = net.add_pair("192.0.2.11", "192.0.2.1");
    net.run_for(Duration::from_secs(3));
    assert_eq!(net.a.session(ia).unwrap().state(), State::Up);
    net.a_changes.clear();
    // B goes silent (its packets are lost from now on).
    net.cut_b.insert(ip("192.0.2.1"));
    let last_rx = net.a.session(ia).unwrap().last_received().unwrap();
    net.run_for(Duration::from_secs(1));
    assert_eq!(net.a_changes.len(), 1, "{:?}", net.a_changes);
    let (at, id, st) = net.a_changes[0];
    assert_eq!((id, st), (ia, State::Down));
    // RFC 5880 §6.8.4: Down after exactly Detect Mult × the agreed interval of silence.
    assert_eq!(at - last_rx, Duration::from_millis(300));
    let status = net.a_watch[0].1.borrow().clone();
    assert_eq!(status.diag, Diagnostic::CONTROL_DETECTION_TIME_EXPIRED);
    assert_eq!(status.down_count, 1);
    assert!(!status.peer_admin_down);
    assert_eq!(net.a.counters().failures, 1);
}

#[test]
fn single_hop_requires_ttl_255_and_multihop_its_minimum() {
    let mut a = Scheduler::new(7);
    let now = Instant::now();
    let (sh, _) = a.add(now, params("192.0.2.1", "192.0.2.11")).unwrap();
    let mut mh = params("198.51.100.1", "192.0.2.11");
    mh.multihop = true;
    let (mh_id, _) = a.add(now, mh).unwrap();
    // A well-formed Down packet from each peer, Your Discriminator 0.
    let mut b = Scheduler::new(8);
    let (_, _) = b.add(now, params("192.0.2.11", "192.0.2.1")).unwrap();
    let pkt = b.poll_transmit().unwrap().packet;
    let from = |peer: &str, ttl: Option<u8>, multihop: bool| Received {
        from: SocketAddr::new(ip(peer), 49999),
        to: Some(ip("192.0.2.11")),
        ifindex: None,
        ttl,
        multihop,
    };
    // RFC 5881 §5: single hop with TTL 254 (one router away) or no TTL at all is dropped.
    assert_eq!(
        a.on_packet(now, from("192.0.2.1", Some(254), false), &pkt),
        Err(Dropped::Ttl(Some(254)))
    );
    assert_eq!(
        a.on_packet(now, from("192.0.2.1", None, false), &pkt),
        Err(Dropped::Ttl(None))
    );
    assert_eq!(a.session(sh).unwrap().state(), State::Down);
    assert_eq!(
        a.on_packet(now, from("192.0.2.1", Some(255), false), &pkt),
        Ok(sh)
    );
    assert_eq!(a.session(sh).unwrap().state(), State::Init);
    // RFC 5883 §5: multihop below the minimum (254) is dropped, at the minimum accepted.
    assert_eq!(
        a.on_packet(now, from("198.51.100.1", Some(253), true), &pkt),
        Err(Dropped::Ttl(Some(253)))
    );
    assert_eq!(
        a.on_packet(now, from("198.51.100.1", Some(254), true), &pkt),
        Ok(mh_id)
    );
    let c = a.counters();
    assert_eq!((c.dropped_ttl, c.accepted, c.received), (3, 2, 5));
}

#[test]
fn unknown_discriminator_and_unknown_peer_are_dropped_and_counted() {
    let now = Instant::now();
    let mut a = Scheduler::new(3);
    let (id, _) = a.add(now, params("192.0.2.1", "192.0.2.11")).unwrap();
    let mut b = Scheduler::new(4);
    b.add(now, params("192.0.2.11", "192.0.2.1")).unwrap();
    let pkt = b.poll_transmit().unwrap().packet;
    let mut decoded = ControlPacket::decode(&pkt).unwrap();
    let rx = |peer: &str| Received {
        from: SocketAddr::new(ip(peer), 49152),
        to: Some(ip("192.0.2.11")),
        ifindex: None,
        ttl: Some(255),
        multihop: false,
    };
    // Your Discriminator 0 from a peer without a session.
    assert_eq!(
        a.on_packet(now, rx("192.0.2.99"), &pkt),
        Err(Dropped::UnknownPeer)
    );
    // A nonzero Your Discriminator that is no session's.
    let ours = a.session(id).unwrap().local_discr();
    decoded.your_discr = ours.wrapping_add(1).max(1);
    let bad = decoded.encode();
    assert_eq!(
        a.on_packet(now, rx("192.0.2.1"), &bad),
        Err(Dropped::UnknownDiscriminator(decoded.your_discr))
    );
    // Our discriminator, but sent from another address: not this session's.
    decoded.your_discr = ours;
    let spoofed = decoded.encode();
    assert_eq!(
        a.on_packet(now, rx("192.0.2.99"), &spoofed),
        Err(Dropped::UnknownPeer)
    );
    // Garbage.
    assert!(matches!(
        a.on_packet(now, rx("192.0.2.1"), &[0x20, 0x40]),
        Err(Dropped::Invalid(_))
    ));
    let c = a.counters();
    assert_eq!(
        (c.dropped_unknown, c.dropped_invalid, c.accepted),
        (3, 1, 0)
    );
    assert_eq!(a.session(id).unwrap().state(), State::Down);
    // The right packet from the right peer is accepted.
    assert_eq!(a.on_packet(now, rx("192.0.2.1"), &spoofed), Ok(id));
}

#[test]
fn duplicate_sessions_are_refused() {
    let now = Instant::now();
    let mut a = Scheduler::new(5);
    a.add(now, params("192.0.2.1", "192.0.2.11")).unwrap();
    assert_eq!(
        a.add(now, params("192.0.2.1", "192.0.2.11")).unwrap_err(),
        AddError::Duplicate(ip("192.0.2.1"))
    );
    // Same peer, multihop: another session.
    let mut mh = params("192.0.2.1", "192.0.2.11");
    mh.multihop = true;
    a.add(now, mh).unwrap();
    let mut bad = params("192.0.2.2", "192.0.2.11");
    bad.profile.detect_multiplier = 0;
    assert!(matches!(a.add(now, bad), Err(AddError::Config(_))));
}

#[test]
fn many_sessions_share_one_heap_and_fail_independently() {
    let mut net = Net::new();
    let n = 200u32;
    let mut pairs = Vec::new();
    for i in 1..=n {
        // 100 IPv4 pairs and 100 IPv6 pairs, each with its own addresses.
        let (a_local, b_local) = if i <= 100 {
            (format!("192.0.2.{i}"), format!("203.0.113.{i}"))
        } else {
            (format!("2001:db8:1::{i:x}"), format!("2001:db8:2::{i:x}"))
        };
        let ids = net.add_pair(&a_local, &b_local);
        pairs.push((a_local, b_local, ids));
    }
    let mut discrs = HashSet::new();
    for (_, _, (ia, _)) in &pairs {
        assert!(discrs.insert(net.a.session(*ia).unwrap().local_discr()));
    }
    net.run_for(Duration::from_secs(5));
    for (_, _, (ia, ib)) in &pairs {
        assert_eq!(net.a.session(*ia).unwrap().state(), State::Up);
        assert_eq!(net.b.session(*ib).unwrap().state(), State::Up);
    }
    // Stale heap entries are bounded.
    assert!(
        net.a.heap_len() <= 4 * n as usize + 64,
        "{}",
        net.a.heap_len()
    );
    // Ten of B's sessions go silent: exactly those ten go Down at A, the rest stay Up.
    net.a_changes.clear();
    let silent: Vec<_> = pairs.iter().step_by(20).collect();
    for (_, b_local, _) in &silent {
        net.cut_b.insert(ip(b_local));
    }
    net.run_for(Duration::from_secs(2));
    let down: HashSet<SessionId> = net
        .a_changes
        .iter()
        .filter(|(_, _, s)| *s == State::Down)
        .map(|(_, id, _)| *id)
        .collect();
    let expected: HashSet<SessionId> = silent.iter().map(|(_, _, (ia, _))| *ia).collect();
    assert_eq!(down, expected);
    for (_, _, (ia, _)) in &pairs {
        let st = net.a.session(*ia).unwrap().state();
        if expected.contains(ia) {
            assert_ne!(st, State::Up);
        } else {
            assert_eq!(st, State::Up);
        }
    }
    assert_eq!(net.a.counters().failures, 10);
}

#[test]
fn removal_sends_admin_down_which_the_peer_does_not_count_as_failure() {
    let mut net = Net::new();
    let (ia, ib) = net.add_pair("192.0.2.11", "192.0.2.1");
    net.run_for(Duration::from_secs(3));
    assert_eq!(net.b.session(ib).unwrap().state(), State::Up);
    let mut wb = net.b_watch[0].1.clone();
    net.a.remove(net.now, ia);
    net.exchange();
    let b = net.b.session(ib).unwrap();
    assert_eq!(b.state(), State::Down);
    assert_eq!(b.local_diag(), Diagnostic::NEIGHBOR_SIGNALED_SESSION_DOWN);
    assert_eq!(net.b.counters().failures, 0);
    // RFC 5882 §3.2: the peer's AdminDown is published as such, not as a failure.
    let st = wb.borrow_and_update().clone();
    assert_eq!(st.state, State::Down);
    assert!(st.peer_admin_down);
    assert_eq!(st.down_count, 0);
    // A keeps sending AdminDown for a while, then the session is gone.
    assert_eq!(net.a.len(), 1);
    net.run_for(Duration::from_secs(5));
    assert_eq!(net.a.poll_removed(), Some(ia));
    assert!(net.a.is_empty());
    assert!(net.a.session(ia).is_none());
    // The same peer can be configured again.
    let again = net
        .a
        .add(net.now, params("192.0.2.1", "192.0.2.11"))
        .unwrap()
        .0;
    assert_ne!(again, ia);
}

#[test]
fn packets_on_another_interface_are_dropped() {
    let now = Instant::now();
    let mut a = Scheduler::new(9);
    let mut p = params("192.0.2.1", "192.0.2.11");
    p.ifindex = Some(3);
    let (id, _) = a.add(now, p).unwrap();
    let mut b = Scheduler::new(10);
    b.add(now, params("192.0.2.11", "192.0.2.1")).unwrap();
    let pkt = b.poll_transmit().unwrap().packet;
    let rx = |ifindex| Received {
        from: SocketAddr::new(ip("192.0.2.1"), 49152),
        to: Some(ip("192.0.2.11")),
        ifindex: Some(ifindex),
        ttl: Some(255),
        multihop: false,
    };
    assert_eq!(a.on_packet(now, rx(4), &pkt), Err(Dropped::UnknownPeer));
    assert_eq!(a.on_packet(now, rx(3), &pkt), Ok(id));
}
