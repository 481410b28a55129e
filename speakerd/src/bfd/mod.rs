//! BFD over UDP (RFC 5881 single hop, RFC 5883 multihop): transport and the timer-thread runtime around `bfd::Session`.
