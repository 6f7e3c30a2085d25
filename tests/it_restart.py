#!/usr/bin/env python3
"""it_restart: SIGUSR2 re-executes upcased with its listeners and its
pidfile, refusing nobody: churn clients on a TCP and a unix listener and a
long-lived streaming client run across the restart with no refused or
reset connection and no wrong byte; the stream is served to its end by
the old process; afterwards the pidfile names the new process and the
unix socket file is still there and served.  A successor that cannot
start leaves the old one serving."""
import json
import os
import random
import re
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from itlib import (Daemon, SLOW, UPCASE, bupper, connect, expect,  # noqa: E402
                   kill_leftover, pid_alive, recv_exactly, run_tests, stop_gone,
                   wait_gone, wait_stats, wait_until)
from edgelib import udp_readers, udp_sockets  # noqa: E402


def read_pid(path):
    with open(path) as f:
        return int(f.read().strip())


class Streamer(threading.Thread):
    """One connection that keeps sending and checking replies until told
    to stop, then half-closes and reads the rest."""

    def __init__(self, addr):
        super().__init__(daemon=True)
        self.sock = connect(addr, timeout=30)
        self.stop = threading.Event()
        self.sent = self.ok = 0
        self.error = None

    def run(self):
        rnd = random.Random(7)
        try:
            while not self.stop.is_set():
                data = bytes(rnd.randrange(256) for _ in range(512))
                self.sock.sendall(data)
                got = recv_exactly(self.sock, len(data), timeout=30)
                if got != bupper(data):
                    raise AssertionError("wrong bytes on the stream")
                self.sent += len(data)
                self.ok += len(data)
            self.sock.shutdown(1)
            rest = self.sock.recv(1)
            if rest != b"":
                raise AssertionError("bytes after our end: %r" % rest)
        except Exception as e:  # reported by the test
            self.error = e
        finally:
            self.sock.close()


def churn(addr, seconds):
    """upcase bench's churn: connect, one exchange, close, in a loop."""
    return subprocess.Popen([UPCASE, "bench", "--churn", "-c", "4", "-T", "1",
                             "-d", str(seconds), "-t", "10", "--json", "-q",
                             addr], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)


def test_restart_refuses_nobody():
    d = tempfile.mkdtemp(prefix="it_restart.")
    pidf, sock = os.path.join(d, "u.pid"), os.path.join(d, "u.sock")
    new_pid = None
    try:
        # The stream outlives the hand-over: the old process must keep
        # serving it past the default 5 s shutdown_timeout.
        with Daemon("--pidfile", pidf, "--shutdown-timeout", "60",
                    listen=("127.0.0.1:0", "unix:" + sock)) as old:
            old.wait_log(r" notice ready: ")
            expect(read_pid(pidf) == old.proc.pid, "pidfile names the old one")
            stream = Streamer(old.addrs[0])
            stream.start()
            benches = [churn(a, 4 * SLOW) for a in old.addrs]
            # The churn is under way (connections counted) before SIGUSR2.
            wait_stats(old, lambda st: st["conns_total"] >= 50,
                       "churn under way")
            old.signal(signal.SIGUSR2)
            m = old.wait_log(r" notice restart: pid (\d+) serves: handing over")
            new_pid = int(m.group(1))
            # Both listeners came back in the new process (it logs them
            # before it says it serves), by address.
            for a in old.addrs:
                n = sum(ln.endswith(" notice listening on " + a)
                        for ln in old.lines)
                expect(n == 2, "listening on %s by both processes" % a, 2, n)
            results = []
            for b in benches:
                out, err = b.communicate(timeout=60 * SLOW)
                results.append((b.returncode, json.loads(out), err.decode()))
            for rc, j, err in results:
                expect(rc == 0 and j["errors"] == 0 and j["connections"] > 0,
                       "a churn client across the restart: no error",
                       "exit 0, 0 errors", (rc, j["errors_by_kind"],
                                            j["connections"], err[-300:]))
            stream.stop.set()
            stream.join(30 * SLOW)
            expect(stream.error is None and stream.ok > 0,
                   "the streaming client served to its end", None,
                   (stream.error, stream.ok))
            # The old process finishes its connections and exits 0.
            rc = old.wait(timeout=30)
            expect(rc == 0, "old process exit status", 0, rc)
        expect(pid_alive(new_pid), "the new process serves on")
        expect(read_pid(pidf) == new_pid, "the pidfile names the new pid",
               new_pid, read_pid(pidf))
        expect(os.path.exists(sock), "the unix socket file is still there")
        for a in ("unix:" + sock,):
            s = connect(a)
            s.sendall(b"after")
            expect(recv_exactly(s, 5) == b"AFTER", "the new process serves " + a)
            s.close()
        stop_gone(new_pid, "the new process stops")
        new_pid = None
        expect(not os.path.exists(pidf) and not os.path.exists(sock),
               "the new process removes what it took over")
    finally:
        kill_leftover(new_pid)
        for f in os.listdir(d):
            os.unlink(os.path.join(d, f))
        os.rmdir(d)


def test_failed_restart_keeps_serving():
    d = tempfile.mkdtemp(prefix="it_restart.")
    conf = os.path.join(d, "u.conf")
    with open(conf, "w") as f:
        f.write("listen = 127.0.0.1:0\n")
    try:
        with Daemon("-c", conf, listen=(), expect_listeners=1) as old:
            old.wait_log(r" notice ready: ")
            with open(conf, "w") as f:   # the successor cannot start
                f.write("listen = 127.0.0.1:0\nbogus = 1\n")
            old.signal(signal.SIGUSR2)
            m = old.wait_log(r" warn restart failed: pid \d+ exited with "
                             r"status (\d+) before serving; still serving$")
            expect(m.group(1) == "2", "the successor's status", "2",
                   m.group(1))
            s = connect(old.addr)
            s.sendall(b"still")
            expect(recv_exactly(s, 5) == b"STILL", "the old one serves on")
            s.close()
            old.stop()
    finally:
        os.unlink(conf)
        os.rmdir(d)


def test_failed_restart_leaves_the_files():
    """A successor that fails to start (a port it cannot bind) removes
    neither the pidfile nor the unix socket file: they are the old
    process's, which serves on."""
    d = tempfile.mkdtemp(prefix="it_restart.")
    conf, pidf = os.path.join(d, "u.conf"), os.path.join(d, "u.pid")
    sock = os.path.join(d, "u.sock")
    with open(conf, "w") as f:
        f.write("listen = 127.0.0.1:0\nlisten = unix:%s\n" % sock)
    taken = socket.socket()
    try:
        with Daemon("-c", conf, "--pidfile", pidf, listen=(),
                    expect_listeners=2) as old:
            old.wait_log(r" notice ready: ")
            taken.bind(("127.0.0.1", 0))
            taken.listen(1)
            with open(conf, "a") as f:
                f.write("listen = 127.0.0.1:%d\n" % taken.getsockname()[1])
            old.signal(signal.SIGUSR2)
            old.wait_log(r" warn restart failed: pid \d+ exited with status 1 "
                         r"before serving; still serving$")
            expect(os.path.exists(pidf) and read_pid(pidf) == old.proc.pid,
                   "the pidfile still names the old process", old.proc.pid,
                   os.path.exists(pidf) and read_pid(pidf))
            expect(os.path.exists(sock), "the unix socket file is still there")
            s = connect("unix:" + sock)
            s.sendall(b"still")
            expect(recv_exactly(s, 5) == b"STILL", "the old one serves on")
            s.close()
            old.stop()
        expect(not os.path.exists(pidf) and not os.path.exists(sock),
               "the old process removes its files at exit")
    finally:
        taken.close()
        for f in os.listdir(d):
            os.unlink(os.path.join(d, f))
        os.rmdir(d)


def test_failed_restart_leaves_udp_blocking():
    """A successor that fails to start shared the UDP sockets for a
    while: O_NONBLOCK is the shared file's, and it must leave it alone, so
    that the old process's readers still wait in recvmmsg() (not in a poll
    or a retry) and answer."""
    d = tempfile.mkdtemp(prefix="it_restart.")
    conf = os.path.join(d, "u.conf")
    with open(conf, "w") as f:
        f.write("threads = 2\nlisten = udp:127.0.0.1:0\n")
    taken = socket.socket()
    try:
        with Daemon("-c", conf, listen=(), expect_listeners=1) as old:
            old.wait_log(r" notice ready: ")
            host, port = old.addr[len("udp:"):].rsplit(":", 1)
            port = int(port)
            taken.bind(("127.0.0.1", 0))
            taken.listen(1)
            # The port it cannot bind comes first: it fails before it
            # serves (and so sets up) the UDP sockets.
            with open(conf, "w") as f:
                f.write("threads = 2\nlisten = 127.0.0.1:%d\n"
                        "listen = udp:127.0.0.1:%d\n" %
                        (taken.getsockname()[1], port))
            old.signal(signal.SIGUSR2)
            old.wait_log(r" warn restart failed: pid \d+ exited with status 1 "
                         r"before serving; still serving$")
            held = udp_sockets(old.proc.pid, port)
            expect(len(held) == 2, "a socket per thread", 2, held)
            for fd in held:
                with open("/proc/%d/fdinfo/%d" % (old.proc.pid, fd)) as f:
                    flags = int(re.search(r"^flags:\s*([0-7]+)", f.read(),
                                          re.M).group(1), 8)
                expect(not flags & os.O_NONBLOCK, "the socket still blocks",
                       "no O_NONBLOCK", oct(flags))
            wait_until(lambda: udp_readers(old.proc.pid),
                       lambda r: all(fd in r for fd in held),
                       "every reader back in recvmmsg()")
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.settimeout(10 * SLOW)
            s.sendto(b"still", (host, port))
            expect(s.recvfrom(100)[0] == b"STILL", "the old one serves on")
            s.close()
            old.stop()
    finally:
        taken.close()
        os.unlink(conf)
        os.rmdir(d)


def restart(old):
    """SIGUSR2, and the pid of the successor once it serves."""
    old.signal(signal.SIGUSR2)
    m = old.wait_log(r" (?:notice restart: pid (\d+) serves|"
                     r"warn restart failed: .*)")
    expect(m.group(1) is not None, "the successor serves", None,
           old.lines[-6:])
    return int(m.group(1))


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_restart_port_zero_entry_leaves_a_named_port():
    """A reload puts the named port's listener after a new port-0 one:
    the successor must still give the named port's socket to its own
    entry, not to the port-0 entry (which matches any port)."""
    d = tempfile.mkdtemp(prefix="it_restart.")
    conf = os.path.join(d, "u.conf")
    port = free_port()
    with open(conf, "w") as f:
        f.write("listen = 127.0.0.1:%d\n" % port)
    new_pid = None
    try:
        with Daemon("-c", conf, listen=(), expect_listeners=1) as old:
            old.wait_log(r" notice ready: ")
            with open(conf, "w") as f:
                f.write("listen = 127.0.0.1:0\nlisten = 127.0.0.1:%d\n" % port)
            old.signal(signal.SIGHUP)
            other = old.wait_log(r" notice listening on (\S+)$").group(1)
            old.wait_log(r" notice reloaded ")
            new_pid = restart(old)
            for a in ("127.0.0.1:%d" % port, other):
                n = sum(ln.endswith(" notice listening on " + a)
                        for ln in old.lines)
                expect(n == 2, "listening on %s by both processes" % a, 2, n)
            expect(old.wait(timeout=30) == 0, "the old one exits 0")
        for a in ("127.0.0.1:%d" % port, other):
            s = connect(a)
            s.sendall(b"moved")
            expect(recv_exactly(s, 5) == b"MOVED", "the new process serves " + a)
            s.close()
        stop_gone(new_pid, "the new process stops")
        new_pid = None
    finally:
        kill_leftover(new_pid)
        os.unlink(conf)
        os.rmdir(d)


class UdpPinger(threading.Thread):
    """Datagrams from several source ports in turn, each waiting for its
    reply (lockstep), until told to stop: a datagram left unanswered for
    long is a lost one."""

    def __init__(self, dst, nsocks=8):
        super().__init__(daemon=True)
        self.dst = dst
        self.socks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                      for _ in range(nsocks)]
        self.stop = threading.Event()
        self.answered = 0
        self.error = None

    def wait_answered(self, n):
        """Until n datagrams are answered (or one is lost)."""
        deadline = time.monotonic() + 20 * SLOW
        while self.answered < n and self.error is None:
            expect(time.monotonic() < deadline, "%d datagrams answered" % n,
                   n, self.answered)
            time.sleep(0.01)  # no event says "answered": poll, gently

    def run(self):
        try:
            i = 0
            while not self.stop.is_set():
                s = self.socks[i % len(self.socks)]
                s.settimeout(10 * SLOW)
                data = b"ping %06d" % i
                s.sendto(data, self.dst)
                got = s.recv(100)
                if got != data.upper():
                    raise AssertionError("reply %r to %r" % (got, data))
                self.answered += 1
                i += 1
        except Exception as e:  # reported by the test
            self.error = e
        finally:
            for s in self.socks:
                s.close()


def restart_udp_threads(before_n, after_n):
    """A successor with another thread count takes every socket of the
    UDP listener, adds one for each extra thread (or reads several on a
    thread), and nothing sent meanwhile goes unanswered."""
    d = tempfile.mkdtemp(prefix="it_restart.")
    conf = os.path.join(d, "u.conf")
    with open(conf, "w") as f:
        f.write("threads = %d\nlisten = udp:127.0.0.1:0\n" % before_n)
    new_pid = None
    try:
        with Daemon("-c", conf, listen=(), expect_listeners=1) as old:
            old.wait_log(r" notice ready: ")
            host, port = old.addr[len("udp:"):].rsplit(":", 1)
            port = int(port)
            before = udp_sockets(old.proc.pid, port)
            expect(len(before) == before_n, "a socket per thread", before_n,
                   before)
            ping = UdpPinger((host, port))
            ping.start()
            ping.wait_answered(20)
            with open(conf, "w") as f:
                f.write("threads = %d\nlisten = udp:127.0.0.1:%d\n" %
                        (after_n, port))
            new_pid = restart(old)
            expect(old.wait(timeout=30) == 0, "the old one exits 0")
            # Served by the successor alone now, for a while.
            ping.wait_answered(ping.answered + 50)
            ping.stop.set()
            ping.join(30 * SLOW)
            expect(ping.error is None, "no datagram lost across the restart",
                   None, (ping.error, ping.answered))
        held = udp_sockets(new_pid, port)
        want = max(before_n, after_n)
        expect(len(held) == want, "the successor: every socket, and one "
               "per thread", want, held)
        stop_gone(new_pid, "the new process stops")
        new_pid = None
    finally:
        kill_leftover(new_pid)
        os.unlink(conf)
        os.rmdir(d)


def test_restart_udp_to_more_threads():
    restart_udp_threads(2, 3)


def test_restart_udp_to_fewer_threads():
    restart_udp_threads(3, 2)


class CredReceiver:
    """The service manager's end of NOTIFY_SOCKET, knowing each sender's
    pid (SO_PASSCRED), as systemd does."""

    def __init__(self, d):
        self.path = os.path.join(d, "notify")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        self.sock.bind(self.path)
        self.got = []

    def wait(self, want, pid, timeout=20):
        """Collect datagrams until one from pid has the line want."""
        deadline = time.monotonic() + timeout * SLOW
        while True:
            left = deadline - time.monotonic()
            expect(left > 0, "%r from pid %d" % (want, pid), want, self.got)
            self.sock.settimeout(left)
            try:
                msg, anc, _, _ = self.sock.recvmsg(
                    4096, socket.CMSG_SPACE(struct.calcsize("3i")))
            except socket.timeout:
                continue
            sender = None
            for level, kind, data in anc:
                if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                    sender = struct.unpack("3i", data[:struct.calcsize("3i")])[0]
            self.got.append((sender, msg.decode()))
            if sender == pid and want in msg.decode().split("\n"):
                return


def test_restart_hands_on_the_watchdog():
    """Under WatchdogSec= the manager kills a main process that stops
    sending WATCHDOG=1: the successor must be told the interval too."""
    d = tempfile.mkdtemp(prefix="it_restart.")
    rx = CredReceiver(d)
    new_pid = None
    env = dict(os.environ, NOTIFY_SOCKET=rx.path, WATCHDOG_USEC="200000")
    try:
        with Daemon(env=env) as old:
            rx.wait("READY=1", old.proc.pid)
            rx.wait("WATCHDOG=1", old.proc.pid)
            old.signal(signal.SIGUSR2)
            m = old.wait_log(r" notice restart: pid (\d+) serves: handing over")
            new_pid = int(m.group(1))
            rx.wait("MAINPID=%d" % new_pid, new_pid)
            for _ in range(3):
                rx.wait("WATCHDOG=1", new_pid)
            # The old process's exit, not its stderr's end: the successor
            # holds that pipe until it stops, below.
            rc = old.proc.wait(timeout=30 * SLOW)
            expect(rc == 0, "old process exit status", 0, rc)
            os.kill(new_pid, signal.SIGTERM)
            rx.wait("STOPPING=1", new_pid)
            wait_gone(new_pid, "the new process stops")
            new_pid = None
    finally:
        kill_leftover(new_pid)
        rx.sock.close()
        os.unlink(rx.path)
        os.rmdir(d)


if __name__ == "__main__":
    run_tests([
        test_restart_refuses_nobody,
        test_failed_restart_keeps_serving,
        test_failed_restart_leaves_the_files,
        test_failed_restart_leaves_udp_blocking,
        test_restart_port_zero_entry_leaves_a_named_port,
        test_restart_hands_on_the_watchdog,
        test_restart_udp_to_more_threads,
        test_restart_udp_to_fewer_threads,
    ])
