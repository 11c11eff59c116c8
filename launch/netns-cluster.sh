#!/usr/bin/env bash
# A cluster of N emulated nodes on this machine, for multi-node runs without a cluster: each node is
# a network namespace with its own address (and, when a rank runs there, its own host name), all on
# one Ethernet bridge; Open MPI reaches them through an rsh agent that runs its daemon inside the
# named namespace, so ranks on different nodes talk TCP over the bridge, as on a real cluster.
#   launch/netns-cluster.sh up N          make nodes node1..nodeN; the last line printed is the
#                                         mpirun arguments that reach them:
#                                           mpirun $(launch/netns-cluster.sh up 2 | tail -1) -np 4 attrguard train …
#   launch/netns-cluster.sh down          end every process on the nodes, remove every namespace,
#                                         link and file `up` made
#   launch/netns-cluster.sh link K down|up    pull (or put back) node K's cable
#   launch/netns-cluster.sh shape DELAY RATE  every node's link through netem (e.g. 1ms 1gbit); "off" clears it
#   launch/netns-cluster.sh args          print the mpirun arguments again
# Needs root (ip netns, veth, bridge). Environment: NETNS_CLUSTER_DIR (the state directory, default
# /tmp/attrguard-netns), NETNS_CLUSTER_PREFIX (namespace and link name prefix, default ag; two clusters
# at once need two prefixes, directories and NETNS_CLUSTER_SUBNET third octets), NETNS_CLUSTER_SUBNET
# (default 10.213.0: nodes get .1…, this host .254).
# The bridge lives in a "switch" namespace of its own, so the host's firewall (a Docker FORWARD
# policy of DROP with bridge netfilter on) never sees the nodes' traffic; this host joins the switch
# through one more veth, so mpirun, run here, reaches the node daemons and they reach it.
set -euo pipefail
dir="${NETNS_CLUSTER_DIR:-/tmp/attrguard-netns}"
prefix="${NETNS_CLUSTER_PREFIX:-ag}"
subnet="${NETNS_CLUSTER_SUBNET:-10.213.0}"
switch="${prefix}switch"
hostlink="${prefix}host0"

die() { echo "launch/netns-cluster.sh: $*" >&2; exit 2; }
node_ns() { echo "${prefix}node$1"; }
nodes() { [ -f "$dir/nodes" ] && cat "$dir/nodes" || true; }

mpirun_args() {
  # TCP between nodes and shared memory within one; the daemons' own traffic (oob) on the bridge;
  # every daemon started from mpirun (no tree spawn: the agent only exists on this host). Waiting
  # ranks yield the core: the emulated link is the kernel's own work (softirqs) on the cores the
  # ranks run on, and ranks spinning in MPI's progress loop delay it by whole timer ticks (2 nodes
  # on 2 cores: a 4 KiB all-reduce 8–12 ms spinning, 36 µs yielding).
  echo "--hostfile $dir/hostfile --mca plm_rsh_agent $dir/agent --mca plm_rsh_no_tree_spawn 1 --mca mpi_yield_when_idle 1" \
       "--mca btl self,vader,tcp --mca btl_tcp_if_include $subnet.0/24 --mca oob_tcp_if_include $subnet.0/24"
}

down() {
  # Ranks and daemons first (a namespace with processes in it outlives `ip netns del`).
  for ns in $(nodes) "$switch"; do
    if ip netns list | grep -qw "$ns"; then
      pids=$(ip netns pids "$ns" 2>/dev/null || true)
      [ -n "$pids" ] && kill -CONT $pids 2>/dev/null; [ -n "$pids" ] && kill -KILL $pids 2>/dev/null || true
    fi
  done
  for ns in $(nodes) "$switch"; do
    ip netns list | grep -qw "$ns" && ip netns del "$ns"
  done
  ip link show "$hostlink" >/dev/null 2>&1 && ip link del "$hostlink"
  rm -rf "$dir"
}

up() {
  local n="$1"
  [[ "$n" =~ ^[1-9][0-9]*$ ]] && [ "$n" -le 200 ] || die "up needs a node count 1…200, got '$n'"
  [ "$(id -u)" = 0 ] || die "needs root (network namespaces)"
  [ -e "$dir/nodes" ] && die "a cluster is up already ($dir); run 'down' first"
  ip netns list | grep -qw "$switch" && die "namespace $switch exists already (another cluster with prefix $prefix?); pick NETNS_CLUSTER_PREFIX"
  mkdir -p "$dir"
  : > "$dir/nodes"
  trap 'down; exit 1' ERR
  ip netns add "$switch"
  ip netns exec "$switch" ip link set lo up
  ip netns exec "$switch" ip link add br0 type bridge
  ip netns exec "$switch" ip link set br0 up
  # This host's port on the switch.
  ip link add "$hostlink" type veth peer name host netns "$switch"
  ip netns exec "$switch" ip link set host master br0 up
  ip addr add "$subnet.254/24" dev "$hostlink"
  ip link set "$hostlink" up
  : > "$dir/hostfile"; : > "$dir/hosts"
  for k in $(seq 1 "$n"); do
    ns=$(node_ns "$k")
    echo "$ns" >> "$dir/nodes"
    ip netns add "$ns"
    ip link add "${prefix}n$k" type veth peer name eth0 netns "$ns"
    ip link set "${prefix}n$k" netns "$switch"
    ip netns exec "$switch" ip link set "${prefix}n$k" master br0 up
    ip netns exec "$ns" ip link set lo up
    ip netns exec "$ns" ip addr add "$subnet.$k/24" dev eth0
    ip netns exec "$ns" ip link set eth0 up
    echo "$ns slots=$(getconf _NPROCESSORS_ONLN)" >> "$dir/hostfile"
    echo "$subnet.$k $ns" >> "$dir/hosts"
  done
  echo "$subnet.254 $(hostname)" >> "$dir/hosts"
  # Open MPI's rsh launcher calls the agent as `agent NODE COMMAND…` (as it would call ssh). The
  # daemon runs inside the node's namespace with its own UTS namespace named after the node, so
  # Open MPI sees N hosts (and uses shared memory only within one).
  { echo '#!/bin/sh'; echo "nodes_file='$dir/nodes'"; cat <<'EOF'; } > "$dir/agent"
node="$1"; shift
grep -qx "$node" "$nodes_file" || { echo "netns-cluster agent: no node '$node' (nodes: $(tr '\n' ' ' < "$nodes_file"))" >&2; exit 255; }
# As ssh would: the words after the node joined by spaces, parsed by a shell on the node.
exec ip netns exec "$node" unshare --uts -- /bin/sh -c 'hostname "$1" && shift && eval "$*"' sh "$node" "$@"
EOF
  chmod +x "$dir/agent"
  # Every node reaches this host before the arguments are handed out: a TCP connect to a closed
  # port is refused at once over a working link (status 1) and hangs over a broken one (124).
  for k in $(seq 1 "$n"); do
    status=0; ip netns exec "$(node_ns "$k")" timeout 3 bash -c "echo > /dev/tcp/$subnet.254/9" 2>/dev/null || status=$?
    [ "$status" -ne 124 ] || { down; die "node $k does not reach this host over the bridge"; }
  done
  trap - ERR
  echo "$n node(s) up: $(tr '\n' ' ' < "$dir/nodes")(addresses in $dir/hosts)"
  mpirun_args
}

link() {
  local k="$1" state="$2"
  grep -qx "$(node_ns "$k")" "$dir/nodes" 2>/dev/null || die "no node $k (is the cluster up?)"
  case "$state" in up|down) ;; *) die "link K needs up or down, got '$state'" ;; esac
  ip netns exec "$switch" ip link set "${prefix}n$k" "$state"
}

shape() {
  local delay="$1" rate="${2:-}"
  for ns in $(nodes); do
    ip netns exec "$ns" tc qdisc del dev eth0 root 2>/dev/null || true
    [ "$delay" = off ] || ip netns exec "$ns" tc qdisc add dev eth0 root netem delay "$delay" ${rate:+rate "$rate"}
  done
}

case "${1:-}" in
  up) up "${2:?up needs a node count}" ;;
  down) down ;;
  link) link "${2:?link needs a node number}" "${3:?link needs up or down}" ;;
  shape) shape "${2:?shape needs a delay (e.g. 1ms) or off}" "${3:-}" ;;
  args) [ -f "$dir/hostfile" ] || die "no cluster is up ($dir)"; mpirun_args ;;
  *) die "usage: up N | down | link K up|down | shape DELAY [RATE] | args" ;;
esac
