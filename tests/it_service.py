#!/usr/bin/env python3
"""it_service: upcased as a service: log targets (a file, the journal's
priority prefixes, syslog), relative paths taken from the start-up directory,
-d and its verdict, the pidfile's lock, --user, the service manager's
notifications, and socket activation (from Python and from systemd's
systemd-socket-activate)."""
import os
import pwd
import re
import shutil
import socket
import signal
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from itlib import (Daemon, UPCASED, SLOW, connect, expect,  # noqa: E402
                   kill_leftover, pid_alive, recv_exactly, run_tests)
from edgelib import udp_sockets  # noqa: E402


def wait_file_line(path, pattern, timeout=20):
    """Wait until a line of the file matches; return the match.  Nothing
    announces a write to a file, so poll it, gently, under a deadline."""
    rx = re.compile(pattern)
    deadline = time.monotonic() + timeout * SLOW
    text = ""
    while time.monotonic() < deadline:
        try:
            with open(path, errors="replace") as f:
                text = f.read()
        except FileNotFoundError:
            text = ""
        for line in text.splitlines():
            m = rx.search(line)
            if m:
                return m
        time.sleep(0.02)
    raise AssertionError("no line matching %r in %s within %.0f s; it holds:"
                         "\n%s" % (pattern, path, timeout * SLOW, text[-2000:]))


def test_log_file_gets_the_lines():
    with tempfile.TemporaryDirectory() as d:
        log = os.path.join(d, "upcased.log")
        p = subprocess.Popen([UPCASED, "-l", "127.0.0.1:0", "--log-file", log],
                             stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
        try:
            m = wait_file_line(log, r"Z notice listening on (\S+)$")
            s = connect(m.group(1))
            s.sendall(b"to a file")
            expect(recv_exactly(s, 9) == b"TO A FILE", "served")
            s.close()
            mode = os.stat(log).st_mode & 0o777
            expect(mode == 0o640, "log file created 0640", "0o640", oct(mode))
            p.send_signal(signal.SIGTERM)
            rc = p.wait(timeout=20 * SLOW)
            expect(rc == 0, "exit status", 0, rc)
            wait_file_line(log, r"Z notice shutdown complete$")
            err = p.stderr.read()
            expect(err == b"", "nothing on stderr with a log file", b"", err)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()


def test_log_file_that_cannot_be_opened():
    p = subprocess.run([UPCASED, "-l", "127.0.0.1:0", "--log-file",
                        "/nonexistent-dir/x.log"], capture_output=True,
                       timeout=20 * SLOW)
    err = p.stderr.decode()
    expect(p.returncode == 1 and
           "log file /nonexistent-dir/x.log: No such file or directory" in err,
           "an unopenable log file is a start-up failure naming it",
           (1, "log file ...: No such file or directory"), (p.returncode, err))


def test_relative_log_file_is_the_start_directory_s():
    with tempfile.TemporaryDirectory() as d:
        out = subprocess.run([UPCASED, "--check-config", "--log-file",
                              "rel.log", "-l", "unix:u.sock"], cwd=d,
                             capture_output=True, timeout=20 * SLOW)
        text = out.stdout.decode()
        real = os.path.realpath(d)
        expect("log_file = %s/rel.log\n" % real in text and
               "listen = unix:%s/u.sock\n" % real in text,
               "relative paths made absolute against the start directory",
               real, text)


def test_journal_gets_priority_prefixes():
    # JOURNAL_STREAM names the stream systemd connected; only a stderr that
    # really is that stream gets the "<N>" prefixes journald reads.
    r, w = os.pipe()
    st = os.fstat(w)
    env = dict(os.environ, JOURNAL_STREAM="%d:%d" % (st.st_dev, st.st_ino))
    p = subprocess.Popen([UPCASED, "-l", "127.0.0.1:0", "-v"], env=env,
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=w)
    os.close(w)
    f = os.fdopen(r, "rb")
    # A daemon that never logs must not hang the reads below: past the
    # deadline it is killed, and readline() sees EOF.
    watchdog = threading.Timer(30 * SLOW, p.kill)
    watchdog.start()
    try:
        line = f.readline().decode()
        m = re.match(r"<5>\S+Z notice listening on (\S+)$", line)
        expect(m is not None, "notice line with <5>", "<5>... notice "
               "listening on ADDR", line)
        s = connect(m.group(1))
        s.close()
        while " debug open " not in line:
            line = f.readline().decode()
            expect(line != "", "a debug open line", "<7>... debug open", "EOF")
        expect(line.startswith("<7>"), "debug line with <7>",
               "<7>... debug open", line)
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=20 * SLOW)
    finally:
        watchdog.cancel()
        f.close()
        if p.poll() is None:
            p.kill()
            p.wait()
    # The same variable naming another stream (stderr redirected by a
    # script): plain lines.
    env["JOURNAL_STREAM"] = "%d:%d" % (st.st_dev, st.st_ino + 1)
    with Daemon(env=env) as d:
        expect(d.lines[0].split()[1] == "notice", "no prefix", None,
               d.lines[0])
        d.stop()


def wait_gone(pid, timeout=20):
    """Wait for a process we did not start (a daemon) to end; nothing
    tells us, so look, gently, under a deadline."""
    deadline = time.monotonic() + timeout * SLOW
    while pid_alive(pid):
        expect(time.monotonic() < deadline, "pid %d exits" % pid)
        time.sleep(0.02)


def read_pid(path):
    with open(path) as f:
        return int(f.read().strip())


# glibc's syslog(3) writes to /dev/log, a fixed path.  A private mount
# namespace gives upcased a /dev of our own, holding /dev/null and our
# receiving socket as /dev/log, so nothing on the machine is touched.
SYSLOG_NS = ('mount --bind /dev/null "$1/null" && mount --rbind "$1" /dev '
             '&& shift && exec "$@"')
SYSLOG_RE = re.compile(r"^<(\d+)>(\w{3} [ \d]\d \d\d:\d\d:\d\d) "
                       r"upcased\[(\d+)\]: (.*)$")
LOG_DAEMON = 3 << 3


class SyslogReceiver:
    """A /dev/log of our own: upcased's syslog(3) datagrams, parsed."""

    def __init__(self, d):
        self.dev = os.path.join(d, "dev")
        os.mkdir(self.dev)
        open(os.path.join(self.dev, "null"), "w").close()
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(os.path.join(self.dev, "log"))
        self.messages = []

    def prefix(self):
        return ["unshare", "--mount", "--propagation", "private", "sh", "-c",
                SYSLOG_NS, "sh", self.dev]

    def wait(self, pattern, timeout=20):
        """The next message whose text matches: (priority, pid, match)."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout * SLOW
        while True:
            left = deadline - time.monotonic()
            expect(left > 0, "a syslog message matching %r; got:\n%s" %
                   (pattern, "\n".join(self.messages[-20:])))
            self.sock.settimeout(left)
            try:
                raw = self.sock.recv(4096).decode("utf-8", "replace")
            except socket.timeout:
                continue
            self.messages.append(raw)
            m = SYSLOG_RE.match(raw.rstrip("\n"))
            expect(m is not None, "syslog(3)'s format: <PRI>TIMESTAMP "
                   "upcased[PID]: MESSAGE", None, raw)
            found = rx.search(m.group(4))
            if found:
                return int(m.group(1)), int(m.group(3)), found

    def close(self):
        self.sock.close()


def syslog_usable():
    """unshare(1) and a mount namespace: root, util-linux."""
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        return False
    return subprocess.run(["unshare", "--mount", "true"],
                          capture_output=True).returncode == 0


def test_log_file_syslog():
    """log_file = syslog: facility daemon, our levels as syslog's
    priorities, the message without a timestamp of ours, the pid in the
    tag; warnings and errors still reach stderr."""
    if not syslog_usable():
        print("# skip: needs root and unshare(1) for a private /dev/log")
        return
    with tempfile.TemporaryDirectory() as d:
        rx = SyslogReceiver(d)
        p = subprocess.Popen(rx.prefix() + [
            UPCASED, "-l", "127.0.0.1:0", "--log-file", "syslog",
            "--log-level", "debug", "--max-conns", "1"],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE)
        try:
            pri, pid, m = rx.wait(r"^listening on (\S+)$")
            expect(pri == LOG_DAEMON | 5, "notice is daemon.notice",
                   LOG_DAEMON | 5, pri)
            expect(pid == p.pid, "the tag carries upcased's pid", p.pid, pid)
            s = connect(m.group(1))
            s.sendall(b"to syslog")
            expect(recv_exactly(s, 9) == b"TO SYSLOG", "served")
            # Both were logged before the reply left: accepting the client
            # paused accepts (notice), its worker logged it (debug).
            pri, _, _ = rx.wait(r"^max_conns \(1\) reached: pausing accepts$")
            expect(pri == LOG_DAEMON | 5, "notice is daemon.notice",
                   LOG_DAEMON | 5, pri)
            opened = [t for t in rx.messages if re.search(r"\]: open 127", t)]
            expect(opened and opened[0].startswith("<%d>" % (LOG_DAEMON | 7)),
                   "the debug line, as daemon.debug", LOG_DAEMON | 7, opened)
            s.close()
            p.send_signal(signal.SIGUSR1)
            pri, _, m = rx.wait(r"^stats (.*)$")
            expect(pri == LOG_DAEMON | 5, "stats is daemon.notice",
                   LOG_DAEMON | 5, pri)
            expect(not re.match(r"\d{4}-\d\d-\d\dT", m.group(1)),
                   "no timestamp of ours in the message")
            p.send_signal(signal.SIGTERM)
            rx.wait(r"^shutdown complete$")
            rc = p.wait(timeout=20 * SLOW)
            expect(rc == 0, "exit status", 0, rc)
            err = p.stderr.read().decode()
            expect("listening on" not in err, "info and notice go to syslog "
                   "only", "", err)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
            p.stdout.close()
            p.stderr.close()
            rx.close()


def test_daemon_mode_logs_to_syslog():
    """-d with log_file still stderr would log to /dev/null: it logs to
    syslog instead, and says so once."""
    if not syslog_usable():
        print("# skip: needs root and unshare(1) for a private /dev/log")
        return
    with tempfile.TemporaryDirectory() as d:
        rx = SyslogReceiver(d)
        pidf = os.path.join(d, "u.pid")
        p = subprocess.run(rx.prefix() + [UPCASED, "-d", "-l", "127.0.0.1:0",
                                          "--pidfile", pidf],
                           capture_output=True, timeout=20 * SLOW)
        pid = None
        try:
            expect(p.returncode == 0, "-d parent exit status", 0,
                   (p.returncode, p.stderr))
            pid = read_pid(pidf)
            rx.wait(r"^logging to syslog")
            _, tagged, m = rx.wait(r"^listening on (\S+)$")
            expect(tagged == pid, "the daemon's pid in the tag", pid, tagged)
            s = connect(m.group(1))
            s.sendall(b"daemon")
            expect(recv_exactly(s, 6) == b"DAEMON", "served")
            s.close()
            said = [t for t in rx.messages if "logging to syslog" in t]
            expect(len(said) == 1, "said once", 1, len(said))
            os.kill(pid, signal.SIGTERM)
            rx.wait(r"^shutdown complete$")
            wait_gone(pid)
        finally:
            kill_leftover(pid)
            rx.close()


def test_daemon_mode_parent_waits_for_ready():
    with tempfile.TemporaryDirectory() as d:
        pidf, log = os.path.join(d, "u.pid"), os.path.join(d, "u.log")
        # capture_output: the parent returns only when the daemon has let
        # go of our pipes too (its stdio is /dev/null once it serves).
        p = subprocess.run([UPCASED, "-d", "-l", "127.0.0.1:0", "--pidfile",
                            pidf, "--log-file", log], capture_output=True,
                           timeout=20 * SLOW)
        expect(p.returncode == 0, "-d parent exit status", 0,
               (p.returncode, p.stderr))
        # Ready means bound and pidfile written: no waiting needed here.
        pid = read_pid(pidf)
        expect(pid_alive(pid) and pid != p.returncode, "daemon running")
        addr = wait_file_line(log, r"notice listening on (\S+)$", 1).group(1)
        s = connect(addr)
        s.sendall(b"detached")
        expect(recv_exactly(s, 8) == b"DETACHED", "the daemon serves")
        s.close()
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        expect(int(fields[3]) == pid, "the daemon leads its own session",
               pid, fields[3])
        expect(os.readlink("/proc/%d/cwd" % pid) == "/", "cwd /")
        os.kill(pid, signal.SIGTERM)
        wait_gone(pid)
        expect(not os.path.exists(pidf), "pidfile removed at exit")


def test_daemon_mode_start_failure_reaches_the_parent():
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    addr = "127.0.0.1:%d" % taken.getsockname()[1]
    with tempfile.TemporaryDirectory() as d:
        pidf = os.path.join(d, "u.pid")
        p = subprocess.run([UPCASED, "-d", "-l", addr, "--pidfile", pidf],
                           capture_output=True, timeout=20 * SLOW)
        err = p.stderr.decode()
        expect(p.returncode == 1 and
               ("cannot listen on %s: Address already in use" % addr) in err,
               "-d with the port in use: the foreground's message and status",
               (1, "cannot listen on ...: Address already in use"),
               (p.returncode, err))
        expect(not os.path.exists(pidf), "no pidfile left", False, True)
        # A bad option is still 2, before any fork.
        p = subprocess.run([UPCASED, "-d", "--threads", "0"],
                           capture_output=True, timeout=20 * SLOW)
        expect(p.returncode == 2, "-d with a bad option", 2, p.returncode)
    taken.close()


def test_pidfile_second_instance_refused():
    with tempfile.TemporaryDirectory() as d:
        pidf = os.path.join(d, "u.pid")
        with Daemon("--pidfile", pidf) as first:
            first.wait_log(r" notice ready: ")  # the pidfile is written
            pid = read_pid(pidf)
            expect(pid == first.proc.pid, "pidfile names the daemon",
                   first.proc.pid, pid)
            before = os.stat(pidf)
            p = subprocess.run([UPCASED, "-l", "127.0.0.1:0", "--pidfile",
                                pidf], capture_output=True, timeout=20 * SLOW)
            err = p.stderr.decode()
            want = "pidfile %s: upcased already running as pid %d" % (pidf, pid)
            expect(p.returncode == 1 and want in err and
                   "listening on" not in err,
                   "the second instance exits 1 before binding", (1, want),
                   (p.returncode, err))
            after = os.stat(pidf)
            expect((after.st_ino, after.st_mtime_ns) ==
                   (before.st_ino, before.st_mtime_ns) and read_pid(pidf) == pid,
                   "the pidfile is untouched")
            first.stop()
        expect(not os.path.exists(pidf), "removed at exit")
        # A stale file (its process gone, no lock) is replaced.
        with open(pidf, "w") as f:
            f.write("999999\n")
        with Daemon("--pidfile", pidf) as again:
            again.wait_log(r" notice ready: ")
            expect(read_pid(pidf) == again.proc.pid, "stale pidfile replaced",
                   again.proc.pid, read_pid(pidf))
            again.stop()


def proc_ids(pid):
    ids = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("Uid", "Gid", "Groups"):
                ids[k] = v.split()
    return ids


def test_user_drop():
    if os.geteuid() != 0:
        print("# skipped: needs root")
        return
    nobody = pwd.getpwnam("nobody")
    d = tempfile.mkdtemp(prefix="it_service.")
    os.chmod(d, 0o755)
    try:
        path, log = os.path.join(d, "u.sock"), os.path.join(d, "u.log")
        with Daemon("--user", "nobody", "--log-file", log,
                    listen=("127.0.0.1:0",), expect_listeners=0) as dmn:
            addr = wait_file_line(log, r"notice listening on (\S+)$").group(1)
            wait_file_line(log, r"notice ready: ")
            ids = proc_ids(dmn.proc.pid)
            expect(ids["Uid"] == [str(nobody.pw_uid)] * 4 and
                   ids["Gid"] == [str(nobody.pw_gid)] * 4,
                   "real, effective, saved and fs ids are nobody's",
                   nobody.pw_uid, ids)
            expect(ids.get("Groups", []) in ([], [str(nobody.pw_gid)]),
                   "no supplementary groups of root's", [], ids.get("Groups"))
            expect(os.stat(log).st_uid == nobody.pw_uid,
                   "the log file is the user's, to reopen")
            s = connect(addr)
            s.sendall(b"as nobody")
            expect(recv_exactly(s, 9) == b"AS NOBODY", "served after the drop")
            s.close()
            dmn.stop()
        # Removing the file at exit needs the directory: the user's.
        os.chown(d, nobody.pw_uid, nobody.pw_gid)
        with Daemon("--user", "nobody", listen=("unix:" + path,)) as dmn:
            expect(os.stat(path).st_uid == nobody.pw_uid,
                   "a unix socket file goes to the user, to remove at exit")
            dmn.stop()
        expect(not os.path.exists(path), "socket file removed by nobody")
    finally:
        shutil.rmtree(d)
    p = subprocess.run([UPCASED, "--user", "no-such-user-here"],
                       capture_output=True, timeout=20 * SLOW)
    expect(p.returncode == 2 and b"unknown user 'no-such-user-here'" in
           p.stderr, "unknown user: exit 2 naming it", 2,
           (p.returncode, p.stderr))


class NotifyReceiver:
    """The service manager's end of NOTIFY_SOCKET."""

    def __init__(self, d):
        self.path = os.path.join(d, "notify")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.got = []

    def wait(self, want, timeout=20):
        """Collect datagrams until one contains want; return it."""
        deadline = time.monotonic() + timeout * SLOW
        while True:
            left = deadline - time.monotonic()
            expect(left > 0, "a %r notification" % want, want, self.got)
            self.sock.settimeout(left)
            try:
                msg = self.sock.recv(4096).decode()
            except socket.timeout:
                continue
            self.got.append(msg)
            if want in msg.split("\n"):
                return msg

    def close(self):
        self.sock.close()


def test_notify_socket_messages_in_order():
    with tempfile.TemporaryDirectory() as d:
        rx = NotifyReceiver(d)
        env = dict(os.environ, NOTIFY_SOCKET=rx.path, WATCHDOG_USEC="200000")
        with Daemon(env=env) as dmn:
            ready = rx.wait("READY=1")
            expect("STATUS=serving on 1 listener, " in ready and
                   ("MAINPID=%d" % dmn.proc.pid) in ready.split("\n"),
                   "READY=1 with STATUS= and MAINPID=", None, ready)
            # WATCHDOG=1 at half of WATCHDOG_USEC, from the running loop.
            for _ in range(3):
                rx.wait("WATCHDOG=1")
            dmn.signal(signal.SIGTERM)
            rx.wait("STOPPING=1")
            dmn.wait()
        order = [m.split("\n")[0] for m in rx.got if "WATCHDOG=1" not in m]
        expect(order == ["READY=1", "STOPPING=1"], "order of notifications",
               ["READY=1", "STOPPING=1"], rx.got)
        rx.close()


def activated(socks, args=(), env_extra=None):
    """upcased with socks passed as descriptors 3.. by the LISTEN_FDS
    protocol, as a service manager passes them."""
    high = [os.dup(s.fileno()) for s in socks]
    moved = []
    for fd in high:  # above 3+len: dup2 below must not clobber them
        moved.append(__import__("fcntl").fcntl(fd, 1030, 50))  # F_DUPFD_CLOEXEC
        os.close(fd)

    def child():
        for i, fd in enumerate(moved):
            os.dup2(fd, 3 + i)  # dup2 clears close-on-exec
        os.environ["LISTEN_PID"] = str(os.getpid())
        os.environ["LISTEN_FDS"] = str(len(moved))
        for k, v in (env_extra or {}).items():
            os.environ[k] = v

    # env must be None: the child's own environment, set in child(), is
    # what exec passes on (LISTEN_PID is only known after the fork).
    d = Daemon(*args, listen=(), expect_listeners=len(socks),
               preexec_fn=child, pass_fds=tuple(range(3, 3 + len(socks))))
    for fd in moved:
        os.close(fd)
    return d


def test_socket_activation_from_python():
    d = tempfile.mkdtemp(prefix="it_service.")
    try:
        tcp = socket.socket()
        tcp.bind(("127.0.0.1", 0))
        tcp.listen(16)
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        udp.bind(("127.0.0.1", 0))
        path = os.path.join(d, "a.sock")
        ux = socket.socket(socket.AF_UNIX)
        ux.bind(path)
        ux.listen(16)
        want = ["127.0.0.1:%d" % tcp.getsockname()[1],
                "udp:127.0.0.1:%d" % udp.getsockname()[1], "unix:" + path]
        # A listen entry gives the unix socket its mode; one that names no
        # passed socket is not bound, with a warning.
        with activated([tcp, udp, ux], args=(
                "-l", "unix:%s mode=0600" % path, "-l", "127.0.0.1:1")) as dmn:
            expect(sorted(dmn.addrs) == sorted(want),
                   "listening on each passed socket", sorted(want),
                   sorted(dmn.addrs))
            expect(any("listen 127.0.0.1:1: no such socket was passed" in l
                       for l in dmn.lines), "warned about the unmatched entry",
                   None, dmn.lines)
            expect(os.stat(path).st_mode & 0o777 == 0o600,
                   "the entry's mode= applied to the passed unix socket")
            for a in want:
                if a.startswith("udp:"):
                    c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                    c.settimeout(5 * SLOW)
                    c.sendto(b"dgram", udp.getsockname())
                    expect(c.recv(64) == b"DGRAM", "udp served")
                else:
                    c = connect(a)
                    c.sendall(b"stream")
                    expect(recv_exactly(c, 6) == b"STREAM", "%s served" % a)
                c.close()
            dmn.stop()
        expect(os.path.exists(path),
               "a passed unix socket's file is the manager's: left in place")
        for s in (tcp, udp, ux):
            s.close()
    finally:
        shutil.rmtree(d)


def test_socket_activation_udp_over_threads():
    """A passed UDP socket is served at --threads 2: with a sibling
    socket beside it if it lets one in (SO_REUSEPORT, systemd's
    ReusePort=yes), else alone, read by one thread."""
    plain = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    plain.bind(("127.0.0.1", 0))
    shared = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    shared.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    shared.bind(("127.0.0.1", 0))
    try:
        with activated([plain, shared],
                       args=("-v", "--threads", "2")) as dmn:
            for s, n in ((plain, 1), (shared, 2)):
                port = s.getsockname()[1]
                held = udp_sockets(dmn.proc.pid, port)
                expect(len(held) == n, "upcased's sockets on udp port %d"
                       % port, n, held)
                c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                c.settimeout(10 * SLOW)
                c.sendto(b"dgram", s.getsockname())
                expect(c.recv(64) == b"DGRAM", "udp served on port %d" % port)
                c.close()
            expect(any("udp:127.0.0.1:%d: 1 socket without SO_REUSEPORT: "
                       "read by 1 of the 2 threads" % plain.getsockname()[1]
                       in ln for ln in dmn.lines),
                   "the lone socket is said to be read by one thread", None,
                   dmn.lines[-10:])
            dmn.stop()
    finally:
        plain.close()
        shared.close()


def test_socket_activation_with_systemd_socket_activate():
    tool = shutil.which("systemd-socket-activate")
    if tool is None:
        print("# skipped: systemd-socket-activate not installed")
        return
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    d = tempfile.mkdtemp(prefix="it_service.")
    path = os.path.join(d, "b.sock")
    try:
        # systemd-socket-activate binds, then execs upcased with the
        # sockets as 3, 4 (and LISTEN_PID set to the exec'd pid).
        p = subprocess.Popen([tool, "-l", "127.0.0.1:%d" % port, "-l", path,
                              UPCASED, "-v"], stdin=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            lines, addrs, first = [], [], None
            deadline = time.monotonic() + 20 * SLOW
            while len(addrs) < 2 and time.monotonic() < deadline:
                line = p.stderr.readline().decode()
                if not line:
                    break
                lines.append(line)
                # It binds, says so, then waits for a first connection
                # before it execs the service: make one, and keep it.
                if line.startswith("Listening on %s as" % path):
                    first = connect("127.0.0.1:%d" % port)
                m = re.search(r" notice listening on (\S+)$", line.strip())
                if m:
                    addrs.append(m.group(1))
            expect(sorted(addrs) == sorted(["127.0.0.1:%d" % port,
                                            "unix:" + path]),
                   "listening on the sockets systemd-socket-activate passed",
                   None, lines)
            first.sendall(b"first")
            expect(recv_exactly(first, 5) == b"FIRST",
                   "the connection made before exec is served")
            first.close()
            c = connect("unix:" + path)
            c.sendall(b"unix")
            expect(recv_exactly(c, 4) == b"UNIX", "unix served")
            c.close()
            p.send_signal(signal.SIGTERM)
            expect(p.wait(timeout=20 * SLOW) == 0, "clean exit")
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
    finally:
        shutil.rmtree(d)


if __name__ == "__main__":
    run_tests([
        test_log_file_gets_the_lines,
        test_log_file_that_cannot_be_opened,
        test_relative_log_file_is_the_start_directory_s,
        test_journal_gets_priority_prefixes,
        test_daemon_mode_parent_waits_for_ready,
        test_daemon_mode_start_failure_reaches_the_parent,
        test_log_file_syslog,
        test_daemon_mode_logs_to_syslog,
        test_pidfile_second_instance_refused,
        test_user_drop,
        test_notify_socket_messages_in_order,
        test_socket_activation_from_python,
        test_socket_activation_udp_over_threads,
        test_socket_activation_with_systemd_socket_activate,
    ])
