#!/usr/bin/env python3
"""it_udpguard: the UDP echo is not a weapon.  Datagrams from the echo
(7) and chargen (19) ports, from port 0 and from upcased's own address and
port are never answered, and counted; a flood from one source over
udp_rate_per_ip is cut to the rate while another source is still
answered; the rate reloads.  Counts decide, not timing: replies counted
against what upcased says it received."""
import os
import signal
import socket
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from itlib import Daemon, SLOW, expect, run_tests, wait_stats  # noqa: E402
from edgelib import host_port, raw_udp  # noqa: E402

ROOT = os.geteuid() == 0


def bound_udp(host, port):
    """A UDP socket bound to (host, port), or None if that is taken."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.bind((host, port))
    except OSError:
        s.close()
        return None
    return s


def nothing_waiting(s):
    s.setblocking(False)
    try:
        return s.recv(100) is None
    except BlockingIOError:
        return True


def test_loop_ports_are_not_answered():
    if not ROOT:
        print("# skip: binding ports 7 and 19 needs root")
        return
    with Daemon(listen=("udp:127.0.0.1:0",)) as d:
        dst = host_port(d.addr)
        loops = [s for s in (bound_udp("127.0.0.1", 7),
                             bound_udp("127.0.0.1", 19)) if s is not None]
        if not loops:
            print("# skip: ports 7 and 19 are taken here")
            d.stop()
            return
        for s in loops:
            s.sendto(b"echo me forever", dst)
        # A datagram from an ordinary port after them (it may reach
        # another thread's socket than theirs: the counts are waited for).
        ok = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        ok.settimeout(10 * SLOW)
        ok.sendto(b"after", dst)
        expect(ok.recv(100) == b"AFTER", "an ordinary port is answered")
        # A thread counts a reply once it is sent: wait for both counts.
        st = wait_stats(d, lambda st: st["dgrams_loop"] == len(loops) and
                        st["dgrams"] >= 1, "the loop datagrams counted")
        expect(st["dgrams"] == 1, "only the ordinary one answered", 1,
               st["dgrams"])
        for s in loops:
            expect(nothing_waiting(s), "no reply to port %d" %
                   s.getsockname()[1])
            s.close()
        ok.close()
        d.stop()


def test_port_zero_and_ourselves_are_not_answered():
    with Daemon(listen=("udp:127.0.0.1:0",)) as d:
        host, port = host_port(d.addr)
        # Port 0, and our own address and port: a datagram answered
        # there would come back to us, and on and on.
        if not (raw_udp(host, 0, host, port, b"zero") and
                raw_udp(host, port, host, port, b"myself")):
            print("# skip: a raw socket needs CAP_NET_RAW")
            d.stop()
            return
        ok = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        ok.settimeout(10 * SLOW)
        ok.sendto(b"after", (host, port))
        expect(ok.recv(100) == b"AFTER", "an ordinary port is answered")
        ok.close()
        # The answer to "after" is counted once it is sent: wait for
        # that count too, not only the loops'.
        st = wait_stats(d, lambda st: st["dgrams_loop"] == 2 and
                        st["dgrams"] >= 1, "both counted as loops")
        expect(st["dgrams"] == 1 and st["dgrams_dropped"] == 0,
               "neither answered nor tried", "dgrams=1 dgrams_dropped=0", st)
        d.stop()


RATE = 20
FLOOD = 400


def flood_cut_to_the_rate(threads, nports):
    """A flood from nports source ports of one address: one bucket, read
    by whichever thread's socket the kernel gives each port."""
    with Daemon("--udp-rate-per-ip", str(RATE), "--threads", str(threads),
                listen=("udp:127.0.0.1:0",)) as d:
        dst = host_port(d.addr)
        floods = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                  for _ in range(nports)]
        for flood in floods:
            flood.bind(("127.0.0.1", 0))
        other = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        other.bind(("127.0.0.2", 0))
        other.settimeout(10 * SLOW)
        start = time.monotonic()
        others_answered = 0
        for i in range(FLOOD):
            floods[i % nports].sendto(b"flood%03d" % i, dst)
            if i % 40 == 39:
                # Another source has its own bucket: still answered.
                other.sendto(b"other%03d" % i, dst)
                expect(other.recv(100) == b"OTHER%03d" % i,
                       "the other source answered during the flood")
                others_answered += 1
        n_other = others_answered
        # Every 8-byte datagram upcased received is answered or dropped
        # for the rate (a datagram the kernel dropped on a full queue
        # never reaches it, and is counted apart).
        sent = FLOOD + n_other
        st = wait_stats(d, lambda st: st["bytes_in"] // 8 +
                        st["dgrams_kernel_dropped"] == sent and
                        st["dgrams"] + st["dgrams_rate"] ==
                        st["bytes_in"] // 8, "every datagram accounted for")
        elapsed = time.monotonic() - start
        received = st["bytes_in"] // 8 - n_other
        answered = st["dgrams"] - n_other
        # The bucket holds one second's worth, then RATE a second: over
        # the whole run at most this many (a generous upper bound: the
        # run's elapsed time counts from before the first datagram to
        # after the last was counted).
        most = RATE + RATE * elapsed + 2
        expect(answered <= most, "the flood cut to the rate (at most "
               "%.0f answered in %.2f s)" % (most, elapsed), most, answered)
        expect(answered >= min(RATE, received), "the bucket's burst "
               "answered", RATE, answered)
        expect(st["dgrams_rate"] == received - answered and
               st["dgrams_rate"] > 0, "the rest dropped and counted",
               received - answered, st["dgrams_rate"])
        replies = 0
        for flood in floods:
            flood.setblocking(False)
            try:
                while True:
                    flood.recv(100)
                    replies += 1
            except BlockingIOError:
                pass
            flood.close()
        expect(replies <= answered, "no more replies than counted", answered,
               replies)
        other.close()
        d.stop()


def test_flood_is_cut_to_the_rate():
    flood_cut_to_the_rate(1, 1)


def test_flood_from_many_ports_is_cut_to_one_rate():
    # At two threads the ports spread over both sockets: the threads
    # share the address's bucket, or it would get twice the rate.
    flood_cut_to_the_rate(2, 32)


def test_rate_reloads():
    tmp = tempfile.TemporaryDirectory()
    path = os.path.join(tmp.name, "upcased.conf")
    with open(path, "w") as f:
        f.write("listen = udp:127.0.0.1:0\nudp_rate_per_ip = 1\n")
    try:
        with Daemon("-c", path, listen=(), expect_listeners=1) as d:
            dst = host_port(d.addr)
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.settimeout(10 * SLOW)
            for i in range(5):
                s.sendto(b"x", dst)
            wait_stats(d, lambda st: st["dgrams"] + st["dgrams_rate"] == 5,
                       "five datagrams seen")
            expect(d.stats()["dgrams_rate"] >= 3, "over a rate of 1, "
                   "most of a burst of 5 is dropped")
            with open(path, "w") as f:
                f.write("listen = udp:127.0.0.1:0\nudp_rate_per_ip = none\n")
            d.signal(signal.SIGHUP)
            m = d.wait_log(r" notice reloaded ")
            expect("udp_rate_per_ip" in m.string, "the reload names the key",
                   "udp_rate_per_ip", m.string)
            before = d.stats()["dgrams_rate"]
            s.setblocking(False)
            try:
                while True:
                    s.recv(10)
            except BlockingIOError:
                pass
            s.settimeout(10 * SLOW)
            for i in range(20):
                s.sendto(b"y", dst)
                expect(s.recv(10) == b"Y", "answered with no rate")
            expect(d.stats()["dgrams_rate"] == before, "none dropped")
            s.close()
            d.stop()
    finally:
        tmp.cleanup()


if __name__ == "__main__":
    run_tests([
        test_loop_ports_are_not_answered,
        test_port_zero_and_ourselves_are_not_answered,
        test_flood_is_cut_to_the_rate,
        test_flood_from_many_ports_is_cut_to_one_rate,
        test_rate_reloads,
    ])
