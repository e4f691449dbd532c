# Stand-in for the package half of OpenWrt's /lib/functions.sh (base-files),
# appended to the UCI half (openwrt/test/functions.sh) to make the emulated
# root's /lib/functions.sh: what the .ipk's postinst and prerm call.
# Written to the behaviour of base-files' functions.sh: default_postinst adds
# the control file's Require-User accounts and enables the package's init
# scripts (offline root: rc.common ... enable; live system: enable and start);
# default_prerm stops and disables them. Runs under BusyBox ash.

group_exists() {
	grep -qs "^${1}:" "${IPKG_INSTROOT}/etc/group"
}

user_exists() {
	grep -qs "^${1}:" "${IPKG_INSTROOT}/etc/passwd"
}

add_group_and_user() {
	local pkgname=$1 rusers entry name uid group gid
	rusers=$(sed -ne 's/^Require-User: *//p' "${IPKG_INSTROOT}/usr/lib/opkg/info/${pkgname}.control" 2>/dev/null)
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

default_postinst() {
	local root="${IPKG_INSTROOT}" pkgname filelist i
	pkgname=$(basename "${1%.*}")
	filelist="/usr/lib/opkg/info/${pkgname}.list"
	add_group_and_user "$pkgname"
	for i in $(grep -s "^/etc/init.d/" "$root$filelist"); do
		if [ -n "$root" ]; then
			/bin/sh "$root/etc/rc.common" "$root$i" enable
		else
			[ "$PKG_UPGRADE" = "1" ] || "$i" enable
			"$i" start
		fi
	done
	return 0
}

default_prerm() {
	local root="${IPKG_INSTROOT}" pkgname i
	pkgname=$(basename "${1%.*}")
	for i in $(grep -s "^/etc/init.d/" "$root/usr/lib/opkg/info/${pkgname}.list"); do
		if [ -n "$root" ]; then
			/bin/sh "$root/etc/rc.common" "$root$i" disable
		else
			"$i" stop
			"$i" disable
		fi
	done
	return 0
}
