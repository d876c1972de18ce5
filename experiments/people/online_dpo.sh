#!/usr/bin/env bash
# Online DPO with people and an AI judge, end to end on one machine. Each of ROUNDS rounds of
# `rlhf dpo -online -labeler human` samples 2 completions of PROMPTS train prompts from the
# latest policy and posts them to the label store; `rlhf serve` shows them and a scripted person
# (label.py --rule lipogram) answers through the labeling API, preferring the completion with the
# higher lipogram score (avoid the letter e), the gold goal; each round trains one epoch of DPO
# (β BETA, learning rate 1e-4) against the pretrained model on the answers. Three arms on the same
# seed, so that round 1 compares the same samples in each:
#   people  the person answers every group;
#   judge   an AI judge (a reward model trained for 2 epochs on 10,000 pairs of the pretrained
#           model's samples labelled by the lipogram goal) answers the groups where P(its pick
#           wins) >= 0.5 + ABSTAIN, the person the rest;
#   alone   the judge answers every group (-abstain 0): nobody is asked;
#   recal   as judge, and the person also answers a share AUDIT of the judge's answers (-audit), on
#           which the judge's temperature is refitted before each round (-judge-recalibrate);
#   recaln  as recal, the refit told that people are wrong a share FLIP of the time (-people-error);
#   recals  as recal, DPO trained toward the judge's confidences on its pairs (-soft);
#   peoples as people, DPO with label smoothing FLIP (conservative DPO at the person's error rate);
#   people3 as people, each group answered by 3 different people (-overlap 3), every answer trains;
#   vote3   as people3, each group trains once, on the people's consensus pick (-aggregate vote: the
#           most probable under a one-coin model of each person's accuracy, estimated from how often
#           they agree); a split group trains nothing;
#   vote3s  as vote3, DPO trained toward the consensus's confidence (-soft);
#   recala  as recaln, each group people answer answered by 2 people (-overlap 2), the refit taking
#           people's error rate from how often they agreed in the earlier rounds (-people-error auto).
# ARMS picks the arms (default: people judge alone). The arms with 3 people per group need PEOPLE >= 3
# scripted persons (recala 2: the admin and the labelers person2..person<PEOPLE>), each as noisy as FLIP.
# After each round `rlhf eval` measures gold lipogram and KL to the pretrained model on 256
# held-out prompts; odpo_table.py prints the table.
#
#   experiments/people/online_dpo.sh          # about 10 minutes on 2 cores; output in $OUT
#
# OUT (default runs/people-odpo; removed first), ROUNDS (3), PROMPTS (1000), BETA (1),
# ABSTAIN (0.2), AUDIT (0.1), FLIP (0: how often each person picks against the goal), PEOPLE (1),
# SEED (1), ADDR (127.0.0.1:18183) change the settings.
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-runs/people-odpo}
ROUNDS=${ROUNDS:-3}
PROMPTS=${PROMPTS:-1000}
BETA=${BETA:-1}
ABSTAIN=${ABSTAIN:-0.2}
AUDIT=${AUDIT:-0.1}
ARMS=${ARMS:-people judge alone}
SEED=${SEED:-1}
ADDR=${ADDR:-127.0.0.1:18183}
PEOPLE=${PEOPLE:-1}
BASE=models/tiny-gpt
for arm in $ARMS; do
  case $arm in
    people3 | vote3 | vote3s | recala)
      need=3
      [ "$arm" = recala ] && need=2
      if ! [[ $PEOPLE =~ ^[0-9]+$ ]] || [ "$PEOPLE" -lt $need ]; then
        echo "online_dpo.sh: arm $arm has $need people answer each group: set PEOPLE=$need or more (now $PEOPLE)" >&2
        exit 2
      fi ;;
  esac
done
. experiments/people/setup.sh

common=(-labeler human -db "$DB" -label-poll 200ms -policy "$BASE" -online-n 2 -online-prompts "$PROMPTS"
  -beta "$BETA" -lr 1e-4 -val-frac 0 -kl-prompts 0 -seed "$SEED"
  -instructions "$INSTRUCTIONS")
for arm in $ARMS; do
  case $arm in
    people) extra=() ;;
    peoples) extra=(-label-smoothing "${FLIP:-0}") ;;
    judge) extra=(-judge "$OUT/rm" -abstain "$ABSTAIN") ;;
    alone) extra=(-judge "$OUT/rm" -abstain 0) ;;
    recal) extra=(-judge "$OUT/rm" -abstain "$ABSTAIN" -audit "$AUDIT" -judge-recalibrate) ;;
    recaln) extra=(-judge "$OUT/rm" -abstain "$ABSTAIN" -audit "$AUDIT" -judge-recalibrate -people-error "${FLIP:-0}") ;;
    recals) extra=(-judge "$OUT/rm" -abstain "$ABSTAIN" -audit "$AUDIT" -judge-recalibrate -soft) ;;
    people3) extra=(-overlap 3) ;;
    vote3) extra=(-overlap 3 -aggregate vote) ;;
    vote3s) extra=(-overlap 3 -aggregate vote -soft) ;;
    recala) extra=(-judge "$OUT/rm" -abstain "$ABSTAIN" -audit "$AUDIT" -judge-recalibrate -overlap 2 -people-error auto) ;;
    *) echo "online_dpo.sh: unknown arm $arm" >&2; exit 2 ;;
  esac
  mkdir -p "$OUT/$arm"
  for r in $(seq "$ROUNDS"); do
    start=$(date +%s)
    "$BIN" dpo -online "$r" "${common[@]}" "${extra[@]}" -out "$OUT/$arm" > "$OUT/$arm/round$r.log" 2>&1
    "$BIN" eval -policy "$OUT/$arm/round$r" -ref "$BASE" -goal lipogram -letter e -prompts 256 -seed "$SEED" \
      -out "$OUT/$arm/round$r/eval.json" > "$OUT/$arm/round$r/eval.txt" 2>&1
    echo "$arm round $r: $(( $(date +%s) - start )) s" >&2
  done
done
"$BIN" eval -policy "$BASE" -ref "$BASE" -goal lipogram -letter e -prompts 256 -seed "$SEED" -out "$OUT/base-eval.json" > /dev/null 2>&1
python3 experiments/people/odpo_table.py "$OUT" "$ROUNDS"
stop_person
