// `tips embed`: image and text embeddings of the configured model, written to one .npz.
//
// Images (--images: a folder, all image files sorted by name, or a list file with one path per line,
// relative to the list's folder) are listed and decoded by data/image_files.h: RGB, resized to --size x --size
// without a crop, scaled to [0, 1] and not normalised.
// Texts (--text, repeatable, or --text-file, one per line) go through the SentencePiece --tokenizer;
// --ids gives token ids directly (one caption per line, space-separated, cut/padded to text.max_len).
//
// Output arrays (float32 unless noted; B images, T texts, N = grid h*w patches, D width, L text.max_len):
//   cls1 (B, D), cls2 (B, D), patches (B, N, D)   final-norm tokens of the image encoder
//   grid (2,) int64 [h, w];  image_names uint8: UTF-8 names joined by '\n', in the row order above
//   text_embeddings (T, D)  masked mean of the final-norm text tokens;  text_ids (T, L) int64
//   normalized () bool      true when --l2-normalize: every embedding above L2-normalised over D
#include <spdlog/spdlog.h>

#include <algorithm>
#include <sstream>

#include "command.h"
#include "tips/core/error.h"
#include "tips/data/image_files.h"
#include "tips/data/tokenizer.h"
#include "tips/io/npz.h"
#include "towers.h"

namespace cmd_embed {  // named, not anonymous: the CLI is compiled in unity batches

struct Opts {
  tips::cli::ConfigArgs config;
  tips::cli::WeightArgs weights;
  std::string images;
  int64_t size = 0;
  int64_t batch_size = 16;
  std::vector<std::string> texts;
  std::string text_file;
  std::string ids_file;
  std::string tokenizer;
  std::string out;
  bool l2_normalize = false;
  std::string device = "cpu";
};

// One caption per line, space-separated ids; -> (T, L) int64 cut/padded with 0.
torch::Tensor read_ids(const std::string& path, int64_t max_len, int64_t vocab) {
  const auto lines = tips::data::read_text_lines(path, "ids file");
  auto ids = torch::zeros({static_cast<int64_t>(lines.size()), max_len}, torch::kLong);
  auto acc = ids.accessor<int64_t, 2>();
  for (size_t i = 0; i < lines.size(); ++i) {
    std::istringstream in(lines[i]);
    int64_t j = 0;
    for (std::string tok; in >> tok; ++j) {
      int64_t id = -1;
      try {
        id = std::stoll(tok);
      } catch (const std::exception&) {
      }
      if (id < 0 || id >= vocab)
        throw tips::DataError(path + ":" + std::to_string(i + 1) + ": bad token id '" + tok + "'",
                              "ids must be integers in [0, text.vocab_size=" + std::to_string(vocab) + ")");
      if (j < max_len) acc[static_cast<int64_t>(i)][j] = id;
    }
  }
  return ids;
}

torch::Tensor maybe_normalize(const torch::Tensor& x, bool on) {
  return on ? torch::nn::functional::normalize(x, torch::nn::functional::NormalizeFuncOptions().dim(-1)) : x;
}

void embed_images(const Opts& o, tips::cli::Towers& t, torch::Device device, tips::io::NpzArrays& out) {
  const auto& vc = t.vision->config();
  const int64_t size = o.size > 0 ? o.size : vc.pos_grid * vc.patch_size;
  if (size % vc.patch_size != 0)
    throw tips::ConfigError("--size " + std::to_string(size) + " is not a multiple of the patch size " +
                                std::to_string(vc.patch_size),
                            "use e.g. --size " + std::to_string(vc.pos_grid * vc.patch_size));
  const auto items = tips::data::list_image_files(o.images);
  std::vector<torch::Tensor> cls1, cls2, patches;
  for (size_t start = 0; start < items.size(); start += static_cast<size_t>(o.batch_size)) {
    std::vector<torch::Tensor> batch;
    for (size_t i = start; i < std::min(items.size(), start + static_cast<size_t>(o.batch_size)); ++i)
      batch.push_back(tips::data::read_image_resized(items[i].path, size));
    const auto r = t.vision->forward(torch::stack(batch).to(device));  // (b, 3, size, size)
    cls1.push_back(maybe_normalize(r.cls1, o.l2_normalize).cpu());
    cls2.push_back(maybe_normalize(r.cls2, o.l2_normalize).cpu());
    patches.push_back(maybe_normalize(r.patches, o.l2_normalize).cpu());
  }
  std::string names;
  for (const auto& it : items) names += (names.empty() ? "" : "\n") + it.name;
  out.add("cls1", torch::cat(cls1).to(torch::kFloat));
  out.add("cls2", torch::cat(cls2).to(torch::kFloat));
  out.add("patches", torch::cat(patches).to(torch::kFloat));
  out.add("grid", torch::tensor({size / vc.patch_size, size / vc.patch_size}, torch::kLong));
  out.add("image_names", torch::from_blob(names.data(), {static_cast<int64_t>(names.size())}, torch::kUInt8).clone());
  spdlog::info("embedded {} images at {}x{} ({} patches each)", items.size(), size, size, patches[0].size(1));
}

void embed_texts(const Opts& o, tips::cli::Towers& t, torch::Device device, tips::io::NpzArrays& out) {
  const auto& tc = t.text->config();
  torch::Tensor ids;  // (T, L)
  if (!o.ids_file.empty()) {
    ids = read_ids(o.ids_file, tc.max_len, tc.vocab_size);
  } else {
    std::vector<std::string> texts = o.texts;
    if (!o.text_file.empty())
      for (const auto& l : tips::data::read_text_lines(o.text_file, "text file")) texts.push_back(l);
    const std::string model = o.tokenizer.empty() ? tc.tokenizer : o.tokenizer;
    if (model.empty())
      throw tips::ConfigError("no tokenizer for --text", "pass --tokenizer PATH.model or set text.tokenizer");
    const auto tok = tips::data::Tokenizer::load(model);
    if (tok.vocab_size() > tc.vocab_size)
      throw tips::ConfigError("tokenizer '" + model + "' has " + std::to_string(tok.vocab_size()) +
                                  " pieces but text.vocab_size is " + std::to_string(tc.vocab_size),
                              "set text.vocab_size=" + std::to_string(tok.vocab_size()) + " or use a matching tokenizer");
    ids = tok.encode(texts, tc.max_len);
  }
  std::vector<torch::Tensor> emb;
  for (int64_t start = 0; start < ids.size(0); start += o.batch_size)
    emb.push_back(maybe_normalize(t.text->forward(ids.slice(0, start, start + o.batch_size).to(device)),
                                  o.l2_normalize).cpu());
  out.add("text_embeddings", torch::cat(emb).to(torch::kFloat));
  out.add("text_ids", ids);
  spdlog::info("embedded {} texts ({} ids each)", ids.size(0), tc.max_len);
}

tips::cli::Registrar reg("embed", "image / text embeddings of the configured model to an .npz", [](CLI::App& app) {
  auto opts = std::make_shared<Opts>();
  tips::cli::add_config_args(app, opts->config);
  tips::cli::add_weight_args(app, opts->weights);
  app.add_option("--images", opts->images, "folder of images, or a list file (one path per line)");
  app.add_option("--size", opts->size, "square input side in pixels, a multiple of the patch size "
                                       "(default: model.pos_grid * model.patch_size)");
  app.add_option("--batch-size", opts->batch_size, "images / texts per forward")->capture_default_str()
      ->check(CLI::PositiveNumber);
  auto* text = app.add_option("--text", opts->texts, "a caption (repeatable)");
  auto* text_file = app.add_option("--text-file", opts->text_file, "captions, one per line");
  app.add_option("--ids", opts->ids_file, "token ids instead of texts: one caption per line, space-separated")
      ->excludes(text)->excludes(text_file);
  app.add_option("--tokenizer", opts->tokenizer, "SentencePiece .model (default: text.tokenizer)");
  app.add_option("-o,--out", opts->out, "output .npz")->required();
  app.add_flag("--l2-normalize", opts->l2_normalize, "write L2-normalised embeddings (default: raw)");
  app.add_option("--device", opts->device, "cpu | cuda | cuda:N")->capture_default_str();
  return [opts] {
    const Opts& o = *opts;
    if (o.images.empty() && o.texts.empty() && o.text_file.empty() && o.ids_file.empty())
      throw tips::ConfigError("nothing to embed", "pass --images and/or --text / --text-file / --ids");
    const auto cfg = tips::cli::load_config(o.config, o.weights.checkpoint);
    auto towers = tips::cli::load_towers(cfg, o.weights);
    const torch::Device device(o.device);
    towers.vision->to(device);
    towers.text->to(device);
    towers.vision->eval();
    towers.text->eval();
    torch::NoGradGuard no_grad;
    tips::io::NpzArrays out;
    if (!o.images.empty()) embed_images(o, towers, device, out);
    if (!o.texts.empty() || !o.text_file.empty() || !o.ids_file.empty()) embed_texts(o, towers, device, out);
    out.add("normalized", torch::tensor(o.l2_normalize).reshape({}));
    tips::io::write_npz(o.out, out);
    spdlog::info("wrote {} (weights: {})", o.out, towers.source);
    return 0;
  };
});

}  // namespace cmd_embed
