#!/usr/bin/env bash
# Assemble the OpenWrt 24.10 .ipk for one target without the SDK, as
# scripts/ipkg-build does (gzip'd GNU tar of debian-binary, data.tar.gz,
# control.tar.gz; numeric root ownership, sorted names, fixed mtimes, so the
# same tree gives the same bytes), from the shipped musl build
# ($OUT/musl-<target>/site) and crossbuild/openwrt/files, then check it.
#   crossbuild/mkipk.sh TARGET        -> $OUT/ipk/opentracker-py_<ver>-<rel>_<arch>.ipk
# OT_PKG_RELEASE overrides the Makefile's PKG_RELEASE and OT_PKG_DIR the
# output directory (the life-cycle tests' "newer build"). The package's tree
# stays in $OT_PKG_DIR/tree-<target> (CONTROL/ included): mkapk.sh makes the
# .apk from the same files.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
[ $# -eq 1 ] || die "usage: mkipk.sh TARGET"
target_load "$1"
site=$OUT/musl-$T_NAME/site
[ -d "$site" ] || die "$T_NAME: no $site (run build.sh first)"
files=$XB_DIR/openwrt/files
# The feed's C build is the package `opentracker` (and `opentracker6`): ours
# has its own name, provides `opentracker` for whatever depends on it, keeps
# the command (/usr/bin/opentracker, -f FILE) and conflicts with both C
# builds (same binary and init script paths, same default port), so the two
# are never installed together (openwrt/Makefile says the same).
PKG=$(sed -n 's/^PKG_NAME:=//p' "$XB_DIR/openwrt/Makefile")
# (opentracker6 is provided for apk only: see mkapk.sh.)
PROVIDES=$(sed -n 's/^ *PROVIDES:=//p' "$XB_DIR/openwrt/Makefile" | sed 's/ *\$(if \$(CONFIG_USE_APK),[^)]*)//')
CONFLICTS=$(sed -n 's/^ *CONFLICTS:=//p' "$XB_DIR/openwrt/Makefile" | sed 's/ \+/, /g')
VER=$(sed -n 's/^__version__ = "\(.*\)"/\1/p' "$REPO/src/opentracker/_version.py")
[ -n "$VER" ] || die "no __version__ in src/opentracker/_version.py"
REL=${OT_PKG_RELEASE:-$(sed -n 's/^PKG_RELEASE:=//p' "$XB_DIR/openwrt/Makefile")}
PKGDIR=${OT_PKG_DIR:-$OUT/ipk}
USERID=$(sed -n 's/^ *USERID:=//p' "$XB_DIR/openwrt/Makefile")
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git -C "$REPO" log -1 --format=%ct 2> /dev/null || echo 1700000000)}

w=$PKGDIR/work-$T_NAME
R=$w/root
rm -rf "$w"
mkdir -p "$R/usr/lib/python$PYVER/site-packages" "$R/usr/bin" "$R/usr/libexec" "$R/etc/init.d" \
    "$R/etc/config" "$R/CONTROL"
cp -r "$site/." "$R/usr/lib/python$PYVER/site-packages/"
# As Python3/CompileAll does: legacy .pyc beside the source (-b), then no .py.
PYTHONHASHSEED=$SOURCE_DATE_EPOCH "$VENV/bin/python" -m compileall -q -b -d / "$R/usr/lib" > /dev/null
find "$R/usr/lib" -name '*.py' -delete
find "$R/usr/lib" -name __pycache__ -prune -exec rm -rf {} +
install -m 0755 "$files/opentracker.launcher" "$R/usr/bin/opentracker"
install -m 0755 "$files/opentracker-uciconf" "$R/usr/libexec/opentracker-uciconf"
install -m 0755 "$files/opentracker.init" "$R/etc/init.d/opentracker"
install -m 0600 "$files/opentracker.config" "$R/etc/config/opentracker"
find "$R" -type d -exec chmod 0755 {} +

depends="libc, python3-light"
# zlib only when a module really links it (the linker drops an unused -lz).
if find "$R/usr/lib" -name '*.so' -exec readelf -d {} + | grep -q 'NEEDED.*\[libz\.so'; then
    depends+=", zlib"
fi
cat > "$R/CONTROL/control" <<EOF
Package: $PKG
Version: $VER-$REL
Depends: $depends
Provides: $PROVIDES
Conflicts: $CONFLICTS
Source: feeds/opentracker/openwrt
SourceName: $PKG
License: MIT
Section: net
SourceDateEpoch: $SOURCE_DATE_EPOCH
Maintainer: opentracker developers
Architecture: $T_OWRT
Installed-Size: 0
Require-User: $USERID
Description:  A drop-in replacement for opentracker (same options, config keys, wire
 bytes, /stats modes, access lists and live sync) with a compiled core,
 IPv4 and IPv6 in one process, a memory budget, UCI and procd integration.
EOF
echo /etc/config/opentracker > "$R/CONTROL/conffiles"
printf '%s\n' '#!/bin/sh' '[ "${IPKG_NO_SCRIPT}" = "1" ] && exit 0' \
    '[ -s ${IPKG_INSTROOT}/lib/functions.sh ] || exit 0' '. ${IPKG_INSTROOT}/lib/functions.sh' \
    'default_postinst $0 $@' > "$R/CONTROL/postinst"
printf '%s\n' '#!/bin/sh' '[ -s ${IPKG_INSTROOT}/lib/functions.sh ] || exit 0' \
    '. ${IPKG_INSTROOT}/lib/functions.sh' 'default_prerm $0 $@' > "$R/CONTROL/prerm"
# The Makefile's Package/opentracker-py/postinst, which the buildroot ships
# as postinst-pkg (default_postinst sources it): restart on upgrade.
sed -n '/^define Package\/opentracker-py\/postinst$/,/^endef$/p' "$XB_DIR/openwrt/Makefile" | sed '1d;$d;s/\$\$/$/g' \
    > "$R/CONTROL/postinst-pkg"
grep -q 'restart' "$R/CONTROL/postinst-pkg" || die "no Package/opentracker-py/postinst in openwrt/Makefile"
chmod 0755 "$R/CONTROL/postinst" "$R/CONTROL/prerm" "$R/CONTROL/postinst-pkg"
chmod 0644 "$R/CONTROL/control" "$R/CONTROL/conffiles"

TAR=(tar --format=gnu --numeric-owner --owner=0 --group=0 --sort=name --mtime="@$SOURCE_DATE_EPOCH")
(cd "$R" && "${TAR[@]}" --exclude=./CONTROL -cf - . | gzip -9n > "$w/data.tar.gz")
sed -i "s/^Installed-Size: .*/Installed-Size: $(zcat "$w/data.tar.gz" | wc -c)/" "$R/CONTROL/control"
(cd "$R/CONTROL" && "${TAR[@]}" -cf - . | gzip -9n > "$w/control.tar.gz")
echo 2.0 > "$w/debian-binary"
ipk=$PKGDIR/${PKG}_$VER-${REL}_$T_OWRT.ipk
(cd "$w" && "${TAR[@]}" -cf - ./debian-binary ./data.tar.gz ./control.tar.gz | gzip -9n > "$ipk")
rm -rf "$PKGDIR/tree-$T_NAME"
mv "$R" "$PKGDIR/tree-$T_NAME"
rm -rf "$w"
"$VENV/bin/python" "$XB_DIR/checkipk.py" "$T_NAME" "$ipk"
