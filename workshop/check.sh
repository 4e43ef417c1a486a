#!/usr/bin/env bash
# CI for the workshop kit: every exercise's check fails on its chapter as committed and
# passes with the reference solution applied; every "Break it" of the chapter READMEs
# fails cleanly (breakit.sh). Run from anywhere: workshop/check.sh [exercises|breakit].
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
export GOWORK=off
work=${WORKSHOP_WORK:-$root/bin/exercise}
jobs=${JOBS:-4}
what=${1:-all}
status=0

# unsolved STAGE: all the checks of STAGE, at once, on the chapter as committed. Each
# exercise must have a failing test and no passing one.
unsolved() {
	local stage=$1 dir=$work/unsolved-$1 ex n pkgs=() log code=0
	rm -rf "$dir" && mkdir -p "$dir"
	git -C "$root" archive HEAD "$stage" | tar -x -C "$dir" --strip-components=1
	for ex in "$root/workshop/exercises/$stage"/*/; do
		cp -R "$ex/check/." "$dir/"
		mapfile -t -O "${#pkgs[@]}" pkgs < <(cd "$ex/check" && find . -name '*_test.go' -exec dirname {} \;)
	done
	mapfile -t pkgs < <(printf '%s\n' "${pkgs[@]}" | sort -u)
	log=$dir.log
	(cd "$dir" && timeout --kill-after=10 240 go test -count=1 -timeout 90s -v -run '^TestExercise' "${pkgs[@]}") >"$log" 2>&1 || code=$?
	if grep -qa -e 'panic: test timed out' -e '\[build failed\]' -e '\[setup failed\]' "$log" || [[ $code -ge 124 ]]; then
		echo "FAIL $stage: the checks do not build or do not finish on the chapter as committed (exit $code)"
		tail -30 "$log"
		return 1
	fi
	local bad=0
	for ex in "$root/workshop/exercises/$stage"/*/; do
		n=$(basename "$ex"); n=${n%%-*}
		if grep -qa "^--- PASS: TestExercise${n}_" "$log" || ! grep -qa "^--- FAIL: TestExercise${n}_" "$log"; then
			echo "FAIL $stage exercise $n: its check does not fail on the chapter as committed"
			bad=1
		fi
	done
	[[ $bad -eq 0 ]] && echo "ok $stage: every check fails on the chapter as committed"
	return $bad
}

# solved STAGE N: the check of one exercise with its reference solution applied.
solved() {
	local out
	if out=$(WORKSHOP_WORK=$work/solved "$root/workshop/exercise.sh" --solution "$1" "$2" 2>&1); then
		echo "ok $1 exercise $2: passes with the reference solution"
	else
		echo "FAIL $1 exercise $2: does not pass with the reference solution"
		tail -30 <<<"$out"
		return 1
	fi
}

# breakits_listed: every "Break it" of a README has a patch in breakit.txt.
breakits_listed() {
	local readme stage n bad=0
	for readme in "$root"/[0-9][0-9]-*/README.md; do
		stage=$(basename "$(dirname "$readme")")
		for n in $(grep -oE '^[0-9]+\. \*\*Break it' "$readme" | cut -d. -f1); do
			if ! grep -qE "^$stage +$n " "$root/workshop/breakit/breakit.txt"; then
				echo "FAIL $stage: README exercise $n is a Break it with no patch in workshop/breakit/breakit.txt"
				bad=1
			fi
		done
	done
	return $bad
}

case ${1:-} in
--unsolved) unsolved "$2"; exit ;;
--solved) solved "$2" "$3"; exit ;;
esac

if [[ $what == all || $what == exercises ]]; then
	stages=$(cd "$root/workshop/exercises" && ls -d [0-9][0-9]-*)
	printf '%s\n' $stages | xargs -P "$jobs" -I{} "$0" --unsolved {} || status=1
	for s in $stages; do
		for ex in "$root/workshop/exercises/$s"/*/; do
			n=$(basename "$ex"); echo "$s ${n%%-*}"
		done
	done | xargs -P "$jobs" -L 1 "$0" --solved || status=1
fi
if [[ $what == all || $what == breakit ]]; then
	breakits_listed || status=1
	"$root/workshop/breakit.sh" || status=1
fi
exit $status
