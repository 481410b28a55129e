//! The `speakerd` binary: `check` exit codes and messages, and SIGTERM sending Cease /
//! Administrative Shutdown with the RFC 9003 message to a peer (a library `Speaker`).

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use bgp_fsm::{Reason, State};
use speakerd::{Config, PeerEventKind, Speaker, SpeakerOptions};
use tokio::sync::broadcast;

const BIN: &str = env!("CARGO_BIN_EXE_speakerd");

fn write(text: &str) -> tempfile::NamedTempFile {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    f.write_all(text.as_bytes()).unwrap();
    f
}

#[test]
fn check_valid_config_exits_0() {
    let f = write(
        "[speaker]\nasn = 64511\nrouter_id = \"192.0.2.11\"\n[[peer]]\naddress = \"192.0.2.1\"\nasn = 64500\n",
    );
    let out = Command::new(BIN)
        .args(["check", "--config"])
        .arg(f.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.ends_with(": ok (1 peer)\n"), "{stdout}");
}

#[test]
fn check_invalid_config_exits_1_with_position() {
    let f = write(
        "[speaker]\nasn = 64511\nrouter_id = \"192.0.2.11\"\n[[peer]]\naddress = \"192.0.2.1\"\nasn = 64500\nhold_time = 1\nbfd = \"x\"\n",
    );
    let out = Command::new(BIN)
        .args(["check", "--config"])
        .arg(f.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let name = f.path().display().to_string();
    assert!(
        stderr.contains(&format!(
            "{name}:7:13: hold_time 1: must be 0 or 3..=65535 seconds"
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("{name}:8:7: unknown bfd profile \"x\"")),
        "{stderr}"
    );
}

#[test]
fn missing_file_exits_1() {
    let out = Command::new(BIN)
        .args(["check", "--config", "/nonexistent/speakerd.toml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read the file"));
}

#[tokio::test]
async fn sigterm_sends_administrative_shutdown_and_exits_0() {
    // The peer: a library speaker on 127.0.0.4, passive.
    let peer_cfg = Config::parse(
        "[speaker]\nasn = 64501\nrouter_id = \"192.0.2.2\"\nlisten = [\"127.0.0.4:0\"]\n[[peer]]\naddress = \"127.0.0.5\"\nasn = 64500\npassive = true\n",
        "peer.toml",
    )
    .unwrap();
    let (tx, mut rx) = broadcast::channel(1024);
    let mut o = SpeakerOptions::default();
    o.events = Some(tx);
    let peer = Speaker::start_with(peer_cfg, o).await.unwrap();
    let port = peer.local_addrs()[0].port();

    let f = write(&format!(
        "[speaker]\nasn = 64500\nrouter_id = \"192.0.2.1\"\n[[peer]]\naddress = \"127.0.0.4\"\nport = {port}\nsource = \"127.0.0.5\"\nasn = 64501\n"
    ));
    let mut child = Command::new(BIN)
        .arg("--config")
        .arg(f.path())
        .env("RUST_LOG", "debug")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut w = peer.handles()[0].watch();
    let up = tokio::time::timeout(
        Duration::from_secs(30),
        w.wait_for(|s| s.state == State::Established),
    )
    .await
    .is_ok_and(|r| r.is_ok()); // drop the watch guard at once: it blocks the publisher
    if !up {
        let _ = child.kill();
        let out = child.wait_with_output().unwrap();
        panic!(
            "never established: {:?}\n{}",
            peer.peers(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let st = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(st.success());
    let n = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            if let Ok(ev) = rx.recv().await {
                if let PeerEventKind::StateChanged {
                    reason: Reason::NotificationReceived(n),
                    ..
                } = ev.kind
                {
                    return n;
                }
            }
        }
    })
    .await
    .expect("no NOTIFICATION from speakerd");
    assert_eq!((n.code, n.subcode), (6, 2));
    assert_eq!(
        n.shutdown_message().as_deref(),
        Some("speakerd shutting down")
    );
    let out = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
        .await
        .unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{log}");
    assert!(log.contains("SIGTERM: shutting down"), "{log}");
    assert!(log.contains("Established"), "{log}");
    peer.shutdown("done").await;
}

#[test]
fn listen_address_in_use_exits_1_before_any_session() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let f = write(&format!(
        "[speaker]\nasn = 64511\nrouter_id = \"192.0.2.11\"\nlisten = [\"{addr}\"]\n[[peer]]\naddress = \"192.0.2.1\"\nasn = 64500\n"
    ));
    let out = Command::new(BIN)
        .arg("--config")
        .arg(f.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("cannot listen on {addr}: Address already in use")),
        "{stderr}"
    );
    assert!(!stderr.contains("connecting"), "{stderr}");
}
