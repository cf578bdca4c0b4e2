#!/usr/bin/env bash
# TIPSv2 Table 4 in miniature on the Fashion-MNIST mosaics: trains the five configs of configs/ablations/
# (TIPS v1 -> +iBOT++ -> +multi-granularity captions -> +head-only EMA = TIPSv2), then TIPSv2 + the patch-text
# extension (not in the recipe), with the same budget and seeds, evaluates each, and writes runs/ablations/results.md
# (ABLATE_OUT=runs/other: another directory, e.g. for a second budget next to the first).
# Training goes through scripts/train_local.sh (2 local ranks of 1 thread on a 2-core machine; TRAIN_RANKS=1 for
# one process); the peak RSS it records is then the largest rank's.
# Usage: scripts/ablate.sh [seeds...]   (default: 0)   Extra overrides: ABLATE_SET="train.steps=200"
#        ABLATE_ROWS="tips_v1 +head_ema" picks rows (default: all five)
#        ABLATE_DATA="data/fashion_mosaic_cc --class-colors": another data folder and its generator flags; the
#        configs' data, tokenizer and evaluation paths follow it (the class-colour diagnostic, docs/results.md)
set -euo pipefail
cd "$(dirname "$0")/.."
tips=$(bash scripts/tips_binary.sh)
read -r data data_flags <<< "${ABLATE_DATA:-data/fashion_mosaic}"
# shellcheck disable=SC2086
bash scripts/demo_data.sh "$tips" "$data" $data_flags
data_set=()
[ "$data" = data/fashion_mosaic ] || mapfile -t data_set < <(bash scripts/data_overrides.sh "$data")
seeds=("$@"); [ ${#seeds[@]} -gt 0 ] || seeds=(0)
read -r -a rows <<< "${ABLATE_ROWS:-tips_v1 +ibotpp +captions +head_ema +patch_text}"
out=${ABLATE_OUT:-runs/ablations}
mkdir -p "$out"
results=$out/results.jsonl
: > "$results"
for seed in "${seeds[@]}"; do
  for row in "${rows[@]}"; do
    # shellcheck disable=SC2086
    bash scripts/run_row.sh "$tips" "$results" "$row" "$seed" "$out/${row#+}_s$seed" "configs/ablations/$row.yaml" \
      ${data_set[@]+"${data_set[@]}"} ${ABLATE_SET:-}
  done
done
"$tips" ablation-table "$results" > "$out/results.md"
cat "$out/results.md"
