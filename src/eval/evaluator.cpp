#include "tips/eval/evaluator.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <nlohmann/json.hpp>

#include "tips/core/error.h"
#include "tips/core/log.h"
#include "tips/eval/confusion.h"
#include "tips/eval/encoders.h"
#include "tips/eval/eval_set.h"
#include "tips/eval/knn.h"
#include "tips/eval/linear_probe.h"
#include "tips/eval/prompts.h"
#include "tips/eval/retrieval.h"
#include "tips/eval/seg_scorer.h"
#include "tips/eval/visualize.h"
#include "tips/eval/zero_shot_cls.h"
#include "tips/eval/zero_shot_seg.h"

namespace tips::eval {

namespace fs = std::filesystem;
using torch::indexing::Slice;

namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

struct GlobalFeatures {
  torch::Tensor cls1, cls2;  // (N, D) unit rows, CPU
};

// One forward per batch of `split`; `on_batch(begin, images, out)` sees every batch (images on the device).
GlobalFeatures scan_split(Encoders& enc, const EvalSplit& split, const EvalConfig& cfg, bool dense_readouts,
                          const EncodedBatchFn& on_batch) {
  std::vector<torch::Tensor> c1, c2;
  for_each_encoded_batch(enc, split, cfg.batch_size, cfg.image_size, dense_readouts,
                         [&](int64_t begin, const torch::Tensor& images, const model::VisionOutput& out) {
                           c1.push_back(image_embedding(out, ClsToken::kCls1).cpu());
                           c2.push_back(image_embedding(out, ClsToken::kCls2).cpu());
                           if (on_batch) on_batch(begin, images, out);
                         });
  return {torch::cat(c1), torch::cat(c2)};
}

void write_visualization(Encoders& enc, const fs::path& path, const torch::Tensor& image /*(3,S,S)*/,
                         const torch::Tensor& gt, const torch::Tensor& pred, const std::vector<std::string>& legend) {
  // PCA of the plain patch tokens (the dense features themselves, not the value-trick ones).
  const auto out = enc.encode_images(image.unsqueeze(0), /*dense_readouts=*/false);
  const int64_t g = image.size(1) / enc.patch_size();
  const auto pca = pca_rgb(out.patches[0].cpu()).view({g, g, 3});
  const auto palette = class_palette(static_cast<int64_t>(legend.size()));
  Panel panel;
  panel.tiles = {to_rgb8(image), colorize(gt, palette), colorize(pred, palette),
                 (pca * 255.0).round().to(torch::kUInt8)};
  panel.titles = {"image", "ground truth", "prediction", "PCA(patches)"};
  panel.legend_names = legend;
  panel.palette = palette;
  write_panel_png(path.string(), panel);
}

// One SegScorer per readout; the first readout's figures are seg/<name>, the others' seg/<readout>/<name>.
struct ReadoutScorers {
  std::vector<SegReadout> readouts;
  std::vector<std::string> prefixes;
  std::vector<SegScorer> scorers;
};

ReadoutScorers make_scorers(const EvalConfig& cfg, int64_t classes) {
  ReadoutScorers r;
  const SegProtocol protocol{!cfg.background_class.empty(),
                             cfg.background_score >= -1 ? cfg.background_score
                                                        : std::numeric_limits<double>::quiet_NaN()};
  for (size_t i = 0; i < cfg.seg_readouts.size(); ++i) {
    r.readouts.push_back(parse_readout(cfg.seg_readouts[i]));
    r.prefixes.push_back(i == 0 ? "seg/" : "seg/" + cfg.seg_readouts[i] + "/");
    r.scorers.emplace_back(classes, protocol);
  }
  return r;
}

// Zero-shot segmentation over the canvases; also returns their global features (for retrieval).
GlobalFeatures evaluate_segmentation(Encoders& enc, const EvalSplit& split, const EvalConfig& cfg,
                                     const std::vector<std::string>& class_names, const fs::path& out_dir,
                                     EvalResults& res) {
  const bool with_bg = !cfg.background_class.empty();
  std::vector<std::string> names = class_names;
  if (with_bg) names.insert(names.begin(), cfg.background_class);
  const auto text = class_embeddings(names, cfg.templates, [&](const auto& t) { return enc.encode_texts(t); })
                        .to(enc.device());  // (C, D)
  ReadoutScorers rs = make_scorers(cfg, static_cast<int64_t>(class_names.size()));
  const bool whole = cfg.seg_mode == SegMode::kWhole;
  // Slide mode: one forward per window, every readout's scores side by side (slide_probabilities' blocks).
  const WindowScorer window_scores = [&](const torch::Tensor& crop) {
    const auto o = enc.encode_images(crop, /*dense_readouts=*/true);
    std::vector<torch::Tensor> per_readout;
    for (const auto readout : rs.readouts)
      per_readout.push_back(patch_text_scores(segmentation_features(o, readout), text, crop.size(2) / enc.patch_size(),
                                              crop.size(3) / enc.patch_size()));
    return torch::cat(per_readout, 1);
  };
  // Legend in the mosaic label space (0 = background, k + 1 = class k) whatever the background choice.
  std::vector<std::string> legend = class_names;
  legend.insert(legend.begin(), with_bg ? cfg.background_class : "background");
  const auto on_batch = [&](int64_t begin, const torch::Tensor& images, const model::VisionOutput& out) {
    std::vector<torch::Tensor> scores;  // per readout (b, C, h, w)
    const int64_t grid = cfg.image_size / enc.patch_size(), count = static_cast<int64_t>(rs.readouts.size());
    if (whole) {
      for (const auto readout : rs.readouts)
        scores.push_back(patch_text_scores(segmentation_features(out, readout), text, grid, grid));
    } else {
      scores = slide_probabilities(images, {cfg.slide_window, cfg.slide_stride}, window_scores, count).chunk(count, 1);
    }
    for (int64_t i = 0; i < images.size(0); ++i) {
      const auto label = record_label_map(split, static_cast<size_t>(begin + i));  // (H, W)
      torch::Tensor pred;
      for (size_t r = 0; r < rs.scorers.size(); ++r) {
        const auto p = rs.scorers[r].add(scores[r].narrow(0, i, 1), label);
        if (r == 0) pred = p;
      }
      if (begin + i < cfg.visualize) {
        char name[32];
        std::snprintf(name, sizeof(name), "seg_%03lld.png", static_cast<long long>(begin + i));
        write_visualization(enc, out_dir / "vis" / name, images[i], label, pred, legend);
      }
    }
  };
  if (cfg.visualize > 0) fs::create_directories(out_dir / "vis");
  auto feats = scan_split(enc, split, cfg, /*dense_readouts=*/whole, on_batch);
  for (size_t r = 0; r < rs.scorers.size(); ++r)
    for (const auto& [name, value] : rs.scorers[r].metrics()) res.metrics[rs.prefixes[r] + name] = value;
  const auto ious = rs.scorers[0].per_class_iou();
  for (size_t k = 0; k < ious.size(); ++k)
    if (std::isfinite(ious[k])) res.per_class_iou[with_bg ? names[k] : class_names[k]] = ious[k];
  return feats;
}

void evaluate_retrieval(Encoders& enc, const EvalSplit& split, const GlobalFeatures& img, const EvalConfig& cfg,
                        EvalResults& res) {
  for (const auto& field : cfg.retrieval_fields) {
    std::vector<std::string> captions;
    for (const auto& r : split.records) {
      const auto it = r.texts.find(field);
      if (it == r.texts.end()) break;
      captions.push_back(it->second);
    }
    if (captions.size() != split.records.size()) {
      spdlog::warn("eval: retrieval on '{}' skipped: not every record of {} has it", field, split.manifest);
      continue;
    }
    const auto token = retrieval_token(field, cfg.retrieval_by_stream, cfg.cls_token);
    const auto sim = cosine_scores(token == ClsToken::kCls1 ? img.cls1 : img.cls2, enc.encode_texts(captions));
    const auto r = retrieval_recall(sim, {1, 5, 10}, cfg.retrieval_same_text_hits ? text_groups(captions) : torch::Tensor());
    for (const auto& [k, v] : r.image_to_text) res.metrics["retrieval/" + field + "/i2t_r" + std::to_string(k)] = v;
    for (const auto& [k, v] : r.text_to_image) res.metrics["retrieval/" + field + "/t2i_r" + std::to_string(k)] = v;
  }
}

torch::Tensor split_labels(const EvalSplit& split, int64_t num_classes) {  // (N,) int64
  std::vector<int64_t> labels;
  for (const auto& r : split.records) {
    if (r.label < 0 || r.label >= num_classes)
      throw DataError(split.manifest + ": record " + r.image + " has label " + std::to_string(r.label),
                      "classification needs an integer \"label\" in [0, " + std::to_string(num_classes) + ")");
    labels.push_back(r.label);
  }
  return torch::tensor(labels, torch::kLong);
}

const torch::Tensor& pick(const GlobalFeatures& f, ClsToken t) { return t == ClsToken::kCls1 ? f.cls1 : f.cls2; }

}  // namespace

void check_eval_sizes(const EvalConfig& cfg, int64_t patch) {
  TORCH_CHECK(patch >= 1, "check_eval_sizes: patch size ", patch);
  if (cfg.image_size % patch != 0)
    throw ConfigError("eval.image_size = " + std::to_string(cfg.image_size) + " is not a multiple of the patch size " +
                          std::to_string(patch),
                      "use e.g. eval.image_size=" + std::to_string((cfg.image_size / patch + 1) * patch));
  if (cfg.seg_mode == SegMode::kSlide && cfg.slide_window < cfg.image_size && cfg.slide_window % patch != 0)
    throw ConfigError("eval.slide_window = " + std::to_string(cfg.slide_window) +
                          " is not a multiple of the patch size " + std::to_string(patch),
                      "windows are fed to the ViT as they are; use a multiple of " + std::to_string(patch));
}

std::vector<std::string> eval_class_names(const EvalConfig& cfg) {
  if (!cfg.class_names.empty()) return cfg.class_names;
  const std::string names_from = cfg.seg_manifest.empty() ? cfg.cls_manifest : cfg.seg_manifest;
  // No split configured: nothing to evaluate, and no class names to look for.
  return names_from.empty() ? std::vector<std::string>{} : read_class_names(names_from);
}

EvalResults run_evaluations(model::VisionTransformer& vision, model::TextEncoder& text, const data::Tokenizer& tok,
                            const EvalConfig& cfg, const std::string& out_dir, int64_t max_len, torch::Device device) {
  TowerEncoders enc(vision, text, tok, max_len, device, cfg.batch_size);
  return run_evaluations(enc, cfg, out_dir);
}

EvalResults run_evaluations(Encoders& enc, const EvalConfig& cfg, const std::string& out_dir) {
  check_eval_sizes(cfg, enc.patch_size());
  torch::NoGradGuard no_grad;
  fs::create_directories(out_dir);
  EvalResults res;
  const auto class_names = eval_class_names(cfg);

  if (!cfg.seg_manifest.empty()) {
    auto t0 = std::chrono::steady_clock::now();
    const auto split = read_eval_manifest(cfg.seg_manifest, cfg.max_images);
    const auto feats = evaluate_segmentation(enc, split, cfg, class_names, out_dir, res);
    res.counts["seg"] = static_cast<int64_t>(split.records.size());
    res.seconds["seg"] = seconds_since(t0);
    t0 = std::chrono::steady_clock::now();
    evaluate_retrieval(enc, split, feats, cfg, res);
    res.seconds["retrieval"] = seconds_since(t0);
    if (!cfg.probe_manifest.empty()) evaluate_linear_probe(enc, cfg, static_cast<int64_t>(class_names.size()), res);
  }
  if (!cfg.probe_manifest.empty() && cfg.seg_manifest.empty())
    spdlog::warn("eval: the dense linear probe is off: it is scored on eval.seg_manifest, which is empty");
  if (!cfg.cls_manifest.empty()) {
    auto t0 = std::chrono::steady_clock::now();
    const auto split = read_eval_manifest(cfg.cls_manifest, cfg.max_images);
    const auto C = static_cast<int64_t>(class_names.size());
    const auto labels = split_labels(split, C);
    const auto feats = scan_split(enc, split, cfg, /*dense_readouts=*/false, {});
    const auto text_emb =
        class_embeddings(class_names, cfg.templates, [&](const auto& t) { return enc.encode_texts(t); });
    const auto scores = cosine_scores(pick(feats, cfg.cls_token), text_emb);
    res.metrics["cls/top1"] = topk_accuracy(scores, labels, 1);
    res.metrics["cls/top5"] = topk_accuracy(scores, labels, 5);
    res.counts["cls"] = static_cast<int64_t>(split.records.size());
    res.seconds["cls"] = seconds_since(t0);
    if (!cfg.knn_bank_manifest.empty()) {
      t0 = std::chrono::steady_clock::now();
      const auto bank = read_eval_manifest(cfg.knn_bank_manifest, cfg.max_images);
      const auto bank_feats = scan_split(enc, bank, cfg, /*dense_readouts=*/false, {});
      const auto votes = knn_votes(pick(bank_feats, cfg.cls_token), split_labels(bank, C), pick(feats, cfg.cls_token),
                                   C, {cfg.knn_k, cfg.knn_temperature});
      res.metrics["knn/top1"] = topk_accuracy(votes, labels, 1);
      res.metrics["knn/top5"] = topk_accuracy(votes, labels, 5);
      res.counts["knn_bank"] = static_cast<int64_t>(bank.records.size());
      res.seconds["knn"] = seconds_since(t0);
    }
  }
  const fs::path json = fs::path(out_dir) / "eval.json";
  const fs::path tmp = json.string() + ".tmp";
  {
    std::ofstream f(tmp);
    f << res.to_json() << "\n";
    if (!f) throw DataError("cannot write " + tmp.string(), "check that " + out_dir + " is writable");
  }
  fs::rename(tmp, json);
  return res;
}

std::string EvalResults::to_json() const {
  nlohmann::json j;
  j["metrics"] = metrics;
  j["per_class_iou"] = per_class_iou;
  j["counts"] = counts;
  j["seconds"] = seconds;
  return j.dump(2);
}

void print_results(const EvalResults& results) {
  std::vector<std::pair<std::string, std::string>> rows;
  char buf[32];
  for (const auto& [name, value] : results.metrics) {
    std::snprintf(buf, sizeof(buf), "%.2f", 100.0 * value);
    rows.emplace_back(name + " (%)", buf);
  }
  for (const auto& [name, n] : results.counts) rows.emplace_back("images/" + name, std::to_string(n));
  for (const auto& [name, s] : results.seconds) {
    std::snprintf(buf, sizeof(buf), "%.1f", s);
    rows.emplace_back("seconds/" + name, buf);
  }
  log::table("evaluation", rows);
}

}  // namespace tips::eval
