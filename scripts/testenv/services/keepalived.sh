# shellcheck shell=bash
# Service "keepalived": two balancer hosts lb1 and lb2 sharing a VRRP virtual IP,
# for tests of the keepalived VIP driver.
#
# Each balancer is a network namespace (ferry-lb1, ferry-lb2) with one veth (eth0
# inside, ferry-ka-lbN outside) in the bridge ferry-kabr0 (198.18.1.254/24, no
# default route: nothing leaves). lb1 is 198.18.1.1, lb2 198.18.1.2. In each
# namespace run:
#   - an OpenSSH sshd on port 22 of its address and of the VIP (hostname lb1/lb2,
#     root login with .testenv/ssh/id_ed25519 — the hosts service's client key,
#     made here if missing; shared host keys in .testenv/keepalived/ssh; known_hosts
#     .testenv/keepalived/known_hosts lists 198.18.1.1, .2 and the VIP .100);
#   - keepalived (Debian keepalived 2.2, VRRP only, in the foreground):
#     vrrp_instance VI_GLANCE on eth0, virtual_router_id 51, advert_int 1,
#     unicast (unicast_src_ip / unicast_peer: no multicast), VIP 198.18.1.100/24;
#     lb1 `priority 150` (state MASTER), lb2 `priority 100` (BACKUP), preemption on.
#
# The VIP follows the highest priority: edit the `priority N` line (the first line
# starting with "priority" in .testenv/keepalived/lbN/keepalived.conf) and reload with
#   kill -HUP "$(cat .testenv/keepalived/lbN/keepalived.pid)"
# The other balancer takes over after its master-down timer (~3-4 s at advert_int 1).
# Check where it lives with `ip -n ferry-lb1 -4 addr show` (or over SSH).
# A reused keepalived is reset to the start state (configs as generated, VIP on
# lb1), so every `up` hands tests the same picture.
#
# The namespace, bridge and veth names are fixed: one keepalived testenv per machine.
# State: .testenv/keepalived/ (env, known_hosts, ssh_config, ssh/ host keys and
# authorized_keys, lbN/{keepalived.conf,keepalived.pid,vrrp.pid,keepalived.log,
# sshd.conf,sshd.pid,sshd.log,*.spawn}, netns.list, state).
# .testenv/keepalived/env holds shell-style KEY=VALUE lines for tests (LB1_ADDR,
# LB2_ADDR, VIP, LB1_CONF, LB2_CONF, LB1_PID, LB2_PID, KNOWN_HOSTS, IDENTITY,
# SSH_PORT, ...).
# Region fragment: .testenv/region.d/60-keepalived.yaml, comments only (it owns no
# key: `inventory`, `ssh` and `vips` belong to other fragments); it shows the region
# snippet a test writes for the keepalived driver.

KEEPALIVED_DIR="$TESTENV_DIR/keepalived"
KEEPALIVED_FRAGMENT=60-keepalived
KEEPALIVED_BRIDGE=ferry-kabr0
KEEPALIVED_BRIDGE_ADDR=198.18.1.254
KEEPALIVED_VIP=198.18.1.100
KEEPALIVED_PREFIX=24
KEEPALIVED_INSTANCE=VI_GLANCE
KEEPALIVED_VRID=51
KEEPALIVED_UNITS=(lb1 lb2)
KEEPALIVED_ADDRS=(198.18.1.1 198.18.1.2)
KEEPALIVED_PRIOS=(150 100)
KEEPALIVED_STATES=(MASTER BACKUP)

# ---- paths and tools -------------------------------------------------------------

keepalived__paths() { # no settings needed: `down` must work whatever the environment says
    K_SSH_DIR="$TESTENV_DIR/ssh" # the hosts service's client keys
    K_IDENTITY="$K_SSH_DIR/id_ed25519"
    K_HOSTKEYS="$KEEPALIVED_DIR/ssh"
    K_KNOWN_HOSTS="$KEEPALIVED_DIR/known_hosts"
    K_SSH_CONFIG="$KEEPALIVED_DIR/ssh_config"
    K_ENV="$KEEPALIVED_DIR/env"
    K_LIST="$KEEPALIVED_DIR/netns.list"
}

# Per balancer (index K): directory, namespace, host-side veth.
keepalived__unit() {
    local u=${KEEPALIVED_UNITS[$1]}
    K_U=$u K_ADDR=${KEEPALIVED_ADDRS[$1]} K_UDIR="$KEEPALIVED_DIR/$u"
    K_NS="ferry-$u" K_VETH="ferry-ka-$u"
    K_CONF="$K_UDIR/keepalived.conf" K_PID="$K_UDIR/keepalived.pid" K_VRRP_PID="$K_UDIR/vrrp.pid"
    K_SSHD_CONF="$K_UDIR/sshd.conf" K_SSHD_PID="$K_UDIR/sshd.pid"
}

keepalived__tools() {
    testenv_need_pkg keepalived keepalived
    testenv_need_pkg sshd openssh-server openssh-client
    testenv_need_pkg ssh-keygen openssh-client
    testenv_need_pkg ip iproute2
    testenv_need_pkg unshare util-linux
    KEEPALIVED_BIN=$(command -v keepalived || echo /usr/sbin/keepalived)
    [[ $KEEPALIVED_BIN == /* && -x $KEEPALIVED_BIN ]] || testenv_die "no usable keepalived (got '$KEEPALIVED_BIN')"
    # sshd re-executes itself per connection and insists on an absolute path.
    K_SSHD=$(command -v sshd || echo /usr/sbin/sshd)
    [[ $K_SSHD == /* && -x $K_SSHD ]] || testenv_die "no usable sshd (got '$K_SSHD')"
    mkdir -p /run/sshd # privilege-separation directory
    chmod 755 /run/sshd
}

# ---- keys and client files -------------------------------------------------------


keepalived__keys() {
    mkdir -p "$K_SSH_DIR" "$K_HOSTKEYS"
    chmod 700 "$K_SSH_DIR" "$K_HOSTKEYS"
    # The client key the hosts service uses (same file, same way), so one identity
    # reaches every testenv host. Both balancers share the host keys, so the VIP's
    # known_hosts entry holds wherever the address lives.
    testenv_keygen ed25519 "$K_IDENTITY"
    testenv_keygen ed25519 "$K_HOSTKEYS/ssh_host_ed25519_key"
    testenv_keygen ecdsa "$K_HOSTKEYS/ssh_host_ecdsa_key" 256
    local f
    for f in "$K_SSH_DIR"/id_ed25519.pub "$K_SSH_DIR"/id_ecdsa.pub "$K_SSH_DIR"/id_rsa.pub; do
        [[ -s $f ]] && cat "$f"
    done >"$K_HOSTKEYS/.authorized_keys.tmp"
    chmod 600 "$K_HOSTKEYS/.authorized_keys.tmp"
    mv -f "$K_HOSTKEYS/.authorized_keys.tmp" "$K_HOSTKEYS/authorized_keys"
}

# known_hosts (port 22, so plain addresses) and an ssh_config:
#   ssh -F .testenv/keepalived/ssh_config lb1 hostname      (also lb2, vip)
keepalived__client_files() {
    local ed_t ed ec_t ec a kh=() k
    read -r ed_t ed _ <"$K_HOSTKEYS/ssh_host_ed25519_key.pub"
    read -r ec_t ec _ <"$K_HOSTKEYS/ssh_host_ecdsa_key.pub"
    for a in "${KEEPALIVED_ADDRS[@]}" "$KEEPALIVED_VIP"; do kh+=("$a $ed_t $ed" "$a $ec_t $ec"); done
    printf '%s\n' "${kh[@]}" >"$K_KNOWN_HOSTS.tmp" && mv -f "$K_KNOWN_HOSTS.tmp" "$K_KNOWN_HOSTS"
    {
        printf '# Generated by scripts/testenv/up. Usage: ssh -F %s lb1 hostname\n' "$K_SSH_CONFIG"
        printf 'Host *\n  User root\n  Port 22\n  IdentityFile %s\n  IdentitiesOnly yes\n' "$K_IDENTITY"
        printf '  UserKnownHostsFile %s\n  GlobalKnownHostsFile /dev/null\n' "$K_KNOWN_HOSTS"
        printf '  StrictHostKeyChecking yes\n  BatchMode yes\n  ConnectTimeout 10\n  LogLevel ERROR\n'
        for k in "${!KEEPALIVED_UNITS[@]}"; do
            printf 'Host %s\n  HostName %s\n' "${KEEPALIVED_UNITS[k]}" "${KEEPALIVED_ADDRS[k]}"
        done
        printf 'Host vip\n  HostName %s\n' "$KEEPALIVED_VIP"
    } >"$K_SSH_CONFIG.tmp" && mv -f "$K_SSH_CONFIG.tmp" "$K_SSH_CONFIG"
}

# Shell-style settings for tests: `. .testenv/keepalived/env` (no value needs quoting:
# lib.sh refuses a TESTENV_DIR with spaces or quotes).
keepalived__env_file() {
    local k U
    {
        printf '# Generated by scripts/testenv/up (services/keepalived.sh). Shell-style KEY=VALUE.\n'
        printf 'VIP=%s\nVIP_CIDR=%s/%s\nINSTANCE=%s\nVRID=%s\n' "$KEEPALIVED_VIP" "$KEEPALIVED_VIP" \
            "$KEEPALIVED_PREFIX" "$KEEPALIVED_INSTANCE" "$KEEPALIVED_VRID"
        for k in "${!KEEPALIVED_UNITS[@]}"; do
            keepalived__unit "$k"
            U=${K_U^^}
            printf '%s_ADDR=%s\n%s_CONF=%s\n%s_PID=%s\n%s_VRRP_PID=%s\n%s_PRIORITY=%s\n%s_NETNS=%s\n' \
                "$U" "$K_ADDR" "$U" "$K_CONF" "$U" "$K_PID" "$U" "$K_VRRP_PID" \
                "$U" "${KEEPALIVED_PRIOS[k]}" "$U" "$K_NS"
        done
        printf 'BALANCERS="%s"\n' "${KEEPALIVED_UNITS[*]}"
        printf 'BRIDGE=%s\nBRIDGE_ADDR=%s\n' "$KEEPALIVED_BRIDGE" "$KEEPALIVED_BRIDGE_ADDR"
        printf 'SSH_USER=root\nSSH_PORT=22\nIDENTITY=%s\nKNOWN_HOSTS=%s\nSSH_CONFIG=%s\n' \
            "$K_IDENTITY" "$K_KNOWN_HOSTS" "$K_SSH_CONFIG"
    } >"$K_ENV.tmp"
    mv -f "$K_ENV.tmp" "$K_ENV"
}

keepalived__region_fragment() {
    local k bal=()
    for k in "${!KEEPALIVED_UNITS[@]}"; do
        keepalived__unit "$k"
        bal+=("$K_U: { config: $K_CONF, pidfile: $K_PID }")
    done
    {
        printf '# keepalived: VRRP VIP %s (instance %s, virtual_router_id %s) on balancers\n' \
            "$KEEPALIVED_VIP" "$KEEPALIVED_INSTANCE" "$KEEPALIVED_VRID"
        printf '# lb1 %s (priority %s, MASTER) and lb2 %s (priority %s, BACKUP), each in its own\n' \
            "${KEEPALIVED_ADDRS[0]}" "${KEEPALIVED_PRIOS[0]}" "${KEEPALIVED_ADDRS[1]}" "${KEEPALIVED_PRIOS[1]}"
        printf '# network namespace (ferry-lb1, ferry-lb2; bridge %s %s) with its own sshd\n' \
            "$KEEPALIVED_BRIDGE" "$KEEPALIVED_BRIDGE_ADDR"
        printf '# (port 22, user root; the VIP answers SSH too). scripts/testenv/services/keepalived.sh.\n'
        printf '# Comments only: inventory, ssh and vips belong to other fragments. Settings for tests\n'
        printf '# as KEY=VALUE lines: %s\n' "$K_ENV"
        printf '# A region for the keepalived driver (it has no "instance" key: each config has one\n'
        printf '# vrrp_instance, and the driver edits its first "priority N" line):\n'
        printf '#\n'
        printf '# inventory:\n#   hosts:\n'
        for k in "${!KEEPALIVED_UNITS[@]}"; do
            printf '#     %s: { address: %s }\n' "${KEEPALIVED_UNITS[k]}" "${KEEPALIVED_ADDRS[k]}"
        done
        printf '# ssh: { user: root, port: 22, identity: %s,\n' "$K_IDENTITY"
        printf '#        known_hosts: %s }\n' "$K_KNOWN_HOSTS"
        printf '# vips:\n'
        printf '#   glance_ka: { driver: keepalived, address: %s, settle: 20s,\n' "$KEEPALIVED_VIP"
        printf '#                balancers: { %s,\n' "${bal[0]}"
        printf '#                             %s } }\n' "${bal[1]}"
    } | testenv_region_put "$KEEPALIVED_FRAGMENT"
}

# ---- configs -----------------------------------------------------------------------

keepalived__conf() { # INDEX -> stdout
    local k=$1 peer
    keepalived__unit "$k"
    peer=${KEEPALIVED_ADDRS[1 - k]}
    cat <<EOF
# Generated by scripts/testenv/up (services/keepalived.sh): balancer $K_U in netns $K_NS.
# The VIP goes to the highest priority. Change the priority line below, then reload:
#   kill -HUP \$(cat $K_PID)
global_defs {
    router_id $K_U
}

vrrp_instance $KEEPALIVED_INSTANCE {
    state ${KEEPALIVED_STATES[k]}
    interface eth0
    virtual_router_id $KEEPALIVED_VRID
    priority ${KEEPALIVED_PRIOS[k]}
    advert_int 1
    unicast_src_ip $K_ADDR
    unicast_peer {
        $peer
    }
    virtual_ipaddress {
        $KEEPALIVED_VIP/$KEEPALIVED_PREFIX dev eth0
    }
}
EOF
}

keepalived__sshd_conf() { # INDEX -> stdout
    keepalived__unit "$1"
    cat <<EOF
# Generated by scripts/testenv/up (services/keepalived.sh): sshd of $K_U in netns $K_NS.
# The VIP address is bound while absent thanks to net.ipv4.ip_nonlocal_bind=1 in the namespace.
ListenAddress $K_ADDR:22
ListenAddress $KEEPALIVED_VIP:22
PidFile $K_SSHD_PID
HostKey $K_HOSTKEYS/ssh_host_ed25519_key
HostKey $K_HOSTKEYS/ssh_host_ecdsa_key
AuthorizedKeysFile $K_HOSTKEYS/authorized_keys
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
MaxStartups 100:30:200
# root's ~/.bashrc runs pyenv init (~100 ms per command) unless SHLVL is set.
SetEnv SHLVL=1
LogLevel ERROR
UseDNS no
PrintMotd no
PrintLastLog no
X11Forwarding no
Subsystem sftp internal-sftp
EOF
    local v maj min
    v=$(ssh -V 2>&1 | sed -nE 's/^OpenSSH_([0-9]+)\.([0-9]+).*/\1 \2/p')
    if [[ -n $v ]] && read -r maj min <<<"$v" && ((maj > 9 || (maj == 9 && min >= 8))); then
        echo "PerSourcePenalties no"
    fi
}

# Write FILE from stdin only if the content differs; returns 0 if it changed.
keepalived__write_if_changed() { # FILE
    local tmp="$1.tmp"
    cat >"$tmp"
    if [[ -f $1 ]] && cmp -s "$tmp" "$1"; then
        rm -f "$tmp"
        return 1
    fi
    mv -f "$tmp" "$1"
}

# ---- network namespaces ------------------------------------------------------------
# As in hosts.sh: each name is recorded in keepalived/netns.list *before* it is made,
# and `down` removes only what is recorded there.


keepalived__netns_setup() {
    local k
    testenv_reclaim_orphan_bridge "$KEEPALIVED_BRIDGE" || return 1
    echo "bridge $KEEPALIVED_BRIDGE" >>"$K_LIST"
    testenv_ip link add "$KEEPALIVED_BRIDGE" type bridge || return 1
    testenv_ip addr add "$KEEPALIVED_BRIDGE_ADDR/24" dev "$KEEPALIVED_BRIDGE" || return 1
    testenv_ip link set "$KEEPALIVED_BRIDGE" up || return 1
    for k in "${!KEEPALIVED_UNITS[@]}"; do
        keepalived__unit "$k"
        testenv_netns_add "$K_NS" "$K_VETH" "$KEEPALIVED_BRIDGE" "$K_ADDR" "$K_LIST" || return 1
        # sshd listens on the VIP too, also while another balancer holds it.
        ip netns exec "$K_NS" sh -c 'echo 1 >/proc/sys/net/ipv4/ip_nonlocal_bind' ||
            { testenv_log "cannot set net.ipv4.ip_nonlocal_bind in $K_NS"; return 1; }
    done
}


# ---- processes -------------------------------------------------------------------

keepalived__spawn() { # INDEX
    keepalived__unit "$1"
    local klog="$K_UDIR/keepalived.log" slog="$K_UDIR/sshd.log"
    rm -f "$K_PID" "$K_VRRP_PID" "$K_SSHD_PID"
    : >"$klog"
    : >"$slog"
    # setsid -w: own session; if it has to fork it waits, so the recorded pid lives as
    # long as the daemon. ip netns exec and unshare exec, so the pid is the daemon's.
    # 9>&-: fd 9 holds the testenv lock (lib.sh); daemons must not keep it.
    # shellcheck disable=SC2016,SC2094  # sh -c gets positional args; sshd -E and >> share the log
    setsid -w ip netns exec "$K_NS" unshare --uts \
        sh -c 'hostname "$1" && exec "$2" -D -f "$3" -E "$4"' sh "$K_U" "$K_SSHD" "$K_SSHD_CONF" "$slog" \
        </dev/null >>"$slog" 2>&1 9>&- &
    echo $! >"$K_UDIR/sshd.spawn"
    # -n: no fork (the parent stays in the foreground); -P: VRRP only (no checker
    # process, no IPVS); -l -D: detailed log on stderr (our log file); -G: no syslog.
    setsid -w ip netns exec "$K_NS" "$KEEPALIVED_BIN" -n -l -D -G -P -f "$K_CONF" -p "$K_PID" -r "$K_VRRP_PID" \
        </dev/null >>"$klog" 2>&1 9>&- &
    echo $! >"$K_UDIR/keepalived.spawn"
}

# Pid files and the command-line marker that proves a pid is still ours. The VRRP
# child is a fork of keepalived (same command line).
keepalived__pidfiles() { # -> lines "PIDFILE MARKER"
    local k
    for k in "${!KEEPALIVED_UNITS[@]}"; do
        keepalived__unit "$k"
        printf '%s %s\n' "$K_PID" "$K_CONF" "$K_VRRP_PID" "$K_CONF" "$K_UDIR/keepalived.spawn" "$K_CONF" \
            "$K_SSHD_PID" "$K_SSHD_CONF" "$K_UDIR/sshd.spawn" "$K_SSHD_CONF"
    done
}

keepalived__our_pids() {
    local f marker pid
    while read -r f marker; do
        [[ -f $f ]] || continue
        pid=$(cat "$f" 2>/dev/null) || continue
        testenv_pid_is "$pid" "$marker" && echo "$pid"
    done < <(keepalived__pidfiles) | sort -u
}

keepalived__stop() {
    [[ -d $KEEPALIVED_DIR ]] || return 0
    local pids=() p k
    while read -r p; do [[ -n $p ]] && pids+=("$p"); done < <(keepalived__our_pids)
    if ((${#pids[@]})); then
        # SSH sessions and their commands are children of the sshds.
        while read -r p; do [[ -n $p ]] && pids+=("$p"); done < <(testenv_descendants "${pids[@]}")
        testenv_kill_pids "${pids[@]}"
    fi
    testenv_netns_teardown "$K_LIST"
    for k in "${!KEEPALIVED_UNITS[@]}"; do
        keepalived__unit "$k"
        rm -f "$K_PID" "$K_VRRP_PID" "$K_SSHD_PID" "$K_UDIR/keepalived.spawn" "$K_UDIR/sshd.spawn"
    done
    rm -f "$KEEPALIVED_DIR/state"
}

keepalived__fail() {
    printf 'testenv: error: keepalived: %s\n' "$*" >&2
    local f
    for f in "$KEEPALIVED_DIR"/*/*.log; do
        [[ -s $f ]] || continue
        printf -- '--- %s\n' "$f"
        tail -n 8 "$f"
    done >&2
    testenv_log "stopping the balancers"
    keepalived__stop
    exit 1
}

# Wait (bounded) for every pid file; fail at once if a daemon dies.
keepalived__wait_pidfiles() {
    local deadline=$((SECONDS + 30)) k pending f what
    while :; do
        pending=0
        for k in "${!KEEPALIVED_UNITS[@]}"; do
            keepalived__unit "$k"
            for f in "$K_SSHD_PID:sshd" "$K_PID:keepalived" "$K_VRRP_PID:keepalived"; do
                what=${f##*:} f=${f%:*}
                [[ $(cat "$f" 2>/dev/null) =~ ^[0-9]+$ ]] && continue
                pending=$((pending + 1))
                testenv_alive "$(<"$K_UDIR/$what.spawn")" ||
                    keepalived__fail "$what of $K_U exited during start-up (see $K_UDIR/$what.log)"
            done
        done
        ((pending == 0)) && return 0
        ((SECONDS < deadline)) || keepalived__fail "$pending pid file(s) missing after 30 s"
        sleep 0.05
    done
}

# Does balancer INDEX hold the VIP now?
keepalived__holds() {
    keepalived__unit "$1"
    ip -n "$K_NS" -4 -o addr show dev eth0 2>/dev/null | grep -q " $KEEPALIVED_VIP/"
}

# The VIP on lb1 and nowhere else.
keepalived__vip_on_first() {
    local k
    keepalived__holds 0 || return 1
    for ((k = 1; k < ${#KEEPALIVED_UNITS[@]}; k++)); do keepalived__holds "$k" && return 1; done
    return 0
}

# keepalived_ssh ADDR CMD...  one real ssh with the testenv identity and strict host keys.
keepalived_ssh() {
    local addr=$1; shift
    timeout 20 ssh -F /dev/null -i "$K_IDENTITY" -o IdentitiesOnly=yes \
        -o UserKnownHostsFile="$K_KNOWN_HOSTS" -o GlobalKnownHostsFile=/dev/null \
        -o StrictHostKeyChecking=yes -o BatchMode=yes -o ConnectTimeout=5 -o LogLevel=ERROR \
        -p 22 "root@$addr" "$@"
}

# Real ssh to every balancer, retried: at most TRIES (default 40) attempts each and 30 s.
keepalived__probe() {
    local tries=${1:-40} deadline=$((SECONDS + 30)) k n err out
    for k in "${!KEEPALIVED_UNITS[@]}"; do
        keepalived__unit "$k"
        n=0
        while :; do
            n=$((n + 1))
            if out=$(keepalived_ssh "$K_ADDR" hostname 2>&1 </dev/null) && [[ $out == "$K_U" ]]; then break; fi
            err=$out
            if ((n >= tries || SECONDS >= deadline)); then
                printf 'testenv: ssh root@%s failed after %d attempts: %s\n' "$K_ADDR" "$n" "$err" >&2
                return 1
            fi
            sleep 0.2
        done
    done
}

keepalived__state() {
    printf 'keepalived=%s sshd=%s dir=%s script=%s\n' "$KEEPALIVED_BIN" "$K_SSHD" "$TESTENV_DIR" \
        "$(cksum <"${BASH_SOURCE[0]}" | cut -d' ' -f1)"
}

# Everything from the previous `up` still running with the same settings? Then put
# the configs back as generated (reloading a balancer whose config a test changed)
# and wait until the VIP is back on lb1.
keepalived__reusable() {
    [[ -f $KEEPALIVED_DIR/state && $(<"$KEEPALIVED_DIR/state") == "$(keepalived__state)" ]] || return 1
    local f marker pid k
    while read -r f marker; do
        [[ $f == *.spawn ]] && continue
        pid=$(cat "$f" 2>/dev/null) || return 1
        testenv_pid_is "$pid" "$marker" || return 1
    done < <(keepalived__pidfiles)
    keepalived__probe 2 2>/dev/null || return 1
    for k in "${!KEEPALIVED_UNITS[@]}"; do
        keepalived__unit "$k" # here, not only inside the pipelines' subshells
        keepalived__sshd_conf "$k" | keepalived__write_if_changed "$K_SSHD_CONF" && return 1 # restart then
        if keepalived__conf "$k" | keepalived__write_if_changed "$K_CONF"; then
            testenv_log "keepalived: $K_U's config had changed; restored it and reloading"
            kill -HUP "$(<"$K_PID")" || return 1
        fi
    done
    # Preemption takes the master-down timer (~3-4 s at advert_int 1).
    testenv_wait_for 15 0.1 keepalived__vip_on_first
}

# ---- entry points ------------------------------------------------------------------

keepalived_up() {
    keepalived__paths
    keepalived__tools
    mkdir -p "$KEEPALIVED_DIR"
    local k how=started out
    for k in "${!KEEPALIVED_UNITS[@]}"; do keepalived__unit "$k"; mkdir -p "$K_UDIR"; done
    keepalived__keys
    keepalived__client_files
    if keepalived__reusable; then
        how="reused, reset"
    else
        keepalived__stop
        for k in "${!KEEPALIVED_UNITS[@]}"; do
            keepalived__unit "$k"
            keepalived__conf "$k" >"$K_CONF.tmp" && mv -f "$K_CONF.tmp" "$K_CONF"
            keepalived__sshd_conf "$k" >"$K_SSHD_CONF.tmp" && mv -f "$K_SSHD_CONF.tmp" "$K_SSHD_CONF"
        done
        # sshd -t checks the config without binding (the VIP is not local here).
        out=$("$K_SSHD" -t -f "$K_SSHD_CONF" 2>&1) ||
            testenv_die "sshd rejects the generated config $K_SSHD_CONF: $out"
        keepalived__netns_setup || keepalived__fail "network namespace setup failed"
        for k in "${!KEEPALIVED_UNITS[@]}"; do
            keepalived__unit "$k"
            # Inside the namespace: -t fails when the config's interface (eth0) is missing.
            out=$(ip netns exec "$K_NS" "$KEEPALIVED_BIN" -t -f "$K_CONF" 2>&1) ||
                keepalived__fail "keepalived rejects the generated config $K_CONF: $out"
        done
        for k in "${!KEEPALIVED_UNITS[@]}"; do keepalived__spawn "$k"; done
        keepalived__wait_pidfiles
        testenv_wait_for 15 0.1 keepalived__vip_on_first ||
            keepalived__fail "the VIP $KEEPALIVED_VIP is not on lb1 alone after 15 s"
        keepalived__probe || keepalived__fail "balancers do not accept SSH"
        keepalived__state >"$KEEPALIVED_DIR/state"
    fi
    keepalived__env_file
    keepalived__region_fragment
    # shellcheck disable=SC2034  # read by scripts/testenv/up
    TESTENV_SUMMARY="keepalived vip $KEEPALIVED_VIP ($KEEPALIVED_INSTANCE on lb1 ${KEEPALIVED_ADDRS[0]} prio ${KEEPALIVED_PRIOS[0]} MASTER, lb2 ${KEEPALIVED_ADDRS[1]} prio ${KEEPALIVED_PRIOS[1]} BACKUP; ssh port 22; env $K_ENV; $how)"
}

keepalived_down() {
    keepalived__paths
    keepalived__stop
    rm -f "$K_ENV" "$K_KNOWN_HOSTS" "$K_SSH_CONFIG"
    testenv_region_drop "$KEEPALIVED_FRAGMENT"
}
