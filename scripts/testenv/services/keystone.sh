# shellcheck shell=bash
# Service "keystone": Keystone 22 (Zed) from Debian, served by gunicorn on loopback.
#
#   KEYSTONE_PORT=P    port (default 25000, must be < 32768); listens on 127.0.0.1 only
#
# Packages: python3-keystone python3-openstackclient python3-pymysql gunicorn (not
# the `keystone` package, which drags in uwsgi and apparmor).
#
# Database, chosen automatically on every start:
#   - the testenv's MariaDB (service "mariadb") if it is up, i.e. its socket
#     $TESTENV_DIR/mariadb/mysqld.sock exists and user ferry can log in over TCP
#     127.0.0.1:$MARIADB_PORT (default 23306; password from $TESTENV_DIR/mariadb/password,
#     else ferry-test-pw): database `keystone`, created if missing;
#   - otherwise SQLite, $TESTENV_DIR/keystone/keystone.db.
# `up mariadb keystone` therefore gets MariaDB (mariadb starts first); a keystone
# already running on SQLite is restarted on MariaDB once MariaDB is up, and back.
#
# First start: keystone-manage db_sync, fernet_setup, credential_setup, bootstrap
# (admin / RegionOne, endpoints http://127.0.0.1:P/v3), ~10-14 s. After it, a
# snapshot (database dump + fernet and credential keys) is saved in
# keystone/snapshot-{sqlite,mariadb}/ and every later start restores it (a fresh, just-bootstrapped Keystone each time)
# instead of bootstrapping again. The snapshot is rebuilt when the package version,
# backend, port, password or this script changes.
#
# Served by gunicorn (gthread, 1 worker, 8 threads) through keystone/wsgi/keystone_wsgi.py,
# which resets sys.argv before initialize_public_application() (oslo.config would
# parse gunicorn's arguments and the worker would die in a loop).
#
# State: .testenv/keystone/ (keystone.conf, password, fernet-keys/, credential-keys/,
# keystone.db, snapshot-*/, run/gunicorn.pid, log/). `down` keeps the password and
# the snapshots so the next `up` is fast.
# Region fragment: .testenv/region.d/40-keystone.yaml (owns `keystone`).

KEYSTONE_DIR="$TESTENV_DIR/keystone"
KEYSTONE_FRAGMENT=40-keystone
KEYSTONE_PACKAGES=(python3-keystone python3-openstackclient python3-pymysql gunicorn)
KEYSTONE_PY=/usr/bin/python3    # not the pyenv python3 on PATH: it cannot import Debian's modules

# ---- settings ------------------------------------------------------------------

keystone__settings() {
    K_PORT=${KEYSTONE_PORT:-25000}
    if ! [[ $K_PORT =~ ^[1-9][0-9]*$ ]] || ((K_PORT >= 32768)); then
        testenv_usage_error "KEYSTONE_PORT must be a port below 32768 (outside the ephemeral range), got '$K_PORT'"
    fi
    K_URL="http://127.0.0.1:$K_PORT/v3"
    keystone__paths
    K_MY_PORT=${MARIADB_PORT:-23306}
    K_MY_SOCK="$TESTENV_DIR/mariadb/mysqld.sock"
    K_MY_PW=ferry-test-pw
    if [[ -s $TESTENV_DIR/mariadb/password ]]; then K_MY_PW=$(<"$TESTENV_DIR/mariadb/password"); fi
}

keystone__paths() { # no settings needed: `down` must work whatever the environment says
    K_CONF="$KEYSTONE_DIR/keystone.conf"
    K_PWFILE="$KEYSTONE_DIR/password"
    K_RUN="$KEYSTONE_DIR/run"
    K_LOG="$KEYSTONE_DIR/log"
    K_SQLITE="$KEYSTONE_DIR/keystone.db"
    K_MYCNF="$KEYSTONE_DIR/mariadb-client.cnf"
}

# Writes the client options file used for every mariadb/mysqldump call (keeps the
# password off command lines).
keystone__mycnf() {
    (umask 077
     printf '[client]\nuser=ferry\npassword=%s\nhost=127.0.0.1\nport=%s\nprotocol=TCP\n' \
         "$K_MY_PW" "$K_MY_PORT" >"$K_MYCNF.tmp")
    mv -f "$K_MYCNF.tmp" "$K_MYCNF"
}

keystone__mysql() { timeout 60 mariadb --defaults-file="$K_MYCNF" "$@"; }

# Decide the backend: K_BACKEND=mariadb|sqlite, K_DB_URL.
keystone__backend() {
    K_BACKEND=sqlite
    if [[ -S $K_MY_SOCK ]] && command -v mariadb >/dev/null 2>&1; then
        keystone__mycnf
        if keystone__mysql -N -e 'SELECT 1' >/dev/null 2>&1; then
            K_BACKEND=mariadb
        else
            testenv_log "keystone: $K_MY_SOCK exists but user ferry cannot log in on 127.0.0.1:$K_MY_PORT; using SQLite"
        fi
    fi
    if [[ $K_BACKEND == mariadb ]]; then
        K_DB_URL="mysql+pymysql://ferry:$K_MY_PW@127.0.0.1:$K_MY_PORT/keystone?charset=utf8mb4"
    else
        K_DB_URL="sqlite:///$K_SQLITE"
    fi
    K_SNAP="$KEYSTONE_DIR/snapshot-$K_BACKEND"   # one per backend: switching back is fast too
}

# ---- packages ------------------------------------------------------------------

keystone__install() {
    local p missing=()
    for p in "${KEYSTONE_PACKAGES[@]}"; do
        [[ $(dpkg-query -W -f='${Status}' "$p" 2>/dev/null) == "install ok installed" ]] || missing+=("$p")
    done
    if ((${#missing[@]})); then
        testenv_log "installing ${missing[*]} (for keystone)"
        export DEBIAN_FRONTEND=noninteractive
        # Another `up` (or a helper) may be installing at the same time: wait for the lock.
        apt-get -o DPkg::Lock::Timeout=600 update -qq >&2 || testenv_die "apt-get update failed"
        apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}" >&2 ||
            testenv_die "apt-get install ${missing[*]} failed"
    fi
    [[ -x /usr/bin/keystone-manage && -x /usr/bin/openstack ]] ||
        testenv_die "keystone-manage or openstack missing after installing ${KEYSTONE_PACKAGES[*]}"
    K_VERSION=$(dpkg-query -W -f='${Version}' python3-keystone)
}

# ---- files ---------------------------------------------------------------------

keystone__password() {
    [[ -s $K_PWFILE ]] && return 0
    # Letters and digits only: it goes into JSON and URLs unquoted.
    (umask 077
     LC_ALL=C tr -dc 'A-Za-z0-9' </dev/urandom | head -c 24 >"$K_PWFILE.tmp" || true
     echo >>"$K_PWFILE.tmp")
    mv -f "$K_PWFILE.tmp" "$K_PWFILE"
}

keystone__write_files() {
    mkdir -p "$K_RUN" "$K_LOG" "$KEYSTONE_DIR/wsgi"
    : >"$K_CONF.tmp"
    chmod 600 "$K_CONF.tmp"   # holds the database password
    cat >>"$K_CONF.tmp" <<EOF
# Generated by scripts/testenv/up (services/keystone.sh). Do not edit.
[DEFAULT]
log_file = $K_LOG/keystone.log
use_stderr = false
debug = false

[database]
connection = $K_DB_URL

[token]
provider = fernet

[fernet_tokens]
key_repository = $KEYSTONE_DIR/fernet-keys

[fernet_receipts]
key_repository = $KEYSTONE_DIR/fernet-keys

[credential]
key_repository = $KEYSTONE_DIR/credential-keys

[identity]
# Cheapest bcrypt: every password check costs CPU on a 2-core machine.
password_hash_rounds = 4

[cache]
enabled = false
EOF
    mv -f "$K_CONF.tmp" "$K_CONF"
    cat >"$KEYSTONE_DIR/wsgi/keystone_wsgi.py.tmp" <<'EOF'
# Generated by scripts/testenv/up (services/keystone.sh). Gunicorn entry point.
# oslo.config parses sys.argv: reset it, or gunicorn's own arguments make every
# worker exit at import and gunicorn restarts them in a loop.
import sys
sys.argv = sys.argv[:1]
from keystone.server.wsgi import initialize_public_application  # noqa: E402
application = initialize_public_application()
EOF
    mv -f "$KEYSTONE_DIR/wsgi/keystone_wsgi.py.tmp" "$KEYSTONE_DIR/wsgi/keystone_wsgi.py"
}

keystone__manage() {
    timeout 300 keystone-manage --config-file "$K_CONF" "$@" </dev/null >>"$K_LOG/keystone-manage.log" 2>&1 ||
        keystone__fail "keystone-manage $1 failed (see $K_LOG/keystone-manage.log and $K_LOG/keystone.log)"
}

# ---- database and keys -----------------------------------------------------------

# Empty database and key repositories.
keystone__reset() {
    rm -rf "$KEYSTONE_DIR/fernet-keys" "$KEYSTONE_DIR/credential-keys"
    mkdir -p "$KEYSTONE_DIR/fernet-keys" "$KEYSTONE_DIR/credential-keys"
    chmod 700 "$KEYSTONE_DIR/fernet-keys" "$KEYSTONE_DIR/credential-keys"
    if [[ $K_BACKEND == mariadb ]]; then
        # lock_wait_timeout: an idle connection holding a metadata lock must not hang us.
        keystone__mysql -e 'SET SESSION lock_wait_timeout=10;
            DROP DATABASE IF EXISTS keystone;
            CREATE DATABASE keystone CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci;' ||
            keystone__fail "cannot (re)create database keystone on 127.0.0.1:$K_MY_PORT as ferry"
    else
        rm -f "$K_SQLITE" "$K_SQLITE-journal"
    fi
}

keystone__bootstrap() {
    local pw
    pw=$(<"$K_PWFILE")
    keystone__reset
    : >"$K_LOG/keystone-manage.log"
    keystone__manage db_sync
    keystone__manage fernet_setup --keystone-user root --keystone-group root
    keystone__manage credential_setup --keystone-user root --keystone-group root
    # bootstrap is idempotent; the password goes through the environment, not argv.
    OS_BOOTSTRAP_PASSWORD=$pw keystone__manage bootstrap \
        --bootstrap-username admin --bootstrap-project-name admin --bootstrap-role-name admin \
        --bootstrap-admin-url "$K_URL" --bootstrap-internal-url "$K_URL" \
        --bootstrap-public-url "$K_URL" --bootstrap-region-id RegionOne
}

keystone__stamp() {
    printf 'backend=%s version=%s url=%s password=%s script=%s\n' "$K_BACKEND" "$K_VERSION" "$K_URL" \
        "$(cksum <"$K_PWFILE" | cut -d' ' -f1)" "$(cksum <"${BASH_SOURCE[0]}" | cut -d' ' -f1)"
}

keystone__snapshot_save() {
    local tmp="$K_SNAP.tmp"
    rm -rf "$tmp"
    mkdir -p "$tmp"
    chmod 700 "$tmp"
    cp -a "$KEYSTONE_DIR/fernet-keys" "$KEYSTONE_DIR/credential-keys" "$tmp/"
    if [[ $K_BACKEND == mariadb ]]; then
        timeout 120 mysqldump --defaults-file="$K_MYCNF" --single-transaction --routines --triggers \
            --events --databases keystone >"$tmp/keystone.sql" 2>"$K_LOG/mysqldump.log" || {
            testenv_log "keystone: mysqldump failed (see $K_LOG/mysqldump.log); no snapshot saved"
            rm -rf "$tmp"
            return 0
        }
    else
        cp "$K_SQLITE" "$tmp/keystone.db"
    fi
    keystone__stamp >"$tmp/stamp"
    rm -rf "$K_SNAP"
    mv "$tmp" "$K_SNAP"
}

keystone__snapshot_valid() {
    [[ -f $K_SNAP/stamp && $(<"$K_SNAP/stamp") == "$(keystone__stamp)" ]] || return 1
    [[ -d $K_SNAP/fernet-keys && -d $K_SNAP/credential-keys ]] || return 1
    if [[ $K_BACKEND == mariadb ]]; then [[ -s $K_SNAP/keystone.sql ]]; else [[ -s $K_SNAP/keystone.db ]]; fi
}

keystone__snapshot_restore() {
    rm -rf "$KEYSTONE_DIR/fernet-keys" "$KEYSTONE_DIR/credential-keys"
    cp -a "$K_SNAP/fernet-keys" "$K_SNAP/credential-keys" "$KEYSTONE_DIR/" || return 1
    if [[ $K_BACKEND == mariadb ]]; then
        # The dump holds CREATE DATABASE and USE; drop first. Keystone is stopped, so
        # nothing holds metadata locks, and lock_wait_timeout bounds it if something does.
        { printf 'SET SESSION lock_wait_timeout=10;\nDROP DATABASE IF EXISTS keystone;\n'; cat "$K_SNAP/keystone.sql"; } |
            keystone__mysql >/dev/null 2>"$K_LOG/restore.log" || return 1
    else
        rm -f "$K_SQLITE-journal"
        cp "$K_SNAP/keystone.db" "$K_SQLITE.tmp" && mv -f "$K_SQLITE.tmp" "$K_SQLITE" || return 1
    fi
}

# ---- processes -------------------------------------------------------------------

keystone__spawn() {
    rm -f "$K_RUN/gunicorn.pid"
    : >"$K_LOG/gunicorn.log"
    # The --name (process title, if python3-setproctitle is installed) and --chdir
    # both carry $KEYSTONE_DIR: that is what keystone__our_pids checks before killing.
    # 9>&-: fd 9 holds the testenv lock (lib.sh); a daemon that inherits it keeps
    # every later `up`/`down` waiting for as long as it runs.
    # shellcheck disable=SC2094
    OS_KEYSTONE_CONFIG_DIR=$KEYSTONE_DIR OS_KEYSTONE_CONFIG_FILES=keystone.conf \
        setsid -w "$KEYSTONE_PY" -m gunicorn \
        --name "ferry-testenv-keystone:$KEYSTONE_DIR" \
        --chdir "$KEYSTONE_DIR/wsgi" \
        --bind "127.0.0.1:$K_PORT" \
        --worker-class gthread --workers 1 --threads 8 \
        --timeout 60 --graceful-timeout 3 \
        --pid "$K_RUN/gunicorn.pid" \
        --error-logfile "$K_LOG/gunicorn.log" \
        keystone_wsgi:application </dev/null >>"$K_LOG/gunicorn.log" 2>&1 9>&- &
    echo $! >"$K_RUN/gunicorn.spawn"
}

# Our gunicorn master (pid file and launcher), if its command line names our directory.
keystone__our_pids() {
    local f pid
    for f in "$K_RUN/gunicorn.pid" "$K_RUN/gunicorn.spawn"; do
        [[ -f $f ]] || continue
        pid=$(<"$f") || continue
        testenv_pid_is "$pid" "$KEYSTONE_DIR" && echo "$pid"
    done | sort -u
}

keystone__all_gone() { local q; for q in "$@"; do testenv_alive "$q" && return 1; done; return 0; }

keystone__stop() {
    local pids=() p
    [[ -d $KEYSTONE_DIR ]] || return 0
    while read -r p; do [[ -n $p ]] && pids+=("$p"); done < <(keystone__our_pids)
    if ((${#pids[@]})); then
        local masters=("${pids[@]}")
        while read -r p; do [[ -n $p ]] && pids+=("$p"); done < <(testenv_descendants "${pids[@]}")
        # SIGINT to the master is gunicorn's quick shutdown (SIGTERM, the graceful one,
        # costs ~1 s: the gthread worker notices it only on its next 1 s poll).
        kill -INT "${masters[@]}" 2>/dev/null || true
        testenv_wait_for 3 0.05 keystone__all_gone "${pids[@]}" || true
        testenv_kill_pids "${pids[@]}"
    fi
    rm -f "$K_RUN/gunicorn.pid" "$K_RUN/gunicorn.spawn" "$KEYSTONE_DIR/state"
}

keystone__fail() {
    printf 'testenv: error: keystone: %s\n' "$*" >&2
    local f
    for f in "$K_LOG/gunicorn.log" "$K_LOG/keystone.log" "$K_LOG/keystone-manage.log"; do
        [[ -s $f ]] || continue
        printf -- '--- %s\n' "$f"
        tail -n 8 "$f"
    done >&2
    testenv_log "stopping keystone"
    keystone__stop
    exit 1
}

# ---- probes ----------------------------------------------------------------------

keystone__get_v3() {
    [[ $(curl -s -o /dev/null -w '%{http_code}' -m 5 "$K_URL" 2>/dev/null) == 200 ]]
}

# A real password authentication (POST /v3/auth/tokens, project-scoped): 201.
keystone__token_ok() {
    local pw
    pw=$(<"$K_PWFILE")
    [[ $(curl -s -o /dev/null -w '%{http_code}' -m 10 -H 'Content-Type: application/json' --data-binary @- \
        "$K_URL/auth/tokens" 2>/dev/null <<EOF
{"auth": {"identity": {"methods": ["password"], "password": {"user": {"name": "admin",
 "domain": {"name": "Default"}, "password": "$pw"}}},
 "scope": {"project": {"name": "admin", "domain": {"name": "Default"}}}}}
EOF
    ) == 201 ]]
}

# Wait (bounded) until GET /v3 answers and a token can be issued; fail at once if
# gunicorn exits.
keystone__wait_ready() {
    local deadline=$((SECONDS + ${1:-90})) spawn
    spawn=$(<"$K_RUN/gunicorn.spawn")
    while :; do
        testenv_alive "$spawn" || return 2
        if keystone__get_v3 && keystone__token_ok; then return 0; fi
        ((SECONDS < deadline)) || return 1
        sleep 0.2
    done
}

# The end-to-end check: the OpenStack client itself issues a token (~2 s of CPU).
keystone__cli_check() {
    local out
    out=$(env -u OS_CLOUD OS_PASSWORD="$(<"$K_PWFILE")" timeout 60 openstack --os-auth-url "$K_URL" \
        --os-identity-api-version 3 --os-username admin --os-project-name admin \
        --os-user-domain-name Default --os-project-domain-name Default --os-region-name RegionOne \
        token issue -f value -c id 2>&1) || { testenv_log "keystone: openstack token issue failed: $out"; return 1; }
}

keystone__state() {
    printf 'port=%s backend=%s version=%s dir=%s script=%s\n' "$K_PORT" "$K_BACKEND" "$K_VERSION" \
        "$TESTENV_DIR" "$(cksum <"${BASH_SOURCE[0]}" | cut -d' ' -f1)"
}

keystone__reusable() {
    [[ -f $KEYSTONE_DIR/state && $(<"$KEYSTONE_DIR/state") == "$(keystone__state)" ]] || return 1
    local pid
    pid=$(cat "$K_RUN/gunicorn.pid" 2>/dev/null) || return 1
    testenv_pid_is "$pid" "$KEYSTONE_DIR" || return 1
    keystone__token_ok
}

# Start gunicorn and wait; on failure say why and stop.
keystone__start() {
    keystone__spawn
    local rc=0
    keystone__wait_ready 90 || rc=$?
    case $rc in
        0) return 0 ;;
        2) testenv_log "keystone: gunicorn exited during start-up" ;;
        *) testenv_log "keystone: no token from $K_URL within 90 s" ;;
    esac
    return 1
}

# ---- entry points ------------------------------------------------------------------

keystone_up() {
    keystone__settings
    keystone__install
    mkdir -p "$KEYSTONE_DIR"
    keystone__password
    keystone__backend
    local how
    if keystone__reusable; then
        how=reused
    else
        keystone__stop
        if ss -Hltn "sport = :$K_PORT" | grep -q .; then
            testenv_die "keystone: port $K_PORT is taken by another process (see ss -ltnp); set KEYSTONE_PORT"
        fi
        keystone__write_files
        how=
        if keystone__snapshot_valid; then
            if keystone__snapshot_restore && keystone__start; then
                how="restored from snapshot"
            else
                testenv_log "keystone: snapshot restore did not give a working Keystone; bootstrapping from scratch"
                keystone__stop
                rm -rf "$K_SNAP"
            fi
        fi
        if [[ -z $how ]]; then
            keystone__bootstrap
            keystone__snapshot_save
            keystone__start || keystone__fail "Keystone did not come up"
            how=bootstrapped
        fi
        keystone__cli_check || keystone__fail "the OpenStack client cannot get a token"
        keystone__state >"$KEYSTONE_DIR/state"
    fi
    {
        printf '# keystone: Keystone %s on 127.0.0.1:%s, %s database (scripts/testenv/services/keystone.sh)\n' \
            "$K_VERSION" "$K_PORT" "$K_BACKEND"
        printf 'keystone: { auth_url: %s, username: admin, password: { file: %s },\n' "$K_URL" "$K_PWFILE"
        printf '            project: admin, user_domain: Default, project_domain: Default, region_name: RegionOne }\n'
    } | testenv_region_put "$KEYSTONE_FRAGMENT"
    # shellcheck disable=SC2034  # read by scripts/testenv/up
    TESTENV_SUMMARY="keystone $K_URL ($K_BACKEND, $how)"
}

keystone_down() {
    keystone__paths
    keystone__stop
    testenv_region_drop "$KEYSTONE_FRAGMENT"
}
