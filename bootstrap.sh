#!/usr/bin/env bash
# bootstrap.sh: installs what pinsync needs on Debian 12, builds it, and
# optionally runs the demo or the whole test suite.
#
#   ./bootstrap.sh          install missing packages and build (build/)
#   ./bootstrap.sh demo     ... then sync a sample feed into the simulator
#   ./bootstrap.sh test     ... then run every test (unit tests also under
#                           AddressSanitizer + UBSan, warnings fatal), then
#                           the fuzz targets for PINSYNC_FUZZ_SECONDS each
#                           (default 60; build-fuzz/)
#
# Idempotent: packages already installed are not touched, builds are
# incremental. Runs as root, or through sudo when it exists.
set -euo pipefail
cd "$(dirname "$0")"

mode=${1:-build}
case "$mode" in
build | demo | test) ;;
*)
	echo "usage: $0 [build|demo|test]" >&2
	exit 2
	;;
esac

# Build dependencies first (docker/Dockerfile's build stage installs exactly
# the lines before "test-only": tests/integration/test_container.py checks
# it), then what only the tests and tools need.
packages=(
	build-essential cmake pkg-config ca-certificates
	libcurl4-openssl-dev libyajl-dev libxml2-dev libpq-dev zlib1g-dev libxxhash-dev
	libmicrohttpd-dev libssl-dev
	# test-only:
	postgresql-15 postgresql-client-15 python3-yaml prometheus pgbouncer
	python3 libcmocka-dev
	clang-14 libclang-rt-14-dev
	python3-lxml python3-psycopg2 python3-xxhash time
	podman runc mmdebstrap # container test (tests/container): runc, as crun fails here
)

missing=()
for p in "${packages[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing+=("$p")
	fi
done
if [ ${#missing[@]} -gt 0 ]; then
	echo "bootstrap: installing ${missing[*]}"
	as_root=()
	if [ "$(id -u)" -ne 0 ]; then
		if command -v sudo >/dev/null; then
			as_root=(sudo)
		else
			echo "bootstrap: not root and no sudo: install ${missing[*]} yourself" >&2
			exit 1
		fi
	fi
	export DEBIAN_FRONTEND=noninteractive
	"${as_root[@]}" apt-get update -qq
	"${as_root[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The tests run in two layers. The project's own (always): the simulator
# checks every request against the project's contract (tests/pinsim), the
# feed tests read the project's specimen feeds (tests/fixtures/feeds). The
# shared folder's (when there is one): the requests are also checked against
# Pinterest's full OpenAPI description, and the real feeds collected by the
# team are read with their expected counts. It is read in place, never
# copied into the project: PINSYNC_SHARED_DIR, else ../shared beside the
# checkout, else, for a clone of a local working copy, the shared folder
# beside that copy.
find_shared() {
	local d origin candidates
	origin=$(git remote get-url origin 2>/dev/null || true)
	origin=${origin#file://}
	# A folder named in PINSYNC_SHARED_DIR is the only one looked at, so
	# that PINSYNC_SHARED_DIR=/nonexistent runs the project's layer alone.
	if [ -n "${PINSYNC_SHARED_DIR:-}" ]; then
		candidates=("$PINSYNC_SHARED_DIR")
	else
		candidates=(../shared "${origin:+$origin/../shared}")
	fi
	for d in "${candidates[@]}"; do
		if [ -n "$d" ] && [ -f "$d/pinterest-api/openapi.json" ]; then
			(cd "$d" && pwd)
			return 0
		fi
	done
	return 1
}
if shared=$(find_shared); then
	export PINSYNC_SHARED_DIR=$shared # CMake and the tests read it from here
	layers="layers: the project's own (contract, specimen feeds): run;"
	layers="$layers the shared folder's (Pinterest's full OpenAPI description, real"
	layers="$layers feeds): run, from $shared"
else
	# Named and missing: no test falls back to a folder of its own.
	export PINSYNC_SHARED_DIR="${PINSYNC_SHARED_DIR:-$(pwd)/../shared}"
	layers="layers: the project's own (contract, specimen feeds): run; the shared"
	layers="$layers folder's (Pinterest's full OpenAPI description, real feeds): NOT RUN:"
	layers="$layers no pinterest-api/openapi.json in PINSYNC_SHARED_DIR or ../shared"
fi

jobs=$(nproc 2>/dev/null || echo 2)
werror=OFF
[ "$mode" = test ] && werror=ON

cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPINSYNC_WERROR=$werror >/dev/null
cmake --build build -j "$jobs"

case "$mode" in
build)
	echo "bootstrap: built build/sync/pinsync"
	;;
demo)
	exec python3 tests/demo/demo.py
	;;
test)
	# Every step runs even when an earlier one failed, so that one CI run
	# shows every failure; the status says whether any did. The plain suite
	# runs last, so its summary closes the output.
	status=0
	echo "== $layers"
	# The container test's images (tests/container/containers.py: Debian's
	# base made with mmdebstrap, then docker/Dockerfile), cached between
	# runs: made in the background on the core the fuzzer leaves idle. The
	# test itself waits for them (a lock) and then only runs them.
	mkdir -p build
	python3 tests/container/containers.py image >build/container-image.log 2>&1 &
	images=$!
	# The six libFuzzer targets (XML reader, CSV reader, normaliser, webhook
	# check, config file, Pinterest's JSON answers), each for
	# PINSYNC_FUZZ_SECONDS (default 60): fails on any finding.
	echo "== fuzzing, ${PINSYNC_FUZZ_SECONDS:-60} s per target"
	tests/fuzz/run "${PINSYNC_FUZZ_SECONDS:-60}" || status=1
	# Everything again with AddressSanitizer and UndefinedBehaviorSanitizer:
	# the unit tests, and the integration suite against the sanitized
	# binary, where a leak (LeakSanitizer) or undefined behaviour fails.
	cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DPINSYNC_WERROR=ON \
		-DPINSYNC_SANITIZE=ON >/dev/null
	cmake --build build-asan -j "$jobs"
	echo "== unit and integration tests under ASan+UBSan"
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
		UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		ctest --test-dir build-asan -L 'unit|integration' --output-on-failure -j "$jobs" ||
		status=1
	# The feeds run a parser thread and a thread reading ahead (the gzip
	# inflater, or the XML scanner's reader): their unit tests again under
	# ThreadSanitizer, where a data race fails.
	echo "== feeds unit tests under ThreadSanitizer"
	CC=clang-14 cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=Debug -DPINSYNC_WERROR=ON \
		-DPINSYNC_TSAN=ON >/dev/null
	cmake --build build-tsan -j "$jobs" --target test_feeds_pipeline test_feeds_csv \
		test_feeds_xml test_feeds_real test_feeds_map test_feeds_normalise \
		test_feeds_expected test_feeds_html
	TSAN_OPTIONS=halt_on_error=1 \
		ctest --test-dir build-tsan -R '^unit\.test_feeds_' --output-on-failure -j "$jobs" ||
		status=1
	echo "== container images"
	wait "$images" || true # the test says why when they could not be made
	tail -n 4 build/container-image.log
	echo "== all tests"
	ctest --test-dir build --output-on-failure -j "$jobs" || status=1
	echo "== $layers"
	exit $status
	;;
esac
