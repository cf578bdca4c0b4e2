#!/usr/bin/env bash
# The "where" with recognition made free (docs/results.md, "Items the model cannot miss"). On class-coloured mosaics
# (`tips data fashion-mosaic --class-colors`: every item in its class's colour, the captions without colour words)
# it trains, per seed, with the demo config's budget:
#   recipe          configs/demo/fashion_tiny.yaml: TIPSv2's losses
#   +patch_text     the same + the patch-text extension (configs/ablations/+patch_text.yaml): patches that match
#                   the text, the teacher of the next two rows
#   student_mask0   a student from random weights, distilled from that teacher's tokens on every patch at mask
#                   ratio 0 (configs/distill/demo_student.yaml, feature targets), with the recipe's contrastive loss
#                   and a text tower of its own
#   student_mask75  the same with 75 % of the student's patches masked (the control)
# evaluates each on the test split and writes $WHERE_OUT/results.md (`tips ablation-table`). About 25 minutes a
# seed on 2 cores (bf16).
# Usage: scripts/where_diagnostic.sh [seeds...]   (default: 0)   WHERE_OUT=runs/where, WHERE_SET="train.steps=600"
set -euo pipefail
cd "$(dirname "$0")/.."
tips=$(bash scripts/tips_binary.sh)
data=data/fashion_mosaic_cc
bash scripts/demo_data.sh "$tips" "$data" --class-colors
mapfile -t paths < <(bash scripts/data_overrides.sh "$data")
read -r -a extra <<< "${WHERE_SET:-}"
seeds=("$@"); [ ${#seeds[@]} -gt 0 ] || seeds=(0)
out=${WHERE_OUT:-runs/where}
mkdir -p "$out"
results=$out/results.jsonl
: > "$results"
row() { bash scripts/run_row.sh "$tips" "$results" "$1" "$seed" "$out/${1#+}_s$seed" "$2" "${paths[@]}" "${@:3}" \
          ${extra[@]+"${extra[@]}"}; }
for seed in "${seeds[@]}"; do
  row recipe configs/demo/fashion_tiny.yaml
  row +patch_text configs/ablations/+patch_text.yaml
  teacher=$(ls -1 "$out/patch_text_s$seed"/checkpoints/step_*.ckpt | sort | tail -n 1)
  distill=(teacher.weights="$teacher" teacher.targets=features loss.dino.weight=0 loss.ibot.weight=0
           loss.distill.weight=1)
  row student_mask0 configs/distill/demo_student.yaml "${distill[@]}"
  row student_mask75 configs/distill/demo_student.yaml "${distill[@]}" data.masking.probability=1 \
      data.masking.ratio_min=0.75 data.masking.ratio_max=0.75
done
"$tips" ablation-table "$results" > "$out/results.md"
cat "$out/results.md"
