#!/usr/bin/env bash
# A real SLURM on this machine, end to end: installs slurm-wlm and munge (Debian packages, once),
# writes a one-node slurm.conf in a temporary directory, starts munged, slurmctld and slurmd there
# (their own ports, sockets and state; nothing under /etc is touched) and then
#   1. sbatch launch/slurm.sbatch on the quickstart config (2 tasks), waits, checks it trained;
#   2. a job with a one-minute limit and `--signal=B:USR1@40`: the signal makes the ranks checkpoint
#      and exit 75, the batch script requeues the job (scontrol requeue), the requeued job resumes —
#      as often as the limit needs — and it ends with the weights of an uninterrupted run, bit for bit.
# The daemons it started are stopped and its directory removed on every exit, failure included.
#   launch/test-slurm.sh            (as root; about 3–5 minutes, most of it SLURM's minute limits)
# Exit 0 when every check passed; the last line says what was checked.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="${ATTRGUARD_BIN:-$here/.build/release/attrguard}"
die() { echo "launch/test-slurm.sh: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "needs root (it starts slurmd and munged)"
[ -x "$bin" ] || die "$bin not found; build first (swift build -c release)"

if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
  echo "installing slurm-wlm and munge"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends slurm-wlm munge >/dev/null
fi

work=$(mktemp -d /tmp/attrguard-slurm.XXXXXX)
chmod 755 "$work"
pids=()
cleanup() {
  local status=$?
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  if [ "$status" -ne 0 ]; then
    echo "--- slurmctld.log (tail)"; tail -n 20 "$work/slurmctld.log" 2>/dev/null || true
    echo "--- slurmd.log (tail)"; tail -n 20 "$work/slurmd.log" 2>/dev/null || true
  fi
  rm -rf "$work"
  exit "$status"
}
trap cleanup EXIT

# munge: its own key, socket and files.
dd if=/dev/urandom of="$work/munge.key" bs=1024 count=1 status=none
chmod 400 "$work/munge.key"
mkdir -m 711 "$work/munge"
munged --foreground --force --key-file="$work/munge.key" --socket="$work/munge/munge.socket" \
       --pid-file="$work/munged.pid" --log-file="$work/munged.log" --seed-file="$work/munged.seed" 2>>"$work/munged.log" &
pids+=($!)
for _ in $(seq 50); do [ -S "$work/munge/munge.socket" ] && break; sleep 0.1; done
[ -S "$work/munge/munge.socket" ] || die "munged did not start: $(cat "$work/munged.log" 2>/dev/null)"

node=$(hostname -s)
cpus=$(getconf _NPROCESSORS_ONLN)
memory=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 / 2 ))
mkdir -p "$work/state" "$work/spool"
cat > "$work/slurm.conf" <<EOF
ClusterName=attrguardtest
SlurmctldHost=$node
SlurmctldPort=16917
SlurmdPort=16918
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$work/munge/munge.socket
CredType=cred/munge
StateSaveLocation=$work/state
SlurmdSpoolDir=$work/spool
SlurmctldPidFile=$work/slurmctld.pid
SlurmdPidFile=$work/slurmd.pid
SlurmctldLogFile=$work/slurmctld.log
SlurmdLogFile=$work/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
ReturnToService=2
JobRequeue=1
SchedulerType=sched/builtin
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SlurmdParameters=config_overrides
MinJobAge=600
NodeName=$node CPUs=$cpus RealMemory=$memory State=UNKNOWN
PartitionName=test Nodes=$node Default=YES MaxTime=INFINITE State=UP
EOF
export SLURM_CONF="$work/slurm.conf"
slurmctld -D -i >"$work/slurmctld.out" 2>&1 &
pids+=($!)
slurmd -D -N "$node" >"$work/slurmd.out" 2>&1 &
pids+=($!)
for _ in $(seq 100); do sinfo -h -o %T 2>/dev/null | grep -qE "^idle" && break; sleep 0.2; done
sinfo -h -o %T | grep -qE "^idle" || die "the node did not come up: $(sinfo 2>&1; cat "$work/slurmctld.out" "$work/slurmd.out")"
echo "SLURM $(sinfo -V | awk '{print $2}') up: node $node, $cpus CPUs"

# The ranks run as root: Open MPI needs to be told (sbatch passes the environment on).
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 ATTRGUARD_BIN="$bin"

# Waits for job $1 to leave the queue for good; prints its final state.
wait_job() {
  local id="$1" limit="$2" state=""
  for _ in $(seq "$limit"); do
    state=$(scontrol show job "$id" 2>/dev/null | grep -o 'JobState=[A-Z_]*' | cut -d= -f2 || true)
    case "$state" in COMPLETED|FAILED|CANCELLED|TIMEOUT|NODE_FAIL|OUT_OF_MEMORY) break ;; esac
    sleep 1
  done
  echo "$state"
}

# 1. The quickstart through the batch script, 2 tasks.
cd "$work"
quick=(--set train.max_steps=20 --set train.eval_attribution_samples=0 --set checkpoint.dir="$work/quick/checkpoints"
       --set log.metrics="$work/quick/metrics.jsonl")
id=$(sbatch --parsable -n 2 --output="$work/quick.log" "$here/launch/slurm.sbatch" "$here/configs/quickstart.yaml" "${quick[@]}")
state=$(wait_job "$id" 300)
[ "$state" = COMPLETED ] && grep -q "train: done after 20 steps" "$work/quick.log" \
  || die "quickstart job $id ended $state: $(cat "$work/quick.log")"
echo "1. sbatch launch/slurm.sbatch configs/quickstart.yaml (2 tasks): COMPLETED, 20 steps"

# 2. Time limit → USR1 → checkpoint → requeue → resume, until done; then the same run uninterrupted.
config="$work/requeue.yaml"
sed -e "s#runs/quickstart#$work/requeue#" "$here/configs/quickstart.yaml" > "$config"
long=(--set train.dtype=float64 --set train.max_steps=400 --set train.eval_attribution_samples=0 --set checkpoint.every=1000)
id=$(sbatch --parsable -n 2 --time=1 --signal=B:USR1@40 --requeue --output="$work/requeue-%j-%s.log" --open-mode=append \
       "$here/launch/slurm.sbatch" "$config" "${long[@]}")
state=$(wait_job "$id" 900)
restarts=$(scontrol show job "$id" | grep -o 'Restarts=[0-9]*' | cut -d= -f2)
log=$(cat "$work"/requeue-*.log 2>/dev/null || true)
[ "$state" = COMPLETED ] || die "requeue job $id ended $state after $restarts restart(s): $log"
[ "${restarts:-0}" -ge 1 ] || die "job $id was never requeued (the limit signal did not come before the end?): $log"
grep -q "resumed from" <<<"$log" || die "the requeued job did not resume: $log"
sed -e "s#runs/quickstart#$work/whole#" "$here/configs/quickstart.yaml" > "$work/whole.yaml"
"$here/launch/mpirun.sh" -np 2 train --config "$work/whole.yaml" "${long[@]}" > "$work/whole.log" 2>&1 \
  || die "the uninterrupted run failed: $(cat "$work/whole.log")"
a=$(ls "$work"/requeue/checkpoints/step-*.ckpt | tail -1) b=$(ls "$work"/whole/checkpoints/step-*.ckpt | tail -1)
"$bin" export --checkpoint "$a" --out "$work/a.safetensors" >/dev/null
"$bin" export --checkpoint "$b" --out "$work/b.safetensors" >/dev/null
# The tensors after the header (the header's metadata holds the config, whose paths differ).
tensors() { local n; n=$(od -An -t u8 -N 8 "$1" | tr -d ' '); tail -c +$((n + 9)) "$1"; }
cmp -s <(tensors "$work/a.safetensors") <(tensors "$work/b.safetensors") || die "requeued and uninterrupted runs differ ($a vs $b)"
echo "2. --time=1 --signal=B:USR1@40: requeued $restarts time(s), resumed, finished; weights equal to an uninterrupted run's, byte for byte"
echo "launch/test-slurm.sh: all checks passed"
