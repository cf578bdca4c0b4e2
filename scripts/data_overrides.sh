#!/usr/bin/env bash
# Prints, one per line, the config overrides that point the demo's configs at another data folder written by
# scripts/demo_data.sh: its tokenizer and training manifest, and the evaluation splits (test canvases, single test
# items, the probe's training canvases, the kNN bank). For the study scripts:
#   mapfile -t overrides < <(bash scripts/data_overrides.sh data/fashion_mosaic_cc)
set -euo pipefail
data=$1
printf '%s\n' "text.tokenizer=$data/tokenizer.model" "data.path=$data/train_all.jsonl" \
  "eval.seg_manifest=$data/test.jsonl" "eval.cls_manifest=$data/single_test.jsonl" \
  "eval.probe_manifest=$data/train.jsonl" "eval.knn_bank_manifest=$data/single_train.jsonl"
