//! BFD over UDP (RFC 5881 single hop, RFC 5883 multihop): transport and the timer-thread
//! runtime around `bfd::Session`.
//!
//! One dedicated thread drives every session ([`BfdRuntime`]): a deadline heap
//! ([`Scheduler`]), a `timerfd` for precise sleeps, epoll for the receiving sockets and a
//! wakeup `eventfd` for commands. It asks for SCHED_FIFO priority and 1 ns timer slack (see the
//! "Millisecond timers" decision in DESIGN.md) and logs once when it may not have them.
//! Each session publishes its [`BfdStatus`] through a `tokio::sync::watch` channel.
//!
//! ```no_run
//! use std::time::Duration;
//! use speakerd::bfd::{BfdProfile, BfdRuntime, BfdRuntimeOptions, BfdSessionSpec};
//!
//! let rt = BfdRuntime::start(BfdRuntimeOptions::default()).unwrap();
//! let handle = rt
//!     .add_session(BfdSessionSpec {
//!         peer: "192.0.2.1".parse().unwrap(),
//!         local: None,
//!         interface: None,
//!         multihop: false,
//!         profile: BfdProfile {
//!             receive_interval: Duration::from_millis(100),
//!             transmit_interval: Duration::from_millis(100),
//!             ..BfdProfile::default()
//!         },
//!     })
//!     .unwrap();
//! let status = handle.watch();
//! println!("{:?}", status.borrow().state);
//! drop(handle); // AdminDown to the peer, then the session is gone
//! rt.shutdown();
//! ```

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::ops::RangeInclusive;
use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;
use std::time::Duration;

use nix::sys::eventfd::{EfdFlags, EventFd};
use tokio::sync::watch;

mod runtime;
pub mod scheduler;
mod transport;

pub use scheduler::{
    AddError, BfdStatus, Counters, Dropped, Received, Scheduler, SessionId, SessionParams, Transmit,
};
pub use transport::{MULTIHOP_PORT, SEND_TTL, SINGLE_HOP_PORT, SOURCE_PORTS};

/// A named set of BFD timers (`[bfd.profile.NAME]` in the config).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BfdProfile {
    /// bfd.RequiredMinRxInterval (default 300 ms).
    pub receive_interval: Duration,
    /// bfd.DesiredMinTxInterval (default 300 ms).
    pub transmit_interval: Duration,
    /// bfd.DetectMult (default 3).
    pub detect_multiplier: u8,
    /// Passive role (RFC 5880 §6.1): wait for the peer's first packet.
    pub passive: bool,
    /// Multihop only: lowest TTL accepted (RFC 5883 §5; default 254, i.e. one router hop).
    pub minimum_ttl: u8,
}

impl Default for BfdProfile {
    fn default() -> Self {
        BfdProfile {
            receive_interval: Duration::from_millis(300),
            transmit_interval: Duration::from_millis(300),
            detect_multiplier: 3,
            passive: false,
            minimum_ttl: 254,
        }
    }
}

/// What [`BfdRuntime::add_session`] needs for one session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BfdSessionSpec {
    /// The peer's address.
    pub peer: IpAddr,
    /// Our source address; `None` lets routing choose (and accepts any destination).
    pub local: Option<IpAddr>,
    /// Bind the session to this interface (SO_BINDTODEVICE; packets from elsewhere dropped).
    pub interface: Option<String>,
    /// RFC 5883 multihop instead of RFC 5881 single hop.
    pub multihop: bool,
    /// Timers.
    pub profile: BfdProfile,
}

/// Options of a [`BfdRuntime`]. The defaults are the RFC ports on every address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BfdRuntimeOptions {
    /// IPv4 address the receiving sockets bind to; `None`: no IPv4.
    pub bind_v4: Option<Ipv4Addr>,
    /// IPv6 address the receiving sockets bind to; `None`: no IPv6. When IPv6 is not
    /// available on the host the runtime logs it and goes on with IPv4.
    pub bind_v6: Option<Ipv6Addr>,
    /// Port single-hop packets are received on (3784).
    pub single_hop_port: u16,
    /// Port multihop packets are received on (4784).
    pub multihop_port: u16,
    /// Port single-hop packets are sent to (3784; tests running two runtimes on one host
    /// cross these).
    pub peer_single_hop_port: u16,
    /// Port multihop packets are sent to (4784).
    pub peer_multihop_port: u16,
    /// Source ports of the sessions (49152..=65535).
    pub source_ports: RangeInclusive<u16>,
    /// SCHED_FIFO priority to ask for (default 50); `None`: keep the normal class.
    pub realtime_priority: Option<u8>,
    /// Pin the timer thread to this CPU.
    pub cpu: Option<usize>,
    /// Seed for discriminators and jitter; `None` (default): from the OS.
    pub seed: Option<u64>,
    /// Keep the lateness of every timer-driven transmission (for benchmarks; see
    /// [`BfdRuntime::take_lateness`]). Bounded to 4 million samples.
    pub record_lateness: bool,
}

impl Default for BfdRuntimeOptions {
    fn default() -> Self {
        BfdRuntimeOptions {
            bind_v4: Some(Ipv4Addr::UNSPECIFIED),
            bind_v6: Some(Ipv6Addr::UNSPECIFIED),
            single_hop_port: SINGLE_HOP_PORT,
            multihop_port: MULTIHOP_PORT,
            peer_single_hop_port: SINGLE_HOP_PORT,
            peer_multihop_port: MULTIHOP_PORT,
            source_ports: SOURCE_PORTS,
            realtime_priority: Some(50),
            cpu: None,
            seed: None,
            record_lateness: false,
        }
    }
}

/// Counters and resource use of a running [`BfdRuntime`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BfdRuntimeStats {
    /// The scheduler's packet and failure counters.
    pub counters: Counters,
    /// Sessions (including those still sending AdminDown after removal).
    pub sessions: u64,
    /// sendto failures.
    pub send_errors: u64,
    /// CPU time used by the timer thread so far (user + system; refreshed about every 100 ms).
    pub thread_cpu: Duration,
    /// Whether the thread got SCHED_FIFO.
    pub realtime: bool,
    /// Whether the thread got 1 ns timer slack.
    pub timer_slack: bool,
}

pub(crate) enum Command {
    Add {
        params: SessionParams,
        socket: std::net::UdpSocket,
        reply: mpsc::SyncSender<Result<(SessionId, watch::Receiver<BfdStatus>), AddError>>,
    },
    Remove(SessionId),
    Shutdown,
}

pub(crate) struct Shared {
    commands: Mutex<mpsc::Sender<Command>>,
    wake: EventFd,
    stats: Mutex<BfdRuntimeStats>,
    lateness: Mutex<Vec<u32>>,
    source_ports: RangeInclusive<u16>,
    rng: Mutex<::bfd::SplitMix64>,
}

impl Shared {
    fn send(&self, cmd: Command) -> io::Result<()> {
        self.commands
            .lock()
            .map_err(|_| io::Error::other("BFD runtime lock poisoned"))?
            .send(cmd)
            .map_err(|_| io::Error::other("BFD runtime thread has stopped"))?;
        self.wake
            .write(1)
            .map_err(|e| io::Error::from_raw_os_error(e as i32))?;
        Ok(())
    }
}

/// The BFD runtime: one dedicated timer thread driving every session.
pub struct BfdRuntime {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for BfdRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BfdRuntime").finish_non_exhaustive()
    }
}

impl BfdRuntime {
    /// Binds the receiving sockets and spawns the timer thread.
    pub fn start(opts: BfdRuntimeOptions) -> io::Result<BfdRuntime> {
        let seed = match opts.seed {
            Some(s) => s,
            None => {
                let mut b = [0u8; 8];
                getrandom::fill(&mut b).map_err(|e| io::Error::other(e.to_string()))?;
                u64::from_ne_bytes(b)
            }
        };
        let (tx, rx) = mpsc::channel();
        let wake = EventFd::from_flags(EfdFlags::EFD_NONBLOCK | EfdFlags::EFD_CLOEXEC)
            .map_err(|e| io::Error::from_raw_os_error(e as i32))?;
        let shared = Arc::new(Shared {
            commands: Mutex::new(tx),
            wake,
            stats: Mutex::new(BfdRuntimeStats::default()),
            lateness: Mutex::new(Vec::new()),
            source_ports: opts.source_ports.clone(),
            rng: Mutex::new(::bfd::SplitMix64::new(seed ^ 0x5eed_5eed_5eed_5eed)),
        });
        let thread = runtime::spawn(opts, seed, rx, shared.clone())?;
        Ok(BfdRuntime {
            shared,
            thread: Some(thread),
        })
    }

    /// Adds a session (it starts Down, and sends at once unless passive).
    pub fn add_session(&self, spec: BfdSessionSpec) -> io::Result<BfdSessionHandle> {
        let mut rng = self
            .shared
            .rng
            .lock()
            .map_err(|_| io::Error::other("BFD runtime lock poisoned"))?;
        let socket = transport::tx_socket(
            &transport::TxOptions {
                peer: spec.peer,
                local: spec.local,
                interface: spec.interface.clone(),
                source_ports: self.shared.source_ports.clone(),
            },
            || ::bfd::RandomSource::next_u32(&mut *rng),
        )?;
        drop(rng);
        let ifindex = spec
            .interface
            .as_deref()
            .map(transport::ifindex)
            .transpose()?;
        let params = SessionParams {
            peer: spec.peer,
            local: spec.local,
            ifindex,
            multihop: spec.multihop,
            profile: spec.profile,
        };
        let (reply, answer) = mpsc::sync_channel(1);
        self.shared.send(Command::Add {
            params,
            socket,
            reply,
        })?;
        let (id, rx) = answer
            .recv()
            .map_err(|_| io::Error::other("BFD runtime thread has stopped"))?
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        Ok(BfdSessionHandle {
            id,
            rx,
            shared: self.shared.clone(),
        })
    }

    /// Counters, sessions and the timer thread's CPU use.
    pub fn stats(&self) -> BfdRuntimeStats {
        self.shared.stats.lock().map(|s| *s).unwrap_or_default()
    }

    /// Takes the lateness samples recorded so far (microseconds after the scheduled instant at
    /// which each timer-driven packet was handed to the kernel), when
    /// [`BfdRuntimeOptions::record_lateness`] is on.
    pub fn take_lateness(&self) -> Vec<u32> {
        self.shared
            .lateness
            .lock()
            .map(|mut v| std::mem::take(&mut *v))
            .unwrap_or_default()
    }

    /// Sends AdminDown to every peer and joins the thread.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        if let Some(t) = self.thread.take() {
            let _ = self.shared.send(Command::Shutdown);
            let _ = t.join();
        }
    }
}

impl Drop for BfdRuntime {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A session of a [`BfdRuntime`]. Dropping it (or [`remove`](Self::remove)) sends AdminDown
/// and removes the session.
pub struct BfdSessionHandle {
    id: SessionId,
    rx: watch::Receiver<BfdStatus>,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for BfdSessionHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BfdSessionHandle")
            .field("id", &self.id)
            .field("status", &*self.rx.borrow())
            .finish()
    }
}

impl BfdSessionHandle {
    /// A receiver of the session's status (state, diagnostic, failure count).
    pub fn watch(&self) -> watch::Receiver<BfdStatus> {
        self.rx.clone()
    }

    /// The session's id in its runtime.
    pub fn id(&self) -> SessionId {
        self.id
    }

    /// Sends AdminDown to the peer and removes the session (same as dropping the handle).
    pub fn remove(self) {}
}

impl Drop for BfdSessionHandle {
    fn drop(&mut self) {
        let _ = self.shared.send(Command::Remove(self.id));
    }
}
