#!/usr/bin/env bash
# The routers' own package managers, built for the host from pinned sources:
#   apk-tools 3.0.6          OpenWrt 25.12's `apk` (ADB-format .apk, apk mkpkg)
#   opkg-lede 38eccbb        OpenWrt 24.10's `opkg` (.ipk), linked statically
#     + libubox 1aa36ee      against this libubox
# so that the packages are made and installed by the tools a router owner's
# router runs, not by a re-implementation of them.
#
# The sources are never downloaded here: they are the tarballs in
# $OT_VENDOR_SRC (default: shared/vendor-src beside the checkout, i.e.
# ../shared/vendor-src from the repository root), checked against that
# directory's SHA256SUMS. Without them this step says so and fails.
#
# Result (cached; rebuilt only when missing or when a checksum changes):
#   $CACHE/pkgtools/apk      apk-tools (static libapk, Debian's libssl/libz)
#   $CACHE/pkgtools/opkg     opkg-cl
#   $CACHE/pkgtools/VERSIONS "apk=apk-tools 3.0.6" "opkg=opkg (opkg-lede 38eccbb)"
#   crossbuild/pkgtools.sh
set -euo pipefail
. "$(dirname "$0")/lib.sh"

VS=$(vendor_src) || exit 1
APK_TGZ=apk-tools-3.0.6.tar.gz
OPKG_TGZ=opkg-lede-38eccbb.tar.gz
UBOX_TGZ=libubox-1aa36ee.tar.gz
D=$CACHE/pkgtools

# Every tarball used must be listed in SHA256SUMS and match it.
(cd "$VS" && for f in $APK_TGZ $OPKG_TGZ $UBOX_TGZ; do
    grep -E "^[0-9a-f]{64}  $f\$" SHA256SUMS > /dev/null || die "$VS/SHA256SUMS does not list $f"
done && grep -E "  ($APK_TGZ|$OPKG_TGZ|$UBOX_TGZ)\$" SHA256SUMS | sha256sum --quiet -c -) \
    || die "vendor sources in $VS do not match their SHA256SUMS"
stamp=$(cd "$VS" && grep -E "  ($APK_TGZ|$OPKG_TGZ|$UBOX_TGZ)\$" SHA256SUMS | sha256sum | cut -c1-16)

if [ -f "$D/.ok" ] && [ "$(cat "$D/.ok")" = "$stamp" ] && [ -x "$D/apk" ] && [ -x "$D/opkg" ]; then
    log "pkgtools: cached ($(tr '\n' ';' < "$D/VERSIONS"))"
    exit 0
fi
rm -rf "$D"
mkdir -p "$D/src"
t0=$(now)

# ---------------------------------------------------------------- apk-tools
tar -C "$D/src" -xzf "$VS/$APK_TGZ"
a=$D/src/apk-tools-3.0.6
# No docs/help (scdoc, lua), no bindings; zstd off: OpenWrt's .apk files
# are compressed with deflate. Static libapk: one self-contained binary.
# VERSION: the tarball is no git checkout, get-version.sh reads it.
(cd "$a" && VERSION=3.0.6 /usr/bin/meson setup build -Ddocs=disabled -Dhelp=disabled -Dlua=disabled \
    -Dpython=disabled -Dzstd=disabled -Dtests=disabled -Ddefault_library=static > "$D/apk-setup.log" 2>&1) \
    || { tail -30 "$D/apk-setup.log"; die "apk-tools: meson setup failed"; }
ninja -C "$a/build" -j2 > "$D/apk-build.log" 2>&1 || { tail -30 "$D/apk-build.log"; die "apk-tools: build failed"; }
install -m 0755 "$a/build/src/apk" "$D/apk"
v=$("$D/apk" --version | head -1)
case $v in "apk-tools 3.0.6"*) ;; *) die "apk-tools: built binary reports '$v'" ;; esac

# ---------------------------------------------------------------- libubox, opkg
tar -C "$D/src" -xzf "$VS/$UBOX_TGZ"
tar -C "$D/src" -xzf "$VS/$OPKG_TGZ"
u=$D/src/libubox-1aa36ee
o=$D/src/opkg-lede-38eccbb
# Debian's cmake (/usr/bin), not one a pyenv or venv puts first in PATH.
# libubox: only the core library (opkg uses its lists, blobs and md5);
# Lua plugin and examples off.
/usr/bin/cmake -DCMAKE_POLICY_VERSION_MINIMUM=3.5 -S "$u" -B "$u/build" -DCMAKE_BUILD_TYPE=Release -DBUILD_LUA=OFF -DBUILD_EXAMPLES=OFF \
    -DCMAKE_INSTALL_PREFIX="$D/ubox" > "$D/ubox-setup.log" 2>&1 || { tail -30 "$D/ubox-setup.log"; die "libubox: cmake failed"; }
make -C "$u/build" -j2 ubox-static > "$D/ubox-build.log" 2>&1 || { tail -30 "$D/ubox-build.log"; die "libubox: build failed"; }
mkdir -p "$D/ubox/lib" "$D/ubox/include/libubox"
cp "$u/build/libubox.a" "$D/ubox/lib/"
cp "$u"/*.h "$D/ubox/include/libubox/"
# opkg: as OpenWrt's host build of it (package/system/opkg, opkg/host):
# libubox linked statically, tests off; the version string the router's
# opkg prints is set here (the tarball has no git history to read it from).
/usr/bin/cmake -DCMAKE_POLICY_VERSION_MINIMUM=3.5 -S "$o" -B "$o/build" -DCMAKE_BUILD_TYPE=Release -DSTATIC_UBOX=ON -DBUILD_TESTS=OFF \
    -DVERSION="38eccbb (2024-10-16)" -DCMAKE_PREFIX_PATH="$D/ubox" -DCMAKE_C_FLAGS="-I$D/ubox/include" \
    > "$D/opkg-setup.log" 2>&1 || { tail -30 "$D/opkg-setup.log"; die "opkg: cmake failed"; }
make -C "$o/build" -j2 > "$D/opkg-build.log" 2>&1 || { tail -30 "$D/opkg-build.log"; die "opkg: build failed"; }
install -m 0755 "$o/build/src/opkg-cl" "$D/opkg"
"$D/opkg" --version 2>&1 | grep -q "38eccbb" || die "opkg: built binary reports '$("$D/opkg" --version 2>&1 | head -1)'"

printf '%s\n' "apk=apk-tools 3.0.6" "opkg=opkg (opkg-lede 38eccbb)" > "$D/VERSIONS"
rm -rf "$D/src"
echo "$stamp" > "$D/.ok"
log "pkgtools: apk-tools 3.0.6 and opkg-lede 38eccbb built in $(printf '%.0f' "$(echo "$(now) - $t0" | bc)")s from $VS"
