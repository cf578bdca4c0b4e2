#!/usr/bin/env bash
# One row-run of a study (scripts/ablate.sh, scripts/where_diagnostic.sh): trains CONFIG through
# scripts/train_local.sh, evaluates its newest checkpoint into RUN_DIR/eval, and appends the run's JSON line
# (the input of `tips ablation-table`, include/tips/report/ablation_table.h) to RESULTS.
# Usage: scripts/run_row.sh TIPS_BINARY RESULTS ROW SEED RUN_DIR CONFIG [overrides...]
# The overrides apply to training and evaluation alike.
set -euo pipefail
tips=$1 results=$2 row=$3 seed=$4 run=$5 cfg=$6
shift 6
/usr/bin/time -f "%e %M" -o "$run.time" bash "$(dirname "$0")/train_local.sh" "$tips" -c "$cfg" train.seed="$seed" \
  train.run_dir="$run" "$@" || { echo "$row seed $seed failed (log: $run/)" >&2; exit 1; }
ckpt=$(ls -1 "$run"/checkpoints/step_*.ckpt | sort | tail -n 1)
"$tips" eval -c "$cfg" train.run_dir="$run" "$@" --checkpoint "$ckpt" --out "$run/eval" > /dev/null
read -r secs kb < "$run.time"
# One JSON object per line: eval.json and run_info.json are pretty-printed, so their newlines go. The median
# step time is taken by `tips ablation-table` from $run/metrics.jsonl ("run_dir").
info=$(tr -d '\n' 2>/dev/null < "$run/run_info.json" || echo null)
echo "{\"row\": \"$row\", \"seed\": $seed, \"train_s\": $secs, \"peak_rss_mb\": $((kb / 1024)), \"run_dir\": \"$run\", \"run_info\": ${info:-null}, \"eval\": $(tr -d '\n' < "$run/eval/eval.json")}" >> "$results"
