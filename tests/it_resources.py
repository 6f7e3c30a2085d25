#!/usr/bin/env python3
"""it_resources: upcased out of descriptors and out of memory.

Descriptors (running out at accept is it_limits.py's): with none left,
a reload, a restart and reopening the log each fail with a log line and
change nothing, while the clients already connected, UDP too, are
served; once descriptors are back the same reload works.

Memory: tests/failmalloc.so, preloaded, makes malloc, calloc and realloc
fail once a signal arms it, after upcased is ready (so start-up never is
what fails, and the test knows when failing begins: the shim says
"failmalloc: armed").  Out of memory, upcased refuses new clients or
closes the one whose replies it cannot queue, logs a run of such
failures once, serves the others, never sends a wrong byte, never
stalls a connection, never spins, and shuts down cleanly.  These need
the plain build: ASan and valgrind bring their own malloc."""
import json
import os
import re
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from itlib import (Daemon, SLOW, UPCASE, UPCASED, WRAPPER,  # noqa: E402
                   _sanitized, bupper, connect, exchange, expect, parse_addr,
                   recv_exactly, recv_until_eof, run_tests)

FAILMALLOC = os.environ.get("FAILMALLOC", os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "failmalloc.so"))
ARM = signal.SIGRTMIN + 4	# failmalloc's default arming signal
ARMED_RE = r"^failmalloc: armed$"
DISARMED_RE = r"^failmalloc: disarmed: (\d+) calls, (\d+) failed$"


def udp_exchange(addr, data=b"dgram"):
    fam, kind, sa = parse_addr(addr)
    s = socket.socket(fam, kind)
    s.settimeout(5 * SLOW)
    s.sendto(data, sa)
    got = s.recv(65536)
    s.close()
    return got


def test_no_descriptors_for_reload_restart_or_log():
    with tempfile.TemporaryDirectory() as tmp:
        conf, logf = os.path.join(tmp, "c.conf"), os.path.join(tmp, "log")
        with open(conf, "w") as f:
            f.write("listen = 127.0.0.1:0\nlisten = udp:127.0.0.1:0\n"
                    "log_file = %s\n" % logf)
        with Daemon("-c", conf, "--threads", "2", "--max-conns", "100",
                    listen=(), expect_listeners=0) as d:
            _wait_file(logf, r"listening on (udp:\S+)")
            tcp, udp = re.findall(r"listening on (\S+)", _read(logf))
            held = connect(tcp)
            held.sendall(b"a")
            expect(recv_exactly(held, 1) == b"A", "a client, accepted")
            n = d.nfds()
            hard = resource.prlimit(d.proc.pid, resource.RLIMIT_NOFILE)[1]
            resource.prlimit(d.proc.pid, resource.RLIMIT_NOFILE, (n, hard))
            with open(conf, "w") as f:
                f.write("listen = 127.0.0.1:0\nlisten = udp:127.0.0.1:0\n"
                        "listen = unix:%s/u.sock\nlog_file = %s\n" % (tmp, logf))
            for sig, want in (
                    (signal.SIGHUP, r"warn SIGHUP: log file .*: Too many "
                     r"open files \(logging on to the old file\)"),
                    (None, r"warn reload failed: .*: Too many open files "
                     r"\(keeping the running configuration\)"),
                    (signal.SIGUSR2, r"warn restart failed: .*Too many open "
                     r"files; still serving")):
                if sig is not None:
                    d.signal(sig)
                _wait_file(logf, want)
                held.sendall(b"still")
                expect(recv_exactly(held, 5) == b"STILL", "a client "
                       "connected before is served")
                expect(udp_exchange(udp) == b"DGRAM", "UDP is served")
            expect(not os.path.exists(os.path.join(tmp, "u.sock")),
                   "the failed reload opened no listener")
            resource.prlimit(d.proc.pid, resource.RLIMIT_NOFILE, (hard, hard))
            d.signal(signal.SIGHUP)
            _wait_file(logf, r"notice reloaded .*: changed listen")
            expect(exchange("unix:%s/u.sock" % tmp) == b"ABC",
                   "the new listener, once descriptors are back")
            held.close()


def _read(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


def _wait_file(path, pattern, timeout=20):
    """Wait for a line matching pattern in the log file at path."""
    deadline = time.monotonic() + timeout * SLOW
    while not re.search(pattern, _read(path)):
        expect(time.monotonic() < deadline, "a log line matching %r" %
               pattern, pattern, _read(path)[-2000:])
        time.sleep(0.05)


def _failmalloc_skip():
    """Why the memory tests cannot run here, or None."""
    if WRAPPER:
        return "under %s, which brings its own malloc" % WRAPPER[0]
    if _sanitized(UPCASED):
        return "a sanitizer build: ASan must come first and brings its " \
               "own malloc"
    if not os.path.exists(FAILMALLOC):
        return "%s not built" % FAILMALLOC
    return None


def failing(*args, listen=("127.0.0.1:0", "udp:127.0.0.1:0"), **env):
    """upcased with the shim preloaded, its UPCASED_FAILMALLOC_* set from
    env (AFTER=3 sets UPCASED_FAILMALLOC_AFTER=3), ready (every worker
    started), not armed yet."""
    e = dict(os.environ, LD_PRELOAD=FAILMALLOC)
    for k, v in env.items():
        e["UPCASED_FAILMALLOC_" + k] = str(v)
    d = Daemon("--threads", "2", *args, listen=listen, env=e)
    try:
        d.wait_log(r" notice ready: ")
    except BaseException:
        d.__exit__(*sys.exc_info())
        raise
    return d


def arm(d):
    d.signal(ARM)
    d.wait_log(ARMED_RE)


def disarm(d):
    d.signal(ARM)
    m = d.wait_log(DISARMED_RE)
    return int(m.group(1)), int(m.group(2))


def bench(addr, *args, seconds=2):
    p = subprocess.run([UPCASE, "bench", "--json", "-q", "-T", "1", "-t",
                        "10", "-d", str(seconds)] + list(args) + [addr],
                       capture_output=True, timeout=(seconds + 40) * SLOW)
    lines = p.stdout.decode().strip().splitlines()
    expect(lines, "bench's JSON summary", "a line", p.stderr.decode())
    return json.loads(lines[-1])


def _count(d, pattern):
    return len([l for l in d.lines if re.search(pattern, l)])


def test_out_of_memory_refuses_new_clients_and_serves_the_others():
    # Every allocation fails.  A client connected before is served (the
    # direct path allocates nothing), so is UDP; new clients are
    # refused, thousands of them under churn, and the log says so once
    # per run, not once per client; then, memory back, one line says
    # how many were refused and new clients are served.
    why = _failmalloc_skip()
    if why:
        print("# skip: %s" % why)
        return
    with failing() as d:
        held = connect(d.addrs[0])
        held.sendall(b"x")
        expect(recv_exactly(held, 1) == b"X", "a client before")
        arm(d)
        for i in range(3):
            held.sendall(b"abc%d" % i)
            expect(recv_exactly(held, 4) == b"ABC%d" % i,
                   "the client connected before, out of memory")
        expect(udp_exchange(d.addrs[1]) == b"DGRAM", "UDP, out of memory")
        j = bench(d.addrs[0], "--churn", "-c", "4", seconds=1)
        refused = j["connections"]
        expect(refused > 10 and j["messages"] == 0 and j["mismatches"] == 0,
               "clients refused, none answered wrongly", "> 10 refused",
               (refused, j["messages"], j["errors_by_kind"]))
        d.expect_idle(1.0, "CPU out of memory, after the churn")
        d.stats()
        lines = [l for l in d.lines if " warn " in l]
        expect(len(lines) <= 2, "a run of refusals logged once (once by "
               "the hand-off to a worker, once by the worker)", "<= 2 lines",
               lines[:5])
        disarm(d)
        # A run ends at the next client its worker sets up (or the
        # hand-off to it takes): one each.
        for _ in range(2):
            expect(exchange(d.addrs[0]) == b"ABC", "a new client, "
                   "memory back")
        rx = re.compile(r"(?:setting up connections|handing connections "
                        r"over) again \((\d+) ")

        def ends(lines):
            return [int(m.group(1)) for m in map(rx.search, lines) if m]

        d.wait_lines(lambda lines: sum(ends(lines)) >= refused,
                     "the ends of the runs logged", 10)
        expect(sum(ends(d.lines)) == refused, "the ends of the runs count "
               "the refused", refused, [l for l in d.lines if "again" in l])
        held.sendall(b"end")
        expect(recv_exactly(held, 3) == b"END", "the first client still")
        held.close()


def _flood_and_drain(addr_sock):
    """Fill every buffer towards a client that does not read (so upcased
    queues its replies), half-close, then read everything back: returns
    (sent, got), or raises on a wrong byte or a stall."""
    s = addr_sock
    pat = bytes(range(256)) * 512
    s.setblocking(False)
    sent, stalled = 0, None
    deadline = time.monotonic() + 20 * SLOW
    while time.monotonic() < deadline:
        try:
            sent += s.send(pat[sent % 256:sent % 256 + 65536])
            stalled = None
        except BlockingIOError:
            stalled = stalled or time.monotonic()
            if time.monotonic() - stalled > 0.3:
                break
            time.sleep(0.01)
        except OSError:
            break		# closed by upcased: the replies tell
    try:
        s.shutdown(socket.SHUT_WR)
    except OSError:
        pass
    try:
        got = recv_until_eof(s, timeout=10)
    except ConnectionResetError:
        got = b""	# closed with replies unread: a reset, no stall
    want = bupper(pat)
    for i in range(0, len(got), 65536):
        part = got[i:i + 65536]
        expect(part == want[i % 256:i % 256 + len(part)], "replies up to "
               "where they stop are the uppercase of what was sent")
    return sent, len(got)


def test_one_failed_allocation_never_stalls_a_queue():
    # One allocation fails, the first, the second, ... after a client
    # that does not read makes upcased queue its replies (the
    # bufferevent and its buffers are allocated then).  Each time the
    # client gets every reply, or is closed: never a connection left
    # with replies queued and nothing to send them.  (libevent 2.1
    # ignores a failure to register its output callback, which left
    # one stuck until shutdown.)
    why = _failmalloc_skip()
    if why:
        print("# skip: %s" % why)
        return
    served = closed = 0
    for n in range(12):
        with failing("-v", listen=("127.0.0.1:0",), AFTER=n, COUNT=1) as d:
            s = connect(d.addr, rcvbuf=4096)
            s.sendall(b"x")
            expect(recv_exactly(s, 1) == b"X", "the client's first reply")
            arm(d)
            try:
                sent, got = _flood_and_drain(s)
            except socket.timeout:
                raise AssertionError(
                    "failing allocation %d after arming: the client's "
                    "replies stalled; log:\n%s" % (n, "\n".join(d.lines[-8:])))
            s.close()
            calls, failed = disarm(d)
            expect(failed == 1, "allocation %d failed" % n, 1, (calls, failed))
            if got == sent:
                served += 1
            else:
                closed += 1
                expect(_count(d, r"cannot queue a \d+-byte reply: closing"),
                       "a client closed early is told in the log")
            expect(exchange(d.addr) == b"ABC", "a new client after")
    print("# %d served in full, %d closed early" % (served, closed))


def test_random_failures_under_load():
    # 2% of allocations fail while clients stream, churn and queue:
    # connections are closed or refused, but not one reply byte is wrong
    # or extra, upcased stays idle once the load stops, and serves every
    # client cleanly once memory is back.
    why = _failmalloc_skip()
    if why:
        print("# skip: %s" % why)
        return
    with failing(listen=("127.0.0.1:0",), RANDOM=20, SEED=7) as d:
        arm(d)
        procs = [subprocess.Popen(
            [UPCASE, "bench", "--json", "-q", "-T", "1", "-t", "10", "-d",
             "3"] + args + [d.addr], stdout=subprocess.PIPE,
            stderr=subprocess.PIPE) for args in (
                ["-c", "20", "-s", "4096", "--pipeline", "4"],
                ["--churn", "-c", "8"])]
        for p in procs:
            out, err = p.communicate(timeout=60 * SLOW)
            j = json.loads(out.decode().strip().splitlines()[-1])
            k = j["errors_by_kind"]
            expect(k["mismatch"] == 0 and k["extra"] == 0,
                   "no wrong or extra reply byte", "0 and 0",
                   (k, j["first_mismatch"]))
        d.expect_idle(1.0, "CPU after the load, still failing")
        calls, failed = disarm(d)
        expect(failed > 0, "allocations failed", "> 0", (calls, failed))
        print("# %d of %d allocations failed" % (failed, calls))
        j = bench(d.addr, "-c", "20", "-s", "4096", "--pipeline", "4",
                  seconds=1)
        expect(j["errors"] == 0 and j["messages"] > 0, "a clean run after",
               "no errors", j["errors_by_kind"])


def test_shutdown_out_of_memory():
    # SIGTERM with every allocation failing and a client's replies
    # queued: the drain needs no memory, upcased exits 0.
    why = _failmalloc_skip()
    if why:
        print("# skip: %s" % why)
        return
    with failing("--shutdown-timeout", "2") as d:
        s = connect(d.addrs[0], rcvbuf=4096)
        s.setblocking(False)
        for _ in range(200):
            try:
                s.send(b"q" * 65536)
            except BlockingIOError:
                break
        arm(d)
        d.signal(signal.SIGTERM)
        rc = d.wait(timeout=20)
        expect(rc == 0, "exit status at SIGTERM, out of memory", 0,
               (rc, d.lines[-5:]))
        s.close()


if __name__ == "__main__":
    run_tests([
        test_no_descriptors_for_reload_restart_or_log,
        test_out_of_memory_refuses_new_clients_and_serves_the_others,
        test_one_failed_allocation_never_stalls_a_queue,
        test_random_failures_under_load,
        test_shutdown_out_of_memory,
    ])
