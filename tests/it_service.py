#!/usr/bin/env python3
"""it_service: upcased as a service: log targets (a file, the journal's
priority prefixes), relative paths taken from the start-up directory."""
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from itlib import (Daemon, UPCASED, SLOW, connect, expect, recv_exactly,  # noqa: E402
                   run_tests)


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


if __name__ == "__main__":
    run_tests([
        test_log_file_gets_the_lines,
        test_log_file_that_cannot_be_opened,
        test_relative_log_file_is_the_start_directory_s,
        test_journal_gets_priority_prefixes,
    ])
