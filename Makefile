# speakerd — entry points.
#
#   sudo make demo                 the ECMP + BFD failover demo (docs/DEMO.md): installs the
#                                  missing Debian packages, builds, runs, cleans up
#   sudo make demo ROUTER=bird     ... with a BIRD 2 router instead of FRR
#   sudo make demo NODES=bird      ... with BIRD on the nodes instead of speakerd
#   sudo make demo NODES=speakerd,bird   both, one after the other, compared side by side
#   sudo make ci-demo              the demo in CI mode (every step checked), for each
#                                  router in ROUTERS (default: frr bird)
#   make test                      every check and test (./scripts/test-all.sh)
#   make build                     release build of speakerd and the demo
#
# Under sudo, the build runs as the invoking user with their Rust toolchain (so target/
# stays theirs); the demo itself runs as root (network namespaces).

ROUTER ?= frr
NODES ?= speakerd
ROUTERS ?= frr bird
DEMO_ARGS ?=
TARGET ?= $(or $(CARGO_TARGET_DIR),$(CURDIR)/target)
DEMO := $(TARGET)/release/demo

ifneq ($(findstring speakerd,$(NODES)),)
BUILD_PKGS := -p speakerd --bin speakerd -p interop --bin demo
else
BUILD_PKGS := -p interop --bin demo
endif

# cargo, as the user who ran sudo when there is one with a toolchain, else as is.
define cargo
	@set -e; \
	uhome=""; \
	if [ -n "$$SUDO_USER" ] && [ "$$SUDO_USER" != root ]; then \
	  uhome=$$(getent passwd "$$SUDO_USER" | cut -d: -f6); \
	fi; \
	if [ -n "$$uhome" ] && [ -x "$$uhome/.cargo/bin/cargo" ]; then \
	  echo "+ cargo $(1)   (as $$SUDO_USER)"; \
	  sudo -u "$$SUDO_USER" -H env PATH="$$uhome/.cargo/bin:$$PATH" CARGO_TARGET_DIR="$(TARGET)" cargo $(1); \
	elif command -v cargo >/dev/null 2>&1; then \
	  echo "+ cargo $(1)"; \
	  CARGO_TARGET_DIR="$(TARGET)" cargo $(1); \
	else \
	  echo "cargo not found: install Rust first (https://rustup.rs), then run this again" >&2; \
	  exit 1; \
	fi
endef

.PHONY: demo ci-demo test build check-root

check-root:
	@if [ "$$(id -u)" != 0 ]; then \
	  echo "the demo needs root (network namespaces): sudo make $(MAKECMDGOALS)" >&2; exit 1; \
	fi

build:
	@if ! command -v cc >/dev/null 2>&1 && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "+ apt-get install gcc libc6-dev   (the linker Rust needs)"; \
	  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends gcc libc6-dev; \
	fi
	$(call cargo,build --release $(BUILD_PKGS))

demo: check-root build
	$(DEMO) --router $(ROUTER) --nodes $(NODES) $(DEMO_ARGS)

ci-demo: check-root build
	@set -e; for r in $(ROUTERS); do \
	  echo "+ $(DEMO) --ci --router $$r --nodes $(NODES) $(DEMO_ARGS)"; \
	  $(DEMO) --ci --router $$r --nodes $(NODES) $(DEMO_ARGS); \
	done

test:
	./scripts/test-all.sh
