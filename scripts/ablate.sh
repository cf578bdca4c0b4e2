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
build_dir=${BUILD_DIR:-build}
tips="$build_dir/tips"
[ -x "$tips" ] || { bash scripts/install_deps.sh; cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release;
                    cmake --build "$build_dir" --target tips_cli; }
read -r data data_flags <<< "${ABLATE_DATA:-data/fashion_mosaic}"
# shellcheck disable=SC2086
bash scripts/demo_data.sh "$tips" "$data" $data_flags
data_set=""
if [ "$data" != data/fashion_mosaic ]; then
  data_set="text.tokenizer=$data/tokenizer.model data.path=$data/train_all.jsonl eval.seg_manifest=$data/test.jsonl"
  data_set+=" eval.cls_manifest=$data/single_test.jsonl eval.probe_manifest=$data/train.jsonl"
  data_set+=" eval.knn_bank_manifest=$data/single_train.jsonl"
fi
seeds=("$@"); [ ${#seeds[@]} -gt 0 ] || seeds=(0)
rows=(${ABLATE_ROWS:-tips_v1 +ibotpp +captions +head_ema +patch_text})
out=${ABLATE_OUT:-runs/ablations}
mkdir -p "$out"
results=$out/results.jsonl
: > "$results"
for seed in "${seeds[@]}"; do
  for row in "${rows[@]}"; do
    cfg="configs/ablations/$row.yaml"
    run="$out/${row#+}_s$seed"
    # shellcheck disable=SC2086
    /usr/bin/time -f "%e %M" -o "$run.time" bash scripts/train_local.sh "$tips" -c "$cfg" train.seed="$seed" \
      train.run_dir="$run" $data_set ${ABLATE_SET:-} \
      || { echo "ablate: $row seed $seed failed" >&2; exit 1; }
    ckpt=$(ls -1 "$run"/checkpoints/step_*.ckpt | sort | tail -n 1)
    # shellcheck disable=SC2086
    "$tips" eval -c "$cfg" train.run_dir="$run" $data_set ${ABLATE_SET:-} --checkpoint "$ckpt" --out "$run/eval" > /dev/null
    read -r secs kb < "$run.time"
    # One JSON object per line: eval.json and run_info.json are pretty-printed, so their newlines go. The median
    # step time is taken by `tips ablation-table` from $run/metrics.jsonl ("run_dir").
    info=$(tr -d '\n' 2>/dev/null < "$run/run_info.json" || echo null)
    echo "{\"row\": \"$row\", \"seed\": $seed, \"train_s\": $secs, \"peak_rss_mb\": $((kb / 1024)), \"run_dir\": \"$run\", \"run_info\": ${info:-null}, \"eval\": $(tr -d '\n' < "$run/eval/eval.json")}" >> "$results"
  done
done
"$tips" ablation-table "$results" > "$out/results.md"
cat "$out/results.md"
