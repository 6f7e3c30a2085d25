"""itlib: start the real upcased (and upcase) for integration tests.

Tests wait on events -- a log line, a reply, a close -- with generous
deadlines; nothing sleeps as an assertion.  Set UPCASED_WRAPPER (for
example "valgrind --error-exitcode=99 --leak-check=full") to run the daemon
under a tool; deadlines stretch by SLOW (default 1, 10 under valgrind).
"""
import contextlib
import os
import queue
import re
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
UPCASED = os.environ.get("UPCASED", os.path.join(HERE, "..", "src", "upcased"))
UPCASE = os.environ.get("UPCASE", os.path.join(HERE, "..", "src", "upcase"))
WRAPPER = shlex.split(os.environ.get("UPCASED_WRAPPER", ""))
SLOW = float(os.environ.get("SLOW", "10" if WRAPPER else "1"))


def _sanitized(path):
    try:
        with open(path, "rb") as f:
            return b"__asan_init" in f.read()
    except OSError:
        return False


# RSS measures the tool, not upcased, under valgrind or ASan (shadow
# memory, quarantine): memory bounds are asserted only in a plain build.
RSS_MEANINGFUL = not WRAPPER and not _sanitized(UPCASED)
LISTEN_RE = re.compile(r" notice listening on (\S+)$")
TOOL_LINE_RE = re.compile(r"==\d+== ")


class TestFailure(Exception):
    pass


def expect(cond, what, expected=None, got=None):
    """Fail with what was expected and what was got."""
    if not cond:
        msg = what
        if expected is not None or got is not None:
            msg += "\n  expected: %r\n  got:      %r" % (_short(expected), _short(got))
        raise TestFailure(msg)


def _short(v):
    if isinstance(v, (bytes, str)) and len(v) > 200:
        return v[:100] + (b"..." if isinstance(v, bytes) else "...") + v[-100:]
    return v


def bupper(data):
    """The reference transform: ASCII a-z only, every other byte as is."""
    return data.translate(_TABLE)


_TABLE = bytes(c - 32 if 97 <= c <= 122 else c for c in range(256))


def parse_addr(text):
    """'127.0.0.1:5' -> (AF_INET, SOCK_STREAM, ('127.0.0.1', 5)), etc."""
    kind = socket.SOCK_STREAM
    if text.startswith("unix:"):
        return socket.AF_UNIX, kind, text[5:]
    if text.startswith("udp:"):
        kind = socket.SOCK_DGRAM
        text = text[4:]
    host, port = text.rsplit(":", 1)
    if host.startswith("["):
        return socket.AF_INET6, kind, (host[1:-1], int(port))
    if host == "*":
        return socket.AF_INET, kind, ("127.0.0.1", int(port))
    return socket.AF_INET, kind, (host, int(port))


def connect(addr, timeout=10, rcvbuf=None):
    """A client socket; rcvbuf sets SO_RCVBUF before connecting (a small
    one keeps replies out of the kernel and queued in upcased)."""
    fam, kind, sa = parse_addr(addr)
    s = socket.socket(fam, kind)
    if rcvbuf is not None:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.settimeout(timeout * SLOW)
    s.connect(sa)
    return s


def recv_exactly(s, n, timeout=10):
    s.settimeout(timeout * SLOW)
    buf = bytearray()
    while len(buf) < n:
        chunk = s.recv(min(1 << 20, n - len(buf)))
        if not chunk:
            break
        buf += chunk
    return bytes(buf)


def exchange(addr, data=b"abc"):
    """One connection: send data, return as many bytes of reply."""
    s = connect(addr)
    s.sendall(data)
    got = recv_exactly(s, len(data))
    s.close()
    return got


def pid_alive(pid):
    """Whether pid is a live process (a zombie is not)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split()[2] != "Z"
    except FileNotFoundError:
        return False


def wait_gone(pid, what, timeout=20):
    """Wait until process pid (not our child) has exited."""
    deadline = time.monotonic() + timeout * SLOW
    while pid_alive(pid):
        expect(time.monotonic() < deadline, what)
        time.sleep(0.02)  # a stranger's exit has no event to wait on


def wait_until(probe, cond, what, timeout=20, pause=0.02, show=repr):
    """Call probe() until cond(its result) holds; return that result.
    For state with no event to wait on (counters, a stranger's
    sockets): poll, gently; fail after timeout, showing the last."""
    deadline = time.monotonic() + timeout * SLOW
    while True:
        got = probe()
        if cond(got):
            return got
        if time.monotonic() > deadline:
            raise TestFailure("%s: not within %.0f s; last: %s" %
                              (what, timeout * SLOW, show(got)))
        time.sleep(pause)


def wait_stats(d, cond, what, timeout=20):
    """Poll upcased's stats line (SIGUSR1) until cond(stats) holds."""
    return wait_until(d.stats, cond, what, timeout)


def stop_gone(pid, what, timeout=20):
    """SIGTERM process pid (not our child: a restart's successor) and
    wait until it has exited."""
    os.kill(pid, signal.SIGTERM)
    wait_gone(pid, what, timeout)


def kill_leftover(pid):
    """At a test's end: SIGKILL process pid (not our child) if a failure
    left it running; None is nothing."""
    if pid is not None and pid_alive(pid):
        os.kill(pid, signal.SIGKILL)


def recv_until_eof(s, timeout=10):
    s.settimeout(timeout * SLOW)
    buf = bytearray()
    while True:
        chunk = s.recv(1 << 20)
        if not chunk:
            return bytes(buf)
        buf += chunk


@contextlib.contextmanager
def full_accept_queue():
    """A listener on 127.0.0.1 whose accept queue is full, so that it drops
    new SYNs and connects to it hang, as towards a host that does not
    answer.  Yields (addr, listener), or None where this kernel never
    leaves a loopback connect hanging."""
    ls = socket.socket()
    ls.bind(("127.0.0.1", 0))
    ls.listen(0)
    held, hangs = [], False
    try:
        for _ in range(16):
            c = socket.socket()
            c.settimeout(0.5)
            try:
                c.connect(ls.getsockname())
                held.append(c)
            except socket.timeout:
                c.close()
                hangs = True
                break
        yield ("127.0.0.1:%d" % ls.getsockname()[1], ls) if hangs else None
    finally:
        for c in held:
            c.close()
        ls.close()


def flood_until_stalled(s, chunk=b"flood" * 13107, quiet=0.5, limit=30):
    """Send without reading until sending has been blocked for `quiet`
    seconds: then every kernel buffer on the way is full and the server
    has stopped reading this client (its replies are pending).  Returns
    the bytes sent."""
    s.setblocking(False)
    sent, stalled_since = 0, None
    deadline = time.monotonic() + limit * SLOW
    while time.monotonic() < deadline:
        try:
            sent += s.send(chunk)
            stalled_since = None
        except BlockingIOError:
            stalled_since = stalled_since or time.monotonic()
            if time.monotonic() - stalled_since > quiet:
                return sent
            time.sleep(0.01)
    raise TestFailure("sending never stalled: the server kept reading "
                      "a client that does not read (%d bytes sent)" % sent)


class Daemon:
    """The real upcased on port 0; addrs are the 'listening on' addresses."""

    def __init__(self, *args, listen=("127.0.0.1:0",), preexec_fn=None,
                 expect_listeners=None, cwd=None, env=None, pass_fds=(),
                 prefix=()):
        # prefix: a command that execs the rest in place (ip netns exec
        # NS, env VAR=...), so that proc.pid is still upcased's.
        cmd = list(prefix) + WRAPPER + [UPCASED]
        for a in listen:
            cmd += ["-l", a]
        cmd += list(args)
        self.cmd = cmd
        self.lines = []
        self._grew = threading.Condition()  # notified at each new line
        self._q = queue.Queue()
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE,
                                     preexec_fn=preexec_fn, cwd=cwd, env=env,
                                     pass_fds=pass_fds)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        n = len(listen) if expect_listeners is None else expect_listeners
        self.addrs = []
        for _ in range(n):
            m = self.wait_log(LISTEN_RE, timeout=20)
            self.addrs.append(m.group(1))
        self.addr = self.addrs[0] if self.addrs else None

    def _read(self):
        for raw in self.proc.stderr:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            with self._grew:
                self.lines.append(line)
                self._grew.notify_all()
            self._q.put(line)
            if os.environ.get("IT_VERBOSE"):
                sys.stderr.write("  upcased| %s\n" % line)
        self._q.put(None)

    def wait_log(self, pattern, timeout=10):
        """Wait for a new stderr line matching pattern; return the match."""
        rx = re.compile(pattern) if isinstance(pattern, str) else pattern
        deadline = time.monotonic() + timeout * SLOW
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TestFailure("no log line matching %r within %.0f s; "
                                  "log so far:\n%s" % (rx.pattern, timeout * SLOW,
                                                       "\n".join(self.lines[-30:])))
            try:
                line = self._q.get(timeout=left)
            except queue.Empty:
                continue
            if line is None:
                self._q.put(None)
                raise TestFailure("upcased exited (status %s) before logging "
                                  "%r; log:\n%s" % (self.proc.wait(), rx.pattern,
                                                    "\n".join(self.lines[-30:])))
            m = rx.search(line)
            if m:
                return m

    def wait_lines(self, cond, what, timeout=20):
        """Wait until cond(every line logged so far) holds; return its
        result.  Unlike wait_log, which reads only new lines (and which
        stats() moves past), this sees the whole log."""
        with self._grew:
            got = self._grew.wait_for(lambda: cond(self.lines),
                                      timeout * SLOW)
        if not got:
            raise TestFailure("%s: not within %.0f s; log:\n%s" % (
                what, timeout * SLOW, "\n".join(self.lines[-20:])))
        return got

    def signal(self, sig):
        self.proc.send_signal(sig)

    def wait(self, timeout=20):
        try:
            rc = self.proc.wait(timeout=timeout * SLOW)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise TestFailure("upcased did not exit within %.0f s" % (timeout * SLOW))
        self._reader.join(5)
        return rc

    def stop(self, timeout=20):
        """SIGTERM and expect a clean exit (status 0; valgrind's 99 fails,
        and its report is shown)."""
        if self.proc.poll() is None:
            self.signal(signal.SIGTERM)
        rc = self.wait(timeout)
        expect(rc == 0, "upcased exit status after SIGTERM" +
               self.tool_report(), 0, rc)
        return rc

    def tool_report(self):
        """What a wrapper (valgrind: '==PID== ...' lines) said, if anything."""
        said = [l for l in self.lines if TOOL_LINE_RE.match(l)]
        return ("; %s said:\n%s" % (" ".join(WRAPPER) or "a tool",
                                      "\n".join(said[-80:]))
                if said else "")

    def stats(self):
        """Ask upcased for its counters (SIGUSR1); parse the stats line."""
        self.signal(signal.SIGUSR1)
        m = self.wait_log(r" stats (conns_now=.*)$")
        return {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", m.group(1))}

    def wait_bytes_in(self, at_least):
        """Wait until upcased has read at_least bytes; return how many."""
        return wait_stats(self, lambda st: st["bytes_in"] >= at_least,
                          "server read %d bytes" % at_least)["bytes_in"]

    def cpu_seconds(self):
        """User plus system CPU time upcased has used so far."""
        with open("/proc/%d/stat" % self.proc.pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def expect_idle(self, seconds=1.0, what="CPU while idle"):
        """Fail if upcased uses half a core or more over the next
        `seconds`: with nothing to do, it must sleep, not spin."""
        cpu0, t0 = self.cpu_seconds(), time.monotonic()
        time.sleep(seconds)
        cpu, wall = self.cpu_seconds() - cpu0, time.monotonic() - t0
        expect(cpu < 0.5 * wall, what, "well under one core",
               "%.2f s CPU in %.2f s" % (cpu, wall))

    def nfds(self):
        """Descriptors upcased holds now (listeners, loops, connections)."""
        return len(os.listdir("/proc/%d/fd" % self.proc.pid))

    def rss_kib(self):
        with open("/proc/%d/status" % self.proc.pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        """Stop upcased the way an operator does, SIGTERM, and wait for it
        (bounded), so that under valgrind every test ends with the leak
        check.  A test that already failed keeps its own failure, and a
        daemon that does not exit in time is killed."""
        if self.proc.poll() is not None:
            return False
        if exc_type is None:
            self.stop()  # a status other than 0 fails the test
            return False
        self.signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=5 * SLOW)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        return False


def run_tests(tests):
    """Run each test function; print ok/not ok; exit 1 if any failed."""
    failed = 0
    only = os.environ.get("IT_ONLY")
    for t in tests:
        if only and only not in t.__name__:
            continue
        start = time.monotonic()
        try:
            t()
            print("ok - %s (%.2fs)" % (t.__name__, time.monotonic() - start))
        except Exception as e:  # report and continue with the next test
            failed += 1
            print("not ok - %s: %s: %s" % (t.__name__, type(e).__name__, e))
        sys.stdout.flush()
    print("%d passed, %d failed" % (len(tests) - failed, failed))
    sys.exit(1 if failed else 0)
