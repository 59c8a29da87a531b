# shellcheck shell=bash
# Shared helpers for scripts/testenv/up and scripts/testenv/down.
#
# Sourced, never executed. Every service lives in scripts/testenv/services/NAME.sh
# and defines two functions:
#
#   NAME_up     start the service (idempotent: reuse or restart what a previous
#               `up` started), write its region fragment with testenv_region_put,
#               and set TESTENV_SUMMARY to a short description for the summary line.
#   NAME_down   stop what NAME_up started, by pid, and remove its fragment with
#               testenv_region_drop. Must succeed when nothing is up.
#
# To add a service: write services/NAME.sh and add NAME to TESTENV_SERVICES below
# (the order is the start order; `down` stops in reverse order).
#
# Conventions: state lives in $TESTENV_DIR (default .testenv/ at the repo root);
# every wait loop is bounded; processes are stopped by the pid they recorded, never
# by name; only loopback (127.x) or the testenv's own network namespaces are targeted.

TESTENV_SERVICES=(hosts mariadb haproxy keystone rabbitmq keepalived releases)

TESTENV_SCRIPTS="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)"
TESTENV_ROOT="$(cd "$TESTENV_SCRIPTS/../.." && pwd -P)"
TESTENV_DIR="${TESTENV_DIR:-$TESTENV_ROOT/.testenv}"
TESTENV_REGION_D="$TESTENV_DIR/region.d"
TESTENV_REGION="$TESTENV_DIR/region.yaml"

testenv_log() { printf 'testenv: %s\n' "$*" >&2; }
testenv_die() { printf 'testenv: error: %s\n' "$*" >&2; exit 1; }
testenv_usage_error() { printf 'testenv: %s\n' "$*" >&2; exit 2; }

# Seconds (with fractions) since the epoch, for the elapsed-time summary.
testenv_now() { printf '%s' "${EPOCHREALTIME:-$(date +%s.%N)}"; }
testenv_elapsed() { # START -> "1.23s"
    awk -v s="$1" -v e="$(testenv_now)" 'BEGIN { printf "%.2fs", e - s }'
}

testenv_is_service() {
    local s
    for s in "${TESTENV_SERVICES[@]}"; do [[ $s == "$1" ]] && return 0; done
    return 1
}

testenv_load_service() {
    local f="$TESTENV_SCRIPTS/services/$1.sh"
    [[ -f $f ]] || testenv_die "service '$1' is listed but $f is missing"
    # shellcheck source=/dev/null
    source "$f"
}

# Create the state directory (refusing paths that config files could not quote)
# and take the testenv lock so that concurrent up/down calls serialize.
testenv_init() {
    case "$TESTENV_DIR" in
        *[[:space:]\"\'\\]*) testenv_die "TESTENV_DIR must not contain spaces or quotes: $TESTENV_DIR" ;;
        /*) ;;
        *) testenv_die "TESTENV_DIR must be an absolute path: $TESTENV_DIR" ;;
    esac
    mkdir -p "$TESTENV_DIR" "$TESTENV_REGION_D"
    exec 9>"$TESTENV_DIR/.lock"
    flock -w 600 9 || testenv_die "another scripts/testenv/up or down holds $TESTENV_DIR/.lock (waited 600 s)"
}

# Install Debian packages if a command is missing: testenv_need_pkg CMD PKG...
testenv_need_pkg() {
    local cmd=$1; shift
    command -v "$cmd" >/dev/null 2>&1 && return 0
    [[ -x /usr/sbin/$cmd ]] && return 0
    testenv_log "installing $* (for $cmd)"
    export DEBIAN_FRONTEND=noninteractive
    # Another install (scripts/setup, a second testenv) may hold the dpkg lock: wait for it.
    apt-get -o DPkg::Lock::Timeout=300 update -qq >&2 || testenv_die "apt-get update failed"
    apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends "$@" >&2 ||
        testenv_die "apt-get install $* failed"
}

# Poll a command until it succeeds: testenv_wait_for SECONDS INTERVAL CMD...
# Bounded: at most SECONDS/INTERVAL+1 attempts. Returns 1 on timeout.
testenv_wait_for() {
    local secs=$1 step=$2; shift 2
    local tries i
    tries=$(awk -v s="$secs" -v t="$step" 'BEGIN { n = int(s / t); print (n < 1 ? 1 : n) }')
    for ((i = 0; i <= tries; i++)); do
        "$@" && return 0
        ((i < tries)) && sleep "$step"
    done
    return 1
}

# Is PID alive and is its command line mentioning MARKER (e.g. our config path)?
# Guards against killing a recycled pid that now belongs to someone else.
testenv_pid_is() {
    local pid=$1 marker=$2 cmd
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    testenv_alive "$pid" || return 1
    cmd=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || return 1
    [[ $cmd == *"$marker"* ]]
}

# All descendants of the given pids, from one `ps` snapshot of pid/ppid pairs.
testenv_descendants() {
    (($#)) || return 0
    ps -e -o pid= -o ppid= | awk -v roots="$*" '
        { kids[$2] = kids[$2] " " $1 }
        END {
            n = split(roots, q, " ")
            for (i = 1; i <= n; i++) {
                m = split(kids[q[i]], c, " ")
                for (j = 1; j <= m; j++) { print c[j]; q[++n] = c[j] }
            }
        }'
}

# Is PID running? A zombie is not: orphans are reparented to PID 1, and on these
# machines PID 1 reaps only about once a second, so `kill -0` alone would wait
# for zombies.
testenv_alive() {
    local stat
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    stat=${stat##*) }        # field 3 (state) follows the ")" closing the command name
    [[ ${stat%% *} != Z ]]
}

# Stop pids: SIGTERM, wait up to 5 s, then SIGKILL whatever is left.
testenv_kill_pids() {
    (($#)) || return 0
    kill -TERM "$@" 2>/dev/null || true
    local i p alive
    for ((i = 0; i < 100; i++)); do
        alive=()
        for p in "$@"; do testenv_alive "$p" && alive+=("$p"); done
        ((${#alive[@]})) || return 0
        sleep 0.05
    done
    testenv_log "pids still alive after 5 s, sending SIGKILL: ${alive[*]}"
    kill -KILL "${alive[@]}" 2>/dev/null || true
}

# ---- region file -------------------------------------------------------------
# .testenv/region.yaml = a header with `region: lab` + every .testenv/region.d/*.yaml
# in name order. Each fragment owns distinct top-level keys (10-hosts.yaml owns
# `inventory` and `ssh`, 20-mariadb.yaml `databases`, 30-haproxy.yaml `vips`);
# testenv_region_assemble refuses duplicates.

# testenv_region_put NAME   (content on stdin), e.g. testenv_region_put 10-hosts
testenv_region_put() {
    mkdir -p "$TESTENV_REGION_D"
    local tmp="$TESTENV_REGION_D/.$1.yaml.tmp"
    cat >"$tmp"
    mv -f "$tmp" "$TESTENV_REGION_D/$1.yaml"
}

testenv_region_drop() { rm -f "$TESTENV_REGION_D/$1.yaml"; }

testenv_region_assemble() {
    local frags=() f
    if [[ -d $TESTENV_REGION_D ]]; then
        while IFS= read -r f; do frags+=("$f"); done < <(
            LC_ALL=C find "$TESTENV_REGION_D" -maxdepth 1 -type f -name '[!.]*.yaml' | LC_ALL=C sort)
    fi
    if ((${#frags[@]} == 0)); then
        rm -f "$TESTENV_REGION"
        return 0
    fi
    local dup
    dup=$(for f in "${frags[@]}"; do
              { grep -oE '^[A-Za-z_][A-Za-z0-9_-]*:' "$f" || true; } | sed "s|\$| $(basename "$f")|"
          done | awk '$1 == "region:" { print "region: (reserved, written by lib.sh) in " $2; next }
                      { if ($1 in seen) print $1 " in " seen[$1] " and " $2; else seen[$1] = $2 }')
    [[ -z $dup ]] || testenv_die "region fragments clash on top-level keys: $dup"
    local tmp="$TESTENV_DIR/.region.yaml.tmp"
    {
        printf '# Generated by scripts/testenv/up from .testenv/region.d/*.yaml. Do not edit.\n'
        printf 'region: lab\n'
        for f in "${frags[@]}"; do
            printf '\n# --- %s\n' "$(basename "$f")"
            cat "$f"
        done
    } >"$tmp"
    mv -f "$tmp" "$TESTENV_REGION"
}

# ---- shared by the services that run sshd hosts in namespaces (hosts, keepalived) ----

# An SSH key pair, made once and kept: TYPE FILE [BITS].
testenv_keygen() {
    local type=$1 file=$2 bits=${3:-}
    [[ -s $file && -s $file.pub ]] && return 0
    rm -f "$file" "$file.pub"
    ssh-keygen -q -t "$type" ${bits:+-b "$bits"} -N '' -C "ferry-testenv-$type" -f "$file" </dev/null >/dev/null ||
        testenv_die "ssh-keygen -t $type failed"
}

# `ip` that says what failed (callers run under `||`, where set -e is off).
testenv_ip() { ip "$@" || { testenv_log "failed: ip $*"; return 1; }; }

# Makes network namespace NS with one interface, eth0 at ADDR/24, whose peer VETH is
# on BRIDGE; records both in LIST first (for testenv_netns_teardown). Refuses a
# namespace or link that exists but is not in the list: it is not this testenv's.
testenv_netns_add() { # NS VETH BRIDGE ADDR LIST
    local ns=$1 veth=$2 bridge=$3 addr=$4 list=$5
    if [[ -e /run/netns/$ns ]] || ip link show "$veth" >/dev/null 2>&1; then
        testenv_log "network namespace $ns or link $veth exists but was not made by this testenv; remove it by hand"
        return 1
    fi
    printf 'netns %s\nlink %s\n' "$ns" "$veth" >>"$list"
    testenv_ip netns add "$ns" || return 1
    testenv_ip link add "$veth" type veth peer name eth0 netns "$ns" || return 1
    testenv_ip link set "$veth" master "$bridge" up || return 1
    testenv_ip -n "$ns" addr add "$addr/24" dev eth0 || return 1
    testenv_ip -n "$ns" link set eth0 up || return 1
    testenv_ip -n "$ns" link set lo up || return 1
}

# A lab bridge BRIDGE that exists when a service starts was made by another lab: one
# still running (refuse: two labs share ports and addresses) or one that ended
# without `down` (its directory deleted, its processes killed with the session). The
# second is an orphan: every namespace attached to the bridge is empty of processes.
# An orphan's links, namespaces and bridge are removed, and the start goes on.
# Returns 1 (with the reason logged) when the bridge is in use.
testenv_reclaim_orphan_bridge() { # BRIDGE
    local bridge=$1 link ns pids nss=() links=()
    ip link show "$bridge" >/dev/null 2>&1 || return 0
    while read -r link ns; do
        links+=("$link")
        [[ -n $ns ]] && nss+=("$ns")
    done < <(ip -o link show master "$bridge" 2>/dev/null |
        sed -n 's/^[0-9]*: \([^@:]*\)[@:].*/\1 &/p' |
        awk '{ ns=""; for (i = 2; i < NF; i++) if ($i == "link-netns") ns = $(i + 1); print $1, ns }')
    for ns in "${nss[@]}"; do
        pids=$(ip netns pids "$ns" 2>/dev/null || true)
        if [[ -n $pids ]]; then
            testenv_log "bridge $bridge belongs to a lab that is still running (processes in namespace $ns: $(echo $pids)); stop that lab with its own scripts/testenv/down first"
            return 1
        fi
    done
    testenv_log "bridge $bridge was left by a lab that ended without \`down\` (no process in its ${#nss[@]} namespaces); removing it"
    for link in "${links[@]}"; do ip link del "$link" 2>/dev/null || true; done
    for ns in "${nss[@]}"; do ip netns del "$ns" 2>/dev/null || true; done
    testenv_ip link del "$bridge"
}

# Removes what a service recorded in LIST ("netns NAME", "link NAME", "bridge NAME"
# lines, written before each thing was made), newest first, after ending every
# process still running inside its namespaces.
testenv_netns_teardown() {
    local list=$1 kind name pids
    [[ -f $list ]] || return 0
    while read -r kind name; do
        [[ $kind == netns && -e /run/netns/$name ]] || continue
        pids=$(ip netns pids "$name" 2>/dev/null || true)
        # shellcheck disable=SC2086
        [[ -z $pids ]] || testenv_kill_pids $pids
    done <"$list"
    while read -r kind name; do
        case $kind in
            netns) [[ -e /run/netns/$name ]] && ip netns del "$name" ;;
            link | bridge) ip link show "$name" >/dev/null 2>&1 && ip link del "$name" ;;
        esac
    done < <(tac "$list")
    rm -f "$list"
}
