# Helpers shared by experiments/overopt/run.sh, goldrm.sh and ensemble.sh; they expect RUNS and STEPS.

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

# ppo_gold NAME REWARD SEED: PPO of the pretrained tiny GPT without a KL penalty against REWARD
# (a goal spec: rm:DIR or ens:MODE:DIRS), the gold model $GOLD logged, $STEPS steps at lr $LR,
# into $RUNS/NAME; resumed if it started, skipped if it finished. Expects BIN, GOLD, LR.
ppo_gold() {
  local out=$RUNS/$1
  ppo_done "$out" && return 0
  local resume=()
  [ -d "$out/checkpoint" ] && resume=(-resume)
  run "$1" "$BIN" ppo -policy models/tiny-gpt -reward "$2" -gold "rm:$GOLD" \
    -kl-target 0 -kl-coef 0 -lr "$LR" -steps "$STEPS" -seed "$3" -out "$out" "${resume[@]}"
}

# ens_members SEED: the comma-separated reward models of SEED's ensemble of $N-label proxies:
# goldrm.sh's proxy and ensemble.sh's seed-only members 2 and 3 in $RUNS, or with BOOT=1 its
# bootstrap members 1-3. Expects GOLDRM, RUNS, N and BOOT.
ens_members() {
  if [ "$BOOT" = 1 ]; then
    echo "$RUNS/rm-$N-s$1-b1,$RUNS/rm-$N-s$1-b2,$RUNS/rm-$N-s$1-b3"
  else
    echo "$GOLDRM/rm-$N-s$1,$RUNS/rm-$N-s$1-m2,$RUNS/rm-$N-s$1-m3"
  fi
}
