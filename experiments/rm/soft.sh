#!/usr/bin/env bash
# A reward model distilled from an AI judge's labels, hard or soft (rlhf rm -soft). Per seed: a
# teacher reward model trained as experiments/people/setup.sh trains the judge (2 epochs on 10,000
# pairs of the pretrained model's samples labelled by the lipogram goal); N fresh pairs, which
# the teacher labels as an AI judge (rlhf judge -abstain 0, its temperature fitted first on 1,000
# more pairs labelled by the goal, so that its confidences are calibrated); then three students,
# each 2 epochs from the pretrained model on the same N pairs: on the goal's own labels, on the
# judge's labels (hard), and toward the judge's confidences (-soft). All are measured on the same
# held-out fifth of the N pairs (split by prompt and seed): agreement with the goal's ordering. The
# teacher is measured on the same pairs (-epochs 0). Prints one markdown row per seed.
#
#   experiments/rm/soft.sh [SEEDS...]        (default 1 2 3 4 5; about 2 minutes a seed on 2 cores)
#
# OUT (default runs/rm-soft) and N (4000) change the settings.
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-runs/rm-soft}
N=${N:-4000}
seeds=("$@")
[ ${#seeds[@]} -gt 0 ] || seeds=(1 2 3 4 5)
mkdir -p "$OUT"
go build -o "$OUT/rlhf" ./cmd/rlhf
R=$OUT/rlhf
gold() { python3 -c 'import json,sys; print("%.1f" % (100 * json.load(open(sys.argv[1]))["val_gold_accuracy"]))' "$1/summary.json"; }
echo "| seed | teacher | judge's temperature (own -> fitted) | judge agrees with the goal (all N pairs) | student on the goal's labels | on the judge's, hard | soft (-soft) |"
echo "|---|---|---|---|---|---|---|"
for s in "${seeds[@]}"; do
  W=$OUT/seed$s
  rm -rf "$W"
  mkdir -p "$W"
  common=(-goal lipogram -letter e -beta 0 -epsilon 0)
  "$R" prefs "${common[@]}" -n 10000 -seed $((s + 100)) -out "$W/teacher-prefs.jsonl" 2> "$W/prefs.log"
  "$R" rm -data "$W/teacher-prefs.jsonl" -epochs 2 -seed "$s" -out "$W/teacher" > "$W/teacher.log" 2>&1
  "$R" prefs "${common[@]}" -n "$N" -seed $((s + 200)) -out "$W/pairs.jsonl" 2>> "$W/prefs.log"
  "$R" prefs "${common[@]}" -n 1000 -seed $((s + 300)) -out "$W/cal.jsonl" 2>> "$W/prefs.log"
  "$R" judge -model "$W/teacher" -in "$W/pairs.jsonl" -calibrate "$W/cal.jsonl" -abstain 0 \
    -out "$W/judged.jsonl" -defer "" > "$W/judge.md" 2> "$W/judge.log"
  rmargs=(-epochs 2 -seed "$s" -gold lipogram -letter e)
  "$R" rm -data "$W/pairs.jsonl" "${rmargs[@]}" -out "$W/student-gold" > "$W/student-gold.log" 2>&1
  "$R" rm -data "$W/judged.jsonl" "${rmargs[@]}" -out "$W/student-hard" > "$W/student-hard.log" 2>&1
  "$R" rm -data "$W/judged.jsonl" "${rmargs[@]}" -soft -out "$W/student-soft" > "$W/student-soft.log" 2>&1
  "$R" rm -data "$W/judged.jsonl" -init "$W/teacher" -epochs 0 -seed "$s" -gold lipogram -letter e \
    -out "$W/teacher-eval" > "$W/teacher-eval.log" 2>&1
  temp=$(grep -o 'temperature [0-9.]* -> [0-9.]*' "$W/judge.log" | head -n 1 | awk '{print $2 " -> " $4}')
  agree=$(grep -m 1 '^| 0 |' "$W/judge.md" | awk -F'|' '{printf "%.1f", 100 * $4}')
  echo "| $s | $(gold "$W/teacher-eval") | $temp | $agree | $(gold "$W/student-gold") | $(gold "$W/student-hard") | $(gold "$W/student-soft") |"
done
