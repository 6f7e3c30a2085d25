#!/usr/bin/env python3
"""Integration: the upcase client against the real upcased, and against
servers in this file that misbehave on purpose: pipe mode byte for byte
(pipes, files, terminals), -m, unix and udp, timeouts, refusals, a server
that closes early, a reader that goes away, bounded memory."""
import os
import pty
import random
import select
import signal
import socket
import subprocess
import tempfile
import threading
import time

from itlib import (Daemon, TestFailure, UPCASE, SLOW, bupper, expect,
                   full_accept_queue, run_tests)

# src/common/exitcodes.h
EXIT_IO, EXIT_USAGE, EXIT_CONNECT, EXIT_TIMEOUT = 1, 2, 3, 4


def upcase(*args, input=None, stdin=subprocess.DEVNULL, timeout=60):
    """Run the client to its end: (status, stdout, stderr, seconds)."""
    start = time.monotonic()
    try:
        r = subprocess.run([UPCASE] + list(args), input=input,
                           stdin=None if input is not None else stdin,
                           capture_output=True, timeout=timeout * SLOW)
    except subprocess.TimeoutExpired:
        raise TestFailure("upcase %s did not exit within %.0f s"
                          % (" ".join(args), timeout * SLOW))
    return r.returncode, r.stdout, r.stderr, time.monotonic() - start


def start(*args, **kw):
    return subprocess.Popen([UPCASE] + list(args), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, **kw)


def read_exactly(fd, n, timeout=10):
    """n bytes from fd, or fail after the deadline with what came."""
    buf = b""
    deadline = time.monotonic() + timeout * SLOW
    while len(buf) < n:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            raise TestFailure("wanted %d bytes within %.0f s, got %r"
                              % (n, timeout * SLOW, buf))
        chunk = os.read(fd, n - len(buf))
        if not chunk:
            raise TestFailure("EOF after %r, wanted %d bytes" % (buf, n))
        buf += chunk
    return buf


def wait_exit(proc, timeout=10):
    try:
        rc = proc.wait(timeout=timeout * SLOW)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise TestFailure("upcase did not exit within %.0f s" % (timeout * SLOW))
    return rc, proc.stdout.read(), proc.stderr.read()


def free_port(kind=socket.SOCK_STREAM):
    """A loopback port with nothing bound to it (for a moment)."""
    s = socket.socket(socket.AF_INET, kind)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Silent:
    """A server that takes what it is sent and never answers: tcp accepts
    and reads until EOF (then closes only if close_on_read), udp leaves
    datagrams unread."""

    def __init__(self, kind=socket.SOCK_STREAM, close_on_read=False):
        self.sock = socket.socket(socket.AF_INET, kind)
        self.sock.bind(("127.0.0.1", 0))
        port = self.sock.getsockname()[1]
        self.conns = []
        self.close_on_read = close_on_read
        if kind == socket.SOCK_DGRAM:
            self.addr = "udp:127.0.0.1:%d" % port
            return
        self.addr = "127.0.0.1:%d" % port
        self.sock.listen(16)
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(c)
            threading.Thread(target=self._drain, args=(c,), daemon=True).start()

    def _drain(self, c):
        try:
            while c.recv(65536):
                if self.close_on_read:
                    c.close()
                    return
        except OSError:
            pass

    def close(self):
        self.sock.close()
        for c in self.conns:
            c.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def expect_ok(rc, out, err, want, what):
    expect(rc == 0, what + ": exit status (stderr %r)" % err, 0, rc)
    expect(out == want, what + ": output", want, out)
    expect(err == b"", what + ": stderr", b"", err)


def test_echo_hello():
    # The example, through a real shell pipeline.
    with Daemon() as d:
        r = subprocess.run('echo hello | "$UPCASE" ' + d.addr, shell=True,
                           capture_output=True, timeout=30 * SLOW,
                           env=dict(os.environ, UPCASE=UPCASE))
        expect_ok(r.returncode, r.stdout, r.stderr, b"HELLO\n", "echo hello")
        d.stop()


def test_binary_5mb_pipe():
    data = random.Random(5).randbytes(5 << 20)
    with Daemon() as d:
        rc, out, err, _ = upcase(d.addr, input=data)
        expect_ok(rc, out, err, bupper(data), "5 MB through a pipe")
        d.stop()


def test_binary_file_stdin():
    # A regular file cannot be polled (epoll refuses it): another path.
    data = random.Random(6).randbytes(5 << 20)
    with Daemon() as d, tempfile.TemporaryFile() as f:
        f.write(data)
        f.seek(0)
        rc, out, err, _ = upcase(d.addr, stdin=f)
        expect_ok(rc, out, err, bupper(data), "5 MB from a file")
        with open(os.devnull, "rb") as null:
            rc, out, err, _ = upcase(d.addr, stdin=null)
        expect_ok(rc, out, err, b"", "stdin /dev/null")
        d.stop()


def test_empty_lines_answered_at_once():
    # Each line, empty ones too, is answered while stdin is still open:
    # nothing waits for more input as the seed's empty send() did.
    with Daemon() as d:
        p = start(d.addr, stdin=subprocess.PIPE)
        fd = p.stdout.fileno()
        for line in (b"\n", b"\n", b"abc\n", b"\n", b"x\x00y\n"):
            p.stdin.write(line)
            p.stdin.flush()
            got = read_exactly(fd, len(line))
            expect(got == bupper(line), "reply to %r" % line, bupper(line), got)
        p.stdin.close()
        rc, out, err = wait_exit(p)
        expect_ok(rc, out, err, b"", "after stdin closed")
        d.stop()


def test_terminal():
    # On a terminal, line by line; ^D at the start of a line ends input.
    with Daemon() as d:
        master, slave = pty.openpty()
        p = start(d.addr, stdin=slave)
        os.close(slave)
        try:
            fd = p.stdout.fileno()
            os.write(master, b"hello\n")
            got = read_exactly(fd, 6)
            expect(got == b"HELLO\n", "terminal line", b"HELLO\n", got)
            os.write(master, b"\n")
            got = read_exactly(fd, 1)
            expect(got == b"\n", "terminal empty line", b"\n", got)
            os.write(master, b"\x04")
            rc, out, err = wait_exit(p)
            expect_ok(rc, out, err, b"", "terminal ^D")
        finally:
            os.close(master)
        d.stop()


def test_message():
    with Daemon() as d:
        rc, out, err, _ = upcase("-m", "hello", d.addr)
        expect_ok(rc, out, err, b"HELLO\n", "-m hello")
        # A reply that ends with a newline gets no second one.
        rc, out, err, _ = upcase(d.addr, "--message", "Mixed Case 42\n")
        expect_ok(rc, out, err, b"MIXED CASE 42\n", "-m with newline")
        big = "abc" * 40000
        rc, out, err, _ = upcase("-m", big, d.addr)
        expect_ok(rc, out, err, big.upper().encode() + b"\n", "-m 120 kB")
        d.stop()
    rc, out, err, secs = upcase("-m", "", "127.0.0.1:%d" % free_port())
    expect(rc == EXIT_USAGE and b"non-empty" in err, "-m '' is refused",
           (EXIT_USAGE, "non-empty"), (rc, err))


def test_unix():
    data = random.Random(7).randbytes(1 << 20)
    with tempfile.TemporaryDirectory() as tmp:
        path = "unix:" + os.path.join(tmp, "u.sock")
        with Daemon(listen=(path,)) as d:
            rc, out, err, _ = upcase(d.addr, input=data)
            expect_ok(rc, out, err, bupper(data), "1 MB over unix")
            rc, out, err, _ = upcase("-m", "unix", d.addr)
            expect_ok(rc, out, err, b"UNIX\n", "-m over unix")
            d.stop()
        gone = "unix:" + os.path.join(tmp, "nobody.sock")
        rc, out, err, secs = upcase("-m", "x", gone)
        want = b"upcase: %s: no such file or directory\n" % gone.encode()
        expect(rc == EXIT_CONNECT and err == want, "missing unix socket",
               (EXIT_CONNECT, want), (rc, err))


def test_udp():
    with Daemon(listen=("udp:127.0.0.1:0",)) as d:
        lines = b"one\n\ntwo\n" + b"x" * 60000 + b"\nthree"
        rc, out, err, _ = upcase(d.addr, input=lines)
        expect_ok(rc, out, err, bupper(lines), "udp lines")
        rc, out, err, _ = upcase("-m", "dgram", d.addr)
        expect_ok(rc, out, err, b"DGRAM\n", "udp -m")
        rc, out, err, _ = upcase(d.addr, input=b"y" * 70000 + b"\n")
        expect(rc == EXIT_IO and b"does not fit in one datagram" in err,
               "udp line too long", (EXIT_IO, "does not fit"), (rc, err))
        # The largest datagram, as a last line without a newline and as
        # a line with one; one byte more is refused either way.
        for line in (b"z" * 65507, b"z" * 65506 + b"\n",
                     b"a\n" + b"z" * 65507):
            rc, out, err, _ = upcase(d.addr, input=line)
            expect_ok(rc, out, err, bupper(line), "udp input %r"
                      % (line[:4] + b"..." + line[-2:]))
        for line in (b"z" * 65507 + b"\n", b"z" * 65508):
            rc, out, err, _ = upcase(d.addr, input=line)
            expect(rc == EXIT_IO and b"does not fit in one datagram" in err,
                   "udp line of %d bytes refused" % len(line),
                   (EXIT_IO, "does not fit"), (rc, err))
        d.stop()


def test_reply_timeout():
    with Silent() as s:
        for args, inp in ((("-t", "0.5"), b"hello\n"),
                          (("-t", "0.5", "-m", "hello"), None)):
            rc, out, err, secs = upcase(*args, s.addr, input=inp)
            want = b"upcase: %s: timed out after 0.5 s\n" % s.addr.encode()
            expect(rc == EXIT_TIMEOUT and err == want, "%s: status, message"
                   % " ".join(args), (EXIT_TIMEOUT, want), (rc, err))
            expect(0.5 <= secs < 10 * SLOW, "%s: seconds taken"
                   % " ".join(args), "0.5 to %d" % (10 * SLOW), secs)
    with Silent(socket.SOCK_DGRAM) as s:
        rc, out, err, secs = upcase("-t", "0.3", "-m", "x", s.addr)
        expect(rc == EXIT_TIMEOUT and b"timed out after 0.3 s" in err,
               "udp timeout", EXIT_TIMEOUT, (rc, err))
        expect(0.3 <= secs < 10 * SLOW, "udp timeout: seconds taken",
               "0.3 to %d" % (10 * SLOW), secs)


def test_timeout_only_while_a_reply_is_owed():
    # Idle between lines is not a timeout: -t counts only while the
    # server owes us a reply.
    with Daemon() as d:
        p = start("-t", "0.3", d.addr, stdin=subprocess.PIPE)
        fd = p.stdout.fileno()
        p.stdin.write(b"a\n")
        p.stdin.flush()
        expect(read_exactly(fd, 2) == b"A\n", "first reply")
        time.sleep(1.0)  # idle for three times -t with nothing owed
        expect(p.poll() is None, "still running after idling", None, p.poll())
        p.stdin.write(b"b\n")
        p.stdin.flush()
        expect(read_exactly(fd, 2) == b"B\n", "reply after idling")
        p.stdin.close()
        rc, out, err = wait_exit(p)
        expect_ok(rc, out, err, b"", "end")
        d.stop()


def test_slow_reader_is_not_a_timeout():
    # While stdout does not drain, the socket is not read and -t does not
    # run: the wait is ours, not the server's.
    data = random.Random(9).randbytes(4 << 20)
    with Daemon() as d:
        p = start("-t", "0.3", d.addr, stdin=subprocess.PIPE)
        feeder = threading.Thread(target=lambda: (p.stdin.write(data),
                                                  p.stdin.close()))
        feeder.start()
        time.sleep(1.0)  # a reader three times slower than -t
        out = p.stdout.read()
        feeder.join()
        rc, _, err = wait_exit(p)
        expect_ok(rc, out, err, bupper(data), "4 MB to a slow reader")
        d.stop()


def test_connect_timeout():
    with full_accept_queue() as full:
        if full is None:
            print("# skip: this kernel never leaves a loopback connect hanging")
            return
        addr = full[0]
        rc, out, err, secs = upcase("--connect-timeout", "0.5", "-m", "x", addr)
        want = b"upcase: %s: connect timed out after 0.5 s\n" % addr.encode()
        expect(rc == EXIT_TIMEOUT and err == want, "connect timeout",
               (EXIT_TIMEOUT, want), (rc, err))
        expect(0.5 <= secs < 10 * SLOW, "connect timeout: seconds taken",
               "0.5 to %d" % (10 * SLOW), secs)


def test_refused():
    for kind, prefix in ((socket.SOCK_STREAM, ""), (socket.SOCK_DGRAM, "udp:")):
        addr = "%s127.0.0.1:%d" % (prefix, free_port(kind))
        for args in ((addr,), ("-m", "hello", addr)):
            rc, out, err, secs = upcase(*args, input=b"hello\n")
            want = b"upcase: %s: connection refused\n" % addr.encode()
            expect(rc == EXIT_CONNECT and err == want and out == b"",
                   "refused: upcase %s" % " ".join(args),
                   (EXIT_CONNECT, want), (rc, err))
            expect(secs < 5 * SLOW, "refused fast", "< %d s" % (5 * SLOW), secs)


def test_server_closes_early():
    # The daemon's idle timeout ends a session whose stdin is still open.
    with Daemon("--idle-timeout", "0.3") as d:
        p = start(d.addr, stdin=subprocess.PIPE)
        rc, out, err = wait_exit(p)
        want = b"upcase: %s: connection closed by the server\n" % d.addr.encode()
        expect(rc == EXIT_CONNECT and err == want, "closed by the server",
               (EXIT_CONNECT, want), (rc, err))
        p.stdin.close()
        d.stop()
    with Silent(close_on_read=True) as s:
        rc, out, err, _ = upcase("-m", "hello", s.addr)
        want = (b"upcase: %s: connection closed after 0 of 5 reply bytes\n"
                % s.addr.encode())
        expect(rc == EXIT_CONNECT and err == want, "-m, no reply",
               (EXIT_CONNECT, want), (rc, err))


def test_stdout_reader_goes_away():
    # upcase < big | head -c 10: quiet, non-zero, and at once.
    data = random.Random(8).randbytes(5 << 20)
    with Daemon() as d, tempfile.TemporaryFile() as f:
        f.write(data)
        f.seek(0)
        p = start(d.addr, stdin=f)
        got = read_exactly(p.stdout.fileno(), 10)
        expect(got == bupper(data[:10]), "first bytes", bupper(data[:10]), got)
        p.stdout.close()
        try:
            rc = p.wait(timeout=10 * SLOW)
        except subprocess.TimeoutExpired:
            p.kill()
            raise TestFailure("upcase kept running after stdout closed")
        err = p.stderr.read()
        expect(rc == EXIT_IO and err == b"", "stdout closed: status, stderr",
               (EXIT_IO, b""), (rc, err))
        d.stop()


def peak_kib(pid):
    """VmHWM: the peak RSS since exec (wait4's ru_maxrss would count the
    test's own memory, shared by the child before its exec)."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def test_bounded_memory():
    # 96 MB from a file, which reads far faster than the socket drains:
    # only the watermarks keep the client from holding all of it.
    size = 96 << 20
    with Daemon() as d, tempfile.TemporaryFile() as f:
        f.truncate(size)  # sparse: zeros, no disk
        # ASan holds freed memory in quarantine (256 MB): not ours to count.
        asan = os.environ.get("ASAN_OPTIONS", "")
        env = dict(os.environ, ASAN_OPTIONS=(asan + ":" if asan else "")
                   + "quarantine_size_mb=1")
        p = start(d.addr, stdin=f, env=env)
        # The read loop below waits for EOF: a client that stalls is
        # killed at the deadline and fails on its exit status.
        watchdog = threading.Timer(120 * SLOW, p.kill)
        watchdog.start()
        total, nonzero, peak = 0, 0, 0
        try:
            while True:
                chunk = p.stdout.read1(1 << 20)
                if not chunk:
                    break
                total += len(chunk)
                nonzero += len(chunk) - chunk.count(0)
                peak = max(peak, peak_kib(p.pid))
        finally:
            watchdog.cancel()
        rc, _, err = wait_exit(p)
        expect(rc != -signal.SIGKILL, "client done before the deadline",
               "exit", "stalled, killed after %d s" % (120 * SLOW))
        expect(rc == 0 and total == size and nonzero == 0,
               "96 MB of zeros through", (0, size, 0), (rc, total, nonzero, err))
        expect(0 < peak < 32 * 1024, "client peak RSS (KiB)", "< 32768", peak)
        d.stop()


def test_usage():
    for args, says in ((("nowhere",), b"invalid address 'nowhere'"),
                       (("-t", "0", "127.0.0.1:1"), b"-t: timeout must be"),
                       (("--bogus",), b"unknown option '--bogus'")):
        rc, out, err, _ = upcase(*args)
        expect(rc == EXIT_USAGE and says in err, "upcase %s" % " ".join(args),
               (EXIT_USAGE, says), (rc, err))
    rc, out, err, _ = upcase("--help")
    expect(rc == 0 and b"Exit status" in out, "--help", 0, (rc, out))


if __name__ == "__main__":
    run_tests([test_echo_hello, test_binary_5mb_pipe, test_binary_file_stdin,
               test_empty_lines_answered_at_once, test_terminal, test_message,
               test_unix, test_udp, test_reply_timeout,
               test_timeout_only_while_a_reply_is_owed,
               test_slow_reader_is_not_a_timeout, test_connect_timeout,
               test_refused, test_server_closes_early,
               test_stdout_reader_goes_away, test_bounded_memory, test_usage])
