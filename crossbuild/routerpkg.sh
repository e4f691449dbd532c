# shellcheck shell=bash
# The emulated router's package manager (sourced by router.sh and
# lifecycle.sh after lib.sh and target_load): a root whose package database
# the real tool owns, and the tool's own commands on it.
#
#   ipk  OpenWrt 24.10-like: opkg (opkg-lede, pkgtools.sh) with the root's
#        /etc/opkg.conf and /usr/lib/opkg/status (muslroot.sh lists the
#        image's packages there). opkg runs inside the root (chroot), as on
#        a router: `opkg -o ROOT` from outside never runs maintainer scripts
#        (opkg-lede's pkg_run_script: "Offline root mode: not running ..."),
#        so nothing would be enabled or started.
#   apk  OpenWrt 25.12-like: apk-tools 3 from the host with --root ROOT (apk
#        chroots into ROOT to run the package's scripts, as on a router);
#        /etc/apk/arch, /etc/apk/keys (the run's test key), and the image's
#        packages in apk's database (metadata packages, made here: the
#        files are the image's already).
# Both: the package's scripts run under BusyBox ash in the root, with the
# stand-ins for base-files' functions.sh and procd's rc.common.

PKGTOOLS=$CACHE/pkgtools
APK=$PKGTOOLS/apk

# tool_label FORMAT: the installing tool and its version, for the table.
tool_label() {
    case $1 in
        ipk) sed -n 's/^opkg=//p' "$PKGTOOLS/VERSIONS" ;;
        apk) sed -n 's/^apk=//p' "$PKGTOOLS/VERSIONS" ;;
    esac
}

# chroot_bin ROOT HOSTFILE DEST: a host binary into the root with the shared
# libraries it needs (the scripts and opkg run natively, x86-64, in a chroot).
chroot_bin() {
    local r=$1 f=$2 dest=$3 lib
    install -D -m 0755 "$(readlink -f "$f")" "$r$dest"
    for lib in $(ldd "$f" | grep -oE '/[^ ]+'); do
        [ -e "$r$lib" ] || install -D -m 0755 "$lib" "$r$lib"
    done
}

# router_root ROOT FORMAT [PYVERSION]: a fresh copy of the image, its shell
# and stand-ins, and the package database of FORMAT's tool. PYVERSION (apk
# only) is the version the database gives python3-light (default the
# image's, 3.11.2-r1; lifecycle.sh's python step gives it 25.12's).
router_root() {
    local r=$1 fmt=$2 pyv=${3:-3.11.2-r1} image=$CACHE/muslroot-$T_NAME/root
    [ -f "$CACHE/muslroot-$T_NAME/.ok" ] || die "$T_NAME: no musl userland (run muslroot.sh)"
    [ -x "$PKGTOOLS/opkg" ] && [ -x "$APK" ] || die "no package tools in $PKGTOOLS (run pkgtools.sh)"
    rm -rf "$r"
    cp -a "$image" "$r"
    chroot_bin "$r" /bin/busybox /bin/busybox
    mkdir -p "$r/sbin" "$r/usr/sbin" "$r/usr/bin"
    chroot "$r" /bin/busybox --install -s
    cat "$XB_DIR/openwrt/test/functions.sh" "$XB_DIR/openwrt/standin/functions-pkg.sh" > "$r/lib/functions.sh"
    install -m 0755 "$XB_DIR/openwrt/standin/rc.common" "$r/etc/rc.common"
    mkdir -p "$r/var/run" "$r/var/lock" "$r/tmp" "$r/dev"
    mknod -m 0666 "$r/dev/null" c 1 3
    chmod 1777 "$r/tmp"
    case $fmt in
        ipk)
            chroot_bin "$r" "$PKGTOOLS/opkg" /bin/opkg
            opkg_image_lists "$r"
            # 24.10's /etc/opkg.conf less the feeds (none offline) and the
            # signature check (feeds only); the architectures opkg accepts.
            printf '%s\n' 'dest root /' 'dest ram /tmp' 'lists_dir ext /var/opkg-lists' \
                'arch all 1' 'arch noarch 1' "arch $T_OWRT 10" > "$r/etc/opkg.conf"
            ;;
        apk)
            # 25.12 has no opkg database.
            rm -rf "$r/usr/lib/opkg"
            mkdir -p "$r/etc/apk/keys"
            cp "$OUT/apk-key/test.pem" "$r/etc/apk/keys/opentracker-test.pem"
            apk_base_packages "$pyv"
            "$APK" --root "$r" --arch "$T_OWRT" --initdb --no-network --no-cache add "$OUT/apk-base-$T_NAME-$pyv"/*.apk \
                > "$r/../apk-initdb.log" 2>&1 || { cat "$r/../apk-initdb.log"; die "$T_NAME: apk --initdb failed"; }
            ;;
        *) die "unknown package format $fmt" ;;
    esac
}

# opkg_image_lists ROOT: /usr/lib/opkg/info/PKG.list for the image's
# packages in the status file (opkg reads the list of every installed
# package), each with the image's files that package installs on OpenWrt.
opkg_image_lists() {
    local r=$1 i=$1/usr/lib/opkg/info p
    mkdir -p "$i"
    for p in $(sed -n 's/^Package: //p' "$r/usr/lib/opkg/status"); do
        case $p in
            libc) (cd "$r" && find lib -maxdepth 1 \( -name 'libc.so' -o -name 'ld-musl-*' \)) ;;
            zlib) (cd "$r" && find usr/lib -maxdepth 1 -name 'libz.so*') ;;
            libpython3) (cd "$r" && find usr/lib -maxdepth 1 -name 'libpython3*') ;;
            python3-base) (cd "$r" && find usr/bin -maxdepth 1 -name 'python*') ;;
            python3-light) (cd "$r" && find "usr/lib/python$PYVER" \( -type f -o -type l \)) ;;
        esac | sed 's|^|/|' | sort > "$i/$p.list"
    done
}

# The image's packages as apk knows them (the names the .apk depends on;
# versions as muslroot.sh builds them), signed with the test key.
apk_base_packages() {
    local pyv=$1 d=$OUT/apk-base-$T_NAME-$1 p
    [ -f "$d/.ok" ] && return 0
    rm -rf "$d"
    mkdir -p "$d/empty"
    for p in libc=1.2.5-r1 zlib=1.2.13-r1 libpython3=$pyv python3-base=$pyv python3-light=$pyv; do
        "$APK" mkpkg --sign-key "$OUT/apk-key/test.rsa" --info "name:${p%%=*}" --info "version:${p#*=}" \
            --info "arch:$T_OWRT" --info "description:image package (crossbuild muslroot)" \
            --files "$d/empty" --output "$d/${p%%=*}.apk"
    done
    touch "$d/.ok"
}

# pm FORMAT ROOT ACTION ARGS...: the tool's command for ACTION, its output on
# stdout/stderr, its exit status returned.
#   install FILE       opkg install FILE / apk add FILE (a downloaded package)
#   feed-install FILE  opkg install FILE / apk add NAME from a feed holding FILE
#   upgrade FILE       opkg install FILE / apk upgrade NAME from a feed holding FILE
#   reinstall FILE     opkg install --force-reinstall FILE / apk fix --reinstall NAME (feed)
#   remove NAME        opkg remove NAME / apk del NAME
#   version NAME       the installed version, empty when not installed
# (apk: a package added from a file is pinned to that file in /etc/apk/world,
# and `apk fix --reinstall` takes packages from a repository only; on 25.12
# packages come from feeds, so the life cycle after the first install runs
# from a local feed: a directory with the package and an index made by `apk
# mkndx`, signed with the test key, as `apk update` would fetch it.)
pm() {
    local fmt=$1 r=$2 action=$3 base
    shift 3
    case $fmt:$action in
        ipk:install|ipk:feed-install|ipk:upgrade|ipk:reinstall)
            base=$(basename "$1")
            cp "$1" "$r/tmp/$base"
            local rc=0
            env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin chroot "$r" /bin/opkg install \
                $([ "$action" = reinstall ] && echo --force-reinstall) "/tmp/$base" || rc=$?
            rm -f "$r/tmp/$base"
            return $rc ;;
        ipk:remove) env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin chroot "$r" /bin/opkg remove "$1" ;;
        ipk:version)
            awk -v p="$1" '/^Package: /{n=$2} /^Version: /{v=$2} /^Status: /{if (n == p && $0 ~ / installed$/) print v}' \
                "$r/usr/lib/opkg/status" ;;
        apk:install) "$APK" --root "$r" --no-network --no-cache add "$1" ;;
        apk:feed-install|apk:upgrade|apk:reinstall)
            local feed
            feed=$(apk_feed "$r" "$1") || return 1
            case $action in
                feed-install) set -- add "$(apk_name "$1")" ;;
                upgrade) set -- upgrade "$(apk_name "$1")" ;;
                reinstall) set -- fix --reinstall "$(apk_name "$1")" ;;
            esac
            "$APK" --root "$r" --no-cache --repository "file://$feed/packages.adb" "$@" ;;
        apk:remove) "$APK" --root "$r" --no-network --no-cache del "$1" ;;
        apk:version)
            "$APK" --root "$r" --no-network --no-cache query --installed --fields version --format json "$1" 2> /dev/null \
                | python3 -c 'import json, sys; d = json.load(sys.stdin); print(d[0]["version"] if d else "")' 2> /dev/null || true ;;
        *) die "pm: $fmt $action" ;;
    esac
}

# apk_feed ROOT FILE: a local feed (beside the root) holding FILE, its index
# signed with the test key; prints its directory.
apk_feed() {
    local r=$1 f=$2 d
    d=$(cd "$r/.." && pwd)/feed-$(basename "$f" .apk)
    if [ ! -f "$d/packages.adb" ]; then
        rm -rf "$d"
        mkdir -p "$d"
        cp "$f" "$d/"
        (cd "$d" && "$APK" --root "$r" mkndx --sign-key "$OUT/apk-key/test.rsa" --output packages.adb ./*.apk) >&2 || return 1
    fi
    echo "$d"
}

# apk_name FILE: the package name recorded in an .apk.
apk_name() {
    "$APK" adbdump "$1" 2> /dev/null | sed -n 's/^ *name: //p' | head -1
}

# cstandin FORMAT DIR NAME [paths]: a stand-in for the feed's C package NAME
# (opentracker, opentracker6), for the conflict tests. Plain, its only file
# is its own, so that a refusal of ours beside it can only come from our
# declared conflict, not from two packages owning one path. With "paths",
# it also has the C package's /usr/bin/opentracker and init script, as the
# real one has: opkg does not read an installed package's Conflicts when it
# installs another, so on 24.10 it is these shared paths that refuse the C
# package beside ours.
cstandin() {
    local fmt=$1 d=$2 name=$3 w
    w=$d/cstandin-$name-$fmt${4:+-$4}
    rm -rf "$w"
    mkdir -p "$w/root/usr/share/doc/$name" "$w/ctl"
    echo "stand-in for the feed's C $name (crossbuild conflict test)" > "$w/root/usr/share/doc/$name/README"
    if [ "${4:-}" = paths ]; then
        mkdir -p "$w/root/usr/bin" "$w/root/etc/init.d"
        printf '#!/bin/sh\necho C opentracker stand-in\n' > "$w/root/usr/bin/opentracker"
        printf '#!/bin/sh /etc/rc.common\nSTART=95\n' > "$w/root/etc/init.d/opentracker"
        chmod 0755 "$w/root/usr/bin/opentracker" "$w/root/etc/init.d/opentracker"
    fi
    case $fmt in
        ipk)
            printf 'Package: %s\nVersion: 2021-08-23-1\nDepends: libc, zlib\nArchitecture: %s\nInstalled-Size: 1\nDescription: stand-in\n' \
                "$name" "$T_OWRT" > "$w/ctl/control"
            (cd "$w/root" && tar --numeric-owner --owner=0 --group=0 -czf "$w/data.tar.gz" .)
            (cd "$w/ctl" && tar --numeric-owner --owner=0 --group=0 -czf "$w/control.tar.gz" .)
            echo 2.0 > "$w/debian-binary"
            mkdir -p "$w/out"
            (cd "$w" && tar --numeric-owner --owner=0 --group=0 -czf "$w/out/${name}_2021-08-23-1_$T_OWRT.ipk" \
                ./debian-binary ./data.tar.gz ./control.tar.gz)
            mv "$w/out/${name}_2021-08-23-1_$T_OWRT.ipk" "$d/${name}${4:+-$4}_2021-08-23-1_$T_OWRT.ipk"
            echo "$d/${name}${4:+-$4}_2021-08-23-1_$T_OWRT.ipk" ;;
        apk)
            "$APK" mkpkg --sign-key "$OUT/apk-key/test.rsa" --info "name:$name" --info "version:2021.08.23-r1" \
                --info "arch:$T_OWRT" --info "description:stand-in" --info "depends:libc zlib" \
                --files "$w/root" --output "$d/$name${4:+-$4}-2021.08.23-r1.apk"
            echo "$d/$name${4:+-$4}-2021.08.23-r1.apk" ;;
    esac
    rm -rf "$w"
}
