//! The timer thread: epoll over the receiving sockets, a timerfd and the command eventfd,
//! feeding a [`Scheduler`] with the real clock.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr, SocketAddrV6, UdpSocket};
use std::os::fd::AsFd;
use std::sync::{Arc, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags, EpollTimeout};
use nix::sys::time::TimeSpec;
use nix::sys::timerfd::{ClockId, Expiration, TimerFd, TimerFlags, TimerSetTimeFlags};

use super::transport::{self, RxSocket};
use super::{BfdRuntimeOptions, Command, Scheduler, SessionId, Shared};

const TOKEN_TIMER: u64 = 0;
const TOKEN_WAKE: u64 = 1;
const TOKEN_RX0: u64 = 2;
const MAX_LATENESS_SAMPLES: usize = 4_000_000;

fn nix_err(e: nix::Error) -> io::Error {
    io::Error::from_raw_os_error(e as i32)
}

struct TxEntry {
    socket: UdpSocket,
    scope_id: u32,
}

pub(crate) fn spawn(
    opts: BfdRuntimeOptions,
    seed: u64,
    commands: mpsc::Receiver<Command>,
    shared: Arc<Shared>,
) -> io::Result<JoinHandle<()>> {
    let mut rx_sockets = Vec::new();
    if let Some(a) = opts.bind_v4 {
        for (port, multihop) in [(opts.single_hop_port, false), (opts.multihop_port, true)] {
            rx_sockets.push(RxSocket::bind(
                SocketAddr::new(IpAddr::V4(a), port),
                multihop,
            )?);
        }
    }
    if let Some(a) = opts.bind_v6 {
        for (port, multihop) in [(opts.single_hop_port, false), (opts.multihop_port, true)] {
            match RxSocket::bind(SocketAddr::new(IpAddr::V6(a), port), multihop) {
                Ok(s) => rx_sockets.push(s),
                Err(e)
                    if e.raw_os_error() == Some(libc::EAFNOSUPPORT)
                        || e.raw_os_error() == Some(libc::EADDRNOTAVAIL) =>
                {
                    tracing::warn!(error = %e, "BFD: IPv6 unavailable, running IPv4 only");
                    break;
                }
                Err(e) => return Err(e),
            }
        }
    }
    let timer = TimerFd::new(
        ClockId::CLOCK_MONOTONIC,
        TimerFlags::TFD_NONBLOCK | TimerFlags::TFD_CLOEXEC,
    )
    .map_err(nix_err)?;
    let epoll = Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC).map_err(nix_err)?;
    epoll
        .add(
            timer.as_fd(),
            EpollEvent::new(EpollFlags::EPOLLIN, TOKEN_TIMER),
        )
        .map_err(nix_err)?;
    epoll
        .add(
            shared.wake.as_fd(),
            EpollEvent::new(EpollFlags::EPOLLIN, TOKEN_WAKE),
        )
        .map_err(nix_err)?;
    for (i, s) in rx_sockets.iter().enumerate() {
        epoll
            .add(
                s.socket.as_fd(),
                EpollEvent::new(EpollFlags::EPOLLIN, TOKEN_RX0 + i as u64),
            )
            .map_err(nix_err)?;
    }
    let mut thread = Thread {
        sched: Scheduler::new(seed),
        commands,
        shared,
        epoll,
        timer,
        rx_sockets,
        tx: HashMap::new(),
        peer_single_hop_port: opts.peer_single_hop_port,
        peer_multihop_port: opts.peer_multihop_port,
        record_lateness: opts.record_lateness,
        lateness: Vec::new(),
        send_errors: 0,
        realtime: false,
        timer_slack: false,
        armed: None,
    };
    let rt_prio = opts.realtime_priority;
    let cpu = opts.cpu;
    std::thread::Builder::new()
        .name("bfd-timer".into())
        .spawn(move || {
            thread.setup(rt_prio, cpu);
            thread.run();
        })
}

struct Thread {
    sched: Scheduler,
    commands: mpsc::Receiver<Command>,
    shared: Arc<Shared>,
    epoll: Epoll,
    timer: TimerFd,
    rx_sockets: Vec<RxSocket>,
    tx: HashMap<SessionId, TxEntry>,
    peer_single_hop_port: u16,
    peer_multihop_port: u16,
    record_lateness: bool,
    lateness: Vec<u32>,
    send_errors: u64,
    realtime: bool,
    timer_slack: bool,
    armed: Option<Instant>,
}

impl Thread {
    fn setup(&mut self, rt_prio: Option<u8>, cpu: Option<usize>) {
        if let Some(cpu) = cpu {
            let mut set = nix::sched::CpuSet::new();
            let r = set
                .set(cpu)
                .and_then(|()| nix::sched::sched_setaffinity(nix::unistd::Pid::from_raw(0), &set));
            if let Err(e) = r {
                tracing::warn!(cpu, error = %e, "BFD: cannot pin the timer thread");
            }
        }
        // DESIGN.md "Millisecond timers": 1 ns timer slack and SCHED_FIFO keep 10 ms timers
        // on time under load.
        match nix::sys::prctl::set_timerslack(1) {
            Ok(()) => self.timer_slack = true,
            Err(e) => tracing::warn!(error = %e, "BFD: cannot set 1 ns timer slack"),
        }
        if let Some(p) = rt_prio {
            match crate::sys::bfd::set_realtime_priority(p) {
                Ok(()) => self.realtime = true,
                Err(e) => tracing::warn!(
                    priority = p,
                    error = %e,
                    "BFD: no SCHED_FIFO priority for the timer thread; timers may run late under load"
                ),
            }
        }
    }

    fn run(&mut self) {
        let mut events = [EpollEvent::empty(); 16];
        let mut buf = [0u8; 512];
        let mut cmsg = transport::cmsg_buffer();
        let mut last_stats = Instant::now()
            .checked_sub(Duration::from_secs(1))
            .unwrap_or_else(Instant::now);
        loop {
            let now = Instant::now();
            if self.handle_commands(now) {
                break;
            }
            self.sched.on_timer(Instant::now());
            self.flush();
            let now = Instant::now();
            let cpu = now.duration_since(last_stats) >= Duration::from_millis(100);
            if cpu {
                last_stats = now;
            }
            self.publish_stats(cpu);
            self.arm(now);
            let n = match self.epoll.wait(&mut events, EpollTimeout::NONE) {
                Ok(n) => n,
                Err(nix::Error::EINTR) => continue,
                Err(e) => {
                    tracing::error!(error = %e, "BFD: epoll_wait failed; the timer thread stops");
                    break;
                }
            };
            for ev in &events[..n] {
                match ev.data() {
                    TOKEN_TIMER => {
                        let _ = self.timer.wait();
                        self.armed = None;
                    }
                    TOKEN_WAKE => {
                        let _ = self.shared.wake.read();
                    }
                    t => {
                        let i = (t - TOKEN_RX0) as usize;
                        self.receive(i, &mut buf, &mut cmsg);
                    }
                }
            }
        }
        // Shutdown: AdminDown to every peer (one packet each), then stop.
        self.sched.shutdown(Instant::now());
        self.flush();
        self.publish_stats(true);
    }

    /// Returns true on Shutdown (or when every sender is gone).
    fn handle_commands(&mut self, now: Instant) -> bool {
        loop {
            match self.commands.try_recv() {
                Ok(Command::Add {
                    params,
                    socket,
                    reply,
                }) => {
                    let scope_id = match params.peer {
                        IpAddr::V6(a) if a.is_unicast_link_local() => params.ifindex.unwrap_or(0),
                        _ => 0,
                    };
                    let r = self.sched.add(now, params);
                    if let Ok((id, _)) = &r {
                        self.tx.insert(*id, TxEntry { socket, scope_id });
                    }
                    let _ = reply.send(r);
                }
                Ok(Command::Remove(id)) => self.sched.remove(now, id),
                Ok(Command::Shutdown) => return true,
                Err(mpsc::TryRecvError::Empty) => return false,
                Err(mpsc::TryRecvError::Disconnected) => return true,
            }
        }
    }

    fn receive(&mut self, i: usize, buf: &mut [u8], cmsg: &mut [u8]) {
        if i >= self.rx_sockets.len() {
            return;
        }
        // Bounded per wakeup so timers are not starved by a flood.
        for _ in 0..256 {
            match self.rx_sockets[i].recv(buf, cmsg) {
                Ok(Some((len, rx))) => {
                    let now = Instant::now();
                    if let Err(e) = self.sched.on_packet(now, rx, &buf[..len]) {
                        tracing::trace!(from = %rx.from, reason = %e, "BFD: dropped packet");
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    tracing::debug!(error = %e, "BFD: recvmsg failed");
                    break;
                }
            }
            if self
                .sched
                .next_deadline()
                .is_some_and(|d| d <= Instant::now())
            {
                // Timers due: run them (and send) before reading more.
                self.sched.on_timer(Instant::now());
                self.flush();
            }
        }
        self.flush();
    }

    fn flush(&mut self) {
        while let Some(t) = self.sched.poll_transmit() {
            let Some(entry) = self.tx.get(&t.session) else {
                continue;
            };
            let port = if t.multihop {
                self.peer_multihop_port
            } else {
                self.peer_single_hop_port
            };
            let to = match t.to {
                IpAddr::V6(a) if entry.scope_id != 0 => {
                    SocketAddr::V6(SocketAddrV6::new(a, port, 0, entry.scope_id))
                }
                ip => SocketAddr::new(ip, port),
            };
            if self.record_lateness {
                if let Some(due) = t.due {
                    if self.lateness.len() < MAX_LATENESS_SAMPLES {
                        let late = Instant::now().saturating_duration_since(due);
                        self.lateness
                            .push(u32::try_from(late.as_micros()).unwrap_or(u32::MAX));
                    }
                }
            }
            if let Err(e) = entry.socket.send_to(&t.packet, to) {
                self.send_errors += 1;
                if self.send_errors.is_power_of_two() {
                    tracing::debug!(%to, error = %e, count = self.send_errors, "BFD: send failed");
                }
            }
        }
        while let Some(id) = self.sched.poll_removed() {
            self.tx.remove(&id);
        }
    }

    fn arm(&mut self, now: Instant) {
        let next = self.sched.next_deadline();
        if next == self.armed {
            return;
        }
        self.armed = next;
        let r = match next {
            None => self.timer.unset(),
            Some(d) => {
                // A zero it_value would disarm the timer: wait at least 1 ns.
                let wait = d
                    .saturating_duration_since(now)
                    .max(Duration::from_nanos(1));
                self.timer.set(
                    Expiration::OneShot(TimeSpec::from_duration(wait)),
                    TimerSetTimeFlags::empty(),
                )
            }
        };
        if let Err(e) = r {
            tracing::error!(error = %e, "BFD: cannot arm the timerfd");
        }
    }

    /// Counters always; the thread's CPU time (a system call) only when `cpu`.
    fn publish_stats(&mut self, cpu: bool) {
        let cpu = cpu.then(|| {
            nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_THREAD)
                .map(|u| {
                    let tv = |t: nix::sys::time::TimeVal| {
                        Duration::new(
                            u64::try_from(t.tv_sec()).unwrap_or(0),
                            u32::try_from(t.tv_usec()).unwrap_or(0) * 1000,
                        )
                    };
                    tv(u.user_time()) + tv(u.system_time())
                })
                .unwrap_or_default()
        });
        if let Ok(mut s) = self.shared.stats.lock() {
            s.counters = self.sched.counters();
            s.sessions = self.sched.len() as u64;
            s.send_errors = self.send_errors;
            if let Some(cpu) = cpu {
                s.thread_cpu = cpu;
            }
            s.realtime = self.realtime;
            s.timer_slack = self.timer_slack;
        }
        if self.record_lateness && !self.lateness.is_empty() && cpu.is_some() {
            if let Ok(mut l) = self.shared.lateness.lock() {
                if l.len() < MAX_LATENESS_SAMPLES {
                    l.append(&mut self.lateness);
                } else {
                    self.lateness.clear();
                }
            }
        }
    }
}
