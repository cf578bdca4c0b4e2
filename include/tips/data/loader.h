// tips/data/loader.h - the training data loader: source -> captions -> decode -> multi-crop -> masks ->
// tokens -> Batch, on a worker-thread pool with a bounded queue of ready batches. Not the sources
// (source.h), not the per-image transforms (augment.h, masking.h, captions.h).
//
// Determinism: the sample at (epoch, position) of this rank's stream (its SourceState before it was read) gets the
// seed rng::derive(seed, {epoch, position * world_size + rank}): its index in the global stream, so it is augmented
// the same whatever the number of ranks. Batches are assembled in stream order, so the output is a function of
// (seed, rank, world_size, source) only: thread count and timing never change it. Bad samples (source error, decode
// error, missing caption under `skip`/`fallback`) are skipped, counted and appended to the quarantine log
// (JSONL: key, path, reason, epoch, position); once >= min_seen samples are seen and bad / seen exceeds
// cfg.loader.max_bad_fraction, next() throws DataError with the counts and the log path.
// Resume: state() is recorded with each batch (source position right after that batch's last sample);
// restore() drops everything in flight and re-seeks the source, so the next batch equals the one an
// uninterrupted run would have produced. Replayed bad samples are logged again (the log is append-only).
// The workers parallelise across samples, so OpenCV's own thread pool is switched off (cv::setNumThreads(0),
// process-wide) when the first loader starts.
//
// Example:
//   tips::data::LoaderOptions o;
//   o.batch_size = 64; o.patch_size = 14; o.seed = seed; o.rank = rank; o.world_size = world;
//   o.quarantine_path = run_dir + "/quarantine.jsonl";
//   tips::data::Loader loader(cfg.data, tips::data::open_source(cfg.data, seed, rank, world), encode, o);
//   tips::data::Batch b = loader.next();   // b.global_crops (G, B, 3, Sg, Sg) ...
//   ckpt.loader = loader.state().to_json();
#pragma once
#include <torch/torch.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "tips/data/config.h"
#include "tips/data/sample.h"
#include "tips/data/source.h"

namespace tips::data {

// texts (B strings) -> (B, L) int64 token ids, 0 = padding. Called from one loader thread at a time.
// E.g. [&tok](const auto& t) { return tok.encode(t, 64); }.
using EncodeFn = std::function<torch::Tensor(const std::vector<std::string>&)>;

struct LoaderOptions {
  int64_t batch_size = 32;          // per-rank B
  int64_t patch_size = 14;          // masks have N = (global_size / patch_size)^2 entries; must divide global_size
  uint64_t seed = 0;                // run seed
  int64_t rank = 0;                 // this rank and the world size locate a sample in the global stream:
  int64_t world_size = 1;           // per-sample seeds use the global index position * world_size + rank,
                                    // so a sample is augmented identically whatever the number of ranks
  std::string quarantine_path;      // JSONL of skipped samples; "" = do not write
  int64_t min_seen = 50;            // bad-fraction check starts after this many samples
  bool pin_memory = true;           // page-locked batch tensors; only when torch::cuda::is_available()
};

// Everything needed to continue exactly after the last batch returned by next().
struct LoaderState {
  SourceState source;               // position of the first sample not consumed by returned batches
  int64_t batches = 0;              // batches returned so far
  int64_t seen = 0;                 // samples consumed (good + bad)
  int64_t bad = 0;                  // samples skipped
  std::string to_json() const;      // {"epoch":..,"position":..,"batches":..,"seen":..,"bad":..}
  static LoaderState from_json(const std::string& json);  // throws CheckpointError on malformed input
};

struct LoaderStats {
  int64_t batches = 0, samples = 0;  // returned by next() since construction / restore
  int64_t seen = 0, bad = 0;         // consumed by the pipeline (may run ahead of `batches`)
  double wait_s = 0;                 // total time next() blocked waiting for a batch (data-wait)
  double elapsed_s = 0;              // since the first next()
  double samples_per_s() const { return elapsed_s > 0 ? static_cast<double>(samples) / elapsed_s : 0.0; }
};

class Loader {
 public:
  // Threads start lazily on the first next(). Throws ConfigError for a bad cfg or options.
  Loader(const DataConfig& cfg, std::unique_ptr<SampleSource> source, EncodeFn encode, const LoaderOptions& opts);
  ~Loader();
  Loader(const Loader&) = delete;
  Loader& operator=(const Loader&) = delete;

  // The next batch of exactly batch_size good samples (see sample.h for shapes). Rethrows pipeline errors
  // (DataError for too many bad samples or missing captions under `error`) on this and every later call.
  Batch next();

  LoaderState state() const;
  void restore(const LoaderState& s);
  LoaderStats stats() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tips::data
