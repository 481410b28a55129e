//! The local API over a real Unix socket in a tempdir, against real `Speaker`s on loopback:
//! every request, every error code (nothing applied on error), 100k prefixes in one request,
//! and `watch` streaming a session's state changes and received UPDATEs. Every read has a
//! deadline; nothing asserts on durations.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use speakerd::api::ApiServer;
use speakerd::{Config, Speaker};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};

const DEADLINE: Duration = Duration::from_secs(60);

fn cfg(text: &str) -> Config {
    Config::parse(text, "test.toml").unwrap_or_else(|e| panic!("{e}"))
}

/// B: AS 64501 on 127.0.0.2, listening on an ephemeral port; peer "a" (127.0.0.1) passive.
fn config_b(extra: &str) -> Config {
    cfg(&format!(
        "[speaker]\nasn = 64501\nrouter_id = \"192.0.2.2\"\nlisten = [\"127.0.0.2:0\"]\n\
         [[peer]]\nname = \"a\"\naddress = \"127.0.0.1\"\nasn = 64500\npassive = true\n{extra}\n"
    ))
}

/// A: AS 64500, connects from 127.0.0.1 to B.
fn config_a(port: u16) -> Config {
    cfg(&format!(
        "[speaker]\nasn = 64500\nrouter_id = \"192.0.2.1\"\n\
         [[peer]]\nname = \"b\"\naddress = \"127.0.0.2\"\nasn = 64501\nport = {port}\nsource = \"127.0.0.1\"\n"
    ))
}

struct Client {
    r: BufReader<OwnedReadHalf>,
    w: OwnedWriteHalf,
}

impl Client {
    async fn connect(path: &Path) -> Client {
        let s = UnixStream::connect(path).await.expect("connect to the API");
        let (r, w) = s.into_split();
        Client {
            r: BufReader::new(r),
            w,
        }
    }

    async fn send_raw(&mut self, line: &str) {
        self.w.write_all(line.as_bytes()).await.unwrap();
        self.w.write_all(b"\n").await.unwrap();
    }

    async fn line(&mut self) -> Value {
        let mut l = String::new();
        let n = tokio::time::timeout(DEADLINE, self.r.read_line(&mut l))
            .await
            .expect("a response line before the deadline")
            .unwrap();
        assert!(n > 0, "connection closed");
        assert!(l.ends_with('\n'));
        serde_json::from_str(&l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}"))
    }

    async fn raw(&mut self, line: &str) -> Value {
        self.send_raw(line).await;
        self.line().await
    }

    async fn req(&mut self, v: Value) -> Value {
        self.raw(&v.to_string()).await
    }

    async fn ok(&mut self, v: Value) -> Value {
        let r = self.req(v.clone()).await;
        r.get("result")
            .unwrap_or_else(|| panic!("{v} failed: {r}"))
            .clone()
    }

    async fn err(&mut self, line: &str) -> (String, String, Option<String>) {
        let r = self.raw(line).await;
        let e = r
            .get("error")
            .unwrap_or_else(|| panic!("{line} did not fail: {r}"));
        (
            e["code"].as_str().unwrap().to_string(),
            e["message"].as_str().unwrap().to_string(),
            e.get("field").and_then(|f| f.as_str()).map(str::to_string),
        )
    }

    /// Reads event lines until `f` matches one.
    async fn event(&mut self, what: &str, mut f: impl FnMut(&Value) -> bool) -> Value {
        tokio::time::timeout(DEADLINE, async {
            loop {
                let v = self.line().await;
                let ev = v
                    .get("event")
                    .unwrap_or_else(|| panic!("not an event: {v}"));
                if f(ev) {
                    return ev.clone();
                }
            }
        })
        .await
        .unwrap_or_else(|_| panic!("no event: {what}"))
    }
}

fn sock(dir: &tempfile::TempDir) -> PathBuf {
    dir.path().join("run").join("speakerd.sock")
}

fn desired(r: &Value) -> Vec<String> {
    r["desired"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["prefix"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn every_request_and_every_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = sock(&dir);
    // A stale socket file (a previous run that died) is replaced.
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
    assert!(path.exists());

    let speaker = Arc::new(Speaker::start(config_b("")).await.unwrap());
    let server = ApiServer::start(&path, speaker.clone()).expect("start the API");
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o660, "socket mode");
    // A second server on the same path is refused (the first still answers).
    let e = ApiServer::start(&path, speaker.clone()).unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::AddrInUse);

    let mut c = Client::connect(&path).await;
    let v = c.ok(json!({"request": "version"})).await;
    assert_eq!(v["name"], "speakerd");
    assert_eq!(v["api"], 1);
    assert_eq!(v["version"], env!("CARGO_PKG_VERSION"));

    let p = c.ok(json!({"request": "peers"})).await;
    let peers = p["peers"].as_array().unwrap();
    assert_eq!(peers.len(), 1);
    assert_eq!(peers[0]["name"], "a");
    assert_eq!(peers[0]["address"], "127.0.0.1");
    assert_eq!(peers[0]["asn"], 64500);
    assert!(peers[0]["state"].is_string());
    assert!(peers[0].get("negotiated").is_none(), "not Established");
    assert_eq!(peers[0]["counters"]["updates_in"], 0);

    // announce: one and many; the attributes come back from `routes`.
    let r = c
        .ok(json!({"request": "announce", "routes": [
            {"prefix": "203.0.113.10/32", "communities": ["64511:100", "no-export"],
             "large_communities": ["64511:1:2"], "local_pref": 200, "med": 7,
             "next_hop": "192.0.2.11", "peers": ["a"]},
            {"prefix": "2001:db8:1::/48"}
        ]}))
        .await;
    assert_eq!(r, json!({"announced": 2, "changed": 2}));
    let r = c
        .ok(json!({"request": "announce", "routes": [{"prefix": "203.0.113.10/32", "communities": ["64511:100", "no-export"], "large_communities": ["64511:1:2"], "local_pref": 200, "med": 7, "next_hop": "192.0.2.11", "peers": ["a"]}]}))
        .await;
    assert_eq!(r["changed"], 0, "idempotent");
    let routes = c.ok(json!({"request": "routes"})).await;
    assert_eq!(desired(&routes), ["203.0.113.10/32", "2001:db8:1::/48"]);
    let d0 = &routes["desired"][0];
    assert_eq!(d0["communities"], json!(["64511:100", "no-export"]));
    assert_eq!(d0["large_communities"], json!(["64511:1:2"]));
    assert_eq!(d0["local_pref"], 200);
    assert_eq!(d0["med"], 7);
    assert_eq!(d0["next_hop"], "192.0.2.11");
    assert_eq!(d0["peers"], json!(["a"]));
    assert_eq!(routes["advertised"], json!([]), "no peer is up");

    // withdraw: one known, one unknown.
    let r = c
        .ok(json!({"request": "withdraw", "prefixes": ["2001:db8:1::/48", "198.51.100.0/24"]}))
        .await;
    assert_eq!(r, json!({"withdrawn": 2, "changed": 1}));
    // set: replaces the whole API set.
    let r = c
        .ok(json!({"request": "set", "routes": [{"prefix": "198.51.100.0/24"}, {"prefix": "198.51.100.7"}]}))
        .await;
    assert_eq!(r["routes"], 2);
    assert_eq!(r["changed"], 3, "two added, 203.0.113.10/32 withdrawn");
    let before = c.ok(json!({"request": "routes"})).await;
    assert_eq!(desired(&before), ["198.51.100.0/24", "198.51.100.7/32"]);

    // Errors: code, field, and nothing applied.
    let (code, _, _) = c.err("{\"request\": \"peers\"").await;
    assert_eq!(code, "parse");
    let (code, _, _) = c.err("[1, 2]").await;
    assert_eq!(code, "parse");
    let (code, msg, _) = c.err("{\"request\": \"frobnicate\"}").await;
    assert_eq!(code, "unknown_request");
    assert!(
        msg.contains("frobnicate") && msg.contains("announce"),
        "{msg}"
    );
    let (code, _, _) = c.err("{\"routes\": []}").await;
    assert_eq!(code, "unknown_request");
    let (code, msg, field) = c
        .err(r#"{"request":"announce","routes":[{"prefix":"203.0.113.20/32"},{"prefix":"203.0.113.300/32"}]}"#)
        .await;
    assert_eq!(code, "invalid_argument");
    assert_eq!(field.as_deref(), Some("routes[1].prefix"));
    assert!(msg.contains("203.0.113.300/32"), "{msg}");
    let (code, msg, field) = c
        .err(r#"{"request":"announce","routes":[{"prefix":"203.0.113.7/24"}]}"#)
        .await;
    assert_eq!(
        (code.as_str(), field.as_deref()),
        ("invalid_argument", Some("routes[0].prefix"))
    );
    assert!(
        msg.contains("203.0.113.0/24"),
        "hint at the right prefix: {msg}"
    );
    let (code, _, field) = c
        .err(r#"{"request":"set","routes":[{"prefix":"203.0.113.20/32","communities":["64511:100","70000:1"]}]}"#)
        .await;
    assert_eq!(
        (code.as_str(), field.as_deref()),
        ("invalid_argument", Some("routes[0].communities[1]"))
    );
    let (code, _, field) = c
        .err(
            r#"{"request":"announce","routes":[{"prefix":"203.0.113.20/32","local_pref":"high"}]}"#,
        )
        .await;
    assert_eq!(
        (code.as_str(), field.as_deref()),
        ("invalid_argument", Some("routes[0].local_pref"))
    );
    let (code, _, field) = c
        .err(r#"{"request":"announce","routes":[{"prefix":"203.0.113.20/32","colour":"blue"}]}"#)
        .await;
    assert_eq!(code, "invalid_argument");
    assert!(field.unwrap().starts_with("routes[0]"));
    let (code, _, field) = c
        .err(r#"{"request":"announce","routes":[{"prefix":"203.0.113.20/32","peers":["nobody"]}]}"#)
        .await;
    assert_eq!(
        (code.as_str(), field.as_deref()),
        ("invalid_argument", Some("routes[0].peers[0]"))
    );
    let (code, msg, _) = c.err(r#"{"request":"announce"}"#).await;
    assert_eq!(code, "invalid_argument");
    assert!(msg.contains("routes"), "{msg}");
    let (code, _, field) = c
        .err(r#"{"request":"withdraw","prefixes":["198.51.100.7/32","nope"]}"#)
        .await;
    assert_eq!(
        (code.as_str(), field.as_deref()),
        ("invalid_argument", Some("prefixes[1]"))
    );
    let (code, _, field) = c.err(r#"{"request":"routes","peer":"nobody"}"#).await;
    assert_eq!(
        (code.as_str(), field.as_deref()),
        ("invalid_argument", Some("peer"))
    );
    let (code, msg, _) = c
        .err(r#"{"request":"routes","peer":"a","received":true}"#)
        .await;
    assert_eq!(code, "invalid_argument");
    assert!(msg.contains("keep_received"), "{msg}");
    let (code, _, _) = c.err(r#"{"request":"version","extra":1}"#).await;
    assert_eq!(code, "invalid_argument");
    // reload without a configuration file to read: an error, nothing changes.
    let (code, msg, _) = c.err(r#"{"request":"reload"}"#).await;
    assert_eq!(code, "invalid_config", "{msg}");
    assert!(msg.contains("no configuration file"), "{msg}");
    // Nothing of the failed requests was applied.
    let after = c.ok(json!({"request": "routes"})).await;
    assert_eq!(after, before);
    // The connection still serves after errors; blank lines are skipped.
    c.send_raw("").await;
    assert_eq!(c.ok(json!({"request": "version"})).await["api"], 1);

    drop(c);
    server.shutdown().await;
    assert!(!path.exists(), "socket removed at shutdown");
    let speaker = Arc::try_unwrap(speaker).expect("the API released the speaker");
    speaker.shutdown("test done").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundred_thousand_prefixes_in_one_request() {
    let dir = tempfile::tempdir().unwrap();
    let path = sock(&dir);
    let speaker = Arc::new(Speaker::start(config_b("")).await.unwrap());
    let server = ApiServer::start(&path, speaker.clone()).unwrap();
    let mut c = Client::connect(&path).await;
    const N: usize = 100_000;
    let routes: Vec<Value> = (0..N)
        .map(|i| json!({"prefix": format!("2001:db8:{:x}:{:x}::/64", i >> 16, i & 0xffff), "communities": ["64511:100"]}))
        .collect();
    let r = c.ok(json!({"request": "announce", "routes": routes})).await;
    assert_eq!(r, json!({"announced": N, "changed": N}));
    let all = c.ok(json!({"request": "routes"})).await;
    assert_eq!(all["desired"].as_array().unwrap().len(), N);
    // One bad route among 100k: refused as a whole.
    let mut routes: Vec<Value> = (0..N)
        .map(|i| json!({"prefix": format!("2001:db8:ffff:{:x}::/64", i & 0xffff)}))
        .collect();
    routes[N - 1] = json!({"prefix": "2001:db8:zz::/64"});
    let r = c.req(json!({"request": "set", "routes": routes})).await;
    assert_eq!(r["error"]["field"], format!("routes[{}].prefix", N - 1));
    assert_eq!(speaker.announced_count(), N);
    let prefixes: Vec<String> = (0..N)
        .map(|i| format!("2001:db8:{:x}:{:x}::/64", i >> 16, i & 0xffff))
        .collect();
    let r = c
        .ok(json!({"request": "withdraw", "prefixes": prefixes}))
        .await;
    assert_eq!(r, json!({"withdrawn": N, "changed": N}));
    assert_eq!(speaker.announced_count(), 0);
    drop(c);
    server.shutdown().await;
    Arc::try_unwrap(speaker).unwrap().shutdown("done").await;
}

/// B's received-routes table is fed from the event stream by its own task, so it may trail
/// a watch event by a moment: asks for peer a's received routes until `done` holds, within
/// a deadline.
async fn received_until(c: &mut Client, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let rr = c
            .ok(json!({"request": "routes", "peer": "a", "received": true}))
            .await;
        if done(&rr) {
            return rr;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "B's received routes never showed {what}: {rr}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_streams_state_changes_and_received_updates() {
    let dir = tempfile::tempdir().unwrap();
    let bpath = dir.path().join("b.sock");
    let apath = dir.path().join("a.sock");
    let b = Arc::new(
        Speaker::start(config_b("keep_received = true"))
            .await
            .unwrap(),
    );
    let bserver = ApiServer::start(&bpath, b.clone()).unwrap();
    let mut watcher = Client::connect(&bpath).await;
    assert_eq!(
        watcher.ok(json!({"request": "watch"})).await,
        json!({"watching": true})
    );
    // Like `socat` at the end of its input: the client shuts its sending side; the stream
    // goes on.
    watcher.w.shutdown().await.unwrap();

    let port = b.local_addrs()[0].port();
    let a = Arc::new(Speaker::start(config_a(port)).await.unwrap());
    let aserver = ApiServer::start(&apath, a.clone()).unwrap();
    let ev = watcher
        .event("a Established at B", |e| {
            e["type"] == "state" && e["to"] == "Established"
        })
        .await;
    assert_eq!(ev["peer"], "a");
    assert_eq!(ev["address"], "127.0.0.1");
    assert!(ev["reason"].is_string());

    let mut ca = Client::connect(&apath).await;
    ca.ok(json!({"request": "announce", "routes": [
        {"prefix": "203.0.113.10/32", "communities": ["64511:100"], "med": 5}
    ]}))
    .await;
    let ev = watcher
        .event("the UPDATE at B", |e| {
            e["type"] == "update" && e["announced"].as_array().is_some_and(|a| !a.is_empty())
        })
        .await;
    let r = &ev["announced"][0];
    assert_eq!(r["prefix"], "203.0.113.10/32");
    assert_eq!(r["communities"], json!(["64511:100"]));
    assert_eq!(r["med"], 5);
    assert_eq!(r["as_path"], "64500");
    assert_eq!(r["next_hop"], "127.0.0.1", "next hop self");

    // A's side: what it sent B (Adj-RIB-Out, exported attributes).
    let ra = ca.ok(json!({"request": "routes", "peer": "b"})).await;
    assert_eq!(ra["advertised"][0]["peer"], "b");
    let sent = &ra["advertised"][0]["routes"][0];
    assert_eq!(sent["prefix"], "203.0.113.10/32");
    assert_eq!(sent["as_path"], "64500");
    assert_eq!(sent["communities"], json!(["64511:100"]));
    let pa = ca.ok(json!({"request": "peers"})).await;
    assert_eq!(pa["peers"][0]["prefixes_sent"], 1);

    let mut cb = Client::connect(&bpath).await;
    let rr = received_until(&mut cb, "the route", |rr| {
        rr["received"][0]["routes"][0]["prefix"] == "203.0.113.10/32"
    })
    .await;
    assert_eq!(rr["received"][0]["peer"], "a");
    assert_eq!(rr["received"][0]["routes"][0]["prefix"], "203.0.113.10/32");
    let p = cb.ok(json!({"request": "peers"})).await;
    let pa = &p["peers"][0];
    assert_eq!(pa["state"], "Established");
    assert_eq!(pa["prefixes_received"], 1);
    assert_eq!(pa["negotiated"]["router_id"], "192.0.2.1");
    assert_eq!(pa["negotiated"]["families"], json!(["ipv4-unicast"]));
    assert!(pa["uptime_secs"].is_u64());
    assert_eq!(
        pa["remote"].as_str().unwrap().split(':').next(),
        Some("127.0.0.1")
    );

    ca.ok(json!({"request": "withdraw", "prefixes": ["203.0.113.10/32"]}))
        .await;
    let ev = watcher
        .event("the withdrawal at B", |e| {
            e["type"] == "update" && e["withdrawn"].as_array().is_some_and(|a| !a.is_empty())
        })
        .await;
    assert_eq!(ev["withdrawn"], json!(["203.0.113.10/32"]));
    received_until(&mut cb, "no route", |rr| {
        rr["received"][0]["routes"] == json!([])
    })
    .await;

    // A goes away: B's watcher sees the session leave Established, with the reason.
    drop(ca);
    aserver.shutdown().await;
    Arc::try_unwrap(a).unwrap().shutdown("maintenance").await;
    let ev = watcher
        .event("a down at B", |e| {
            e["type"] == "state" && e["from"] == "Established"
        })
        .await;
    assert!(ev["reason"].as_str().unwrap().len() > 3, "{ev}");

    drop((watcher, cb));
    bserver.shutdown().await;
    Arc::try_unwrap(b).unwrap().shutdown("done").await;
}

#[test]
fn api_section_and_keep_received_in_the_config() {
    let c = cfg(
        "[speaker]\nasn = 64511\nrouter_id = \"192.0.2.11\"\n[api]\nsocket = \"/run/speakerd/speakerd.sock\"\n[[peer]]\naddress = \"192.0.2.1\"\nasn = 64500\nkeep_received = true\n",
    );
    assert_eq!(
        c.api.socket.as_deref(),
        Some(Path::new("/run/speakerd/speakerd.sock"))
    );
    assert!(c.peers[0].keep_received);
    let c = cfg(
        "[speaker]\nasn = 64511\nrouter_id = \"192.0.2.11\"\n[[peer]]\naddress = \"192.0.2.1\"\nasn = 64500\n",
    );
    assert_eq!(c.api.socket, None, "off when absent");
    assert!(!c.peers[0].keep_received);
    let e = Config::parse(
        "[speaker]\nasn = 64511\nrouter_id = \"192.0.2.11\"\n[api]\nsocket = \"speakerd.sock\"\n",
        "t.toml",
    )
    .unwrap_err()
    .to_string();
    assert!(e.starts_with("t.toml:5:10: api socket"), "{e}");
    let e = Config::parse(
        "[speaker]\nasn = 64511\nrouter_id = \"192.0.2.11\"\n[api]\nsokcet = \"/run/x.sock\"\n",
        "t.toml",
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("unknown field"), "{e}");
}

/// A BFD provider whose single session the test drives.
#[derive(Default)]
struct FakeBfd {
    tx: std::sync::Mutex<Option<tokio::sync::watch::Sender<speakerd::bfd::BfdStatus>>>,
}

impl speakerd::bgp::BfdProvider for FakeBfd {
    fn add_session(
        &self,
        _spec: speakerd::bfd::BfdSessionSpec,
    ) -> std::io::Result<speakerd::bgp::BfdLink> {
        let (tx, rx) = tokio::sync::watch::channel(speakerd::bfd::BfdStatus::default());
        *self.tx.lock().unwrap() = Some(tx);
        Ok(speakerd::bgp::BfdLink {
            status: rx,
            guard: Box::new(()),
        })
    }
}

#[tokio::test]
async fn watch_streams_bfd_state_changes_and_peers_shows_bfd() {
    let dir = tempfile::tempdir().unwrap();
    let path = sock(&dir);
    let fake = Arc::new(FakeBfd::default());
    let mut o = speakerd::SpeakerOptions::default();
    o.bfd = Some(fake.clone());
    let c = cfg(
        "[speaker]\nasn = 64501\nrouter_id = \"192.0.2.2\"\n[bfd.profile.fast]\nreceive_interval = 100\n\
         [[peer]]\nname = \"tor1\"\naddress = \"127.0.0.1\"\nasn = 64500\npassive = true\nbfd = \"fast\"\n",
    );
    let speaker = Arc::new(Speaker::start_with(c, o).await.unwrap());
    let server = ApiServer::start(&path, speaker.clone()).unwrap();
    let mut w = Client::connect(&path).await;
    w.ok(json!({"request": "watch"})).await;
    let tx = fake.tx.lock().unwrap().clone().expect("a BFD session");
    tx.send_replace(speakerd::bfd::BfdStatus {
        state: bfd::State::Up,
        ..Default::default()
    });
    let ev = w.event("BFD Up", |e| e["type"] == "bfd").await;
    assert_eq!(ev["peer"], "tor1");
    assert_eq!(ev["to"], "Up");
    assert_eq!(ev["from"], "Down");
    let mut c = Client::connect(&path).await;
    let p = c.ok(json!({"request": "peers"})).await;
    assert_eq!(p["peers"][0]["bfd"], "Up");
    tx.send_replace(speakerd::bfd::BfdStatus {
        state: bfd::State::Down,
        down_count: 1,
        ..Default::default()
    });
    let ev = w.event("BFD Down", |e| e["type"] == "bfd").await;
    assert_eq!(
        (ev["from"].as_str(), ev["to"].as_str()),
        (Some("Up"), Some("Down"))
    );
    drop((w, c));
    server.shutdown().await;
    Arc::try_unwrap(speaker).unwrap().shutdown("done").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_applies_the_file_or_reports_its_errors() {
    let dir = tempfile::tempdir().unwrap();
    let path = sock(&dir);
    let file = dir.path().join("speakerd.toml");
    let base = "[speaker]\nasn = 64501\nrouter_id = \"192.0.2.2\"\n\
                [[peer]]\nname = \"a\"\naddress = \"127.0.0.1\"\nasn = 64500\npassive = true\n";
    std::fs::write(&file, base).unwrap();
    let speaker = Arc::new(Speaker::start(cfg(base)).await.unwrap());
    speaker.set_config_path(&file);
    let server = ApiServer::start(&path, speaker.clone()).unwrap();
    let mut c = Client::connect(&path).await;

    // A new peer and a new [[announce]].
    std::fs::write(
        &file,
        format!(
            "{base}[[peer]]\nname = \"b\"\naddress = \"127.0.0.3\"\nasn = 64502\npassive = true\n\
             [[announce]]\nprefix = \"203.0.113.100/32\"\n"
        ),
    )
    .unwrap();
    let r = c.ok(json!({"request": "reload"})).await;
    assert_eq!(r["added"], json!(["b"]), "{r}");
    assert_eq!(r["unchanged"], json!(["a"]), "{r}");
    assert_eq!(r["announce_changed"], 1, "{r}");
    assert!(r["message"].is_string());
    let routes = c.ok(json!({"request": "routes"})).await;
    assert_eq!(desired(&routes), ["203.0.113.100/32"]);

    // A broken file: the errors with their position, the running configuration kept.
    std::fs::write(
        &file,
        format!("{base}[[peer]]\naddress = \"nope\"\nasn = 64502\n"),
    )
    .unwrap();
    let (code, msg, _) = c.err(r#"{"request":"reload"}"#).await;
    assert_eq!(code, "invalid_config");
    assert!(msg.contains("speakerd.toml:10:11: address"), "{msg}");
    let routes = c.ok(json!({"request": "routes"})).await;
    assert_eq!(desired(&routes), ["203.0.113.100/32"]);

    drop(c);
    server.shutdown().await;
    Arc::try_unwrap(speaker).unwrap().shutdown("done").await;
}
