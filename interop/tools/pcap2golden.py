#!/usr/bin/env python3
"""Extract BGP messages from a pcap into golden hex files and fuzz seeds (stdlib only).

Reassembles each TCP direction of every BGP connection in sequence order, splits the byte
stream into BGP messages, derives each direction's decode context from the two OPENs of that
connection, classifies every message, de-duplicates identical messages and writes:

  GOLDEN/<name>.hex   '# produced by: ...', '# ctx: ...', then hex, 32 bytes a line
  SEEDS/<name>.bin    one context byte as fuzz/fuzz_targets/bgp_message.rs reads it (bit0
                      2-octet AS, bit1 addpath-ipv4, bit2 addpath-ipv6, bit3 extmsg)
                      followed by the raw message

Used by capture-golden.sh; see the address plan there for the peer names.
"""

import argparse
import ipaddress
import os
import struct
import sys

# Address plan of capture-golden.sh: last octet / last group = peer.
PEERS = {1: "frr", 2: "bird", 3: "gobgp", 4: "exa"}
PEER_FILE_NAMES = {"frr": "frr", "bird": "bird", "gobgp": "gobgp", "exa": "exabgp"}


def peer_of(addr):
    ip = ipaddress.ip_address(addr)
    last = int(ip) & 0xFF
    return PEERS.get(last, str(ip))


def session_kind(addr):
    ip = ipaddress.ip_address(addr)
    if ip.version == 6:
        return "v6"
    if ip in ipaddress.ip_network("198.51.100.0/24"):
        return "ibgp"
    if ip in ipaddress.ip_network("203.0.113.0/24"):
        return "badas"
    return "ebgp"


# ------------------------------------------------------------------------------ pcap
def read_pcap(path):
    with open(path, "rb") as f:
        data = f.read()
    magic = data[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        end = "<"
    elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        end = ">"
    else:
        raise SystemExit("not a classic pcap file (use tcpdump -w)")
    linktype = struct.unpack(end + "I", data[20:24])[0]
    off = 24
    while off + 16 <= len(data):
        _sec, _frac, incl, _orig = struct.unpack(end + "IIII", data[off:off + 16])
        off += 16
        yield linktype, data[off:off + incl]
        off += incl


def l3_of(linktype, frame):
    """Return (ethertype, l3 bytes) or None."""
    if linktype == 1:  # Ethernet
        et = struct.unpack(">H", frame[12:14])[0]
        off = 14
        while et == 0x8100:
            et = struct.unpack(">H", frame[off + 2:off + 4])[0]
            off += 4
        return et, frame[off:]
    if linktype == 113:  # Linux cooked v1
        return struct.unpack(">H", frame[14:16])[0], frame[16:]
    if linktype == 276:  # Linux cooked v2
        return struct.unpack(">H", frame[0:2])[0], frame[20:]
    if linktype in (12, 101):  # raw IP
        v = frame[0] >> 4
        return (0x0800 if v == 4 else 0x86DD), frame
    return None


def tcp_of(et, pkt):
    """Return (src, dst, tcp bytes) or None."""
    if et == 0x0800 and len(pkt) >= 20:
        ihl = (pkt[0] & 0x0F) * 4
        total = struct.unpack(">H", pkt[2:4])[0]
        if pkt[9] != 6:
            return None
        src = str(ipaddress.IPv4Address(pkt[12:16]))
        dst = str(ipaddress.IPv4Address(pkt[16:20]))
        return src, dst, pkt[ihl:total]
    if et == 0x86DD and len(pkt) >= 40:
        plen = struct.unpack(">H", pkt[4:6])[0]
        if pkt[6] != 6:  # no extension headers expected in the lab
            return None
        src = str(ipaddress.IPv6Address(pkt[8:24]))
        dst = str(ipaddress.IPv6Address(pkt[24:40]))
        return src, dst, pkt[40:40 + plen]
    return None


class Direction:
    def __init__(self):
        self.isn = None
        self.segs = {}

    def add(self, seq, flags, payload):
        if flags & 0x02:  # SYN
            self.isn = (seq + 1) & 0xFFFFFFFF
        elif payload:
            self.segs.setdefault(seq, payload)

    def stream(self):
        if not self.segs:
            return b""
        base = self.isn if self.isn is not None else min(self.segs)
        out = bytearray()
        for rel, payload in sorted(((s - base) & 0xFFFFFFFF, p) for s, p in self.segs.items()):
            if rel > len(out):
                print(f"warning: gap of {rel - len(out)} bytes, stream cut", file=sys.stderr)
                break
            out += payload[len(out) - rel:]
        return bytes(out)


def connections(pcap):
    """List of connections in order of first packet: dict with the two Directions."""
    conns = []
    current = {}
    for linktype, frame in read_pcap(pcap):
        l3 = l3_of(linktype, frame)
        if l3 is None:
            continue
        t = tcp_of(*l3)
        if t is None:
            continue
        src, dst, tcp = t
        if len(tcp) < 20:
            continue
        sport, dport, seq = struct.unpack(">HHI", tcp[0:8])
        flags = tcp[13]
        doff = (tcp[12] >> 4) * 4
        payload = tcp[doff:]
        a, b = (src, sport), (dst, dport)
        key = tuple(sorted([a, b]))
        conn = current.get(key)
        if conn is None or (flags & 0x12 == 0x02 and conn["dirs"].get(a) and conn["dirs"][a].segs):
            conn = {"dirs": {a: Direction(), b: Direction()}, "ends": (a, b)}
            current[key] = conn
            conns.append(conn)
        conn["dirs"][a].add(seq, flags, payload)
    return conns


# ------------------------------------------------------------------------------ BGP
MARKER = b"\xff" * 16


def split_messages(stream):
    msgs, off = [], 0
    while off + 19 <= len(stream):
        if stream[off:off + 16] != MARKER:
            print("warning: lost BGP framing", file=sys.stderr)
            break
        length = struct.unpack(">H", stream[off + 16:off + 18])[0]
        if length < 19 or off + length > len(stream):
            break
        msgs.append(stream[off:off + length])
        off += length
    return msgs


def parse_open(msg):
    """Return dict: my_as, caps {code: [values]}, addpath {(afi,safi): flags}."""
    body = msg[19:]
    my_as = struct.unpack(">H", body[1:3])[0]
    hold = struct.unpack(">H", body[3:5])[0]
    optlen = body[9]
    off, ext = 10, False
    if optlen == 255 and len(body) > 10 and body[10] == 255:  # RFC 9072
        optlen = struct.unpack(">H", body[11:13])[0]
        off, ext = 13, True
    params = body[off:off + optlen]
    caps = {}
    p = 0
    while p < len(params):
        ptype = params[p]
        if ext:
            plen = struct.unpack(">H", params[p + 1:p + 3])[0]
            pval = params[p + 3:p + 3 + plen]
            p += 3 + plen
        else:
            plen = params[p + 1]
            pval = params[p + 2:p + 2 + plen]
            p += 2 + plen
        if ptype != 2:
            continue
        q = 0
        while q + 2 <= len(pval):
            code, clen = pval[q], pval[q + 1]
            caps.setdefault(code, []).append(pval[q + 2:q + 2 + clen])
            q += 2 + clen
    addpath = {}
    for v in caps.get(69, []):
        for i in range(0, len(v) - 3, 4):
            afi, safi, sr = struct.unpack(">HBB", v[i:i + 4])
            addpath[(afi, safi)] = sr
    as4 = struct.unpack(">I", caps[65][0][:4])[0] if 65 in caps and len(caps[65][0]) >= 4 else None
    return {"my_as": my_as, "as4": as4, "hold": hold, "caps": caps, "addpath": addpath,
            "ext_params": ext}


def ctx_of(sender, receiver):
    """Decode context of messages sender -> receiver, from both OPENs."""
    toks = []
    if not (sender and receiver):
        return ["as4"]  # no OPEN exchange: only header-level messages, context irrelevant
    if 65 in sender["caps"] and 65 in receiver["caps"]:
        toks.append("as4")
    else:
        toks.append("as2")
    for (afi, tok) in ((1, "addpath-ipv4"), (2, "addpath-ipv6")):
        if sender and receiver and sender["addpath"].get((afi, 1), 0) & 2 \
                and receiver["addpath"].get((afi, 1), 0) & 1:
            toks.append(tok)
    if sender and receiver and 6 in sender["caps"] and 6 in receiver["caps"]:
        toks.append("extmsg")
    return toks


def ctx_byte(toks):
    # The bgp_message fuzz target's convention: bit 0 set means 2-octet AS.
    bits = {"as2": 1, "addpath-ipv4": 2, "addpath-ipv6": 4, "extmsg": 8}
    return sum(bits[t] for t in toks if t in bits)


def attrs_of(msg, ctx):
    """Return (withdrawn_len, [(type, flags, value)], nlri_len) of an UPDATE."""
    body = msg[19:]
    wl = struct.unpack(">H", body[0:2])[0]
    al = struct.unpack(">H", body[2 + wl:4 + wl])[0]
    a = body[4 + wl:4 + wl + al]
    nlri_len = len(body) - 4 - wl - al
    attrs, p = [], 0
    while p + 3 <= len(a):
        flags, typ = a[p], a[p + 1]
        if flags & 0x10:
            ln = struct.unpack(">H", a[p + 2:p + 4])[0]
            val = a[p + 4:p + 4 + ln]
            p += 4 + ln
        else:
            ln = a[p + 2]
            val = a[p + 3:p + 3 + ln]
            p += 3 + ln
        attrs.append((typ, flags, val))
    return wl, attrs, nlri_len


NOTIF = {
    (1, 0): "header", (2, 2): "open-bad-peer-as", (2, 3): "open-bad-bgp-id",
    (2, 7): "open-unsupported-capability", (2, 11): "open-role-mismatch",
    (2, 0): "open-error", (2, 6): "open-unacceptable-hold-time",
    (3, 0): "update-error", (4, 0): "hold-timer-expired", (5, 0): "fsm-error",
    (6, 1): "cease-max-prefixes", (6, 2): "cease-shutdown", (6, 3): "cease-peer-deconfigured",
    (6, 4): "cease-admin-reset", (6, 5): "cease-connection-rejected",
    (6, 6): "cease-config-change", (6, 7): "cease-collision", (6, 8): "cease-out-of-resources",
    (6, 9): "cease-hard-reset",
}


def classify(msg, ctx, label):
    """Name (without sender prefix) and a short description of a message."""
    typ = msg[18]
    if typ == 1:
        suffix = "-rfc9072" if parse_open(msg)["ext_params"] else ""
        return f"open-{label}{suffix}", "OPEN"
    if typ == 3:
        code, sub = msg[19], msg[20]
        n = NOTIF.get((code, sub), NOTIF.get((code, 0), f"code{code}-{sub}"))
        if (code, sub) == (6, 2) and len(msg) > 21:
            n += "-message"
        return f"notification-{n}", f"NOTIFICATION {code}/{sub}"
    if typ == 4:
        return "keepalive", "KEEPALIVE"
    if typ == 5:
        afi, sub, safi = struct.unpack(">HBB", msg[19:23])
        fam = {1: "ipv4", 2: "ipv6"}.get(afi, f"afi{afi}")
        kind = {0: "route-refresh", 1: "route-refresh-borr", 2: "route-refresh-eorr"}.get(
            sub, f"route-refresh-sub{sub}")
        return f"{kind}-{fam}", "ROUTE-REFRESH"
    if typ != 2:
        return f"type{typ}", f"type {typ}"
    wl, attrs, nlri_len = attrs_of(msg, ctx)
    types = {t for t, _, _ in attrs}
    if wl == 0 and not attrs and nlri_len == 0:
        return "update-eor-ipv4", "UPDATE End-of-RIB IPv4"
    if types == {15} and len(attrs[0][2]) == 3:
        afi = struct.unpack(">H", attrs[0][2][:2])[0]
        fam = {1: "ipv4", 2: "ipv6"}.get(afi, f"afi{afi}")
        return f"update-eor-{fam}", f"UPDATE End-of-RIB {fam}"
    parts = ["update", label]
    if 14 in types:
        mp = next(v for t, _, v in attrs if t == 14)
        afi = struct.unpack(">H", mp[:2])[0]
        nhl = mp[3]
        fam = {1: "ipv4", 2: "ipv6"}.get(afi, f"afi{afi}")
        parts.append(f"mpreach-{fam}")
        if afi == 1 and nhl in (16, 32):
            parts.append("v6nh")
        if nhl == 32:
            parts.append("ll")
    elif nlri_len:
        parts.append("ipv4")
    if 15 in types:
        mp = next(v for t, _, v in attrs if t == 15)
        afi = struct.unpack(">H", mp[:2])[0]
        parts.append("mpunreach-" + {1: "ipv4", 2: "ipv6"}.get(afi, f"afi{afi}"))
    if wl:
        parts.append("withdraw-ipv4")
    if 17 in types:
        parts.append("as4path")
    if "as2" in ctx and 17 not in types and 2 in types:
        parts.append("as2")
    if any(t.startswith("addpath") for t in ctx) and (
            ("addpath-ipv4" in ctx and (nlri_len or wl or 14 in types or 15 in types))
            or "addpath-ipv6" in ctx):
        fams = {"ipv4" if t == "addpath-ipv4" else "ipv6" for t in ctx if t.startswith("addpath")}
        used = ("ipv4" in fams and (nlri_len or wl or any(
            struct.unpack(">H", v[:2])[0] == 1 for t, _, v in attrs if t in (14, 15)))) or (
            "ipv6" in fams and any(
                struct.unpack(">H", v[:2])[0] == 2 for t, _, v in attrs if t in (14, 15)))
        if used:
            parts.append("addpath")
    desc = "UPDATE attrs " + ",".join(str(t) for t, _, _ in attrs)
    return "-".join(parts), desc


ATTR_NAMES = {1: "ORIGIN", 2: "AS_PATH", 3: "NEXT_HOP", 4: "MED", 5: "LOCAL_PREF",
              6: "ATOMIC_AGGREGATE", 7: "AGGREGATOR", 8: "COMMUNITIES", 9: "ORIGINATOR_ID",
              10: "CLUSTER_LIST", 14: "MP_REACH_NLRI", 15: "MP_UNREACH_NLRI",
              16: "EXT_COMMUNITIES", 17: "AS4_PATH", 18: "AS4_AGGREGATOR",
              32: "LARGE_COMMUNITIES"}
CAP_NAMES = {1: "MP", 2: "route-refresh", 5: "ext-nexthop", 6: "ext-message", 9: "role",
             66: "dynamic-old", 67: "dynamic",
             64: "graceful-restart", 65: "as4", 69: "add-path", 70: "enhanced-route-refresh",
             71: "llgr", 73: "fqdn", 75: "software-version", 128: "route-refresh-old"}


def describe(msg, ctx, info):
    typ = msg[18]
    if typ == 1:
        o = parse_open(msg)
        caps = []
        for code, vals in o["caps"].items():
            nm = CAP_NAMES.get(code, f"cap{code}")
            if code == 1:
                for v in vals:
                    caps.append(f"MP({struct.unpack('>H', v[:2])[0]}/{v[3]})")
                continue
            if code == 73 and vals:
                v = vals[0]
                h = v[1:1 + v[0]].decode(errors="replace")
                caps.append(f"fqdn({h})")
                continue
            if code == 9 and vals:
                caps.append(f"role({vals[0][0]})")
                continue
            if code == 69:
                caps.append("add-path(" + ",".join(f"{a}/{s}:{f}" for (a, s), f in o["addpath"].items()) + ")")
                continue
            caps.append(nm)
        ext = " (RFC 9072 extended optional parameters)" if o["ext_params"] else ""
        return f"OPEN my-as {o['my_as']} hold {o['hold']}{ext} caps: " + " ".join(caps)
    if typ == 2:
        wl, attrs, nlri_len = attrs_of(msg, ctx)
        names = [ATTR_NAMES.get(t, f"attr{t}") for t, _, _ in attrs]
        extra = []
        if wl:
            extra.append(f"withdrawn {wl} bytes")
        if nlri_len:
            extra.append(f"NLRI {nlri_len} bytes")
        return "UPDATE " + " ".join(names + extra) if (names or extra) else "UPDATE (empty)"
    if typ == 3:
        d = f"NOTIFICATION code {msg[19]} subcode {msg[20]}"
        if msg[19] == 6 and msg[20] in (2, 4) and len(msg) > 21:
            ln = msg[21]
            d += f' message "{msg[22:22 + ln].decode(errors="replace")}"'
        return d
    if typ == 5:
        return f"ROUTE-REFRESH afi {struct.unpack('>H', msg[19:21])[0]} subtype {msg[21]} safi {msg[22]}"
    return {4: "KEEPALIVE"}.get(typ, f"type {typ}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pcap", required=True)
    ap.add_argument("--golden", required=True)
    ap.add_argument("--seeds", required=True)
    ap.add_argument("--versions", default="", help="frr=FRR 8.4.4 bgpd;bird=BIRD 2.0.12;...")
    ap.add_argument("--date", required=True)
    ap.add_argument("--list", action="store_true", help="only print what would be written")
    args = ap.parse_args()
    versions = dict(kv.split("=", 1) for kv in args.versions.split(";") if "=" in kv)

    # Every message with its candidate name, in capture order.
    candidates = []
    for conn in connections(args.pcap):
        a, b = conn["ends"]
        msgs = {e: split_messages(conn["dirs"][e].stream()) for e in (a, b)}
        opens = {e: next((parse_open(m) for m in msgs[e] if m[18] == 1), None) for e in (a, b)}
        for src, dst in ((a, b), (b, a)):
            ctx = ctx_of(opens[src], opens[dst])
            sname, dname = peer_of(src[0]), peer_of(dst[0])
            kind = session_kind(src[0])
            label = PEER_FILE_NAMES.get(dname, dname) + ("" if kind == "ebgp" else f"-{kind}")
            fam = "IPv6" if ":" in src[0] else "IPv4"
            ibgp = opens[src] and opens[dst] and \
                (opens[src]["as4"] or opens[src]["my_as"]) == (opens[dst]["as4"] or opens[dst]["my_as"])
            sess = ("iBGP" if ibgp else "eBGP") + f" over {fam} ({src[0]} -> {dst[0]})"
            short = f"{PEER_FILE_NAMES.get(sname, sname)} -> {PEER_FILE_NAMES.get(dname, dname)}"
            head = (f"# produced by: {versions.get(sname, sname)} -> {versions.get(dname, dname)}, "
                    f"{sess}, captured with tcpdump in a netns lab "
                    f"(interop/tools/capture-golden.sh), {args.date}")
            for m in msgs[src]:
                name = PEER_FILE_NAMES.get(sname, sname) + "-" + classify(m, ctx, label)[0]
                candidates.append((name, m, ctx, head, short))

    # Identical bytes: one file, named by the smallest candidate name (stable across runs);
    # the other senders are listed in a comment. Several distinct messages with one name:
    # the first captured wins.
    by_bytes = {}
    for i, (name, m, ctx, head, short) in enumerate(candidates):
        g = by_bytes.setdefault(m, {"first": i, "best": None, "shorts": set()})
        g["shorts"].add(short)
        if g["best"] is None or name < candidates[g["best"]][0]:
            g["best"] = i
    chosen = {}  # name -> (msg, ctx, header, description)
    also = {}
    for m, g in sorted(by_bytes.items(), key=lambda kv: kv[1]["first"]):
        name, _, ctx, head, short = candidates[g["best"]]
        if name in chosen:
            continue
        chosen[name] = (m, ctx, head, describe(m, ctx, None))
        also[name] = sorted(g["shorts"] - {short})

    if not args.list:
        os.makedirs(args.golden, exist_ok=True)
        os.makedirs(args.seeds, exist_ok=True)
        # A re-run replaces what an earlier run of this tool wrote (and nothing else).
        for fn in sorted(os.listdir(args.golden)):
            path = os.path.join(args.golden, fn)
            if fn.endswith(".hex"):
                with open(path, errors="replace") as f:
                    first = f.readline()
                if first.startswith("# produced by:") and "capture-golden.sh" in first:
                    os.remove(path)
                    seed = os.path.join(args.seeds, fn[:-4] + ".bin")
                    if os.path.exists(seed):
                        os.remove(seed)
    for name in sorted(chosen):
        m, ctx, head, desc = chosen[name]
        print(f"{name:60s} {len(m):5d}  {' '.join(ctx):28s} {desc}")
        if args.list:
            continue
        lines = [head, f"# {desc}"]
        if also[name]:
            lines.append("# identical bytes also sent: " + ", ".join(also[name]))
        lines.append("# ctx: " + " ".join(ctx))
        hx = m.hex()
        lines += [" ".join(hx[i + j:i + j + 2] for j in range(0, min(64, len(hx) - i), 2))
                  for i in range(0, len(hx), 64)]
        with open(os.path.join(args.golden, name + ".hex"), "w") as f:
            f.write("\n".join(lines) + "\n")
        with open(os.path.join(args.seeds, name + ".bin"), "wb") as f:
            f.write(bytes([ctx_byte(ctx)]) + m)
    print(f"{len(chosen)} messages", file=sys.stderr)


if __name__ == "__main__":
    main()
