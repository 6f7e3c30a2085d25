#!/usr/bin/env python3
"""Integration: upcase bench against the real upcased (sane numbers, no
errors) and against tests/wrong_server.py (every kind of wrong server is
caught, counted and turned into a non-zero exit, within -d + -t)."""
import base64
import json
import math
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import xml.etree.ElementTree as ET
import zlib

from itlib import (Daemon, SLOW, TestFailure, UPCASE, _sanitized, expect,
                   full_accept_queue, run_tests, wait_stats)

HERE = os.path.dirname(os.path.abspath(__file__))
WRONG = os.path.join(HERE, "wrong_server.py")
KINDS = ("connect", "mismatch", "short", "extra", "reset", "close",
         "timeout", "unsent", "lost", "io")


def bench(args, timeout=60, wrapper=()):
    """Run upcase bench; return (status, stdout, stderr, seconds taken)."""
    cmd = list(wrapper) + [UPCASE, "bench"] + list(args)
    start = time.monotonic()
    try:
        p = subprocess.run(cmd, stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=timeout * SLOW)
    except subprocess.TimeoutExpired:
        raise TestFailure("%s did not exit within %.0f s" % (cmd, timeout * SLOW))
    return (p.returncode, p.stdout.decode(), p.stderr.decode(),
            time.monotonic() - start)


def bench_json(args, timeout=60, wrapper=()):
    rc, out, err, took = bench(["--json", "-q"] + list(args), timeout,
                               wrapper)
    try:
        j = json.loads(out)
    except ValueError:
        raise TestFailure("bench %s: stdout is not one JSON object (status "
                          "%d):\n%s\nstderr:\n%s" % (args, rc, out, err))
    expect(j["exit_status"] == rc, "exit_status in the JSON", rc,
           j["exit_status"])
    return rc, j, err, took


def expect_clean(j, err, what):
    expect(j["errors"] == 0 and j["mismatches"] == 0 and j["timeouts"] == 0,
           "%s: no errors (stderr: %s)" % (what, err.strip()), 0,
           j["errors_by_kind"])
    for k in KINDS:
        expect(j["errors_by_kind"][k] == 0, "%s: no %s errors" % (what, k),
               0, j["errors_by_kind"][k])
    expect(j["first_mismatch"] is None, "%s: no mismatch" % what, None,
           j["first_mismatch"])


def expect_cpu_sane(j, err, what):
    """client_cpu_s and client_busy_pct are there, possible, and the
    CPU-bound warning is on stderr exactly when a thread was that busy."""
    cpu, busy = j["client_cpu_s"], j["client_busy_pct"]
    limit = (j["threads"] + 1) * j["duration_s"] * 1.1 + 0.5
    expect(0 < cpu <= limit, "%s: client_cpu_s" % what, "0 .. %.1f" % limit,
           cpu)
    expect(0 < busy <= 110, "%s: client_busy_pct" % what, "0 .. 100", busy)
    warned = "bench was CPU-bound" in err and "add -T or machines" in err
    expect(warned == (busy > 90), "%s: the CPU-bound warning iff a thread "
           "was busy more than 90%% of the run" % what, busy > 90, err)


def expect_latency_sane(j, what, limit_us):
    lat = j["latency_us"]
    order = [lat["min"], lat["p50"], lat["p90"], lat["p99"], lat["p999"],
             lat["max"]]
    expect(lat["count"] > 0 and order[0] > 0, "%s: latencies measured" % what,
           "count > 0, min > 0", lat)
    expect(order == sorted(order), "%s: min <= p50 <= ... <= max" % what,
           sorted(order), order)
    expect(lat["max"] < limit_us, "%s: max latency below %d us" % (what, limit_us),
           limit_us, lat["max"])


def hdr_decode(text):
    """HdrHistogram's compressed V2 encoding (base64) -> {bucket: count},
    decoded here from the format, independently of bench's C."""
    raw = base64.b64decode(text, validate=True)
    cookie, length = int.from_bytes(raw[:4], "big"), int.from_bytes(raw[4:8], "big")
    expect(cookie == 0x1c849314 and length == len(raw) - 8,
           "compressed V2 cookie and length", (0x1c849314, len(raw) - 8),
           (hex(cookie), length))
    enc = zlib.decompress(raw[8:])
    cookie = int.from_bytes(enc[:4], "big")
    payload = int.from_bytes(enc[4:8], "big")
    digits = int.from_bytes(enc[12:16], "big")
    lowest = int.from_bytes(enc[16:24], "big")
    highest = int.from_bytes(enc[24:32], "big")
    expect(cookie == 0x1c849313 and payload == len(enc) - 40 and
           digits == 2 and lowest == 1 and highest == 2 ** 63 - 1 and
           enc[32:40] == bytes.fromhex("3ff0000000000000"),
           "V2 header: cookie, payload length, 2 digits, 1 .. 2^63-1, ratio 1",
           None, (hex(cookie), payload, len(enc) - 40, digits, lowest, highest))
    counts, i, at = {}, 0, 40
    while at < len(enc):
        v = shift = 0
        for n in range(9):      # LEB128-64b9B: the 9th byte has 8 bits
            b = enc[at]
            at += 1
            if n == 8:
                v |= b << 56
                break
            v |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                break
        v = (v >> 1) ^ -(v & 1)     # ZigZag
        if v < 0:
            i += -v
        else:
            if v:
                counts[i] = v
            i += 1
    return counts


def bucket_value(i):
    """The middle of bucket i, as bench reports percentiles."""
    if i < 256:
        return i
    shift = i // 128 - 1
    lo = (i - shift * 128) << shift
    return lo + ((1 << shift) - 1) // 2


def percentile_us(counts, p, lat):
    """bench's rule: the bucket holding rank ceil(p% of the count), clamped
    to the exact min and max of the summary (latency_us)."""
    total = sum(counts.values())
    r = p * total / 100.0
    rank = max(1, min(total, math.ceil(r - r * 1e-12)))
    seen = 0
    for i in sorted(counts):
        seen += counts[i]
        if seen >= rank:
            v = bucket_value(i) / 1e3
            return min(max(v, lat["min"]), lat["max"])
    return lat["max"]


def expect_percentiles(counts, lat, what):
    expect(sum(counts.values()) == lat["count"], "%s: counts add up to "
           "latency_us.count" % what, lat["count"], sum(counts.values()))
    for key, p in (("p50", 50), ("p90", 90), ("p99", 99), ("p999", 99.9)):
        got = percentile_us(counts, p, lat)
        expect(abs(got - lat[key]) <= lat[key] * 0.01 + 0.002,
               "%s: %s from the decoded histogram" % (what, key), lat[key],
               got)


class WrongServer:
    """tests/wrong_server.py in one of its modes, on a free port."""

    def __init__(self, mode):
        self.proc = subprocess.Popen([sys.executable, WRONG, mode],
                                     stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE)
        ready, _, _ = select.select([self.proc.stdout], [], [], 10 * SLOW)
        line = self.proc.stdout.readline().decode() if ready else ""
        m = re.match(r"listening on (\S+)", line)
        if not m:
            self.proc.kill()
            self.proc.wait()
            raise TestFailure("wrong_server %s did not start: %r" % (mode, line))
        self.addr = m.group(1)

    def lines(self, quiet=0.5):
        """What the server printed since it started listening, read
        until it has been quiet for `quiet` seconds."""
        # Straight from the descriptor: a buffered readline() would take
        # more than a line, and select() would not see it again.
        fd, data = self.proc.stdout.fileno(), b""
        while select.select([fd], [], [], quiet * SLOW)[0]:
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            data += chunk
        return data.decode().splitlines()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.proc.kill()
        self.proc.wait()
        self.proc.stdout.close()


def test_json_against_upcased():
    with Daemon("--threads", "2") as d:
        rc, j, err, took = bench_json(["-d", "2", "-c", "20", "-s", "100",
                                       "-T", "2", d.addr])
        expect(rc == 0, "bench status (stderr: %s)" % err.strip(), 0, rc)
        expect_clean(j, err, "bench against upcased")
        expect(j["mode"] == "closed" and j["target"] == d.addr,
               "mode and target", ("closed", d.addr), (j["mode"], j["target"]))
        expect(j["connections"] == 20 and j["connections_failed"] == 0,
               "20 connections established", 20, j["connections"])
        expect(j["messages"] > 1000, "more than 1000 exchanges in 2 s",
               "> 1000", j["messages"])
        expect(j["bytes"] == j["messages"] * 100, "bytes = messages x size",
               j["messages"] * 100, j["bytes"])
        expect(2.0 <= j["duration_s"] < 2.0 + 5, "duration_s within -d .. -d + -t",
               "2 .. 7", j["duration_s"])
        rate = j["messages"] / j["duration_s"]
        expect(abs(j["msgs_per_sec"] - rate) <= rate * 1e-3,
               "msgs_per_sec = messages / duration_s", rate, j["msgs_per_sec"])
        expect(abs(j["bytes_per_sec"] - 100 * rate) <= 100 * rate * 1e-3,
               "bytes_per_sec = bytes / duration_s", 100 * rate,
               j["bytes_per_sec"])
        expect_latency_sane(j, "closed loop", 5e6)
        expect_cpu_sane(j, err, "closed loop")
        # The server saw exactly the bytes bench says it exchanged.
        st = d.stats()
        expect(st["bytes_in"] == j["bytes"] and st["bytes_out"] == j["bytes"],
               "upcased's byte counters match bench's", j["bytes"],
               (st["bytes_in"], st["bytes_out"]))
        expect(st["conns_total"] == 20, "upcased saw 20 connections", 20,
               st["conns_total"])
        d.stop()


def test_total_messages_pipelined():
    with Daemon() as d:
        rc, j, err, took = bench_json(["-n", "3000", "-c", "8", "--pipeline",
                                       "4", "-s", "1000", d.addr])
        expect(rc == 0, "bench -n status (stderr: %s)" % err.strip(), 0, rc)
        expect_clean(j, err, "bench -n")
        expect(j["messages"] == 3000 and j["bytes"] == 3000 * 1000,
               "exactly -n messages", 3000, (j["messages"], j["bytes"]))
        expect(j["pipeline"] == 4 and j["size"] == 1000, "pipeline and size",
               (4, 1000), (j["pipeline"], j["size"]))
        d.stop()


def test_unix_socket():
    path = "/tmp/upcase-it-bench-%d.sock" % os.getpid()
    with Daemon(listen=("unix:" + path,)) as d:
        rc, j, err, took = bench_json(["-n", "2000", "-c", "4", d.addr])
        expect(rc == 0, "bench over a unix socket (stderr: %s)" % err.strip(),
               0, rc)
        expect_clean(j, err, "unix socket")
        expect(j["messages"] == 2000, "2000 exchanges", 2000, j["messages"])
        d.stop()


def test_wrong_byte_counted():
    with WrongServer("lower") as w:
        rc, j, err, took = bench_json(["-d", "1", "-c", "4", "-t", "2", w.addr])
        expect(rc == 5, "status for wrong replies", 5, rc)
        expect(j["mismatches"] > 0 and j["errors"] >= j["mismatches"],
               "mismatches counted", "> 0", (j["mismatches"], j["errors"]))
        m = j["first_mismatch"]
        expect(m is not None, "first_mismatch reported", "an object", m)
        # The server left a lowercase letter: got is want + 0x20.
        expect(65 <= m["want"] <= 90 and m["got"] == m["want"] + 32,
               "the wrong byte is a letter left lowercase", "want A-Z, got a-z",
               m)
        expect(m["offset"] == m["reply"] * j["size"] + m["byte"],
               "offset = reply x size + byte", m["reply"] * j["size"] + m["byte"],
               m["offset"])
        expect("mismatch" in err and "got 0x%02x" % m["got"] in err,
               "the first mismatch is told on stderr", "a line", err)
        expect(took < 1 + 2 + 5 * SLOW, "done within -d + -t", "< 8 s", took)


def test_hangup_counted_without_hanging():
    with WrongServer("hangup") as w:
        rc, j, err, took = bench_json(["-d", "2", "-t", "2", "-c", "4", w.addr])
        expect(rc == 3, "status when the server hangs up", 3, rc)
        expect(j["errors"] > 0 and j["errors_by_kind"]["close"] > 0,
               "closes counted", "> 0", j["errors_by_kind"])
        expect(took < 2 + 2 + 3 * SLOW, "exits within -d + -t", "< 7 s", took)


def test_stall_times_out_within_d_plus_t():
    with WrongServer("stall") as w:
        rc, j, err, took = bench_json(["-d", "1", "-t", "1", "-c", "4", w.addr])
        expect(rc == 4, "status when replies never come", 4, rc)
        expect(j["timeouts"] == 4, "one timeout per connection", 4, j["timeouts"])
        expect(j["messages"] == 0, "no replies", 0, j["messages"])
        expect(took < 1 + 1 + 2 * SLOW, "exits within -d + -t", "< 4 s", took)


def test_short_and_extra_replies():
    for mode, status in (("short", 3), ("extra", 5)):
        with WrongServer(mode) as w:
            rc, j, err, took = bench_json(["-d", "1", "-c", "2", w.addr])
            expect(rc == status, "status for %s replies" % mode, status, rc)
            expect(j["errors_by_kind"][mode] > 0, "%s replies counted" % mode,
                   "> 0", j["errors_by_kind"])


def test_deep_pipeline_ends_within_d_plus_t():
    # Replies that arrive faster than bench reads them (a busy client
    # machine; here valgrind makes bench some 50 times slower than
    # upcased) must not keep one callback reading for ever: the hard stop
    # at -d + -t comes on time.  (ASan builds cannot run under valgrind;
    # they are slow enough by themselves.)
    wrapper = ()
    if not _sanitized(UPCASE):
        if shutil.which("valgrind") is None:
            print("# skip: valgrind is not installed")
            return
        wrapper = ("valgrind", "-q")
    with Daemon() as d:
        rc, j, err, took = bench_json(["--pipeline", "65536", "-c", "4",
                                       "-s", "64k", "-d", "1", "-t", "1",
                                       "-T", "1", d.addr], timeout=60,
                                      wrapper=wrapper)
        expect(rc == 4 and j["timeouts"] == 4,
               "replies still owed at -d + -t are timeouts", 4,
               (rc, j["errors_by_kind"]))
        # Plus one turn of the loop, bounded but long under valgrind
        # (memcheck checks every byte each sendmsg offers), and longer
        # on a busy machine; before the bound the run never ended.
        slack = 3 * SLOW if wrapper else 0.5 * SLOW
        expect(j["duration_s"] <= 1 + 1 + slack,
               "ends at -d + -t (plus the callbacks running then)",
               "<= %.1f s" % (2 + slack), j["duration_s"])
        d.stop()


def test_connection_refused():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    addr = "127.0.0.1:%d" % s.getsockname()[1]
    s.close()       # nothing listens there now
    rc, j, err, took = bench_json(["-d", "5", "-c", "3", addr])
    expect(rc == 3, "status when nothing listens", 3, rc)
    expect(j["connections"] == 0 and j["connections_failed"] == 3,
           "3 failed connections", 3, j["connections_failed"])
    expect(took < 4 * SLOW, "gives up at once, not after -d", "< 4 s", took)


def test_connects_that_never_finish_are_errors():
    # Connects that hang (SYNs dropped by a full accept queue) must not
    # make a success of a run because its duration ended first: each
    # such connect is an error once -t has passed.
    with full_accept_queue() as full:
        if full is None:
            print("# skip: this kernel never leaves a loopback connect hanging")
            return
        rc, j, err, took = bench_json(["-d", "1", "-t", "1", "-c", "4",
                                       full[0]])
    expect(rc == 3, "status when connects never finish", 3, rc)
    expect(j["connections"] == 0 and j["errors_by_kind"]["connect"] == 4,
           "every hanging connect counted", 4, j["errors_by_kind"])
    expect(took < 1 + 1 + 2 * SLOW, "exits within -d + -t", "< 4 s", took)


def test_connect_finishing_after_the_duration_ends_the_run():
    # A connect still hanging when the duration ends, that then succeeds:
    # the run is over, so the connection is closed at once, whatever the
    # mode (--idle would otherwise hold it until the -t hard stop).
    with full_accept_queue() as full:
        if full is None:
            print("# skip: this kernel never leaves a loopback connect hanging")
            return
        addr, ls = full
        # Make room after bench's first SYN was dropped; its retransmit,
        # ~1 s later, connects past the 0.3 s duration.  (Were this accept
        # late, the connect would just happen later: no false failure.)
        room = threading.Timer(0.5, lambda: ls.accept()[0].close())
        room.start()
        try:
            rc, j, err, took = bench_json(["--idle", "1", "-d", "0.3",
                                           "-t", "30", addr])
        finally:
            room.cancel()
    expect(j["connections"] == 1, "the late connect succeeded", 1,
           j["connections"])
    expect(took < 10 * SLOW, "exits long before the -t hard stop",
           "< %d s" % (10 * SLOW), took)


def test_churn():
    with Daemon() as d:
        rc, j, err, took = bench_json(["--churn", "-d", "2", "-c", "8", d.addr])
        expect(rc == 0, "churn status (stderr: %s)" % err.strip(), 0, rc)
        expect_clean(j, err, "churn")
        expect(j["mode"] == "churn", "mode", "churn", j["mode"])
        expect(j["connections"] > 200, "more than 200 connections in 2 s",
               "> 200", j["connections"])
        # One exchange per connection; those cut by the deadline never
        # connected or were let finish.
        expect(j["connections"] - 8 <= j["messages"] <= j["connections"],
               "one message per connection", j["connections"], j["messages"])
        cps = j["connections"] / j["duration_s"]
        expect(abs(j["conns_per_sec"] - cps) <= cps * 1e-3, "conns_per_sec",
               cps, j["conns_per_sec"])
        expect_latency_sane(j, "churn", 5e6)
        st = d.stats()
        # A connect cut by the deadline may have reached upcased.
        expect(j["connections"] <= st["conns_total"] <= j["connections"] + 8,
               "upcased saw every connection", j["connections"],
               st["conns_total"])
        d.stop()


def test_connect_rate_bounds_every_connect():
    # --connect-rate R: at most about R connects a second, the first -c
    # and, with --churn, every reconnect after them (each thread may
    # start its first at once and catch up one slot a timer missed).
    with Daemon() as d:
        for mode in (["--churn", "-c", "2"], ["-c", "40"]):
            rc, j, err, took = bench_json(mode + ["--connect-rate", "10",
                                                  "-d", "2", "-T", "2",
                                                  d.addr])
            expect(rc == 0, "%s status (stderr: %s)" % (mode, err.strip()),
                   0, rc)
            limit = 10 * j["duration_s"] + 2 * 2
            expect(2 < j["connections"] <= limit,
                   "%s --connect-rate 10 for %.1f s: connections" %
                   (" ".join(mode), j["duration_s"]), "3 .. %d" % limit,
                   j["connections"])
        d.stop()


def test_rate_holds():
    with Daemon() as d:
        rc, j, err, took = bench_json(["--rate", "2000", "-d", "3", "-c", "20",
                                       d.addr])
        expect(rc == 0, "rate status (stderr: %s)" % err.strip(), 0, rc)
        expect_clean(j, err, "--rate")
        # Never faster than the schedule; slower only as far as a busy
        # machine delays the connects the schedules start from (speed
        # decides nothing here: bench/run measures it).
        expect(3000 <= j["messages"] <= 6000 + 20,
               "at most the 6000 messages of 3 s at 2000/s", 6000,
               j["messages"])
        expect(j["msgs_per_sec"] <= 2000 * 1.05,
               "--rate 2000 never exceeded", 2000, j["msgs_per_sec"])
        expect_latency_sane(j, "--rate", 5e6)
        d.stop()


def test_rate_counts_a_stall_from_the_schedule():
    # The server freezes for 1 s.  A closed loop would record one slow
    # reply per connection; the open loop records every message that was
    # due during the stall with the time it waited, so the tail shows it.
    with WrongServer("pause") as w:
        rc, j, err, took = bench_json(["--rate", "200", "-d", "2.5", "-c", "2",
                                       "-t", "5", w.addr])
        expect(rc == 0, "status (stderr: %s)" % err.strip(), 0, rc)
        expect_clean(j, err, "--rate against a pausing server")
        lat = j["latency_us"]
        expect(lat["max"] >= 800e3, "the 1 s stall is in max", ">= 800 ms",
               lat["max"])
        expect(lat["p90"] >= 200e3, "the stall is in p90, not one sample",
               ">= 200 ms", lat)
        expect(250 <= j["messages"] <= 500 + 5, "the schedule is kept",
               500, j["messages"])


def test_rate_stall_across_the_end_is_measured():
    # The same 1 s freeze, from 0.5 s to 1.5 s, across the end of a 1 s
    # run: the messages due from 0.5 s to 1 s were held back by
    # --pipeline 1.  They are still sent when the server wakes up, and
    # timed from their schedule, not dropped from the percentiles.
    with WrongServer("pause") as w:
        rc, j, err, took = bench_json(["--rate", "200", "-d", "1", "-c", "2",
                                       "-t", "5", w.addr])
        expect(rc == 0, "status (stderr: %s)" % err.strip(), 0, rc)
        expect_clean(j, err, "--rate with a stall across the end")
        # (The schedules start when the connects finish, later on a busy
        # machine: the count is at most 200.)  Before, the ~100 held back
        # went unsent and uncounted, and p90 was a few ms.
        expect(j["messages"] <= 200 + 5,
               "no more than the schedule", 200, j["messages"])
        lat = j["latency_us"]
        expect(lat["p90"] >= 300e3, "the stall is in p90: every message "
               "due before the end was sent and timed", ">= 300 ms", lat)
        expect(took < 1 + 5 + 2 * SLOW, "within -d + -t", "< 8 s", took)


def test_rate_unsent_counted():
    # A server that never answers: the one message in flight times out,
    # and the 99 more scheduled before the end of the run, which the
    # pipeline held back, are counted as unsent, not forgotten.
    with WrongServer("stall") as w:
        rc, j, err, took = bench_json(["--rate", "100", "-d", "1", "-c", "1",
                                       "-t", "1", w.addr])
        expect(rc == 4, "status when scheduled messages were never sent", 4,
               rc)
        e = j["errors_by_kind"]
        # 99 on a quiet machine; the schedule starts once the connect is
        # done, so a slow connect leaves fewer due.
        expect(e["timeout"] == 1 and 50 <= e["unsent"] <= 100,
               "1 timeout and about 99 unsent",
               {"timeout": 1, "unsent": "50..100"}, e)
        expect(j["errors"] == e["timeout"] + e["unsent"],
               "unsent counts among the errors", e["timeout"] + e["unsent"],
               j["errors"])
        expect("first unsent error" in err, "unsent told on stderr",
               "first unsent error: ...", err)
        rc, out, err, took = bench(["-q", "--rate", "100", "-d", "1", "-c",
                                    "1", "-t", "1", w.addr])
        expect(rc == 4 and re.search(r"errors +\d+ \(timeout 1, unsent \d+\)",
                                     out), "unsent in the text summary",
               "errors N (timeout 1, unsent M)", out)


def test_udp_against_upcased():
    with Daemon(listen=("udp:127.0.0.1:0",)) as d:
        rc, j, err, took = bench_json(["-d", "1", "-c", "10", "-s", "100",
                                       d.addr])
        expect(rc == 0, "udp bench status (stderr: %s)" % err.strip(), 0, rc)
        expect_clean(j, err, "udp bench against upcased")
        expect(j["transport"] == "udp" and j["loss_pct"] == 0 and
               j["connections"] == 10, "10 udp sockets, no loss",
               ("udp", 0, 10), (j["transport"], j["loss_pct"],
                                j["connections"]))
        expect(j["messages"] > 100 and j["bytes"] == j["messages"] * 100,
               "replies of 100 bytes each", "> 100",
               (j["messages"], j["bytes"]))
        expect_latency_sane(j, "udp", 5e6)
        expect_cpu_sane(j, err, "udp")
        n = j["messages"]
        # Exactly -n, pipelined, in 16-byte datagrams (the least: the
        # sequence number alone) and in the largest.
        # (Few of the largest at once: upcased's receive buffer holds
        # only a few of them.)
        for size, total, conns, k in (("16", 3000, "4", "8"),
                                      ("65507", 200, "2", "1")):
            rc, j, err, took = bench_json(["-n", str(total), "-c", conns,
                                           "--pipeline", k, "-s", size,
                                           d.addr])
            expect(rc == 0, "udp -n -s %s status (stderr: %s)" %
                   (size, err.strip()), 0, rc)
            expect_clean(j, err, "udp -n -s %s" % size)
            expect(j["messages"] == total and
                   j["bytes"] == total * int(size),
                   "exactly -n datagrams of -s bytes", total,
                   (j["messages"], j["bytes"]))
            n += total
        rc, j, err, took = bench_json(["--rate", "500", "-d", "1", "-c", "5",
                                       d.addr])
        expect(rc == 0, "udp --rate status (stderr: %s)" % err.strip(), 0,
               rc)
        expect_clean(j, err, "udp --rate")
        # At most the schedule (its start waits for the sockets, late on
        # a busy machine).
        expect(100 <= j["messages"] <= 500 + 5, "udp --rate 500 for 1 s",
               500, j["messages"])
        n += j["messages"]
        # upcased answered exactly the datagrams bench counted (each
        # thread counts a reply once it is sent: poll until they do).
        st = wait_stats(d, lambda st: st["dgrams"] >= n, "datagrams counted")
        expect(st["dgrams"] == n, "upcased's datagram count matches", n,
               st["dgrams"])
        d.stop()


def test_udp_loss_counted():
    # Every 10th datagram dropped: each is lost after -t, counted within
    # one of what the server dropped; --max-loss decides the status.
    for max_loss, status in ((None, 4), ("5", 4), ("15", 0)):
        with WrongServer("udp-drop10") as w:
            args = ["-d", "1", "-c", "2", "--pipeline", "4", "-t", "0.3"]
            if max_loss is not None:
                args += ["--max-loss", max_loss]
            rc, j, err, took = bench_json(args + [w.addr])
            dropped = [int(l.split()[1]) for l in w.lines()
                       if l.startswith("dropped ")]
        truth = dropped[-1] if dropped else 0
        lost = j["errors_by_kind"]["lost"]
        expect(truth > 0 and abs(lost - truth) <= 1,
               "lost datagrams counted (--max-loss %s)" % max_loss, truth,
               lost)
        sent = j["messages"] + lost
        expect(abs(j["loss_pct"] - 100.0 * lost / sent) < 1e-3,
               "loss_pct", 100.0 * lost / sent, j["loss_pct"])
        expect(rc == status, "status with --max-loss %s at %.1f%% loss" %
               (max_loss, j["loss_pct"]), status, rc)
        expect(took < 1 + 0.3 + 3 * SLOW, "within -d + -t", "< 5 s", took)


def test_udp_wrong_replies():
    with WrongServer("udp-corrupt") as w:
        rc, j, err, took = bench_json(["-d", "0.5", "-c", "2", w.addr])
        expect(rc == 5, "status for corrupt datagrams", 5, rc)
        m = j["first_mismatch"]
        expect(j["mismatches"] > 0 and m is not None and
               65 <= m["want"] <= 90 and m["got"] == m["want"] + 32 and
               16 <= m["byte"] < j["size"],
               "a letter left lowercase, after the sequence number",
               "want A-Z, got a-z, byte 16..63", m)
        expect("mismatch" in err and "datagram" in err,
               "the first mismatch is told on stderr", "a line", err)
    with WrongServer("udp-dup") as w:
        rc, j, err, took = bench_json(["-d", "0.5", "-c", "2", "--pipeline",
                                       "2", w.addr])
        extra = j["errors_by_kind"]["extra"]
        expect(rc == 5, "status for duplicated datagrams", 5, rc)
        expect(j["messages"] - 4 <= extra <= j["messages"] and
               j["errors_by_kind"]["lost"] == 0,
               "each duplicate counted extra", j["messages"],
               j["errors_by_kind"])


def test_udp_reordered_replies_match():
    with WrongServer("udp-reorder") as w:
        rc, j, err, took = bench_json(["-d", "0.5", "-c", "2", "--pipeline",
                                       "4", w.addr])
        expect(rc == 0, "status (stderr: %s)" % err.strip(), 0, rc)
        expect_clean(j, err, "replies in swapped pairs")
        expect(j["messages"] > 20, "replies matched", "> 20", j["messages"])


def test_udp_never_answered_ends():
    with WrongServer("udp-silent") as w:
        # -t well above the slack: a bench that waited out each
        # datagram's -t in turn (or for ever) would take 13 s or more.
        rc, j, err, took = bench_json(["-d", "1", "-t", "2", "-c", "3",
                                       "--pipeline", "2", w.addr])
        expect(rc == 4, "status when nothing answers", 4, rc)
        e = j["errors_by_kind"]
        expect(j["messages"] == 0 and e["lost"] >= 6 and
               j["errors"] == e["lost"], "every datagram lost", ">= 6", e)
        expect(j["duration_s"] <= 3 + 1.5 * SLOW and took < 3 + 3 * SLOW,
               "ends at -d + -t", "<= 4.5 s", (j["duration_s"], took))
    # Nobody there at all: the kernel's port unreachable ends each socket.
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    addr = "udp:127.0.0.1:%d" % s.getsockname()[1]
    s.close()
    rc, j, err, took = bench_json(["-d", "5", "-c", "3", addr])
    expect(rc == 3 and j["errors_by_kind"]["connect"] == 3,
           "status and connect errors when nothing listens", 3,
           (rc, j["errors_by_kind"]))
    expect(took < 4 * SLOW, "gives up at once, not after -d", "< 4 s", took)


def test_hdr_log():
    # The interval log decodes with nothing but the format's definition:
    # one line a second, then Tag=total; intervals add up to the total,
    # which is the JSON summary's histogram, and its percentiles are the
    # summary's.
    with Daemon() as d, tempfile.TemporaryDirectory() as tmp:
        log = os.path.join(tmp, "run.hlog")
        rc, j, err, took = bench_json(["-d", "3", "-c", "4", "--hdr-log", log,
                                       d.addr])
        expect(rc == 0, "status (stderr: %s)" % err.strip(), 0, rc)
        with open(log) as f:
            lines = f.read().splitlines()
        d.stop()
    head = [l for l in lines if l.startswith("#")]
    expect(any(l.startswith("#[Histogram log format version 1.3]")
               for l in head) and
           any(re.match(r"#\[StartTime: \d+\.\d{3} \(seconds since epoch\)",
                        l) for l in head) and
           any(l.startswith("#[BaseTime: ") for l in head),
           "the log's header", "version 1.3, StartTime, BaseTime", head)
    legend = '"StartTimestamp","Interval_Length","Interval_Max",' \
        '"Interval_Compressed_Histogram"'
    expect(legend in lines, "the legend line", legend, lines[:6])
    rows = [l for l in lines if not l.startswith("#") and l != legend]
    intervals = [r.split(",") for r in rows if not r.startswith("Tag=")]
    totals = [r.split(",")[1:] for r in rows if r.startswith("Tag=total,")]
    expect(3 <= len(intervals) <= 4 and len(totals) == 1,
           "one interval a second and one total", "3 or 4, and 1",
           (len(intervals), len(totals)))
    summed, last_end = {}, 0.0
    for start, length, imax, text in intervals:
        expect(abs(float(start) - last_end) < 0.002, "intervals follow "
               "each other", last_end, start)
        last_end = float(start) + float(length)
        counts = hdr_decode(text)
        for k, v in counts.items():
            summed[k] = summed.get(k, 0) + v
        if counts:
            top = bucket_value(max(counts)) / 1e6
            expect(abs(float(imax) - top) <= top * 0.01 + 0.001,
                   "Interval_Max (ms) is the interval's largest",
                   top, imax)
    start, length, tmax, text = totals[0]
    total = hdr_decode(text)
    expect(summed == total, "the intervals add up to the total", total,
           summed)
    expect(total == hdr_decode(j["histogram"]), "the log's total is the "
           "JSON summary's histogram", "the same counts", "different")
    expect(abs(float(length) - j["duration_s"]) < 0.002 and
           abs(float(tmax) * 1e3 - j["latency_us"]["max"]) < 1,
           "the total's length and max", (j["duration_s"],
                                          j["latency_us"]["max"]),
           (length, tmax))
    expect_percentiles(total, j["latency_us"], "--hdr-log total")


def test_merge_two_runs_at_once():
    with Daemon() as d, tempfile.TemporaryDirectory() as tmp:
        files = [os.path.join(tmp, n) for n in ("a.json", "b.json")]
        procs = []
        for f, c in zip(files, ("3", "5")):
            with open(f, "w") as out:
                procs.append(subprocess.Popen(
                    [UPCASE, "bench", "--json", "-q", "-d", "2", "-c", c,
                     d.addr], stdin=subprocess.DEVNULL, stdout=out,
                    stderr=subprocess.PIPE))
        for p in procs:
            p.communicate(timeout=30 * SLOW)
            expect(p.returncode == 0, "each bench status", 0, p.returncode)
        runs = []
        for f in files:
            with open(f) as fp:
                runs.append(json.load(fp))
        rc, out, err, took = bench(["merge", "--json"] + files)
        expect(rc == 0, "merge status (stderr: %s)" % err.strip(), 0, rc)
        m = json.loads(out)
        a, b = runs
        for k in ("messages", "bytes", "connections", "connections_requested",
                  "errors", "threads"):
            expect(m[k] == a[k] + b[k], "merged %s: the sum" % k,
                   a[k] + b[k], m[k])
        for k in ("msgs_per_sec", "bytes_per_sec"):
            expect(abs(m[k] - (a[k] + b[k])) < 0.01, "merged %s: the sum" % k,
                   a[k] + b[k], m[k])
        expect(m["duration_s"] == max(a["duration_s"], b["duration_s"]),
               "merged duration: the longest", max(a["duration_s"],
                                                     b["duration_s"]),
               m["duration_s"])
        la, lb, lm = a["latency_us"], b["latency_us"], m["latency_us"]
        expect(lm["count"] == la["count"] + lb["count"] and
               lm["min"] == min(la["min"], lb["min"]) and
               lm["max"] == max(la["max"], lb["max"]),
               "merged latency count, min, max", None, lm)
        mean = (la["mean"] * la["count"] + lb["mean"] * lb["count"]) / \
            lm["count"]
        expect(abs(lm["mean"] - mean) <= mean * 1e-6 + 0.001,
               "merged mean: weighted by count", mean, lm["mean"])
        ha, hb = hdr_decode(a["histogram"]), hdr_decode(b["histogram"])
        want = {k: ha.get(k, 0) + hb.get(k, 0) for k in set(ha) | set(hb)}
        hm = hdr_decode(m["histogram"])
        expect(hm == want, "merged histogram: the exact sum of the two",
               "the sum", "different counts")
        expect_percentiles(hm, lm, "merge")
        expect(m["runs"] == 2 and m["exit_status"] == 0, "runs, status",
               (2, 0), (m["runs"], m["exit_status"]))
        rc, out, err, took = bench(["merge"] + files)
        expect(rc == 0 and "(2 runs merged)" in out and
               "messages     %d of 64 bytes" % m["messages"] in out,
               "merge as text", "a text summary", out)
        # What the merged counts imply: a run with wrong bytes fails it.
        with WrongServer("lower") as w:
            rc, j, err, took = bench_json(["-d", "0.5", "-c", "2", w.addr])
        bad = os.path.join(tmp, "bad.json")
        with open(bad, "w") as fp:
            json.dump(j, fp)
        rc, out, err, took = bench(["merge", files[0], bad])
        expect(rc == 5, "merge with a mismatching run", 5, rc)
        with open(bad, "w") as fp:
            fp.write('{"mode": "closed"')
        rc, out, err, took = bench(["merge", files[0], bad])
        expect(rc == 2 and "bad.json" in err and "not JSON" in err,
               "a broken input is named", (2, "bad.json: not JSON"),
               (rc, err))
        d.stop()


def test_plot():
    # The picture parses as XML and holds each series: a point a second
    # for the rate and the percentiles, the spectrum, and the seconds
    # with errors marked.
    with tempfile.TemporaryDirectory() as tmp:
        svg = os.path.join(tmp, "run.svg")
        with Daemon() as d:
            rc, j, err, took = bench_json(["-d", "2", "-c", "4", "--plot",
                                           svg, d.addr])
            expect(rc == 0, "status (stderr: %s)" % err.strip(), 0, rc)
            d.stop()
        ns = {"s": "http://www.w3.org/2000/svg"}
        root = ET.parse(svg).getroot()
        expect(root.tag == "{http://www.w3.org/2000/svg}svg", "an SVG",
               "svg", root.tag)
        series = {e.get("id"): e for e in root.iter() if e.get("id")}
        for sid in ("msgs_per_sec", "p50", "p99", "spectrum", "errors"):
            expect(sid in series, "series %s" % sid, sid, sorted(series))
        rate = len(series["msgs_per_sec"].get("points").split())
        expect(2 <= rate <= 3, "msgs_per_sec: a point a second", "2 or 3",
               rate)
        # The percentiles leave out a second with no reply in it (on a
        # loaded machine the first may have none): one point for each
        # second that had replies, the same for both.
        p50, p99 = (len(series[sid].get("points").split())
                    for sid in ("p50", "p99"))
        expect(1 <= p50 <= rate and p99 == p50, "p50, p99: a point for each "
               "second with replies", "1..%d, equal" % rate, (p50, p99))
        expect(len(series["spectrum"].get("points").split()) > 50,
               "the spectrum has points", "> 50",
               len(series["spectrum"].get("points").split()))
        text = "".join(root.itertext())
        for want in ("messages per second", "latency (ms)", "percentile",
                     "time (s)", "99.9%"):
            expect(want in text, "label %r" % want, want, text[:300])
        expect(len(series["errors"].findall("s:rect", ns)) == 0,
               "no errors marked", 0, len(series["errors"]))
        with WrongServer("hangup") as w:
            rc, j, err, took = bench_json(["-d", "1.5", "-c", "2", "-t", "1",
                                           "--plot", svg, w.addr])
        root = ET.parse(svg).getroot()
        marks = [e for e in root.iter() if e.get("id") == "errors"][0]
        expect(rc == 3 and len(marks.findall("s:rect", ns)) >= 1,
               "the seconds with errors are marked", ">= 1",
               len(marks.findall("s:rect", ns)))


def test_idle_holds_connections():
    with Daemon() as d:
        p = subprocess.Popen([UPCASE, "bench", "--json", "-q", "--idle", "200",
                              "-d", "3", d.addr], stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            # While bench holds them, upcased counts 200 open connections.
            deadline = time.monotonic() + 10 * SLOW
            now = 0
            while time.monotonic() < deadline and p.poll() is None:
                now = d.stats()["conns_now"]
                if now == 200:
                    break
                time.sleep(0.1)
            expect(now == 200, "upcased sees 200 open connections", 200, now)
            out, err = p.communicate(timeout=20 * SLOW)
        finally:
            if p.poll() is None:
                p.kill()
                p.communicate()
        j = json.loads(out)
        expect(p.returncode == 0, "idle status (stderr: %s)" % err.decode().strip(),
               0, p.returncode)
        expect(j["mode"] == "idle" and j["connections"] == 200 and
               j["connections_held"] == 200,
               "200 established and held", 200,
               (j["connections"], j["connections_held"]))
        expect(j["messages"] == 0 and j["errors"] == 0, "nothing sent, no errors",
               0, (j["messages"], j["errors"]))
        d.stop()


def test_sources_spread():
    # --sources N is what --idle does by itself past ~25000 connections.
    with Daemon("-v") as d:
        rc, j, err, took = bench_json(["--idle", "12", "--sources", "4",
                                       "-d", "0.5", d.addr])
        expect(rc == 0, "status (stderr: %s)" % err.strip(), 0, rc)
        expect(j["connections"] == 12, "12 established", 12, j["connections"])
        peers = set()
        for _ in range(12):
            m = d.wait_log(r" debug open (127\.0\.0\.\d+):\d+$")
            peers.add(m.group(1))
        expect(peers == {"127.0.0.%d" % i for i in (1, 2, 3, 4)},
               "connections come from 127.0.0.1-4",
               ["127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.0.4"],
               sorted(peers))
        d.stop()


def test_progress_and_sigint():
    with Daemon() as d:
        p = subprocess.Popen([UPCASE, "bench", "-d", "30", "-c", "4", d.addr],
                             stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
        try:
            ready, _, _ = select.select([p.stderr], [], [], 10 * SLOW)
            line = p.stderr.readline().decode() if ready else ""
            # Not a terminal: plain lines, one a second.
            expect(re.match(r"\s*\d+\.\ds  msgs/s \d+  MB/s [\d.]+  p99 \S+  "
                            r"errors 0\n$", line), "a progress line",
                   "1.0s  msgs/s N  MB/s X  p99 T  errors 0", line)
            start = time.monotonic()
            p.send_signal(signal.SIGINT)
            out, err = p.communicate(timeout=10 * SLOW)
            took = time.monotonic() - start
        finally:
            if p.poll() is None:
                p.kill()
                p.communicate()
        out = out.decode()
        expect(p.returncode == 0, "status after SIGINT", 0, p.returncode)
        expect("(interrupted)" in out and re.search(r"latency .*p99\.9", out),
               "the summary after SIGINT", "a text summary", out)
        expect(took < 5 * SLOW, "stops promptly on SIGINT", "< 5 s", took)
        d.stop()


def test_usage():
    rc, out, err, _ = bench(["-c", "0"])
    expect(rc == 2 and err.startswith("upcase bench: -c:"),
           "bad -c: status 2 and a message naming -c", (2, "upcase bench: -c: ..."),
           (rc, err))
    rc, out, err, _ = bench(["--bogus"])
    expect(rc == 2 and "--bogus" in err, "unknown option", 2, (rc, err))
    rc, out, err, _ = bench(["-s", "8", "udp:127.0.0.1:9"])
    expect(rc == 2 and err.startswith("upcase bench: -s:") and "16" in err,
           "udp datagrams too small for the sequence number",
           (2, "upcase bench: -s: ..."), (rc, err))
    rc, out, err, _ = bench(["-h"])
    expect(rc == 0 and "--rate" in out and "--churn" in out, "bench -h", 0,
           (rc, out[:200]))


if __name__ == "__main__":
    run_tests([
        test_usage,
        test_json_against_upcased,
        test_total_messages_pipelined,
        test_unix_socket,
        test_wrong_byte_counted,
        test_hangup_counted_without_hanging,
        test_stall_times_out_within_d_plus_t,
        test_short_and_extra_replies,
        test_deep_pipeline_ends_within_d_plus_t,
        test_connection_refused,
        test_connects_that_never_finish_are_errors,
        test_connect_finishing_after_the_duration_ends_the_run,
        test_churn,
        test_connect_rate_bounds_every_connect,
        test_rate_holds,
        test_rate_counts_a_stall_from_the_schedule,
        test_rate_stall_across_the_end_is_measured,
        test_rate_unsent_counted,
        test_udp_against_upcased,
        test_udp_loss_counted,
        test_udp_wrong_replies,
        test_udp_reordered_replies_match,
        test_udp_never_answered_ends,
        test_hdr_log,
        test_merge_two_runs_at_once,
        test_plot,
        test_idle_holds_connections,
        test_sources_spread,
        test_progress_and_sigint,
    ])
