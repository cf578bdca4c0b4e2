// libtips_spm.so: SentencePiece behind a C interface (see spm_shim.h for why). No torch here.
#include "spm_shim.h"

#include <sentencepiece_processor.h>
#include <sentencepiece_trainer.h>

#include <cstring>
#include <fstream>
#include <string>
#include <unordered_map>
#include <vector>

namespace {

void set_err(char* err, size_t len, const std::string& msg) {
  if (!err || len == 0) return;
  std::strncpy(err, msg.c_str(), len - 1);
  err[len - 1] = '\0';
}

class LowercaseLines : public sentencepiece::SentenceIterator {
 public:
  explicit LowercaseLines(const char* path) : in_(path) { Next(); }
  bool done() const override { return done_; }
  void Next() override {
    std::string line;
    while (std::getline(in_, line)) {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (line.empty()) continue;
      for (char& c : line)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
      value_ = std::move(line);
      return;
    }
    done_ = true;
  }
  const std::string& value() const override { return value_; }
  sentencepiece::util::Status status() const override { return sentencepiece::util::Status(); }

 private:
  std::ifstream in_;
  std::string value_;
  bool done_ = false;
};

const sentencepiece::SentencePieceProcessor& sp(const void* h) {
  return *static_cast<const sentencepiece::SentencePieceProcessor*>(h);
}

}  // namespace

extern "C" {

void* tips_spm_load(const char* model_path, char* err, size_t err_len) {
  try {
    auto* p = new sentencepiece::SentencePieceProcessor;
    const auto status = p->Load(model_path);
    if (status.ok()) return p;
    set_err(err, err_len, status.ToString());
    delete p;
  } catch (const std::exception& e) {
    set_err(err, err_len, e.what());
  }
  return nullptr;
}

void tips_spm_free(void* handle) { delete static_cast<sentencepiece::SentencePieceProcessor*>(handle); }

int tips_spm_piece_size(const void* handle) { return sp(handle).GetPieceSize(); }

int tips_spm_is_special(const void* handle, int id) {
  return sp(handle).IsControl(id) || sp(handle).IsUnknown(id) || sp(handle).IsUnused(id) ? 1 : 0;
}

void tips_spm_id_to_piece(const void* handle, int id, char* out, size_t out_len) {
  set_err(out, out_len, sp(handle).IdToPiece(id));
}

int tips_spm_encode(const void* handle, const char* text, size_t len, int* ids, int cap, char* err, size_t err_len) {
  try {
    std::vector<int> out;
    const auto status = sp(handle).Encode(std::string(text, len), &out);
    if (!status.ok()) {
      set_err(err, err_len, status.ToString());
      return -1;
    }
    for (int i = 0; i < cap && i < static_cast<int>(out.size()); ++i) ids[i] = out[static_cast<size_t>(i)];
    return static_cast<int>(out.size());
  } catch (const std::exception& e) {
    set_err(err, err_len, e.what());
    return -1;
  }
}

int tips_spm_train(const char* corpus_path, const char* const* keys, const char* const* values, int n, char* err,
                   size_t err_len) {
  try {
    std::unordered_map<std::string, std::string> args;
    for (int i = 0; i < n; ++i) args[keys[i]] = values[i];
    LowercaseLines lines(corpus_path);
    const auto status = sentencepiece::SentencePieceTrainer::Train(args, &lines);
    if (status.ok()) return 0;
    set_err(err, err_len, status.ToString());
  } catch (const std::exception& e) {
    set_err(err, err_len, e.what());
  }
  return -1;
}

}  // extern "C"
