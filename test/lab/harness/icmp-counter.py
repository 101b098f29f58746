#!/usr/bin/env python3
"""Loss counter for restart tests: sends an ICMP echo to every target each INTERVAL
seconds from a raw socket and never stops on a send error (busybox ping stops at its
first "Network is unreachable"). Runs until stdin closes or SIGTERM, then prints one
JSON line: when echo 1 was sent (startMs, wall clock), the interval, and per target
sent, answered and the sequence numbers never answered.
Usage: icmp-counter.py INTERVAL_MS ADDR..."""
import json, os, select, signal, socket, struct, sys, time

interval = int(sys.argv[1]) / 1000.0
targets = sys.argv[2:]
ident = os.getpid() & 0xFFFF
sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
sock.setblocking(False)
sent = {t: 0 for t in targets}
answered = {t: set() for t in targets}
errors = {t: 0 for t in targets}
running = True


def stop(*_):
    global running
    running = False


signal.signal(signal.SIGTERM, stop)


def checksum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    s = (s >> 16) + (s & 0xFFFF)
    s += s >> 16
    return ~s & 0xFFFF


def echo(seq):
    payload = b"rtc-gr-loss-counter"
    hdr = struct.pack("!BBHHH", 8, 0, 0, ident, seq)
    return struct.pack("!BBHHH", 8, 0, checksum(hdr + payload), ident, seq) + payload


seq = 0
next_at = time.monotonic()
start_ms = None
print("ready", flush=True)
while running:
    now = time.monotonic()
    if now >= next_at:
        seq = (seq + 1) & 0xFFFF
        if start_ms is None:
            start_ms = time.time() * 1000.0
        for t in targets:
            sent[t] += 1
            try:
                sock.sendto(echo(seq), (t, 0))
            except OSError:
                errors[t] += 1
        next_at += interval
    r, _, _ = select.select([sock, sys.stdin], [], [], max(0.0, next_at - time.monotonic()))
    if sys.stdin in r and not sys.stdin.readline():
        break
    if sock in r:
        while True:
            try:
                data, addr = sock.recvfrom(2048)
            except BlockingIOError:
                break
            ihl = (data[0] & 0x0F) * 4
            typ, _, _, rid, rseq = struct.unpack("!BBHHH", data[ihl:ihl + 8])
            if typ == 0 and rid == ident and addr[0] in answered:
                answered[addr[0]].add(rseq)
# Replies still in flight for the last few echoes.
deadline = time.monotonic() + 1.0
while time.monotonic() < deadline:
    r, _, _ = select.select([sock], [], [], 0.1)
    if sock in r:
        data, addr = sock.recvfrom(2048)
        ihl = (data[0] & 0x0F) * 4
        typ, _, _, rid, rseq = struct.unpack("!BBHHH", data[ihl:ihl + 8])
        if typ == 0 and rid == ident and addr[0] in answered:
            answered[addr[0]].add(rseq)
out = {}
for t in targets:
    lost = [s for s in range(1, sent[t] + 1) if s not in answered[t]]
    out[t] = {"sent": sent[t], "answered": len(answered[t]), "sendErrors": errors[t], "lost": lost}
print(json.dumps({"startMs": start_ms, "intervalMs": interval * 1000.0, "targets": out}), flush=True)
