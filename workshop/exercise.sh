#!/usr/bin/env bash
# Runs the check of a workshop exercise against a chapter, in a copy of the chapter, so
# that the chapter itself is left as it is.
#
#   workshop/exercise.sh CH N               the check, on the chapter as you changed it
#   workshop/exercise.sh --solution CH N    the check, with the reference solution applied
#                                           to the chapter as committed (git HEAD)
#   workshop/exercise.sh --list [CH]        the exercises, with their titles
#
# CH is a chapter number (03) or folder (03-grpc), N an exercise number. The check's test
# files are copied into the copy of the chapter at the paths they have under check/, and
# only their tests run (-run '^TestExercise'), under a timeout: a wrong attempt fails in
# seconds, it never hangs. Exit status: 0 when the check passes.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
export GOWORK=off

# Bounds: the whole check (build included), and go test's own timeout for the tests.
CHECK_TIMEOUT=${CHECK_TIMEOUT:-240}
TEST_TIMEOUT=${TEST_TIMEOUT:-60s}

die() { echo "exercise: $*" >&2; exit 2; }

stage_of() {
	local ch=$1 d
	for d in "$root"/[0-9][0-9]-*/; do
		d=${d%/}; d=${d##*/}
		if [[ $d == "$ch" || $d == "$ch"-* ]]; then echo "$d"; return; fi
	done
	die "no chapter $ch"
}

exercise_dir() {
	local stage=$1 n=$2 d
	for d in "$root/workshop/exercises/$stage/$n"-*/; do
		[[ -d $d ]] && { echo "${d%/}"; return; }
	done
	die "no exercise $n for $stage (workshop/exercises/$stage/)"
}

list() {
	local d
	for d in "$root"/workshop/exercises/${1:-*}/*/; do
		d=${d%/}
		printf '%-16s %-18s %s\n' "$(basename "$(dirname "$d")")" "$(basename "$d")" "$(sed -n '1s/^# //p' "$d/README.md")"
	done
}

# copy_stage STAGE DEST [committed]: DEST becomes a copy of the chapter, as it is in the
# work tree, or as committed.
copy_stage() {
	local stage=$1 dest=$2 committed=${3:-}
	rm -rf "$dest"
	mkdir -p "$dest"
	if [[ -n $committed ]]; then
		git -C "$root" archive HEAD "$stage" | tar -x -C "$dest" --strip-components=1
	else
		tar -C "$root/$stage" --exclude=.data --exclude='*.test' -cf - . | tar -x -C "$dest"
	fi
}

# add_check EXDIR DEST: copies the check's files into the chapter copy and prints the
# packages they are in.
add_check() {
	local ex=$1 dest=$2
	cp -R "$ex/check/." "$dest/"
	(cd "$ex/check" && find . -name '*_test.go' -exec dirname {} \; | sort -u)
}

run_check() {
	local dest=$1 n=$2; shift 2
	(cd "$dest" && timeout --kill-after=10 "$CHECK_TIMEOUT" \
		go test -count=1 -timeout "$TEST_TIMEOUT" -run "^TestExercise${n}_" "$@")
}

solution=
case ${1:-} in
--list) list "${2:+$(stage_of "$2")}"; exit 0 ;;
--solution) solution=1; shift ;;
esac
[[ $# -eq 2 ]] || die "usage: exercise.sh [--solution] CH N | --list [CH]"
stage=$(stage_of "$1")
n=$2
ex=$(exercise_dir "$stage" "$n")
work=${WORKSHOP_WORK:-$root/bin/exercise}/$stage-$n
if [[ -n $solution ]]; then
	copy_stage "$stage" "$work" committed
	patch=$root/workshop/solutions/$stage/$n.patch
	[[ -f $patch ]] || die "no solution $patch"
	(cd "$work" && patch -s -p1 < "$patch")
else
	copy_stage "$stage" "$work"
fi
mapfile -t pkgs < <(add_check "$ex" "$work")
echo "== $stage exercise $n: $(sed -n '1s/^# //p' "$ex/README.md")${solution:+ (reference solution)}"
if run_check "$work" "$n" "${pkgs[@]}"; then
	echo "PASS: $stage exercise $n"
else
	echo "FAIL: $stage exercise $n (the check's message above says what is missing)"
	exit 1
fi
