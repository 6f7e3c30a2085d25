#!/bin/sh
# The manual pages are clean under groff's own lint (-ww: every warning;
# -z: no output), name themselves in .TH as their files do, and render
# with their sections in place.
set -u
top=$(dirname "$0")/..
command -v groff >/dev/null 2>&1 || { echo "SKIP: groff (groff-base) not installed"; exit 77; }
pass=0 fail=0
ok() { pass=$((pass + 1)); echo "ok - $1"; }
bad() { fail=$((fail + 1)); echo "not ok - $1"; printf '%s\n' "$2" | sed 's/^/  /'; }

for page in src/daemon/upcased.8 src/daemon/upcased.conf.5 src/client/upcase.1; do
	f=$top/$page
	out=$(LC_ALL=C.UTF-8 groff -man -ww -z "$f" 2>&1)
	[ -z "$out" ] && ok "groff -man -ww -z $page" || bad "groff -man -ww -z $page" "$out"
	name=$(basename "$page")
	want=$(printf '%s %s' "${name%.*}" "${name##*.}" | tr a-z A-Z)
	th=$(sed -n 's/^\.TH \([^ ]*\) \([^ ]*\) .*/\1 \2/p' "$f")
	[ "$th" = "$want" ] && ok "$page: .TH $want" || bad "$page: .TH" "expected: $want, got: $th"
	text=$(LC_ALL=C.UTF-8 groff -man -Tutf8 -P-cbou "$f" 2>&1)
	missing=
	for s in NAME SYNOPSIS DESCRIPTION "SEE ALSO"; do
		printf '%s\n' "$text" | grep -q "^$s\$" || missing="$missing $s"
	done
	[ -z "$missing" ] && ok "$page: renders NAME .. SEE ALSO" || bad "$page: sections" "missing:$missing"
done
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
