//! The Prometheus endpoint over loopback: two speakers in session, one scrape, the numbers
//! of the peer and the rib; 404 elsewhere; the `[metrics]` section.

use std::sync::Arc;
use std::time::Duration;

use bgp_fsm::State;
use speakerd::metrics::MetricsServer;
use speakerd::{Config, Speaker};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const DEADLINE: Duration = Duration::from_secs(60);

fn cfg(text: &str) -> Config {
    Config::parse(text, "test.toml").unwrap_or_else(|e| panic!("{e}"))
}

async fn get(addr: std::net::SocketAddr, path: &str) -> String {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut out = String::new();
    tokio::time::timeout(DEADLINE, s.read_to_string(&mut out))
        .await
        .expect("a response before the deadline")
        .unwrap();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scrape_shows_the_session_and_the_routes() {
    let b = Speaker::start(cfg(
        "[speaker]\nasn = 64501\nrouter_id = \"192.0.2.2\"\nlisten = [\"127.0.0.2:0\"]\n\
         [[peer]]\nname = \"a\"\naddress = \"127.0.0.1\"\nasn = 64500\npassive = true\n",
    ))
    .await
    .unwrap();
    let port = b.local_addrs()[0].port();
    let a = Arc::new(
        Speaker::start(cfg(&format!(
            "[speaker]\nasn = 64500\nrouter_id = \"192.0.2.1\"\n[metrics]\nlisten = \"127.0.0.1:0\"\n\
             [[peer]]\nname = \"b\"\naddress = \"127.0.0.2\"\nasn = 64501\nport = {port}\nsource = \"127.0.0.1\"\n"
        )))
        .await
        .unwrap(),
    );
    let listen = a.config().metrics.listen.unwrap();
    let m = MetricsServer::start(listen, a.clone()).await.unwrap();
    let mut w = a.handles()[0].watch();
    let up = tokio::time::timeout(DEADLINE, w.wait_for(|s| s.state == State::Established))
        .await
        .is_ok_and(|r| r.is_ok());
    assert!(up, "never Established: {:?}", a.peers());
    let mut brx = b.subscribe();
    a.announce(
        "203.0.113.10/32".parse().unwrap(),
        rib::Advertisement::new(),
    )
    .await;
    // Once B has the UPDATE, A's Adj-RIB-Out has the prefix.
    let got = tokio::time::timeout(DEADLINE, async {
        loop {
            if let Ok(ev) = brx.recv().await
                && matches!(&ev.kind, speakerd::PeerEventKind::Update(u) if u.nlri.len() == 1)
            {
                return;
            }
        }
    })
    .await;
    assert!(got.is_ok(), "B never got the UPDATE");
    let body = get(m.local_addr(), "/metrics").await;
    assert!(
        body.contains("speakerd_peer_prefixes_sent{peer=\"b\"} 1\n"),
        "{body}"
    );
    assert!(body.starts_with("HTTP/1.1 200 OK\r\n"), "{body}");
    assert!(
        body.contains("Content-Type: application/openmetrics-text"),
        "{body}"
    );
    for line in [
        "speakerd_peer_up{peer=\"b\"} 1\n",
        "speakerd_peer_state{peer=\"b\"} 6\n",
        "speakerd_peer_messages_sent_total{peer=\"b\",type=\"open\"} 1\n",
        "speakerd_peer_messages_received_total{peer=\"b\",type=\"open\"} 1\n",
        "speakerd_peer_established_total{peer=\"b\"} 1\n",
        "speakerd_peer_drops_total{peer=\"b\"} 0\n",
        "speakerd_routes_desired 1\n",
        "# TYPE speakerd_peer_uptime_seconds gauge\n",
        "speakerd_peer_uptime_seconds{peer=\"b\"} ",
    ] {
        assert!(body.contains(line), "missing {line:?} in\n{body}");
    }
    assert!(body.ends_with("# EOF\n"), "{body}");
    assert!(
        !body.contains("speakerd_peer_bfd_up{"),
        "no BFD profile, no BFD metric"
    );

    let nf = get(m.local_addr(), "/").await;
    assert!(nf.starts_with("HTTP/1.1 404 Not Found\r\n"), "{nf}");

    m.shutdown().await;
    Arc::try_unwrap(a).unwrap().shutdown("done").await;
    b.shutdown("done").await;
}

#[test]
fn metrics_section() {
    let base = "[speaker]\nasn = 64511\nrouter_id = \"192.0.2.11\"\n";
    let c = cfg(&format!("{base}[metrics]\nlisten = \"[::1]:9179\"\n"));
    assert_eq!(c.metrics.listen, Some("[::1]:9179".parse().unwrap()));
    assert_eq!(cfg(base).metrics.listen, None, "off when absent");
    let e = Config::parse(&format!("{base}[metrics]\nlisten = \"9179\"\n"), "t.toml")
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("t.toml:5:10: metrics listen \"9179\""), "{e}");
}
