#!/usr/bin/env python3
"""Integration: start-up errors, configuration, signals and the graceful
shutdown an operator relies on."""
import os
import random
import re
import signal
import socket
import subprocess
import tempfile
import threading
import time

from itlib import (Daemon, UPCASED, WRAPPER, TestFailure, bupper, connect,
                   expect, flood_until_stalled,
                   recv_exactly, recv_until_eof, run_tests, SLOW)


def run(*args, timeout=20):
    p = subprocess.run(WRAPPER + [UPCASED] + list(args), capture_output=True,
                       timeout=timeout * SLOW, stdin=subprocess.DEVNULL)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


def conf_file(text):
    f = tempfile.NamedTemporaryFile("w", suffix=".conf", delete=False)
    f.write(text)
    f.close()
    return f.name


def test_help_and_version():
    rc, out, err = run("--help")
    expect(rc == 0 and "--idle-timeout" in out and "Exit status" in out,
           "--help lists the options", "usage with --idle-timeout", out[:300])
    rc, out, err = run("-V")
    expect(rc == 0 and re.match(r"upcased \d+\.\d+", out), "-V", "upcased X.Y", out)


def test_bad_options_exit_2():
    for args, needle in (
        (["--idle-timeout", "0"], "--idle-timeout: timeout must be greater than 0"),
        (["--idle-timeout", "-1"], "--idle-timeout: timeout must be greater than 0"),
        (["--write-timeout", "soon"], "--write-timeout: invalid timeout 'soon'"),
        (["--chunk-size", "0"], "--chunk-size: 0 is out of range"),
        (["--threads", "999"], "--threads: 999 is out of range"),
        (["-l", "127.0.0.1"], "-l: invalid address '127.0.0.1'"),
        (["-l", "127.0.0.1:99999"], "-l: invalid port '99999'"),
        (["--bogus"], "unknown option"),
        (["stray"], "unexpected argument 'stray'"),
    ):
        rc, out, err = run(*args)
        expect(rc == 2, "exit status for %s" % args, 2, rc)
        expect(needle in err, "message for %s" % args, needle, err)


def test_config_file_errors_name_file_and_line():
    cases = (
        ("# comment\n\nbogus_key = 1\n", ":3: unknown key 'bogus_key'"),
        ("idle_timeout = 1\nidle_timeout = -5\n", ":2: idle_timeout: timeout must be greater than 0"),
        ("listen 127.0.0.1:1\n", ":1: expected 'key = value'"),
        ("threads =\n", ":1: threads: missing value"),
    )
    for text, needle in cases:
        path = conf_file(text)
        rc, out, err = run("-c", path, "--check-config")
        os.unlink(path)
        expect(rc == 2, "exit status for a bad config", 2, rc)
        expect(path + needle in err, "config error names file and line",
               path + needle, err)
    rc, out, err = run("-c", "/nonexistent/upcased.conf")
    expect(rc == 2 and "/nonexistent/upcased.conf: No such file" in err,
           "unreadable config", "path: No such file or directory", err)


def test_check_config_and_precedence():
    path = conf_file("listen = 127.0.0.1:7001\nlisten = udp:127.0.0.1:7002\n"
                     "idle_timeout = 0.25  # short\nwrite_timeout = none\n"
                     "threads = 3\n")
    rc, out, err = run("-c", path, "--check-config", "--threads", "1")
    os.unlink(path)
    expect(rc == 0, "--check-config exit status", 0, rc)
    for line in ("listen = 127.0.0.1:7001", "listen = udp:127.0.0.1:7002",
                 "idle_timeout = 0.25", "write_timeout = none", "threads = 1",
                 "chunk_size = 1024", "max_pending = 65536",
                 "shutdown_timeout = 5", "backlog = 1024", "log_level = info"):
        expect(line in out.splitlines(), "effective setting", line, out)
    expect(re.search(r"^max_conns = \d+$", out, re.M), "derived max_conns", "max_conns = N", out)


def test_sample_config_is_valid():
    sample = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..",
                          "conf", "upcased.conf")
    rc, out, err = run("-c", sample, "--check-config")
    expect(rc == 0, "conf/upcased.conf validates", 0, (rc, err))
    expect("listen = 127.0.0.1:8080" in out, "sample listens on 8080", "", out)


def test_sigusr1_logs_counters():
    with Daemon() as d:
        for i in range(3):
            s = connect(d.addr)
            s.sendall(b"abc")
            recv_exactly(s, 3)
            s.close()
        # Wait for the three closes to be counted, by event.
        deadline = time.monotonic() + 10 * SLOW
        while True:
            st = d.stats()
            if st["conns_now"] == 0 or time.monotonic() > deadline:
                break
        expect(st["conns_total"] == 3 and st["bytes_in"] == 9 and
               st["bytes_out"] == 9 and st["conns_now"] == 0,
               "stats after three exchanges", "total 3, 9 in, 9 out", st)
        d.stop()


def _slow_read_until_eof(s):
    got = bytearray()
    s.settimeout(30 * SLOW)
    while True:
        b = s.recv(65536)
        if not b:
            return bytes(got)
        got += b
        time.sleep(0.001)  # a slow reader keeps replies pending


def test_sigterm_loses_no_pending_reply():
    # A client uploads 4 MB, half-closes, and reads slowly, so the server
    # holds replies (and has stopped reading) when SIGTERM comes: every
    # byte must still come back, then EOF, and upcased exits 0.  An idle
    # client that stays quiet through the drain gets EOF and nothing else.
    data = random.Random(7).randbytes(4 * 1024 * 1024)
    with Daemon("--shutdown-timeout", "30", "--threads", "2") as d:
        idle = connect(d.addr)
        busy = connect(d.addr, timeout=60)
        sender = threading.Thread(target=lambda: (
            busy.sendall(data), busy.shutdown(socket.SHUT_WR)))
        sender.start()
        d.wait_bytes_in(256 * 1024)
        d.signal(signal.SIGTERM)
        d.wait_log(r"SIGTERM: shutting down")
        expect(recv_until_eof(idle) == b"", "idle client closed once quiet")
        got = _slow_read_until_eof(busy)
        sender.join()
        expect(len(got) == len(data), "bytes back after SIGTERM", len(data), len(got))
        expect(got == bupper(data), "content back after SIGTERM")
        rc = d.wait(30)
        expect(rc == 0, "exit status after graceful shutdown", 0, rc)
        expect(any("shutdown complete" in l for l in d.lines), "logs completion")


def test_sigterm_serves_a_client_that_has_sent_nothing_yet():
    # A client whose connect has returned but whose first bytes are still
    # on their way at SIGTERM (a churn client) is not closed at once: it
    # gets the same quiet grace as a busy one, is answered, then gets EOF
    # once quiet.
    with Daemon("-v", "--threads", "1") as d:
        s = connect(d.addr)
        d.wait_log(r"debug open ")
        d.signal(signal.SIGTERM)
        # Send only once the shutdown has reached the connection (its
        # state trace, or its close), so the bytes are surely late.
        m = d.wait_log(r"debug (conn \S+: reading -> draining|close .*)$")
        s.sendall(b"first words")
        try:
            got = recv_exactly(s, 11)
        except ConnectionResetError:
            got = "reset"
        expect(got == b"FIRST WORDS", "a reply to the first bytes, sent "
               "after SIGTERM reached the connection (%s)" % m.group(1),
               b"FIRST WORDS", got)
        expect(recv_until_eof(s) == b"", "EOF once quiet")
        rc = d.wait(30)
        expect(rc == 0, "exit status after graceful shutdown", 0, rc)
        s.close()


def test_sigterm_while_client_still_sends():
    # The client never half-closes and keeps sending through the
    # shutdown.  Everything upcased had read must come back, as an exact
    # prefix of the stream, followed by a clean EOF: no reset destroys
    # replies the client has not read yet.
    data = random.Random(8).randbytes(8 * 1024 * 1024)
    with Daemon("--shutdown-timeout", "30") as d:
        busy = connect(d.addr, timeout=60)
        send_error = []

        def send():
            try:
                busy.sendall(data)
            except OSError as e:  # the server may stop reading: fine
                send_error.append(e)

        sender = threading.Thread(target=send)
        sender.start()
        read_before = d.wait_bytes_in(512 * 1024)
        d.signal(signal.SIGTERM)
        got = _slow_read_until_eof(busy)
        expect(len(got) >= read_before, "replies for all bytes read before SIGTERM",
               ">= %d" % read_before, len(got))
        expect(got == bupper(data[:len(got)]), "an exact prefix of the stream")
        busy.close()
        sender.join()
        rc = d.wait(30)
        expect(rc == 0, "exit status after graceful shutdown", 0, rc)


def test_eof_follows_the_last_reply_while_another_drains():
    # --threads 2: `stuck` (worker 0, on the main loop) never reads and,
    # with no timeouts, keeps the shutdown going; `busy` (worker 1, its
    # own thread) has replies queued at SIGTERM, then half-closes and
    # reads them all.  Its EOF must come after its last reply, while the
    # daemon still drains `stuck`, not when the process exits.
    with Daemon("--threads", "2", "--shutdown-timeout", "none",
                "--write-timeout", "none") as d:
        stuck = connect(d.addr, rcvbuf=4096)
        flood_until_stalled(stuck)
        busy = connect(d.addr, rcvbuf=4096)
        sent = flood_until_stalled(busy)
        d.signal(signal.SIGTERM)
        d.wait_log(r"SIGTERM: shutting down")
        busy.setblocking(True)
        busy.shutdown(socket.SHUT_WR)
        try:
            got = recv_until_eof(busy, timeout=30)
        except socket.timeout:
            raise TestFailure("no EOF after the last reply while another "
                              "connection drains")
        # (flood_until_stalled's partial sends restart its chunk: the
        # replies are its letters, uppercased.)
        expect(len(got) == sent and got.strip(b"FLOD") == b"",
               "every reply, then EOF", sent, len(got))
        expect(d.proc.poll() is None, "the daemon still draining the other "
               "connection", "running", d.proc.poll())
        stuck.close()
        rc = d.wait(30)
        expect(rc == 0, "exit status after graceful shutdown", 0, rc)
        busy.close()


def test_lingering_close_absorbs_late_input():
    # At shutdown, with replies sent but not yet read by the client,
    # upcased drains, then sends FIN after them and reads and discards
    # what the client still sends: closing with unread input would reset
    # the connection and destroy the replies the client has not read.
    # Only once they are acknowledged and the client is quiet does it
    # close.  (A small receive buffer keeps the replies unacknowledged
    # until the client reads them.)
    data = random.Random(12).randbytes(64 * 1024)
    with Daemon("-v", "--shutdown-timeout", "30") as d:
        s = connect(d.addr, timeout=30, rcvbuf=4096)
        s.sendall(data)
        d.wait_bytes_in(len(data))
        d.signal(signal.SIGTERM)
        d.wait_log(r"debug linger ")
        s.sendall(b"late" * 10000)  # several reads' worth, no half-close
        got = recv_until_eof(s, timeout=30)
        expect(got == bupper(data), "every reply, then EOF",
               len(data), len(got))
        err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        expect(err == 0, "no reset for the late input", 0, os.strerror(err))
        rc = d.wait(30)
        expect(rc == 0, "exit status after graceful shutdown", 0, rc)
        s.close()


def test_shutdown_timeout_bounds_the_wait():
    with Daemon("--shutdown-timeout", "0.5", "--max-pending", "4096") as d:
        stuck = connect(d.addr, rcvbuf=4096)
        flood_until_stalled(stuck)
        start = time.monotonic()
        d.signal(signal.SIGTERM)
        rc = d.wait(30)
        took = time.monotonic() - start
        expect(rc == 0, "exit status after the shutdown timeout", 0, rc)
        expect(took < 0.5 + 5 * SLOW, "exit soon after shutdown_timeout",
               "~0.5 s", "%.2f s" % took)
        expect(any("shutdown timeout: closing 1 connection" in l for l in d.lines),
               "logs the forced close", "shutdown timeout: closing 1 connection", d.lines)
        stuck.close()


def test_second_signal_exits_at_once():
    with Daemon("--shutdown-timeout", "none", "--max-pending", "4096") as d:
        stuck = connect(d.addr, rcvbuf=4096)
        flood_until_stalled(stuck)
        d.signal(signal.SIGINT)
        d.wait_log(r"SIGINT: shutting down")
        d.signal(signal.SIGINT)
        rc = d.wait(10)
        # valgrind flags what an emergency _exit leaves allocated (99).
        expect(rc == 1 or (WRAPPER and rc == 99),
               "exit status after a second signal", 1, rc)
        expect(any("second SIGINT: exiting now" in l for l in d.lines),
               "logs the second signal")
        stuck.close()


def test_sigterm_serves_the_accept_queue():
    # At max_conns the kernel still completes handshakes and takes data
    # into the accept queue.  Those clients connected successfully: at
    # SIGTERM they are accepted (past max_conns) and answered, then
    # closed cleanly, not reset with the listener.
    with Daemon("--max-conns", "1", "--threads", "2") as d:
        held = connect(d.addr)
        held.sendall(b"held")
        expect(recv_exactly(held, 4) == b"HELD", "the first client served")
        d.wait_log(r"max_conns \(1\) reached: pausing accepts")
        queued = []
        for i in range(10):
            s = connect(d.addr)
            s.sendall(b"queued %d" % i)
            queued.append(s)
        d.signal(signal.SIGTERM)
        for i, s in enumerate(queued):
            want = b"QUEUED %d" % i
            try:
                got = recv_until_eof(s, timeout=20)
            except ConnectionResetError:
                got = "reset"
            expect(got == want, "queued client %d at shutdown" % i, want, got)
            s.close()
        expect(recv_until_eof(held) == b"", "the idle client closed")
        held.close()
        rc = d.wait(30)
        expect(rc == 0, "exit status after graceful shutdown", 0, rc)


def test_signals_during_teardown_never_kill():
    # SIGUSR1 in a tight loop (a shell's, not Python's: the GIL would
    # make it bursty) around SIGTERM: whatever moment of the teardown a
    # signal lands in, upcased exits 0, never by a signal.  Under a
    # wrapper (valgrind) a few runs check each teardown for leaks; the
    # race itself is the plain build's to hunt.
    runs, deadline = 0, time.monotonic() + 20 * SLOW
    while runs < (5 if WRAPPER else 30) and time.monotonic() < deadline:
        runs += 1
        with Daemon("-q", "--threads", "2") as d:
            spam = subprocess.Popen(
                ["sh", "-c", "while kill -USR1 %d 2>/dev/null; do :; done"
                 % d.proc.pid])
            try:
                d.wait_log(r" stats ")  # the spam has begun
                d.signal(signal.SIGTERM)
                rc = d.wait(20)
            finally:
                spam.kill()
                spam.wait()
            expect(rc == 0, "exit status of run %d with SIGUSR1 during "
                   "the teardown" % runs, 0,
                   "%s (%s)" % (rc, signal.Signals(-rc).name if rc < 0 else
                                "exit"))


def test_log_lines_are_timestamped():
    with Daemon("-v") as d:
        s = connect(d.addr)
        s.sendall(b"q")
        recv_exactly(s, 1)
        s.close()
        m = d.wait_log(r"close")
        d.stop()
    rx = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (error|warn|notice|info|debug) ")
    for l in d.lines:
        expect(rx.match(l), "ISO-8601 timestamp and level", rx.pattern, l)
    expect(any(re.search(r"debug open 127\.0\.0\.1:\d+$", l) for l in d.lines),
           "-v logs the open with the peer", "debug open 127.0.0.1:PORT", d.lines)
    expect(any(re.search(r"debug close 127\.0\.0\.1:\d+ in=1 out=1 reason=eof$", l)
               for l in d.lines), "-v logs the close with counts and reason")


def test_quiet_keeps_the_stable_lines():
    # -q (log_level notice) keeps what scripts read -- listening on,
    # ready, stats, shutdown complete -- and drops the info lines.
    with Daemon("-q") as d:
        s = connect(d.addr)
        s.sendall(b"shh")
        expect(recv_exactly(s, 3) == b"SHH", "quiet daemon serves")
        s.close()
        expect(d.stats()["conns_total"] == 1, "-q still logs stats")
        d.signal(signal.SIGTERM)
        rc = d.wait()
        expect(rc == 0, "quiet daemon exits 0", 0, rc)
        levels = sorted(set(l.split()[1] for l in d.lines))
        expect(levels == ["notice"], "-q logs only notice lines here",
               ["notice"], d.lines)
        for want in ("listening on ", "ready: upcased ", "stats ",
                     "shutdown complete"):
            expect(any(want in l for l in d.lines), "-q keeps %r" % want,
                   want, d.lines)


if __name__ == "__main__":
    run_tests([
        test_help_and_version,
        test_bad_options_exit_2,
        test_config_file_errors_name_file_and_line,
        test_check_config_and_precedence,
        test_sample_config_is_valid,
        test_sigusr1_logs_counters,
        test_sigterm_loses_no_pending_reply,
        test_sigterm_serves_a_client_that_has_sent_nothing_yet,
        test_sigterm_while_client_still_sends,
        test_eof_follows_the_last_reply_while_another_drains,
        test_lingering_close_absorbs_late_input,
        test_shutdown_timeout_bounds_the_wait,
        test_second_signal_exits_at_once,
        test_sigterm_serves_the_accept_queue,
        test_signals_during_teardown_never_kill,
        test_log_lines_are_timestamped,
        test_quiet_keeps_the_stable_lines,
    ])
