# Shared by scripts/serve and scripts/test: install what is missing.
# Debian's packages only; as root, or through sudo.

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"
  elif command -v sudo >/dev/null 2>&1; then sudo "$@"
  else echo "error: '$*' needs root and sudo is not installed" >&2; exit 1
  fi
}

apt_updated=
apt_install() {
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "error: please install $* with your system's package manager" >&2; exit 1
  fi
  if [ -z "$apt_updated" ]; then as_root apt-get update -qq; apt_updated=1; fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

# PostgreSQL's server binaries (initdb, pg_ctl, postgres), which the embedded
# database runs. Looked for where safepref itself looks.
ensure_postgres_binaries() {
  for dir in "${SAFEPREF_PG_BINDIR:-}" $(pg_config --bindir 2>/dev/null) /usr/lib/postgresql/*/bin; do
    if [ -n "$dir" ] && [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ] && [ -x "$dir/postgres" ]; then return 0; fi
  done
  if command -v initdb >/dev/null && command -v pg_ctl >/dev/null && command -v postgres >/dev/null; then return 0; fi
  echo "Installing the PostgreSQL server binaries (Debian package postgresql)..."
  apt_install postgresql
}

# The C toolchain some crates build with.
ensure_build_tools() {
  command -v cc >/dev/null 2>&1 || apt_install build-essential
}

ensure_rust_component() {
  if ! cargo "$1" --version >/dev/null 2>&1; then
    if command -v rustup >/dev/null 2>&1; then rustup component add "$2"
    else echo "error: cargo $1 is missing; install the $2 component of your Rust toolchain" >&2; exit 1
    fi
  fi
}

# Headless Chromium and its WebDriver server, which the browser tests drive
# (Debian's builds: a browser that downloads itself cannot work offline).
ensure_browser() {
  if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then return 0; fi
  echo "Installing Chromium and chromedriver (Debian packages chromium, chromium-driver)..."
  apt_install chromium chromium-driver
}

# Benchmarks: the peak resident memory (MB) and wall-clock seconds that
# `/usr/bin/time -v -o FILE` recorded in FILE.
peak_rss_mb() { awk -F': ' '/Maximum resident set size/ { printf "%d", $2 / 1024 }' "$1"; }
elapsed_s() {
  awk -F': ' '/Elapsed \(wall clock\)/ { print $2 }' "$1" |
    awk -F: '{ if (NF == 3) print $1*3600+$2*60+$3; else print $1*60+$2 }'
}

# Benchmarks: psql as the superuser on the embedded cluster in $data (the
# caller's variable), stopping at the first error.
psql_() { psql -q -h "$data/run" -U postgres -d safepref -v ON_ERROR_STOP=1 "$@"; }

# Benchmarks: `safepref serve` on a free loopback port, in the background,
# with its embedded PostgreSQL in DATA; sets $server (its pid) and $base
# (its URL). Usage: start_server BIN DATA LOG
start_server() {
  "$1" --data-dir "$2" serve --bind 127.0.0.1:0 >"$3" 2>&1 &
  server=$!
  for _ in $(seq 150); do grep -q "is running" "$3" && break; sleep 0.2; done
  base=$(grep -o 'http://[0-9.:]*' "$3" | head -1)
  [ -n "$base" ] || { echo "error: safepref serve did not start:" >&2; cat "$3" >&2; exit 1; }
}
