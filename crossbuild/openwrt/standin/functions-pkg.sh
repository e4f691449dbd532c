# Stand-in for the package half of OpenWrt's /lib/functions.sh (base-files),
# appended to the UCI half (openwrt/test/functions.sh) to make the emulated
# root's /lib/functions.sh: what the .ipk's postinst and prerm call.
# Written to the behaviour of base-files' functions.sh: default_postinst adds
# the control file's Require-User accounts and enables the package's init
# scripts (offline root: rc.common ... enable; live system: enable and start);
# default_prerm stops and disables them. Runs under BusyBox ash. Both package
# databases, as 25.12's base-files: opkg's /usr/lib/opkg/info/ and apk's
# /lib/apk/packages/ (the scripts export pkgname there).

group_exists() {
	grep -qs "^${1}:" "${IPKG_INSTROOT}/etc/group"
}

user_exists() {
	grep -qs "^${1}:" "${IPKG_INSTROOT}/etc/passwd"
}

add_group_and_user() {
	local rusers entry name uid group gid
	[ -n "$pkgname" ] || local pkgname=$1
	rusers=$(sed -ne 's/^Require-User: *//p' "${IPKG_INSTROOT}/usr/lib/opkg/info/${pkgname}.control" 2>/dev/null)
	if [ -f "${IPKG_INSTROOT}/lib/apk/packages/${pkgname}.rusers" ]; then
		rusers=$(cat "${IPKG_INSTROOT}/lib/apk/packages/${pkgname}.rusers")
	fi
	[ -n "$rusers" ] || return 0
	for entry in $rusers; do
		# user[=uid][:group[=gid]]
		name=${entry%%:*}
		group=
		case "$entry" in *:*) group=${entry#*:} ;; esac
		uid=
		case "$name" in *=*) uid=${name#*=}; name=${name%%=*} ;; esac
		gid=
		case "$group" in *=*) gid=${group#*=}; group=${group%%=*} ;; esac
		[ -n "$group" ] || { group=$name; gid=$uid; }
		if ! group_exists "$group"; then
			echo "${group}:x:${gid}:" >> "${IPKG_INSTROOT}/etc/group"
		fi
		if ! user_exists "$name"; then
			[ -n "$gid" ] || gid=$(sed -ne "s/^${group}:x:\([0-9]*\):.*/\1/p" "${IPKG_INSTROOT}/etc/group")
			echo "${name}:*:${uid}:${gid}:${name}:/var/run/${name}:/bin/false" >> "${IPKG_INSTROOT}/etc/passwd"
		fi
	done
}

# The package's file list and account list: opkg's info files on 24.10,
# /lib/apk/packages/ on 25.12 (apk's post-install exports pkgname and root).
_pkg_filelist() {
	local root="${IPKG_INSTROOT}"
	if [ -f "$root/lib/apk/packages/${pkgname}.list" ]; then
		echo "$root/lib/apk/packages/${pkgname}.list"
	else
		echo "$root/usr/lib/opkg/info/${pkgname}.list"
	fi
}

# As base-files: enable (not on an upgrade) and start every init script of
# the package on a live system; run the package's postinst-pkg first (opkg:
# an info file; apk: its lines follow in post-install itself).
default_postinst() {
	local root="${IPKG_INSTROOT}" filelist i ret=0
	[ -n "$pkgname" ] || local pkgname="$(basename "${1%.*}")"
	filelist=$(_pkg_filelist)
	[ -e "$root/usr/lib/opkg/info/${pkgname}.list" ] && add_group_and_user "$pkgname"
	if [ -f "$root/usr/lib/opkg/info/${pkgname}.postinst-pkg" ]; then
		( . "$root/usr/lib/opkg/info/${pkgname}.postinst-pkg" )
		ret=$?
	fi
	for i in $(grep -s "^/etc/init.d/" "$filelist"); do
		if [ -n "$root" ]; then
			/bin/sh "$root/etc/rc.common" "$root$i" enable
		else
			[ "$PKG_UPGRADE" = "1" ] || "$i" enable
			"$i" start
		fi
	done
	return $ret
}

# As base-files: stop every init script of the package, and disable it
# unless this is an upgrade (opkg runs the old package's prerm then).
default_prerm() {
	local root="${IPKG_INSTROOT}" filelist i
	[ -n "$pkgname" ] || local pkgname="$(basename "${1%.*}")"
	filelist=$(_pkg_filelist)
	for i in $(grep -s "^/etc/init.d/" "$filelist"); do
		if [ -n "$root" ]; then
			/bin/sh "$root/etc/rc.common" "$root$i" disable
		else
			[ "$PKG_UPGRADE" = "1" ] || "$i" disable
			"$i" stop
		fi
	done
	return 0
}
