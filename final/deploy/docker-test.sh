#!/usr/bin/env bash
# docker-test.sh: the compose cluster of docker-compose.yml, tried end to end from the
# image IMAGE (golog:dev, which make docker-test builds first):
#
#   1. start the three servers (and the certs service) as a compose project of its own,
#      golog-docker-test-PID, so that it collides with nothing else on the engine;
#   2. wait until all three are voters, caught up, with a leader, and Docker's health
#      check (golog health) passes in their containers;
#   3. produce two records through one server's container, consume them through another;
#   4. kill -9 the leader's container; wait for a leader in a higher term among the others;
#   5. produce again through a server still up, and consume all three records through the
#      third one;
#   6. tear everything down (containers, network, volumes), whatever happened.
#
# Skipped, with a message and exit 0, where there is no Docker engine or no compose.
# Bounded: every wait has a deadline, and the whole run is cut off after DEADLINE
# seconds (180 by default; it takes about 20 s on 2 cores once the image is built).
set -euo pipefail

image=${IMAGE:-golog:dev}
deadline=${DEADLINE:-180}
here=$(cd "$(dirname "$0")" && pwd)
file=$here/docker-compose.yml
project=golog-docker-test-$$

say() { printf 'docker-test: %s\n' "$*"; }
fail() {
	say "FAIL: $*"
	exit 1
}

if ! command -v docker >/dev/null 2>&1 || ! docker info >/dev/null 2>&1; then
	say "SKIP: no Docker engine here (docker info fails); nothing was tested"
	exit 0
fi
if command -v docker-compose >/dev/null 2>&1; then
	compose=(docker-compose)
elif docker compose version >/dev/null 2>&1; then
	compose=(docker compose)
else
	say "SKIP: neither docker-compose nor the docker compose plugin is installed; nothing was tested"
	exit 0
fi
tool="${compose[*]}"
compose+=(--project-name "$project" --file "$file")
export GOLOG_IMAGE=$image

start=$SECONDS
# left returns the seconds left before the deadline, at least 1.
left() {
	local n=$((deadline - (SECONDS - start)))
	((n > 0)) || fail "over the deadline of ${deadline}s"
	echo "$n"
}

teardown() {
	local status=$?
	say "tearing down $project"
	if ((status != 0)); then
		"${compose[@]}" ps || true
		"${compose[@]}" logs --tail 30 || true
	fi
	timeout 60 "${compose[@]}" down --volumes --remove-orphans --timeout 5 >/dev/null 2>&1 ||
		say "WARNING: compose down failed; remove the project $project by hand"
	exit "$status"
}
trap teardown EXIT

# golog runs the golog command in service's container, bounded.
golog() {
	local service=$1
	shift
	timeout "$(left)" "${compose[@]}" exec -T "$service" golog "$@"
}

# status prints golog status as service sees it, or nothing if it cannot tell.
status() { golog "$1" status --timeout 5s 2>/dev/null || true; }

# wait_for runs the command until it succeeds, once a second, for at most $1 seconds.
wait_for() {
	local within=$1 what=$2
	shift 2
	local until=$((SECONDS + within))
	until "$@"; do
		((SECONDS < until)) || fail "waited ${within}s for $what"
		left >/dev/null
		sleep 1
	done
}

# all_ready succeeds when service sees three servers, each caught up (READY yes).
all_ready() { [[ $(status "$1" | grep -c ' yes$') == 3 ]]; }

# leader_term prints "LEADER TERM" from service's golog status, or nothing.
leader_term() { status "$1" | sed -n 's/^leader \([^ ]*\) ([^)]*), term \([0-9]*\),.*/\1 \2/p'; }

# new_leader succeeds when service sees a leader other than $2 in a term above $3.
new_leader() {
	local lt
	lt=$(leader_term "$1")
	[[ -n $lt ]] && [[ ${lt% *} != "$2" ]] && ((${lt#* } > $3))
}

say "using $tool with image $image, project $project, deadline ${deadline}s"
docker image inspect "$image" >/dev/null 2>&1 || fail "no image $image: run make docker first"
timeout "$(left)" "${compose[@]}" up --detach >/dev/null 2>&1 || fail "compose up failed"

wait_for 90 "three servers ready" all_ready golog-1
say "three servers ready after $((SECONDS - start))s:"
status golog-1 | sed 's/^/  /'

# healthy succeeds when Docker's health check (golog health, in the image) passes in
# service's container.
healthy() {
	local id
	id=$(timeout 10 "${compose[@]}" ps -q "$1" 2>/dev/null) || return 1
	[[ $(docker inspect --format '{{.State.Health.Status}}' "$id" 2>/dev/null) == healthy ]]
}
for s in golog-1 golog-2 golog-3; do
	wait_for 60 "$s's container to be healthy" healthy "$s"
done
say "the image's health check passes in all three containers, $((SECONDS - start))s in"

want=$'0\tone\n1\ttwo'
offsets=$(golog golog-2 produce one two) || fail "produce through golog-2"
[[ $offsets == $'0\n1' ]] || fail "produce through golog-2 answered offsets '$offsets', want 0 and 1"
got=$(golog golog-3 consume --offset 0) || fail "consume through golog-3"
[[ $got == "$want" ]] || fail "consume through golog-3 read '$got', want '$want'"
say "produced 2 records through golog-2, consumed them through golog-3"

read -r leader term < <(leader_term golog-1)
[[ -n ${leader:-} ]] || fail "no leader in golog status"
say "killing the leader, $leader (term $term)"
timeout "$(left)" "${compose[@]}" kill -s SIGKILL "$leader" >/dev/null 2>&1 || fail "kill $leader"

survivors=()
for s in golog-1 golog-2 golog-3; do
	[[ $s == "$leader" ]] || survivors+=("$s")
done
wait_for 60 "a new leader" new_leader "${survivors[0]}" "$leader" "$term"
read -r newleader newterm < <(leader_term "${survivors[0]}")
say "$newleader leads in term $newterm, $((SECONDS - start))s in"

offsets=$(golog "${survivors[0]}" produce three) || fail "produce through ${survivors[0]} after the kill"
[[ $offsets == 2 ]] || fail "produce after the kill answered offset '$offsets', want 2"
want+=$'\n2\tthree'
got=$(golog "${survivors[1]}" consume --offset 0) || fail "consume through ${survivors[1]}"
[[ $got == "$want" ]] || fail "consume through ${survivors[1]} read '$got', want '$want'"
say "produced through ${survivors[0]} after the kill, consumed all 3 records through ${survivors[1]}"
say "ok in $((SECONDS - start))s"
