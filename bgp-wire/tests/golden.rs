//! Golden vectors: real messages captured from FRR, BIRD, GoBGP and ExaBGP (and a
//! few hand-written from the RFCs) in `tests/golden/*.hex`. Each must decode without
//! error (fatal or not) under its `# ctx:` line and re-encode byte-exact.

use std::path::PathBuf;

use bgp_wire::{Bytes, DecodeContext, Family, Framer, Message};

fn parse_file(text: &str) -> Result<(DecodeContext, Vec<u8>), String> {
    let mut ctx = DecodeContext::default();
    let mut hex = String::new();
    for line in text.lines() {
        let line = line.trim();
        if let Some(c) = line.strip_prefix('#') {
            if let Some(tokens) = c.trim().strip_prefix("ctx:") {
                for tok in tokens.split_whitespace() {
                    match tok {
                        "as4" => ctx.four_octet_as = true,
                        "as2" => ctx.four_octet_as = false,
                        "addpath-ipv4" => ctx.add_path.push(Family::IPV4_UNICAST),
                        "addpath-ipv6" => ctx.add_path.push(Family::IPV6_UNICAST),
                        "extmsg" => ctx.extended_message = true,
                        other => return Err(format!("unknown ctx token {other:?}")),
                    }
                }
            }
            continue;
        }
        hex.extend(line.chars().filter(|c| !c.is_whitespace()));
    }
    let bytes = hex::decode(&hex).map_err(|e| format!("bad hex: {e}"))?;
    Ok((ctx, bytes))
}

fn golden_files() -> Vec<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "hex"))
        .collect();
    files.sort();
    files
}

#[test]
fn golden_vectors_decode_and_reencode_byte_exact() {
    let files = golden_files();
    // The test must not pass vacuously.
    assert!(!files.is_empty(), "tests/golden holds no .hex files");
    let mut failures = Vec::new();
    for path in &files {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(path).unwrap();
        let (ctx, bytes) = match parse_file(&text) {
            Ok(x) => x,
            Err(e) => {
                failures.push(format!("{name}: {e}"));
                continue;
            }
        };
        // The framer must return exactly this one message.
        let mut framer = Framer::new(ctx.max_message_len());
        framer.push(&bytes);
        match framer.next_frame() {
            Ok(Some(f)) if f.len() == bytes.len() => {}
            other => failures.push(format!("{name}: framer gave {other:?}")),
        }
        let msg = match Message::decode(Bytes::from(bytes.clone()), &ctx) {
            Ok(m) => m,
            Err(e) => {
                failures.push(format!("{name}: decode error {e} -> {}", e.notification()));
                continue;
            }
        };
        if let Message::Update(u) = &msg
            && !u.errors.is_empty()
        {
            failures.push(format!("{name}: non-fatal errors {:?}", u.errors));
        }
        match msg.to_bytes(&ctx) {
            Ok(out) if out[..] == bytes[..] => {}
            Ok(out) => failures.push(format!(
                "{name}: re-encode differs\n  in:  {}\n  out: {}",
                hex::encode(&bytes),
                hex::encode(&out)
            )),
            Err(e) => failures.push(format!("{name}: encode error {e}")),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} golden files failed:\n{}",
        failures.len(),
        files.len(),
        failures.join("\n")
    );
}

fn load(name: &str) -> (DecodeContext, Message) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name);
    let (ctx, bytes) = parse_file(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let m = Message::decode(Bytes::from(bytes), &ctx).unwrap();
    (ctx, m)
}

#[test]
fn hand_written_vectors_decode_to_the_documented_values() {
    use bgp_wire::{AttributeValue, Capability, MpNextHop, Origin};

    let (_, Message::Open(o)) = load("hand-open-rfc9072-extended-params.hex") else {
        panic!()
    };
    assert!(o.extended_params);
    assert_eq!(
        (o.asn(), o.hold_time, o.bgp_id.to_string()),
        (64500, 90, "192.0.2.9".to_string())
    );
    let gr = o
        .capabilities()
        .find_map(|c| match c {
            Capability::GracefulRestart(g) => Some(g.clone()),
            _ => None,
        })
        .unwrap();
    assert!(gr.restart_state());
    assert_eq!(gr.restart_time, 120);
    assert!(gr.families[0].forwarding_preserved());

    let (_, Message::Update(u)) = load("hand-update-confed-set-aggregator-rr.hex") else {
        panic!()
    };
    assert_eq!(u.origin(), Some(&Origin::Incomplete));
    assert_eq!(
        u.as_path().unwrap().to_string(),
        "(64501) 64500 64502 {64503 64504}"
    );
    assert_eq!(u.as_path().unwrap().path_len(), 3);
    assert_eq!(u.local_pref(), Some(&100));
    assert!(u.atomic_aggregate());
    assert_eq!(u.aggregator().unwrap().asn, 64500);
    assert_eq!(u.cluster_list().unwrap().len(), 2);
    assert_eq!(
        u.nlri
            .iter()
            .map(|n| n.prefix.to_string())
            .collect::<Vec<_>>(),
        ["203.0.113.0/24", "198.51.100.7/32"]
    );
    assert_eq!(u.attribute(99).unwrap().flags.bits(), 0xe0);

    let (_, Message::Update(u)) = load("hand-update-as2-as4path-extlen.hex") else {
        panic!()
    };
    assert_eq!(
        u.as_path().unwrap().asns().collect::<Vec<_>>(),
        [64500, 23456]
    );
    assert_eq!(
        u.as4_path().unwrap().asns().collect::<Vec<_>>(),
        [64500, 4_200_000_000]
    );
    assert_eq!(u.communities().unwrap()[1], bgp_wire::Community::NO_EXPORT);

    let (_, Message::Update(u)) = load("hand-update-mpreach-ipv6-ll-addpath-extcomm.hex") else {
        panic!()
    };
    let mp = u.mp_reach().unwrap();
    assert_eq!(mp.family, Family::IPV6_UNICAST);
    assert!(matches!(
        mp.next_hop,
        MpNextHop::Ipv6 {
            link_local: Some(_),
            ..
        }
    ));
    assert_eq!(
        mp.nlri
            .iter()
            .map(|n| (n.path_id, n.prefix.to_string()))
            .collect::<Vec<_>>(),
        [
            (Some(1), "2001:db8:1::/48".to_string()),
            (Some(2), "2001:db8:2::/64".to_string())
        ]
    );
    assert!(matches!(
        u.attributes[3].value,
        AttributeValue::LargeCommunities(_)
    ));
    let ec = u.extended_communities().unwrap()[0];
    assert_eq!((ec.typ, ec.subtype), (0x00, 0x02));
}
