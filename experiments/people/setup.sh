# Sourced by online_dpo.sh and demo_judge.sh, from the repository root, with OUT, SEED and ADDR set:
# empties OUT, builds rlhf into it (BIN), trains the AI judge's reward model on labels of the
# lipogram goal itself (2 epochs on 10,000 pairs of the pretrained model's samples, seeded by SEED)
# into OUT/rm, and starts rlhf serve on the label store DB (OUT/labels.db) at ADDR with PEOPLE
# (default 1) scripted persons (label.py --rule lipogram, wrong with probability FLIP, default 0)
# answering through it: the first logged in as the admin (its log OUT/label.log), person i of
# 2..PEOPLE as the labeler person<i>, which it creates (label.py --as; log OUT/label<i>.log); all
# stop when the sourcing script exits. INSTRUCTIONS is what people are told; stop_person ends the
# persons and prints their tallies.
PEOPLE=${PEOPLE:-1}
case $PEOPLE in
  '' | *[!0-9]* | 0) echo "setup.sh: PEOPLE=$PEOPLE must be a positive whole number" >&2; exit 2 ;;
esac
rm -rf "$OUT"
mkdir -p "$OUT"
go build -o "$OUT/rlhf" ./cmd/rlhf
BIN=$OUT/rlhf
DB=sqlite://$OUT/labels.db
INSTRUCTIONS="Pick the completion with fewer words containing the letter e and more distinct words without it."

"$BIN" prefs -goal lipogram -letter e -beta 0 -epsilon 0 -n 10000 -seed $((SEED + 100)) \
  -out "$OUT/judge-prefs.jsonl" 2> "$OUT/judge-prefs.log"
"$BIN" rm -data "$OUT/judge-prefs.jsonl" -gold lipogram -letter e -epochs 2 -seed "$SEED" -out "$OUT/rm" > "$OUT/rm.log" 2>&1

RLHF_ADMIN_PASSWORD=demo-password "$BIN" serve -db "$DB" -addr "$ADDR" 2> "$OUT/serve.log" &
serve=$!
python3 experiments/people/label.py --url "http://$ADDR" --user admin --password demo-password \
  --rule lipogram --flip "${FLIP:-0}" 2> "$OUT/label.log" &
clients=($!)
for i in $(seq 2 "$PEOPLE"); do
  python3 experiments/people/label.py --url "http://$ADDR" --user admin --password demo-password --as "person$i" \
    --rule lipogram --flip "${FLIP:-0}" 2> "$OUT/label$i.log" &
  clients+=($!)
done
trap 'kill "${clients[@]}" $serve 2> /dev/null || true' EXIT

stop_person() {
  kill "${clients[@]}" 2> /dev/null || true
  wait "${clients[@]}" 2> /dev/null || true
  cat "$OUT/label.log"
  for i in $(seq 2 "$PEOPLE"); do
    cat "$OUT/label$i.log"
  done
}
