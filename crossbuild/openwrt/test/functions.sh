# Test stand-in for OpenWrt's /lib/functions.sh: just the UCI part that
# opentracker-uciconf uses, with the same variable layout (CONFIG_<section>_<option>,
# lists as _ITEM<n> / _LENGTH). A UCI file is valid shell once `config`,
# `option` and `list` are functions, which is how the real config_load
# evaluates `uci export` too. UCI_CONFIG_DIR names the folder of config files.

CONFIG_SECTION=
config() {
	CONFIG_SECTION=${2:-cfg$$}
	eval "CONFIG_${CONFIG_SECTION}_TYPE=\$1"
}
option() {
	eval "CONFIG_${CONFIG_SECTION}_$1=\$2"
}
list() {
	local len
	eval "len=\${CONFIG_${CONFIG_SECTION}_$1_LENGTH:-0}"
	len=$((len + 1))
	eval "CONFIG_${CONFIG_SECTION}_$1_ITEM$len=\$2"
	eval "CONFIG_${CONFIG_SECTION}_$1_LENGTH=$len"
}
config_load() {
	. "${UCI_CONFIG_DIR:-/etc/config}/$1"
}
# No local variables here: a caller's variable of the same name (v) would
# be shadowed by them, which OpenWrt's own config_get avoids the same way.
config_get() {
	eval "$1=\${CONFIG_$2_$3:-\${4-}}"
}
# As OpenWrt's: a word that is neither true nor false gives the default.
config_get_bool() {
	config_get "$1" "$2" "$3" "${4-}"
	eval "case \"\$$1\" in 1|on|true|yes|enabled) $1=1 ;; 0|off|false|no|disabled) $1=0 ;; *) $1=\${4-} ;; esac"
}
config_list_foreach() {
	local section=$1 opt=$2 fn=$3 len i item
	shift 3
	eval "len=\${CONFIG_${section}_${opt}_LENGTH:-0}"
	i=1
	while [ $i -le "$len" ]; do
		eval "item=\$CONFIG_${section}_${opt}_ITEM$i"
		"$fn" "$item" "$@"
		i=$((i + 1))
	done
}
