//! Memory and time per prefix of the Adj-RIB-Out, measured with a counting
//! global allocator (`stats_alloc`): live heap bytes after each step, divided
//! by the number of prefixes, plus the process's peak RSS (`VmHWM`).
//!
//! ```text
//! cargo run --release -p rib --example memory -- [prefixes] [peers]
//! ```
//!
//! Prefixes are distinct IPv4 /24s from 240.0.0.0/4 (reserved; room for 2^20),
//! all with one attribute set; every peer is an eBGP IPv4 session with
//! 4096-byte messages. Steps: build the desired state; bring the peers up;
//! encode every peer's initial sync (UPDATE bytes are counted, then dropped).

use std::alloc::System;
use std::net::Ipv4Addr;
use std::time::Instant;

use bgp_wire::{Community, IpNet, Ipv4Net};
use rib::{Advertisement, PeerExport, Rib, Source};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

fn live(r: &Region<'_, System>) -> isize {
    // stats_alloc counts a growing realloc in bytes_allocated and a shrinking
    // one in bytes_deallocated, so live bytes are their difference.
    let c = r.change();
    c.bytes_allocated as isize - c.bytes_deallocated as isize
}

fn peak_rss_kib() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let l = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    l.split_whitespace().nth(1)?.parse().ok()
}

fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let peers: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(1);
    assert!(n <= 1 << 20, "at most 2^20 /24s in 240.0.0.0/4");
    let prefixes = (0..n as u32)
        .map(|i| IpNet::V4(Ipv4Net::new(Ipv4Addr::from(0xF000_0000 | (i << 8)), 24).unwrap()));
    let adv = Advertisement {
        communities: vec![Community::new(64500, 100)],
        ..Advertisement::new()
    };

    let region = Region::new(GLOBAL);
    let t0 = Instant::now();
    let mut rib = Rib::new();
    rib.reserve_v4(n);
    rib.announce_all(Source::Api, prefixes, adv);
    let t_desired = t0.elapsed();
    let b_desired = live(&region);

    let ids: Vec<_> = (0..peers)
        .map(|i| {
            let mut e = PeerExport::new(format!("peer{i}"), 64500, 64501 + i as u32);
            e.local_v4 = Some(Ipv4Addr::new(192, 0, 2, 1));
            rib.peer_up(e)
        })
        .collect();
    let t1 = Instant::now();
    let mut bytes = 0usize;
    let mut msgs = 0usize;
    let mut max_transient = 0isize;
    for &id in &ids {
        loop {
            // 1 MiB per poll, as a runtime writing to a socket would.
            let out = rib.poll_updates(id, 1 << 20);
            if out.is_empty() {
                break;
            }
            max_transient = max_transient.max(live(&region));
            msgs += out.len();
            bytes += out.iter().map(|b| b.len()).sum::<usize>();
        }
    }
    let t_encode = t1.elapsed();
    let b_all = live(&region);
    let stats = rib.peer_stats(ids[0]).unwrap();
    assert_eq!(stats.advertised_v4, n);

    // 1% of the prefixes change attribute set; time the change and its UPDATEs.
    let changed: Vec<IpNet> = (0..n as u32)
        .step_by(100)
        .map(|i| IpNet::V4(Ipv4Net::new(Ipv4Addr::from(0xF000_0000 | (i << 8)), 24).unwrap()))
        .collect();
    let t2 = Instant::now();
    let c = rib.announce_all(
        Source::Api,
        changed.iter().copied(),
        Advertisement {
            med: Some(7),
            ..Advertisement::new()
        },
    );
    let t_change = t2.elapsed();
    let t3 = Instant::now();
    let mut churn_msgs = 0;
    for &id in &ids {
        churn_msgs += rib.poll_updates(id, usize::MAX).len();
    }
    let t_churn = t3.elapsed();

    let per = |b: isize| b as f64 / n as f64;
    println!("prefixes: {n} IPv4 /24, one attribute set, {peers} eBGP peer(s)");
    println!(
        "desired state: {:.1} bytes/prefix ({} bytes), built in {:.1} ms",
        per(b_desired),
        b_desired,
        t_desired.as_secs_f64() * 1e3
    );
    println!(
        "desired + {peers} Adj-RIB-Out: {:.1} bytes/prefix ({} bytes) after the sync",
        per(b_all),
        b_all
    );
    println!(
        "peak live heap while encoding (1 MiB polls): {:.1} bytes/prefix",
        per(max_transient)
    );
    println!(
        "encoded {msgs} UPDATEs, {bytes} bytes, in {:.1} ms ({:.1} ns/prefix/peer)",
        t_encode.as_secs_f64() * 1e3,
        t_encode.as_secs_f64() * 1e9 / (n * peers) as f64
    );
    println!(
        "rib.heap_bytes(): {:.1} bytes/prefix",
        rib.heap_bytes() as f64 / n as f64
    );
    println!(
        "churn: {c} prefixes changed in {:.2} ms, their {churn_msgs} UPDATEs encoded in {:.2} ms",
        t_change.as_secs_f64() * 1e3,
        t_churn.as_secs_f64() * 1e3
    );
    if let Some(k) = peak_rss_kib() {
        println!("peak RSS (VmHWM): {k} KiB");
    }
}
