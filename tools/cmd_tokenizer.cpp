// `tips tokenizer train` (SentencePiece with <pad> = 0, lower-cased, no BOS/EOS) and
// `tips tokenizer encode` (prints the padded ids of each text, for debugging).
#include <iostream>

#include "command.h"
#include "tips/data/tokenizer.h"

namespace cmd_tokenizer {  // named, not anonymous: the CLI is compiled in unity batches

tips::cli::Registrar train_reg("tokenizer train", "train a SentencePiece tokenizer (<pad>=0, lower-cased)",
                               [](CLI::App& app) {
  auto opts = std::make_shared<tips::data::TokenizerTrainOptions>();
  app.add_option("--corpus", opts->corpus, "text file, one caption per line")->required();
  app.add_option("--out-prefix", opts->model_prefix, "writes PREFIX.model and PREFIX.vocab")->required();
  app.add_option("--vocab-size", opts->vocab_size, "vocabulary size (text.vocab_size of the model)")
      ->capture_default_str();
  app.add_option("--model-type", opts->model_type, "unigram | bpe")->capture_default_str();
  return [opts] {
    tips::data::train_tokenizer(*opts);
    const auto tok = tips::data::Tokenizer::load(opts->model_prefix + ".model");
    std::cout << "wrote " << opts->model_prefix << ".model (vocab " << tok.vocab_size() << ", <pad>=0)\n";
    return 0;
  };
});

struct EncodeOpts {
  std::string model;
  std::vector<std::string> texts;
  int64_t max_len = 64;
};

tips::cli::Registrar encode_reg("tokenizer encode", "print the padded token ids of each text", [](CLI::App& app) {
  auto opts = std::make_shared<EncodeOpts>();
  app.add_option("--tokenizer", opts->model, "SentencePiece .model file")->required();
  app.add_option("--max-len", opts->max_len, "ids per text (cut or padded with 0)")->capture_default_str();
  app.add_option("texts", opts->texts, "texts to encode")->required();
  return [opts] {
    const auto tok = tips::data::Tokenizer::load(opts->model);
    for (const auto& text : opts->texts) {
      const auto ids = tok.encode_one(text, opts->max_len);
      for (size_t i = 0; i < ids.size(); ++i) std::cout << (i ? " " : "") << ids[i];
      std::cout << "\n";
    }
    return 0;
  };
});

}  // namespace cmd_tokenizer
