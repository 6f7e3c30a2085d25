#!/usr/bin/env python3
"""it_metrics: the metrics listener of the real upcased.  Counters are
exact (N connections of B bytes: accepted, closed by EOF, received and
sent show N and N*B) and agree with the SIGUSR1 line; every family and
label is there, and promtool accepts the page; /healthz while serving,
paused at max_conns and during a graceful shutdown with a client still
draining; 404 and 405; a bad and a half-sent HTTP request harm neither
the echo service nor the next scrape; the loop lag histogram counts on;
the pending-bytes gauge and backpressure; datagrams; reload and restart
move the listener."""
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from itlib import (Daemon, SLOW, UPCASED, TestFailure, connect,  # noqa: E402
                   exchange, expect, flood_until_stalled, parse_addr,
                   kill_leftover, recv_exactly, run_tests, stop_gone,
                   wait_until)

METRICS_RE = r" notice metrics on (\S+)$"
# The server closes an HTTP client that makes no progress for this long
# (METRICS_TIMEOUT_S in metrics.h).
HTTP_TIMEOUT_S = 5

SAMPLE_RE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$")


class Metrics:
    """A scraper for one upcased's metrics listener."""

    def __init__(self, d, addr=None):
        self.d = d
        self.addr = addr or d.wait_log(METRICS_RE).group(1)
        _, _, self.sa = parse_addr(self.addr)

    def request(self, method, path, body=None, headers=None):
        c = http.client.HTTPConnection(self.sa[0], self.sa[1],
                                       timeout=10 * SLOW)
        try:
            c.request(method, path, body=body, headers=headers or {})
            r = c.getresponse()
            return r.status, dict(r.getheaders()), r.read()
        finally:
            c.close()

    def text(self):
        status, headers, body = self.request("GET", "/metrics")
        expect(status == 200, "GET /metrics status", 200, status)
        expect(headers.get("Content-Type", "").startswith(
            "text/plain; version=0.0.4"), "the exposition's content type",
            "text/plain; version=0.0.4", headers.get("Content-Type"))
        return body.decode()

    def scrape(self):
        """{ 'name{labels}': value } of every sample."""
        out = {}
        for line in self.text().splitlines():
            if line.startswith("#") or not line:
                continue
            m = SAMPLE_RE.match(line)
            expect(m is not None, "a well-formed sample line", None, line)
            out[m.group(1) + (m.group(2) or "")] = float(m.group(3))
        return out

    def wait(self, pred, what, timeout=20):
        """Scrape until pred(samples) holds; return the samples."""
        return wait_until(self.scrape, pred, what, timeout, pause=0.05,
                          show=lambda s: "\n" + "\n".join(
                              "%s %s" % kv for kv in sorted(s.items())
                              if kv[0].startswith("upcased_")))

    def health(self, method="GET"):
        status, headers, body = self.request(method, "/healthz")
        return status, body


def test_exact_counters():
    n, size = 20, 1000
    with Daemon("--metrics", "127.0.0.1:0", "--threads", "2") as d:
        m = Metrics(d)
        for i in range(n):
            data = bytes((97 + (i + k) % 26) for k in range(size))
            got = exchange(d.addr, data)
            expect(got == data.upper(), "reply %d" % i)
        s = m.wait(lambda s: s['upcased_connections_closed_total'
                               '{reason="eof"}'] >= n,
                   "%d connections closed at EOF" % n)
        for name, want in (
                ("upcased_connections_accepted_total", n),
                ('upcased_connections_closed_total{reason="eof"}', n),
                ("upcased_received_bytes_total", n * size),
                ("upcased_sent_bytes_total", n * size),
                ("upcased_connections", 0),
                ("upcased_pending_bytes", 0),
                ('upcased_connections_closed_total{reason="reset"}', 0)):
            expect(s[name] == want, name, want, s[name])
        # The SIGUSR1 line reads the same counters.
        st = d.stats()
        for key, want in (("accepted", n), ("closed_eof", n),
                          ("bytes_in", n * size), ("bytes_out", n * size),
                          ("conns_now", 0), ("conns_total", n)):
            expect(st[key] == want, "stats line %s" % key, want, st[key])
        d.stop()


FAMILIES = {
    "upcased_build_info": "gauge",
    "upcased_connections": "gauge",
    "upcased_connections_accepted_total": "counter",
    "upcased_connections_rejected_total": "counter",
    "upcased_accept_pauses_total": "counter",
    "upcased_accept_paused_seconds_total": "counter",
    "upcased_connections_closed_total": "counter",
    "upcased_received_bytes_total": "counter",
    "upcased_sent_bytes_total": "counter",
    "upcased_datagrams_received_total": "counter",
    "upcased_datagrams_sent_total": "counter",
    "upcased_datagrams_dropped_total": "counter",
    "upcased_pending_bytes": "gauge",
    "upcased_backpressure_pauses_total": "counter",
    "upcased_accept_errors_total": "counter",
    "upcased_accepting": "gauge",
    "upcased_loop_lag_seconds": "histogram",
    "process_cpu_seconds_total": "counter",
    "process_resident_memory_bytes": "gauge",
    "process_virtual_memory_bytes": "gauge",
    "process_open_fds": "gauge",
    "process_max_fds": "gauge",
    "process_start_time_seconds": "gauge",
}

SERIES = [
    'upcased_build_info{version="%s"}',
    'upcased_connections_rejected_total{reason="acl"}',
    'upcased_connections_rejected_total{reason="per_ip"}',
    'upcased_connections_rejected_total{reason="proxy"}',
    'upcased_accept_pauses_total{reason="max_conns"}',
    'upcased_accept_pauses_total{reason="emfile"}',
    'upcased_accept_paused_seconds_total{reason="max_conns"}',
    'upcased_accept_paused_seconds_total{reason="emfile"}',
    'upcased_connections_closed_total{reason="eof"}',
    'upcased_connections_closed_total{reason="idle_timeout"}',
    'upcased_connections_closed_total{reason="write_timeout"}',
    'upcased_connections_closed_total{reason="reset"}',
    'upcased_connections_closed_total{reason="error"}',
    'upcased_connections_closed_total{reason="shutdown"}',
    'upcased_datagrams_dropped_total{reason="kernel"}',
    'upcased_datagrams_dropped_total{reason="send"}',
    'upcased_datagrams_dropped_total{reason="loop"}',
    'upcased_datagrams_dropped_total{reason="acl"}',
    'upcased_datagrams_dropped_total{reason="rate"}',
]


def version():
    out = subprocess.run([UPCASED, "-V"],
                         stdout=subprocess.PIPE, check=True).stdout.decode()
    return out.split()[1]


def test_every_family_and_promtool():
    with Daemon("--metrics", "127.0.0.1:0", "--threads", "2") as d:
        m = Metrics(d)
        text = m.text()
        for name, kind in FAMILIES.items():
            expect(re.search(r"^# HELP %s \S" % name, text, re.M),
                   "HELP for " + name)
            expect(re.search(r"^# TYPE %s %s$" % (name, kind), text, re.M),
                   "TYPE for " + name, kind, re.findall(
                       r"^# TYPE %s .*$" % name, text, re.M))
        s = m.scrape()
        for series in SERIES:
            if "%s" in series:
                series = series % version()
            expect(series in s, "series present from the start: " + series)
            if "rejected" in series or "closed" in series:
                expect(s[series] == 0, series, 0, s[series])
        for w in ("0", "1"):
            for le in ("0.001", "0.1", "1", "10", "+Inf"):
                key = ('upcased_loop_lag_seconds_bucket{worker="%s",le="%s"}'
                       % (w, le))
                expect(key in s, key)
            expect('upcased_loop_lag_seconds_count{worker="%s"}' % w in s,
                   "the lag count of worker " + w)
        expect(s["upcased_accepting"] == 1, "accepting", 1,
               s["upcased_accepting"])
        expect(s["process_open_fds"] > 3 and s["process_max_fds"] > 3 and
               s["process_resident_memory_bytes"] > 0,
               "the process collector reads this process")
        start = s["process_start_time_seconds"]
        expect(abs(start - time.time()) < 600 * SLOW,
               "process_start_time_seconds is about now", time.time(), start)
        p = subprocess.run(["promtool", "check", "metrics"],
                           input=text.encode(), stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT)
        expect(p.returncode == 0, "promtool check metrics accepts the page",
               0, (p.returncode, p.stdout.decode()[-2000:]))
        d.stop()


def test_datagrams_counted():
    with Daemon("--metrics", "127.0.0.1:0",
                listen=("127.0.0.1:0", "udp:127.0.0.1:0")) as d:
        m = Metrics(d)
        fam, kind, sa = parse_addr(d.addrs[1])
        u = socket.socket(fam, kind)
        u.settimeout(10 * SLOW)
        for i in range(5):
            u.sendto(b"ping%d" % i, sa)
            expect(u.recvfrom(100)[0] == b"PING%d" % i, "udp reply")
        u.close()
        s = m.wait(lambda s: s["upcased_datagrams_sent_total"] >= 5,
                   "5 datagrams answered")
        expect(s["upcased_datagrams_received_total"] == 5, "datagrams "
               "received", 5, s["upcased_datagrams_received_total"])
        expect(s["upcased_received_bytes_total"] == 25, "datagram bytes",
               25, s["upcased_received_bytes_total"])
        expect(s['upcased_datagrams_dropped_total{reason="send"}'] == 0,
               "nothing dropped")
        d.stop()


def test_healthz_serving_and_paused_at_max_conns():
    with Daemon("--metrics", "127.0.0.1:0", "--max-conns", "1") as d:
        m = Metrics(d)
        expect(m.health() == (200, b"ok\n"), "healthz while serving",
               (200, b"ok\n"), m.health())
        held = connect(d.addr)
        held.sendall(b"x")
        expect(recv_exactly(held, 1) == b"X", "the one connection served")
        s = m.wait(lambda s: s["upcased_accepting"] == 0,
                   "accepting paused at max_conns")
        expect(s['upcased_accept_pauses_total{reason="max_conns"}'] >= 1,
               "a max_conns pause counted")
        expect(m.health() == (503, b"not accepting\n"),
               "healthz while paused", (503, b"not accepting\n"), m.health())
        # The paused time runs while paused.
        t0 = s['upcased_accept_paused_seconds_total{reason="max_conns"}']
        m.wait(lambda s: s['upcased_accept_paused_seconds_total'
                           '{reason="max_conns"}'] > t0,
               "paused seconds rise while paused")
        held.close()
        m.wait(lambda s: s["upcased_accepting"] == 1, "accepting again")
        expect(m.health() == (200, b"ok\n"), "healthz after the pause")
        status, headers, body = m.request("HEAD", "/healthz")
        expect((status, body, headers.get("Content-Length")) ==
               (200, b"", "3"), "HEAD /healthz: headers only, GET's length",
               (200, b"", "3"), (status, body, headers.get("Content-Length")))
        d.stop()


def test_healthz_while_draining():
    with Daemon("--metrics", "127.0.0.1:0", "--shutdown-timeout", "60") as d:
        m = Metrics(d)
        s = connect(d.addr)
        stop = threading.Event()
        errors = []

        def keep_sending():
            # Never quiet for the drain's 0.5 s: the shutdown waits.
            try:
                while not stop.is_set():
                    s.sendall(b"drain")
                    if recv_exactly(s, 5) != b"DRAIN":
                        errors.append("wrong reply while draining")
                    time.sleep(0.05)
                s.shutdown(socket.SHUT_WR)
                s.recv(1)
            except OSError as e:
                errors.append(e)

        t = threading.Thread(target=keep_sending, daemon=True)
        t.start()
        d.signal(signal.SIGTERM)
        d.wait_log(r" info SIGTERM: shutting down")
        wait_until(m.health, lambda h: h == (503, b"shutting down\n"),
                   "healthz says shutting down", pause=0.05)
        sc = m.scrape()
        expect(sc["upcased_shutting_down"] == 1 and sc["upcased_accepting"] ==
               0 and sc["upcased_connections"] == 1,
               "metrics served during the drain, the client still there")
        expect(d.proc.poll() is None, "upcased still draining")
        stop.set()
        t.join(20 * SLOW)
        expect(not errors, "the draining client was served", [], errors)
        rc = d.wait()
        expect(rc == 0, "exit status after the drain", 0, rc)


def test_not_found_and_methods():
    with Daemon("--metrics", "127.0.0.1:0") as d:
        m = Metrics(d)
        for path in ("/", "/metricsx", "/healthz/", "/favicon.ico"):
            status, _, _ = m.request("GET", path)
            expect(status == 404, "GET %s" % path, 404, status)
        for method in ("POST", "PUT", "DELETE", "PATCH", "OPTIONS"):
            for path in ("/metrics", "/healthz"):
                status, headers, _ = m.request(method, path, body=b"")
                expect(status == 405, "%s %s" % (method, path), 405, status)
                expect(headers.get("Allow") == "GET, HEAD", "Allow header",
                       "GET, HEAD", headers.get("Allow"))
        status, headers, body = m.request("HEAD", "/metrics")
        expect(status == 200 and body == b"" and
               int(headers["Content-Length"]) > 1000,
               "HEAD /metrics: the length, no body", None,
               (status, len(body), headers.get("Content-Length")))
        status, _, _ = m.request("GET", "/metrics?x=1")
        expect(status == 200, "a query string is ignored", 200, status)
        d.stop()


def raw(addr, data, timeout=10):
    """Send data on a fresh connection; return what comes back until the
    server closes (or timeout)."""
    _, _, sa = parse_addr(addr)
    s = socket.create_connection(sa, timeout=timeout * SLOW)
    try:
        s.sendall(data)
        buf = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                return buf
            buf += chunk
    finally:
        s.close()


def test_bad_and_half_sent_requests():
    with Daemon("--metrics", "127.0.0.1:0") as d:
        m = Metrics(d)
        got = raw(m.addr, b"\x00\xffGARBAGE\r\n\r\n")
        expect(got == b"" or got.startswith(b"HTTP/1.1 400"),
               "a bad request: 400 or closed", "HTTP/1.1 400", got[:40])
        got = raw(m.addr, b"GET /metrics HTTP/1.1\r\nX: " + b"a" * 20000 +
                  b"\r\n\r\n")
        expect(got == b"" or got.startswith(b"HTTP/1.1 4"),
               "headers over the bound: refused", "HTTP/1.1 4xx", got[:40])
        # Half a request: held only until the timeout, while the echo
        # service and the scrapes go on.
        _, _, sa = parse_addr(m.addr)
        half = socket.create_connection(sa, timeout=30 * SLOW)
        half.sendall(b"GET /metr")
        start = time.monotonic()
        expect(exchange(d.addr, b"still echoing") == b"STILL ECHOING",
               "echo while an HTTP request is half sent")
        expect("upcased_received_bytes_total" in m.scrape(),
               "a scrape while a request is half sent")
        got = half.recv(100)
        took = time.monotonic() - start
        half.close()
        expect(got == b"" or got.startswith(b"HTTP/1.1 408"),
               "the half-sent request is closed", b"", got)
        expect(took < (HTTP_TIMEOUT_S + 10) * SLOW,
               "closed within the timeout", "<= %d s" % HTTP_TIMEOUT_S,
               "%.1f s" % took)
        s = m.scrape()
        expect(s["upcased_received_bytes_total"] == len(b"still echoing"),
               "the next scrape counts as before")
        d.stop()


def test_loop_lag_counts_rise():
    with Daemon("--metrics", "127.0.0.1:0", "--threads", "2") as d:
        m = Metrics(d)
        first = m.scrape()
        key = 'upcased_loop_lag_seconds_count{worker="%s"}'
        m.wait(lambda s: all(s[key % w] > first[key % w] + 2
                             for w in ("0", "1")),
               "every worker's loop lag count rises")
        s = m.scrape()
        for w in ("0", "1"):
            inf = s['upcased_loop_lag_seconds_bucket{worker="%s",le="+Inf"}'
                    % w]
            expect(inf == s[key % w], "+Inf bucket is the count", s[key % w],
                   inf)
        d.stop()


def test_pending_bytes_and_backpressure():
    with Daemon("--metrics", "127.0.0.1:0", "--max-pending", "65536") as d:
        m = Metrics(d)
        s = connect(d.addr, rcvbuf=4096)
        flood_until_stalled(s)
        sc = m.wait(lambda sc: sc["upcased_backpressure_pauses_total"] >= 1,
                    "a backpressure pause")
        expect(sc["upcased_pending_bytes"] >= 65536, "replies held",
               ">= 65536", sc["upcased_pending_bytes"])
        s.close()  # unread replies: a reset, and the pending bytes go
        m.wait(lambda sc: sc["upcased_pending_bytes"] == 0 and
               sc["upcased_connections"] == 0, "nothing held once closed")
        d.stop()


def test_reload_opens_moves_and_closes():
    tmp = tempfile.TemporaryDirectory()
    conf = os.path.join(tmp.name, "u.conf")

    def write(text):
        with open(conf, "w") as f:
            f.write("listen = 127.0.0.1:0\n" + text)

    try:
        write("")
        with Daemon("-c", conf, listen=(), expect_listeners=1) as d:
            write("metrics = 127.0.0.1:0\n")
            d.signal(signal.SIGHUP)
            m = Metrics(d)
            d.wait_log(r" notice reloaded .*: changed .*metrics$")
            expect(m.health()[0] == 200, "metrics opened by a reload")
            # A bad address fails the reload and keeps the listener.
            with socket.socket() as busy:
                busy.bind(("127.0.0.1", 0))
                busy.listen(1)
                write("metrics = 127.0.0.1:%d\n" % busy.getsockname()[1])
                d.signal(signal.SIGHUP)
                d.wait_log(r" warn reload failed: .*metrics listener")
            expect(m.health()[0] == 200, "kept after a failed reload")
            write("metrics = 127.0.0.1:0\n")
            d.signal(signal.SIGHUP)
            d.wait_log(r" notice reloaded .*: no changes$")
            expect(m.health()[0] == 200, "an unchanged key keeps it")
            write("metrics = 127.0.0.2:0\n")
            d.signal(signal.SIGHUP)
            m2 = Metrics(d)
            d.wait_log(r" notice closed metrics listener %s$" %
                       re.escape(m.addr))
            expect(m2.health()[0] == 200, "metrics moved")
            write("metrics = none\n")
            d.signal(signal.SIGHUP)
            d.wait_log(r" notice closed metrics listener %s$" %
                       re.escape(m2.addr))
            try:
                m2.health()
                raise TestFailure("metrics still served after metrics = none")
            except ConnectionRefusedError:
                pass
            d.stop()
    finally:
        tmp.cleanup()


def test_restart_hands_the_listener_over():
    new_pid = None
    try:
        with Daemon("--metrics", "127.0.0.1:0") as old:
            m = Metrics(old)
            old.wait_log(r" notice ready: ")
            exchange(old.addr, b"before")
            old.signal(signal.SIGUSR2)
            hand = old.wait_log(r" notice restart: pid (\d+) serves: handing")
            new_pid = int(hand.group(1))
            n = sum(ln.endswith(" notice metrics on " + m.addr)
                    for ln in old.lines)
            expect(n == 2, "metrics on the same address in both processes",
                   2, n)
            rc = old.wait(timeout=30)
            expect(rc == 0, "old process exit status", 0, rc)
            # The successor's counters: it started at 0.
            s = m.wait(lambda s: s["upcased_received_bytes_total"] == 0,
                       "the new process answers the scrape")
            expect(s["upcased_accepting"] == 1, "the successor accepts")
            exchange(old.addr, b"after")
            m.wait(lambda s: s["upcased_received_bytes_total"] == 5,
                   "the successor counts its own traffic")
        stop_gone(new_pid, "the new process stops")
        new_pid = None
    finally:
        kill_leftover(new_pid)


SRCDIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")


def promtool(*args, cwd=None):
    p = subprocess.run(["promtool"] + list(args), stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, cwd=cwd, timeout=60 * SLOW)
    expect(p.returncode == 0, "promtool %s" % " ".join(args), 0,
           (p.returncode, p.stdout.decode()[-2000:]))


def names_used(text):
    """The metric families an expression text reads."""
    out = set()
    for n in re.findall(r"\b((?:upcased|process)_[a-z_]+)\b", text):
        for suffix in ("_bucket", "_sum", "_count"):
            if n.endswith(suffix) and n[:-len(suffix)] in FAMILIES:
                n = n[:-len(suffix)]
        out.add(n)
    return out


def test_shipped_prometheus_and_grafana_files():
    # The sample configuration and its rules are valid, the rules fire on
    # what they are for (promtool's rule unit tests), and they and the
    # dashboard read only families upcased exports.
    conf = os.path.join(SRCDIR, "conf")
    promtool("check", "config", os.path.join(conf, "prometheus.yml"))
    promtool("test", "rules", "upcased-alerts.test.yml",
             cwd=os.path.join(SRCDIR, "tests"))
    with open(os.path.join(conf, "upcased-alerts.yml")) as f:
        rules = f.read()
    unknown = names_used(rules) - set(FAMILIES)
    expect(not unknown, "the rules read only exported families", [],
           sorted(unknown))
    with open(os.path.join(conf, "grafana-upcased.json")) as f:
        dash = json.load(f)
    exprs = [t["expr"] for p in dash["panels"] for t in p["targets"]]
    expect(len(exprs) >= 10, "the dashboard's queries", ">= 10", len(exprs))
    used = set().union(*(names_used(e) for e in exprs))
    expect(not used - set(FAMILIES), "the dashboard reads only exported "
           "families", [], sorted(used - set(FAMILIES)))
    expect("upcased_loop_lag_seconds" in used and
           "upcased_connections_rejected_total" in used,
           "the dashboard shows the loop lag and the rejections")


def test_metrics_key_checked():
    for value, why in (("udp:127.0.0.1:9100", "served over TCP"),
                       ("unix:/tmp/m.sock", "served over TCP"),
                       ("127.0.0.1", "")):
        p = subprocess.run([UPCASED,
                            "--metrics", value, "--check-config"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        expect(p.returncode == 2, "--metrics %s refused" % value, 2,
               p.returncode)
        err = p.stderr.decode()
        expect(err.startswith("upcased: --metrics: ") and why in err,
               "the error names the option", why, err)
    p = subprocess.run([UPCASED, "--metrics",
                        "[::1]:9100", "--check-config"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    expect(p.returncode == 0 and b"metrics = [::1]:9100\n" in p.stdout,
           "--check-config prints the key", "metrics = [::1]:9100",
           p.stdout.decode() + p.stderr.decode())


if __name__ == "__main__":
    run_tests([
        test_exact_counters,
        test_every_family_and_promtool,
        test_datagrams_counted,
        test_healthz_serving_and_paused_at_max_conns,
        test_healthz_while_draining,
        test_not_found_and_methods,
        test_bad_and_half_sent_requests,
        test_loop_lag_counts_rise,
        test_pending_bytes_and_backpressure,
        test_reload_opens_moves_and_closes,
        test_restart_hands_the_listener_over,
        test_metrics_key_checked,
        test_shipped_prometheus_and_grafana_files,
    ])
