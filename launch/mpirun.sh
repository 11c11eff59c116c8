#!/usr/bin/env bash
# Runs attrguard under mpirun with the flags these machines need.
#   launch/mpirun.sh [--max-restarts K] [--restart-np M] [-np N] [attrguard arguments...]
# N defaults to the number of cores / THREADS.
# --max-restarts K: when the job fails — a rank killed (status 128+signal, e.g. 137 after SIGKILL or
# an out-of-memory kill) or a collective timed out (124, train.collective_timeout_s) — start it again
# with --resume-if-checkpoint (the newest good checkpoint, or a fresh start when none was written), up
# to K times, on M ranks (--restart-np; default N: a lost node's ranks can be left out). Other
# failures (a config error, a damaged file: status 1, usage 64) would fail again and end the script;
# a stop request (75) ends it too. Each start is announced on stderr with its number.
# Environment:
#   ATTRGUARD_BIN        the binary (default: .build/release/attrguard)
#   THREADS              threads per rank for BLAS, oneDNN and AttrGuard's kernels (default 1: ranks
#                        are the parallelism); each rank is bound to THREADS cores of its own
#   OPENBLAS_NUM_THREADS BLAS threads per rank (default THREADS)
#   OMP_NUM_THREADS      oneDNN (OpenMP) and AttrGuard kernel threads per rank (default: OPENBLAS_NUM_THREADS)
#   OMP_WAIT_POLICY      PASSIVE by default when a rank has several threads
#   MPIRUN_EXTRA         extra mpirun flags
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cores=$(getconf _NPROCESSORS_ONLN)
threads="${THREADS:-${OPENBLAS_NUM_THREADS:-1}}"
np=$(( cores / threads > 0 ? cores / threads : 1 ))
max_restarts=0 restart_np=
while :; do
  case "${1:-}" in
    -np) np="${2:?-np needs a rank count}"; shift 2 ;;
    --max-restarts) max_restarts="${2:?--max-restarts needs a count}"; shift 2 ;;
    --restart-np) restart_np="${2:?--restart-np needs a rank count}"; shift 2 ;;
    *) break ;;
  esac
done
for v in "$np" "$max_restarts" ${restart_np:+"$restart_np"}; do
  [[ "$v" =~ ^[0-9]+$ ]] || { echo "launch/mpirun.sh: -np, --max-restarts and --restart-np take whole numbers, got '$v'" >&2; exit 2; }
done
[ "$max_restarts" -gt 0 ] && [ "${1:-}" != train ] && { echo "launch/mpirun.sh: --max-restarts restarts 'attrguard train' only" >&2; exit 2; }
bin="${ATTRGUARD_BIN:-$here/.build/release/attrguard}"
[ -x "$bin" ] || { echo "launch/mpirun.sh: $bin not found; build first (swift build -c release)" >&2; exit 2; }

# A parent that ran MPI as a singleton leaves OMPI_/PMIX_ variables that break a child mpirun.
for v in $(env | grep -E '^(OMPI_|PMIX_|OPAL_)' | cut -d= -f1); do unset "$v"; done

export OPENBLAS_NUM_THREADS="${OPENBLAS_NUM_THREADS:-$threads}"
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-$OPENBLAS_NUM_THREADS}"
# Several threads a rank: OpenMP's idle workers must sleep, not spin, or they take the cores our
# own kernels' threads run on between oneDNN calls (ResNet-18 l2cos, 1 rank × 2 threads: 3.46 s a
# step spinning, 2.48 s passive). libgomp reads this once at load, so it is set here, not in the binary.
if [ "$OMP_NUM_THREADS" -gt 1 ]; then export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-PASSIVE}"; fi
# Containers often run as root; Open MPI refuses that unless told.
if [ "$(id -u)" = 0 ]; then export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1; fi
# In-place ring all-reduce without CMA single copy measured fastest on these machines.
export OMPI_MCA_coll_tuned_use_dynamic_rules=1 OMPI_MCA_coll_tuned_allreduce_algorithm=4 \
       OMPI_MCA_btl_vader_single_copy_mechanism=none

# mpirun's flags for N ranks.
flags_for() {
  local n="$1"
  flags=(-np "$n")
  # More ranks than cores (tests, laptops): allow it and do not pin.
  if [ $(( n * OMP_NUM_THREADS )) -gt "$cores" ]; then flags+=(--oversubscribe --bind-to none)
  elif [ "$OMP_NUM_THREADS" -gt 1 ]; then flags+=(--map-by "slot:PE=$OMP_NUM_THREADS" --bind-to core)   # T cores of its own per rank
  else flags+=(--bind-to core); fi
  for v in OPENBLAS_NUM_THREADS OMP_NUM_THREADS OMP_WAIT_POLICY OPENBLAS_CORETYPE OPENBLAS_L2_SIZE; do
    [ -n "${!v:-}" ] && flags+=(-x "$v")
  done
  return 0
}

# Stop requests (Ctrl-C, SIGTERM from a job manager, SIGUSR1 from `sbatch --signal=B:USR1@T`):
# `attrguard train` ranks finish their step, checkpoint and exit 75. mpirun itself answers
# SIGTERM/SIGINT by killing the ranks a second later, so the request is passed on as SIGUSR1
# (which mpirun forwards to every rank) and this script exits with the ranks' status; a second
# request terminates mpirun. A stop request is never followed by a restart.
requests=0 pid=
pass_on() { requests=$((requests + 1)); [ -n "$pid" ] || return 0; if [ "$requests" -eq 1 ]; then kill -USR1 "$pid"; else kill -TERM "$pid"; fi; }
trap pass_on TERM INT USR1
args=("$@")
attempt=0
while :; do
  flags_for "$np"
  # shellcheck disable=SC2086
  mpirun "${flags[@]}" ${MPIRUN_EXTRA:-} "$bin" "${args[@]}" &
  pid=$!
  while :; do
    status=0; wait "$pid" || status=$?
    kill -0 "$pid" 2>/dev/null || break   # wait returned for a trapped signal, not for mpirun's exit
  done
  pid=
  # Restart only what a restart can mend: a rank that died or a collective that timed out.
  if [ "$status" -eq 0 ] || [ "$requests" -gt 0 ] || [ "$attempt" -ge "$max_restarts" ] \
     || { [ "$status" -ne 124 ] && [ "$status" -lt 128 ]; }; then
    [ "$attempt" -gt 0 ] && echo "launch/mpirun.sh: finished with status $status after $attempt restart(s)" >&2
    exit "$status"
  fi
  attempt=$((attempt + 1))
  np="${restart_np:-$np}"
  echo "launch/mpirun.sh: the job failed with status $status; restart $attempt of $max_restarts on $np rank(s) from the newest checkpoint" >&2
  case " ${args[*]} " in *" --resume "*|*" --resume-if-checkpoint "*) ;; *) args+=(--resume-if-checkpoint) ;; esac
done
