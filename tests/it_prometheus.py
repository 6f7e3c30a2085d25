#!/usr/bin/env python3
"""it_prometheus: a real Prometheus (Debian's prometheus) scrapes the real
upcased: started on loopback with a generated scrape config (every 1 s)
and a temporary storage directory, it must store exactly the bytes the
test sent, and up{job="upcased"} must be 1.  Prometheus is stopped at the
end, whatever happens."""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from itlib import (Daemon, SLOW, TestFailure, connect, expect,  # noqa: E402
                   recv_exactly, run_tests)

METRICS_RE = r" notice metrics on (\S+)$"


def free_port():
    """A port free now on 127.0.0.1 (Prometheus cannot listen on port 0
    and say which port it got); a race is retried by the caller."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Prometheus:
    """prometheus on 127.0.0.1, scraping target every second."""

    def __init__(self, target, tmp):
        self.tmp = tmp
        conf = os.path.join(tmp, "prometheus.yml")
        with open(conf, "w") as f:
            f.write("global:\n"
                    "  scrape_interval: 1s\n"
                    "  scrape_timeout: 1s\n"
                    "scrape_configs:\n"
                    "  - job_name: upcased\n"
                    "    static_configs:\n"
                    "      - targets: ['%s']\n" % target)
        self.proc = None
        for _ in range(3):
            self.port = free_port()
            self.log = open(os.path.join(tmp, "prometheus.log"), "w+")
            self.proc = subprocess.Popen(
                ["prometheus", "--config.file=" + conf,
                 "--storage.tsdb.path=" + os.path.join(tmp, "data"),
                 "--web.listen-address=127.0.0.1:%d" % self.port],
                stdin=subprocess.DEVNULL, stdout=self.log,
                stderr=subprocess.STDOUT, cwd=tmp)
            if self._wait_ready():
                return
            self.stop()
        raise TestFailure("prometheus did not start; its log:\n" +
                          self._log_tail())

    def _log_tail(self):
        self.log.seek(0)
        return self.log.read()[-3000:]

    def _wait_ready(self):
        deadline = time.monotonic() + 60 * SLOW
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False  # a port taken in the meantime, say
            try:
                with urllib.request.urlopen(
                        "http://127.0.0.1:%d/-/ready" % self.port,
                        timeout=5) as r:
                    if r.status == 200:
                        return True
            except OSError:
                pass
            time.sleep(0.1)  # no event says "ready": poll its endpoint
        return False

    def query(self, expr):
        """The instant vector for expr: [(labels, value)]."""
        url = "http://127.0.0.1:%d/api/v1/query?%s" % (
            self.port, urllib.parse.urlencode({"query": expr}))
        with urllib.request.urlopen(url, timeout=10 * SLOW) as r:
            doc = json.load(r)
        expect(doc.get("status") == "success", "query %s" % expr, "success",
               doc)
        return [(e["metric"], e["value"][1]) for e in doc["data"]["result"]]

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30 * SLOW)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def test_prometheus_stores_what_was_sent():
    n, size = 7, 4321
    sent = n * size
    tmp = tempfile.mkdtemp(prefix="it_prometheus.")
    prom = None
    try:
        with Daemon("--metrics", "127.0.0.1:0") as d:
            target = d.wait_log(METRICS_RE).group(1)
            for i in range(n):
                s = connect(d.addr)
                data = bytes(97 + (i * 7 + k) % 26 for k in range(size))
                s.sendall(data)
                expect(recv_exactly(s, size) == data.upper(), "reply %d" % i)
                s.close()
            prom = Prometheus(target, tmp)
            deadline = time.monotonic() + 60 * SLOW
            got = up = None
            while True:
                got = prom.query("upcased_received_bytes_total")
                up = prom.query('up{job="upcased"}')
                if (len(got) == 1 and got[0][1] == str(sent) and
                        len(up) == 1 and up[0][1] == "1"):
                    break
                if time.monotonic() > deadline:
                    raise TestFailure(
                        "prometheus stored %r and up %r, expected %d and 1; "
                        "its log:\n%s" % (got, up, sent, prom._log_tail()))
                time.sleep(0.2)  # the next scrape is due within 1 s
            expect(got[0][0].get("job") == "upcased" and
                   got[0][0].get("instance") == target,
                   "the series carries the job and the instance",
                   {"job": "upcased", "instance": target}, got[0][0])
            sent_back = prom.query("upcased_sent_bytes_total")
            expect(sent_back and sent_back[0][1] == str(sent),
                   "prometheus stored the bytes sent back", str(sent),
                   sent_back)
            hist = prom.query('upcased_loop_lag_seconds_count{worker="0"}')
            expect(hist and float(hist[0][1]) > 0,
                   "the loop lag histogram is stored", "> 0", hist)
            d.stop()
    finally:
        if prom is not None:
            prom.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    if shutil.which("prometheus") is None:
        print("not ok - prometheus is not installed (Debian: apt-get install "
              "prometheus; scripts/deps does)")
        print("0 passed, 1 failed")
        sys.exit(1)
    run_tests([test_prometheus_stores_what_was_sent])
