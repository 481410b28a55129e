//! BFD runtime benchmarks over loopback (see docs/BENCHMARKS.md, BFD section for the figures).
//!
//! ```text
//! bfd-bench accuracy [--interval MS] [--seconds N] [--load N] [--no-realtime]
//! bfd-bench scale --sessions N [--interval MS] [--seconds N] [--no-realtime]
//! ```
//!
//! Two runtimes in this process talk over 127.0.0.0/8 with crossed ports, runtime A's timer
//! thread pinned to CPU 0 and B's to CPU 1.
//!
//! - `accuracy`: one session at `--interval` (10 ms) × 3. Prints p50/p99/max lateness of
//!   every timer-driven packet of A (time from its scheduled instant until it is handed to the
//!   kernel), while `--load` busy-loop processes (`sh -c 'while :; do :; done'`) keep cores
//!   busy.
//! - `scale`: `--sessions` independent sessions (one 127.1.x.y ↔ 127.2.x.y address pair each)
//!   at `--interval` × 3; after all are Up, runs `--seconds` and reports failures (false Downs)
//!   and the CPU use of each timer thread.

use std::net::{IpAddr, Ipv4Addr, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bfd::State;
use speakerd::bfd::{BfdProfile, BfdRuntime, BfdRuntimeOptions, BfdSessionHandle, BfdSessionSpec};

struct Args {
    mode: String,
    interval: u64,
    seconds: u64,
    load: usize,
    sessions: usize,
    realtime: bool,
}

fn parse() -> Args {
    let mut it = std::env::args().skip(1);
    let mode = it.next().unwrap_or_default();
    let mut a = Args {
        mode,
        interval: 10,
        seconds: 20,
        load: 0,
        sessions: 100,
        realtime: true,
    };
    while let Some(k) = it.next() {
        let mut v = || {
            it.next()
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or_else(|| usage())
        };
        match k.as_str() {
            "--interval" => a.interval = v(),
            "--seconds" => a.seconds = v(),
            "--load" => a.load = v() as usize,
            "--sessions" => a.sessions = v() as usize,
            "--no-realtime" => a.realtime = false,
            _ => usage(),
        }
    }
    if a.mode != "accuracy" && a.mode != "scale" {
        usage();
    }
    a
}

fn usage() -> ! {
    eprintln!(
        "usage: bfd-bench accuracy [--interval MS] [--seconds N] [--load N] [--no-realtime]\n       \
         bfd-bench scale --sessions N [--interval MS] [--seconds N] [--no-realtime]"
    );
    std::process::exit(2)
}

fn free_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| {
            eprintln!("bfd-bench: no free port: {e}");
            std::process::exit(1)
        })
}

fn runtimes(realtime: bool, lateness: bool) -> (BfdRuntime, BfdRuntime) {
    let (a_sh, a_mh, b_sh, b_mh) = (free_port(), free_port(), free_port(), free_port());
    let opts = |listen: (u16, u16), peer: (u16, u16), cpu| BfdRuntimeOptions {
        bind_v4: Some(Ipv4Addr::UNSPECIFIED),
        bind_v6: None,
        single_hop_port: listen.0,
        multihop_port: listen.1,
        peer_single_hop_port: peer.0,
        peer_multihop_port: peer.1,
        realtime_priority: realtime.then_some(50),
        cpu: Some(cpu),
        record_lateness: lateness,
        ..BfdRuntimeOptions::default()
    };
    let start = |o| {
        BfdRuntime::start(o).unwrap_or_else(|e| {
            eprintln!("bfd-bench: cannot start a runtime: {e}");
            std::process::exit(1)
        })
    };
    let a = start(opts((a_sh, a_mh), (b_sh, b_mh), 0));
    let b = start(opts((b_sh, b_mh), (a_sh, a_mh), 1));
    (a, b)
}

fn spec(peer: Ipv4Addr, local: Ipv4Addr, ms: u64) -> BfdSessionSpec {
    BfdSessionSpec {
        peer: IpAddr::V4(peer),
        local: Some(IpAddr::V4(local)),
        interface: None,
        multihop: false,
        profile: BfdProfile {
            receive_interval: Duration::from_millis(ms),
            transmit_interval: Duration::from_millis(ms),
            detect_multiplier: 3,
            passive: false,
            minimum_ttl: 254,
        },
    }
}

fn add(rt: &BfdRuntime, s: BfdSessionSpec) -> BfdSessionHandle {
    rt.add_session(s).unwrap_or_else(|e| {
        eprintln!("bfd-bench: cannot add a session: {e}");
        std::process::exit(1)
    })
}

/// Waits (deadline 60 s) until every session is Up.
fn wait_up(handles: &[BfdSessionHandle]) -> bool {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if handles
            .iter()
            .all(|h| h.watch().borrow().state == State::Up)
        {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

fn spin(n: usize) -> Vec<Child> {
    (0..n)
        .filter_map(|_| {
            Command::new("sh")
                .args(["-c", "while :; do :; done"])
                .stdin(Stdio::null())
                .spawn()
                .ok()
        })
        .collect()
}

fn percentile(sorted: &[u32], p: f64) -> u32 {
    if sorted.is_empty() {
        return 0;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn accuracy(a: &Args) {
    let (ra, rb) = runtimes(a.realtime, true);
    let lo = Ipv4Addr::LOCALHOST;
    let ha = add(&ra, spec(lo, lo, a.interval));
    let hb = add(&rb, spec(lo, lo, a.interval));
    let pair = [ha, hb];
    if !wait_up(&pair) {
        eprintln!("bfd-bench: session not Up within 60 s");
        std::process::exit(1);
    }
    let mut load = spin(a.load);
    // Let the load settle, then discard what was recorded so far.
    std::thread::sleep(Duration::from_millis(500));
    let _ = ra.take_lateness();
    let cpu0 = ra.stats().thread_cpu;
    std::thread::sleep(Duration::from_secs(a.seconds));
    let mut v = ra.take_lateness();
    let st = ra.stats();
    for c in &mut load {
        let _ = c.kill();
        let _ = c.wait();
    }
    v.sort_unstable();
    let us = |x: u32| f64::from(x) / 1000.0;
    println!(
        "accuracy interval={}ms seconds={} load={} realtime={} timer_slack={} samples={} \
         lateness_ms p50={:.3} p99={:.3} p999={:.3} max={:.3} failures={} thread_cpu={:?}",
        a.interval,
        a.seconds,
        a.load,
        st.realtime,
        st.timer_slack,
        v.len(),
        us(percentile(&v, 0.50)),
        us(percentile(&v, 0.99)),
        us(percentile(&v, 0.999)),
        us(v.last().copied().unwrap_or(0)),
        st.counters.failures,
        st.thread_cpu.saturating_sub(cpu0),
    );
    drop(pair);
    ra.shutdown();
    rb.shutdown();
}

fn scale(a: &Args) {
    let (ra, rb) = runtimes(a.realtime, false);
    let mut handles = Vec::with_capacity(2 * a.sessions);
    let t_add = Instant::now();
    for i in 0..a.sessions {
        let x = u8::try_from(i / 250).unwrap_or(u8::MAX);
        let y = u8::try_from(i % 250 + 1).unwrap_or(1);
        let la = Ipv4Addr::new(127, 1, x, y);
        let lb = Ipv4Addr::new(127, 2, x, y);
        handles.push(add(&ra, spec(lb, la, a.interval)));
        handles.push(add(&rb, spec(la, lb, a.interval)));
    }
    let added = t_add.elapsed();
    let t_up = Instant::now();
    let up = wait_up(&handles);
    let up_after = t_up.elapsed();
    if !up {
        let n = handles
            .iter()
            .filter(|h| h.watch().borrow().state == State::Up)
            .count();
        println!(
            "scale sessions={} interval={}ms: only {n} of {} ends Up after 60 s",
            a.sessions,
            a.interval,
            handles.len()
        );
        return;
    }
    // Interval changes to the fast rate go through a Poll Sequence; let them settle.
    std::thread::sleep(Duration::from_secs(2));
    let (sa0, sb0) = (ra.stats(), rb.stats());
    let t0 = Instant::now();
    std::thread::sleep(Duration::from_secs(a.seconds));
    // Refresh the CPU figures (published every 100 ms).
    std::thread::sleep(Duration::from_millis(150));
    let wall = t0.elapsed();
    let (sa, sb) = (ra.stats(), rb.stats());
    let down_now = handles
        .iter()
        .filter(|h| h.watch().borrow().state != State::Up)
        .count();
    let pct = |c1: Duration, c0: Duration| 100.0 * (c1 - c0).as_secs_f64() / wall.as_secs_f64();
    println!(
        "scale sessions={} interval={}ms x3 seconds={} realtime={} added_in={:?} all_up_after={:?} \
         false_downs A={} B={} not_up_at_end={} cpu A={:.1}% B={:.1}% rx A={} tx A={} send_errors A={}",
        a.sessions,
        a.interval,
        a.seconds,
        sa.realtime,
        added,
        up_after,
        sa.counters.failures - sa0.counters.failures,
        sb.counters.failures - sb0.counters.failures,
        down_now,
        pct(sa.thread_cpu, sa0.thread_cpu),
        pct(sb.thread_cpu, sb0.thread_cpu),
        sa.counters.received - sa0.counters.received,
        sa.counters.transmitted - sa0.counters.transmitted,
        sa.send_errors - sa0.send_errors,
    );
    drop(handles);
    ra.shutdown();
    rb.shutdown();
}

fn main() {
    let a = parse();
    match a.mode.as_str() {
        "accuracy" => accuracy(&a),
        _ => scale(&a),
    }
}
