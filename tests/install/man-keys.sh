#!/bin/sh
# bridge.conf(5) cannot leave a key out: gen-keys, which writes its key lists from the
# loader's table, succeeds on the real sources, lists every key of the table there, and
# fails, naming what is missing, when the template loses a section or the docs lose a
# key's meaning.
#
# man-keys.sh GEN_KEYS TEMPLATE CONFIGURATION_MD GENERATED_SCD
set -eu

gen=$1 template=$2 docs=$3 scd=$4
failures=0
check() {
	what=$1
	shift
	if "$@"; then echo "  ok    $what"; else echo "  FAIL  $what" >&2; failures=$((failures + 1)); fi
}

tmp=$(mktemp -d /tmp/mxb-man-keys.XXXXXX)
trap 'rm -rf "$tmp"' EXIT INT TERM

check "gen-keys succeeds on the sources" sh -c '"$1" "$2" "$3" >"$4/out.scd"' sh "$gen" \
	"$template" "$docs" "$tmp"
check "... and writes what the build installs" cmp -s "$tmp/out.scd" "$scd"
# Rows of the docs' key tables and entries of the page: the same count.
rows=$(awk '/^<!-- keys: / { t = 1; next } !/^\|/ { t = 0 } t && /^\| `[a-z_]+` \|/ { n++ }
	END { print n + 0 }' "$docs")
entries=$(grep -c '^\*[a-z\\_]*\* (' "$scd" || true)
check "the page has an entry for each of the $rows documented keys ($entries)" \
	test "$rows" -eq "$entries" -a "$rows" -gt 80
check "the page no longer holds a %keys line" sh -c '! grep -q "^%keys" "$1"' sh "$scd"

grep -v '^%keys mqtt.tls$' "$template" >"$tmp/no-section.in"
check "a template without 'mqtt.tls' fails" \
	sh -c '! "$1" "$2" "$3" >/dev/null 2>"$4/err"' sh "$gen" "$tmp/no-section.in" "$docs" "$tmp"
check "... naming the section" grep -qF "no line '%keys mqtt.tls'" "$tmp/err"

grep -v '^| `keepalive` |' "$docs" >"$tmp/no-meaning.md"
check "docs without mqtt.keepalive fail" \
	sh -c '! "$1" "$2" "$3" >/dev/null 2>"$4/err"' sh "$gen" "$template" "$tmp/no-meaning.md" "$tmp"
check "... naming the key" grep -qF "mqtt.keepalive has no meaning there" "$tmp/err"

printf '%%keys mqtt\n%%keys nosuch\n' >>"$tmp/twice.in"
cat "$template" >>"$tmp/twice.in"
check "a template placing 'mqtt' twice and an unknown section fails" \
	sh -c '! "$1" "$2" "$3" >/dev/null 2>"$4/err"' sh "$gen" "$tmp/twice.in" "$docs" "$tmp"
check "... naming both" sh -c 'grep -qF "placed twice" "$1" && grep -qF "no section '"'"'nosuch'"'"'" "$1"' \
	sh "$tmp/err"

[ "$failures" -eq 0 ]
