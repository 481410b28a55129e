//! Adj-RIB-Out (`rib` crate) benchmarks: IPv4 /24s with one attribute set, one
//! eBGP peer with 4096-byte messages.
//!
//! - `rib/build_and_encode/N`: from nothing: the desired state (N prefixes), one
//!   peer up, every UPDATE of its initial sync encoded (plus End-of-RIB).
//! - `rib/desired/N`: the desired state alone (`announce_all`).
//! - `rib/encode_one_peer/N`: with the desired state built outside the timing,
//!   one peer up and its whole initial sync encoded.
//! - `rib/churn_1pct/N`: a synced peer; 1% of the prefixes change attribute
//!   set, then the UPDATEs for that difference are encoded.
//!
//! Every routine returns the rib so that criterion drops it outside the timing.
//!
//! Memory per prefix is measured by `cargo run --release -p rib --example memory`
//! (a counting global allocator would slow these timings down).
//!
//! Prefixes are distinct /24s from 240.0.0.0/4 (reserved; 2^20 of them).

use std::hint::black_box;
use std::net::Ipv4Addr;
use std::time::Duration;

use bytes::Bytes;
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use ipnet::{IpNet, Ipv4Net};
use rib::{Advertisement, PeerExport, PeerId, Rib, Source};

fn prefixes(n: usize) -> impl Iterator<Item = IpNet> {
    (0..n as u32)
        .map(|i| IpNet::V4(Ipv4Net::new(Ipv4Addr::from(0xF000_0000 | (i << 8)), 24).unwrap()))
}

fn adv(med: Option<u32>) -> Advertisement {
    Advertisement {
        communities: vec![bgp_wire::Community::new(64500, 100)],
        med,
        ..Advertisement::new()
    }
}

fn peer() -> PeerExport {
    let mut e = PeerExport::new("router", 64500, 64501);
    e.local_v4 = Some(Ipv4Addr::new(192, 0, 2, 1));
    e
}

fn desired(n: usize) -> Rib {
    let mut rib = Rib::new();
    rib.reserve_v4(n);
    rib.announce_all(Source::Api, prefixes(n), adv(None));
    rib
}

/// Every pending message, in one poll (the runtime would use its socket's room).
fn drain(rib: &mut Rib, id: PeerId) -> (usize, usize) {
    let msgs: Vec<Bytes> = rib.poll_updates(id, usize::MAX);
    (msgs.len(), msgs.iter().map(Bytes::len).sum())
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("rib");
    g.sample_size(10)
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1));
    for (label, n) in [("100k", 100_000usize), ("1M", 1_000_000)] {
        // Checked once outside the timing: every prefix announced, messages full.
        let mut rib = desired(n);
        let id = rib.peer_up(peer());
        let (msgs, bytes) = drain(&mut rib, id);
        assert_eq!(rib.peer_stats(id).unwrap().advertised_v4, n);
        assert!(bytes / msgs > 4000, "messages are nearly full");

        g.throughput(Throughput::Elements(n as u64));
        g.bench_function(format!("build_and_encode/{label}"), |b| {
            b.iter_with_large_drop(|| {
                let mut rib = desired(n);
                let id = rib.peer_up(peer());
                black_box(drain(&mut rib, id));
                rib // dropped outside the timing
            })
        });
        g.bench_function(format!("desired/{label}"), |b| {
            b.iter_with_large_drop(|| desired(n))
        });
        g.bench_function(format!("encode_one_peer/{label}"), |b| {
            b.iter_batched(
                || desired(n),
                |mut rib| {
                    let id = rib.peer_up(peer());
                    black_box(drain(&mut rib, id));
                    rib // dropped outside the timing
                },
                BatchSize::PerIteration,
            )
        });
        let changed = n / 100;
        g.throughput(Throughput::Elements(changed as u64));
        g.bench_function(format!("churn_1pct/{label}"), |b| {
            b.iter_batched(
                || {
                    let mut rib = desired(n);
                    let id = rib.peer_up(peer());
                    drain(&mut rib, id);
                    (rib, id)
                },
                |(mut rib, id)| {
                    rib.announce_all(Source::Api, prefixes(n).step_by(100), adv(Some(7)));
                    black_box(drain(&mut rib, id));
                    rib // dropped outside the timing
                },
                BatchSize::PerIteration,
            )
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
