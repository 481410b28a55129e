//! Network-namespace lab harness for interop tests (needs root and the Debian peer packages).
