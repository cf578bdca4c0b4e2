#include "tips/data/loader.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>
#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>
#include <thread>

#include "tips/core/error.h"
#include "tips/core/rng.h"
#include "tips/data/augment.h"
#include "tips/data/captions.h"
#include "tips/data/masking.h"

namespace tips::data {

namespace {

using Clock = std::chrono::steady_clock;

struct Task {
  int64_t seq = 0;
  SourceItem item;
  SourceState before, after;
};

// One sample after the worker: either usable (ok) or a reason to skip it, or a fatal error.
struct Processed {
  bool ok = false;
  std::string reason;
  std::exception_ptr fatal;
  std::string key, path;
  SourceState before, after;
  int64_t label = -1;
  CaptionDraw captions;
  MultiCrop crops;
  torch::Tensor masks;  // (G, N) bool
};

// RFC 3629 UTF-8: no overlong forms, no surrogates, nothing above U+10FFFF.
bool is_valid_utf8(const std::string& s) {
  const auto* b = reinterpret_cast<const unsigned char*>(s.data());
  for (size_t i = 0, n = s.size(); i < n;) {
    const unsigned c = b[i];
    size_t len = 0;
    unsigned lo = 0x80, hi = 0xBF;
    if (c < 0x80) len = 1;
    else if (c >= 0xC2 && c <= 0xDF) len = 2;
    else if (c >= 0xE0 && c <= 0xEF) len = 3, lo = c == 0xE0 ? 0xA0 : 0x80, hi = c == 0xED ? 0x9F : 0xBF;
    else if (c >= 0xF0 && c <= 0xF4) len = 4, lo = c == 0xF0 ? 0x90 : 0x80, hi = c == 0xF4 ? 0x8F : 0xBF;
    else return false;
    if (i + len > n) return false;
    for (size_t k = 1; k < len; ++k) {
      const unsigned x = b[i + k];
      if (x < (k == 1 ? lo : 0x80) || x > (k == 1 ? hi : 0xBF)) return false;
    }
    i += len;
  }
  return true;
}

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

}  // namespace

std::string LoaderState::to_json() const {
  return nlohmann::json{{"epoch", source.epoch}, {"position", source.position}, {"batches", batches},
                        {"seen", seen}, {"bad", bad}}
      .dump();
}

LoaderState LoaderState::from_json(const std::string& text) {
  try {
    const auto j = nlohmann::json::parse(text);
    LoaderState s;
    s.source.epoch = j.at("epoch").get<int64_t>();
    s.source.position = j.at("position").get<int64_t>();
    s.batches = j.at("batches").get<int64_t>();
    s.seen = j.at("seen").get<int64_t>();
    s.bad = j.at("bad").get<int64_t>();
    return s;
  } catch (const nlohmann::json::exception& e) {
    throw CheckpointError("loader state: malformed JSON '" + text + "': " + e.what(),
                          "the checkpoint's loader entry is damaged; restart the data stream without it");
  }
}

struct Loader::Impl {
  Impl(const DataConfig& c, std::unique_ptr<SampleSource> s, EncodeFn e, const LoaderOptions& o)
      : cfg(c), opts(o), source(std::move(s)), encode(std::move(e)), augment(c.crops),
        masker(c.masking, c.crops.global_size / o.patch_size, c.crops.global_size / o.patch_size),
        captions(c.captions) {}

  DataConfig cfg;
  LoaderOptions opts;
  std::unique_ptr<SampleSource> source;
  EncodeFn encode;
  MultiCropAugment augment;
  BlockMaskGenerator masker;
  CaptionSampler captions;
  bool pin = false;
  int64_t window = 0;  // samples in flight between the source and the batch being assembled

  std::mutex mu;
  std::condition_variable task_cv, result_cv, ready_cv;
  std::deque<Task> tasks;
  std::map<int64_t, Processed> results;
  std::deque<std::pair<Batch, LoaderState>> ready;
  std::exception_ptr error;
  bool stop = false;
  bool running = false;
  std::thread coordinator;
  std::vector<std::thread> workers;

  LoaderState base;      // where the running pipeline started
  LoaderState current;   // state after the last returned batch
  LoaderStats stats;     // batches/samples/wait under mu; seen/bad mirrored by the coordinator
  Clock::time_point first_next{};
  std::ofstream quarantine;

  Processed process(const Task& t) const;
  Batch assemble(std::vector<Processed>& items) const;
  void log_bad(const Processed& p);
  // The coordinator thread: dispatch -> take (in stream order) -> count -> assemble -> publish.
  bool dispatch(int64_t& dispatched, int64_t consumed);
  std::optional<Processed> take(int64_t seq);
  void count(const Processed& p, LoaderState& st);
  bool publish(Batch b, const LoaderState& st);
  void coordinate();
  void work();
  void start();
  void halt();
};

Processed Loader::Impl::process(const Task& t) const {
  Processed p;
  p.key = t.item.sample.key;
  p.path = t.item.sample.image_path;
  p.before = t.before;
  p.after = t.after;
  if (!t.item.error.empty()) {
    p.reason = "source: " + t.item.error;
    return p;
  }
  // Sources stride the epoch permutation by rank, so (epoch, position * world + rank) names the sample globally.
  const int64_t global_index = t.before.position * opts.world_size + opts.rank;
  const uint64_t seed = rng::derive(opts.seed, {static_cast<uint64_t>(t.before.epoch), static_cast<uint64_t>(global_index)});
  try {
    rng::SplitMix caption_rng(rng::derive(seed, 0));
    p.captions = captions.draw(t.item.sample, caption_rng);
  } catch (const DataError&) {  // a missing caption under `missing: error`: fatal by configuration
    p.fatal = std::current_exception();
    return p;
  }
  if (p.captions.skipped()) {
    p.reason = "caption: " + p.captions.skip_reason;
    return p;
  }
  for (const CaptionPick* c : {&p.captions.stream1, &p.captions.stream2}) {
    if (!is_valid_utf8(c->text)) {
      p.reason = "caption: field '" + c->field + "' is not valid UTF-8";
      return p;
    }
  }
  // Anything else that goes wrong with this one sample is a counted skip, never the end of the run.
  try {
    Image img;
    try {
      img = decode_image(t.item.sample.image_bytes);
    } catch (const DataError& e) {
      p.reason = std::string("decode: ") + e.what();
      return p;
    }
    rng::SplitMix crop_rng(rng::derive(seed, 1)), mask_rng(rng::derive(seed, 2));
    p.crops = augment(img, crop_rng);
    const int64_t g = cfg.crops.global_count;
    p.masks = torch::empty({g, masker.num_patches()}, torch::kBool);
    for (int64_t i = 0; i < g; ++i) p.masks[i].copy_(masker(mask_rng));
    p.label = t.item.sample.label;
    p.ok = true;
  } catch (const std::exception& e) {
    p.reason = std::string("sample: ") + e.what();
  }
  return p;
}

Batch Loader::Impl::assemble(std::vector<Processed>& items) const {
  const int64_t b = static_cast<int64_t>(items.size());
  const auto& c = cfg.crops;
  const auto opt = torch::TensorOptions().pinned_memory(pin);
  Batch out;
  out.global_crops = torch::empty({c.global_count, b, 3, c.global_size, c.global_size}, opt);  // (G, B, 3, Sg, Sg)
  if (c.local_count > 0)
    out.local_crops = torch::empty({c.local_count, b, 3, c.local_size, c.local_size}, opt);    // (M, B, 3, Sl, Sl)
  out.masks = torch::empty({c.global_count, b, masker.num_patches()}, opt.dtype(torch::kBool)); // (G, B, N)
  out.labels = torch::empty({b}, opt.dtype(torch::kLong));
  for (int64_t i = 0; i < b; ++i) {
    Processed& p = items[i];
    out.global_crops.select(1, i).copy_(p.crops.global);
    if (c.local_count > 0) out.local_crops.select(1, i).copy_(p.crops.local);
    out.masks.select(1, i).copy_(p.masks);
    out.labels[i] = p.label;
    out.keys.push_back(std::move(p.key));
    out.captions1.push_back(std::move(p.captions.stream1.text));
    out.captions2.push_back(std::move(p.captions.stream2.text));
    out.caption2_fields.push_back(std::move(p.captions.stream2.field));
    if (p.captions.stream1.fallback || p.captions.stream2.fallback) ++out.caption_fallbacks;
  }
  const auto tokens = [&](const std::vector<std::string>& texts) {
    torch::Tensor t = encode(texts);
    TORCH_CHECK(t.dim() == 2 && t.size(0) == b && t.scalar_type() == torch::kLong,
                "Loader: encode_fn must return (B=", b, ", L) int64, got ", t.sizes(), " ", t.scalar_type());
    return pin ? t.pin_memory() : t;
  };
  out.tokens1 = tokens(out.captions1);  // (B, L)
  out.tokens2 = tokens(out.captions2);
  return out;
}

void Loader::Impl::log_bad(const Processed& p) {
  if (opts.quarantine_path.empty()) return;
  if (!quarantine.is_open()) {
    // The loader prefetches from construction on, so a bad sample can come before the trainer made its run dir.
    const std::filesystem::path parent = std::filesystem::path(opts.quarantine_path).parent_path();
    std::error_code ignored;  // a failure shows up as the open error below
    if (!parent.empty()) std::filesystem::create_directories(parent, ignored);
    quarantine.open(opts.quarantine_path, std::ios::app);
    if (!quarantine)
      throw DataError("loader: cannot open quarantine log '" + opts.quarantine_path + "'",
                      "check that the run directory exists and is writable");
  }
  // Keys, paths and reasons come from the data and may hold invalid UTF-8: replaced, never a throw.
  quarantine << nlohmann::json{{"key", p.key}, {"path", p.path}, {"reason", p.reason},
                               {"epoch", p.before.epoch}, {"position", p.before.position}}
                    .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)
             << '\n'
             << std::flush;
}

// Reads samples from the source into the task queue until `window` are in flight. False once stopped.
bool Loader::Impl::dispatch(int64_t& dispatched, int64_t consumed) {
  while (dispatched - consumed < window) {
    Task t;
    t.seq = dispatched++;
    t.before = source->state();
    t.item = source->next();
    t.after = source->state();
    std::lock_guard<std::mutex> lk(mu);
    if (stop) return false;
    tasks.push_back(std::move(t));
    task_cv.notify_one();
  }
  return true;
}

// The worker's result for sample `seq` (results arrive out of order; batches are assembled in stream order).
std::optional<Processed> Loader::Impl::take(int64_t seq) {
  std::unique_lock<std::mutex> lk(mu);
  result_cv.wait(lk, [&] { return stop || results.count(seq) > 0; });
  if (stop) return std::nullopt;
  auto it = results.find(seq);
  Processed p = std::move(it->second);
  results.erase(it);
  return p;
}

// Counts a sample into `st` (a bad one is logged to the quarantine), and throws DataError once the bad fraction
// passes data.loader.max_bad_fraction.
void Loader::Impl::count(const Processed& p, LoaderState& st) {
  ++st.seen;
  st.source = p.after;
  if (!p.ok) {
    ++st.bad;
    log_bad(p);
  }
  {
    std::lock_guard<std::mutex> lk(mu);
    stats.seen = st.seen;
    stats.bad = st.bad;
  }
  if (st.seen < opts.min_seen ||
      static_cast<double>(st.bad) <= cfg.loader.max_bad_fraction * static_cast<double>(st.seen))
    return;
  throw DataError("loader: " + std::to_string(st.bad) + " of " + std::to_string(st.seen) +
                      " samples were unreadable, more than data.loader.max_bad_fraction = " +
                      std::to_string(cfg.loader.max_bad_fraction),
                  (opts.quarantine_path.empty() ? std::string("enable the quarantine log to see keys and reasons")
                                                : "see the quarantine log '" + opts.quarantine_path +
                                                      "' for keys and reasons") +
                      "; fix the data or raise data.loader.max_bad_fraction");
}

// Hands a batch and the state right after it to next(), waiting while the prefetch queue is full. False once stopped.
bool Loader::Impl::publish(Batch b, const LoaderState& st) {
  std::unique_lock<std::mutex> lk(mu);
  ready_cv.wait(lk, [&] { return stop || static_cast<int64_t>(ready.size()) < cfg.loader.prefetch_batches; });
  if (stop) return false;
  ready.emplace_back(std::move(b), st);
  ready_cv.notify_all();
  return true;
}

void Loader::Impl::coordinate() {
  try {
    LoaderState st = base;
    int64_t dispatched = 0, consumed = 0;
    std::vector<Processed> batch;
    for (;;) {
      if (!dispatch(dispatched, consumed)) return;  // keep the workers fed
      std::optional<Processed> p = take(consumed);
      if (!p) return;
      ++consumed;
      if (p->fatal) std::rethrow_exception(p->fatal);
      count(*p, st);
      if (p->ok) batch.push_back(std::move(*p));
      if (static_cast<int64_t>(batch.size()) < opts.batch_size) continue;
      ++st.batches;
      Batch b = assemble(batch);
      batch.clear();
      if (!publish(std::move(b), st)) return;
    }
  } catch (...) {
    std::lock_guard<std::mutex> lk(mu);
    error = std::current_exception();
    ready_cv.notify_all();
  }
}

void Loader::Impl::work() {
  for (;;) {
    Task t;
    {
      std::unique_lock<std::mutex> lk(mu);
      task_cv.wait(lk, [&] { return stop || !tasks.empty(); });
      if (stop) return;
      t = std::move(tasks.front());
      tasks.pop_front();
    }
    Processed p = process(t);
    std::lock_guard<std::mutex> lk(mu);
    results.emplace(t.seq, std::move(p));
    result_cv.notify_all();
  }
}

void Loader::Impl::start() {
  stop = false;
  running = true;
  for (int64_t i = 0; i < cfg.loader.threads; ++i) workers.emplace_back([this] { work(); });
  coordinator = std::thread([this] { coordinate(); });
}

void Loader::Impl::halt() {
  {
    std::lock_guard<std::mutex> lk(mu);
    stop = true;
  }
  task_cv.notify_all();
  result_cv.notify_all();
  ready_cv.notify_all();
  if (coordinator.joinable()) coordinator.join();
  for (auto& w : workers) w.join();
  workers.clear();
  tasks.clear();
  results.clear();
  ready.clear();
  error = nullptr;
  running = false;
}

Loader::Loader(const DataConfig& cfg, std::unique_ptr<SampleSource> source, EncodeFn encode,
               const LoaderOptions& opts) {
  TORCH_CHECK(source != nullptr, "Loader: source is null");
  TORCH_CHECK(encode != nullptr, "Loader: encode function is empty");
  if (opts.batch_size < 1)
    throw ConfigError("loader: batch size must be >= 1, got " + std::to_string(opts.batch_size),
                      "train.batch_size is the global batch; it is divided by the world size");
  if (opts.patch_size < 1 || cfg.crops.global_size % opts.patch_size != 0)
    throw ConfigError("data.crops.global_size = " + std::to_string(cfg.crops.global_size) +
                          " is not a multiple of the patch size " + std::to_string(opts.patch_size),
                      "use e.g. 224 with patch 14 or 16");
  if (cfg.loader.threads < 1 || cfg.loader.prefetch_batches < 1)
    throw ConfigError("data.loader: threads and prefetch_batches must be >= 1, got " +
                          std::to_string(cfg.loader.threads) + " and " + std::to_string(cfg.loader.prefetch_batches),
                      "e.g. threads: 8, prefetch_batches: 4");
  impl_ = std::make_unique<Impl>(cfg, std::move(source), std::move(encode), opts);
  impl_->pin = opts.pin_memory && torch::cuda::is_available();
  impl_->window = 4 * cfg.loader.threads + 4;
  impl_->base.source = impl_->source->state();
  impl_->current = impl_->base;
  cv::setNumThreads(0);
  spdlog::info("loader: {} threads, prefetch {} batches, batch {}, {} in flight, pinned memory {}",
               cfg.loader.threads, cfg.loader.prefetch_batches, opts.batch_size, impl_->window,
               impl_->pin ? "on" : "off");
}

Loader::~Loader() { impl_->halt(); }

Batch Loader::next() {
  Impl& m = *impl_;
  if (!m.running) m.start();
  const auto t0 = Clock::now();
  if (m.stats.batches == 0) m.first_next = t0;
  std::unique_lock<std::mutex> lk(m.mu);
  m.ready_cv.wait(lk, [&] { return !m.ready.empty() || m.error; });
  m.stats.wait_s += seconds_since(t0);
  if (m.ready.empty()) std::rethrow_exception(m.error);
  auto [batch, state] = std::move(m.ready.front());
  m.ready.pop_front();
  m.ready_cv.notify_all();
  m.current = state;
  ++m.stats.batches;
  m.stats.samples += batch.size();
  m.stats.elapsed_s = seconds_since(m.first_next);
  return std::move(batch);
}

LoaderState Loader::state() const {
  std::lock_guard<std::mutex> lk(impl_->mu);
  return impl_->current;
}

void Loader::restore(const LoaderState& s) {
  Impl& m = *impl_;
  m.halt();
  m.source->restore(s.source);
  m.base = s;
  m.current = s;
  m.stats = LoaderStats{};
}

LoaderStats Loader::stats() const {
  std::lock_guard<std::mutex> lk(impl_->mu);
  return impl_->stats;
}

}  // namespace tips::data
