//! Session behaviour on virtual time: two sessions joined by in-memory queues.

mod common;

use std::time::{Duration, Instant};

use bfd::{Diagnostic, Event, Flags, Session, SessionConfig, SplitMix64, State};
use common::{DISCR_A, DISCR_B, Pair, config, ms};

fn state_changes(events: &[(Instant, Event)]) -> Vec<(Instant, State, State, Diagnostic, bool)> {
    events
        .iter()
        .filter_map(|(t, e)| match *e {
            Event::StateChanged {
                from,
                to,
                diag,
                peer_admin_down,
            } => Some((*t, from, to, diag, peer_admin_down)),
            _ => None,
        })
        .collect()
}

#[test]
fn three_way_handshake_both_sides_down_init_up() {
    let mut p = Pair::new(config(50, 50, 3), config(50, 50, 3));
    p.delay = ms(10);
    p.run_until_cond(Duration::from_secs(5), |p| p.both_up());
    let t0 = p.t0;
    // Both start at t0 with a Down packet; each hears Down at +10 ms (-> Init) and the
    // other's Init at +20 ms (-> Up).
    for side in [&p.a, &p.b] {
        assert_eq!(
            side.transitions(),
            vec![(State::Down, State::Init), (State::Init, State::Up)]
        );
        let times: Vec<_> = state_changes(&side.events)
            .iter()
            .map(|c| c.0 - t0)
            .collect();
        assert_eq!(times, vec![ms(10), ms(20)]);
    }
    assert_eq!(p.a.s.remote_discr(), DISCR_B);
    assert_eq!(p.b.s.remote_discr(), DISCR_A);
    // First packets: Down with Your Discriminator 0; the Init packets echo the discriminator.
    assert_eq!(p.a.sent[0].1.state, State::Down);
    assert_eq!(p.a.sent[0].1.your_discr, 0);
    let init =
        p.a.sent
            .iter()
            .find(|(_, pk)| pk.state == State::Init)
            .unwrap();
    assert_eq!(init.1.your_discr, DISCR_B);
    assert_eq!(init.0 - t0, ms(10), "state change is announced at once");
}

#[test]
fn classic_three_way_with_one_side_starting_first() {
    // B passive: A sends Down, B goes Init, A goes straight Up, then B goes Up.
    let mut b_cfg = config(50, 50, 3);
    b_cfg.passive = true;
    let mut p = Pair::new(config(50, 50, 3), b_cfg);
    p.delay = ms(5);
    p.run_until_cond(Duration::from_secs(5), |p| p.both_up());
    assert_eq!(p.a.transitions(), vec![(State::Down, State::Up)]);
    assert_eq!(
        p.b.transitions(),
        vec![(State::Down, State::Init), (State::Init, State::Up)]
    );
    let a_up = state_changes(&p.a.events)[0].0 - p.t0;
    let b_init = state_changes(&p.b.events)[0].0 - p.t0;
    let b_up = state_changes(&p.b.events)[1].0 - p.t0;
    assert_eq!((b_init, a_up, b_up), (ms(5), ms(10), ms(15)));
}

#[test]
fn down_exactly_one_detection_time_after_last_packet() {
    let mut p = Pair::new(config(50, 50, 3), config(50, 50, 3));
    p.delay = ms(1);
    p.establish();
    p.run_for(Duration::from_secs(1));
    // Detection time at A: B's mult 3 x max(A RequiredMinRx 50, B DesiredMinTx 50).
    assert_eq!(p.a.s.detection_time(), Some(ms(150)));
    let cut = p.now;
    p.drop_b_to_a = true;
    p.run_until_cond(Duration::from_secs(2), |p| p.a.s.state() == State::Down);
    let last_rx = p.a.received.last().unwrap().0;
    assert!(last_rx <= cut + ms(1), "no packet from B after the cut");
    assert_eq!(p.a.s.last_received(), Some(last_rx));
    let changes = state_changes(&p.a.events);
    let (t, from, to, diag, peer_admin) = *changes.last().unwrap();
    assert_eq!((from, to), (State::Up, State::Down));
    assert_eq!(
        t,
        last_rx + ms(150),
        "exactly one detection time after the last packet"
    );
    assert_eq!(diag, Diagnostic::CONTROL_DETECTION_TIME_EXPIRED);
    assert!(!peer_admin);
    assert!(p.a.events.last().unwrap().1.is_failure());
    assert_eq!(
        p.a.s.local_diag(),
        Diagnostic::CONTROL_DETECTION_TIME_EXPIRED
    );
    // RFC 5880 §6.8.1: the remote discriminator is forgotten.
    assert_eq!(p.a.s.remote_discr(), 0);
    // A tells B, which goes Down with diag 3 — a real failure, not AdminDown.
    p.run_for(ms(10));
    let (_, from, to, diag, peer_admin) = *state_changes(&p.b.events).last().unwrap();
    assert_eq!(
        (from, to, diag, peer_admin),
        (
            State::Up,
            State::Down,
            Diagnostic::NEIGHBOR_SIGNALED_SESSION_DOWN,
            false
        )
    );
    assert!(p.b.events.iter().any(|(_, e)| e.is_failure()));
}

#[test]
fn detection_uses_the_slower_of_local_rx_and_remote_tx_and_remote_mult() {
    // A wants 100 ms, B sends every 40 ms at most with mult 5: A detects in 5 x 100 ms.
    let mut p = Pair::new(config(50, 100, 3), config(40, 40, 5));
    p.establish();
    assert_eq!(p.a.s.detection_time(), Some(ms(500)));
    // B: A's mult 3 x max(B rx 40, A tx 50) = 150 ms.
    assert_eq!(p.b.s.detection_time(), Some(ms(150)));
    // Transmit interval: max(own DesiredMinTx, remote RequiredMinRx).
    assert_eq!(p.a.s.tx_interval(), ms(50));
    assert_eq!(p.b.s.tx_interval(), ms(100));
}

#[test]
fn init_without_reply_times_out_to_down() {
    let mut p = Pair::new(config(50, 50, 3), config(50, 50, 3));
    p.drop_a_to_b = true;
    // B never hears A; A hears B's Down and goes Init, then B's packets stop.
    p.run_until_cond(Duration::from_secs(3), |p| p.a.s.state() == State::Init);
    p.drop_b_to_a = true;
    let last = p.a.s.last_received().unwrap();
    let det = p.a.s.detection_time().unwrap();
    // Not Up: B advertises at least 1 s, so the detection time is 3 s.
    assert_eq!(det, Duration::from_secs(3));
    p.run_until_cond(Duration::from_secs(5), |p| p.a.s.state() == State::Down);
    let (t, _, _, diag, _) = *state_changes(&p.a.events).last().unwrap();
    assert_eq!(t, last + det);
    assert_eq!(diag, Diagnostic::CONTROL_DETECTION_TIME_EXPIRED);
    assert!(!p.a.events.last().unwrap().1.is_failure(), "never was Up");
}

#[test]
fn reducing_required_min_rx_takes_effect_only_after_final() {
    let mut p = Pair::new(config(50, 300, 3), config(50, 50, 3));
    p.delay = ms(10);
    p.establish();
    p.run_for(Duration::from_secs(1));
    assert_eq!(p.a.s.detection_time(), Some(ms(900)));
    assert_eq!(p.b.s.tx_interval(), ms(300));
    let events_before = p.a.events.len();
    let sent_before = p.a.sent.len();
    p.a.s.set_intervals(p.now, ms(50), ms(100)).unwrap();
    // Advertised at once, but the detection time keeps the old value during the Poll.
    assert!(p.a.s.poll_in_progress());
    assert_eq!(p.a.s.required_min_rx(), ms(100));
    assert_eq!(p.a.s.detection_time(), Some(ms(900)));
    p.run_until_cond(Duration::from_secs(2), |p| {
        p.a.events[events_before..]
            .iter()
            .any(|(_, e)| *e == Event::PollSequenceComplete)
    });
    assert!(!p.a.s.poll_in_progress());
    assert_eq!(
        p.a.s.detection_time(),
        Some(ms(300)),
        "new value after the Final"
    );
    // The Poll rode on a scheduled packet (no extra packet), carrying the new value...
    let poll = p.a.sent[sent_before..]
        .iter()
        .find(|(_, pk)| pk.flags.contains(Flags::POLL))
        .unwrap();
    assert_eq!(poll.1.required_min_rx, 100_000);
    // ...and B answered with Final the instant it arrived, not at its next jittered slot.
    let fin =
        p.b.sent
            .iter()
            .find(|(t, pk)| *t >= poll.0 && pk.flags.contains(Flags::FINAL))
            .unwrap();
    assert_eq!(fin.0, poll.0 + ms(10));
    assert!(!fin.1.flags.contains(Flags::POLL));
    // B honours the faster rate at once.
    assert_eq!(p.b.s.tx_interval(), ms(100));
    // Exactly the poll-to-final interval: A's detection time changed at the Final's arrival.
    let complete = p.a.events[events_before..]
        .iter()
        .find(|(_, e)| *e == Event::PollSequenceComplete)
        .unwrap();
    assert_eq!(complete.0, fin.0 + ms(10));
}

#[test]
fn increasing_desired_min_tx_is_used_only_after_final() {
    let mut p = Pair::new(config(50, 50, 3), config(50, 50, 3));
    p.delay = ms(100);
    p.establish();
    p.run_for(Duration::from_secs(1));
    assert_eq!(p.a.s.tx_interval(), ms(50));
    p.a.s.set_intervals(p.now, ms(200), ms(50)).unwrap();
    assert_eq!(p.a.s.desired_min_tx(), ms(200));
    assert_eq!(p.a.s.tx_interval(), ms(50), "old rate until the Final");
    let start = p.now;
    p.run_until_cond(Duration::from_secs(2), |p| !p.a.s.poll_in_progress());
    let end = p.now;
    // All gaps while polling are within the old 50 ms interval.
    let during: Vec<_> =
        p.a.sent
            .iter()
            .filter(|(t, pk)| *t >= start && *t <= end && !pk.flags.contains(Flags::FINAL))
            .map(|(t, _)| *t)
            .collect();
    assert!(during.len() >= 2);
    for w in during.windows(2) {
        assert!(
            w[1] - w[0] <= ms(50),
            "gap {:?} during the poll",
            w[1] - w[0]
        );
    }
    assert_eq!(p.a.s.tx_interval(), ms(200));
    // B updated its detection time as soon as it saw the new Desired Min TX.
    assert_eq!(p.b.s.detection_time(), Some(ms(600)));
    p.run_for(Duration::from_secs(3));
    assert!(p.both_up());
}

#[test]
fn change_during_poll_is_queued_until_final() {
    let mut p = Pair::new(config(50, 50, 3), config(50, 50, 3));
    p.delay = ms(30);
    p.establish();
    p.a.s.set_intervals(p.now, ms(60), ms(50)).unwrap();
    p.a.s.set_intervals(p.now, ms(70), ms(50)).unwrap();
    assert_eq!(
        p.a.s.desired_min_tx(),
        ms(60),
        "second change waits for the first Final"
    );
    p.run_until_cond(Duration::from_secs(2), |p| p.a.s.desired_min_tx() == ms(70));
    assert!(p.a.s.poll_in_progress(), "second sequence started");
    p.run_until_cond(Duration::from_secs(2), |p| !p.a.s.poll_in_progress());
    assert_eq!(p.a.s.tx_interval(), ms(70));
    let completes =
        p.a.events
            .iter()
            .filter(|(_, e)| *e == Event::PollSequenceComplete)
            .count();
    assert!(
        completes >= 3,
        "up-transition poll plus two changes: {completes}"
    );
}

fn periodic_gaps(p: &Pair, from: Instant) -> Vec<Duration> {
    let times: Vec<_> =
        p.a.sent
            .iter()
            .filter(|(t, pk)| *t > from && !pk.flags.contains(Flags::FINAL))
            .map(|(t, _)| *t)
            .collect();
    times.windows(2).map(|w| w[1] - w[0]).collect()
}

fn jitter_run(mult: u8, seed: u64) -> Vec<Duration> {
    let mut p = Pair::with_seeds(config(100, 100, mult), config(100, 100, 3), seed, 99);
    p.establish();
    let from = p.now;
    p.run_for(Duration::from_secs(200));
    assert!(p.both_up());
    periodic_gaps(&p, from)
}

#[test]
fn jitter_within_75_to_100_percent() {
    let gaps = jitter_run(3, 7);
    assert!(gaps.len() > 1500, "{} packets", gaps.len());
    let lo = ms(75);
    let hi = ms(100);
    for g in &gaps {
        assert!(*g >= lo && *g <= hi, "gap {g:?} outside 75-100 ms");
    }
    // Actually jittered across the range, not a constant.
    assert!(gaps.iter().min().unwrap() < &ms(77));
    assert!(gaps.iter().max().unwrap() > &ms(98));
}

#[test]
fn jitter_with_detect_mult_1_within_75_to_90_percent() {
    let gaps = jitter_run(1, 7);
    assert!(gaps.len() > 1500);
    for g in &gaps {
        assert!(*g >= ms(75) && *g <= ms(90), "gap {g:?} outside 75-90 ms");
    }
    assert!(gaps.iter().min().unwrap() < &ms(77));
    assert!(gaps.iter().max().unwrap() > &ms(88));
}

#[test]
fn jitter_is_deterministic_for_a_seed() {
    assert_eq!(jitter_run(3, 42), jitter_run(3, 42));
    assert_ne!(jitter_run(3, 42), jitter_run(3, 43));
}

#[test]
fn one_second_interval_while_not_up() {
    let t0 = Instant::now();
    let mut s = Session::new(config(50, 50, 3), 7, t0, SplitMix64::new(5)).unwrap();
    let mut now = t0;
    let mut sent = Vec::new();
    while now < t0 + Duration::from_secs(100) {
        s.handle_timeout(now);
        while let Some(pk) = s.poll_transmit(now) {
            sent.push((now, bfd::ControlPacket::decode(&pk).unwrap()));
        }
        now = s.poll_timeout().unwrap();
    }
    assert_eq!(sent[0].0, t0, "an active session starts at once");
    assert!(
        sent.len() > 100 && sent.len() <= 134,
        "{} packets in 100 s",
        sent.len()
    );
    for w in sent.windows(2) {
        let gap = w[1].0 - w[0].0;
        assert!(gap >= ms(750) && gap <= ms(1000), "gap {gap:?}");
    }
    for (_, pk) in &sent {
        assert_eq!(pk.state, State::Down);
        // RFC 5880 §6.8.3: Desired Min TX >= 1 s while not Up, whatever is configured.
        assert_eq!(pk.desired_min_tx, 1_000_000);
        assert_eq!(pk.required_min_rx, 50_000);
    }
    assert_eq!(s.desired_min_tx(), Duration::from_secs(1));
}

#[test]
fn fast_interval_only_once_up() {
    let mut p = Pair::new(config(50, 50, 3), config(50, 50, 3));
    p.establish();
    let last = p.a.sent.last().unwrap().1;
    assert_eq!(last.desired_min_tx, 50_000);
    assert_eq!(p.a.s.tx_interval(), ms(50));
    // Going Down returns to the slow rate.
    p.drop_b_to_a = true;
    p.run_until_cond(Duration::from_secs(2), |p| p.a.s.state() == State::Down);
    p.run_for(Duration::from_secs(1));
    assert_eq!(p.a.sent.last().unwrap().1.desired_min_tx, 1_000_000);
    assert_eq!(p.a.s.desired_min_tx(), Duration::from_secs(1));
}

#[test]
fn peer_admin_down_is_not_a_failure() {
    let mut p = Pair::new(config(50, 50, 3), config(50, 50, 3));
    p.delay = ms(1);
    p.establish();
    let t = p.now;
    p.b.s.admin_down(t);
    p.run_for(ms(5));
    let b_change = *state_changes(&p.b.events).last().unwrap();
    assert_eq!(
        (b_change.1, b_change.2, b_change.3),
        (
            State::Up,
            State::AdminDown,
            Diagnostic::ADMINISTRATIVELY_DOWN
        )
    );
    let a_change = *state_changes(&p.a.events).last().unwrap();
    assert_eq!(
        a_change.0,
        t + ms(1),
        "the AdminDown packet goes out at once"
    );
    assert_eq!((a_change.1, a_change.2), (State::Up, State::Down));
    assert_eq!(a_change.3, Diagnostic::NEIGHBOR_SIGNALED_SESSION_DOWN);
    assert!(a_change.4, "reported as peer AdminDown");
    assert!(!p.a.events.last().unwrap().1.is_failure());
    assert!(!p.b.events.iter().any(|(_, e)| e.is_failure()));
    // B's packets say AdminDown with diag 7.
    let b_pkt = p.b.sent.last().unwrap().1;
    assert_eq!(
        (b_pkt.state, b_pkt.diag),
        (State::AdminDown, Diagnostic::ADMINISTRATIVELY_DOWN)
    );
    // A stays Down while B is AdminDown, and B sends only a few packets, then stops.
    p.run_for(Duration::from_secs(30));
    assert_eq!(p.a.s.state(), State::Down);
    let admin_pkts: Vec<_> = p.b.sent.iter().filter(|(tt, _)| *tt >= t).collect();
    assert!(
        (2..=5).contains(&admin_pkts.len()),
        "{} AdminDown packets",
        admin_pkts.len()
    );
    assert!(
        admin_pkts
            .iter()
            .all(|(_, pk)| pk.state == State::AdminDown)
    );
    assert!(admin_pkts.last().unwrap().0 < t + Duration::from_secs(4));
    // And both come back after admin_up.
    p.b.s.admin_up(p.now);
    p.run_until_cond(Duration::from_secs(10), |p| p.both_up());
}

#[test]
fn admin_down_ignores_received_packets() {
    let mut p = Pair::new(config(50, 50, 3), config(50, 50, 3));
    p.establish();
    p.a.s.admin_down(p.now);
    p.run_for(Duration::from_secs(10));
    assert_eq!(p.a.s.state(), State::AdminDown);
    assert_eq!(
        p.a.transitions().last(),
        Some(&(State::Up, State::AdminDown))
    );
    assert_eq!(p.b.s.state(), State::Down);
}

#[test]
fn passive_session_is_silent_until_it_hears_the_peer() {
    let mut b_cfg = config(50, 50, 3);
    b_cfg.passive = true;
    let mut p = Pair::new(config(50, 50, 3), b_cfg);
    p.drop_a_to_b = true;
    p.run_for(Duration::from_secs(10));
    assert!(
        p.b.sent.is_empty(),
        "passive sent {} packets",
        p.b.sent.len()
    );
    assert_eq!(p.b.s.poll_timeout(), None, "nothing scheduled");
    assert!(p.a.sent.len() >= 10);
    p.drop_a_to_b = false;
    p.run_until_cond(Duration::from_secs(3), |p| p.both_up());
    assert!(!p.b.sent.is_empty());
}

#[test]
fn passive_goes_silent_again_after_peer_disappears() {
    let mut b_cfg = config(50, 50, 3);
    b_cfg.passive = true;
    let mut p = Pair::new(config(50, 50, 3), b_cfg);
    p.establish();
    p.drop_a_to_b = true;
    p.run_until_cond(Duration::from_secs(2), |p| p.b.s.state() == State::Down);
    // One Down packet to announce the change, then silence once the peer is forgotten.
    let n = p.b.sent.len();
    p.run_for(Duration::from_secs(10));
    assert_eq!(p.b.s.remote_discr(), 0);
    assert!(p.b.sent.len() <= n + 1);
}

#[test]
fn remote_required_min_rx_zero_stops_periodic_transmission() {
    // Hand-drive A with packets that say Required Min RX = 0.
    let t0 = Instant::now();
    let mut a = Session::new(config(50, 50, 3), DISCR_A, t0, SplitMix64::new(3)).unwrap();
    while a.poll_transmit(t0).is_some() {}
    let pk = bfd::ControlPacket {
        diag: Diagnostic::NONE,
        state: State::Down,
        flags: Flags::empty(),
        detect_mult: 3,
        my_discr: DISCR_B,
        your_discr: 0,
        desired_min_tx: 1_000_000,
        required_min_rx: 0,
        required_min_echo_rx: 0,
        auth: None,
    };
    let t1 = t0 + ms(100);
    a.handle_packet(t1, &pk.encode()).unwrap();
    assert_eq!(a.state(), State::Init);
    assert_eq!(
        a.poll_transmit(t1),
        None,
        "no packets, not even the state change"
    );
    // Nothing scheduled but the detection deadline.
    assert_eq!(a.poll_timeout(), a.detection_deadline());
    assert_eq!(a.tx_interval(), Duration::ZERO);
    // A Poll is still answered with Final.
    let poll = bfd::ControlPacket {
        flags: Flags::POLL,
        ..pk
    };
    let t2 = t1 + ms(100);
    a.handle_packet(t2, &poll.encode()).unwrap();
    let fin = bfd::ControlPacket::decode(&a.poll_transmit(t2).unwrap()).unwrap();
    assert!(fin.flags.contains(Flags::FINAL));
    assert_eq!(a.poll_transmit(t2), None);
    // The peer asks for packets again: transmission resumes.
    let resume = bfd::ControlPacket {
        required_min_rx: 50_000,
        ..pk
    };
    let t3 = t2 + ms(100);
    a.handle_packet(t3, &resume.encode()).unwrap();
    assert!(a.poll_transmit(t3).is_some());
}

#[test]
fn early_handle_timeout_is_a_no_op() {
    let mut p = Pair::new(config(50, 50, 3), config(50, 50, 3));
    p.establish();
    let before = format!("{:?}", p.a.s);
    p.a.s.handle_timeout(p.now);
    p.a.s.handle_timeout(p.now);
    assert_eq!(format!("{:?}", p.a.s), before);
    assert!(p.a.s.poll_timeout().unwrap() > p.now);
}

#[test]
fn survives_losing_every_other_packet() {
    // With mult 3, losing every other packet never leaves a gap of a detection time.
    let mut p = Pair::new(config(50, 50, 3), config(50, 50, 3));
    p.establish();
    p.drop_a_if = Some(|n| n % 2 == 0);
    p.run_for(Duration::from_secs(60));
    assert!(p.both_up());
    assert!(!p.a.events.iter().any(|(_, e)| e.is_failure()));
    assert!(!p.b.events.iter().any(|(_, e)| e.is_failure()));
    // Losing three of every four is too much: gaps of 4 x 37.5..50 ms reach the 150 ms.
    p.drop_a_if = Some(|n| n % 4 != 0);
    p.run_for(Duration::from_secs(60));
    assert!(p.b.events.iter().any(|(_, e)| e.is_failure()));
}

#[test]
fn config_errors() {
    let t0 = Instant::now();
    let new = |cfg: SessionConfig, discr| Session::new(cfg, discr, t0, SplitMix64::new(1)).err();
    assert_eq!(
        new(config(50, 50, 3), 0),
        Some(bfd::ConfigError::ZeroLocalDiscriminator)
    );
    assert_eq!(
        new(config(50, 50, 0), 1),
        Some(bfd::ConfigError::ZeroDetectMult)
    );
    assert_eq!(
        new(config(0, 50, 3), 1),
        Some(bfd::ConfigError::ZeroDesiredMinTx)
    );
    assert_eq!(
        new(config(50, 0, 3), 1),
        Some(bfd::ConfigError::ZeroRequiredMinRx)
    );
    let huge = SessionConfig {
        desired_min_tx: Duration::from_secs(5000),
        ..config(50, 50, 3)
    };
    assert!(matches!(
        new(huge, 1),
        Some(bfd::ConfigError::IntervalTooLarge(_))
    ));
    let bad_key = SessionConfig {
        auth: Some(bfd::AuthConfig {
            auth_type: bfd::AuthType::KeyedMd5,
            key_id: 1,
            key: vec![0; 17],
        }),
        ..config(50, 50, 3)
    };
    assert!(matches!(new(bad_key, 1), Some(bfd::ConfigError::Auth(_))));
}

/// A packet from a hand-driven peer B.
fn from_b(state: State, flags: Flags) -> bfd::ControlPacket {
    bfd::ControlPacket {
        diag: Diagnostic::NONE,
        state,
        flags,
        detect_mult: 3,
        my_discr: DISCR_B,
        your_discr: if state == State::Down { 0 } else { DISCR_A },
        desired_min_tx: 50_000,
        required_min_rx: 50_000,
        required_min_echo_rx: 0,
        auth: None,
    }
}

#[test]
fn remote_demand_mode_stops_periodic_transmission_except_during_poll() {
    let t0 = Instant::now();
    let mut a = Session::new(config(50, 50, 3), DISCR_A, t0, SplitMix64::new(3)).unwrap();
    let mut now = t0;
    a.handle_packet(now, &from_b(State::Init, Flags::empty()).encode())
        .unwrap();
    assert_eq!(a.state(), State::Up);
    // Let the Up-transition poll complete.
    while a.poll_transmit(now).is_some() {}
    now += ms(10);
    a.handle_packet(now, &from_b(State::Up, Flags::FINAL).encode())
        .unwrap();
    assert!(!a.poll_in_progress());
    // Peer Up in Demand mode: no more periodic packets from A.
    now += ms(10);
    a.handle_packet(now, &from_b(State::Up, Flags::DEMAND).encode())
        .unwrap();
    while a.poll_transmit(now).is_some() {}
    assert_eq!(
        a.poll_timeout(),
        a.detection_deadline(),
        "only detection remains"
    );
    // A Poll Sequence is still transmitted periodically.
    a.set_intervals(now, ms(60), ms(50)).unwrap();
    let next = a.poll_timeout().unwrap();
    assert!(next <= now + ms(50));
    a.handle_timeout(next);
    let p = bfd::ControlPacket::decode(&a.poll_transmit(next).unwrap()).unwrap();
    assert!(p.flags.contains(Flags::POLL));
    // Final received: back to silence.
    a.handle_packet(
        next,
        &from_b(State::Up, Flags::DEMAND | Flags::FINAL).encode(),
    )
    .unwrap();
    while a.poll_transmit(next).is_some() {}
    assert_eq!(a.poll_timeout(), a.detection_deadline());
}

#[test]
fn interval_change_while_not_up_applies_without_poll() {
    let t0 = Instant::now();
    let mut a = Session::new(config(50, 50, 3), DISCR_A, t0, SplitMix64::new(3)).unwrap();
    a.set_intervals(t0, ms(2000), ms(80)).unwrap();
    assert!(!a.poll_in_progress());
    assert_eq!(a.desired_min_tx(), ms(2000));
    assert_eq!(a.required_min_rx(), ms(80));
    let p = bfd::ControlPacket::decode(&a.poll_transmit(t0).unwrap()).unwrap();
    assert_eq!((p.desired_min_tx, p.required_min_rx), (2_000_000, 80_000));
    assert!(!p.flags.contains(Flags::POLL));
    assert_eq!(
        a.set_intervals(t0, Duration::ZERO, ms(1)),
        Err(bfd::ConfigError::ZeroDesiredMinTx)
    );
}

#[test]
fn leaving_up_abandons_a_poll_sequence() {
    let mut p = Pair::new(config(50, 50, 3), config(50, 50, 3));
    p.delay = ms(20);
    p.establish();
    p.a.s.set_intervals(p.now, ms(100), ms(30)).unwrap();
    assert!(p.a.s.poll_in_progress());
    p.a.s.admin_down(p.now);
    assert!(!p.a.s.poll_in_progress());
    // Not Up: the slow rate and the new receive interval apply at once.
    assert_eq!(p.a.s.desired_min_tx(), Duration::from_secs(1));
    assert_eq!(p.a.s.required_min_rx(), ms(30));
    p.run_for(ms(5));
    assert!(p.a.sent.last().unwrap().1.flags.is_empty());
}

#[test]
fn discriminator_of_a_restarted_peer_is_learned() {
    let mut p = Pair::new(config(50, 50, 3), config(50, 50, 3));
    p.establish();
    // The peer restarts with a new discriminator and sends Down with Your Discriminator 0.
    let restarted = bfd::ControlPacket {
        my_discr: 0x0c0c_0003,
        ..from_b(State::Down, Flags::empty())
    };
    p.a.deliver(p.now, &restarted.encode()).unwrap();
    assert_eq!(p.a.s.state(), State::Down);
    assert_eq!(
        p.a.s.local_diag(),
        Diagnostic::NEIGHBOR_SIGNALED_SESSION_DOWN
    );
    assert_eq!(p.a.s.remote_discr(), 0x0c0c_0003);
    let out = bfd::ControlPacket::decode(&p.a.s.poll_transmit(p.now).unwrap()).unwrap();
    assert_eq!(out.your_discr, 0x0c0c_0003);
}
