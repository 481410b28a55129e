//! Scheduling for the BFD timer thread: SCHED_FIFO real-time priority (no safe crate wraps
//! `sched_setscheduler`). The UDP side (received TTL, packet info, timerfd, epoll) goes
//! through `nix` and `socket2` in `crate::bfd::transport`.

use std::io;

/// Puts the calling thread in the SCHED_FIFO class with `priority` (1..=99). Fails with the
/// OS error (EPERM without CAP_SYS_NICE or an RLIMIT_RTPRIO allowance).
pub(crate) fn set_realtime_priority(priority: u8) -> io::Result<()> {
    let param = libc::sched_param {
        sched_priority: libc::c_int::from(priority),
    };
    // SAFETY: `param` is a valid, initialised sched_param that outlives the call; pid 0 means
    // the calling thread; the call reads `param` and touches no other memory.
    let rc = unsafe { libc::sched_setscheduler(0, libc::SCHED_FIFO, &param) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}
