#!/usr/bin/env python3
"""it_reload: SIGHUP on the real upcased: each key that may change while
running takes effect, a bad file or an unbindable listener changes
nothing, the keys that cannot change are kept with a warning, listeners
come and go with their clients still served, the log file is reopened,
and the service manager hears RELOADING=1 then READY=1."""
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from itlib import (Daemon, SLOW, connect, exchange, expect,  # noqa: E402
                   recv_exactly, recv_until_eof, run_tests)
from edgelib import host_port, udp_sockets  # noqa: E402


class Conf:
    """A config file in a temporary directory, rewritten at will."""

    def __init__(self, text):
        self.dir = tempfile.TemporaryDirectory()
        self.path = os.path.join(self.dir.name, "upcased.conf")
        self.write(text)

    def write(self, text):
        with open(self.path, "w") as f:
            f.write(text)

    def close(self):
        self.dir.cleanup()


def reload(d, conf, text=None, want=r" notice reloaded "):
    """Rewrite the file (if text), SIGHUP, and wait for the outcome line."""
    if text is not None:
        conf.write(text)
    d.signal(signal.SIGHUP)
    return d.wait_log(want)


def test_reload_each_key():
    conf = Conf("listen = 127.0.0.1:0\n")
    try:
        with Daemon("-c", conf.path, listen=(), expect_listeners=1) as d:
            m = reload(d, conf, "listen = 127.0.0.1:0\nlog_level = debug\n")
            expect(m.string.endswith("changed log_level"),
                   "the reloaded line names the key", "changed log_level",
                   m.string)
            exchange(d.addr)
            d.wait_log(r" debug open 127\.0\.0\.1:")  # debug is on now

            # idle_timeout: a new connection that sends nothing is closed
            # at the new value, not after the old 300 s.
            m = reload(d, conf, "listen = 127.0.0.1:0\nlog_level = debug\n"
                       "idle_timeout = 0.3\nwrite_timeout = 7\nbacklog = 16\n"
                       "chunk_size = 7\nmax_pending = 4096\n"
                       "shutdown_timeout = 0.5\n")
            for key in ("backlog", "chunk_size", "max_pending",
                        "idle_timeout", "write_timeout", "shutdown_timeout"):
                expect(key in m.string, "reloaded line names %s" % key, key,
                       m.string)
            s = connect(d.addr)
            expect(recv_until_eof(s, timeout=20) == b"",
                   "an idle connection closed at the new idle_timeout")
            s.close()
            d.wait_log(r" reason=idle timeout$")
            # chunk_size 7: a 20-byte message comes back in whole all the
            # same (chunking is invisible).
            expect(exchange(d.addr, b"x" * 20) == b"X" * 20, "chunked reply")

            # max_conns: at 1, a second client waits in the backlog.
            m = reload(d, conf, "listen = 127.0.0.1:0\nmax_conns = 1\n"
                       "idle_timeout = 30\n")
            expect("max_conns" in m.string, "max_conns changed", None,
                   m.string)
            held = connect(d.addr)
            d.wait_log(r" notice max_conns \(1\) reached: pausing accepts$")
            held.close()
            d.wait_log(r" notice below max_conns \(1\) again: accepting \(")
            expect(exchange(d.addr) == b"ABC", "served after the pause")

            m = reload(d, conf, None)
            expect(m.string.endswith(": no changes"), "same file: no changes",
                   "no changes", m.string)
            d.stop()
    finally:
        conf.close()


def test_bad_reload_keeps_everything():
    conf = Conf("listen = 127.0.0.1:0\nidle_timeout = 30\n")
    try:
        with Daemon("-c", conf.path, listen=(), expect_listeners=1) as d:
            m = reload(d, conf, "listen = 127.0.0.1:0\nidle_timeout = 0.2\n"
                       "log_level = loud\n", want=r" warn reload failed: ")
            want = ("reload failed: %s:3: log_level: unknown level 'loud' "
                    "(error, warn, notice, info or debug) (keeping the "
                    "running configuration)" % conf.path)
            expect(m.string.endswith(want), "the bad line and the promise",
                   want, m.string)
            # idle_timeout 0.2 was not applied: the connection stays.
            s = connect(d.addr)
            s.settimeout(1.5 * SLOW)
            try:
                got = s.recv(1)
                expect(False, "idle connection still open", "timeout", got)
            except socket.timeout:
                pass
            s.sendall(b"still")
            expect(recv_exactly(s, 5) == b"STILL", "still served")
            s.close()
            # A listener that cannot be bound fails the reload as a whole.
            taken = socket.socket()
            taken.bind(("127.0.0.1", 0))
            taken.listen(1)
            busy = "127.0.0.1:%d" % taken.getsockname()[1]
            m = reload(d, conf, "listen = 127.0.0.1:0\nlisten = [::1]:0\n"
                       "listen = %s\nidle_timeout = 0.2\n" % busy,
                       want=r" warn reload failed: ")
            expect("a listener cannot be opened" in m.string,
                   "unbindable listener fails the reload", None, m.string)
            expect(any(("cannot listen on %s: Address already in use" % busy)
                       in ln for ln in d.lines), "and says why", None,
                   d.lines[-5:])
            taken.close()
            # The [::1] listener it opened on the way is closed again.
            opened = [ln for ln in d.lines if "listening on [::1]" in ln]
            for ln in opened:
                a = ln.rsplit(" ", 1)[1]
                try:
                    connect(a, timeout=2).close()
                    expect(False, "the half-applied listener is closed", a)
                except ConnectionRefusedError:
                    pass
            expect(exchange(d.addr) == b"ABC", "the old listener serves")
            d.stop()
    finally:
        conf.close()


def test_fixed_keys_kept_with_a_warning():
    conf = Conf("listen = 127.0.0.1:0\nthreads = 2\n")
    try:
        with Daemon("-c", conf.path, listen=(), expect_listeners=1) as d:
            reload(d, conf, "listen = 127.0.0.1:0\nthreads = 3\n"
                   "user = nobody\ndaemon = yes\n", want=r" notice reloaded ")
            for key, kept in (("threads", "2"), ("user", "none"),
                              ("daemon", "no")):
                expect(any(("warn reload: %s cannot change while running: "
                            "keeping %s" % (key, kept)) in ln
                           for ln in d.lines), "warning for %s" % key,
                       key, d.lines[-6:])
            expect(exchange(d.addr) == b"ABC", "still serving")
            d.stop()
    finally:
        conf.close()


def test_listener_added_and_removed():
    conf = Conf("listen = 127.0.0.1:0\n")
    try:
        with Daemon("-c", conf.path, listen=(), expect_listeners=1) as d:
            first = d.addr
            on_first = connect(first)   # established on the one to go
            on_first.sendall(b"before")
            expect(recv_exactly(on_first, 6) == b"BEFORE", "served")
            # The TCP 127.0.0.1:0 entry goes; [::1]:0 and a udp one come.
            reload(d, conf, "listen = [::1]:0\nlisten = udp:127.0.0.1:0\n",
                   want=r" notice listening on \[::1\]:\d+$")
            d.wait_log(r" notice listening on udp:127\.0\.0\.1:\d+$")
            # One more listener is one descriptor less for connections.
            d.wait_log(r" notice reloaded .*: changed listen, max_conns$")
            expect(any(("closed listener %s" % first) in ln for ln in d.lines),
                   "the removed listener is closed", first, d.lines[-6:])
            new = [ln.rsplit(" ", 1)[1] for ln in d.lines
                   if "listening on [::1]" in ln][-1]
            expect(exchange(new) == b"ABC", "the new listener serves")
            try:
                connect(first, timeout=2).close()
                expect(False, "the removed listener refuses", first)
            except ConnectionRefusedError:
                pass
            # Its established client is served to its end.
            on_first.sendall(b"after")
            expect(recv_exactly(on_first, 5) == b"AFTER",
                   "a client of the removed listener still served")
            on_first.close()
            d.stop()
    finally:
        conf.close()


def rcvbufs(port):
    """What ss says of each socket bound to udp port: its receive buffer
    (the kernel's rb, twice what was set)."""
    out = subprocess.run(["ss", "-uanm", "sport", "=", ":%d" % port],
                         capture_output=True, text=True, timeout=20).stdout
    return [int(b) for b in re.findall(r"skmem:\(r\d+,rb(\d+),", out)]


def test_udp_listener_over_threads_added_and_removed():
    """At two threads a udp: listener added by a reload is two sockets,
    both served, given the reloaded udp_rcvbuf; removed, every thread
    closes its socket."""
    conf = Conf("threads = 2\nlisten = 127.0.0.1:0\n")
    try:
        with Daemon("-c", conf.path, listen=(), expect_listeners=1) as d:
            reload(d, conf, "threads = 2\nlisten = 127.0.0.1:0\n"
                   "listen = udp:127.0.0.1:0\n",
                   want=r" notice listening on udp:127\.0\.0\.1:\d+$")
            d.wait_log(r" notice reloaded ")
            udp = [ln.rsplit(" ", 1)[1] for ln in d.lines
                   if "listening on udp:" in ln][-1]
            host, port = host_port(udp)
            expect(len(udp_sockets(d.proc.pid, port)) == 2,
                   "a socket per thread")
            socks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                     for _ in range(16)]
            for i, s in enumerate(socks):
                s.settimeout(10 * SLOW)
                s.sendto(b"r%02d" % i, (host, port))
                expect(s.recv(16) == b"R%02d" % i, "the new udp listener "
                       "answers")
            reload(d, conf, "threads = 2\nlisten = 127.0.0.1:0\n"
                   "listen = udp:127.0.0.1:0\nudp_rcvbuf = 65536\n")
            got = rcvbufs(port)
            expect(got == [131072, 131072], "udp_rcvbuf reloaded on each "
                   "socket", [131072, 131072], got)
            reload(d, conf, "threads = 2\nlisten = 127.0.0.1:0\n")
            expect(any(("closed listener %s" % udp) in ln for ln in d.lines),
                   "the udp listener is closed", udp, d.lines[-6:])
            deadline = time.monotonic() + 20 * SLOW
            while udp_sockets(d.proc.pid, port):
                expect(time.monotonic() < deadline, "every thread closed "
                       "its socket", {}, udp_sockets(d.proc.pid, port))
                time.sleep(0.01)  # no event says "closed": poll, gently
            for s in socks:
                s.close()
            d.stop()
    finally:
        conf.close()


def test_log_file_reopened():
    conf = Conf("listen = 127.0.0.1:0\n")
    try:
        log = os.path.join(conf.dir.name, "upcased.log")
        with Daemon("-c", conf.path, "--log-file", log, listen=(),
                    expect_listeners=0) as d:
            deadline = time.monotonic() + 20 * SLOW
            while not (os.path.exists(log) and "ready:" in open(log).read()):
                expect(time.monotonic() < deadline, "log file written")
                time.sleep(0.02)
            os.rename(log, log + ".1")  # what logrotate does
            d.signal(signal.SIGHUP)
            while not (os.path.exists(log) and "reloaded" in open(log).read()):
                expect(time.monotonic() < deadline, "new lines in a new file",
                       None, open(log + ".1").read()[-500:])
                time.sleep(0.02)
            expect("reloaded" not in open(log + ".1").read(),
                   "the rotated file gets nothing more")
            d.stop()
    finally:
        conf.close()


def test_sighup_without_config_only_reopens():
    with Daemon() as d:
        d.signal(signal.SIGHUP)
        d.wait_log(r" notice SIGHUP: log reopened; no config file to reload$")
        expect(exchange(d.addr) == b"ABC", "still serving")
        d.stop()


def test_notify_around_reload():
    conf = Conf("listen = 127.0.0.1:0\n")
    try:
        path = os.path.join(conf.dir.name, "notify")
        rx = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        rx.bind(path)
        rx.settimeout(20 * SLOW)
        env = dict(os.environ, NOTIFY_SOCKET=path)
        with Daemon("-c", conf.path, listen=(), expect_listeners=1,
                    env=env) as d:
            expect(rx.recv(4096).startswith(b"READY=1"), "ready")
            reload(d, conf, "listen = 127.0.0.1:0\nidle_timeout = 9\n")
            expect(rx.recv(4096) == b"RELOADING=1", "RELOADING=1 first")
            expect(rx.recv(4096).startswith(b"READY=1\nSTATUS="),
                   "READY=1 after")
            d.stop()
        rx.close()
    finally:
        conf.close()


def test_signals_handled_from_the_first_line():
    # A script that signals as soon as it sees 'listening on' must never
    # kill upcased: every handled signal is set up before that line.
    for sig in (signal.SIGHUP, signal.SIGUSR1):
        with Daemon() as d:
            d.signal(sig)
            expect(exchange(d.addr) == b"ABC", "alive after %s" % sig.name)
            d.stop()


if __name__ == "__main__":
    run_tests([
        test_reload_each_key,
        test_bad_reload_keeps_everything,
        test_fixed_keys_kept_with_a_warning,
        test_listener_added_and_removed,
        test_udp_listener_over_threads_added_and_removed,
        test_log_file_reopened,
        test_sighup_without_config_only_reopens,
        test_notify_around_reload,
        test_signals_handled_from_the_first_line,
    ])
