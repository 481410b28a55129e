//! speakerctl: argument parsing and route files, decode of a golden BGP vector, of a BFD
//! packet and of a pcap written here byte by byte (Ethernet/IPv4 and SLL/IPv6, TCP
//! reassembly out of order with a retransmission, UDP BFD), and the commands against a real
//! speakerd API in a tempdir.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bgp_wire::DecodeContext;
use clap::Parser;
use serde_json::{Value, json};
use speakerctl::cli::{Cli, Command, OriginArg, parse_prefix_file, parse_route_file};
use speakerctl::decode::{decode_hex_text, decode_pcap};
use speakerctl::{CtlError, run};

fn golden(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../bgp-wire/tests/golden")
        .join(name)
}

fn golden_bytes(name: &str) -> Vec<u8> {
    let text = std::fs::read_to_string(golden(name)).unwrap();
    let hex: String = text
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .flat_map(|l| l.split_whitespace())
        .collect();
    hex::decode(hex).unwrap()
}

fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
    Cli::try_parse_from(std::iter::once("speakerctl").chain(args.iter().copied()))
}

#[test]
fn announce_arguments() {
    let c = parse(&[
        "--socket",
        "/tmp/x.sock",
        "announce",
        "203.0.113.10/32",
        "203.0.113.11",
        "--community",
        "64511:100",
        "--community",
        "no-export",
        "--large-community",
        "64511:1:2",
        "--local-pref",
        "200",
        "--med",
        "5",
        "--next-hop",
        "192.0.2.9",
        "--peer",
        "tor1",
        "--origin",
        "incomplete",
        "--json",
    ])
    .unwrap();
    assert_eq!(c.socket, Path::new("/tmp/x.sock"));
    assert!(c.json);
    let Command::Announce(a) = c.command else {
        panic!("not announce")
    };
    assert_eq!(a.prefixes, ["203.0.113.10/32", "203.0.113.11/32"]);
    assert_eq!(a.opts.origin, Some(OriginArg::Incomplete));
    let r = a.opts.route("203.0.113.10/32");
    assert_eq!(r.communities, ["64511:100", "no-export"]);
    assert_eq!(r.large_communities, ["64511:1:2"]);
    assert_eq!(r.local_pref, Some(200));
    assert_eq!(r.med, Some(5));
    assert_eq!(r.next_hop.as_deref(), Some("192.0.2.9"));
    assert_eq!(r.peers, ["tor1"]);
    assert_eq!(r.origin.as_deref(), Some("incomplete"));
}

#[test]
fn bad_arguments_are_precise() {
    let e = parse(&["announce", "203.0.113.7/24"])
        .unwrap_err()
        .to_string();
    assert!(e.contains("did you mean 203.0.113.0/24"), "{e}");
    let e = parse(&["announce", "203.0.113.7/32", "--community", "70000:1"])
        .unwrap_err()
        .to_string();
    assert!(e.contains("--community") && e.contains("70000"), "{e}");
    let e = parse(&["announce", "203.0.113.7/32", "--next-hop", "nope"])
        .unwrap_err()
        .to_string();
    assert!(e.contains("--next-hop"), "{e}");
    let e = parse(&["announce"]).unwrap_err();
    assert_eq!(e.kind(), clap::error::ErrorKind::MissingRequiredArgument);
    let e = parse(&["announce", "203.0.113.7/32", "-f", "routes.txt"]).unwrap_err();
    assert_eq!(e.kind(), clap::error::ErrorKind::ArgumentConflict);
    let e = parse(&["withdraw"]).unwrap_err();
    assert_eq!(e.kind(), clap::error::ErrorKind::MissingRequiredArgument);
    let e = parse(&["frobnicate"]).unwrap_err();
    assert_eq!(e.kind(), clap::error::ErrorKind::InvalidSubcommand);
    assert!(parse(&["routes", "--received", "--peer", "tor1"]).is_ok());
    assert!(parse(&["completions", "zsh"]).is_ok());
    assert!(parse(&["completions", "tcsh"]).is_err());
}

#[test]
fn route_files() {
    let defaults = parse(&[
        "announce",
        "-f",
        "x",
        "--community",
        "64511:7",
        "--med",
        "1",
    ])
    .map(|c| match c.command {
        Command::Announce(a) => a.opts,
        _ => unreachable!(),
    })
    .unwrap();
    let text = "# routes\n\n198.51.100.0/24 --med 7 --peer tor1\n{\"prefix\":\"2001:db8::/48\",\"communities\":[\"no-export\"]}\n  203.0.113.11\n";
    let r = parse_route_file(text, "r.txt", &defaults).unwrap();
    assert_eq!(r.len(), 3);
    assert_eq!(r[0].prefix, "198.51.100.0/24");
    assert_eq!(r[0].med, Some(7), "the line wins");
    assert_eq!(r[0].communities, ["64511:7"], "defaults fill the rest");
    assert_eq!(r[0].peers, ["tor1"]);
    assert_eq!(r[1].prefix, "2001:db8::/48");
    assert_eq!(
        r[1].communities,
        ["no-export"],
        "JSON lines are taken as they are"
    );
    assert_eq!(r[1].med, None);
    assert_eq!(r[2].prefix, "203.0.113.11/32");
    assert_eq!(r[2].med, Some(1));

    let e = parse_route_file("198.51.100.0/24\n203.0.113.7/24\n", "r.txt", &defaults).unwrap_err();
    assert!(
        e.starts_with("r.txt:2: ") && e.contains("203.0.113.0/24"),
        "{e}"
    );
    let e = parse_route_file("198.51.100.0/24 --med x\n", "r.txt", &defaults).unwrap_err();
    assert!(e.starts_with("r.txt:1: ") && e.contains("--med"), "{e}");
    let e = parse_route_file(
        "{\"prefix\":\"198.51.100.0/24\",\"colour\":1}\n",
        "r.txt",
        &defaults,
    )
    .unwrap_err();
    assert!(e.starts_with("r.txt:1: ") && e.contains("colour"), "{e}");

    let r = parse_route_file(
        "203.0.113.5 --med=9 --origin egp --prepend 2 --next-hop 192.0.2.9 --large-community 1:2:3\n",
        "r.txt",
        &defaults,
    )
    .unwrap();
    assert_eq!(r[0].med, Some(9));
    assert_eq!(r[0].origin.as_deref(), Some("egp"));
    assert_eq!(r[0].as_path_prepend, Some(2));
    assert_eq!(r[0].next_hop.as_deref(), Some("192.0.2.9"));
    assert_eq!(r[0].large_communities, ["1:2:3"]);
    let e = parse_route_file("203.0.113.5 --colour blue\n", "r.txt", &defaults).unwrap_err();
    assert!(
        e.starts_with("r.txt:1: unexpected argument \"--colour\""),
        "{e}"
    );
    let e = parse_route_file("203.0.113.5 --med\n", "r.txt", &defaults).unwrap_err();
    assert_eq!(e, "r.txt:1: --med needs a value");
    let e = parse_route_file("203.0.113.5 --community 1:2:3:4\n", "r.txt", &defaults).unwrap_err();
    assert!(e.starts_with("r.txt:1: "), "{e}");

    let p = parse_prefix_file(
        "203.0.113.10/32 --med 3\n{\"prefix\":\"2001:db8::/48\"}\n",
        "-",
    )
    .unwrap();
    assert_eq!(p, ["203.0.113.10/32", "2001:db8::/48"]);
    assert!(
        parse_prefix_file("x\n", "-")
            .unwrap_err()
            .starts_with("-:1: ")
    );
}

#[test]
fn decode_a_golden_update() {
    let text = std::fs::read_to_string(golden("bird-update-frr-ibgp-ipv4.hex")).unwrap();
    let out = decode_hex_text(&text, DecodeContext::default(), false).unwrap();
    assert_eq!(out.len(), 1);
    assert_eq!(out[0]["protocol"], "bgp");
    let u = &out[0]["message"]["Update"];
    assert_eq!(u["nlri"][0]["prefix"], "203.0.113.192/27");
    let attrs = u["attributes"].as_array().unwrap();
    let find = |k: &str| attrs.iter().find_map(|a| a["value"].get(k)).cloned();
    assert_eq!(find("NextHop"), Some(json!("198.51.100.2")));
    assert_eq!(find("LocalPref"), Some(json!(300)));
    assert_eq!(find("Communities"), Some(json!(["64501:101", "64503:101"])));
    assert_eq!(find("LargeCommunities"), Some(json!(["64501:1:3"])));

    // Through the command: a file, and hex arguments with two messages back to back.
    let ka = "ffffffffffffffffffffffffffffffff001304";
    let mut out = Vec::new();
    let cli = parse(&["decode", ka, ka]).unwrap();
    run(cli, &mut std::io::empty(), &mut out).unwrap();
    let lines: Vec<Value> = String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        lines,
        vec![json!({"protocol": "bgp", "message": "Keepalive"}); 2]
    );

    // A bad message is reported, not a crash: KEEPALIVE with length 20.
    let out = decode_hex_text(
        "ffffffffffffffffffffffffffffffff00140400",
        DecodeContext::default(),
        false,
    )
    .unwrap();
    assert!(out[0]["error"].is_string(), "{out:?}");
    assert!(decode_hex_text("zz", DecodeContext::default(), false).is_err());
}

fn bfd_packet() -> Vec<u8> {
    let p = bfd::ControlPacket {
        diag: bfd::Diagnostic::CONTROL_DETECTION_TIME_EXPIRED,
        state: bfd::State::Up,
        flags: bfd::Flags::POLL,
        detect_mult: 3,
        my_discr: 0x1111,
        your_discr: 0x2222,
        desired_min_tx: 300_000,
        required_min_rx: 100_000,
        required_min_echo_rx: 0,
        auth: None,
    };
    p.encode().as_bytes().to_vec()
}

#[test]
fn decode_a_bfd_packet() {
    let out = decode_hex_text(&hex::encode(bfd_packet()), DecodeContext::default(), false).unwrap();
    let p = &out[0]["packet"];
    assert_eq!(out[0]["protocol"], "bfd");
    assert_eq!(p["state"], "Up");
    assert_eq!(p["diag"], 1);
    assert_eq!(p["poll"], true);
    assert_eq!(p["final"], false);
    assert_eq!(p["detect_mult"], 3);
    assert_eq!(p["my_discriminator"], 0x1111);
    assert_eq!(p["your_discriminator"], 0x2222);
    assert_eq!(p["desired_min_tx_us"], 300_000);
    assert_eq!(p["required_min_rx_us"], 100_000);
    // Version 0: rejected with the reason (RFC 5880 §6.8.6).
    let mut bad = bfd_packet();
    bad[0] &= 0x1f;
    let out = decode_hex_text(&hex::encode(bad), DecodeContext::default(), true).unwrap();
    assert!(
        out[0]["error"].as_str().unwrap().contains("ersion"),
        "{out:?}"
    );
}

// ----- a pcap, byte by byte -----

fn pcap_header(linktype: u32) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    v.extend_from_slice(&2u16.to_le_bytes());
    v.extend_from_slice(&4u16.to_le_bytes());
    v.extend_from_slice(&0i32.to_le_bytes());
    v.extend_from_slice(&0u32.to_le_bytes());
    v.extend_from_slice(&65535u32.to_le_bytes());
    v.extend_from_slice(&linktype.to_le_bytes());
    v
}

fn record(out: &mut Vec<u8>, sec: u32, usec: u32, frame: &[u8]) {
    out.extend_from_slice(&sec.to_le_bytes());
    out.extend_from_slice(&usec.to_le_bytes());
    out.extend_from_slice(&(frame.len() as u32).to_le_bytes());
    out.extend_from_slice(&(frame.len() as u32).to_le_bytes());
    out.extend_from_slice(frame);
}

fn tcp(sport: u16, dport: u16, seq: u32, flags: u8, payload: &[u8]) -> Vec<u8> {
    let mut t = Vec::new();
    t.extend_from_slice(&sport.to_be_bytes());
    t.extend_from_slice(&dport.to_be_bytes());
    t.extend_from_slice(&seq.to_be_bytes());
    t.extend_from_slice(&0u32.to_be_bytes());
    t.push(5 << 4);
    t.push(flags);
    t.extend_from_slice(&[0xff, 0xff, 0, 0, 0, 0]);
    t.extend_from_slice(payload);
    t
}

fn udp(sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut u = Vec::new();
    u.extend_from_slice(&sport.to_be_bytes());
    u.extend_from_slice(&dport.to_be_bytes());
    u.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    u.extend_from_slice(&[0, 0]);
    u.extend_from_slice(payload);
    u
}

fn ipv4(src: [u8; 4], dst: [u8; 4], proto: u8, l4: &[u8]) -> Vec<u8> {
    let mut p = vec![0x45, 0];
    p.extend_from_slice(&((20 + l4.len()) as u16).to_be_bytes());
    p.extend_from_slice(&[0, 1, 0x40, 0, 64, proto, 0, 0]);
    p.extend_from_slice(&src);
    p.extend_from_slice(&dst);
    p.extend_from_slice(l4);
    p
}

fn ether(l3: &[u8], ethertype: u16) -> Vec<u8> {
    let mut f = vec![0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2];
    f.extend_from_slice(&ethertype.to_be_bytes());
    f.extend_from_slice(l3);
    f
}

fn ipv6(src: [u8; 16], dst: [u8; 16], next: u8, l4: &[u8]) -> Vec<u8> {
    let mut p = vec![0x60, 0, 0, 0];
    p.extend_from_slice(&(l4.len() as u16).to_be_bytes());
    p.push(next);
    p.push(64);
    p.extend_from_slice(&src);
    p.extend_from_slice(&dst);
    p.extend_from_slice(l4);
    p
}

fn sll(l3: &[u8], proto: u16) -> Vec<u8> {
    let mut f = vec![0, 0, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0];
    f.extend_from_slice(&proto.to_be_bytes());
    f.extend_from_slice(l3);
    f
}

#[test]
fn decode_a_pcap_with_tcp_reassembly_and_bfd() {
    let a = [192, 0, 2, 1];
    let b = [192, 0, 2, 2];
    let open = golden_bytes("bird-open-frr-ibgp.hex");
    let ka = golden_bytes("bird-keepalive.hex");
    // The OPEN split in two segments, the second captured first, the first retransmitted;
    // then a KEEPALIVE; a BFD packet in between.
    let isn = 1000u32;
    let (o1, o2) = open.split_at(10);
    let mut f = pcap_header(1);
    record(
        &mut f,
        10,
        0,
        &ether(&ipv4(a, b, 6, &tcp(50000, 179, isn, 0x02, &[])), 0x0800),
    );
    record(
        &mut f,
        10,
        1,
        &ether(
            &ipv4(a, b, 6, &tcp(50000, 179, isn + 1 + 10, 0x18, o2)),
            0x0800,
        ),
    );
    record(
        &mut f,
        10,
        2,
        &ether(&ipv4(a, b, 17, &udp(49152, 3784, &bfd_packet())), 0x0800),
    );
    record(
        &mut f,
        10,
        3,
        &ether(&ipv4(a, b, 6, &tcp(50000, 179, isn + 1, 0x18, o1)), 0x0800),
    );
    record(
        &mut f,
        10,
        4,
        &ether(&ipv4(a, b, 6, &tcp(50000, 179, isn + 1, 0x18, o1)), 0x0800),
    );
    let next = isn + 1 + open.len() as u32;
    record(
        &mut f,
        11,
        0,
        &ether(&ipv4(a, b, 6, &tcp(50000, 179, next, 0x18, &ka)), 0x0800),
    );
    // Not BGP or BFD: ignored.
    record(
        &mut f,
        11,
        1,
        &ether(&ipv4(a, b, 17, &udp(5000, 53, b"x")), 0x0800),
    );

    let out = decode_pcap(&f, &DecodeContext::default(), false).unwrap();
    assert_eq!(out.len(), 3, "{out:#?}");
    assert_eq!(out[0]["protocol"], "bfd");
    assert_eq!(out[0]["src"], "192.0.2.1:49152");
    assert_eq!(out[0]["packet"]["state"], "Up");
    assert_eq!(out[1]["protocol"], "bgp");
    assert!(out[1]["message"]["Open"].is_object(), "{}", out[1]);
    assert_eq!(out[1]["src"], "192.0.2.1:50000");
    assert_eq!(out[1]["dst"], "192.0.2.2:179");
    assert_eq!(
        out[1]["time"], 10.000003,
        "completed by the segment at 10.000003"
    );
    assert_eq!(out[2]["message"], "Keepalive");
    assert_eq!(out[2]["time"], 11.0);

    // The same through `speakerctl decode -f FILE`.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.pcap");
    std::fs::write(&path, &f).unwrap();
    let mut text = Vec::new();
    let cli = parse(&["decode", "-f", path.to_str().unwrap()]).unwrap();
    run(cli, &mut std::io::empty(), &mut text).unwrap();
    assert_eq!(String::from_utf8(text).unwrap().lines().count(), 3);

    // Linux cooked capture, IPv6, no SYN seen; a gap stops that direction with an error.
    let s6: [u8; 16] = "2001:db8::1"
        .parse::<std::net::Ipv6Addr>()
        .unwrap()
        .octets();
    let d6: [u8; 16] = "2001:db8::2"
        .parse::<std::net::Ipv6Addr>()
        .unwrap()
        .octets();
    let mut g = pcap_header(113);
    record(
        &mut g,
        1,
        0,
        &sll(&ipv6(s6, d6, 6, &tcp(179, 40000, 7, 0x18, &ka)), 0x86dd),
    );
    record(
        &mut g,
        1,
        5,
        &sll(
            &ipv6(s6, d6, 6, &tcp(179, 40000, 7 + 19 + 5, 0x18, &ka)),
            0x86dd,
        ),
    );
    record(
        &mut g,
        2,
        0,
        &sll(&ipv6(s6, d6, 17, &udp(49152, 4784, &bfd_packet())), 0x86dd),
    );
    let out = decode_pcap(&g, &DecodeContext::default(), false).unwrap();
    assert_eq!(out.len(), 3, "{out:#?}");
    assert_eq!(out[0]["message"], "Keepalive");
    assert_eq!(out[0]["src"], "[2001:db8::1]:179");
    assert!(
        out[1]["error"]
            .as_str()
            .unwrap()
            .contains("5 bytes missing"),
        "{}",
        out[1]
    );
    assert_eq!(out[2]["protocol"], "bfd");
    assert_eq!(out[2]["multihop"], true);

    // Not a pcap; a truncated one.
    assert!(decode_pcap(b"hello", &DecodeContext::default(), false).is_err());
    let out = decode_pcap(&f[..f.len() - 3], &DecodeContext::default(), false).unwrap();
    assert!(out.iter().any(|v| v["error"].is_string()));
}

// ----- against a real speakerd API -----

fn speaker_config(sock: &Path) -> speakerd::Config {
    speakerd::Config::parse(
        &format!(
            "[speaker]\nasn = 64501\nrouter_id = \"192.0.2.2\"\n[api]\nsocket = \"{}\"\n[[peer]]\nname = \"tor1\"\naddress = \"127.0.0.1\"\nasn = 64500\npassive = true\n",
            sock.display()
        ),
        "t.toml",
    )
    .unwrap()
}

fn ctl(sock: &Path, args: &[&str], stdin: &str) -> Result<String, CtlError> {
    let mut full = vec!["--socket", sock.to_str().unwrap()];
    full.extend_from_slice(args);
    let cli = parse(&full).unwrap();
    let mut out = Vec::new();
    run(cli, &mut stdin.as_bytes(), &mut out)?;
    Ok(String::from_utf8(out).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_against_a_running_api() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("speakerd.sock");
    let speaker = Arc::new(
        speakerd::Speaker::start(speaker_config(&sock))
            .await
            .unwrap(),
    );
    let server = speakerd::api::ApiServer::start(&sock, speaker.clone()).unwrap();
    let s = sock.clone();
    tokio::task::spawn_blocking(move || {
        let out = ctl(
            &s,
            &["announce", "203.0.113.10/32", "--community", "64511:100"],
            "",
        )
        .unwrap();
        assert_eq!(out, "announced 1 route (1 changed)\n");
        let out = ctl(
            &s,
            &["announce", "-f", "-"],
            "198.51.100.0/24 --med 7\n{\"prefix\":\"2001:db8::/48\"}\n",
        )
        .unwrap();
        assert_eq!(out, "announced 2 routes (2 changed)\n");
        let out = ctl(&s, &["routes", "--json"], "").unwrap();
        let v: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["desired"].as_array().unwrap().len(), 3);
        let out = ctl(&s, &["routes"], "").unwrap();
        assert!(out.starts_with("Desired (3 prefixes):\nPrefix"), "{out}");
        assert!(out.contains("203.0.113.10/32  self"), "{out}");
        let out = ctl(&s, &["withdraw", "203.0.113.10/32"], "").unwrap();
        assert_eq!(out, "withdrew 1 prefix (1 were announced)\n");
        let out = ctl(&s, &["set", "-f", "-"], "203.0.113.20/32\n").unwrap();
        assert_eq!(out, "set 1 route (3 changed)\n");
        let out = ctl(&s, &["peers"], "").unwrap();
        let mut lines = out.lines();
        let header: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
        assert_eq!(
            header,
            [
                "Name", "Address", "AS", "State", "Uptime", "Sent", "Rcvd", "BFD", "Info"
            ]
        );
        let row: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
        assert_eq!(&row[..3], ["tor1", "127.0.0.1", "64500"]);
        let out = ctl(&s, &["peers", "--json"], "").unwrap();
        let v: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["peers"][0]["name"], "tor1");
        let out = ctl(&s, &["version"], "").unwrap();
        assert!(out.contains("(API 1)"), "{out}");
        // API errors: code and message, nothing applied.
        match ctl(&s, &["reload"], "") {
            Err(CtlError::Api(e)) => assert_eq!(e.code, "invalid_config", "no file to read"),
            other => panic!("{other:?}"),
        }
        match ctl(&s, &["announce", "203.0.113.30/32", "--peer", "nobody"], "") {
            Err(e @ CtlError::Api(_)) => {
                assert!(
                    e.to_string()
                        .starts_with("invalid_argument: routes[0].peers[0]"),
                    "{e}"
                )
            }
            other => panic!("{other:?}"),
        }
        let v: Value = serde_json::from_str(&ctl(&s, &["routes", "--json"], "").unwrap()).unwrap();
        assert_eq!(v["desired"], json!([{"prefix": "203.0.113.20/32"}]));
        match ctl(Path::new("/nonexistent/speakerd.sock"), &["peers"], "") {
            Err(CtlError::Other(m)) => assert!(m.contains("is speakerd running"), "{m}"),
            other => panic!("{other:?}"),
        }
    })
    .await
    .unwrap();
    server.shutdown().await;
    Arc::try_unwrap(speaker).unwrap().shutdown("done").await;
}

/// Lines written by `run`, sent to the test as they come.
struct LineSink {
    buf: Vec<u8>,
    tx: std::sync::mpsc::Sender<String>,
}

impl std::io::Write for LineSink {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(b);
        while let Some(i) = self.buf.iter().position(|&c| c == b'\n') {
            let line: Vec<u8> = self.buf.drain(..=i).collect();
            let _ = self
                .tx
                .send(String::from_utf8_lossy(&line).trim_end().to_string());
        }
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_prints_state_changes_until_the_daemon_goes_away() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("speakerd.sock");
    let speaker = Arc::new(
        speakerd::Speaker::start(speaker_config(&sock))
            .await
            .unwrap(),
    );
    let server = speakerd::api::ApiServer::start(&sock, speaker.clone()).unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let s = sock.clone();
    let watcher = tokio::task::spawn_blocking(move || {
        let cli = parse(&["--socket", s.to_str().unwrap(), "watch"]).unwrap();
        run(
            cli,
            &mut std::io::empty(),
            &mut LineSink {
                buf: Vec::new(),
                tx,
            },
        )
    });
    // Stop and start the peer until the watcher has printed a transition to Idle (it may
    // subscribe after the first ones); the deadline bounds the whole wait.
    let h = speaker.handles()[0].clone();
    let rx = Arc::new(std::sync::Mutex::new(rx));
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
    let line = loop {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no state change printed"
        );
        h.stop(Some("test".into()));
        let r = rx.clone();
        let got = tokio::task::spawn_blocking(move || {
            let rx = r.lock().unwrap();
            let mut seen = None;
            while let Ok(l) = rx.recv_timeout(std::time::Duration::from_millis(200)) {
                if l.contains("-> Idle") {
                    seen = Some(l);
                    break;
                }
            }
            seen
        })
        .await
        .unwrap();
        if let Some(l) = got {
            break l;
        }
        h.start();
    };
    assert!(line.starts_with("tor1 (127.0.0.1): "), "{line}");
    // The daemon's API goes away: the watch ends without an error.
    server.shutdown().await;
    watcher.await.unwrap().unwrap();
    Arc::try_unwrap(speaker).unwrap().shutdown("done").await;
}

#[test]
fn pcap_context_comes_from_the_captured_opens() {
    // BIRD (192.0.2.2) and FRR (192.0.2.1) both announce ADD-PATH send/receive for IPv4:
    // BIRD's UPDATE carries path identifiers and decodes only with that context.
    let bird = [192, 0, 2, 2];
    let frr = [192, 0, 2, 1];
    let mut bird_stream = golden_bytes("bird-open-frr.hex");
    bird_stream.extend(golden_bytes("bird-update-frr-ipv4-addpath.hex"));
    let frr_stream = golden_bytes("frr-open-bird.hex");
    let mut f = pcap_header(1);
    let seg = |src, dst, sport, dport, seq, data: &[u8]| {
        ether(
            &ipv4(src, dst, 6, &tcp(sport, dport, seq, 0x18, data)),
            0x0800,
        )
    };
    record(&mut f, 1, 0, &seg(bird, frr, 40000, 179, 1, &bird_stream));
    record(&mut f, 1, 1, &seg(frr, bird, 179, 40000, 1, &frr_stream));
    let out = decode_pcap(&f, &DecodeContext::default(), false).unwrap();
    let update = out
        .iter()
        .find(|v| v["message"].get("Update").is_some())
        .unwrap_or_else(|| panic!("no UPDATE decoded: {out:#?}"));
    let nlri = &update["message"]["Update"]["nlri"];
    assert_eq!(nlri[0]["path_id"], 2, "{update}");
    assert_eq!(nlri[0]["prefix"], "203.0.113.32/27");
    // With an explicit context (no ADD-PATH) the same bytes do not decode.
    let out = decode_pcap(&f, &DecodeContext::default(), true).unwrap();
    assert!(out.iter().any(|v| v["error"].is_string()), "{out:#?}");
}
