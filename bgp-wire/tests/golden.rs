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
