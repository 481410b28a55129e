#!/bin/bash
# Capture golden BGP messages from real peers (FRR, BIRD 2, GoBGP 3, ExaBGP 4) in a
# network-namespace lab, then turn the pcap into bgp-wire/tests/golden/*.hex and
# fuzz/seeds/bgp_message/*.bin with pcap2golden.py.
#
# Usage (as root):  interop/tools/capture-golden.sh [OUTDIR]
#   OUTDIR keeps the pcap, configs and daemon logs (default: a fresh mktemp dir).
#   GOLDEN_DIR / SEED_DIR override where the extracted files go (default: the repo's).
#   CAPTURE_ONLY=1 stops after writing the pcap.
#
# Topology: one bridge namespace (sw) joining four peer namespaces on one L2 segment.
#   frr   192.0.2.1  198.51.100.1  203.0.113.1  2001:db8::1   AS 64500
#   bird  192.0.2.2  198.51.100.2  203.0.113.2  2001:db8::2   AS 64501 (per-session local as)
#   gobgp 192.0.2.3  198.51.100.3  203.0.113.3  2001:db8::3   AS 4200000003
#   exa   192.0.2.4  198.51.100.4  203.0.113.4  2001:db8::4   AS 64504
# Sessions: 192.0.2.0/24 = eBGP, 198.51.100.0/24 = iBGP, 203.0.113.0/24 = wrong peer AS
# (OPEN errors), 2001:db8::/64 = eBGP over IPv6 on a shared link (link-local next hops).
# Everything (namespaces, daemons, tcpdump) is removed by the EXIT trap; every wait has a
# deadline.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
GOLDEN_DIR=${GOLDEN_DIR:-$REPO/bgp-wire/tests/golden}
SEED_DIR=${SEED_DIR:-$REPO/fuzz/seeds/bgp_message}
W=${1:-$(mktemp -d /tmp/capture-golden.XXXXXX)}
mkdir -p "$W"
P="gv$(( $$ % 100000 ))-"      # per-run namespace prefix
NODES="frr bird gobgp exa"
NSS="sw $NODES"

[ "$(id -u)" = 0 ] || { echo "capture-golden: must run as root" >&2; exit 2; }
for b in ip tcpdump /usr/lib/frr/zebra /usr/lib/frr/bgpd vtysh bird birdc gobgpd gobgp exabgp python3; do
    command -v "$b" >/dev/null || { echo "capture-golden: missing $b" >&2; exit 2; }
done

log() { echo "[$(date +%T)] $*" >&2; }
# Sleep in the background and wait: a signal then runs the EXIT trap at once.
nap() { sleep "$1" & wait $!; }

cleanup() {
    set +e
    for n in $NSS; do
        ns="$P$n"
        ip netns list 2>/dev/null | grep -q "^$ns\b" || continue
        pids=$(ip netns pids "$ns" 2>/dev/null)
        # SIGCONT first: some daemons are deliberately stopped (hold timer test).
        [ -n "$pids" ] && kill -CONT $pids 2>/dev/null && kill -TERM $pids 2>/dev/null
    done
    sleep 1
    for n in $NSS; do
        ns="$P$n"
        pids=$(ip netns pids "$ns" 2>/dev/null)
        [ -n "$pids" ] && kill -KILL $pids 2>/dev/null
        ip netns del "$ns" 2>/dev/null
    done
    return 0
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# wait_for DEADLINE_SECONDS WHAT CMD...: poll CMD until it succeeds or the deadline passes.
wait_for() {
    local deadline=$(( $(date +%s) + $1 )); local what=$2; shift 2
    while ! "$@" >/dev/null 2>&1; do
        if [ "$(date +%s)" -ge "$deadline" ]; then log "timeout waiting for: $what"; return 1; fi
        sleep 0.3
    done
    log "ok: $what"
}

# ---------------------------------------------------------------- namespaces and links
ip netns add "${P}sw"
ip -n "${P}sw" link add br0 type bridge
ip -n "${P}sw" link set br0 up
ip -n "${P}sw" link set lo up
i=0
for n in $NODES; do
    i=$((i + 1))
    ns="$P$n"
    ip netns add "$ns"
    ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0
    ip -n "$ns" link set lo up
    # Fixed MACs (RFC 7042 documentation range) keep the link-local next hops, and so the
    # golden files, identical from run to run.
    ip -n "$ns" link add eth0 address "00:00:5e:00:53:0$i" type veth \
        peer name "p$n" address "00:00:5e:00:53:1$i" netns "${P}sw"
    ip -n "${P}sw" link set "p$n" master br0 up
    ip -n "$ns" addr add "192.0.2.$i/24" dev eth0
    ip -n "$ns" addr add "198.51.100.$i/24" dev eth0
    ip -n "$ns" addr add "203.0.113.$i/24" dev eth0
    ip -n "$ns" addr add "2001:db8::$i/64" dev eth0 nodad
    ip -n "$ns" link set eth0 up
done
for n in $NODES; do
    wait_for 10 "$n link-local address" sh -c "ip -n $P$n -6 addr show dev eth0 scope link | grep -q fe80"
done

# Capture every frame entering the bridge from a peer (each frame once).
ip netns exec "${P}sw" tcpdump -i any -Q in -s 0 -U -w "$W/capture.pcap" 'tcp port 179' \
    >"$W/tcpdump.log" 2>&1 &
TCPDUMP=$!
wait_for 10 "tcpdump listening" grep -q "listening on" "$W/tcpdump.log"

# ---------------------------------------------------------------- FRR (zebra + bgpd)
F="$W/frr"; mkdir -p "$F/run" "$F/etc"
cat >"$F/etc/zebra.conf" <<EOF
hostname frr-lab
log file $F/zebra.log
EOF
cat >"$F/etc/bgpd.conf" <<EOF
hostname frr-lab
log file $F/bgpd.log
!
route-map EBGP-OUT permit 10
 set community 64500:100 64500:200
 set large-community 64500:1:2
 set extcommunity rt 64500:300
 set metric 50
 set as-path prepend 64510 64511
!
route-map IBGP-OUT permit 10
 set community 64500:101
 set large-community 64500:1:3
 set extcommunity soo 64500:301
 set metric 51
 set local-preference 250
!
router bgp 64500
 bgp router-id 192.0.2.1
 no bgp default ipv4-unicast
 no bgp ebgp-requires-policy
 no bgp network import-check
 bgp graceful-restart
 timers bgp 1 3
 neighbor 192.0.2.2 remote-as 64501
 neighbor 192.0.2.2 timers connect 1
 neighbor 192.0.2.2 local-role provider
 neighbor 2001:db8::2 remote-as 64501
 neighbor 2001:db8::2 timers connect 1
 neighbor 2001:db8::2 capability extended-nexthop
 neighbor 198.51.100.2 remote-as 64500
 neighbor 198.51.100.2 update-source 198.51.100.1
 neighbor 198.51.100.2 timers connect 1
 neighbor 192.0.2.3 remote-as 4200000003
 neighbor 192.0.2.3 timers connect 1
 neighbor 192.0.2.4 remote-as 64504
 neighbor 192.0.2.4 timers connect 1
 neighbor 203.0.113.2 remote-as 64999
 neighbor 203.0.113.2 update-source 203.0.113.1
 neighbor 203.0.113.2 timers connect 1
 neighbor 203.0.113.2 extended-optional-parameters
 neighbor 203.0.113.3 remote-as 4200000003
 neighbor 203.0.113.3 update-source 203.0.113.1
 neighbor 203.0.113.3 timers connect 1
 neighbor 203.0.113.3 capability dynamic
 neighbor 203.0.113.4 remote-as 64504
 neighbor 203.0.113.4 update-source 203.0.113.1
 neighbor 203.0.113.4 timers connect 1
 !
 address-family ipv4 unicast
  network 203.0.113.64/26
  network 203.0.113.128/27
  neighbor 192.0.2.2 activate
  neighbor 192.0.2.2 addpath-tx-all-paths
  neighbor 192.0.2.2 route-map EBGP-OUT out
  neighbor 2001:db8::2 activate
  neighbor 2001:db8::2 route-map EBGP-OUT out
  neighbor 198.51.100.2 activate
  neighbor 198.51.100.2 route-map IBGP-OUT out
  neighbor 192.0.2.3 activate
  neighbor 192.0.2.3 addpath-tx-all-paths
  neighbor 192.0.2.3 route-map EBGP-OUT out
  neighbor 192.0.2.4 activate
  neighbor 203.0.113.2 activate
  neighbor 203.0.113.3 activate
  neighbor 203.0.113.4 activate
 exit-address-family
 !
 address-family ipv6 unicast
  network 2001:db8:100::/48
  network 2001:db8:101::/48
  neighbor 2001:db8::2 activate
  neighbor 2001:db8::2 addpath-tx-all-paths
  neighbor 2001:db8::2 route-map EBGP-OUT out
  neighbor 192.0.2.3 activate
  neighbor 192.0.2.3 route-map EBGP-OUT out
  neighbor 192.0.2.4 activate
 exit-address-family
!
EOF
chown -R frr:frr "$F"
FX=(-d -u frr -g frr -P 0 --vty_socket "$F/run" -z "$F/run/zserv.api")
ip netns exec "${P}frr" /usr/lib/frr/zebra "${FX[@]}" -i "$F/run/zebra.pid" -f "$F/etc/zebra.conf"
wait_for 10 "zebra socket" test -S "$F/run/zserv.api"
ip netns exec "${P}frr" /usr/lib/frr/bgpd "${FX[@]}" -i "$F/run/bgpd.pid" -f "$F/etc/bgpd.conf"
wait_for 10 "bgpd vty" test -S "$F/run/bgpd.vty"
vty() { vtysh --vty_socket "$F/run" "$@"; }
vtyconf() {
    local args=(-c "configure terminal" -c "router bgp 64500")
    local c; for c in "$@"; do args+=(-c "$c"); done
    vty "${args[@]}"
}

# ---------------------------------------------------------------- BIRD 2
B="$W/bird"; mkdir -p "$B"
cat >"$B/bird.conf" <<EOF
log "$B/bird.log" all;
router id 192.0.2.2;
protocol device { }
protocol static s4 { ipv4; route 203.0.113.0/27 blackhole; route 203.0.113.32/27 blackhole; }
protocol static s6 { ipv6; route 2001:db8:200::/48 blackhole; route 2001:db8:201::/48 blackhole; }
filter ebgp_out {
  bgp_community.add((64501,100)); bgp_community.add((64501,200));
  bgp_large_community.add((64501,1,2));
  bgp_ext_community.add((rt,64501,300));
  bgp_med = 60;
  bgp_path.prepend(64520); bgp_path.prepend(64521);
  accept;
}
filter ibgp_out {
  bgp_community.add((64501,101));
  bgp_large_community.add((64501,1,3));
  bgp_ext_community.add((ro,64501,301));
  bgp_med = 61;
  bgp_local_pref = 300;
  accept;
}
template bgp lab {
  connect retry time 1; connect delay time 1; error wait time 1, 5;
  graceful restart on; enable extended messages on;
}
protocol bgp frr4 from lab {
  local 192.0.2.2 as 64501; neighbor 192.0.2.1 as 64500;
  local role customer;
  ipv4 { import all; export filter ebgp_out; add paths on; };
  ipv6 { import all; export filter ebgp_out; add paths on; next hop address 2001:db8::2; };
}
protocol bgp frr6 from lab {
  local 2001:db8::2 as 64501; neighbor 2001:db8::1 as 64500; direct;
  ipv6 { import all; export filter ebgp_out; add paths on; };
  ipv4 { import all; export filter ebgp_out; extended next hop on; };
}
protocol bgp frri from lab {
  local 198.51.100.2 as 64500; neighbor 198.51.100.1 as 64500;
  ipv4 { import all; export filter ibgp_out; next hop self; };
}
protocol bgp gobgpi from lab {
  local 198.51.100.2 as 4200000003; neighbor 198.51.100.3 as 4200000003;
  ipv4 { import all; export filter ibgp_out; next hop self; add paths on; };
}
protocol bgp exai from lab {
  local 198.51.100.2 as 64504; neighbor 198.51.100.4 as 64504;
  ipv4 { import all; export filter ibgp_out; next hop self; add paths on; };
  ipv6 { import all; export filter ibgp_out; next hop address 2001:db8::2; add paths on; };
}
protocol bgp frrbad from lab {
  local 203.0.113.2 as 64501; neighbor 203.0.113.1 as 64998;
  ipv4 { import all; export none; };
}
EOF
bird -p -c "$B/bird.conf"
ip netns exec "${P}bird" bird -c "$B/bird.conf" -s "$B/bird.ctl" -P "$B/bird.pid"
birdc_() { birdc -s "$B/bird.ctl" "$@"; }
wait_for 10 "bird control socket" test -S "$B/bird.ctl"

# ---------------------------------------------------------------- GoBGP
G="$W/gobgp"; mkdir -p "$G"
gobgp_afis() { # $1 = add-path yes/no; families ipv4 + ipv6
    for fam in ipv4-unicast ipv6-unicast; do
        cat <<EOF
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "$fam"
    [neighbors.afi-safis.mp-graceful-restart.config]
      enabled = true
EOF
        if [ "$1" = yes ]; then cat <<EOF
    [neighbors.afi-safis.add-paths.config]
      receive = true
      send-max = 4
EOF
        fi
    done
}
gobgp_neighbor() { # addr peer-as local-addr add-path
    cat <<EOF
[[neighbors]]
  [neighbors.config]
    neighbor-address = "$1"
    peer-as = $2
  [neighbors.transport.config]
    local-address = "$3"
  [neighbors.timers.config]
    connect-retry = 1
    hold-time = 9
    keepalive-interval = 3
  [neighbors.graceful-restart.config]
    enabled = true
    restart-time = 120
EOF
    gobgp_afis "$4"
}
{
    cat <<EOF
[global.config]
  as = 4200000003
  router-id = "192.0.2.3"
EOF
    gobgp_neighbor 192.0.2.1 64500 192.0.2.3 yes
    gobgp_neighbor 198.51.100.2 4200000003 198.51.100.3 yes
    gobgp_neighbor 203.0.113.1 64999 203.0.113.3 no
} >"$G/gobgpd.toml"
ip netns exec "${P}gobgp" gobgpd -f "$G/gobgpd.toml" --api-hosts 127.0.0.1:50051 --pprof-disable -p \
    >"$G/gobgpd.log" 2>&1 &
gob() { ip netns exec "${P}gobgp" gobgp "$@"; }
wait_for 15 "gobgp api" gob global
gob global rib add -a ipv4 203.0.113.160/27 origin igp nexthop 192.0.2.3 \
    aspath 64530,64531 med 70 local-pref 400 community 64503:100,64503:200 \
    large-community 4200000003:1:2 rt 64503:300
gob global rib add -a ipv4 203.0.113.192/27 nexthop 192.0.2.3 community 64503:101
gob global rib add -a ipv6 2001:db8:300::/48 nexthop 2001:db8::3 aspath 64532 med 71 \
    community 64503:102 large-community 4200000003:1:3
gob global rib add -a ipv6 2001:db8:301::/48 nexthop 2001:db8::3

# ---------------------------------------------------------------- ExaBGP
E="$W/exa"; mkdir -p "$E"
cat >"$E/announce.sh" <<EOF
#!/bin/sh
# ExaBGP API process: announce at start, withdraw when the capture script says so.
echo "neighbor 192.0.2.1 announce route 203.0.113.224/28 next-hop self med 80 community [64504:100 64504:200] large-community [64504:1:2] extended-community [target:64504:300] as-path [64504 64540 64541]"
echo "neighbor 192.0.2.1 announce route 2001:db8:400::/48 next-hop 2001:db8::4 med 81 community [64504:101] as-path [64504 64542]"
echo "neighbor 198.51.100.2 announce route 203.0.113.240/28 path-information 0.0.0.7 next-hop self local-preference 500 med 82 community [64504:102] large-community [64504:1:3] extended-community [origin:64504:301] as-path [64543 64544]"
echo "neighbor 198.51.100.2 announce route 2001:db8:401::/48 path-information 0.0.0.9 next-hop 2001:db8::4 local-preference 501 community [64504:103]"
n=0
while [ ! -e "$E/withdraw" ] && [ \$n -lt 600 ]; do sleep 0.2; n=\$((n + 1)); done
echo "neighbor 192.0.2.1 withdraw route 203.0.113.224/28 next-hop self"
echo "neighbor 192.0.2.1 withdraw route 2001:db8:400::/48 next-hop 2001:db8::4"
echo "neighbor 198.51.100.2 withdraw route 203.0.113.240/28 path-information 0.0.0.7 next-hop self"
echo "neighbor 198.51.100.2 withdraw route 2001:db8:401::/48 path-information 0.0.0.9 next-hop 2001:db8::4"
sleep 120
EOF
chmod +x "$E/announce.sh"
cat >"$E/exabgp.conf" <<EOF
process announce {
  run $E/announce.sh;
  encoder text;
}
neighbor 192.0.2.1 {
  router-id 192.0.2.4;
  local-address 192.0.2.4;
  local-as 64504;
  peer-as 64500;
  hold-time 3;
  capability { asn4 disable; route-refresh; graceful-restart 120; }
  family { ipv4 unicast; ipv6 unicast; }
  api { processes [ announce ]; }
}
neighbor 198.51.100.2 {
  router-id 192.0.2.4;
  local-address 198.51.100.4;
  local-as 64504;
  peer-as 64504;
  hold-time 3;
  capability { add-path send/receive; route-refresh; graceful-restart 120; extended-message enable; nexthop enable; }
  nexthop { ipv4 unicast ipv6; }
  family { ipv4 unicast; ipv6 unicast; }
  api { processes [ announce ]; }
}
neighbor 203.0.113.1 {
  router-id 192.0.2.4;
  local-address 203.0.113.4;
  local-as 64504;
  peer-as 64999;
  hold-time 3;
  family { ipv4 unicast; }
}
EOF
env exabgp.daemon.user=root exabgp.daemon.drop=false exabgp.api.cli=false \
    exabgp.log.destination=stdout exabgp.log.level=INFO \
    ip netns exec "${P}exa" exabgp "$E/exabgp.conf" >"$E/exabgp.log" 2>&1 &

# ---------------------------------------------------------------- sessions up
frr_established() { # neighbor
    vty -c "show bgp neighbors $1 json" | grep -q '"bgpState":"Established"'
}
bird_established() { birdc_ show protocols "$1" | grep -q Established; }
for nb in 192.0.2.2 2001:db8::2 198.51.100.2 192.0.2.3 192.0.2.4; do
    wait_for 40 "FRR session $nb Established" frr_established "$nb" || true
done
for p in gobgpi exai; do wait_for 20 "BIRD $p Established" bird_established "$p" || true; done
nap 4   # initial UPDATEs and End-of-RIB markers
log "sessions: $(vty -c 'show bgp summary' | grep -E '^[0-9a-f:.]+ ' | awk '{print $1, $10}' | tr '\n' ' ')"

# ---------------------------------------------------------------- withdrawals
log "withdrawals"
vtyconf "address-family ipv4 unicast" "no network 203.0.113.128/27" "exit-address-family" \
    "address-family ipv6 unicast" "no network 2001:db8:101::/48"
birdc_ disable s4 >/dev/null; birdc_ disable s6 >/dev/null
gob global rib del -a ipv4 203.0.113.192/27 || true
gob global rib del -a ipv6 2001:db8:301::/48 || true
touch "$E/withdraw"
nap 4

# ---------------------------------------------------------------- route refresh
log "route refresh"
vty -c "clear bgp ipv4 unicast 192.0.2.2 soft in" -c "clear bgp ipv6 unicast 2001:db8::2 soft in" \
    -c "clear bgp ipv4 unicast 192.0.2.3 soft in" -c "clear bgp ipv4 unicast 192.0.2.4 soft in" || true
birdc_ reload in frri >/dev/null || true
birdc_ reload in exai >/dev/null || true
gob neighbor 192.0.2.1 softresetin -a ipv4 || true
nap 3

# ---------------------------------------------------------------- resets and shutdowns
log "administrative reset"
vty -c "clear bgp 192.0.2.2" || true
birdc_ restart frri >/dev/null || true
gob neighbor 192.0.2.1 reset || true
nap 3
log "administrative shutdown with messages"
vtyconf "neighbor 192.0.2.4 shutdown message lab: FRR maintenance, back soon" || true
birdc_ disable frr6 '"lab: BIRD maintenance"' >/dev/null || true
# `disable` drops the reason in GoBGP 3.10; the deprecated `shutdown` sends it (RFC 9003).
gob neighbor 198.51.100.2 shutdown --reason "lab: GoBGP maintenance" || true
nap 3

# ---------------------------------------------------------------- hold timer expiry
log "hold timer: stopping ExaBGP"
EXAPIDS=$(ip netns pids "${P}exa")
kill -STOP $EXAPIDS
nap 6
log "hold timer: stopping FRR bgpd"  # BIRD's frr4/frri sessions expire
BGPD=$(cat "$F/run/bgpd.pid")
kill -STOP "$BGPD"
nap 12   # BIRD hold 3 s on frr4/frri; GoBGP has none left with FRR; generous margin
kill -CONT "$BGPD" $EXAPIDS
log "ExaBGP: wait for its iBGP session with BIRD, then terminate it"
# (ExaBGP 4.2.21 was seen to close without a NOTIFICATION here; kept to show it if a later
# version sends a Cease.)
wait_for 20 "BIRD exai Established again" bird_established exai || true
kill -TERM $EXAPIDS 2>/dev/null || true
nap 2

kill -INT "$TCPDUMP" 2>/dev/null || true
for _ in $(seq 1 20); do kill -0 "$TCPDUMP" 2>/dev/null || break; sleep 0.2; done
cp "$F"/*.log "$B"/bird.log "$G"/gobgpd.log "$E"/exabgp.log "$W/" 2>/dev/null || true
log "pcap: $W/capture.pcap ($(stat -c %s "$W/capture.pcap") bytes)"
[ -n "${CAPTURE_ONLY:-}" ] && exit 0

VERSIONS="frr=FRR $(/usr/lib/frr/bgpd --version | awk 'NR==1{print $3}') bgpd"
VERSIONS="$VERSIONS;bird=BIRD $(bird --version 2>&1 | awk '{print $3}')"
VERSIONS="$VERSIONS;gobgp=GoBGP $(gobgpd --version | awk '{print $3}')"
VERSIONS="$VERSIONS;exa=ExaBGP $(exabgp --version 2>&1 | awk '/ExaBGP/{print $3}')"
python3 "$HERE/pcap2golden.py" --pcap "$W/capture.pcap" --golden "$GOLDEN_DIR" --seeds "$SEED_DIR" \
    --versions "$VERSIONS" --date "$(date -u +%F)"
