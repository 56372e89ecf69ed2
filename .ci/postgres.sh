# shellcheck shell=bash
# Start a throwaway PostgreSQL 15 cluster for the database tests and export
# STOREFRONT_TEST_DATABASE_URL. CI sources this file (". .ci/postgres.sh") before "make test",
# so it must not "exit" and must leave the caller's shell options alone.
#
# The cluster lives under a fresh /tmp directory, listens only on 127.0.0.1 on a free port,
# trusts local connections (it holds nothing but test data), and is stopped when the shell
# that sourced this file exits. Postgres refuses to run as root, so as root the cluster is
# owned by the "postgres" system user.

storefront_pg_main() {
    local pg_bin="${STOREFRONT_PG_BIN:-/usr/lib/postgresql/15/bin}"
    if [ ! -x "$pg_bin/initdb" ]; then
        if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
            echo "postgres.sh: installing postgresql-15 (Debian)" >&2
            DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql-15 >/dev/null || {
                apt-get update -q >/dev/null && \
                DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql-15 >/dev/null
            } || { echo "postgres.sh: could not install postgresql-15. Fix: apt-get install postgresql-15" >&2; return 1; }
        else
            echo "postgres.sh: $pg_bin/initdb not found. Fix: apt-get install postgresql-15 (or set STOREFRONT_PG_BIN)" >&2
            return 1
        fi
    fi

    # Commands that touch the cluster run as its owner: "postgres" when we are root.
    local run_as=()
    if [ "$(id -u)" = "0" ]; then
        id postgres >/dev/null 2>&1 || useradd --system --home-dir /nonexistent --shell /usr/sbin/nologin postgres
        run_as=(runuser -u postgres --)
    fi

    local dir
    dir="$(mktemp -d /tmp/storefront-pg.XXXXXX)" || return 1
    chmod 0755 "$dir"
    [ "$(id -u)" = "0" ] && chown postgres "$dir"

    # A free port: ask the kernel for one, then hand it to postgres (a race is possible but
    # harmless here: pg_ctl fails loudly and CI is rerun).
    local port
    port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')" || return 1

    "${run_as[@]}" "$pg_bin/initdb" -D "$dir/data" -U storefront --auth=trust --encoding=UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 \
        || { echo "postgres.sh: initdb failed, see $dir/initdb.log" >&2; return 1; }
    "${run_as[@]}" "$pg_bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 30 \
        -o "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$dir -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
        start >/dev/null \
        || { echo "postgres.sh: server did not start, see $dir/server.log" >&2; return 1; }
    "$pg_bin/createdb" -h 127.0.0.1 -p "$port" -U storefront storefront_test \
        || { echo "postgres.sh: createdb failed" >&2; return 1; }

    export STOREFRONT_PG_DIR="$dir"
    export STOREFRONT_TEST_DATABASE_URL="postgresql://storefront@127.0.0.1:$port/storefront_test"
    # shellcheck disable=SC2064
    trap "$(printf '%q ' "${run_as[@]}" "$pg_bin/pg_ctl" -D "$dir/data" -m immediate stop) >/dev/null 2>&1; rm -rf $(printf '%q' "$dir")" EXIT
    echo "postgres.sh: PostgreSQL 15 on 127.0.0.1:$port ($dir)" >&2
}

storefront_pg_main
unset -f storefront_pg_main
