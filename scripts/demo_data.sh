#!/usr/bin/env bash
# The demo's data, shared by scripts/demo.sh and scripts/ablate.sh: Fashion-MNIST mosaics (kept when meta.json
# matches) and a SentencePiece tokenizer on their caption corpus (retrained whenever the corpus is newer).
# Usage: scripts/demo_data.sh TIPS_BINARY [DATA_DIR [GENERATOR_FLAGS...]]   (DATA_DIR: data/fashion_mosaic)
#        e.g. scripts/demo_data.sh build/tips data/fashion_mosaic_cc --class-colors
set -euo pipefail
cd "$(dirname "$0")/.."
tips=$1
data=${2:-data/fashion_mosaic}
shift $(( $# >= 2 ? 2 : $# ))
"$tips" data fashion-mosaic --out "$data" "$@"
# 150 pieces: the version-2 captions (no colour words) have about 150 distinct pieces; the config's
# text.vocab_size must match.
if [ ! "$data/tokenizer.model" -nt "$data/corpus.txt" ]; then
  "$tips" tokenizer train --corpus "$data/corpus.txt" --out-prefix "$data/tokenizer" --vocab-size 150
fi
