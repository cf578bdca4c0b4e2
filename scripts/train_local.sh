#!/usr/bin/env bash
# scripts/train_local.sh TIPS_BINARY [train args...] - `tips train` on this host as local Gloo ranks of one
# intra-op thread each: on the 2-core CPU, 2 ranks x 1 thread took 0.36 s per demo step against 0.44 s for one
# process with 2 threads (docs/results.md, "Using both cores"). The global batch stays the config's and every loss
# term is a mean over it, so the ranks train the same objective as one process.
# TRAIN_RANKS picks the rank count (default: 2 on a machine with >= 2 cores, else 1); each rank gets
# train.threads = cores / ranks. TRAIN_RANKS=1 trains in one process with the config's thread count.
set -euo pipefail
here=$(dirname "$0")  # no cd: the caller's relative paths (binary, configs, overrides) stay valid
tips=$1
shift
cores=$(env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT nproc)  # nproc alone follows OMP_NUM_THREADS
ranks=${TRAIN_RANKS:-$(( cores >= 2 ? 2 : 1 ))}
if [ "$ranks" -le 1 ]; then
  exec "$tips" train "$@"
fi
# The thread overrides come first, so that the caller's own overrides still win.
exec bash "$here/launch_local.sh" "$ranks" "$tips" train train.threads=$(( cores > ranks ? cores / ranks : 1 )) \
  data.loader.threads=1 "$@"
