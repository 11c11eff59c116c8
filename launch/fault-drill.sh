#!/usr/bin/env bash
# Fault drill: a user's bad day, run against the built binary, with a table of trials and outcomes.
#   launch/fault-drill.sh [--kills N] [--stops N] [--pairs N] [--seed S] [--keep]
# Every trial trains the same small batch-norm model (a 2.1 M-parameter linear layer, so each
# checkpoint is 17 MB and its write takes a visible share of the step) for 40 steps with a
# checkpoint after every step, and is checked against an uninterrupted reference run by comparing
# the final checkpoints byte for byte (weights, optimizer state, every batch-norm statistic,
# step and config):
#   kill   SIGKILL during a checkpoint write (a random step's, 0-4 ms after its temporary file
#          appears), then --resume
#   stop   SIGTERM at a random moment to a 2-rank job (launch/mpirun.sh), then --resume
#   full   (root only) checkpoints and metrics on a tmpfs that fills up: a clear error naming the
#          file and "No space left on device", only complete checkpoints and metrics records left;
#          then the tmpfs is grown and --resume finishes the run exactly
#   pair   two fresh runs started together into one checkpoint.dir: one trains, the other is
#          refused at once by the run-directory lock
# Work happens in a temporary directory (removed unless --keep); tmpfs mounts are undone on exit.
# Exit status 0 when every trial's outcome is as expected.
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="${ATTRGUARD_BIN:-$here/.build/release/attrguard}"
[ -x "$bin" ] || { echo "fault-drill: $bin not found; build first (swift build -c release)" >&2; exit 2; }
kills=10 stops=6 pairs=4 seed=$$ keep=0
while [ $# -gt 0 ]; do
  case "$1" in
    --kills) kills="$2"; shift 2 ;;
    --stops) stops="$2"; shift 2 ;;
    --pairs) pairs="$2"; shift 2 ;;
    --seed) seed="$2"; shift 2 ;;
    --keep) keep=1; shift ;;
    *) echo "fault-drill: unknown option $1" >&2; exit 2 ;;
  esac
done
RANDOM=$seed
steps=40
work="$(mktemp -d /tmp/attrguard-fault-drill.XXXXXX)"
mounts=()
cleanup() {
  for m in "${mounts[@]}"; do umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null; done
  [ "$keep" = 1 ] && echo "fault-drill: work kept in $work" || rm -rf "$work"
}
trap cleanup EXIT
# A parent that ran MPI as a singleton leaves variables that break a child mpirun.
for v in $(env | grep -E '^(OMPI_|PMIX_|OPAL_)' | cut -d= -f1); do unset "$v"; done
if [ "$(id -u)" = 0 ]; then export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1; fi

# The trial config, with relative paths so every trial stores the same config text.
config() {
  cat <<EOF
seed: 5
model:
  name: layers
  layers:
    - {type: conv2d, in: 3, out: 16, kernel: 3, stride: 1, padding: 1}
    - {type: batchnorm2d, features: 16}
    - {type: softplus, beta: 10}
    - {type: flatten}
    - {type: linear, in: 16384, out: 128}
    - {type: softplus, beta: 10}
    - {type: linear, in: 128, out: 10}
data: {dataset: synthetic, train_per_class: 16, test_per_class: 2, augmentation: crop_flip}
method: {name: standard}
optim: {lr: 0.02, momentum: 0.9}
train: {epochs: 1000, max_steps: $steps, global_batch: 16, log_every: 1, eval_samples: 10}
checkpoint: {dir: checkpoints, every: 1, keep: ${1:-3}}
log: {metrics: metrics.jsonl}
EOF
}

rows=()
failures=0
row() { rows+=("$(printf '%-6s %3s  %-9s %-52s %s' "$1" "$2" "$3" "$4" "$5")"); [ "$5" = FAIL ] && failures=$((failures + 1)); }
final() { echo "checkpoints/$(printf 'step-%08d.ckpt' "$steps")"; }
# Each step logged exactly once: the metrics' training records are steps 1..40 in order.
metrics_ok() {
  python3 - "$1" "$steps" <<'EOF'
import json, sys
steps = []
for line in open(sys.argv[1]):
    r = json.loads(line)          # every line a complete record
    if 'total' in r: steps.append(r['step'])
sys.exit(0 if steps == list(range(1, int(sys.argv[2]) + 1)) else 1)
EOF
}
ms_now() { date +%s%3N; }
# Two checkpoints hold the same state: step, every tensor's bytes (weights, optimizer state,
# batch-norm statistics) and the header's other fields; only the stored config text may differ.
same_state() {
  python3 - "$1" "$2" <<'EOF'
import json, struct, sys
def state(path):
    data = open(path, 'rb').read()
    (n,) = struct.unpack('<Q', data[8:16])
    header = json.loads(data[16:16 + n]); header.pop('config')
    return header, data[16 + n:-16]
sys.exit(0 if state(sys.argv[1]) == state(sys.argv[2]) else 1)
EOF
}

# --- the reference: 40 uninterrupted steps (and its duration, for the kill moments) ---
mkdir -p "$work/ref" && config > "$work/ref/c.yaml"
t0=$(ms_now)
(cd "$work/ref" && "$bin" train --config c.yaml >log 2>&1) || { echo "fault-drill: the reference run failed:"; cat "$work/ref/log"; exit 1; }
ref_ms=$(( $(ms_now) - t0 ))
mkdir -p "$work/ref2" && config > "$work/ref2/c.yaml"
(cd "$work/ref2" && "$here/launch/mpirun.sh" -np 2 train --config c.yaml >log 2>&1) || { echo "fault-drill: the 2-rank reference failed:"; cat "$work/ref2/log"; exit 1; }
echo "fault-drill: reference runs of $steps steps (1 rank: $ref_ms ms; a 17 MB checkpoint a step); seed $seed"

# Resumes (or, when nothing was saved yet, starts over) until the run is done; echoes how.
finish() {  # dir launcher...
  local dir="$1"; shift
  if (cd "$dir" && ls checkpoints/step-*.ckpt >/dev/null 2>&1); then
    (cd "$dir" && "$@" train --config c.yaml --resume >>log 2>&1) && { grep -o 'at step [0-9]*' "$dir/log" | tail -1; return 0; }
  else
    (cd "$dir" && "$@" train --config c.yaml --overwrite-log >>log 2>&1) && { echo "started over"; return 0; }
  fi
  return 1
}

# --- kill -9 during checkpoint writes: as a random step's temporary file appears, after 0-4 ms ---
for i in $(seq 1 "$kills"); do
  d="$work/kill-$i"; mkdir -p "$d" && config > "$d/c.yaml"
  target=$(( 2 + RANDOM % (steps - 4) )); delay=$(( RANDOM % 5 ))
  at="s$target+$delay"
  (cd "$d" && exec "$bin" train --config c.yaml >log 2>&1) & pid=$!
  pattern="$d/checkpoints/$(printf 'step-%08d' "$target").ckpt.tmp-*"
  for _ in $(seq 1 20000); do compgen -G "$pattern" >/dev/null && break; kill -0 "$pid" 2>/dev/null || break; sleep 0.001; done
  sleep "0.00$delay"
  kill -9 "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
  partial=$(ls "$d/checkpoints" 2>/dev/null | grep -c '\.tmp-' || true)
  saved=$(ls "$d/checkpoints" 2>/dev/null | grep -c '^step-.*\.ckpt$' || true)
  how=$(finish "$d" "$bin") || { row kill "$i" "${at}ms" "resume failed: $(tail -1 "$d/log")" FAIL; continue; }
  left=$(ls "$d/checkpoints" | grep -c '\.tmp-' || true)
  detail="killed; $saved ckpt, $partial partial; $how"
  if cmp -s "$work/ref/$(final)" "$d/$(final)" && metrics_ok "$d/metrics.jsonl" && [ "$left" = 0 ]; then row kill "$i" "${at}ms" "$detail" ok
  else row kill "$i" "${at}ms" "$detail; differs/metrics/partial left=$left" FAIL; fi
done

# --- stop requests (SIGTERM to a 2-rank job) at random moments ---
for i in $(seq 1 "$stops"); do
  d="$work/stop-$i"; mkdir -p "$d" && config > "$d/c.yaml"
  at=$(( 500 + RANDOM % 3000 ))
  (cd "$d" && exec "$here/launch/mpirun.sh" -np 2 train --config c.yaml >log 2>&1) & pid=$!
  sleep "$(printf '%d.%03d' $((at / 1000)) $((at % 1000)))"
  kill -TERM "$pid" 2>/dev/null
  t0=$(ms_now); wait "$pid"; status=$?; took=$(( $(ms_now) - t0 ))
  stopped=$(grep -o 'stopped on request after step [0-9]*' "$d/log" | grep -o '[0-9]*$')
  how=$(finish "$d" "$here/launch/mpirun.sh" -np 2) || { row stop "$i" "${at}ms" "exit $status; resume failed: $(tail -1 "$d/log")" FAIL; continue; }
  detail="exit $status after ${took}ms${stopped:+ at step $stopped}; $how"
  if cmp -s "$work/ref2/$(final)" "$d/$(final)" && metrics_ok "$d/metrics.jsonl"; then row stop "$i" "${at}ms" "$detail" ok
  else row stop "$i" "${at}ms" "$detail; final checkpoint differs" FAIL; fi
done

# --- a full disk for checkpoints and metrics (root: tmpfs) ---
if [ "$(id -u)" = 0 ]; then
  d="$work/full"; mkdir -p "$d/fs" && config 1000 > "$d/c.yaml"
  sed -i 's|dir: checkpoints|dir: fs/checkpoints|; s|metrics: metrics.jsonl|metrics: fs/metrics.jsonl|' "$d/c.yaml"
  if mount -t tmpfs -o size=150m tmpfs "$d/fs"; then
    mounts+=("$d/fs")
    (cd "$d" && "$bin" train --config c.yaml >log 2>&1); status=$?
    saved=$(ls "$d/fs/checkpoints" | grep -c '^step-.*\.ckpt$'); tmp=$(ls "$d/fs/checkpoints" | grep -c '\.tmp-' || true)
    msg=$(grep -o 'fs/[a-z/]*[-.a-z0-9]*: [^;]*No space left on device' "$d/log" | head -1)
    readable=ok; "$bin" export --checkpoint "$d/fs/checkpoints" --out "$d/x.safetensors" >/dev/null 2>&1 || readable=no
    records_ok=yes; python3 -c "import json,sys; [json.loads(l) for l in open(sys.argv[1])]" "$d/fs/metrics.jsonl" 2>/dev/null || records_ok=no
    mount -o remount,size=1g "$d/fs"
    (cd "$d" && "$bin" train --config c.yaml --resume >>log 2>&1); resumed=$?
    same_state "$work/ref/$(final)" "$d/fs/$(final)"; same=$?
    detail="exit $status, $saved ckpt, $tmp partial, newest readable: $readable, records whole: $records_ok; grown: resume exit $resumed"
    if [ "$status" = 1 ] && [ -n "$msg" ] && [ "$tmp" = 0 ] && [ "$readable" = ok ] && [ "$records_ok" = yes ] && [ "$resumed" = 0 ] && [ "$same" = 0 ] && metrics_ok "$d/fs/metrics.jsonl"
    then row full 1 150MiB "$detail" ok; echo "fault-drill: full disk said: ${msg}"
    else row full 1 150MiB "$detail; message '${msg}'" FAIL; fi
    # Metrics alone on a tiny tmpfs (checkpoints elsewhere): the log fills first.
    d="$work/full-metrics"; mkdir -p "$d/fs" && config > "$d/c.yaml"
    sed -i 's|metrics: metrics.jsonl|metrics: fs/metrics.jsonl|' "$d/c.yaml"
    if mount -t tmpfs -o size=4k tmpfs "$d/fs"; then
      mounts+=("$d/fs")
      (cd "$d" && "$bin" train --config c.yaml >log 2>&1); status=$?
      msg=$(grep -o 'fs/metrics.jsonl: log.metrics: cannot append a record: No space left on device' "$d/log" | head -1)
      records_ok=yes; python3 -c "import json,sys; [json.loads(l) for l in open(sys.argv[1])]" "$d/fs/metrics.jsonl" 2>/dev/null || records_ok=no
      mount -o remount,size=1m "$d/fs"
      (cd "$d" && "$bin" train --config c.yaml --resume >>log 2>&1); resumed=$?
      detail="exit $status, records whole: $records_ok; grown: resume exit $resumed"
      if [ "$status" = 1 ] && [ -n "$msg" ] && [ "$records_ok" = yes ] && [ "$resumed" = 0 ] && same_state "$work/ref/$(final)" "$d/$(final)" && metrics_ok "$d/fs/metrics.jsonl"
      then row full 2 4KiB "$detail" ok
      else row full 2 4KiB "$detail; message '${msg}'" FAIL; fi
    fi
  else
    row full 1 - "tmpfs mount refused" SKIP
  fi
else
  rows+=("full     -  (needs root: tmpfs mounts; skipped)")
fi

# --- two fresh runs into one checkpoint.dir at once ---
for i in $(seq 1 "$pairs"); do
  d="$work/pair-$i"; mkdir -p "$d/a" "$d/b"
  config > "$d/a/c.yaml"; config > "$d/b/c.yaml"
  sed -i "s|dir: checkpoints|dir: $d/checkpoints|" "$d/a/c.yaml" "$d/b/c.yaml"
  (cd "$d/a" && exec "$bin" train --config c.yaml >log 2>&1) & pa=$!
  (cd "$d/b" && exec "$bin" train --config c.yaml >log 2>&1) & pb=$!
  wait "$pa"; sa=$?; wait "$pb"; sb=$?
  loser=$(grep -l 'in use by another run\|holds an earlier run' "$d/a/log" "$d/b/log" | head -1)
  detail="exits $sa/$sb; refused: ${loser:+$(basename "$(dirname "$loser")")}: $(grep -o 'in use by another run ([^)]*)\|holds an earlier run' "$d"/*/log | head -1 | cut -d: -f2-)"
  if [ $((sa + sb)) = 1 ] && [ -n "$loser" ] && [ "$(ls "$d/checkpoints" | grep -c '^step-')" = 3 ]; then row pair "$i" - "$detail" ok
  else row pair "$i" - "$detail" FAIL; fi
done

printf '\n%-6s %3s  %-9s %-52s %s\n' trial "#" moment "what happened" outcome
printf '%s\n' "${rows[@]}"
echo
echo "fault-drill: $((${#rows[@]} - failures)) of ${#rows[@]} trials as expected"
[ "$failures" = 0 ]
