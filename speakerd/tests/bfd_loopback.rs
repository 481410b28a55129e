//! Two BFD runtimes on 127.0.0.1 with crossed ports: real sockets, the real timer thread.
//! The only waits are on the status watch, each with a deadline.

use std::net::{IpAddr, Ipv4Addr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bfd::{Diagnostic, State};
use speakerd::bfd::{
    BfdProfile, BfdRuntime, BfdRuntimeOptions, BfdSessionSpec, BfdStatus, SEND_TTL,
};
use tokio::sync::watch;

const LO: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

fn free_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn options(listen: (u16, u16), peer: (u16, u16)) -> BfdRuntimeOptions {
    BfdRuntimeOptions {
        bind_v4: Some(Ipv4Addr::LOCALHOST),
        bind_v6: None,
        single_hop_port: listen.0,
        multihop_port: listen.1,
        peer_single_hop_port: peer.0,
        peer_multihop_port: peer.1,
        realtime_priority: None,
        ..BfdRuntimeOptions::default()
    }
}

fn spec() -> BfdSessionSpec {
    BfdSessionSpec {
        peer: LO,
        local: Some(LO),
        interface: None,
        multihop: false,
        profile: BfdProfile {
            receive_interval: Duration::from_millis(50),
            transmit_interval: Duration::from_millis(50),
            detect_multiplier: 3,
            passive: false,
            minimum_ttl: 254,
        },
    }
}

async fn wait_for(
    rx: &mut watch::Receiver<BfdStatus>,
    what: &str,
    f: impl FnMut(&BfdStatus) -> bool,
) -> BfdStatus {
    let r = tokio::time::timeout(Duration::from_secs(10), rx.wait_for(f))
        .await
        .map(|r| r.map(|s| s.clone()));
    match r {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => panic!("{what}: watch closed: {e}"),
        Err(_) => panic!("{what}: not within 10 s; last status {:?}", *rx.borrow()),
    }
}

#[tokio::test]
async fn two_runtimes_on_loopback_reach_up_and_see_admin_down() {
    let (a_sh, a_mh, b_sh, b_mh) = (free_port(), free_port(), free_port(), free_port());
    let a = BfdRuntime::start(options((a_sh, a_mh), (b_sh, b_mh))).unwrap();
    let b = BfdRuntime::start(options((b_sh, b_mh), (a_sh, a_mh))).unwrap();
    let ha = a.add_session(spec()).unwrap();
    let hb = b.add_session(spec()).unwrap();
    let mut wa = ha.watch();
    let mut wb = hb.watch();
    wait_for(&mut wa, "A Up", |s| s.state == State::Up).await;
    wait_for(&mut wb, "B Up", |s| s.state == State::Up).await;

    // A datagram sent with the default TTL (64) to A's single-hop port is dropped
    // (RFC 5881 §5), even though it is a valid packet from the right peer.
    let stray = UdpSocket::bind("127.0.0.1:0").unwrap();
    stray.set_ttl(64).unwrap();
    let pkt = bfd::ControlPacket {
        diag: Diagnostic::NONE,
        state: State::Down,
        flags: bfd::Flags::empty(),
        detect_mult: 3,
        my_discr: 77,
        your_discr: 0,
        desired_min_tx: 1_000_000,
        required_min_rx: 1_000_000,
        required_min_echo_rx: 0,
        auth: None,
    }
    .encode();
    stray.send_to(&pkt, (LO, a_sh)).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while a.stats().counters.dropped_ttl == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "TTL 64 packet not counted as dropped: {:?}",
            a.stats()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(wa.borrow().state, State::Up);
    assert_eq!(SEND_TTL, 255);

    // Removing B's session sends AdminDown: A goes Down, and it is not a failure.
    hb.remove();
    let st = wait_for(&mut wa, "A Down after B's AdminDown", |s| {
        s.state == State::Down
    })
    .await;
    assert!(st.peer_admin_down, "{st:?}");
    assert_eq!(st.diag, Diagnostic::NEIGHBOR_SIGNALED_SESSION_DOWN);
    assert_eq!(st.down_count, 0);
    let stats = a.stats();
    assert!(stats.counters.accepted > 0, "{stats:?}");
    assert_eq!(stats.counters.failures, 0);
    drop(ha);
    a.shutdown();
    b.shutdown();
}

/// Forwards datagrams from `sock` to `to` (with TTL 255) until `cut` is set: the forwarding
/// path A → B of the test, which the test can break.
fn relay(sock: UdpSocket, to: u16, cut: Arc<AtomicBool>) -> std::thread::JoinHandle<()> {
    sock.set_ttl(255).unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(20)))
        .unwrap();
    std::thread::spawn(move || {
        let mut buf = [0u8; 512];
        while !cut.load(Ordering::Relaxed) {
            if let Ok((n, _)) = sock.recv_from(&mut buf) {
                let _ = sock.send_to(&buf[..n], (LO, to));
            }
        }
    })
}

#[tokio::test]
async fn a_broken_path_is_detected_as_a_failure_on_both_ends() {
    let (a_sh, a_mh, b_sh, b_mh) = (free_port(), free_port(), free_port(), free_port());
    let relay_sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let relay_port = relay_sock.local_addr().unwrap().port();
    let cut = Arc::new(AtomicBool::new(false));
    let relay_thread = relay(relay_sock, b_mh, cut.clone());
    // Multihop this time (TTL 255 ≥ the minimum 254); A reaches B only through the relay.
    let a = BfdRuntime::start(options((a_sh, a_mh), (b_sh, relay_port))).unwrap();
    let b = BfdRuntime::start(options((b_sh, b_mh), (a_sh, a_mh))).unwrap();
    let mut s = spec();
    s.multihop = true;
    let ha = a.add_session(s.clone()).unwrap();
    let hb = b.add_session(s).unwrap();
    let mut wa = ha.watch();
    let mut wb = hb.watch();
    wait_for(&mut wa, "A Up", |s| s.state == State::Up).await;
    wait_for(&mut wb, "B Up", |s| s.state == State::Up).await;
    cut.store(true, Ordering::Relaxed);
    relay_thread.join().unwrap();
    // B hears nothing more: its detection time expires (a failure) ...
    let st = wait_for(&mut wb, "B Down after silence", |s| s.state == State::Down).await;
    assert_eq!(st.diag, Diagnostic::CONTROL_DETECTION_TIME_EXPIRED);
    assert_eq!(st.down_count, 1);
    assert!(!st.peer_admin_down);
    // ... and A, still hearing B, learns it from B's Down packets (also a failure).
    let st = wait_for(&mut wa, "A Down", |s| s.state == State::Down).await;
    assert_eq!(st.down_count, 1, "{st:?}");
    assert!(!st.peer_admin_down);
    assert_eq!(b.stats().counters.failures, 1);
    drop((ha, hb));
    a.shutdown();
    b.shutdown();
}

#[test]
fn packets_leave_from_a_dynamic_source_port_with_ttl_255() {
    use nix::sys::socket::{
        ControlMessageOwned, MsgFlags, SockaddrStorage, recvmsg, setsockopt, sockopt,
    };
    use std::os::fd::AsRawFd;
    // A plain socket plays the peer and looks at what arrives.
    let peer = UdpSocket::bind("127.0.0.1:0").unwrap();
    setsockopt(&peer, sockopt::Ipv4RecvTtl, &true).unwrap();
    peer.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let peer_port = peer.local_addr().unwrap().port();
    let rt = BfdRuntime::start(options(
        (free_port(), free_port()),
        (peer_port, free_port()),
    ))
    .unwrap();
    let h = rt.add_session(spec()).unwrap();
    let mut buf = [0u8; 128];
    let mut cmsg = nix::cmsg_space!(libc::c_int);
    let mut iov = [std::io::IoSliceMut::new(&mut buf)];
    let msg = recvmsg::<SockaddrStorage>(
        peer.as_raw_fd(),
        &mut iov,
        Some(&mut cmsg),
        MsgFlags::empty(),
    )
    .expect("a packet from the runtime within 10 s");
    let len = msg.bytes;
    let from = msg.address.unwrap().as_sockaddr_in().unwrap().port();
    let ttl = msg
        .cmsgs()
        .unwrap()
        .find_map(|c| match c {
            ControlMessageOwned::Ipv4Ttl(t) => Some(t),
            _ => None,
        })
        .unwrap();
    // RFC 5881 §4: source port in 49152..=65535; RFC 5881 §5: TTL 255.
    assert!((49152..=65535).contains(&from), "source port {from}");
    assert_eq!(ttl, 255);
    let pkt = bfd::ControlPacket::decode(&buf[..len]).unwrap();
    assert_eq!(pkt.state, State::Down);
    assert_ne!(pkt.my_discr, 0);
    assert_eq!(pkt.your_discr, 0);
    // Slow rate before Up (RFC 5880 §6.8.3).
    assert_eq!(pkt.desired_min_tx, 1_000_000);
    drop(h);
    rt.shutdown();
}
