// tips/data/tokenizer.h - SentencePiece tokenizer per the TIPS spec: lower-case, no BOS/EOS,
// ids cut to max_len or right-padded with 0 (so id 0 must be the pad piece).
// Thread-safe for concurrent encode() calls.
#pragma once
#include <torch/torch.h>

#include <memory>
#include <string>
#include <vector>

namespace tips::data {

class Tokenizer {
 public:
  // Throws DataError when the file is missing or not a SentencePiece model.
  static Tokenizer load(const std::string& model_path);

  // texts -> (B, max_len) int64 ids, 0 = padding.
  torch::Tensor encode(const std::vector<std::string>& texts, int64_t max_len) const;
  std::vector<int64_t> encode_one(const std::string& text, int64_t max_len) const;
  int64_t vocab_size() const;

 private:
  struct Impl;
  std::shared_ptr<const Impl> impl_;
};

struct TokenizerTrainOptions {
  std::string corpus;          // text file, one caption per line
  std::string model_prefix;    // writes <prefix>.model and <prefix>.vocab
  int64_t vocab_size = 1024;
  std::string model_type = "unigram";  // unigram | bpe
};

// Trains a SentencePiece model whose id 0 is <pad> (as the TIPS tokenizer). Lower-cases the corpus.
void train_tokenizer(const TokenizerTrainOptions& opts);

}  // namespace tips::data
