#!/usr/bin/env python3
"""it_keys: every configuration key upcased knows is in all four places
an operator looks -- `upcased --help` (as --key-name, or -l / -d),
`upcased --check-config`, the sample conf/upcased.conf (set or commented
out) and upcased.conf(5) -- and none of them names a key that is gone.
The keys are taken from the binary itself (--check-config and --help),
so a key added to settings.c fails here until it is documented.  Every
option of `upcase --help` and `upcase bench --help` is in upcase(1),
and every option of upcased's own (-c, --check-config, ...) in
upcased(8), for the same reason."""
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from itlib import UPCASE, UPCASED, expect, run_tests  # noqa: E402

SRCDIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
SAMPLE = os.path.join(SRCDIR, "conf", "upcased.conf")
MANPAGE = os.path.join(SRCDIR, "src", "daemon", "upcased.conf.5")
DAEMON_PAGE = os.path.join(SRCDIR, "src", "daemon", "upcased.8")
CLIENT_PAGE = os.path.join(SRCDIR, "src", "client", "upcase.1")

# upcased's options that are not configuration keys.
NOT_KEYS = {"config", "check-config", "verbose", "quiet", "help", "version"}


def run(*args, prog=UPCASED):
    p = subprocess.run([prog] + list(args), capture_output=True,
                       timeout=30)
    expect(p.returncode == 0, "%s %s exits 0" % (os.path.basename(prog),
           " ".join(args)), 0, (p.returncode, p.stderr))
    return p.stdout.decode()


def long_options(text):
    return set(re.findall(r"(?<![\w-])--([a-z][a-z0-9-]*)", text))


def page_options(path):
    """The long options a man(7) page has an entry for: named (written
    \\-\\-name) in the tag line after a .TP."""
    with open(path) as f:
        tags = re.findall(r"^\.TP\n(.*)$", f.read(), re.M)
    found = re.findall(r"\\-\\-([a-z][a-z0-9\\-]*[a-z0-9])", "\n".join(tags))
    return {o.replace("\\-", "-") for o in found}


def keys_of_check_config(text):
    """'key = value' lines; listen may repeat."""
    keys = [m.group(1) for m in re.finditer(r"^([a-z_]+) = ", text, re.M)]
    expect(len(keys) == len(text.splitlines()),
           "--check-config prints only 'key = value' lines", None, text)
    return set(keys)


def keys_of_help(text):
    """Every --long-option but the fixed ones, as a key name."""
    return {o.replace("-", "_") for o in long_options(text) - NOT_KEYS}


def keys_of_sample(path):
    """'key = value' lines, or '#key = value' (a commented-out one): the
    comments' own prose never has that shape."""
    with open(path) as f:
        return set(re.findall(r"^#?([a-z_]+) = ", f.read(), re.M))


def keys_of_manpage(path):
    """The entries under KEYS: a .TP, then a .B/.BI line starting with
    the key and ' = '."""
    with open(path) as f:
        src = f.read()
    keys = re.findall(r'^\.TP\n\.BI? "([a-z_]+) = ', src, re.M)
    expect(len(keys) == len(set(keys)), "each key documented once in %s"
           % path, None, keys)
    return set(keys)


def compare(what, where, got, want):
    missing, extra = sorted(want - got), sorted(got - want)
    expect(not missing, "every key upcased knows is in %s: document %s "
           "there" % (what, ", ".join(missing)), sorted(want), sorted(got))
    expect(not extra, "%s names no key upcased does not know: remove (or "
           "rename) %s in %s" % (what, ", ".join(extra), where),
           sorted(want), sorted(got))


def test_check_config_and_help_agree():
    check = keys_of_check_config(run("--check-config"))
    expect(len(check) >= 14, "--check-config prints the keys", ">= 14",
           sorted(check))
    compare("upcased --help", "src/daemon/upcased.c or settings.c",
            keys_of_help(run("--help")), check)


def test_the_sample_has_every_key():
    compare("conf/upcased.conf", SAMPLE, keys_of_sample(SAMPLE),
            keys_of_check_config(run("--check-config")))


def test_the_sample_is_valid():
    # Every set line of the sample means what its comment says: the file
    # as shipped is accepted, and gives the documented defaults.
    with_sample = run("-c", SAMPLE, "--check-config")
    expect("listen = 127.0.0.1:8080\n" in with_sample,
           "the sample listens where its comment says", None, with_sample)


def test_the_manual_has_every_key():
    compare("upcased.conf(5)", MANPAGE, keys_of_manpage(MANPAGE),
            keys_of_check_config(run("--check-config")))


def test_the_parsers_see_a_missing_key():
    # The comparisons above could pass vacuously if a parser found nothing
    # or everything: a text without one key must come out without it.
    text = run("--check-config")
    less = "".join(ln + "\n" for ln in text.splitlines()
                   if not ln.startswith("idle_timeout ="))
    expect(keys_of_check_config(text) - keys_of_check_config(less) ==
           {"idle_timeout"}, "the --check-config parser drops a key")
    help_text = run("--help")
    expect("idle_timeout" in keys_of_help(help_text) and "idle_timeout" not in
           keys_of_help(help_text.replace("--idle-timeout", "")),
           "the --help parser sees --idle-timeout")
    expect("listen" in keys_of_help(help_text) and "daemon" in
           keys_of_help(help_text), "-l, --listen and -d, --daemon count")


def test_the_manuals_have_every_option():
    for prog, args, page in ((UPCASE, ("--help",), CLIENT_PAGE),
                             (UPCASE, ("bench", "--help"), CLIENT_PAGE),
                             (UPCASED, ("--help",), DAEMON_PAGE)):
        opts = long_options(run(*args, prog=prog))
        if prog == UPCASED:     # the keys are upcased.conf(5)'s
            opts = (opts & NOT_KEYS) | {"listen", "daemon"}
        missing = sorted(opts - page_options(page))
        expect(not missing, "every option of %s %s is in %s: document %s "
               "there" % (os.path.basename(prog), " ".join(args), page,
                          ", ".join(missing)), sorted(opts),
               sorted(page_options(page)))


if __name__ == "__main__":
    run_tests([
        test_check_config_and_help_agree,
        test_the_sample_has_every_key,
        test_the_sample_is_valid,
        test_the_manual_has_every_key,
        test_the_parsers_see_a_missing_key,
        test_the_manuals_have_every_option,
    ])
