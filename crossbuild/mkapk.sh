#!/usr/bin/env bash
# The OpenWrt 25.12 package (.apk, apk-tools 3's ADB format) for one target,
# made with `apk mkpkg` from the same tree as the .ipk (mkipk.sh keeps it in
# $PKGDIR/tree-<target>), laid out as the 25.12 buildroot's
# include/package-pack.mk lays out its packages:
#   - version: apk's rules, <version>-r<release> (the .ipk's is <version>-<release>);
#   - arch: OpenWrt's name (mips_24kc ...); depends: the .ipk's Depends, with
#     python3-light~3.11 (the files are CPython 3.11's; see DEPENDS below);
#   - provides: each PROVIDES entry with the version (opentracker=0.1.0-r1):
#     apk allows one package of a versioned name installed at a time, which
#     is how the 25.12 buildroot turns the C package's name into a conflict
#     (it does not pass CONFLICTS to apk); opentracker6 is provided for the
#     same reason (the Makefile adds it when CONFIG_USE_APK is set);
#   - /lib/apk/packages/<pkg>.{list,rusers,conffiles,conffiles_static}: what
#     base-files' functions and sysupgrade read on 25.12 (the conffile list
#     with each file's sha256 decides what a firmware upgrade keeps);
#   - scripts: post-install (add_group_and_user, default_postinst, then the
#     Makefile's postinst), post-upgrade (the same with PKG_UPGRADE=1),
#     pre-deinstall (default_prerm).
# Signed with the run's test key ($OUT/apk-key/test.rsa, made here when
# missing; the public half goes into the emulated root's /etc/apk/keys).
#   crossbuild/mkapk.sh TARGET [--mutant KIND]
#      -> $PKGDIR/apk-<target>/opentracker-py-<ver>-r<rel>.apk
# --mutant (crossbuild's mutant checks only): arch (another target's arch),
# provides (no provides: no conflict with the C package), conffiles (no
# conffile list), prerm (no pre-deinstall), restart (no Makefile postinst),
# unsigned (no signature); written to $PKGDIR/apk-<target>-mutant-KIND/.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
[ $# -ge 1 ] || die "usage: mkapk.sh TARGET [--mutant KIND]"
target_load "$1"
mutant=
[ "${2:-}" = --mutant ] && mutant=$3
PKGDIR=${OT_PKG_DIR:-$OUT/ipk}
tree=$PKGDIR/tree-$T_NAME
[ -f "$tree/CONTROL/control" ] || die "$T_NAME: no $tree (run mkipk.sh first)"
APK=$CACHE/pkgtools/apk
[ -x "$APK" ] || die "no $APK (run pkgtools.sh)"
field() { sed -n "s/^$1: *//p" "$tree/CONTROL/control"; }
PKG=$(field Package)
IPKVER=$(field Version)
# 0.1.0-1 -> 0.1.0-r1 (apk: -r<n> is the package release).
VER=${IPKVER%-*}-r${IPKVER##*-}
"$APK" version --check "$VER" > /dev/null || die "'$VER' is not a valid apk version"
ARCH=$(field Architecture)
# The .ipk's Depends, with python3-light held to this build's Python
# (~3.11: any 3.11.x): the .pyc files and the extension are CPython 3.11's,
# and a 25.12 router's python3 is newer, so there apk must refuse the
# package rather than install one that cannot import (24.10 ships 3.11, the
# .ipk needs no such bound).
DEPENDS=$(field Depends | tr -d ' ' | tr ',' '\n' | sed "s/^python3-light\$/python3-light~$PYVER/" | tr '\n' ' ' | sed 's/ $//')
provides=
for p in $(sed -n 's/^ *PROVIDES:=//p' "$XB_DIR/openwrt/Makefile" | sed 's/\$(if \$(CONFIG_USE_APK),\([^)]*\))/\1/'); do
    [ "$p" = "$PKG" ] || provides+=" $p=$VER"
done
provides=${provides# }
case $mutant in
    "") ;;
    arch) for o in $ALL_TARGETS; do [ "$o" = "$T_NAME" ] || { ARCH=$(target_load "$o"; echo "$T_OWRT"); break; }; done ;;
    provides) provides= ;;
    conffiles|prerm|restart|unsigned) ;;
    *) die "mkapk.sh: unknown mutant '$mutant'" ;;
esac
out=$PKGDIR/apk-$T_NAME${mutant:+-mutant-$mutant}
w=$out/work
rm -rf "$out"
mkdir -p "$w"
R=$w/root
cp -a "$tree" "$R"
rm -rf "$R/CONTROL"
mkdir -p "$R/lib/apk/packages"
info=$R/lib/apk/packages/$PKG
field Require-User > "$info.rusers"
[ -s "$info.rusers" ] || rm -f "$info.rusers"
(cd "$R" && find . \( -type f -o -type l \) -printf '/%P\n' | sort) > "$w/list"
mv "$w/list" "$info.list"
if [ "$mutant" != conffiles ]; then
    cp "$tree/CONTROL/conffiles" "$info.conffiles"
    while read -r f; do
        [ -f "$R$f" ] && echo "$f $(sha256sum < "$R$f" | cut -d' ' -f1)"
    done < "$info.conffiles" > "$info.conffiles_static"
fi

# apk records each file's mtime: the .ipk's fixed time (SOURCE_DATE_EPOCH of
# the control file), so that the same tree gives the same package.
epoch=$(field SourceDateEpoch)
find "$R" -exec touch -h -d "@$epoch" {} +

# Scripts, as package-pack.mk writes them.
{
    echo '#!/bin/sh'
    echo '[ "${IPKG_NO_SCRIPT}" = "1" ] && exit 0'
    echo '[ -s ${IPKG_INSTROOT}/lib/functions.sh ] || exit 0'
    echo '. ${IPKG_INSTROOT}/lib/functions.sh'
    echo 'export root="${IPKG_INSTROOT}"'
    echo "export pkgname=\"$PKG\""
    echo 'add_group_and_user'
    echo 'default_postinst'
    [ "$mutant" = restart ] || sed '/^\s*#!/d' "$tree/CONTROL/postinst-pkg"
} > "$w/post-install"
{
    echo '#!/bin/sh'
    echo 'export PKG_UPGRADE=1'
    sed '/^\s*#!/d' "$w/post-install"
} > "$w/post-upgrade"
{
    echo '#!/bin/sh'
    echo '[ -s ${IPKG_INSTROOT}/lib/functions.sh ] || exit 0'
    echo '. ${IPKG_INSTROOT}/lib/functions.sh'
    echo 'export root="${IPKG_INSTROOT}"'
    echo "export pkgname=\"$PKG\""
    echo 'default_prerm'
} > "$w/pre-deinstall"
scripts=(--script "post-install:$w/post-install" --script "post-upgrade:$w/post-upgrade")
[ "$mutant" = prerm ] || scripts+=(--script "pre-deinstall:$w/pre-deinstall")

key=$OUT/apk-key/test.rsa
if [ ! -f "$key" ]; then
    # A key made for this run only (ECDSA P-256, as OpenWrt's apk keys).
    mkdir -p "$OUT/apk-key"
    openssl ecparam -name prime256v1 -genkey -noout -out "$key.tmp" 2> /dev/null
    openssl ec -in "$key.tmp" -pubout -out "$OUT/apk-key/test.pem" 2> /dev/null
    mv "$key.tmp" "$key"
fi
sign=(--sign-key "$key")
[ "$mutant" = unsigned ] && sign=()
description=$(sed -n '/^Description:/,$p' "$tree/CONTROL/control" | sed '1s/^Description: *//;s/^ *//' | tr '\n' ' ' | sed 's/ *$//')
apk=$out/$PKG-$VER.apk
"$APK" mkpkg "${sign[@]}" \
    --info "name:$PKG" --info "version:$VER" --info "description:$description" --info "arch:$ARCH" \
    --info "license:$(field License)" --info "origin:$(field Source)" --info "maintainer:$(field Maintainer)" \
    ${provides:+--info "provides:$provides"} --info "depends:$DEPENDS" \
    "${scripts[@]}" --files "$R" --output "$apk"
rm -rf "$w"
[ "$(head -c 3 "$apk")" = ADB ] || die "$apk does not start with the ADB magic"
if [ -z "$mutant" ] && [ -z "${OT_PKG_DIR:-}" ]; then
    # The run's package: apk verify must accept it with the test key (a
    # keys directory holding only its public half) and refuse it without.
    mkdir -p "$OUT/apk-key/trusted" "$OUT/apk-key/none"
    cp "$OUT/apk-key/test.pem" "$OUT/apk-key/trusted/"
    "$APK" verify --keys-dir "$OUT/apk-key/trusted" "$apk" || die "apk verify refuses $apk with the test key"
    if out=$("$APK" verify --keys-dir "$OUT/apk-key/none" "$apk" 2>&1); then
        die "apk verify accepts $apk without the key"
    fi
    echo "$out" | grep -q UNTRUSTED || die "apk verify refuses $apk without the key, but not as untrusted: $out"
    echo "without the key: $out"
    mkdir -p "$OUT/results"
    printf 'apk=%s\napk_bytes=%s\napk_version=%s\napk_provides=%s\napk_check=%s\n' "$(basename "$apk")" "$(stat -c %s "$apk")" \
        "$VER" "$provides" "ADB, verify ok with the key, untrusted without" > "$OUT/results/$T_NAME.apk"
fi
echo "$apk"
