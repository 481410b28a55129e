//! Runs a BFD runtime with one session per `--peer` and prints every state change as a line:
//!
//! ```text
//! <ms since start> <peer> <state> diag=<code> down_count=<n> peer_admin_down=<bool>
//! ```
//!
//! For interop labs (run it inside a node's network namespace):
//!
//! ```text
//! ip netns exec n1 bfd-peer --peer 192.0.2.1 --interval 100 --multiplier 3 [--local A]
//!     [--interface eth0] [--multihop] [--passive] [--seconds N] [--no-realtime] [--cpu N]
//! ```
//!
//! `--local` once applies to every peer of its family; given as often as `--peer`, the n-th
//! local address goes with the n-th peer. Exits after `--seconds` (default: never), sending
//! AdminDown to every peer, and prints a last line with the runtime's counters and the
//! timer thread's CPU time.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use speakerd::bfd::{BfdProfile, BfdRuntime, BfdRuntimeOptions, BfdSessionSpec};

fn usage() -> ! {
    eprintln!(
        "usage: bfd-peer --peer IP [--peer IP ...] [--local IP ...] [--interface IF] [--multihop] \
         [--interval MS] [--multiplier N] [--passive] [--seconds N] [--no-realtime] [--cpu N]"
    );
    std::process::exit(2)
}

fn main() {
    let mut peers: Vec<IpAddr> = Vec::new();
    let mut locals: Vec<IpAddr> = Vec::new();
    let mut cpu = None;
    let mut interface = None;
    let mut multihop = false;
    let mut interval = 300u64;
    let mut mult = 3u8;
    let mut passive = false;
    let mut seconds = None;
    let mut realtime = true;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = || args.next().unwrap_or_else(|| usage());
        match a.as_str() {
            "--peer" => peers.push(val().parse().unwrap_or_else(|_| usage())),
            "--local" => locals.push(val().parse().unwrap_or_else(|_| usage())),
            "--cpu" => cpu = Some(val().parse().unwrap_or_else(|_| usage())),
            "--interface" => interface = Some(val()),
            "--multihop" => multihop = true,
            "--interval" => interval = val().parse().unwrap_or_else(|_| usage()),
            "--multiplier" => mult = val().parse().unwrap_or_else(|_| usage()),
            "--passive" => passive = true,
            "--seconds" => seconds = Some(val().parse::<u64>().unwrap_or_else(|_| usage())),
            "--no-realtime" => realtime = false,
            _ => usage(),
        }
    }
    if peers.is_empty() {
        usage();
    }
    let rt = BfdRuntime::start(BfdRuntimeOptions {
        realtime_priority: realtime.then_some(50),
        cpu,
        ..BfdRuntimeOptions::default()
    })
    .unwrap_or_else(|e| {
        eprintln!("bfd-peer: cannot start the BFD runtime: {e}");
        std::process::exit(1)
    });
    let profile = BfdProfile {
        receive_interval: Duration::from_millis(interval),
        transmit_interval: Duration::from_millis(interval),
        detect_multiplier: mult,
        passive,
        ..BfdProfile::default()
    };
    let start = Instant::now();
    let mut sessions = Vec::new();
    let paired = locals.len() == peers.len() && peers.len() > 1;
    for (i, peer) in peers.into_iter().enumerate() {
        let local = if paired {
            Some(locals[i])
        } else {
            locals
                .iter()
                .copied()
                .find(|l| l.is_ipv4() == peer.is_ipv4())
        };
        let h = rt
            .add_session(BfdSessionSpec {
                peer,
                local,
                interface: interface.clone(),
                multihop,
                profile,
            })
            .unwrap_or_else(|e| {
                eprintln!("bfd-peer: cannot add a session to {peer}: {e}");
                std::process::exit(1)
            });
        let w = h.watch();
        sessions.push((peer, h, w));
    }
    let stats = rt.stats();
    println!(
        "0 ready sessions={} realtime={} timer_slack={}",
        sessions.len(),
        stats.realtime,
        stats.timer_slack
    );
    let end = seconds.map(|s| start + Duration::from_secs(s));
    // Poll the watches every millisecond: cheap, and keeps this example free of an async
    // runtime. Millisecond resolution is enough for the printed timestamps.
    loop {
        for (peer, _, w) in &mut sessions {
            if w.has_changed().unwrap_or(false) {
                let s = w.borrow_and_update().clone();
                println!(
                    "{} {peer} {} diag={} down_count={} peer_admin_down={}",
                    start.elapsed().as_millis(),
                    s.state,
                    s.diag.code(),
                    s.down_count,
                    s.peer_admin_down
                );
            }
        }
        if end.is_some_and(|e| Instant::now() >= e) {
            break;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    let st = rt.stats();
    let up = sessions
        .iter()
        .filter(|(_, _, w)| w.borrow().state == bfd::State::Up)
        .count();
    println!(
        "{} stats up={up} failures={} received={} transmitted={} dropped_ttl={} \
         dropped_unknown={} thread_cpu_ms={}",
        start.elapsed().as_millis(),
        st.counters.failures,
        st.counters.received,
        st.counters.transmitted,
        st.counters.dropped_ttl,
        st.counters.dropped_unknown,
        st.thread_cpu.as_millis()
    );
    drop(sessions);
    rt.shutdown();
}
