# Helpers shared by experiments/overopt/run.sh and goldrm.sh; they expect RUNS and STEPS.

# run NAME CMD...: run CMD under nice in the background (at most two at a time), logging
# to $RUNS/NAME.log and its wall-clock seconds to $RUNS/NAME.secs.
run() {
  local name=$1
  shift
  while [ "$(jobs -rp | wc -l)" -ge 2 ]; do wait -n || true; done
  echo "$*" >> "$RUNS/commands.txt"
  echo "start $name: $*"
  (
    start=$(date +%s)
    if nice "$@" > "$RUNS/$name.log" 2>&1; then
      echo $(( $(date +%s) - start )) > "$RUNS/$name.secs"
      echo "done  $name ($(cat "$RUNS/$name.secs") s)"
    else
      echo "FAILED $name (see $RUNS/$name.log)"
    fi
  ) &
}

# ppo_done DIR: the run in DIR logged its last step.
ppo_done() {
  [ -f "$1/metrics.jsonl" ] && [ "$(tail -n 1 "$1/metrics.jsonl" | jq -r .step)" -ge "$STEPS" ]
}
