#!/bin/sh
# `meson install --destdir` into a temp dir, twice: every file where the unit and the binary
# expect it, bridge.conf 0640 (of the bridge's group when it exists) and passing
# --check-config, the pristine examples beside it, and an edited bridge.conf kept by the
# second install.
#
# meson-install.sh BUILDDIR SRCDIR BINDIR CONFDIR UNITDIR SYSUSERSDIR DOCDIR MANDIR
set -eu

build=$1 src=$2 bindir=$3 confdir=$4 unitdir=$5 sysusersdir=$6 docdir=$7 mandir=$8

failures=0
checks=0
ok() {
	checks=$((checks + 1))
	echo "  ok    $1"
}
fail() {
	checks=$((checks + 1))
	failures=$((failures + 1))
	echo "  FAIL  $1" >&2
}
check() {
	what=$1
	shift
	if "$@"; then ok "$what"; else fail "$what"; fi
}

tmp=$(mktemp -d /tmp/mxb-install.XXXXXX)
trap 'rm -rf "$tmp"' EXIT INT TERM
dest=$tmp/root

install_once() {
	# --no-rebuild: meson test has built everything, and a second ninja must not run
	# beside it.
	meson install -C "$build" --no-rebuild --destdir "$dest" >"$tmp/install.log" 2>&1 || {
		cat "$tmp/install.log" >&2
		fail "meson install --destdir exits 0"
		exit 1
	}
}

install_once
ok "meson install --destdir $dest"

bin=$dest$bindir/mqtt-xmpp-bridge
conf=$dest$confdir/bridge.conf
unit=$dest$unitdir/mqtt-xmpp-bridge.service

check "the binary is $bindir/mqtt-xmpp-bridge" test -x "$bin"
check "its default config is $confdir/bridge.conf" \
	sh -c '"$1" --help | grep -qF "(default $2/bridge.conf)"' sh "$bin" "$confdir"
check "the unit is in $unitdir" test -f "$unit"
check "the unit runs that binary on that config" \
	grep -qxF "ExecStart=$bindir/mqtt-xmpp-bridge -c $confdir/bridge.conf" "$unit"
check "the unit reloads with that binary" \
	grep -qxF "ExecReload=$bindir/mqtt-xmpp-bridge --reload \$MAINPID" "$unit"
check "the unit names no other path of the binary or config" \
	sh -c '! grep -E "/(bin|etc)/mqtt-xmpp-bridge" "$1" | grep -vxF -e "$2" -e "$3" | grep -q .' \
	sh "$unit" "ExecStart=$bindir/mqtt-xmpp-bridge -c $confdir/bridge.conf" \
	"ExecReload=$bindir/mqtt-xmpp-bridge --reload \$MAINPID"
check "the sysusers file is $sysusersdir/mqtt-xmpp-bridge.conf" \
	grep -q "^u mqtt-xmpp-bridge " "$dest$sysusersdir/mqtt-xmpp-bridge.conf"
if command -v scdoc >/dev/null; then
	check "mqtt-xmpp-bridge(8) is installed" test -s "$dest$mandir/man8/mqtt-xmpp-bridge.8"
	check "bridge.conf(5) is installed" test -s "$dest$mandir/man5/bridge.conf.5"
fi

check "bridge.conf is installed" test -f "$conf"
mode=$(stat -c %a "$conf")
check "bridge.conf is mode 0640 (is $mode)" test "$mode" = 640
if [ "$(id -u)" -eq 0 ] && getent group mqtt-xmpp-bridge >/dev/null; then
	owner=$(stat -c %U:%G "$conf")
	check "bridge.conf is root:mqtt-xmpp-bridge (is $owner)" test "$owner" = root:mqtt-xmpp-bridge
else
	owner=$(stat -c %u "$conf")
	check "bridge.conf is the installer's (no group mqtt-xmpp-bridge here)" \
		test "$owner" = "$(id -u)"
fi
check "no temporary file is left beside it" \
	sh -c '[ "$(ls -A "$1")" = bridge.conf ]' sh "$dest$confdir"
check "bridge.conf names a password file, no password" \
	sh -c 'grep -q "^  password_file = " "$1" && ! grep -q "^  password = " "$1"' sh "$conf"
check "the example bridge.conf is the pristine one" \
	cmp -s "$src/config/bridge.conf" "$dest$docdir/examples/bridge.conf"
for f in "$src"/config/*.conf; do
	check "example $(basename "$f") installed" test -f "$dest$docdir/examples/$(basename "$f")"
done

# The config as installed passes --check-config once the admin created the password
# file it names (relative: next to it).
(umask 077 && printf 'secret\n' >"$dest$confdir/xmpp.password")
if "$bin" --check-config -c "$conf" >"$tmp/check.out" 2>&1; then
	ok "--check-config passes on the installed bridge.conf with xmpp.password"
else
	cat "$tmp/check.out" >&2
	fail "--check-config passes on the installed bridge.conf with xmpp.password"
fi
check "--check-config read the password from the file" \
	grep -qxF "xmpp.password: (set)" "$tmp/check.out"

# The admin edits it; installing again keeps the edit and the mode.
printf '# edited by the admin\n' >>"$conf"
chmod 0600 "$conf"
sum=$(md5sum <"$conf")
install_once
check "a second install keeps the edited bridge.conf" test "$(md5sum <"$conf")" = "$sum"
check "... and its mode" test "$(stat -c %a "$conf")" = 600
check "... while the example stays pristine" \
	cmp -s "$src/config/bridge.conf" "$dest$docdir/examples/bridge.conf"

# A removed bridge.conf is installed afresh.
rm "$conf"
install_once
check "an install where bridge.conf was removed puts it back" \
	cmp -s "$src/config/bridge.conf" "$conf"

echo "meson-install: $checks checks, $failures failed"
[ "$failures" -eq 0 ]
