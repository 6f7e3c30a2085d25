#!/usr/bin/env python3
"""it_units: the systemd units the build generates (conf/upcased.service
and conf/upcased.socket) pass `systemd-analyze verify` -- with ExecStart
pointed at the build's upcased and the sample configuration, and the
built manual pages on MANPATH for their Documentation= -- and
`systemd-analyze security --offline=true` rates the service's exposure
2.0 or lower.  No systemd needs to be running."""
import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from itlib import UPCASED, expect, run_tests  # noqa: E402

SRCDIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
BUILDDIR = os.environ.get("UPCASED_BUILDDIR",
                          os.path.join(os.path.dirname(UPCASED), ".."))
MAX_EXPOSURE = 2.0


def unit_text(name):
    path = os.path.join(BUILDDIR, "conf", name)
    with open(path) as f:
        return f.read()


def settings(text):
    """{key: [values]} of a unit file (comments and sections dropped)."""
    out = {}
    for ln in text.splitlines():
        m = re.match(r"^([A-Za-z]+)=(.*)$", ln)
        if m:
            out.setdefault(m.group(1), []).append(m.group(2))
    return out


def units_for_the_build(d):
    """The generated units, ExecStart made the build's binary and the
    source tree's sample; and a MANPATH with the built pages."""
    svc = unit_text("upcased.service")
    m = re.search(r"^ExecStart=(\S+)/upcased -c (\S+)/upcased/upcased\.conf$",
                  svc, re.M)
    expect(m is not None, "ExecStart runs the installed upcased with the "
           "installed configuration", "ExecStart=SBINDIR/upcased -c "
           "SYSCONFDIR/upcased/upcased.conf", settings(svc).get("ExecStart"))
    svc = svc.replace(m.group(0), "ExecStart=%s -c %s" % (
        os.path.abspath(UPCASED),
        os.path.abspath(os.path.join(SRCDIR, "conf", "upcased.conf"))))
    for name, text in (("upcased.service", svc),
                       ("upcased.socket", unit_text("upcased.socket"))):
        left = re.findall(r"@[a-z_]+@", text)
        expect(not left, "%s: every @placeholder@ replaced" % name, [], left)
        with open(os.path.join(d, name), "w") as f:
            f.write(text)
    for sec, page in (("8", "src/daemon/upcased.8"),
                      ("5", "src/daemon/upcased.conf.5")):
        os.makedirs(os.path.join(d, "man", "man" + sec), exist_ok=True)
        shutil.copy(os.path.join(SRCDIR, page),
                    os.path.join(d, "man", "man" + sec))
    return os.path.join(d, "upcased.service"), os.path.join(d, "upcased.socket")


def test_units_verify():
    with tempfile.TemporaryDirectory() as d:
        svc, sock = units_for_the_build(d)
        env = dict(os.environ, MANPATH=os.path.join(d, "man"),
                   SYSTEMD_LOG_LEVEL="notice")
        p = subprocess.run(["systemd-analyze", "verify", svc, sock],
                           capture_output=True, text=True, timeout=60,
                           env=env)
        # verify exits 0 on an unknown key, with a warning: any word from
        # it is a failure.
        expect(p.returncode == 0 and p.stdout == "" and p.stderr == "",
               "systemd-analyze verify: no complaint", "exit 0, silent",
               (p.returncode, p.stdout, p.stderr))


def test_verify_sees_a_bad_unit():
    # The same check on a unit with a typo and a missing binary must
    # complain, or the test above proves nothing.
    with tempfile.TemporaryDirectory() as d:
        svc, _ = units_for_the_build(d)
        with open(svc) as f:
            text = f.read()
        with open(svc, "w") as f:
            f.write(text.replace("NotifyAccess=all", "NotifyAcess=all")
                    .replace(os.path.abspath(UPCASED), "/nonexistent/upcased"))
        p = subprocess.run(["systemd-analyze", "verify", "--man=no", svc],
                           capture_output=True, text=True, timeout=60)
        expect("NotifyAcess" in p.stderr and "/nonexistent/upcased" in
               p.stderr, "systemd-analyze verify names both mistakes",
               None, p.stderr)


def test_service_is_what_upcased_needs():
    # The settings upcased's behaviour depends on, which verify cannot
    # judge: readiness and MAINPID= from a SIGUSR2 successor, reload by
    # HUP, the watchdog upcased feeds, a raised descriptor limit, no
    # filter on setrlimit (@resources), which upcased calls at start, and
    # /proc/stat readable for the metrics' process collector.
    s = settings(unit_text("upcased.service"))
    for key, want in (("Type", "notify"), ("NotifyAccess", "all"),
                      ("ExecReload", "/bin/kill -HUP $MAINPID"),
                      ("Restart", "on-failure"), ("DynamicUser", "yes"),
                      ("RuntimeDirectory", "upcased"),
                      ("SystemCallErrorNumber", "EPERM")):
        expect(s.get(key) == [want], "upcased.service: %s=%s" % (key, want),
               [want], s.get(key))
    expect(re.fullmatch(r"\d+s", s.get("WatchdogSec", [""])[0]) is not None,
           "a watchdog", "WatchdogSec=Ns", s.get("WatchdogSec"))
    expect(int(s.get("LimitNOFILE", ["0"])[0]) >= 65536,
           "LimitNOFILE raised", ">= 65536", s.get("LimitNOFILE"))
    expect(s.get("ProcSubset", ["all"]) == ["all"],
           "no ProcSubset=pid: the metrics read /proc/stat", ["all"],
           s.get("ProcSubset"))
    filters = " ".join(s.get("SystemCallFilter", []))
    expect("@system-service" in filters and "@resources" not in filters,
           "SystemCallFilter allows @system-service, @resources included",
           None, filters)
    sock = settings(unit_text("upcased.socket"))
    expect("127.0.0.1:8080" in sock.get("ListenStream", []) and
           any(v.startswith("/run/upcased/") for v in sock["ListenStream"]),
           "upcased.socket: the sample's port and a unix socket", None,
           sock.get("ListenStream"))


def test_service_exposure():
    with tempfile.TemporaryDirectory() as d:
        svc, _ = units_for_the_build(d)
        p = subprocess.run(["systemd-analyze", "security", "--offline=true",
                            "--no-pager", svc], capture_output=True,
                           text=True, timeout=60)
        m = re.search(r"Overall exposure level for upcased\.service: "
                      r"(\d+\.\d+)", p.stdout)
        expect(m is not None, "systemd-analyze security rates the service",
               None, (p.returncode, p.stdout[-500:], p.stderr))
        score = float(m.group(1))
        print("# systemd-analyze security --offline=true: exposure %.1f"
              % score)
        expect(score <= MAX_EXPOSURE, "exposure at most %.1f" % MAX_EXPOSURE,
               MAX_EXPOSURE, score)


if __name__ == "__main__":
    if shutil.which("systemd-analyze") is None:
        print("SKIP: systemd-analyze (Debian package systemd) not installed")
        sys.exit(77)
    run_tests([
        test_units_verify,
        test_verify_sees_a_bad_unit,
        test_service_is_what_upcased_needs,
        test_service_exposure,
    ])
