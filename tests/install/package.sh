#!/bin/sh
# The Debian package, built and installed from outside: dpkg-buildpackage builds it from
# a copy of the source tree, lintian finds no error in it, and `dpkg -i` installs it into
# a scratch root (dpkg --root, the maintainer scripts run with DPKG_ROOT) without
# touching this machine: the system user is created there, bridge.conf is a conffile of
# the bridge's group, 0640, the unit is enabled there and nothing started, and the
# installed binary passes --check-config on the installed bridge.conf. Then a purge.
#
# package.sh SRCDIR
set -eu

src=$1
for tool in dpkg-buildpackage dh lintian systemd-sysusers; do
	if ! command -v "$tool" >/dev/null; then
		echo "SKIP: $tool not installed (scripts/install-deps installs it)"
		exit 77
	fi
done
if ! (cd "$src" && dpkg-checkbuilddeps) >/dev/null 2>&1; then
	echo "SKIP: build dependencies missing: $(cd "$src" && dpkg-checkbuilddeps 2>&1)"
	exit 77
fi

failures=0
check() {
	what=$1
	shift
	if "$@"; then echo "  ok    $what"; else echo "  FAIL  $what" >&2; failures=$((failures + 1)); fi
}
elapsed() {
	echo "  ..    $1 ($(($(date +%s) - start)) s)"
}
start=$(date +%s)

tmp=$(mktemp -d /tmp/mxb-package.XXXXXX)
trap 'rm -rf "$tmp"' EXIT INT TERM

# What dpkg -i could touch on this machine, to compare after.
host_state() {
	for f in /etc/passwd /etc/group /etc/shadow /etc/gshadow /var/lib/dpkg/status \
		/var/lib/dpkg/statoverride; do
		if [ -e "$f" ]; then md5sum "$f"; fi
	done
	ls -lR /etc/systemd/system /var/lib/systemd/deb-systemd-helper-enabled \
		/etc/mqtt-xmpp-bridge /lib/systemd/system/mqtt-xmpp-bridge.service 2>&1 || true
}
host_state >"$tmp/host.before"

# A copy: dpkg-buildpackage writes into the tree (debian/tmp, obj-*) and beside it. The
# files git knows or would add, so that uncommitted work is built too.
mkdir "$tmp/src"
if git -C "$src" rev-parse --show-toplevel >/dev/null 2>&1; then
	(cd "$src" && git ls-files -co --exclude-standard -z) |
		(cd "$src" && tar --null -T - -cf -) | tar -xf - -C "$tmp/src"
else
	tar -C "$src" --exclude='./build*' --exclude='./obj-*' --exclude=./debian/tmp -cf - . |
		tar -xf - -C "$tmp/src"
fi

# nocheck: the package's unit suite is not what this tests; noautodbgsym: time.
if ! (cd "$tmp/src" &&
	DEB_BUILD_OPTIONS="nocheck noautodbgsym parallel=2" dpkg-buildpackage -us -uc -b) \
	>"$tmp/build.log" 2>&1; then
	tail -40 "$tmp/build.log" >&2
	check "dpkg-buildpackage -us -uc -b" false
	exit 1
fi
check "dpkg-buildpackage -us -uc -b" true
elapsed "built"
deb=$(ls "$tmp"/mqtt-xmpp-bridge_*.deb)

dpkg-deb -c "$deb" | awk '{ print $1, $2, $6 }' >"$tmp/contents"
for f in ./usr/bin/mqtt-xmpp-bridge ./etc/mqtt-xmpp-bridge/bridge.conf \
	./lib/systemd/system/mqtt-xmpp-bridge.service ./usr/lib/sysusers.d/mqtt-xmpp-bridge.conf \
	./usr/share/man/man8/mqtt-xmpp-bridge.8.gz ./usr/share/man/man5/bridge.conf.5.gz \
	./usr/share/doc/mqtt-xmpp-bridge/examples/bridge.conf \
	./usr/share/doc/mqtt-xmpp-bridge/examples/minimal.conf; do
	check "the package holds $f" grep -q " $f\$" "$tmp/contents"
done
if [ -d "$src/web" ]; then
	check "the package holds the web dashboard" \
		grep -q " ./usr/share/mqtt-xmpp-bridge/web/" "$tmp/contents"
fi
dpkg-deb -e "$deb" "$tmp/control"
check "bridge.conf is a conffile" grep -qx /etc/mqtt-xmpp-bridge/bridge.conf \
	"$tmp/control/conffiles"
check "the unit runs /usr/bin/mqtt-xmpp-bridge on /etc/mqtt-xmpp-bridge/bridge.conf" sh -c \
	'dpkg-deb --fsys-tarfile "$1" | tar -xOf - ./lib/systemd/system/mqtt-xmpp-bridge.service |
	grep -qx "ExecStart=/usr/bin/mqtt-xmpp-bridge -c /etc/mqtt-xmpp-bridge/bridge.conf"' \
	sh "$deb"
check "the postinst starts nothing on a first install" \
	sh -c '! grep -q "deb-systemd-invoke start\|_dh_action=start" "$1"' sh "$tmp/control/postinst"
check "... enables the unit and try-restarts it on upgrades" sh -c \
	'grep -q "deb-systemd-helper enable" "$1" && grep -q "deb-systemd-invoke try-restart" "$1"' \
	sh "$tmp/control/postinst"
check "the prerm stops it on removal" \
	grep -q "deb-systemd-invoke stop mqtt-xmpp-bridge.service" "$tmp/control/prerm"

# lintian: no error; warnings, pedantic and informational tags are printed for the record.
lintian --tag-display-limit 0 --display-info --pedantic "$deb" >"$tmp/lintian" 2>&1 || true
sed 's/^/  lintian: /' "$tmp/lintian"
check "lintian reports no error" sh -c '! grep -q "^E: " "$1"' sh "$tmp/lintian"
elapsed "lintian"

# dpkg -i into a scratch root. --force-script-chrootless runs the maintainer scripts
# here with DPKG_ROOT set rather than chrooted into a root that has no shell;
# --force-depends because the scratch root has none of the libraries installed.
root=$tmp/root
mkdir -p "$root/var/lib/dpkg/info" "$root/var/lib/dpkg/updates" "$root/var/lib/dpkg/triggers"
touch "$root/var/lib/dpkg/status" "$root/var/lib/dpkg/available"
dpkg_root() {
	dpkg --root="$root" --log=/dev/null --force-script-chrootless --force-depends "$@"
}
if dpkg_root -i "$deb" >"$tmp/dpkg.log" 2>&1; then
	check "dpkg -i into a scratch root" true
else
	cat "$tmp/dpkg.log" >&2
	check "dpkg -i into a scratch root" false
fi
check "dpkg says it is installed there" sh -c \
	'dpkg-query --root="$1" -W -f="\${Status}" mqtt-xmpp-bridge | grep -qx "install ok installed"' \
	sh "$root"
check "the postinst created the user there" grep -q "^mqtt-xmpp-bridge:" "$root/etc/passwd"
gid=$(awk -F: '$1 == "mqtt-xmpp-bridge" { print $3 }' "$root/etc/group" 2>/dev/null)
check "... and its group" test -n "$gid"
conf=$root/etc/mqtt-xmpp-bridge/bridge.conf
check "bridge.conf is 0640 root:mqtt-xmpp-bridge ($(stat -c '%a %u:%g' "$conf"))" \
	test "$(stat -c %a:%u:%g "$conf")" = "640:0:$gid"
check "the unit is enabled there" \
	test -L "$root/etc/systemd/system/multi-user.target.wants/mqtt-xmpp-bridge.service"

# The admin's step: the password file bridge.conf names, then --check-config.
install -m 0640 -o 0 -g "$gid" /dev/null "$root/etc/mqtt-xmpp-bridge/xmpp.password"
printf 'secret\n' >"$root/etc/mqtt-xmpp-bridge/xmpp.password"
if "$root/usr/bin/mqtt-xmpp-bridge" --check-config -c "$conf" >"$tmp/check.out" 2>&1; then
	check "the installed binary passes --check-config on the installed bridge.conf" true
else
	cat "$tmp/check.out" >&2
	check "the installed binary passes --check-config on the installed bridge.conf" false
fi

# Installing again (an upgrade to the same version) keeps an edited bridge.conf and its mode.
printf '# edited\n' >>"$conf"
chmod 0600 "$conf"
sum=$(md5sum <"$conf")
dpkg_root -i "$deb" >"$tmp/dpkg2.log" 2>&1 || cat "$tmp/dpkg2.log" >&2
check "installing again keeps the edited bridge.conf" test "$(md5sum <"$conf")" = "$sum"
check "... and its mode" test "$(stat -c %a "$conf")" = 600

dpkg_root -P mqtt-xmpp-bridge >"$tmp/purge.log" 2>&1 || cat "$tmp/purge.log" >&2
check "a purge removes the binary and bridge.conf" \
	test ! -e "$root/usr/bin/mqtt-xmpp-bridge" -a ! -e "$conf"
check "... and the unit's enablement" \
	test ! -e "$root/etc/systemd/system/multi-user.target.wants/mqtt-xmpp-bridge.service"

host_state >"$tmp/host.after"
check "this machine's users, dpkg database and units are untouched" \
	cmp -s "$tmp/host.before" "$tmp/host.after"
elapsed "done"

[ "$failures" -eq 0 ]
