# Process helpers for scripts/soak.sh (source this file after
# setting LOGS and PY). Every process started with `track` is stopped on exit: SIGTERM, then
# SIGKILL after 10 s.
pids=()
track() { pids+=("$1"); }
cleanup() {
    local status=$?
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do
        for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
    done
    wait 2>/dev/null || true
    echo "logs in $LOGS"
    exit $status
}
trap cleanup EXIT INT TERM

free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# Waits for the "ready" line of a process's stdout file and prints what follows "ready ".
wait_ready() {
    local name=$1 out=$2 pid=$3
    for _ in $(seq 1 1200); do
        if grep -q '^\(devnet \)\?ready ' "$out"; then sed -n 's/^\(devnet \)\?ready //p' "$out" | head -1; return 0; fi
        kill -0 "$pid" 2>/dev/null || { echo "$name exited; see $LOGS/$name.log" >&2; return 1; }
        sleep 0.1
    done
    echo "$name not ready after 120 s; see $LOGS/$name.log" >&2
    return 1
}

# Builds with the flags in $1 (one string) and sets BIN to the plumise-petals binary.
build_binary() {
    read -r -a BUILD_FLAGS <<< "$1"
    echo "building (swift build ${BUILD_FLAGS[*]})"
    swift build "${BUILD_FLAGS[@]}" 2>&1 | tail -1
    BIN=$(swift build "${BUILD_FLAGS[@]}" --show-bin-path)/plumise-petals
}
