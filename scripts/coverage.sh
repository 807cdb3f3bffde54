#!/usr/bin/env bash
# Code coverage of the Swift tests and the end-to-end suite together (the seed guide's
# `pytest --cov` for a Swift project): an instrumented build (release with -enable-testing, as
# scripts/test.sh builds, plus --enable-code-coverage) in its own .build-coverage/ so the regular
# build stays as it is; the Swift tests; the e2e suite with that build's executable, every
# process writing its own profile; then llvm-cov's HTML report in coverage/html/index.html and a
# summary per file on stdout. Not part of CI: the instrumented build compiles everything once more
# (about as long as scripts/test.sh's build). Arguments: --no-e2e (Swift tests only), and anything
# after -- goes to pytest (e.g. -- -k TestSingleNodeInference).
set -euo pipefail
cd "$(dirname "$0")/.."

e2e=1
while [ $# -gt 0 ]; do
    case "$1" in
        --no-e2e) e2e=0; shift ;;
        --) shift; break ;;
        *) echo "usage: scripts/coverage.sh [--no-e2e] [-- pytest arguments]" >&2; exit 2 ;;
    esac
done

# llvm-profdata and llvm-cov must be the Swift toolchain's own (the profile format follows the
# compiler's LLVM): Debian's llvm-14 ones, often earlier on PATH, cannot read Swift 6's profiles.
TOOLCHAIN=$(dirname "$(readlink -f "$(command -v swift)")")
PROFDATA=$TOOLCHAIN/llvm-profdata
COV=$TOOLCHAIN/llvm-cov
for tool in "$PROFDATA" "$COV"; do
    [ -x "$tool" ] || { echo "coverage: $tool not found (it ships with the Swift toolchain)" >&2; exit 1; }
done

FLAGS=(-c release -Xswiftc -enable-testing --enable-code-coverage --scratch-path .build-coverage)
OUT=coverage
PROFILES=$(pwd)/$OUT/profiles
rm -rf "$OUT" && mkdir -p "$PROFILES"
find .build-coverage -name '*.profraw' -delete 2>/dev/null || true

echo "coverage: building (swift build ${FLAGS[*]} --build-tests)"
swift build "${FLAGS[@]}" --build-tests
# Every process (test runner, nodes, devnet, plugins' images) writes its own profile: %p is the pid.
status=0
LLVM_PROFILE_FILE="$PROFILES/swift-test-%p.profraw" swift test "${FLAGS[@]}" --skip-build || status=$?
BIN=$(swift build "${FLAGS[@]}" --show-bin-path)
if [ "$e2e" = 1 ]; then
    E2E_BIN=$BIN/plumise-petals E2E_OWN_SERVICES=1 E2E_LOG_DIR=$(pwd)/$OUT/e2e-logs \
        LLVM_PROFILE_FILE="$PROFILES/e2e-%p.profraw" .venv/bin/python -m pytest Tests/e2e -p no:cacheprovider "$@" || status=$?
fi

# SwiftPM may write the test runner's profiles into its own codecov folder instead.
mapfile -t profiles < <(find "$PROFILES" .build-coverage -name '*.profraw')
"$PROFDATA" merge -sparse "${profiles[@]}" -o "$OUT/merged.profdata"
objects=("$BIN/plumise-petals")
for f in "$BIN"/*.xctest "$BIN"/lib*Plugin.so; do [ -e "$f" ] && objects+=(-object "$f"); done
ignore='(\.build-coverage|/Tests/)'
"$COV" show "${objects[@]}" -instr-profile "$OUT/merged.profdata" -format html -output-dir "$OUT/html" \
    -ignore-filename-regex "$ignore" -show-line-counts-or-regions
"$COV" report "${objects[@]}" -instr-profile "$OUT/merged.profdata" -ignore-filename-regex "$ignore" \
    | tee "$OUT/summary.txt" | tail -1
echo "coverage: $OUT/html/index.html (per-file summary in $OUT/summary.txt)"
[ "$status" = 0 ] || echo "coverage: some tests failed (exit $status); the report covers what ran" >&2
exit "$status"
