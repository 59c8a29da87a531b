# shellcheck shell=bash
# Service "rabbitmq": one RabbitMQ 3.10 node (Debian rabbitmq-server) on loopback,
# with the management plugin.
#
#   BROKER_PORT=P        AMQP port on 127.0.0.1 (default 25673, must be < 32768). The
#                        node also uses P+1 (Erlang distribution), P+2 (management
#                        HTTP API) and P+3..P+12 (distribution ports of rabbitmqctl).
#   BROKER_EPMD_PORT=E   port of the node's private epmd (default 24369).
#
# The upstream scripts in /usr/lib/rabbitmq/bin run as root, in a clean environment
# (env -i: a RABBITMQ_* variable in the caller's environment would override ours),
# configured by .testenv/rabbitmq/rabbitmq-env.conf (RABBITMQ_CONF_ENV_FILE): node
# ferry@localhost, HOME (Erlang cookie), mnesia, log and pid file under
# .testenv/rabbitmq, `-kernel inet_dist_use_interface {127,0,0,1}` for the node and
# rabbitmqctl (otherwise the distribution port binds 0.0.0.0). We start the epmd
# ourselves (127.0.0.1:E, recorded pid) before the node, so the node uses it rather
# than spawning a daemonized one we would have to hunt down.
#
# Management is enabled offline ([rabbitmq_management]. in enabled_plugins) and
# listens on 127.0.0.1 only. The admin user `ferry` (tag administrator, all
# permissions on /) comes from a definitions file imported at boot, so no
# rabbitmqctl round trip is needed; its password is .testenv/rabbitmq/password.
#
# Every start is a fresh, empty broker: the mnesia directory is wiped (a reused,
# running node is kept as it is). `down` keeps the password and cookie.
# State: .testenv/rabbitmq/ (rabbitmq-env.conf, rabbitmq.conf, enabled_plugins,
# definitions.json, password, home/.erlang.cookie, mnesia/, log/, run/).
# Region fragment: .testenv/region.d/50-rabbitmq.yaml (owns `broker`).

RABBITMQ_DIR="$TESTENV_DIR/rabbitmq"
RABBITMQ_FRAGMENT=50-rabbitmq
RABBITMQ_BIN=/usr/lib/rabbitmq/bin
RABBITMQ_NODE=ferry@localhost

# ---- settings ------------------------------------------------------------------

rabbitmq__port_ok() { [[ $1 =~ ^[1-9][0-9]*$ ]] && (($1 + ${2:-0} < 32768)); }

rabbitmq__settings() {
    R_AMQP=${BROKER_PORT:-25673}
    R_EPMD=${BROKER_EPMD_PORT:-24369}
    rabbitmq__port_ok "$R_AMQP" 12 ||
        testenv_usage_error "BROKER_PORT must be a port with P+12 below 32768 (outside the ephemeral range), got '$R_AMQP'"
    rabbitmq__port_ok "$R_EPMD" ||
        testenv_usage_error "BROKER_EPMD_PORT must be a port below 32768, got '$R_EPMD'"
    R_DIST=$((R_AMQP + 1)) R_MGMT=$((R_AMQP + 2)) R_CTL_MIN=$((R_AMQP + 3)) R_CTL_MAX=$((R_AMQP + 12))
    R_URL="http://127.0.0.1:$R_MGMT"
    rabbitmq__paths
}

rabbitmq__paths() { # no settings needed: `down` must work whatever the environment says
    R_ENVFILE="$RABBITMQ_DIR/rabbitmq-env.conf"
    R_CONF="$RABBITMQ_DIR/rabbitmq.conf"
    R_PWFILE="$RABBITMQ_DIR/password"
    R_HOME="$RABBITMQ_DIR/home"
    R_RUN="$RABBITMQ_DIR/run"
    R_LOG="$RABBITMQ_DIR/log"
    R_PIDFILE="$R_RUN/beam.pid"
    R_MARKER="FERRY_TESTENV_RABBITMQ=$RABBITMQ_DIR"
    rabbitmq__env_init
}

# ---- packages ------------------------------------------------------------------

rabbitmq__install() {
    if [[ $(dpkg-query -W -f='${Status}' rabbitmq-server 2>/dev/null) != "install ok installed" ]]; then
        testenv_log "installing rabbitmq-server (for rabbitmq)"
        export DEBIAN_FRONTEND=noninteractive
        # Another `up` (or a helper) may be installing at the same time: wait for the lock.
        apt-get -o DPkg::Lock::Timeout=600 update -qq >&2 || testenv_die "apt-get update failed"
        apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends rabbitmq-server >&2 ||
            testenv_die "apt-get install rabbitmq-server failed"
    fi
    [[ -x $RABBITMQ_BIN/rabbitmq-server && -x $RABBITMQ_BIN/rabbitmqctl ]] ||
        testenv_die "rabbitmq: $RABBITMQ_BIN/rabbitmq-server missing after installing rabbitmq-server"
    R_VERSION=$(dpkg-query -W -f='${Version}' rabbitmq-server)
    R_EPMD_BIN=$(command -v epmd || true)
    [[ -n $R_EPMD_BIN ]] || R_EPMD_BIN=$(find /usr/lib/erlang -name epmd -type f -perm -u+x 2>/dev/null | sort | head -n 1)
    [[ -n $R_EPMD_BIN && -x $R_EPMD_BIN ]] || testenv_die "rabbitmq: no epmd binary (erlang-base)"
}

# ---- files ---------------------------------------------------------------------

rabbitmq__secret() { # FILE: 24 letters and digits, made once
    [[ -s $1 ]] && return 0
    (umask 077
     LC_ALL=C tr -dc 'A-Za-z0-9' </dev/urandom | head -c "${2:-24}" >"$1.tmp" || true
     [[ -n ${3:-} ]] || echo >>"$1.tmp")
    mv -f "$1.tmp" "$1"
}

rabbitmq__unhex() { local h=$1 esc=""; while [[ -n $h ]]; do esc+="\\x${h:0:2}"; h=${h:2}; done; printf '%b' "$esc"; }

# rabbit_password_hashing_sha256: base64(salt ++ sha256(salt ++ password)), 4-byte salt.
rabbitmq__password_hash() {
    local pw salt hash
    pw=$(<"$R_PWFILE")
    salt=$(head -c 4 /dev/urandom | od -An -tx1 | tr -d ' \n')
    hash=$({ rabbitmq__unhex "$salt"; printf '%s' "$pw"; } | sha256sum | cut -c1-64)
    rabbitmq__unhex "$salt$hash" | base64 -w0
}

rabbitmq__write_files() {
    mkdir -p "$R_HOME" "$R_RUN" "$R_LOG" "$RABBITMQ_DIR/mnesia"
    chmod 700 "$R_HOME"
    # The Erlang cookie: letters only, no newline, mode 400 or Erlang refuses it.
    rabbitmq__secret "$R_HOME/.erlang.cookie" 32 nonewline
    chmod 400 "$R_HOME/.erlang.cookie"
    cat >"$R_ENVFILE.tmp" <<EOF
# Generated by scripts/testenv/up (services/rabbitmq.sh). Do not edit.
# Read by the scripts in $RABBITMQ_BIN through RABBITMQ_CONF_ENV_FILE.
NODENAME=$RABBITMQ_NODE
NODE_IP_ADDRESS=127.0.0.1
NODE_PORT=$R_AMQP
DIST_PORT=$R_DIST
CTL_DIST_PORT_MIN=$R_CTL_MIN
CTL_DIST_PORT_MAX=$R_CTL_MAX
SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
CTL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
CONFIG_FILE=$R_CONF
ADVANCED_CONFIG_FILE=$RABBITMQ_DIR/advanced.config
ENABLED_PLUGINS_FILE=$RABBITMQ_DIR/enabled_plugins
MNESIA_BASE=$RABBITMQ_DIR/mnesia
LOG_BASE=$R_LOG
PID_FILE=$R_PIDFILE
ERL_EPMD_PORT=$R_EPMD
ERL_EPMD_ADDRESS=127.0.0.1
EOF
    mv -f "$R_ENVFILE.tmp" "$R_ENVFILE"
    cat >"$R_CONF.tmp" <<EOF
# Generated by scripts/testenv/up (services/rabbitmq.sh). Do not edit.
# AMQP listener: NODE_IP_ADDRESS/NODE_PORT in rabbitmq-env.conf (127.0.0.1:$R_AMQP).
management.tcp.ip = 127.0.0.1
management.tcp.port = $R_MGMT
load_definitions = $RABBITMQ_DIR/definitions.json
log.console = false
log.file.level = info
EOF
    mv -f "$R_CONF.tmp" "$R_CONF"
    echo '[].' >"$RABBITMQ_DIR/advanced.config"
    echo '[rabbitmq_management].' >"$RABBITMQ_DIR/enabled_plugins"
    (umask 077
     cat >"$RABBITMQ_DIR/definitions.json.tmp" <<EOF
{
  "users": [{"name": "ferry", "password_hash": "$(rabbitmq__password_hash)",
             "hashing_algorithm": "rabbit_password_hashing_sha256", "tags": ["administrator"]}],
  "vhosts": [{"name": "/"}],
  "permissions": [{"user": "ferry", "vhost": "/", "configure": ".*", "write": ".*", "read": ".*"}]
}
EOF
    )
    mv -f "$RABBITMQ_DIR/definitions.json.tmp" "$RABBITMQ_DIR/definitions.json"
}

# The clean environment every upstream script and epmd runs in:
# "${R_ENV[@]}" COMMAND... (an array, not a function: a backgrounded function would
# leave a bash subshell, not our process, behind $!).
rabbitmq__env_init() {
    R_ENV=(env -i -C "$RABBITMQ_DIR" PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 LC_ALL=C.UTF-8
        HOME="$R_HOME" RABBITMQ_CONF_ENV_FILE="$R_ENVFILE" ERL_CRASH_DUMP="$R_LOG/erl_crash.dump"
        "$R_MARKER")
}

rabbitmq_ctl() { # rabbitmqctl against our node, e.g. rabbitmq_ctl list_queues
    "${R_ENV[@]}" timeout 120 "$RABBITMQ_BIN/rabbitmqctl" "$@" 9>&-
}

# ---- processes -------------------------------------------------------------------

# Is PID alive and one of ours? Every process we start (epmd, the rabbitmq-server
# script, beam.smp and its helpers) carries $R_MARKER in its environment; the
# command lines of epmd and the script do not name our directory.
rabbitmq__pid_is() {
    [[ $1 =~ ^[0-9]+$ ]] || return 1
    testenv_alive "$1" || return 1
    tr '\0' '\n' <"/proc/$1/environ" 2>/dev/null | grep -Fxq -- "$R_MARKER"
}

rabbitmq__spawn_epmd() {
    rm -f "$R_RUN/epmd.pid"
    "${R_ENV[@]}" ERL_EPMD_ADDRESS=127.0.0.1 \
        setsid -w "$R_EPMD_BIN" -address 127.0.0.1 -port "$R_EPMD" </dev/null >>"$R_LOG/epmd.log" 2>&1 9>&- &
    echo $! >"$R_RUN/epmd.pid"
}

rabbitmq__epmd_up() { "${R_ENV[@]}" timeout 5 "$R_EPMD_BIN" -port "$R_EPMD" -names >/dev/null 2>&1; }

rabbitmq__spawn() {
    rm -f "$R_PIDFILE" "$R_RUN/server.spawn"
    : >"$R_LOG/server.out"
    # setsid: own session; 9>&-: fd 9 holds the testenv lock (lib.sh), a daemon that
    # inherits it makes every later `up`/`down` wait for as long as it runs.
    "${R_ENV[@]}" setsid -w "$RABBITMQ_BIN/rabbitmq-server" </dev/null >>"$R_LOG/server.out" 2>&1 9>&- &
    echo $! >"$R_RUN/server.spawn"
}

# Our pids: epmd, the rabbitmq-server script, beam.smp (pid file), their descendants.
rabbitmq__our_pids() {
    local f pid roots=()
    for f in "$R_RUN/server.spawn" "$R_PIDFILE" "$R_RUN/epmd.pid"; do
        [[ -f $f ]] || continue
        pid=$(<"$f") || continue
        rabbitmq__pid_is "$pid" && roots+=("$pid")
    done
    ((${#roots[@]})) || return 0
    { printf '%s\n' "${roots[@]}"; testenv_descendants "${roots[@]}"; } | sort -u
}

rabbitmq__all_gone() { local q; for q in "$@"; do testenv_alive "$q" && return 1; done; return 0; }

rabbitmq__stop() {
    [[ -d $RABBITMQ_DIR ]] || return 0
    local pids=() p beam="" spawn="" epmd="" rest=()
    while read -r p; do [[ -n $p ]] && pids+=("$p"); done < <(rabbitmq__our_pids)
    if ((${#pids[@]})); then
        p=$(cat "$R_PIDFILE" 2>/dev/null || true); rabbitmq__pid_is "$p" && beam=$p
        p=$(cat "$R_RUN/server.spawn" 2>/dev/null || true); rabbitmq__pid_is "$p" && spawn=$p
        p=$(cat "$R_RUN/epmd.pid" 2>/dev/null || true); rabbitmq__pid_is "$p" && epmd=$p
        # SIGTERM to beam.smp starts RabbitMQ's clean shutdown (the script, on SIGTERM,
        # does the same and waits). Queues, connections and mnesia are closed within
        # ~0.1 s, but the VM then idles ~5.5 s in the management plugin's shutdown
        # before it exits. The next start wipes mnesia anyway, so after 2 s SIGKILL.
        # epmd last: the node unregisters from it on the way down.
        local node=() q
        for q in $beam $spawn; do node+=("$q"); done
        if ((${#node[@]})); then
            kill -TERM "${node[@]}" 2>/dev/null || true
            testenv_wait_for 2 0.05 rabbitmq__all_gone "${node[@]}" || kill -KILL "${node[@]}" 2>/dev/null || true
        fi
        for q in "${pids[@]}"; do [[ $q == "$epmd" ]] || rest+=("$q"); done
        testenv_kill_pids "${rest[@]}"
        [[ -z $epmd ]] || testenv_kill_pids "$epmd"
    fi
    rabbitmq__stop_stray_epmd
    rm -f "$R_PIDFILE" "$R_RUN/server.spawn" "$R_RUN/epmd.pid" "$RABBITMQ_DIR/state"
}

# An epmd on our port started by the node itself (if ours had died): stop it too,
# by pid, but only if it carries our marker.
rabbitmq__stop_stray_epmd() {
    [[ -n ${R_EPMD:-} ]] || R_EPMD=$(sed -n 's/^ERL_EPMD_PORT=//p' "$R_ENVFILE" 2>/dev/null)
    [[ $R_EPMD =~ ^[0-9]+$ ]] || return 0
    local p
    for p in $(ss -Hltnp "sport = :$R_EPMD" 2>/dev/null | grep -o 'pid=[0-9]*' | cut -d= -f2 | sort -u); do
        rabbitmq__pid_is "$p" && testenv_kill_pids "$p"
    done
    return 0
}

rabbitmq__fail() {
    printf 'testenv: error: rabbitmq: %s\n' "$*" >&2
    local f
    for f in "$R_LOG/server.out" "$R_LOG/$RABBITMQ_NODE.log" "$R_LOG/epmd.log"; do
        [[ -s $f ]] || continue
        printf -- '--- %s\n' "$f"
        tail -n 12 "$f"
    done >&2
    testenv_log "stopping rabbitmq"
    rabbitmq__stop
    exit 1
}

# ---- probes ----------------------------------------------------------------------

rabbitmq__api() { # PATH -> HTTP status of GET PATH as ferry (password via a curl config on stdin)
    curl -s -o /dev/null -w '%{http_code}' -m 5 -K - "$R_URL$1" 2>/dev/null <<EOF
user = "ferry:$(<"$R_PWFILE")"
EOF
}

rabbitmq__api_ok() { [[ $(rabbitmq__api /api/whoami) == 200 ]]; }

# Every listening socket of our processes must be on loopback.
rabbitmq__check_loopback() {
    local ours line bad="" local_addr
    ours=" $(rabbitmq__our_pids | tr '\n' ' ') "
    while read -r line; do
        [[ $line =~ pid=([0-9]+), ]] || continue
        [[ $ours == *" ${BASH_REMATCH[1]} "* ]] || continue
        read -r _ _ _ local_addr _ <<<"$line"
        case $local_addr in 127.*|'[::1]':*|'[::ffff:127.'*) ;; *) bad+=" $local_addr" ;; esac
    done < <(ss -Hltnp)
    [[ -z $bad ]] || rabbitmq__fail "listening outside loopback:$bad"
}

rabbitmq__state() {
    printf 'amqp=%s epmd=%s version=%s dir=%s script=%s\n' "$R_AMQP" "$R_EPMD" "$R_VERSION" \
        "$TESTENV_DIR" "$(cksum <"${BASH_SOURCE[0]}" | cut -d' ' -f1)"
}

rabbitmq__reusable() {
    [[ -f $RABBITMQ_DIR/state && $(<"$RABBITMQ_DIR/state") == "$(rabbitmq__state)" ]] || return 1
    local pid
    pid=$(cat "$R_PIDFILE" 2>/dev/null) || return 1
    rabbitmq__pid_is "$pid" || return 1
    pid=$(cat "$R_RUN/epmd.pid" 2>/dev/null) || return 1
    rabbitmq__pid_is "$pid" || return 1
    rabbitmq__api_ok
}

rabbitmq__check_ports_free() {
    local p
    for p in "$R_EPMD" "$R_AMQP" "$R_DIST" "$R_MGMT"; do
        if ss -Hltn "sport = :$p" | grep -q .; then
            testenv_die "rabbitmq: port $p is taken by another process (see ss -ltnp); set BROKER_PORT / BROKER_EPMD_PORT"
        fi
    done
}

rabbitmq__start() {
    rm -rf "$RABBITMQ_DIR/mnesia"
    mkdir -p "$RABBITMQ_DIR/mnesia"
    : >"$R_LOG/epmd.log"
    rabbitmq__spawn_epmd
    testenv_wait_for 10 0.05 rabbitmq__epmd_up || rabbitmq__fail "epmd did not answer on 127.0.0.1:$R_EPMD within 10 s"
    rabbitmq__spawn
    # rabbitmqctl wait: until the pid file appears and the rabbit application has
    # started (plugins included), or 90 s.
    local out
    out=$(rabbitmq_ctl wait --timeout 90 "$R_PIDFILE" 2>&1) ||
        rabbitmq__fail "rabbitmqctl wait $R_PIDFILE failed: $(tail -n 5 <<<"$out")"
    testenv_wait_for 30 0.1 rabbitmq__api_ok ||
        rabbitmq__fail "management API $R_URL/api/whoami does not accept user ferry within 30 s"
}

# ---- entry points ------------------------------------------------------------------

rabbitmq_up() {
    rabbitmq__settings
    rabbitmq__install
    mkdir -p "$RABBITMQ_DIR"
    rabbitmq__secret "$R_PWFILE"
    local how=started
    if rabbitmq__reusable; then
        how=reused
    else
        rabbitmq__stop
        rabbitmq__check_ports_free
        rabbitmq__write_files
        rabbitmq__start
        rabbitmq__state >"$RABBITMQ_DIR/state"
    fi
    rabbitmq__check_loopback
    {
        printf '# rabbitmq: RabbitMQ %s node %s, AMQP 127.0.0.1:%s, management %s (scripts/testenv/services/rabbitmq.sh)\n' \
            "$R_VERSION" "$RABBITMQ_NODE" "$R_AMQP" "$R_URL"
        printf 'broker: { url: %s, username: ferry, password: { file: %s }, amqp_port: %s }\n' \
            "$R_URL" "$R_PWFILE" "$R_AMQP"
    } | testenv_region_put "$RABBITMQ_FRAGMENT"
    # shellcheck disable=SC2034  # read by scripts/testenv/up
    TESTENV_SUMMARY="rabbitmq $RABBITMQ_NODE (AMQP 127.0.0.1:$R_AMQP, management $R_URL, $how)"
}

rabbitmq_down() {
    rabbitmq__paths
    R_EPMD=
    rabbitmq__stop
    testenv_region_drop "$RABBITMQ_FRAGMENT"
}
