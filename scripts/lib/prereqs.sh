# shellcheck shell=bash
# Local prerequisites shared by scripts/dev and scripts/test: the Rust toolchain and the three
# servers the services talk to (Postgres, Redis, RabbitMQ, and clamd for media's scans).
#
# Source this file, then call `df_ensure_prereqs`. For each server it
#   1. does nothing when its port already answers (never restarts a working server);
#   2. otherwise starts the locally installed server, installing it first with apt-get when
#      running as root on Debian/Ubuntu;
#   3. otherwise starts it with `docker compose` when a Docker engine answers;
#   4. otherwise says exactly what is missing and how to get it, and exits 1.
# One exception to 1: a local RabbitMQ whose port is open but which does not answer the AMQP
# protocol header within the wait is hung, and is restarted (as root only).
#
# Settings (environment):
#   DF_PREREQ_WAIT_SECS  how long to wait for a server to come up (default 60)
#   DF_SKIP_PREREQS=1    skip the server checks (servers managed elsewhere)

DF_PG_HOST=127.0.0.1
DF_PG_PORT=5432
DF_REDIS_PORT=6379
DF_AMQP_PORT=5672
DF_CLAMD_PORT=${DF_CLAMD_PORT:-3310}
DF_IDENTITY_DB=df_identity
DF_PAYMENTS_DB=df_payments
DF_MEDIA_DB=df_media
# psql and createdb give up on a server that does not answer instead of hanging.
export PGCONNECT_TIMEOUT=${PGCONNECT_TIMEOUT:-5}

# Whether `apt-get update` already ran in this process.
_df_apt_updated=0

df_repo_root() {
    local here
    here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
    (cd "$here/../.." && pwd)
}

df_log() { printf '==> %s\n' "$*" >&2; }
df_warn() { printf 'warning: %s\n' "$*" >&2; }
df_die() {
    printf 'error: %s\n' "$*" >&2
    exit 1
}

# True when something accepts TCP connections on 127.0.0.1:$1. Loopback connects either succeed
# or are refused at once, so no timeout is needed.
df_port_open() {
    local port=$1 fd
    { exec {fd}<>"/dev/tcp/127.0.0.1/$port"; } 2>/dev/null || return 1
    exec {fd}<&-
}

# Waits (bounded) until `$2...` succeeds; $1 names the thing for messages.
df_wait_for() {
    local what=$1
    shift
    local deadline=$((SECONDS + ${DF_PREREQ_WAIT_SECS:-60}))
    until "$@"; do
        if ((SECONDS >= deadline)); then
            df_die "$what did not come up within ${DF_PREREQ_WAIT_SECS:-60}s"
        fi
        sleep 1
    done
}

# CI systems set CI=true (some CI=1).
df_in_ci() { [[ ${CI:-} == true || ${CI:-} == 1 ]]; }

# Like df_wait_for, but returns 1 on time-out so the caller can explain what is wrong.
df_wait_for_quietly() {
    local deadline=$((SECONDS + ${DF_PREREQ_WAIT_SECS:-60}))
    until "$@"; do
        ((SECONDS < deadline)) || return 1
        sleep 1
    done
}

df_is_root() { [[ $(id -u) -eq 0 ]]; }

df_is_debian_like() { [[ -f /etc/debian_version ]] && command -v apt-get >/dev/null 2>&1; }

df_can_apt_install() { df_is_root && df_is_debian_like; }

df_docker_works() { command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; }

df_apt_install() {
    if ((_df_apt_updated == 0)); then
        df_log "apt-get update"
        DEBIAN_FRONTEND=noninteractive apt-get update -qq
        _df_apt_updated=1
    fi
    df_log "apt-get install $*"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@"
}

df_compose_up() {
    local service=$1
    df_log "starting $service with docker compose"
    (cd "$(df_repo_root)" && docker compose up -d "$service")
}

# Prints how to provide a missing server, then exits 1.
df_missing_server() {
    local name=$1 port=$2 package=$3
    cat >&2 <<EOF
error: $name is not answering on 127.0.0.1:$port, and this script cannot start it
       (not root on Debian/Ubuntu, and no Docker engine answers \`docker info\`).
Provide it in one of these ways, then run this script again:
  - install and start it yourself:  sudo apt-get install -y $package
  - or start the whole local infrastructure with Docker:  docker compose up -d postgres redis rabbitmq
EOF
    exit 1
}

# --- Postgres ---------------------------------------------------------------------------------

df_pg_cluster_version() {
    local versions
    versions=$(ls /etc/postgresql 2>/dev/null || true)
    [[ -n $versions ]] || return 1
    # Several installed major versions: the newest one runs.
    printf '%s\n' "$versions" | sort -V | tail -n 1
}

df_pg_start_local() {
    local version
    version=$(df_pg_cluster_version) || return 1
    df_log "starting PostgreSQL $version (cluster main)"
    pg_ctlcluster --skip-systemctl-redirect "$version" main start
}

# A fresh Debian install only trusts Unix-socket peers; the services connect as postgres over
# TCP without a password, as on the development and CI machines, so trust loopback TCP. This runs
# only for a cluster this script itself installed.
df_pg_trust_loopback() {
    local version hba
    version=$(df_pg_cluster_version) || return 1
    hba=/etc/postgresql/$version/main/pg_hba.conf
    [[ -f $hba ]] || return 1
    if ! grep -q '^host all all 127.0.0.1/32 trust' "$hba"; then
        df_log "allowing passwordless loopback TCP in $hba"
        local tmp
        tmp=$(mktemp)
        {
            echo '# local development: loopback TCP without a password'
            echo 'host all all 127.0.0.1/32 trust'
            echo 'host all all ::1/128 trust'
            cat "$hba"
        } >"$tmp"
        cat "$tmp" >"$hba"
        rm -f "$tmp"
    fi
}

df_pg_ready() {
    psql -h "$DF_PG_HOST" -p "$DF_PG_PORT" -U postgres -d postgres -Atqc 'SELECT 1' >/dev/null 2>&1
}

df_ensure_postgres() {
    if ! df_port_open "$DF_PG_PORT"; then
        if df_is_root && command -v pg_ctlcluster >/dev/null 2>&1 && df_pg_cluster_version >/dev/null; then
            df_pg_start_local
        elif df_can_apt_install; then
            df_apt_install postgresql
            df_pg_trust_loopback
            # Where services may start on install, the package has started the cluster already.
            if df_port_open "$DF_PG_PORT"; then
                pg_ctlcluster --skip-systemctl-redirect "$(df_pg_cluster_version)" main reload
            else
                df_pg_start_local
            fi
        elif df_docker_works; then
            df_compose_up postgres
        else
            df_missing_server PostgreSQL "$DF_PG_PORT" postgresql
        fi
        df_wait_for "PostgreSQL on 127.0.0.1:$DF_PG_PORT" df_port_open "$DF_PG_PORT"
    fi
    if ! command -v psql >/dev/null 2>&1; then
        if df_can_apt_install; then
            df_apt_install postgresql-client
        else
            df_die "psql is missing: install the PostgreSQL client (sudo apt-get install -y postgresql-client)"
        fi
    fi
    # The port can open a moment before the server accepts queries.
    if ! DF_PREREQ_WAIT_SECS=${DF_PREREQ_WAIT_SECS:-20} df_wait_for_quietly df_pg_ready; then
        df_die "PostgreSQL answers on $DF_PG_HOST:$DF_PG_PORT, but user postgres cannot connect over TCP without a password. Allow it for loopback in pg_hba.conf ('host all all 127.0.0.1/32 trust'), or export PGPASSWORD and set DF_DATABASE__URL to match."
    fi
    df_ensure_database "$DF_IDENTITY_DB"
    df_ensure_database "$DF_PAYMENTS_DB"
    df_ensure_database "$DF_MEDIA_DB"
    df_log "PostgreSQL ready on $DF_PG_HOST:$DF_PG_PORT"
}

df_ensure_database() {
    local db=$1
    if ! psql -h "$DF_PG_HOST" -p "$DF_PG_PORT" -U postgres -d postgres -Atqc \
        "SELECT 1 FROM pg_database WHERE datname = '$db'" | grep -q 1; then
        df_log "creating database $db"
        # Another process may create it at the same moment; only a still-missing database is fatal.
        createdb -h "$DF_PG_HOST" -p "$DF_PG_PORT" -U postgres "$db" 2>/dev/null ||
            psql -h "$DF_PG_HOST" -p "$DF_PG_PORT" -U postgres -d postgres -Atqc \
                "SELECT 1 FROM pg_database WHERE datname = '$db'" | grep -q 1 ||
            df_die "could not create database $db"
    fi
}

# --- Redis ------------------------------------------------------------------------------------

df_redis_start_local() {
    df_log "starting redis-server"
    mkdir -p /var/lib/redis /var/log/redis
    redis-server --daemonize yes --bind 127.0.0.1 -::1 --port "$DF_REDIS_PORT" --save "" \
        --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log
}

# Answers PING with PONG (not merely an open port).
df_redis_ready() {
    local fd line=
    { exec {fd}<>"/dev/tcp/127.0.0.1/$DF_REDIS_PORT"; } 2>/dev/null || return 1
    printf 'PING\r\n' >&"$fd"
    IFS= read -r -t 3 line <&"$fd" || true
    exec {fd}<&-
    [[ $line == +PONG* ]]
}

df_ensure_redis() {
    if ! df_port_open "$DF_REDIS_PORT"; then
        if df_is_root && command -v redis-server >/dev/null 2>&1; then
            df_redis_start_local
        elif df_can_apt_install; then
            df_apt_install redis-server
            # The package may have started one already.
            df_port_open "$DF_REDIS_PORT" || df_redis_start_local
        elif df_docker_works; then
            df_compose_up redis
        else
            df_missing_server Redis "$DF_REDIS_PORT" redis-server
        fi
    fi
    df_wait_for "Redis on 127.0.0.1:$DF_REDIS_PORT" df_redis_ready
    df_log "Redis ready on 127.0.0.1:$DF_REDIS_PORT"
}

# The tests of Redis over TLS start a TLS-only redis-server of their own (with a certificate
# they make), so the binary must be here even when the machine's Redis runs elsewhere.
df_ensure_redis_server_binary() {
    command -v redis-server >/dev/null 2>&1 && return 0
    if df_can_apt_install; then
        df_apt_install redis-server
    else
        df_die "redis-server is missing: the TLS tests start their own (sudo apt-get install -y redis-server)"
    fi
}

# --- RabbitMQ ---------------------------------------------------------------------------------

# The broker is up when it answers an AMQP 0-9-1 protocol header with a method frame
# (Connection.Start); an open port alone can belong to a node that is still booting.
df_amqp_ready() {
    local fd frame_type=
    { exec {fd}<>"/dev/tcp/127.0.0.1/$DF_AMQP_PORT"; } 2>/dev/null || return 1
    printf 'AMQP\x00\x00\x09\x01' >&"$fd"
    IFS= read -r -t 3 -N 1 frame_type <&"$fd" || true
    exec {fd}<&-
    [[ $frame_type == $'\x01' ]]
}

df_ensure_rabbitmq() {
    if ! df_port_open "$DF_AMQP_PORT"; then
        if df_is_root && command -v rabbitmq-server >/dev/null 2>&1; then
            df_log "starting rabbitmq-server"
            rabbitmq-server -detached
        elif df_can_apt_install; then
            df_apt_install rabbitmq-server
            df_port_open "$DF_AMQP_PORT" || rabbitmq-server -detached
        elif df_docker_works; then
            df_compose_up rabbitmq
        else
            df_missing_server RabbitMQ "$DF_AMQP_PORT" rabbitmq-server
        fi
    fi
    if ! df_wait_for_quietly df_amqp_ready; then
        # The port is open but nothing answers the protocol header: the node is hung (seen
        # with an Erlang VM whose CLI and distribution no longer answered). Only a node this
        # machine runs itself can be restarted; anything else is reported.
        if df_is_root && command -v rabbitmq-server >/dev/null 2>&1; then
            df_restart_rabbitmq_local
        fi
        df_wait_for "RabbitMQ (AMQP) on 127.0.0.1:$DF_AMQP_PORT" df_amqp_ready
    fi
    df_log "RabbitMQ ready on 127.0.0.1:$DF_AMQP_PORT"
}

# Stops the local RabbitMQ node, politely first and by signal if it does not answer, then
# starts it again. The signal goes to the pid the node recorded in its own pid file, never to
# processes found by name.
df_restart_rabbitmq_local() {
    df_log "RabbitMQ on 127.0.0.1:$DF_AMQP_PORT does not answer AMQP: restarting the local node"
    timeout 30 rabbitmqctl stop >/dev/null 2>&1 || true
    local pid_file pid signal
    for pid_file in "${RABBITMQ_PID_FILE:-}" /var/lib/rabbitmq/mnesia/*.pid; do
        [[ -n $pid_file && -f $pid_file ]] || continue
        pid=$(tr -dc '0-9' <"$pid_file")
        [[ -n $pid ]] || continue
        for signal in TERM KILL; do
            kill -0 "$pid" 2>/dev/null || break
            kill "-$signal" "$pid" 2>/dev/null || true
            DF_PREREQ_WAIT_SECS=15 df_wait_for_quietly df_process_gone "$pid" || true
        done
    done
    rabbitmq-server -detached
}

df_process_gone() { ! kill -0 "$1" 2>/dev/null; }

# --- Rust -------------------------------------------------------------------------------------

df_ensure_rust() {
    if ! command -v cargo >/dev/null 2>&1; then
        [[ -x $HOME/.cargo/bin/cargo ]] && export PATH="$HOME/.cargo/bin:$PATH"
    fi
    command -v cargo >/dev/null 2>&1 ||
        df_die "cargo is missing: install the Rust toolchain (https://rustup.rs), then open a new shell"
}

# cargo-nextest is preferred when installed (per-test processes and timeouts).
df_has_nextest() { cargo nextest --version >/dev/null 2>&1; }

# rustfmt and clippy, needed by the checks in scripts/test.
df_ensure_rust_components() {
    local component
    for component in rustfmt clippy; do
        local probe=(cargo fmt --version)
        [[ $component == clippy ]] && probe=(cargo clippy --version)
        if ! "${probe[@]}" >/dev/null 2>&1; then
            if command -v rustup >/dev/null 2>&1; then
                df_log "rustup component add $component"
                rustup component add "$component" ||
                    df_die "$component is missing and rustup could not install it"
            else
                df_die "$component is missing: install it with your Rust toolchain (rustup component add $component)"
            fi
        fi
    done
}

# --- all --------------------------------------------------------------------------------------

# --- clamd (the malware scanner media uses) ------------------------------------------------------

# clamd is up when it answers PING with PONG.
df_clamd_ready() {
    local fd reply=
    { exec {fd}<>"/dev/tcp/127.0.0.1/$DF_CLAMD_PORT"; } 2>/dev/null || return 1
    printf 'zPING\0' >&"$fd"
    IFS= read -r -t 3 -d '' reply <&"$fd" || true
    exec {fd}<&-
    [[ $reply == PONG* ]]
}

# Starts clamd on 127.0.0.1:$DF_CLAMD_PORT unless one answers there. Its signature database is
# made here, not downloaded: the EICAR test file (by its MD5 and size, and as a byte pattern
# anywhere inside another file) and the project's own test marker. Production runs freshclam.
df_ensure_clamd() {
    df_clamd_ready && return 0
    if ! command -v clamd >/dev/null 2>&1; then
        if df_can_apt_install; then
            df_apt_install clamav-daemon
        else
            df_die "clamd is missing: media scans every upload with it (sudo apt-get install -y clamav-daemon)"
        fi
    fi
    local dir=${DF_CLAMD_DIR:-${TMPDIR:-/tmp}/directfanz-clamd}
    mkdir -p "$dir/db"
    local eicar='X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*'
    local marker='DIRECTFANZ-TEST-MALWARE-MARKER-7f3c'
    printf '%s:%s:DF-Test-Eicar-File\n' "$(printf '%s' "$eicar" | md5sum | cut -d' ' -f1)" \
        "${#eicar}" >"$dir/db/df-test.hdb"
    {
        printf 'DF-Test-Eicar-Inside:0:*:%s\n' "$(printf '%s' "$eicar" | od -An -tx1 | tr -d ' \n')"
        printf 'DF-Test-Marker:0:*:%s\n' "$(printf '%s' "$marker" | od -An -tx1 | tr -d ' \n')"
    } >"$dir/db/df-test.ndb"
    cat >"$dir/clamd.conf" <<EOF
Foreground no
DatabaseDirectory $dir/db
TCPSocket $DF_CLAMD_PORT
TCPAddr 127.0.0.1
PidFile $dir/clamd.pid
LogFile $dir/clamd.log
StreamMaxLength 2047M
MaxFileSize 2047M
MaxScanSize 2047M
AlertExceedsMax yes
EOF
    df_log "starting clamd on 127.0.0.1:$DF_CLAMD_PORT (test signatures only)"
    clamd -c "$dir/clamd.conf"
    df_wait_for "clamd" df_clamd_ready
}

# The S3-compatible server media's storage tests start on their own ports (test scripts only).
df_ensure_s3s_fs() {
    command -v s3s-fs >/dev/null 2>&1 && return 0
    df_log "installing s3s-fs (once): the S3-compatible server of the storage tests"
    cargo install s3s-fs@0.14.1 --locked --features binary
}

# ffmpeg makes video poster frames. Media runs without it (videos then have no poster); the
# tests need it to show the frames being made.
df_ensure_ffmpeg() {
    command -v ffmpeg >/dev/null 2>&1 && return 0
    if df_can_apt_install; then
        df_apt_install ffmpeg
    else
        df_die "ffmpeg is missing: the media tests make poster frames with it (sudo apt-get install -y ffmpeg)"
    fi
}

df_ensure_prereqs() {
    df_ensure_rust
    if [[ ${DF_SKIP_PREREQS:-0} == 1 ]]; then
        df_log "DF_SKIP_PREREQS=1: not checking Postgres, Redis and RabbitMQ"
        return 0
    fi
    df_ensure_postgres
    df_ensure_redis
    df_ensure_rabbitmq
    df_ensure_clamd
}
