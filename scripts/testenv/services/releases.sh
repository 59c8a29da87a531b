# shellcheck shell=bash
# Service "releases": one virtualenv per OpenStack release with the real projects
# (nova, cinder, glance, neutron, keystone; openstack-placement from Stein), installed
# from the Python package registry with the release's own pins, so that the library's
# db_sync steps run upstream code against the lab's MariaDB.
#
#   RELEASES="ocata pike"   which releases (default: every one below)
#   RELEASES_JOBS=N         builds at once (default 2 when 8 GiB are free, else 1)
#   RELEASES_HOST=NAME      the host the region's releases: entries name (default cmp001,
#                           the first host of service "hosts": it runs on this machine,
#                           so it sees the virtualenvs). Without service "hosts" (no
#                           region.d/10-hosts.yaml), default `tools`: a host of its own
#                           that runs its commands on this machine (an Ansible inventory
#                           .testenv/releases/inventory.ini, `ansible_connection=local`,
#                           fragment 15-releases-inventory, which owns `inventory`)
#   RELEASES_DB_PREFIX=P    the configs name databases P + nova, P + cinder, … (default
#                           empty: the lab's own databases, as service "mariadb" makes them)
#   FERRY_CACHE=DIR         where built virtualenvs are kept (default ~/.cache/ferry)
#
# Each release has scripts/testenv/releases/RELEASE.txt: pip constraints derived from
# openstack/requirements upper-constraints.txt at the release's -eol/-eom tag, trimmed
# to what the install uses, plus the projects' own versions (upper-constraints does
# not pin them). The virtualenv is built once per machine in
# $FERRY_CACHE/releases/RELEASE-HASH, HASH covering the constraints, the packages, the
# interpreter's version and the build recipe below; a changed file builds a new one,
# and any clone on the machine reuses it. Nothing is downloaded once it is built.
#
# Per clone, .testenv/releases/RELEASE/ holds:
#   venv -> the cached virtualenv (the real programs: venv/bin/nova-manage, …)
#   bin/ the release's programs, each a wrapper that adds --config-file with the file
#        below unless the caller gives its own (neutron's library commands do)
#   etc/nova/nova.conf, etc/cinder/cinder.conf, etc/glance/glance-api.conf,
#   etc/neutron/neutron.conf, etc/keystone/keystone.conf, etc/placement/placement.conf
#        [database] (and nova's [api_database]) on the lab's MariaDB, read from
#        .testenv/mariadb/ferry.cnf (host, port, user, password) when it is there
# Region fragment: .testenv/region.d/70-releases.yaml (owns `releases`):
#   releases: { ocata: { host: cmp001, venv: .testenv/releases/ocata }, … }
# so `<venv>/bin/<program>` is the wrapper. `down` drops the fragment and keeps the
# virtualenvs (the cache outlives the clone; delete $FERRY_CACHE/releases to rebuild).

RELEASES_DIR="$TESTENV_DIR/releases"
RELEASES_FRAGMENT=70-releases
RELEASES_INVENTORY_FRAGMENT=15-releases-inventory
RELEASES_FILES="$TESTENV_SCRIPTS/releases"
RELEASES_ALL=(ocata pike queens rocky 2023.1 2024.1)
# Bump when the way a virtualenv is built changes: every cached one is rebuilt.
RELEASES_RECIPE=1

# ---- what each release installs ------------------------------------------------------

# releases__spec RELEASE -> R_PYTHON (pyenv minor version), R_PACKAGES (names; their
# versions are in the constraint file), R_BOOT (pip, setuptools and wheel for the
# virtualenv itself), R_PROGRAMS (the manage programs the build must have produced;
# every nova-*, cinder-*, … program of the virtualenv gets a wrapper).
#
# Not on the registry (checked with `pip index versions`): glance 14.x (Ocata) and 16.x
# (Queens), keystone 11.x (Ocata). Ocata's walk starts those two at Pike's code; the
# Queens step of Glance is Rocky's glance (17.0.1), which carries the Queens migrations.
# Pins replaced: Ocata's cryptography 1.7.1 (an sdist; it does not compile against
# Debian 12's OpenSSL 3: `_openssl.c: error: void value not ignored`) by Pike's 2.0.2,
# whose cp36 manylinux1 wheel carries its own OpenSSL.
releases__spec() {
    local legacy=(pip==21.3.1 setuptools==45.3.0 wheel==0.37.1) # setuptools < 46: MarkupSafe 1.0 imports Feature; < 58: suds-jurko
    case $1 in
        ocata)  R_PYTHON=3.6;  R_PACKAGES=(nova cinder neutron PyMySQL) ;;
        pike)   R_PYTHON=3.6;  R_PACKAGES=(nova cinder glance neutron keystone PyMySQL) ;;
        queens) R_PYTHON=3.6;  R_PACKAGES=(nova cinder neutron keystone PyMySQL) ;;
        rocky)  R_PYTHON=3.6;  R_PACKAGES=(nova cinder glance neutron keystone PyMySQL) ;;
        2023.1) R_PYTHON=3.10; R_PACKAGES=(nova cinder glance neutron keystone openstack-placement PyMySQL) ;;
        2024.1) R_PYTHON=3.11; R_PACKAGES=(nova cinder glance neutron keystone openstack-placement PyMySQL) ;;
        *) testenv_usage_error "releases: unknown release '$1' (known: ${RELEASES_ALL[*]})" ;;
    esac
    if [[ $R_PYTHON == 3.6 ]]; then
        R_BOOT=("${legacy[@]}")
        R_RESOLVER=(--use-deprecated=legacy-resolver) # every version is pinned: no backtracking
    else
        R_BOOT=(pip==23.3.2 setuptools==69.5.1 wheel==0.43.0)
        R_RESOLVER=()
    fi
    R_PROGRAMS=()
    local p
    for p in "${R_PACKAGES[@]}"; do
        case $p in
            nova) R_PROGRAMS+=(nova-manage) ;;
            cinder) R_PROGRAMS+=(cinder-manage) ;;
            glance) R_PROGRAMS+=(glance-manage) ;;
            neutron) R_PROGRAMS+=(neutron-db-manage) ;;
            keystone) R_PROGRAMS+=(keystone-manage) ;;
            openstack-placement) R_PROGRAMS+=(placement-manage) ;;
        esac
    done
}

# The project whose config a program reads: nova-manage -> nova.
releases__project() {
    case $1 in
        nova-*) echo nova ;; cinder-*) echo cinder ;; glance-*) echo glance ;;
        neutron-*) echo neutron ;; keystone-*) echo keystone ;; placement-*) echo placement ;;
        *) return 1 ;;
    esac
}

releases__conf_name() { # PROJECT -> the file under etc/PROJECT/
    case $1 in glance) echo glance-api.conf ;; *) echo "$1.conf" ;; esac
}

# ---- settings ------------------------------------------------------------------------

releases__settings() {
    local r
    read -r -a R_LIST <<<"${RELEASES:-${RELEASES_ALL[*]}}"
    ((${#R_LIST[@]})) || testenv_usage_error "RELEASES is empty"
    for r in "${R_LIST[@]}"; do releases__spec "$r"; done
    R_OWN_HOST=0
    if [[ -z ${RELEASES_HOST:-} && ! -f $TESTENV_REGION_D/10-hosts.yaml ]]; then R_OWN_HOST=1; fi
    R_HOST=${RELEASES_HOST:-cmp001}
    ((R_OWN_HOST)) && R_HOST=tools
    [[ $R_HOST =~ ^[A-Za-z0-9._-]+$ ]] || testenv_usage_error "RELEASES_HOST must be a host name, got '$R_HOST'"
    R_DB_PREFIX=${RELEASES_DB_PREFIX:-}
    [[ $R_DB_PREFIX =~ ^[A-Za-z0-9_]*$ ]] || testenv_usage_error "RELEASES_DB_PREFIX: letters, digits and _ only, got '$R_DB_PREFIX'"
    R_CACHE="${FERRY_CACHE:-$HOME/.cache/ferry}/releases"
    case "$R_CACHE" in
        *[[:space:]\"\'\\]*) testenv_die "FERRY_CACHE must not contain spaces or quotes: $R_CACHE" ;;
        /*) ;;
        *) testenv_die "FERRY_CACHE must be an absolute path: $R_CACHE" ;;
    esac
    R_JOBS=${RELEASES_JOBS:-}
    if [[ -z $R_JOBS ]]; then
        local avail
        avail=$(awk '/^MemAvailable:/ { print int($2 / 1048576) }' /proc/meminfo)
        # A build peaks at well under 1 GiB; two at once fill both cores.
        if ((avail >= 8)); then R_JOBS=2; else R_JOBS=1; fi
    fi
    [[ $R_JOBS =~ ^[1-9][0-9]*$ ]] || testenv_usage_error "RELEASES_JOBS must be a positive integer, got '$R_JOBS'"
}

# ---- interpreters ----------------------------------------------------------------------

# releases__python 3.6 -> the newest ~/.pyenv/versions/3.6.x/bin/python3.6 (REPLY).
releases__python() {
    local minor=$1 root="${PYENV_ROOT:-$HOME/.pyenv}/versions" best="" v
    for v in "$root/$minor".*; do
        [[ -x $v/bin/python$minor ]] || continue
        [[ ${v##*/} =~ ^$minor\.[0-9]+$ ]] || continue
        if [[ -z $best ]] || [[ $(printf '%s\n%s\n' "${best##*/}" "${v##*/}" | sort -V | tail -n1) == "${v##*/}" ]]; then best=$v; fi
    done
    [[ -n $best ]] || return 1
    REPLY="$best/bin/python$minor"
}

# The cache key of a release: constraints, packages, bootstrap pins, interpreter
# version and recipe. Sets R_PY, R_KEY, R_VENV (the cached virtualenv).
releases__key() {
    local r=$1 constraints="$RELEASES_FILES/$1.txt" pyver
    releases__spec "$r"
    [[ -f $constraints ]] || testenv_die "releases: no constraint file $constraints"
    releases__python "$R_PYTHON" ||
        testenv_die "releases: $r needs Python $R_PYTHON from pyenv (${PYENV_ROOT:-$HOME/.pyenv}/versions/$R_PYTHON.*); none is installed"
    R_PY=$REPLY
    pyver=$("$R_PY" -c 'import sys; print(sys.version.split()[0])') || testenv_die "releases: $R_PY does not run"
    R_KEY=$({
        printf 'recipe=%s python=%s packages=%s boot=%s resolver=%s\n' "$RELEASES_RECIPE" "$pyver" \
            "${R_PACKAGES[*]}" "${R_BOOT[*]}" "${R_RESOLVER[*]}"
        cat "$constraints"
    } | sha256sum | cut -c1-12)
    R_VENV="$R_CACHE/$r-py$pyver-$R_KEY"
}

# ---- building --------------------------------------------------------------------------

# Builds RELEASE's virtualenv in the cache unless a complete one is there. Runs in a
# subshell of its own (set -e applies); the log is $R_VENV.log. Under a per-release
# lock, so two clones building at once do not both build.
releases__build() {
    local r=$1
    releases__key "$r"
    mkdir -p "$R_CACHE"
    exec 8>"$R_CACHE/.$r.lock"
    flock -w 3600 8 || { echo "timed out waiting for $R_CACHE/.$r.lock"; return 1; }
    if [[ -f $R_VENV/.ferry-complete ]]; then
        exec 8>&-
        return 0
    fi
    local log="$R_VENV.log" start=$SECONDS
    rm -rf "$R_VENV"
    releases__build_steps "$r" >"$log" 2>&1 || { echo "building $r failed: see $log"; tail -n 15 "$log"; return 1; }
    echo "$((SECONDS - start))" >"$R_VENV/.ferry-build-seconds"
    touch "$R_VENV/.ferry-complete"
    exec 8>&-
}

# The build itself, each command checked (set -e does not reach into a function
# called under ||).
releases__build_steps() {
    local r=$1 p
    echo "# $r: building $R_VENV with $R_PY ($(date -u +%FT%TZ))"
    # No version check, no input; the user's pip.conf is kept (certificates).
    export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1
    "$R_PY" -m venv "$R_VENV" || return 1
    "$R_VENV/bin/python" -m pip install -q "${R_BOOT[@]}" || return 1
    "$R_VENV/bin/python" -m pip install "${R_RESOLVER[@]}" -c "$RELEASES_FILES/$r.txt" "${R_PACKAGES[@]}" || return 1
    for p in "${R_PROGRAMS[@]}"; do
        [[ -x $R_VENV/bin/$p ]] || { echo "$r: $p is missing from $R_VENV/bin"; return 1; }
    done
    "$R_VENV/bin/python" -m pip freeze >"$R_VENV/.ferry-freeze" || return 1
}

# Builds every missing virtualenv, R_JOBS at a time. Sets R_BUILT (names built now).
releases__build_all() {
    local r missing=() pids=() names=() failed=() i
    R_BUILT=()
    for r in "${R_LIST[@]}"; do
        releases__key "$r"
        [[ -f $R_VENV/.ferry-complete ]] || missing+=("$r")
    done
    ((${#missing[@]})) || return 0
    testenv_log "releases: building ${missing[*]} in $R_CACHE ($R_JOBS at a time; the first build takes minutes, later ones reuse it)"
    for r in "${missing[@]}"; do
        while ((${#pids[@]} >= R_JOBS)); do
            wait "${pids[0]}" || failed+=("${names[0]}")
            pids=("${pids[@]:1}"); names=("${names[@]:1}")
        done
        # 9>&-: fd 9 holds the testenv lock; a build does not need it.
        ( set -euo pipefail; releases__build "$r" ) 9>&- &
        pids+=($!); names+=("$r")
    done
    for i in "${!pids[@]}"; do wait "${pids[i]}" || failed+=("${names[i]}"); done
    ((${#failed[@]} == 0)) || testenv_die "releases: could not build ${failed[*]} (logs in $R_CACHE)"
    R_BUILT=("${missing[@]}")
}

# ---- per-clone files -------------------------------------------------------------------

# The lab MariaDB as service "mariadb" writes it (.testenv/mariadb/ferry.cnf), else its
# defaults. Sets R_DB_HOST R_DB_PORT R_DB_USER R_DB_PASSWORD.
releases__database() {
    local cnf="$TESTENV_DIR/mariadb/ferry.cnf" k v
    R_DB_HOST=127.0.0.1 R_DB_PORT=${MARIADB_PORT:-23306} R_DB_USER=ferry R_DB_PASSWORD=ferry-test-pw
    [[ -f $cnf ]] || return 0
    while IFS='=' read -r k v; do
        case $k in
            host) R_DB_HOST=$v ;; port) R_DB_PORT=$v ;; user) R_DB_USER=$v ;; password) R_DB_PASSWORD=$v ;;
        esac
    done <"$cnf"
}

releases__url() { # DATABASE
    printf 'mysql+pymysql://%s:%s@%s:%s/%s%s?charset=utf8' "$R_DB_USER" "$R_DB_PASSWORD" "$R_DB_HOST" "$R_DB_PORT" "$R_DB_PREFIX" "$1"
}

# releases__write_conf PROJECT FILE: the minimal config each manage program needs.
releases__write_conf() {
    local project=$1 file=$2
    mkdir -p "$(dirname "$file")"
    : >"$file.tmp"
    chmod 600 "$file.tmp" # holds the database password
    {
        printf '# Generated by scripts/testenv/up (services/releases.sh). Do not edit.\n'
        printf '[DEFAULT]\nuse_stderr = true\n'
        case $project in
            nova)
                # Only stored in the cell mappings by cell_v2 simple_cell_setup / create_cell;
                # nothing connects to it during the database commands.
                printf 'transport_url = rabbit://ferry:ferry@127.0.0.1:25673/\n'
                printf '\n[api_database]\nconnection = %s\n' "$(releases__url nova_api)"
                printf '\n[database]\nconnection = %s\n' "$(releases__url nova)"
                printf '\n[placement_database]\nconnection = %s\n' "$(releases__url placement)"
                ;;
            neutron)
                printf 'core_plugin = ml2\n'
                printf '\n[database]\nconnection = %s\n' "$(releases__url neutron)"
                ;;
            *)
                printf '\n[database]\nconnection = %s\n' "$(releases__url "$project")"
                ;;
        esac
    } >>"$file.tmp"
    mv -f "$file.tmp" "$file"
}

# releases__wrapper PROGRAM PROJECT: bin/PROGRAM runs venv/bin/PROGRAM with this
# release's config unless the caller names a config itself.
releases__wrapper() {
    local program=$1 project=$2 dir=$R_RDIR conf
    conf="$dir/etc/$project/$(releases__conf_name "$project")"
    cat >"$dir/bin/$program.tmp" <<EOF
#!/bin/sh
# Generated by scripts/testenv/up (services/releases.sh): $R_NAME's $program with the
# lab's config ($conf), unless the command line names a config of its own.
case " \$* " in
    *" --config-file "* | *" --config-file="* | *" --config-dir "* | *" --config-dir="*)
        exec "$dir/venv/bin/$program" "\$@" ;;
esac
exec "$dir/venv/bin/$program" --config-file "$conf" "\$@"
EOF
    chmod 755 "$dir/bin/$program.tmp"
    mv -f "$dir/bin/$program.tmp" "$dir/bin/$program"
}

releases__link() { # RELEASE: .testenv/releases/RELEASE/{venv,bin,etc}
    local r=$1 p project
    releases__key "$r"
    R_NAME=$r
    R_RDIR="$RELEASES_DIR/$r"
    mkdir -p "$R_RDIR/bin"
    ln -sfn "$R_VENV" "$R_RDIR/venv"
    rm -f "$R_RDIR/bin/"* 2>/dev/null || true
    for p in "${R_PACKAGES[@]}"; do
        project=${p#openstack-}
        case $project in nova | cinder | glance | neutron | keystone | placement) ;; *) continue ;; esac
        releases__write_conf "$project" "$R_RDIR/etc/$project/$(releases__conf_name "$project")"
    done
    for p in "$R_VENV"/bin/*; do
        p=${p##*/}
        project=$(releases__project "$p") || continue
        releases__wrapper "$p" "$project"
    done
    ln -sfn "$R_RDIR/venv/bin/python" "$R_RDIR/bin/python"
}

releases__region_fragment() {
    local r
    if ((R_OWN_HOST)); then
        # No lab hosts: the tools run on this machine, as a host of their own.
        printf '# Generated by scripts/testenv/up (services/releases.sh): the host of the releases: entries.\n[releases]\n%s ansible_connection=local\n' \
            "$R_HOST" >"$RELEASES_DIR/inventory.ini"
        printf '# The releases service'"'"'s own host (no service "hosts"): its commands run on this machine.\ninventory:\n  ansible: %s\n' \
            "$RELEASES_DIR/inventory.ini" | testenv_region_put "$RELEASES_INVENTORY_FRAGMENT"
    else
        testenv_region_drop "$RELEASES_INVENTORY_FRAGMENT"
    fi
    {
        printf '# releases: one virtualenv per release, from the registry (scripts/testenv/services/releases.sh);\n'
        printf '# <venv>/bin/<program> runs the real program with .testenv/releases/<release>/etc/.\n'
        printf 'releases:\n'
        for r in "${R_LIST[@]}"; do
            printf '  "%s": { host: %s, venv: %s }\n' "$r" "$R_HOST" "$RELEASES_DIR/$r"
        done
    } | testenv_region_put "$RELEASES_FRAGMENT"
}

# ---- entry points ------------------------------------------------------------------------

releases_up() {
    releases__settings
    local start=$SECONDS r
    releases__build_all
    releases__database
    # Releases no longer asked for leave .testenv/releases (their cache stays).
    if [[ -d $RELEASES_DIR ]]; then
        local d keep
        for d in "$RELEASES_DIR"/*; do
            [[ -e $d || -L $d ]] || continue
            keep=0
            for r in "${R_LIST[@]}"; do [[ ${d##*/} == "$r" ]] && keep=1; done
            ((keep)) || rm -rf "$d"
        done
    fi
    for r in "${R_LIST[@]}"; do releases__link "$r"; done
    releases__region_fragment
    local how="cached"
    ((${#R_BUILT[@]})) && how="built ${R_BUILT[*]} in $((SECONDS - start)) s"
    # shellcheck disable=SC2034  # read by scripts/testenv/up
    TESTENV_SUMMARY="releases ${R_LIST[*]} ($how; $R_CACHE)"
}

releases_down() {
    rm -rf "$RELEASES_DIR"
    testenv_region_drop "$RELEASES_FRAGMENT"
    testenv_region_drop "$RELEASES_INVENTORY_FRAGMENT"
}
