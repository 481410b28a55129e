//! UDP socket options and scheduling for the BFD runtime: received TTL/hop limit, timerfd, SCHED_FIFO.
