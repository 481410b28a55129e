//! UPDATE decode and encode, bgp-wire side by side with other Rust BGP crates.
//!
//! Every crate sees the same bytes (the hand-built fixtures of `speakerd_benches`) in the same
//! run. For each fixture there is one criterion group per operation (`decode/ipv4/100`,
//! `encode/ipv4/100`, ...), with one benchmark per crate, and throughput in prefixes.
//!
//! - **decode**: complete message bytes (header included) to the crate's typed message, with
//!   every attribute and prefix decoded (the message is dropped inside the timing, so its
//!   deallocation counts too). All five decoders are eager: each returns its prefixes as a
//!   `Vec` of typed values; rustbgpd-wire's `decode_message` alone only frames the UPDATE,
//!   so its decode here also calls `UpdateMessage::parse`. The prefixes are checked, in
//!   order, against the fixture before measuring.
//! - **encode**: the crate's typed message (decoded once, outside the timing) back to complete
//!   message bytes, into a buffer reused across iterations where the crate's API allows it.
//!   The result is checked to decode, with the same crate, to the same prefixes.
//! - **pack**: one attribute set and a list of prefixes to UPDATE messages: bgp-wire's
//!   `UpdatePacker` (the speaker's outbound path) next to rustbgpd-wire's
//!   `UpdateMessage::build` (the same operation; the other crates have no such entry point).
//!
//! Run: `cargo bench -p speakerd-benches --bench codec`. Under `cargo test` criterion runs
//! every benchmark once, so the checks above run in CI too.

use std::hint::black_box;
use std::time::Duration;

use bytes::Bytes;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use speakerd_benches::{Family, Fixture, fixtures, ipv4_prefixes, ipv6_prefixes};

/// Receives every announced prefix of a decoded UPDATE, as (address bits, length).
trait Sink {
    fn add(&mut self, addr: u128, len: u8);

    #[inline]
    fn v4(&mut self, addr: std::net::Ipv4Addr, len: u8) {
        self.add(u128::from(u32::from(addr)), len);
    }

    #[inline]
    fn v6(&mut self, addr: std::net::Ipv6Addr, len: u8) {
        self.add(u128::from(addr), len);
    }
}

/// Every prefix in order, for the checks outside the timing.
#[derive(Debug, Default, PartialEq, Eq)]
struct Collect(Vec<(u128, u8)>);

impl Sink for Collect {
    fn add(&mut self, addr: u128, len: u8) {
        self.0.push((addr, len));
    }
}

impl Collect {
    /// The prefixes a correct decoder must produce for `fixture`, in order.
    fn expected(fixture: &Fixture) -> Self {
        let mut c = Collect::default();
        match fixture.family {
            Family::Ipv4 => ipv4_prefixes(fixture.prefixes)
                .into_iter()
                .for_each(|(a, l)| c.v4(a, l)),
            Family::Ipv6 => ipv6_prefixes(fixture.prefixes)
                .into_iter()
                .for_each(|(a, l)| c.v6(a, l)),
        }
        c
    }
}

/// Walks the announced prefixes of `msg` into a new `S`.
fn walk<C: Codec, S: Sink + Default>(msg: &C::Msg) -> S {
    let mut s = S::default();
    C::walk(msg, &mut s);
    s
}

/// One crate's decode and encode of a complete UPDATE message.
trait Codec {
    /// Name shown in the reports.
    const NAME: &'static str;
    /// Session state the decoder needs (4-octet AS negotiated, no ADD-PATH).
    type Ctx;
    /// The crate's decoded message.
    type Msg;
    /// Scratch output of the encoder, kept across iterations.
    type Buf: Default;
    /// Whether the crate promises `encode(decode(x)) == x` (then the check asserts it).
    const BYTE_EXACT: bool = false;

    /// Extra checks of a decoded fixture (beyond its prefixes).
    fn validate(_msg: &Self::Msg) {}

    fn ctx() -> Self::Ctx;
    fn decode(ctx: &mut Self::Ctx, bytes: &Bytes) -> Self::Msg;
    /// Feeds every announced prefix of `msg` (traditional NLRI, then MP_REACH_NLRI) to `s`.
    fn walk(msg: &Self::Msg, s: &mut impl Sink);
    fn encode<'b>(ctx: &mut Self::Ctx, msg: &Self::Msg, buf: &'b mut Self::Buf) -> &'b [u8];
}

// ---------------------------------------------------------------------------------------------
// bgp-wire (ours): `Message::decode` over the frame `Bytes`, eager (attributes and NLRI become
// typed values); `Message::encode` appends to a `BytesMut`, reused across iterations.
// ---------------------------------------------------------------------------------------------
struct BgpWire;

impl Codec for BgpWire {
    const NAME: &'static str = "bgp-wire";
    type Ctx = bgp_wire::DecodeContext;
    type Msg = bgp_wire::Message;
    type Buf = bytes::BytesMut;
    const BYTE_EXACT: bool = true;

    fn validate(msg: &Self::Msg) {
        let bgp_wire::Message::Update(update) = msg else {
            panic!("bgp-wire: not an UPDATE")
        };
        assert!(update.errors.is_empty(), "bgp-wire: {:?}", update.errors);
        assert!(!update.treat_as_withdraw());
        // ORIGIN, AS_PATH, MED, LOCAL_PREF, COMMUNITIES, and NEXT_HOP or MP_REACH_NLRI.
        assert_eq!(update.attributes.len(), 6);
    }

    fn ctx() -> Self::Ctx {
        // 4-octet AS, no ADD-PATH, 4096-byte messages.
        bgp_wire::DecodeContext::default()
    }

    fn decode(ctx: &mut Self::Ctx, bytes: &Bytes) -> Self::Msg {
        bgp_wire::Message::decode(bytes.clone(), ctx).expect("bgp-wire decodes the fixture")
    }

    fn walk(msg: &Self::Msg, d: &mut impl Sink) {
        let bgp_wire::Message::Update(update) = msg else {
            panic!("bgp-wire: not an UPDATE")
        };
        for n in update.announced() {
            match n.prefix {
                ipnet::IpNet::V4(p) => d.v4(p.addr(), p.prefix_len()),
                ipnet::IpNet::V6(p) => d.v6(p.addr(), p.prefix_len()),
            }
        }
    }

    fn encode<'b>(ctx: &mut Self::Ctx, msg: &Self::Msg, buf: &'b mut bytes::BytesMut) -> &'b [u8] {
        buf.clear();
        msg.encode(ctx, buf).expect("bgp-wire encodes the UPDATE");
        buf
    }
}

// ---------------------------------------------------------------------------------------------
// rustbgpd-wire: `decode_message` only frames the UPDATE (three raw `Bytes` sections);
// `UpdateMessage::parse` decodes the attributes and NLRI. We time both, so the work matches
// the other crates. Encoding builds the raw sections from the parsed form
// (`UpdateMessage::build`) and then writes the message; encoding the raw sections alone would
// be a memcpy.
// ---------------------------------------------------------------------------------------------
struct Rustbgpd;

impl Codec for Rustbgpd {
    const NAME: &'static str = "rustbgpd-wire";
    type Ctx = ();
    type Msg = rustbgpd_wire::update::ParsedUpdate;
    type Buf = Vec<u8>;

    fn ctx() -> Self::Ctx {}

    fn decode(_: &mut (), bytes: &Bytes) -> Self::Msg {
        let mut buf = bytes.clone();
        let msg = rustbgpd_wire::decode_message(&mut buf, rustbgpd_wire::MAX_MESSAGE_LEN)
            .expect("rustbgpd-wire decodes the fixture");
        let rustbgpd_wire::Message::Update(update) = msg else {
            panic!("rustbgpd-wire: not an UPDATE")
        };
        update
            .parse(true, false, &[])
            .expect("rustbgpd-wire parses the fixture")
    }

    fn walk(msg: &Self::Msg, d: &mut impl Sink) {
        use rustbgpd_wire::attribute::PathAttribute;
        use rustbgpd_wire::nlri::Prefix;
        for e in &msg.announced {
            d.v4(e.prefix.addr, e.prefix.len);
        }
        for a in &msg.attributes {
            if let PathAttribute::MpReachNlri(mp) = a {
                for e in &mp.announced {
                    match e.prefix {
                        Prefix::V4(p) => d.v4(p.addr, p.len),
                        Prefix::V6(p) => d.v6(p.addr, p.len),
                    }
                }
            }
        }
    }

    fn encode<'b>(_: &mut (), msg: &Self::Msg, buf: &'b mut Vec<u8>) -> &'b [u8] {
        let update = rustbgpd_wire::UpdateMessage::try_build(
            &msg.announced,
            &msg.withdrawn,
            &msg.attributes,
            true,
            false,
            rustbgpd_wire::Ipv4UnicastMode::Body,
        )
        .expect("rustbgpd-wire builds the UPDATE");
        buf.clear();
        update
            .encode(buf)
            .expect("rustbgpd-wire encodes the UPDATE");
        buf
    }
}

// ---------------------------------------------------------------------------------------------
// netgauze-bgp-pkt: eager parser over a `SliceReader`; writes through `std::io::Write`.
// ---------------------------------------------------------------------------------------------
struct Netgauze;

impl Codec for Netgauze {
    const NAME: &'static str = "netgauze-bgp-pkt";
    type Ctx = netgauze_bgp_pkt::wire::deserializer::BgpParsingContext;
    type Msg = netgauze_bgp_pkt::BgpMessage;
    type Buf = Vec<u8>;

    fn ctx() -> Self::Ctx {
        // 4-octet AS, no ADD-PATH, strict.
        Self::Ctx::default()
    }

    fn decode(ctx: &mut Self::Ctx, bytes: &Bytes) -> Self::Msg {
        use netgauze_parse_utils::reader::SliceReader;
        use netgauze_parse_utils::traits::ParseFromWithOneInput;
        let mut reader = SliceReader::new(bytes);
        netgauze_bgp_pkt::BgpMessage::parse(&mut reader, ctx)
            .expect("netgauze-bgp-pkt parses the fixture")
    }

    fn walk(msg: &Self::Msg, d: &mut impl Sink) {
        use netgauze_bgp_pkt::path_attribute::{MpReach, PathAttributeValue};
        let netgauze_bgp_pkt::BgpMessage::Update(update) = msg else {
            panic!("netgauze-bgp-pkt: not an UPDATE")
        };
        for p in update.nlri() {
            let net = p.network().address();
            d.v4(net.addr(), net.prefix_len());
        }
        for a in update.path_attributes() {
            if let PathAttributeValue::MpReach(MpReach::Ipv6Unicast { nlri, .. }) = a.value() {
                for p in nlri {
                    let net = p.network().address();
                    d.v6(net.addr(), net.prefix_len());
                }
            }
        }
    }

    fn encode<'b>(_: &mut Self::Ctx, msg: &Self::Msg, buf: &'b mut Vec<u8>) -> &'b [u8] {
        use netgauze_parse_utils::WritablePdu;
        buf.clear();
        msg.write(buf).expect("netgauze-bgp-pkt writes the UPDATE");
        buf
    }
}

// ---------------------------------------------------------------------------------------------
// zettabgp: the caller reads the 19-byte header (`decode_message_head`) and hands the body to
// `BgpUpdateMessage::decode_from`; encoding writes the body into a caller-provided slice, then
// the header (`prepare_message_buf`). ADD-PATH guessing (`fuzzy_pathid`) is switched off: the
// session negotiated no ADD-PATH, and the guess would cost time on every NLRI field.
// ---------------------------------------------------------------------------------------------
struct Zettabgp;

/// zettabgp's encoder needs a slice as long as the largest message.
struct ZettaBuf(Vec<u8>);

impl Default for ZettaBuf {
    fn default() -> Self {
        Self(vec![0; speakerd_benches::MAX_MESSAGE_LEN])
    }
}

impl Codec for Zettabgp {
    const NAME: &'static str = "zettabgp";
    type Ctx = zettabgp::BgpSessionParams;
    type Msg = zettabgp::prelude::BgpUpdateMessage;
    type Buf = ZettaBuf;

    fn ctx() -> Self::Ctx {
        let mut params = zettabgp::BgpSessionParams::new(
            64496,
            90,
            zettabgp::BgpTransportMode::IPv4,
            std::net::Ipv4Addr::new(192, 0, 2, 2),
            vec![zettabgp::prelude::BgpCapability::CapASN32(64496)],
        );
        params.check_caps();
        params.fuzzy_pathid = false;
        params
    }

    fn decode(ctx: &mut Self::Ctx, bytes: &Bytes) -> Self::Msg {
        use zettabgp::BgpMessage as _;
        let (kind, len) = ctx
            .decode_message_head(bytes)
            .expect("zettabgp reads the header");
        assert!(matches!(kind, zettabgp::prelude::BgpMessageType::Update));
        let mut update = zettabgp::prelude::BgpUpdateMessage::new();
        update
            .decode_from(ctx, &bytes[19..19 + len])
            .expect("zettabgp decodes the fixture");
        update
    }

    fn walk(msg: &Self::Msg, d: &mut impl Sink) {
        use zettabgp::prelude::{BgpAddrs, BgpAttrItem};
        let mut walk = |addrs: &BgpAddrs| match addrs {
            BgpAddrs::IPV4U(v) => v.iter().for_each(|p| d.v4(p.addr, p.prefixlen)),
            BgpAddrs::IPV6U(v) => v.iter().for_each(|p| d.v6(p.addr, p.prefixlen)),
            _ => {}
        };
        walk(&msg.updates);
        for a in &msg.attrs {
            if let BgpAttrItem::MPUpdates(mp) = a {
                walk(&mp.addrs);
            }
        }
    }

    fn encode<'b>(ctx: &mut Self::Ctx, msg: &Self::Msg, buf: &'b mut ZettaBuf) -> &'b [u8] {
        use zettabgp::BgpMessage as _;
        let body = msg
            .encode_to(ctx, &mut buf.0[19..])
            .expect("zettabgp encodes the UPDATE");
        let total = ctx
            .prepare_message_buf(&mut buf.0, zettabgp::prelude::BgpMessageType::Update, body)
            .expect("zettabgp writes the header");
        &buf.0[..total]
    }
}

// ---------------------------------------------------------------------------------------------
// bgpkit-parser: `parse_bgp_message` over `Bytes`, eager; `BgpMessage::encode` returns a new
// `Bytes` (no way to reuse a buffer).
// ---------------------------------------------------------------------------------------------
struct Bgpkit;

impl Codec for Bgpkit {
    const NAME: &'static str = "bgpkit-parser";
    type Ctx = ();
    type Msg = bgpkit_parser::models::BgpMessage;
    type Buf = Bytes;

    fn ctx() -> Self::Ctx {}

    fn decode(_: &mut (), bytes: &Bytes) -> Self::Msg {
        let mut data = bytes.clone();
        bgpkit_parser::parser::bgp::parse_bgp_message(
            &mut data,
            false,
            &bgpkit_parser::models::AsnLength::Bits32,
        )
        .expect("bgpkit-parser parses the fixture")
    }

    fn walk(msg: &Self::Msg, d: &mut impl Sink) {
        let bgpkit_parser::models::BgpMessage::Update(update) = msg else {
            panic!("bgpkit-parser: not an UPDATE")
        };
        let mut add = |net: &ipnet::IpNet| match net {
            ipnet::IpNet::V4(n) => d.v4(n.addr(), n.prefix_len()),
            ipnet::IpNet::V6(n) => d.v6(n.addr(), n.prefix_len()),
        };
        for p in &update.announced_prefixes {
            add(&p.prefix);
        }
        if let Some(mp) = update.attributes.get_reachable_nlri() {
            for p in &mp.prefixes {
                add(&p.prefix);
            }
        }
    }

    fn encode<'b>(_: &mut (), msg: &Self::Msg, buf: &'b mut Bytes) -> &'b [u8] {
        *buf = msg
            .encode(bgpkit_parser::models::AsnLength::Bits32)
            .expect("bgpkit-parser encodes the UPDATE");
        buf
    }
}

// ---------------------------------------------------------------------------------------------
// Driver
// ---------------------------------------------------------------------------------------------

/// Checks `C` against the fixture: decode gives the right prefixes, encode gives bytes that
/// decode to the same prefixes. Returns whether the encoding is byte-identical to the fixture.
fn check<C: Codec>(fixture: &Fixture, bytes: &Bytes) -> bool {
    let mut ctx = C::ctx();
    let msg = C::decode(&mut ctx, bytes);
    let want = Collect::expected(fixture);
    let what = format!("{} on {}", C::NAME, fixture.name);
    assert_eq!(walk::<C, Collect>(&msg), want, "decode: {what}");
    C::validate(&msg);
    let mut buf = C::Buf::default();
    let encoded = Bytes::copy_from_slice(C::encode(&mut ctx, &msg, &mut buf));
    let again = C::decode(&mut ctx, &encoded);
    assert_eq!(walk::<C, Collect>(&again), want, "re-decode: {what}");
    if C::BYTE_EXACT {
        assert_eq!(encoded, *bytes, "re-encode: {what}");
    }
    encoded == *bytes
}

fn decode_one<C: Codec>(c: &mut criterion::BenchmarkGroup<'_, ThreadCpu>, bytes: &Bytes) {
    let mut ctx = C::ctx();
    c.bench_function(C::NAME, |b| {
        b.iter(|| C::decode(&mut ctx, black_box(bytes)));
    });
}

fn encode_one<C: Codec>(c: &mut criterion::BenchmarkGroup<'_, ThreadCpu>, bytes: &Bytes) {
    let mut ctx = C::ctx();
    let msg = C::decode(&mut ctx, bytes);
    let mut buf = C::Buf::default();
    c.bench_function(C::NAME, |b| {
        b.iter(|| C::encode(&mut ctx, black_box(&msg), &mut buf).len());
    });
}

/// Every crate, in report order. A macro because the list is of types.
macro_rules! for_each_codec {
    ($f:ident, $($arg:expr),*) => {{
        $f::<BgpWire>($($arg),*);
        $f::<Rustbgpd>($($arg),*);
        $f::<Netgauze>($($arg),*);
        $f::<Zettabgp>($($arg),*);
        $f::<Bgpkit>($($arg),*);
    }};
}

/// bgp-wire's outbound path: one attribute set and a list of prefixes to UPDATE messages
/// (`UpdatePacker::announce`, as the Adj-RIB-Out uses it), checked to give one message that
/// decodes to the fixture's prefixes.
fn pack_bgp_wire(
    c: &mut criterion::BenchmarkGroup<'_, ThreadCpu>,
    fixture: &Fixture,
    bytes: &Bytes,
) {
    let mut ctx = BgpWire::ctx();
    let bgp_wire::Message::Update(mut update) = BgpWire::decode(&mut ctx, bytes) else {
        panic!("bgp-wire: not an UPDATE")
    };
    let prefixes: Vec<bgp_wire::Nlri> = update.announced().copied().collect();
    // The packer takes family and next hop from MP_REACH_NLRI and ignores its NLRI.
    for a in &mut update.attributes {
        if let bgp_wire::AttributeValue::MpReach(m) = &mut a.value {
            m.nlri.clear();
        }
    }
    let attrs = update.attributes;
    let packer = bgp_wire::UpdatePacker::new(&ctx);
    let msgs = packer
        .announce(&attrs, &prefixes)
        .expect("bgp-wire packs the fixture");
    assert_eq!(msgs.len(), 1, "pack: bgp-wire on {}", fixture.name);
    let again = BgpWire::decode(&mut ctx, &msgs[0]);
    assert_eq!(
        walk::<BgpWire, Collect>(&again),
        Collect::expected(fixture),
        "pack: bgp-wire on {}",
        fixture.name
    );
    c.bench_function(BgpWire::NAME, |b| {
        b.iter(|| {
            packer
                .announce(black_box(&attrs), black_box(&prefixes))
                .expect("bgp-wire packs the fixture")
        });
    });
}

fn codec(c: &mut Criterion<ThreadCpu>) {
    for fixture in fixtures() {
        let bytes = Bytes::from(fixture.bytes.clone());
        let n = u64::try_from(fixture.prefixes).expect("small");

        let identical: Vec<&str> = [
            (BgpWire::NAME, check::<BgpWire>(&fixture, &bytes)),
            (Rustbgpd::NAME, check::<Rustbgpd>(&fixture, &bytes)),
            (Netgauze::NAME, check::<Netgauze>(&fixture, &bytes)),
            (Zettabgp::NAME, check::<Zettabgp>(&fixture, &bytes)),
            (Bgpkit::NAME, check::<Bgpkit>(&fixture, &bytes)),
        ]
        .into_iter()
        .filter_map(|(name, same)| same.then_some(name))
        .collect();
        eprintln!(
            "{}: re-encoded byte-identical by: {identical:?}",
            fixture.name
        );

        let mut group = c.benchmark_group(format!("decode/{}", fixture.name));
        group.throughput(Throughput::Elements(n));
        for_each_codec!(decode_one, &mut group, &bytes);
        group.finish();

        let mut group = c.benchmark_group(format!("encode/{}", fixture.name));
        group.throughput(Throughput::Elements(n));
        for_each_codec!(encode_one, &mut group, &bytes);
        group.finish();

        // Building from (attributes, prefixes): bgp-wire's packer, and rustbgpd-wire's
        // `UpdateMessage::build` (which its encode benchmark above already uses).
        let mut group = c.benchmark_group(format!("pack/{}", fixture.name));
        group.throughput(Throughput::Elements(n));
        pack_bgp_wire(&mut group, &fixture, &bytes);
        encode_one::<Rustbgpd>(&mut group, &bytes);
        group.finish();
    }
}

/// Criterion measurement: CPU time of the benchmark thread (`CLOCK_THREAD_CPUTIME_ID`), in
/// nanoseconds. These machines are shared with builds and tests of other work; CPU time leaves
/// out the time the thread waits while descheduled, which wall time counts. (It cannot remove
/// the cache and frequency effects of a busy neighbour, so figures still vary by some percent.)
struct ThreadCpu;

impl criterion::measurement::Measurement for ThreadCpu {
    type Intermediate = cpu_time::ThreadTime;
    type Value = Duration;

    fn start(&self) -> Self::Intermediate {
        cpu_time::ThreadTime::now()
    }

    fn end(&self, i: Self::Intermediate) -> Self::Value {
        i.elapsed()
    }

    fn add(&self, v1: &Self::Value, v2: &Self::Value) -> Self::Value {
        *v1 + *v2
    }

    fn zero(&self) -> Self::Value {
        Duration::ZERO
    }

    fn to_f64(&self, value: &Self::Value) -> f64 {
        value.as_secs_f64() * 1e9
    }

    fn formatter(&self) -> &dyn criterion::measurement::ValueFormatter {
        &Nanos
    }
}

/// Prints [`ThreadCpu`] values as CPU nanoseconds, or microseconds above 10 000.
struct Nanos;

impl criterion::measurement::ValueFormatter for Nanos {
    fn scale_values(&self, typical: f64, values: &mut [f64]) -> &'static str {
        if typical < 10_000.0 {
            "ns (cpu)"
        } else {
            values.iter_mut().for_each(|v| *v /= 1e3);
            "µs (cpu)"
        }
    }

    fn scale_throughputs(
        &self,
        _typical: f64,
        throughput: &Throughput,
        values: &mut [f64],
    ) -> &'static str {
        let (n, unit) = match throughput {
            Throughput::Elements(n) => (*n, "Melem/s (cpu)"),
            Throughput::Bytes(n) | Throughput::BytesDecimal(n) => (*n, "MB/s (cpu)"),
            _ => (1, "Mop/s (cpu)"),
        };
        // Precision loss above 2^53 elements is irrelevant here.
        #[allow(clippy::cast_precision_loss)]
        let n = n as f64;
        values.iter_mut().for_each(|v| *v = n * 1e3 / *v);
        unit
    }

    fn scale_for_machines(&self, _values: &mut [f64]) -> &'static str {
        "ns"
    }
}

fn config() -> Criterion<ThreadCpu> {
    Criterion::default()
        .with_measurement(ThreadCpu)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2))
        .sample_size(20)
}

criterion_group! {
    name = benches;
    config = config();
    targets = codec
}
criterion_main!(benches);
