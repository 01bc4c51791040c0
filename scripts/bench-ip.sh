#!/bin/sh
# bench-ip.sh builds the benchmark lab of topology/netns (N containers spread
# round-robin over 4 bridge networks) with iproute2 commands, to compare
# with `go test -bench 'Up|Down' ./topology/netns`. It prints the seconds
# spent building and tearing down, once with one `ip` process per command
# and once with `ip -batch`.
#
# Everything happens inside a throwaway mount and network namespace made
# with unshare: the lab host is that network namespace, the container
# namespaces are bind-mounted on a private tmpfs at /run/netns that
# vanishes with the mount namespace. The root namespace is not changed.
#
# Usage (as root): scripts/bench-ip.sh [N ...]   default: 10 100 500
set -eu

if [ "${BENCH_IP_INNER:-}" != 1 ]; then
	exec env BENCH_IP_INNER=1 unshare --mount --net --propagation private -- "$0" "$@"
fi

mkdir -p /run/netns
mount -t tmpfs tmpfs /run/netns

now() { date +%s.%N; }
elapsed() { echo "$2 - $1" | bc; }

# setup_host creates the lab host's bridges: docker0 and net0..net3.
setup_host() {
	ip link set lo up
	ip link add docker0 type bridge
	ip addr add 172.17.0.1/16 dev docker0
	ip link set docker0 up
	for k in 0 1 2 3; do
		ip link add "br-net$k" type bridge
		ip addr add "172.$((18 + k)).0.1/16" dev "br-net$k"
		ip link set "br-net$k" up
	done
}

# container_cmds prints the ip commands of container i, one per line,
# without the leading "ip".
container_cmds() {
	i=$1
	k=$((i % 4))
	host=$((i / 4 + 2))
	addr="172.$((18 + k)).$((host / 256)).$((host % 256))/16"
	echo "netns add c$i"
	echo "link add veth$i type veth peer name eth0 netns c$i"
	echo "link set veth$i master br-net$k up"
	echo "-n c$i link set lo up"
	echo "-n c$i link set eth0 up"
	echo "-n c$i addr add $addr dev eth0"
	echo "-n c$i route add default via 172.$((18 + k)).0.1"
}

teardown() {
	for ns in $(ip netns list | cut -d' ' -f1); do
		ip netns del "$ns"
	done
	for k in 0 1 2 3; do
		ip link del "br-net$k"
	done
	ip link del docker0
}

run_one_per_command() {
	n=$1
	start=$(now)
	i=0
	while [ "$i" -lt "$n" ]; do
		container_cmds "$i" | while read -r line; do
			# shellcheck disable=SC2086
			ip $line
		done
		i=$((i + 1))
	done
	up=$(now)
	teardown
	down=$(now)
	setup_host
	echo "n=$n ip per command: up $(elapsed "$start" "$up") s, down $(elapsed "$up" "$down") s"
}

run_batch() {
	n=$1
	file=/run/netns/batch
	i=0
	: >"$file"
	while [ "$i" -lt "$n" ]; do
		container_cmds "$i" >>"$file"
		i=$((i + 1))
	done
	# A batch line cannot carry -n, so the host commands go in one batch
	# and each namespace's commands in a batch of their own.
	start=$(now)
	grep -v '^-n ' "$file" | ip -batch -
	i=0
	while [ "$i" -lt "$n" ]; do
		grep "^-n c$i " "$file" | sed "s/^-n c$i //" | ip -n "c$i" -batch -
		i=$((i + 1))
	done
	up=$(now)
	rm -f "$file"
	teardown
	down=$(now)
	setup_host
	echo "n=$n ip -batch:       up $(elapsed "$start" "$up") s, down $(elapsed "$up" "$down") s"
}

setup_host
sizes=${*:-10 100 500}
for n in $sizes; do
	run_one_per_command "$n"
	run_batch "$n"
done
