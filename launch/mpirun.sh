#!/usr/bin/env bash
# Runs attrguard under mpirun with the flags these machines need.
#   launch/mpirun.sh [-np N] [attrguard arguments...]
# N defaults to the number of cores / THREADS. Environment:
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
if [ "${1:-}" = "-np" ]; then np="$2"; shift 2; fi
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
flags=(-np "$np")
# Containers often run as root; Open MPI refuses that unless told.
if [ "$(id -u)" = 0 ]; then export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1; fi
# More ranks than cores (tests, laptops): allow it and do not pin.
if [ $(( np * OMP_NUM_THREADS )) -gt "$cores" ]; then flags+=(--oversubscribe --bind-to none)
elif [ "$OMP_NUM_THREADS" -gt 1 ]; then flags+=(--map-by "slot:PE=$OMP_NUM_THREADS" --bind-to core)   # T cores of its own per rank
else flags+=(--bind-to core); fi
# In-place ring all-reduce without CMA single copy measured fastest on these machines.
export OMPI_MCA_coll_tuned_use_dynamic_rules=1 OMPI_MCA_coll_tuned_allreduce_algorithm=4 \
       OMPI_MCA_btl_vader_single_copy_mechanism=none
for v in OPENBLAS_NUM_THREADS OMP_NUM_THREADS OMP_WAIT_POLICY OPENBLAS_CORETYPE OPENBLAS_L2_SIZE; do
  [ -n "${!v:-}" ] && flags+=(-x "$v")
done
# Stop requests (Ctrl-C, SIGTERM from a job manager, SIGUSR1 from `sbatch --signal=B:USR1@T`):
# `attrguard train` ranks finish their step, checkpoint and exit 75. mpirun itself answers
# SIGTERM/SIGINT by killing the ranks a second later, so the request is passed on as SIGUSR1
# (which mpirun forwards to every rank) and this script exits with the ranks' status; a second
# request terminates mpirun.
# shellcheck disable=SC2086
mpirun "${flags[@]}" ${MPIRUN_EXTRA:-} "$bin" "$@" &
pid=$!
requests=0
pass_on() { requests=$((requests + 1)); if [ "$requests" -eq 1 ]; then kill -USR1 "$pid"; else kill -TERM "$pid"; fi; }
trap pass_on TERM INT USR1
while :; do
  status=0; wait "$pid" || status=$?
  kill -0 "$pid" 2>/dev/null || break   # wait returned for a trapped signal, not for mpirun's exit
done
exit "$status"
