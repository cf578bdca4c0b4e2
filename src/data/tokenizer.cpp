#include "tips/data/tokenizer.h"

#include <dlfcn.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <mutex>

#include "data/spm_shim/spm_shim.h"
#include "tips/core/error.h"

namespace tips::data {
namespace {

// ASCII lower-casing (as the reference's text.lower() for ASCII). Our trained models additionally case-fold
// any Unicode text through their `nmt_nfkc_cf` normaliser.
std::string lower_ascii(std::string s) {
  for (char& c : s)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return s;
}

// The SentencePiece shim, loaded once per process into its own link namespace (dlmopen), where it has its
// own libc/libstdc++. That namespace's libc does not know the process is multi-threaded, so every call
// into it is serialised by `mutex` (encoding a caption takes microseconds).
struct Shim {
  std::mutex mutex;
  tips_spm_load_fn load = nullptr;
  tips_spm_free_fn free = nullptr;
  tips_spm_piece_size_fn piece_size = nullptr;
  tips_spm_is_special_fn is_special = nullptr;
  tips_spm_id_to_piece_fn id_to_piece = nullptr;
  tips_spm_encode_fn encode = nullptr;
  tips_spm_train_fn train = nullptr;
};

std::string shim_path() {
  if (const char* env = std::getenv("TIPS_SPM_SHIM")) return env;
  const std::filesystem::path built(TIPS_SPM_SHIM_PATH);
  if (std::filesystem::exists(built)) return built.string();
  std::error_code ec;
  const auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? built.string() : (exe.parent_path() / built.filename()).string();
}

Shim& shim() {
  static Shim* s = [] {
    const std::string path = shim_path();
    void* lib = ::dlmopen(LM_ID_NEWLM, path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!lib)
      throw DataError(std::string("cannot load the SentencePiece shim: ") + ::dlerror(),
                      "build the tips_spm target, or point TIPS_SPM_SHIM at libtips_spm.so");
    auto* out = new Shim;  // lives for the process, like the namespace it points into
    const auto sym = [&](const char* name) {
      void* f = ::dlsym(lib, name);
      if (!f) throw DataError(path + " lacks " + name, "rebuild the tips_spm target");
      return f;
    };
    out->load = reinterpret_cast<tips_spm_load_fn>(sym("tips_spm_load"));
    out->free = reinterpret_cast<tips_spm_free_fn>(sym("tips_spm_free"));
    out->piece_size = reinterpret_cast<tips_spm_piece_size_fn>(sym("tips_spm_piece_size"));
    out->is_special = reinterpret_cast<tips_spm_is_special_fn>(sym("tips_spm_is_special"));
    out->id_to_piece = reinterpret_cast<tips_spm_id_to_piece_fn>(sym("tips_spm_id_to_piece"));
    out->encode = reinterpret_cast<tips_spm_encode_fn>(sym("tips_spm_encode"));
    out->train = reinterpret_cast<tips_spm_train_fn>(sym("tips_spm_train"));
    return out;
  }();
  return *s;
}

constexpr size_t kErrLen = 1024;

}  // namespace

struct Tokenizer::Impl {
  void* handle = nullptr;
  std::string path;
  int64_t vocab = 0;
  ~Impl() {
    Shim& s = shim();
    std::lock_guard<std::mutex> lock(s.mutex);
    s.free(handle);
  }
};

Tokenizer Tokenizer::load(const std::string& model_path) {
  if (!std::filesystem::is_regular_file(model_path))
    throw DataError("tokenizer model '" + model_path + "' does not exist",
                    "pass a SentencePiece .model file (train one with `tips tokenizer train`)");
  Shim& s = shim();
  char err[kErrLen] = {0};
  char piece0[256] = {0};
  void* handle = nullptr;
  int64_t vocab = 0;
  bool pad_ok = false;
  {
    std::lock_guard<std::mutex> lock(s.mutex);
    handle = s.load(model_path.c_str(), err, kErrLen);
    if (handle) {
      vocab = s.piece_size(handle);
      // Padding is id 0, so a text piece at id 0 would be indistinguishable from padding.
      pad_ok = vocab > 0 && s.is_special(handle, 0);
      if (vocab > 0) s.id_to_piece(handle, 0, piece0, sizeof(piece0));
    }
  }
  if (!handle)
    throw DataError("cannot load tokenizer model '" + model_path + "': " + err,
                    "the file must be a SentencePiece .model (protobuf), not the .vocab text file");
  auto impl = std::shared_ptr<Impl>(new Impl{handle, model_path, vocab});  // frees the handle from here on
  if (!pad_ok)
    throw DataError("tokenizer model '" + model_path + "' has the text piece '" + piece0 +
                        "' at id 0, which TIPS uses for padding",
                    "train it with pad_id=0 (as `tips tokenizer train` does)");
  Tokenizer t;
  t.impl_ = std::move(impl);
  return t;
}

std::vector<int64_t> Tokenizer::encode_one(const std::string& text, int64_t max_len) const {
  TORCH_CHECK(impl_, "Tokenizer::encode_one: tokenizer not loaded");
  TORCH_CHECK(max_len > 0, "Tokenizer::encode_one: max_len must be > 0, got ", max_len);
  const std::string lower = lower_ascii(text);
  std::vector<int> ids(static_cast<size_t>(max_len), 0);
  char err[kErrLen] = {0};
  Shim& s = shim();
  int n = 0;
  {
    std::lock_guard<std::mutex> lock(s.mutex);
    n = s.encode(impl_->handle, lower.data(), lower.size(), ids.data(), static_cast<int>(max_len), err, kErrLen);
  }
  if (n < 0) throw DataError("tokenizer '" + impl_->path + "' failed on text '" + text + "': " + err);
  return std::vector<int64_t>(ids.begin(), ids.end());  // positions >= n stay 0 = padding
}

torch::Tensor Tokenizer::encode(const std::vector<std::string>& texts, int64_t max_len) const {
  auto out = torch::zeros({static_cast<int64_t>(texts.size()), max_len}, torch::kLong);  // (B, L)
  auto acc = out.accessor<int64_t, 2>();
  for (size_t b = 0; b < texts.size(); ++b) {
    const auto ids = encode_one(texts[b], max_len);
    for (int64_t i = 0; i < max_len; ++i) acc[static_cast<int64_t>(b)][i] = ids[static_cast<size_t>(i)];
  }
  return out;
}

int64_t Tokenizer::vocab_size() const {
  TORCH_CHECK(impl_, "Tokenizer::vocab_size: tokenizer not loaded");
  return impl_->vocab;
}

void train_tokenizer(const TokenizerTrainOptions& opts) {
  if (!std::filesystem::is_regular_file(opts.corpus))
    throw DataError("tokenizer corpus '" + opts.corpus + "' does not exist", "pass a text file, one caption per line");
  if (opts.model_type != "unigram" && opts.model_type != "bpe")
    throw DataError("unknown tokenizer model type '" + opts.model_type + "'", "use unigram or bpe");
  if (opts.vocab_size < 4)
    throw DataError("tokenizer vocab size " + std::to_string(opts.vocab_size) + " is too small",
                    "it must exceed the 2 special pieces (<pad>, <unk>); typical 32000");
  const std::filesystem::path prefix(opts.model_prefix);
  if (prefix.has_parent_path() && !std::filesystem::is_directory(prefix.parent_path()))
    throw DataError("tokenizer output directory '" + prefix.parent_path().string() + "' does not exist",
                    "create it first");

  // <pad> = 0 and <unk> = 1, no BOS/EOS (the TIPS tokenizer adds neither); the shim lower-cases the corpus.
  const std::vector<std::pair<std::string, std::string>> args = {
      {"model_prefix", opts.model_prefix},
      {"vocab_size", std::to_string(opts.vocab_size)},
      {"model_type", opts.model_type},
      {"pad_id", "0"},
      {"unk_id", "1"},
      {"bos_id", "-1"},
      {"eos_id", "-1"},
      {"pad_piece", "<pad>"},
      {"unk_piece", "<unk>"},
      {"normalization_rule_name", "nmt_nfkc_cf"},
      {"character_coverage", "1.0"},
      {"hard_vocab_limit", "true"},
      {"num_threads", "1"},
  };
  std::vector<const char*> keys, values;
  for (const auto& [k, v] : args) {
    keys.push_back(k.c_str());
    values.push_back(v.c_str());
  }
  char err[kErrLen] = {0};
  Shim& s = shim();
  int rc = 0;
  {
    std::lock_guard<std::mutex> lock(s.mutex);
    rc = s.train(opts.corpus.c_str(), keys.data(), values.data(), static_cast<int>(keys.size()), err, kErrLen);
  }
  if (rc != 0) {
    const std::string msg = err;
    std::string hint = "check the corpus (one caption per line, not empty) and the options";
    if (msg.find("ocabulary size") != std::string::npos || msg.find("vocab_size") != std::string::npos)
      hint = "the corpus is too small for --vocab-size " + std::to_string(opts.vocab_size) +
             ": pass a smaller --vocab-size (the message above gives the maximum) or a larger corpus";
    throw DataError("tokenizer training on '" + opts.corpus + "' failed: " + msg, hint);
  }
}

}  // namespace tips::data
