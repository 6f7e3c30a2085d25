#!/usr/bin/env python3
"""it_udp: the daemon's UDP path: a burst of datagrams of every size comes
back whole and right, each to its sender; datagrams the kernel drops
because upcased's receive queue was full are counted (SO_RXQ_OVFL), so
that answered + dropped always adds up to what was sent."""
import os
import random
import signal
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from itlib import Daemon, SLOW, bupper, expect, run_tests  # noqa: E402


def udp_addr(d):
    host, port = d.addr[len("udp:"):].rsplit(":", 1)
    return host, int(port)


def test_burst_of_every_size():
    with Daemon(listen=("udp:127.0.0.1:0",)) as d:
        rnd = random.Random(11)
        socks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                 for _ in range(3)]
        sent = {}
        for s in socks:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
            s.settimeout(10 * SLOW)
        sizes = [0, 1, 7, 64, 1000, 1472, 1473, 9000, 32768, 65507]
        # Stop upcased so the whole burst waits in its queue and is read
        # in batches, then let it go.
        d.signal(signal.SIGSTOP)
        try:
            for i, size in enumerate(sizes * 3):
                s = socks[i % len(socks)]
                data = bytes(rnd.randrange(256) for _ in range(size))
                s.sendto(data, udp_addr(d))
                sent.setdefault(s.fileno(), []).append(data)
        finally:
            d.signal(signal.SIGCONT)
        for s in socks:
            want = sorted(bupper(x) for x in sent[s.fileno()])
            got = sorted(s.recvfrom(70000)[0] for _ in want)
            expect(got == want, "each sender gets its own replies, whole")
            s.close()
        st = d.stats()
        expect(st["dgrams"] == len(sizes) * 3 and st["dgrams_kernel_dropped"]
               == 0 and st["dgrams_dropped"] == 0, "every datagram answered",
               len(sizes) * 3, st)
        d.stop()


def test_kernel_drops_are_counted():
    # A receive buffer too small for the burst: the kernel drops some
    # before upcased reads them, and tells us how many.
    with Daemon("--udp-rcvbuf", "4096", listen=("udp:127.0.0.1:0",)) as d:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
        n = 300
        d.signal(signal.SIGSTOP)
        try:
            for i in range(n):
                s.sendto(b"drop me %05d" % i, udp_addr(d))
        finally:
            d.signal(signal.SIGCONT)
        # Read what comes back; the rest was dropped on the way in.
        s.settimeout(0.5 * SLOW)
        got = 0
        deadline = time.monotonic() + 20 * SLOW
        while time.monotonic() < deadline:
            try:
                s.recvfrom(100)
                got += 1
            except socket.timeout:
                break
        s.close()
        # The kernel's count comes with the next datagram read: send one
        # more once the queue is empty.
        t = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        t.settimeout(10 * SLOW)
        t.sendto(b"last", udp_addr(d))
        expect(t.recvfrom(100)[0] == b"LAST", "answered after the burst")
        t.close()
        st = d.stats()
        expect(st["dgrams_kernel_dropped"] > 0, "kernel drops counted", "> 0",
               st)
        expect(st["dgrams"] == got + 1, "answered = replies received",
               got + 1, st["dgrams"])
        expect(st["dgrams"] + st["dgrams_kernel_dropped"] +
               st["dgrams_dropped"] == n + 1,
               "answered + dropped = sent", n + 1, st)
        d.stop()


if __name__ == "__main__":
    run_tests([
        test_burst_of_every_size,
        test_kernel_drops_are_counted,
    ])
