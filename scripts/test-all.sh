#!/usr/bin/env bash
# Runs every check and every test speakerd has. This is the README's test command and what
# .ci/run calls. On a fresh Debian machine, run as root, it first installs what it needs
# (the peer daemons for interop/, tcpdump, cargo-fuzz); as a normal user it skips the
# interop tests that need root, saying so.
#
# Environment:
#   FUZZ_SECONDS   seconds each fuzz target runs (default 20; 0 skips fuzzing)
#   SPEAKERD_INTEROP=require   fail (rather than skip) when interop prerequisites are missing;
#                  set by .ci/run
set -euo pipefail
cd "$(dirname "$0")/.."
FUZZ_SECONDS=${FUZZ_SECONDS:-20}
step() { printf '\n==> %s\n' "$*"; }
started=$(date +%s)

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  need=()
  for p in frr frr-pythontools bird2 gobgpd exabgp tcpdump iproute2 curl; do
    dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
  done
  if ((${#need[@]})); then
    step "installing Debian packages: ${need[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  fi
fi

if [ "$FUZZ_SECONDS" != 0 ] && ! cargo fuzz --version >/dev/null 2>&1; then
  step "installing cargo-fuzz"
  cargo install cargo-fuzz --locked
fi

step "cargo fmt"
cargo fmt --all --check

step "cargo clippy"
cargo clippy --workspace --all-targets --all-features --locked -- -D warnings

step "cargo test"
cargo test --workspace --all-features --locked --exclude interop

# The interop tests start real daemons in network namespaces and measure failover times:
# one at a time, so they do not compete for the two cores with each other.
step "interop tests (real FRR, BIRD, GoBGP, ExaBGP peers; need root)"
cargo test -p interop --all-features --locked -- --test-threads=1

step "cargo doc"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --all-features --no-deps --locked

if [ "$FUZZ_SECONDS" != 0 ] && [ -d fuzz ]; then
  step "fuzz: clippy"
  (cd fuzz && RUSTC_BOOTSTRAP=1 cargo clippy --all-targets --locked -- -D warnings)
  for t in $(cd fuzz && cargo fuzz list); do
    step "fuzz: $t for ${FUZZ_SECONDS}s"
    mkdir -p "fuzz/corpus/$t"
    seeds=()
    [ -d "fuzz/seeds/$t" ] && seeds=("fuzz/seeds/$t")
    (cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run "$t" "corpus/$t" "${seeds[@]/#fuzz\//}" -- \
      -max_total_time="$FUZZ_SECONDS" -print_final_stats=1 2>&1 | tail -n 15)
  done
fi

step "all checks passed in $(( $(date +%s) - started )) s"
