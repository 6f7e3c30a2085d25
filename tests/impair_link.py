#!/usr/bin/env python3
"""impair_link: a userspace link that delays, reorders and duplicates.

Creates two TUN devices (layer 3, no packet information) and forwards
every IP packet read from one to the other after a delay of DELAY plus a
uniform jitter of +-JITTER milliseconds; REORDER percent of the packets
are held REORDER_MS longer, so those behind overtake them; DUP percent
are sent twice (the copy a millisecond later).  For kernels without the
netem qdisc: route a subnet through each device (one of them moved into
a network namespace) and the path between them is impaired.

Prints "ready" once both devices exist, and one line of counters,
"forwarded=N duplicated=N reordered=N dropped=N", for every line read
on stdin and at the end; reordered counts the packets that really left
after one read later in the same direction.  Runs until stdin reaches
EOF (the caller went away) or SIGTERM; the devices go with it.
"""
import argparse
import fcntl
import heapq
import os
import random
import select
import signal
import struct
import sys
import time

TUNSETIFF = 0x400454CA
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000


def tun_open(name):
    fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)
    fcntl.ioctl(fd, TUNSETIFF,
                struct.pack("16sH22x", name.encode(), IFF_TUN | IFF_NO_PI))
    return fd


class Link:
    def __init__(self, args):
        self.a = args
        self.rng = random.Random(args.seed)
        self.heap = []
        self.n = 0
        self.read_seq = {}		# direction -> packets read
        self.last_out = {}		# direction -> highest sequence sent
        self.ctr = dict(forwarded=0, duplicated=0, reordered=0, dropped=0)

    def delay(self):
        a = self.a
        d = a.delay_ms + self.rng.uniform(-a.jitter_ms, a.jitter_ms)
        if self.rng.random() * 100 < a.reorder_pct:
            d += a.reorder_ms
        return max(0.0, d) / 1000.0

    def take(self, src, dst, now):
        """Read every packet waiting on src and schedule it for dst."""
        for _ in range(256):
            try:
                pkt = os.read(src, 65536)
            except BlockingIOError:
                return
            seq = self.read_seq.get(src, 0)
            self.read_seq[src] = seq + 1
            self.push(now + self.delay(), src, seq, dst, pkt)
            if self.rng.random() * 100 < self.a.dup_pct:
                self.ctr["duplicated"] += 1
                self.push(now + self.delay() + 0.001, src, -1, dst, pkt)

    def push(self, when, src, seq, dst, pkt):
        self.n += 1
        heapq.heappush(self.heap, (when, self.n, src, seq, dst, pkt))

    def release(self, now):
        while self.heap and self.heap[0][0] <= now:
            _, _, src, seq, dst, pkt = heapq.heappop(self.heap)
            if seq >= 0:
                if seq < self.last_out.get(src, -1):
                    self.ctr["reordered"] += 1
                self.last_out[src] = max(seq, self.last_out.get(src, -1))
            try:
                os.write(dst, pkt)
                self.ctr["forwarded"] += 1
            except OSError:		# a full queue, a device going down
                self.ctr["dropped"] += 1

    def report(self):
        print(" ".join("%s=%d" % kv for kv in self.ctr.items()), flush=True)

    def run(self, fa, fb):
        peer = {fa: fb, fb: fa}
        while True:
            now = time.monotonic()
            wait = max(0.0, self.heap[0][0] - now) if self.heap else 1.0
            ready, _, _ = select.select([fa, fb, sys.stdin], [], [], wait)
            now = time.monotonic()
            for fd in ready:
                if fd is sys.stdin:
                    asked = os.read(sys.stdin.fileno(), 4096)
                    if not asked:
                        return
                    for _ in range(asked.count(b"\n")):
                        self.report()
                else:
                    self.take(fd, peer[fd], now)
            self.release(now)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dev_a")
    ap.add_argument("dev_b")
    ap.add_argument("--delay-ms", type=float, default=20)
    ap.add_argument("--jitter-ms", type=float, default=10)
    ap.add_argument("--reorder-pct", type=float, default=10)
    ap.add_argument("--reorder-ms", type=float, default=25)
    ap.add_argument("--dup-pct", type=float, default=5)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    fa, fb = tun_open(args.dev_a), tun_open(args.dev_b)
    link = Link(args)
    print("ready", flush=True)
    try:
        link.run(fa, fb)
    finally:
        link.report()


if __name__ == "__main__":
    main()
