#!/usr/bin/env python3
"""it_acl: access lists and per-address limits on the real upcased: IPv4
and IPv6 clients (127.0.0.x against ::1) on a dual-stack listener, allow
and deny together, over TCP and UDP; unix sockets not filtered; the
per-address count across two worker threads with connections opening
and closing concurrently, repeated, never drifting; the keys reload."""
import os
import random
import resource
import signal
import socket
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from itlib import (Daemon, SLOW, TestFailure, connect, expect,  # noqa: E402
                   run_tests, wait_stats)
from edgelib import connect_from, expect_served, host_port, refused  # noqa: E402


def dual_port(d):
    return host_port(d.addr)[1]


def tcp_ok(source, port, host=None):
    """Whether a client from source is served at host (default: the
    address of source's own family, for the dual-stack port)."""
    target = (host or ("::1" if ":" in source else source), port)
    s = connect_from(source, target)
    try:
        return not refused(s, b"h")
    finally:
        s.close()


def test_tcp_allow_and_deny_v4_and_v6():
    # allow 127.0.0.0/8 and deny 127.0.0.3: on a dual-stack *:PORT the
    # IPv4 clients arrive as ::ffff:127.0.0.x and must match as IPv4.
    with Daemon("-v", "--allow", "127.0.0.0/8", "--deny", "127.0.0.3",
                listen=("*:0",)) as d:
        port = dual_port(d)
        expect(tcp_ok("127.0.0.1", port), "127.0.0.1 is allowed")
        expect(tcp_ok("127.0.0.2", port), "127.0.0.2 is allowed")
        expect(not tcp_ok("127.0.0.3", port), "127.0.0.3 is denied")
        expect(not tcp_ok("::1", port), "::1 is not in allow")
        d.wait_log(r" debug refused 127\.0\.0\.3:\d+: acl$")
        d.wait_log(r" debug refused \[::1\]:\d+: acl$")
        st = d.stats()
        expect(st["rejected_acl"] == 2 and st["conns_total"] == 2,
               "two refused, two served", "rejected_acl=2 conns_total=2", st)
        expect(not any("::ffff:" in line for line in d.lines),
               "IPv4 clients are logged as IPv4", None,
               [line for line in d.lines if "::ffff:" in line])
        d.stop()
    # The other way round: only ::1, and 127.0.0.0/8 denied on top.
    with Daemon("--allow", "::1", "--allow", "127.0.0.2", "--deny",
                "127.0.0.0/8", listen=("*:0",)) as d:
        port = dual_port(d)
        expect(tcp_ok("::1", port), "::1 is allowed")
        expect(not tcp_ok("127.0.0.2", port),
               "deny wins over allow for 127.0.0.2")
        expect(not tcp_ok("127.0.0.1", port), "127.0.0.1 is not in allow")
        d.stop()


def udp_send(source, port, data=b"dgram"):
    """One datagram from source to the dual-stack port; returns the
    socket, for the reply."""
    fam = socket.AF_INET6 if ":" in source else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_DGRAM)
    s.bind((source, 0))
    s.settimeout(10 * SLOW)
    s.sendto(data, ("::1" if fam == socket.AF_INET6 else source, port))
    return s


def test_udp_allow_and_deny_v4_and_v6():
    with Daemon("--allow", "127.0.0.0/8", "--deny", "127.0.0.3",
                listen=("udp:*:0",)) as d:
        port = dual_port(d)
        dropped = [udp_send(src, port) for src in ("127.0.0.3", "::1")]
        ok = udp_send("127.0.0.2", port)
        expect(ok.recv(100) == b"DGRAM", "127.0.0.2 answered")
        ok.close()
        # A thread counts a reply once it is sent: wait for both counts.
        st = wait_stats(d, lambda st: st["dgrams_acl"] == 2 and
                        st["dgrams"] >= 1, "both refused datagrams counted")
        expect(st["dgrams"] == 1, "only the allowed one answered", 1,
               st["dgrams"])
        for s in dropped:
            s.setblocking(False)
            try:
                got = s.recv(100)
            except BlockingIOError:
                got = None
            expect(got is None, "a refused source gets no reply", None, got)
            s.close()
        d.stop()


def test_unix_is_not_filtered():
    tmp = tempfile.TemporaryDirectory()
    path = os.path.join(tmp.name, "u.sock")
    try:
        with Daemon("--allow", "10.0.0.0/8", "--max-conns-per-ip", "1",
                    listen=("unix:" + path, "127.0.0.1:0")) as d:
            held = [connect("unix:" + path) for _ in range(3)]
            for s in held:
                expect_served(s, b"unix")
            expect(refused(connect(d.addrs[1])),
                   "TCP from outside allow is refused")
            for s in held:
                s.close()
            d.stop()
    finally:
        tmp.cleanup()


def raise_nofile(n):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < n:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(n, hard), hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0] >= n


LIMIT = 1000
CHURN = 200


def open_many(addr, n, out, errors):
    try:
        for _ in range(n):
            out.append(connect(addr))
    except OSError as e:
        errors.append(e)


def close_shuffled(socks, errors):
    try:
        random.shuffle(socks)
        for s in socks:
            s.close()
    except OSError as e:
        errors.append(e)


def churn(addr, n, errors):
    """Short connections opening and closing while the others close."""
    try:
        for _ in range(n):
            s = connect(addr)
            s.close()
    except OSError as e:
        errors.append(e)


def run_threads(jobs):
    ts = [threading.Thread(target=f, args=a) for f, a in jobs]
    for t in ts:
        t.start()
    for t in ts:
        t.join(120 * SLOW)
        if t.is_alive():
            raise TestFailure("a client thread did not finish")


def fill_to_the_limit(d, rejected_before):
    """Open LIMIT connections from 127.0.0.1 from two threads; every one
    is let in, and the one after is refused."""
    a, b, errors = [], [], []
    run_threads([(open_many, (d.addr, LIMIT // 2, a, errors)),
                 (open_many, (d.addr, LIMIT - LIMIT // 2, b, errors))])
    expect(not errors, "connecting", [], errors)
    st = wait_stats(d, lambda st: st["conns_now"] == LIMIT or
                    st["rejected_per_ip"] != rejected_before,
                    "%d connections open" % LIMIT)
    expect(st["conns_now"] == LIMIT and
           st["rejected_per_ip"] == rejected_before,
           "all %d let in (the count did not drift up)" % LIMIT,
           "conns_now=%d rejected_per_ip=%d" % (LIMIT, rejected_before), st)
    one_more = connect(d.addr)
    expect(refused(one_more), "connection %d is refused" % (LIMIT + 1))
    one_more.close()
    wait_stats(d, lambda st: st["rejected_per_ip"] == rejected_before + 1,
               "the refusal counted")
    return a + b


def test_per_ip_limit_never_drifts():
    if not raise_nofile(2 * LIMIT + 200):
        print("# skip: needs %d descriptors" % (2 * LIMIT + 200))
        return
    with Daemon("--threads", "2", "--max-conns-per-ip", str(LIMIT),
                listen=("127.0.0.1:0",)) as d:
        rejected = 0
        for _ in range(3):
            socks = fill_to_the_limit(d, rejected)
            rejected += 1
            # Make room for the churn below (its 200 may all be open in
            # upcased at once: each close reaches it after the next
            # connect), then close the rest in random order from two
            # threads while a third opens and closes its own: opens and
            # closes cross threads, and the count stays under the
            # limit, so nothing may be refused.
            random.shuffle(socks)
            for s in socks[:CHURN]:
                s.close()
            socks = socks[CHURN:]
            wait_stats(d, lambda st: st["conns_now"] == LIMIT - CHURN,
                       "%d closed" % CHURN)
            half = len(socks) // 2
            errors = []
            run_threads([(close_shuffled, (socks[:half], errors)),
                         (close_shuffled, (socks[half:], errors)),
                         (churn, (d.addr, CHURN, errors))])
            expect(not errors, "closing", [], errors)
            st = wait_stats(d, lambda st: st["conns_now"] == 0,
                            "every connection closed")
            expect(st["rejected_per_ip"] == rejected, "the churn was never "
                   "refused (the count did not drift up)", rejected,
                   st["rejected_per_ip"])
        # N are allowed again, and not one more.
        socks = fill_to_the_limit(d, rejected)
        for s in socks:
            s.close()
        d.stop()


def test_per_ip_is_per_address():
    with Daemon("--max-conns-per-ip", "2", listen=("*:0",)) as d:
        port = dual_port(d)
        held = [connect_from("127.0.0.1", ("127.0.0.1", port))
                for _ in range(2)]
        for s in held:
            expect_served(s)
        expect(refused(connect_from("127.0.0.1", ("127.0.0.1", port))),
               "a third from 127.0.0.1 is refused")
        other = connect_from("127.0.0.2", ("127.0.0.2", port))
        expect_served(other)
        six = [connect_from("::1", ("::1", port)) for _ in range(2)]
        for s in six:
            expect_served(s)
        expect(refused(connect_from("::1", ("::1", port))),
               "a third from ::1 is refused")
        for s in held + six + [other]:
            s.close()
        d.stop()


def test_reload_acl_and_limit():
    tmp = tempfile.TemporaryDirectory()
    path = os.path.join(tmp.name, "upcased.conf")

    def write(text):
        with open(path, "w") as f:
            f.write("listen = 127.0.0.1:0\n" + text)

    write("allow = 127.0.0.2\nmax_conns_per_ip = 1\n")
    try:
        with Daemon("-c", path, listen=(), expect_listeners=1) as d:
            port = host_port(d.addr)[1]
            expect(not tcp_ok("127.0.0.1", port, "127.0.0.1"),
                   "127.0.0.1 refused")
            a = connect_from("127.0.0.2", ("127.0.0.1", port))
            expect_served(a)
            expect(refused(connect_from("127.0.0.2", ("127.0.0.1", port))),
                   "one connection per address")
            write("deny = 127.0.0.3\nmax_conns_per_ip = 2\n")
            d.signal(signal.SIGHUP)
            m = d.wait_log(r" notice reloaded ")
            for key in ("max_conns_per_ip", "allow", "deny"):
                expect(key in m.string, "the reload names %s" % key, key,
                       m.string)
            expect(tcp_ok("127.0.0.1", port, "127.0.0.1"),
                   "127.0.0.1 allowed now")
            expect(not tcp_ok("127.0.0.3", port, "127.0.0.1"),
                   "127.0.0.3 denied now")
            b = connect_from("127.0.0.2", ("127.0.0.1", port))
            expect_served(b)  # the limit is 2 now, a still counts
            expect(refused(connect_from("127.0.0.2", ("127.0.0.1", port))),
                   "two per address now")
            a.close()
            b.close()
            d.stop()
    finally:
        tmp.cleanup()


if __name__ == "__main__":
    run_tests([
        test_tcp_allow_and_deny_v4_and_v6,
        test_udp_allow_and_deny_v4_and_v6,
        test_unix_is_not_filtered,
        test_per_ip_limit_never_drifts,
        test_per_ip_is_per_address,
        test_reload_acl_and_limit,
    ])
