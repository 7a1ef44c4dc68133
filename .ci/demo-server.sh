# Sourced by the CI scripts: builds the debug binary, then starts `serve --demo` on a fresh
# data directory and a random port, with the same configuration exported for later
# commands. Sets BIN, DIR, PORT and PID; the EXIT trap stops the server and cleans up.
cargo build --locked --quiet
BIN="${CARGO_TARGET_DIR:-target}/debug/consilium"
DIR=$(mktemp -d)
PORT=$((20000 + RANDOM % 20000))
export CONSILIUM_DATA_DIR="$DIR" CONSILIUM_LISTEN="127.0.0.1:$PORT"
cleanup() { [ -n "${PID:-}" ] && kill "$PID" 2>/dev/null; rm -rf "$DIR"; }
trap cleanup EXIT
"$BIN" serve --demo >"$DIR/serve.log" 2>&1 &
PID=$!
for _ in $(seq 1 100); do "$BIN" healthcheck >/dev/null 2>&1 && break; sleep 0.2; done
