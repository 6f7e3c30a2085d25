#!/usr/bin/env python3
"""it_haproxy: two upcased on proxy_protocol listeners behind the real
haproxy (Debian's), in mode tcp with balance roundrobin and a check on
each server, as conf/haproxy.cfg shows.  100 clients bound to 127.0.0.2
.. 127.0.0.9 exchange random binary data through it, with send-proxy-v2
and with send-proxy (v1): every reply byte right, both instances serve,
and each instance's -v log names the clients, not haproxy; the health
checks cause no PROXY errors.  max_conns_per_ip holds on the clients'
real addresses.  SIGTERM to one instance: its closed listener takes it
out of rotation, and the clients still get every reply."""
import os
import random
import re
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from itlib import Daemon, SLOW, TestFailure, bupper, expect, run_tests  # noqa: E402
from edgelib import logged, refused  # noqa: E402

HAPROXY = shutil.which("haproxy")
SOURCES = ["127.0.0.%d" % i for i in range(2, 10)]
OPEN_RE = re.compile(r" debug open (\S+):(\d+) via (\S+):\d+$")


class HAProxy:
    """haproxy in the foreground, its frontend on a socket we bound (so
    no port is guessed), a stats socket to see the servers' state."""

    def __init__(self, servers, send_proxy):
        self.dir = tempfile.TemporaryDirectory(prefix="it_haproxy.")
        self.front = socket.socket()
        self.front.bind(("127.0.0.1", 0))
        self.front.listen(512)
        self.addr = self.front.getsockname()
        self.admin = os.path.join(self.dir.name, "admin.sock")
        cfg = os.path.join(self.dir.name, "haproxy.cfg")
        lines = [
            "global",
            "    maxconn 2000",
            "    stats socket %s level admin" % self.admin,
            "defaults",
            "    mode tcp",
            "    timeout connect 5s",
            "    timeout client 60s",
            "    timeout server 60s",
            "    retries 3",
            "    option redispatch 1",
            "frontend fe",
            "    bind fd@%d" % self.front.fileno(),
            "    default_backend be",
            "backend be",
            "    balance roundrobin",
        ]
        for i, addr in enumerate(servers):
            lines.append("    server u%d %s %s check inter 100ms fall 1 "
                         "rise 1" % (i, addr, send_proxy))
        with open(cfg, "w") as f:
            f.write("\n".join(lines) + "\n")
        self.log = open(os.path.join(self.dir.name, "haproxy.log"), "w+")
        self.proc = subprocess.Popen([HAPROXY, "-f", cfg, "-db"],
                                     stdin=subprocess.DEVNULL,
                                     stdout=self.log, stderr=self.log,
                                     pass_fds=[self.front.fileno()])
        for i in range(len(servers)):
            self.wait_status("u%d" % i, "UP")

    def status(self):
        """{server: (status, check status)} from 'show stat'."""
        s = socket.socket(socket.AF_UNIX)
        s.settimeout(10 * SLOW)
        s.connect(self.admin)
        s.sendall(b"show stat\n")
        out = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            out += chunk
        s.close()
        rows = out.decode().splitlines()
        head = rows[0].lstrip("# ").split(",")
        got = {}
        for row in rows[1:]:
            f = dict(zip(head, row.split(",")))
            if f.get("pxname") == "be" and f.get("svname") != "BACKEND":
                got[f["svname"]] = (f["status"], f["check_status"])
        return got

    def wait_status(self, server, want, timeout=20):
        deadline = time.monotonic() + timeout * SLOW
        while True:
            if self.proc.poll() is not None:
                raise TestFailure("haproxy exited: %s" % self.output())
            try:
                st = self.status().get(server)
            except OSError:
                st = None  # the stats socket is not up yet
            if st is not None and st[0] == want:
                return
            if time.monotonic() > deadline:
                raise TestFailure("haproxy: %s not %s within %.0f s: %r" %
                                  (server, want, timeout * SLOW, st))
            time.sleep(0.05)  # no event says "checked": poll, gently

    def output(self):
        self.log.seek(0)
        return self.log.read()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGUSR1)  # soft stop
            try:
                self.proc.wait(timeout=10 * SLOW)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.front.close()
        self.log.close()
        self.dir.cleanup()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def upcased(*extra):
    return Daemon("-v", "--threads", "2", "--proxy-from", "127.0.0.1",
                  *extra, listen=("127.0.0.1:0 proxy_protocol",))


def exchange(source, target, data, timeout=30):
    """Send data from source through target, reading as we go; returns
    (the client's own address, the whole reply)."""
    s = socket.socket()
    s.bind((source, 0))
    s.settimeout(timeout * SLOW)
    s.connect(target)
    me = s.getsockname()
    s.setblocking(False)
    sel = selectors.DefaultSelector()
    sel.register(s, selectors.EVENT_READ | selectors.EVENT_WRITE)
    sent, got, deadline = 0, bytearray(), time.monotonic() + timeout * SLOW
    try:
        while True:
            if time.monotonic() > deadline:
                raise TestFailure("%s: exchange timed out (%d of %d bytes "
                                  "back)" % (source, len(got), len(data)))
            for key, ev in sel.select(1):
                if ev & selectors.EVENT_WRITE:
                    sent += s.send(data[sent:sent + 65536])
                    if sent == len(data):
                        s.shutdown(socket.SHUT_WR)
                        sel.modify(s, selectors.EVENT_READ)
                if ev & selectors.EVENT_READ:
                    chunk = s.recv(65536)
                    if not chunk:
                        return me, bytes(got)
                    got += chunk
    finally:
        sel.close()
        s.close()


def clients(target, n, jobs=10, sizes=(1, 65536)):
    """n exchanges of random binary data from the SOURCES in turn, jobs at
    a time; returns [(client address, ok)]; a failure says what differs."""
    results, errors, lock = [], [], threading.Lock()
    todo = list(range(n))

    def work():
        while True:
            with lock:
                if not todo:
                    return
                i = todo.pop()
            data = os.urandom(random.randint(*sizes))
            try:
                me, got = exchange(SOURCES[i % len(SOURCES)], target, data)
            except (OSError, TestFailure) as e:
                with lock:
                    errors.append("client %d: %s" % (i, e))
                continue
            with lock:
                if got != bupper(data):
                    at = next((k for k in range(min(len(got), len(data)))
                               if got[k] != bupper(data)[k]), None)
                    errors.append("client %d: %d bytes back of %d, first "
                                  "wrong at %s" % (i, len(got), len(data), at))
                results.append(me)

    ts = [threading.Thread(target=work) for _ in range(jobs)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(300 * SLOW)
    expect(not errors, "every reply byte right", [], errors[:5])
    return results


def opened(d):
    """(client ip, port, via) of every 'open ... via ...' line so far."""
    return [(m.group(1), int(m.group(2)), m.group(3)) for m in
            (OPEN_RE.search(line) for line in d.lines) if m]


def balanced_and_real_addresses(send_proxy, check_tag):
    if HAPROXY is None:
        print("# skipped: haproxy not installed (./scripts/deps installs it)")
        return
    with upcased() as a, upcased() as b, \
            HAProxy([a.addr, b.addr], send_proxy) as hp:
        mine = clients(hp.addr, 100)
        # The last client's open line may still be on its way to us.
        deadline = time.monotonic() + 20 * SLOW
        while (len(opened(a)) + len(opened(b)) < len(mine) and
               time.monotonic() < deadline):
            time.sleep(0.02)
        seen = {}
        for d, name in ((a, "first"), (b, "second")):
            lines = opened(d)
            expect(lines, "the %s instance served some" % name)
            for ip, port, via in lines:
                expect(ip in SOURCES and via == "127.0.0.1", "the %s "
                       "instance logs the client, via haproxy" % name,
                       "127.0.0.2..9 via 127.0.0.1", (ip, port, via))
                seen[(ip, port)] = name
            st = d.stats()
            expect(st["proxy_errors"] == 0, "no PROXY errors (health checks "
                   "included) on the %s instance" % name, 0, st)
            logged(d, r" debug open 127\.0\.0\.1:\d+ \(PROXY %s\)$" %
                   check_tag)
            bad = [line for line in d.lines
                   if re.search(r"Z (warn|error) ", line)]
            expect(not bad, "no warnings or errors", [], bad)
        missing = [m for m in mine if tuple(m) not in seen]
        expect(not missing, "every client's own address and port in a log",
               [], missing[:5])
        a.stop()
        b.stop()


def test_send_proxy_v2():
    balanced_and_real_addresses("send-proxy-v2", "LOCAL")


def test_send_proxy_v1():
    # haproxy's v1 checks name the check's own addresses, as the
    # specification advises, rather than UNKNOWN.
    balanced_and_real_addresses("send-proxy", "self")


def hold(target, source, n):
    out = []
    for _ in range(n):
        s = socket.socket()
        s.bind((source, 0))
        s.settimeout(20 * SLOW)
        s.connect(target)
        out.append(s)
    return out


def test_max_conns_per_ip_behind_haproxy():
    if HAPROXY is None:
        print("# skipped: haproxy not installed (./scripts/deps installs it)")
        return
    limit, n = 2, 8
    with upcased("--max-conns-per-ip", str(limit)) as a, \
            upcased("--max-conns-per-ip", str(limit)) as b, \
            HAProxy([a.addr, b.addr], "send-proxy-v2") as hp:
        held = hold(hp.addr, "127.0.0.5", n)
        outcome = [refused(s, b"ping") for s in held]
        live = outcome.count(False)
        expect(live <= 2 * limit, "at most %d per instance from 127.0.0.5 "
               "(all haproxy's own connections)" % limit, 2 * limit, live)
        total = sum(d.stats()["rejected_per_ip"] for d in (a, b))
        expect(total == n - live and total >= n - 2 * limit,
               "each one over the limit refused and counted", n - live, total)
        for d in (a, b):
            if d.stats()["rejected_per_ip"]:
                logged(d, r" debug refused 127\.0\.0\.5:\d+ via "
                       r"127\.0\.0\.1:\d+: per_ip \(max_conns_per_ip 2\)$")
        # Another client address is not held to 127.0.0.5's count.
        others = hold(hp.addr, "127.0.0.6", 2)
        for s in others:
            expect(not refused(s, b"pong"), "127.0.0.6 is served")
        for s in held + others:
            s.close()
        a.stop()
        b.stop()


def test_sigterm_takes_one_out_of_rotation():
    if HAPROXY is None:
        print("# skipped: haproxy not installed (./scripts/deps installs it)")
        return
    with upcased() as a, upcased() as b, \
            HAProxy([a.addr, b.addr], "send-proxy-v2") as hp:
        done, errors, stop = [0], [], threading.Event()
        counted = threading.Condition()

        def loop(k):
            while not stop.is_set():
                data = os.urandom(random.randint(1, 4096))
                try:
                    _, got = exchange(SOURCES[k], hp.addr, data)
                    ok = got == bupper(data)
                except (OSError, TestFailure) as e:
                    ok, got = False, str(e)
                with counted:
                    done[0] += 1
                    if not ok:
                        errors.append("exchange %d: %r" % (done[0], got[:60]))
                    counted.notify_all()
                time.sleep(0.01)  # pacing, not an assertion

        def count():
            with counted:
                return done[0]

        def wait_done(at_least, what):
            with counted:
                if not counted.wait_for(lambda: done[0] >= at_least,
                                        60 * SLOW):
                    raise TestFailure("%s: %d exchanges" % (what, done[0]))

        ts = [threading.Thread(target=loop, args=(k,)) for k in range(3)]
        for t in ts:
            t.start()
        try:
            wait_done(30, "before SIGTERM")
            a.signal(signal.SIGTERM)
            expect(a.wait() == 0, "the stopped instance exits 0")
            hp.wait_status("u0", "DOWN")
            served_by_b = len(opened(b))
            wait_done(count() + 30, "after the first instance went down")
        finally:
            stop.set()
            for t in ts:
                t.join(60 * SLOW)
        expect(not errors, "every reply, across the shutdown", [], errors[:5])
        # Every exchange since the first went down was the second's (its
        # log lines may still be on their way to us).  One per client
        # thread may have been in flight when served_by_b was read: its
        # open line counted there, its exchange among the 30 after.
        want = served_by_b + 30 - len(ts)
        b.wait_lines(lambda _: len(opened(b)) >= want,
                     "the second instance serves the rest (%d open lines "
                     "wanted)" % want)
        b.stop()


if __name__ == "__main__":
    run_tests([
        test_send_proxy_v2,
        test_send_proxy_v1,
        test_max_conns_per_ip_behind_haproxy,
        test_sigterm_takes_one_out_of_rotation,
    ])
