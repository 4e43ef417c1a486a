#!/usr/bin/env bash
# Runs the demos of a Markdown file (by default the facilitator's guide,
# workshop/README.md) as a learner would type them, and fails if a command does not work
# as the file shows.
#
# A demo is a fenced block with the info string "console". Each line that starts with
# "$ " is a command (a line ending in "\" goes on on the next); the lines after it, up
# to the next command, are what it prints. "…" in a shown line stands for any text, and
# a shown line that is only "…" stands for any number of lines. A command must print
# what is shown, whatever its exit status; a command with nothing shown must exit with
# status 0. A command ending in "&" runs in the background (a server): each line shown
# after it must appear in what it prints, by the end of the block. While servers run, a
# command that does not work yet is tried again for up to 30 seconds: a server takes a
# moment to start, a follower a moment to apply a write. Each block runs in one bash,
# from the repository root, and what it started is killed at the end of the block. A
# block that starts servers runs in a network namespace of its own when it can (see
# below); its commands must then need no network beyond 127.0.0.1, so the guide's first
# block, which builds the tools, runs first.
#
#   workshop/demo.sh [FILE] [N]     every demo of FILE, or only its Nth block
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
guide=$root/workshop/README.md
if [[ ${1:-} == *.md ]]; then
	guide=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
	shift
fi
name=${guide#"$root"/}
export GOWORK=off
# The commands run as a learner types them, not as part of a make run, and curl prints
# what it prints at a terminal: no progress meter (it shows one when its output is a
# file), but its errors.
unset MAKEFLAGS MAKELEVEL MFLAGS
work=${WORKSHOP_WORK:-$root/bin/exercise}/demo/${name//\//_}
rm -rf "$work" && mkdir -p "$work"
export CURL_HOME=$work.curl
mkdir -p "$CURL_HOME" && printf 'silent\nshow-error\n' >"$CURL_HOME/.curlrc"
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

# contains WANT GOT: whether every shown line of WANT matches some printed line of GOT.
contains() {
	local line re
	while IFS= read -r line; do
		[[ $line == "…" ]] && continue
		re=$(printf '%s' "$line" | sed -e 's/[][\.*^$(){}?+|/]/\\&/g' -e 's/…/.*/g')
		grep -qxE -- "$re" "$2" || return 1
	done <"$1"
}

# attempt N DIR: runs command N of the block in DIR in this shell, again while servers
# run and it does not work yet. It fails the block if it never works.
attempt() {
	local n=$1 dir=$2 rc deadline=$((SECONDS + 30))
	while :; do
		# shellcheck disable=SC1090 # the command, in this shell, so that cd and variables stay
		{ source "$dir/cmd.$n"; } >"$dir/got.$n" 2>&1
		rc=$?
		echo "$rc" >"$dir/rc.$n"
		if [[ -s $dir/want.$n ]]; then
			matches "$dir/want.$n" "$dir/got.$n" && return 0
		elif [[ $rc == 0 ]]; then
			return 0
		fi
		if [[ -z $(jobs -p) || $SECONDS -ge $deadline ]]; then
			echo "$n" >"$dir/failed"
			exit 1
		fi
		sleep 0.5
	done
}

# servers_said DIR N...: waits until every background command's shown lines appeared.
servers_said() {
	local dir=$1 n deadline=$((SECONDS + 30))
	shift
	for n in "$@"; do
		until contains "$dir/want.$n" "$dir/got.$n"; do
			if [[ $SECONDS -ge $deadline ]]; then
				echo "$n" >"$dir/failed"
				exit 1
			fi
			sleep 0.5
		done
	done
}

run_block() {
	local dir=$1
	local b script servers code n start background run
	b=$(basename "$dir")
	script=$dir/run.sh
	background=()
	servers=
	grep -qE '&[[:space:]]*$' "$dir"/cmd.* && servers=1
	{
		echo 'set -u'
		# The block runs in its own process group (setsid): on exit, stop what it started.
		echo 'trap '"'"'trap "" TERM; kill -- -$$ 2>/dev/null'"'"' EXIT'
		declare -f matches contains attempt servers_said
		echo "cd '$root'"
		for cmd in $(ls "$dir" | grep '^cmd\.' | sort -t. -k2 -n); do
			n=${cmd#cmd.}
			if grep -qE '&[[:space:]]*$' "$dir/$cmd"; then
				# Written as is, so that $! is the server's process (kill $! stops it). Its
				# output is kept only when lines are shown after it.
				sed -i -E '$ s/&[[:space:]]*$//' "$dir/$cmd"
				if [[ -s $dir/want.$n ]]; then
					printf '%s >%q 2>&1 &\n' "$(cat "$dir/$cmd")" "$dir/got.$n"
					background+=("$n")
				else
					printf '%s &\n' "$(cat "$dir/$cmd")"
				fi
				echo 0 >"$dir/rc.$n"
				# A reader starts the next command a moment later, in another terminal;
				# a server started right after this one may need it listening already.
				echo 'sleep 1'
			else
				printf 'attempt %s %q\n' "$n" "$dir"
			fi
		done
		((${#background[@]} == 0)) || printf 'servers_said %q %s\n' "$dir" "${background[*]}"
	} >"$script"
	start=$SECONDS
	run=(setsid -w bash "$script")
	if [[ -n $servers ]]; then
		# A block that starts servers runs, where this machine allows it (root, with ip),
		# in a network namespace of its own: its fixed ports (4001, 8400, ...) are then
		# free whatever else runs on the machine, and nothing else sees its servers.
		# With a /tmp of its own too, blocks of several files can run at once.
		# (Not the /tmp of its own when the repository itself is under /tmp: it would hide
		# the block's script.)
		if unshare -m -n true 2>/dev/null && command -v ip >/dev/null; then
			local private_tmp='mount -t tmpfs tmpfs /tmp && '
			[[ $root != /tmp/* ]] || private_tmp=
			run=(unshare -m -n bash -c "${private_tmp}"'ip link set lo up && exec "$@"' netns "${run[@]}")
		fi
	fi
	timeout --kill-after=10 300 "${run[@]}" >"$dir/log" 2>&1
	code=$?
	if [[ -f $dir/failed ]]; then
		n=$(cat "$dir/failed")
		echo "FAIL $name demo $b: \$ $(head -1 "$dir/cmd.$n")  (exit status $(cat "$dir/rc.$n" 2>/dev/null)) printed:"
		head -30 "$dir/got.$n" 2>/dev/null | sed 's/^/    /'
		if [[ -s $dir/want.$n ]]; then
			echo "  $name shows:"
			sed 's/^/    /' "$dir/want.$n"
		fi
		return 1
	elif [[ $code -ge 124 ]]; then
		echo "FAIL $name demo $b: timed out"
		tail -20 "$dir/log"
		return 1
	else
		echo "ok $name demo $b: $(ls "$dir" | grep -c '^cmd\.') commands ($((SECONDS - start))s)"
	fi
}

# The first block runs alone: in the guide it builds the tools the others use. The
# others run JOBS at a time (default 1); a block that starts servers is isolated then
# (see run_block), and the others must not share files.
status=0
first=1
for dir in $(ls -d "$work"/*/ 2>/dev/null | sort -V); do
	dir=${dir%/}
	[[ -n $only && $(basename "$dir") != "$only" ]] && continue
	if [[ -n $first ]]; then
		first=
		run_block "$dir" >"$dir.out" 2>&1 || echo 1 >"$dir.failed"
		cat "$dir.out"
		touch "$dir.printed"
		continue
	fi
	while (($(jobs -rp | wc -l) >= ${JOBS:-1})); do wait -n; done
	{ run_block "$dir" >"$dir.out" 2>&1 || echo 1 >"$dir.failed"; } &
done
wait
for dir in $(ls -d "$work"/*/ 2>/dev/null | sort -V); do
	dir=${dir%/}
	[[ -f $dir.out && ! -f $dir.printed ]] && cat "$dir.out"
	[[ -f $dir.failed ]] && status=1
done
exit $status
