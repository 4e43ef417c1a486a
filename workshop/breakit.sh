#!/usr/bin/env bash
# Applies each "Break it" exercise of the chapter READMEs (workshop/breakit/) to a copy
# of its chapter as committed, and checks that the tests it names fail cleanly within a
# minute: a test failure, not a timeout, a hang or a build error. The same tests must
# pass on the chapter as it is (BREAKIT_CLEAN=0 skips that run, where make test has just
# run every test of every chapter, as in CI).
#
#   workshop/breakit.sh [CH]      every break-it, or those of one chapter (03 or 03-grpc)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
export GOWORK=off
work=${WORKSHOP_WORK:-$root/bin/exercise}/breakit
only=${1:-}
[[ $only == --one ]] || only=${only%%-*}
status=0

run_tests() { # dir pkg pattern log
	(cd "$1" && timeout --kill-after=10 150 go test -count=1 -timeout 60s -run "$3" "$2") >"$4" 2>&1
}

# one STAGE N PKG PATTERN: checks one break-it; prints one line, and the logs on failure.
one() {
	local stage=$1 n=$2 pkg=$3 pattern=$4 start=$SECONDS code=0
	local dir=$work/$stage-$n
	rm -rf "$dir" && mkdir -p "$dir"
	git -C "$root" archive HEAD "$stage" | tar -x -C "$dir" --strip-components=1
	if [[ ${BREAKIT_CLEAN:-1} == 1 ]] && ! run_tests "$dir" "$pkg" "$pattern" "$dir.clean.log"; then
		echo "FAIL $stage break-it $n: go test -run '$pattern' $pkg fails on the chapter as it is"
		tail -20 "$dir.clean.log"
		return 1
	fi
	(cd "$dir" && patch -s -p1 <"$root/workshop/breakit/$stage/$n.patch")
	run_tests "$dir" "$pkg" "$pattern" "$dir.broken.log" || code=$?
	if [[ $code -eq 0 ]]; then
		echo "FAIL $stage break-it $n: the tests still pass with the patch applied"
		return 1
	fi
	if grep -qa -e 'panic: test timed out' -e '\[build failed\]' "$dir.broken.log" || [[ $code -ge 124 ]] ||
		! grep -qa -e '^--- FAIL' "$dir.broken.log"; then
		echo "FAIL $stage break-it $n: not a clean test failure (exit $code)"
		tail -20 "$dir.broken.log"
		return 1
	fi
	echo "ok $stage break-it $n: $(grep -ca '^--- FAIL' "$dir.broken.log") failing test(s), as the README says ($((SECONDS - start))s)"
}

if [[ ${1:-} == --one ]]; then
	shift
	one "$@"
	exit
fi

# The break-its mostly wait (for a test's deadline), so several run at once.
grep -v -e '^#' -e '^$' "$root/workshop/breakit/breakit.txt" |
	awk -v only="$only" 'only == "" || $1 == only || index($1, only "-") == 1' |
	xargs -P "${JOBS:-4}" -L 1 "$0" --one || status=1
exit $status
