#!/usr/bin/env bash
# Runs the live demos of the facilitator's guide (workshop/README.md) as a learner would
# type them, and fails if a command fails or prints something other than the guide shows.
#
# A demo is a fenced block with the info string "console". Each line that starts with
# "$ " is a command (a line ending in "\" goes on on the next); the lines after it, up
# to the next command, are what it prints. "…" in a shown line stands for any text, and
# a shown line that is only "…" stands for any number of lines. A command with nothing
# shown after it may print anything; it must exit with status 0 (a command ending in "&"
# runs in the background). Each block runs in one bash, from the repository root, and
# its background jobs are killed at the end of the block.
#
#   workshop/demo.sh [N]     every demo, or only the Nth block
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
guide=$root/workshop/README.md
export GOWORK=off
# The commands run as a learner types them, not as part of a make run.
unset MAKEFLAGS MAKELEVEL MFLAGS
work=${WORKSHOP_WORK:-$root/bin/exercise}/demo
rm -rf "$work" && mkdir -p "$work"
only=${1:-}

# Split the guide into blocks: $work/B/cmd.N (a command), $work/B/want.N (what it prints).
awk -v work="$work" '
	/^```console[ \t]*$/ { inblock = 1; b++; n = 0; system("mkdir -p " work "/" b); next }
	inblock && /^```[ \t]*$/ { inblock = 0; next }
	!inblock { next }
	cont { printf "%s\n", $0 >> (work "/" b "/cmd." n); cont = /\\$/; next }
	/^\$ / { n++; sub(/^\$ /, ""); printf "%s\n", $0 > (work "/" b "/cmd." n); cont = /\\$/;
	         printf "" > (work "/" b "/want." n); next }
	n > 0 { print >> (work "/" b "/want." n) }
' "$guide"

# matches WANT GOT: whether the printed lines GOT are the shown lines WANT.
matches() {
	local -a want got
	mapfile -t want <"$1"
	mapfile -t got <"$2"
	local i=0 j=0 re
	while ((i < ${#want[@]})); do
		if [[ ${want[i]} == "…" ]]; then
			return 0 # the rest may be anything
		fi
		((j < ${#got[@]})) || return 1
		re=$(printf '%s' "${want[i]}" | sed -e 's/[][\.*^$(){}?+|/]/\\&/g' -e 's/…/.*/g')
		grep -qxE -- "$re" <<<"${got[j]}" || return 1
		((i++, j++))
	done
	((j == ${#got[@]}))
}

status=0
for dir in $(ls -d "$work"/*/ | sort -t/ -k1 -V); do
	b=$(basename "$dir")
	[[ -n $only && $b != "$only" ]] && continue
	script=$dir/run.sh
	{
		echo 'set -u'
		# The block runs in its own process group (setsid): on exit, stop what it started.
		echo 'trap '"'"'trap "" TERM; kill -- -$$ 2>/dev/null'"'"' EXIT'
		echo "cd '$root'"
		for cmd in $(ls "$dir" | grep '^cmd\.' | sort -t. -k2 -n); do
			n=${cmd#cmd.}
			c=$(cat "$dir/$cmd")
			if [[ $c =~ \&[[:space:]]*$ ]]; then
				printf '%s\n' "$c"
			else
				printf '{ %s\n} >%q 2>&1\n' "$c" "$dir/got.$n"
				printf 'echo $? >%q\n' "$dir/rc.$n"
				printf '[ "$(cat %q)" = 0 ] || exit 1\n' "$dir/rc.$n"
			fi
		done
	} >"$script"
	start=$SECONDS
	timeout --kill-after=10 300 setsid -w bash "$script" >"$dir/log" 2>&1
	failed=
	for cmd in $(ls "$dir" | grep '^cmd\.' | sort -t. -k2 -n); do
		n=${cmd#cmd.}
		if [[ ! -f $dir/rc.$n ]]; then
			grep -qE '&[[:space:]]*$' "$dir/$cmd" && continue
			failed="\$ $(head -1 "$dir/$cmd")  (not run: an earlier command failed or the block timed out)"
			break
		fi
		if [[ $(cat "$dir/rc.$n") != 0 ]]; then
			failed="\$ $(head -1 "$dir/$cmd")  (exit status $(cat "$dir/rc.$n"))"$'\n'"$(tail -15 "$dir/got.$n")"
			break
		fi
		if [[ -s $dir/want.$n ]] && ! matches "$dir/want.$n" "$dir/got.$n"; then
			failed="\$ $(head -1 "$dir/$cmd")  printed:"$'\n'"$(head -30 "$dir/got.$n")"$'\n'"the guide shows:"$'\n'"$(cat "$dir/want.$n")"
			break
		fi
	done
	if [[ -n $failed ]]; then
		echo "FAIL demo $b: $failed"
		status=1
	else
		echo "ok demo $b: $(ls "$dir" | grep -c '^cmd\.') commands ($((SECONDS - start))s)"
	fi
done
exit $status
