#include "tips/train/weights.h"

#include <spdlog/spdlog.h>

#include <cmath>
#include <filesystem>
#include <sstream>

#include "tips/core/error.h"
#include "tips/io/npz.h"
#include "tips/io/safetensors.h"
#include "tips/io/tips_checkpoint.h"
#include "tips/train/checkpoint.h"

namespace fs = std::filesystem;

namespace tips::train {

namespace {

constexpr const char* kFormat = "tipsv2.cpp-weights";
constexpr const char* kLayout =
    "vision.* image encoder and text.* text encoder under the official TIPS keys; heads.dino.*, heads.ibot.* the "
    "student's DINO/iBOT projection heads; teacher.heads.* their EMA copies; log_temperature the contrastive "
    "temperature (tau = exp); all float32";

WeightSet read_checkpoint(const std::string& path) {
  const CheckpointReader r(path);
  WeightSet w;
  for (const auto& [name, t] : r.group("student")) w.tensors[name] = t;
  for (const auto& [name, t] : r.group("teacher"))
    if (name.rfind("heads.", 0) == 0) w.tensors["teacher." + name] = t;
  w.config_yaml = r.get_string("meta/config");
  w.step = r.get_int("meta/step");
  w.source = path + " (step " + std::to_string(w.step) + ")";
  return w;
}

WeightSet read_official_pair(const std::string& dir) {
  const auto paths = io::OfficialPaths::in_dir(dir);
  WeightSet w;
  const io::NpzArrays image = io::read_npz(paths.image_npz), text = io::read_npz(paths.text_npz);
  for (const auto& [key, t] : image.items()) w.tensors["vision." + key] = t;
  for (const auto& [key, t] : text.items()) {
    if (key == "temperature" || key == "temperature_contrastive") {
      // The learned temperature; the model keeps its logarithm.
      if (key == "temperature" || !w.tensors.count("log_temperature"))
        w.tensors["log_temperature"] = t.to(torch::kFloat).reshape({}).log();
      continue;
    }
    w.tensors["text." + key] = t;
  }
  w.source = dir + " (official pair)";
  return w;
}

WeightSet read_safetensors_weights(const std::string& path) {
  const auto f = io::read_safetensors(path);
  WeightSet w;
  for (const auto& [name, t] : f.tensors) w.tensors[name] = t;
  if (const auto it = f.metadata.find("config"); it != f.metadata.end()) w.config_yaml = it->second;
  w.source = path;
  return w;
}

// The source tensor for one parameter, checked; the position table may come from another grid.
torch::Tensor matched(const std::string& part, const std::string& key, const torch::Tensor& dst,
                      const std::map<std::string, torch::Tensor>& src, const std::string& source) {
  const char* hint = "the weights were written for another model config (model.preset, model.dim, ...)";
  const auto it = src.find(key);
  if (it == src.end()) throw CheckpointError(source + ": " + part + ": missing '" + key + "'", hint);
  const torch::Tensor& t = it->second;
  if (t.sizes() == dst.sizes()) return t;
  if (key == "pos_embed" && t.dim() == 3 && t.size(2) == dst.size(2)) {
    const auto grid = static_cast<int64_t>(std::llround(std::sqrt(static_cast<double>(dst.size(1) - 1))));
    spdlog::info("{}: pos_embed resized from {} to {} rows ({}x{} grid)", source, t.size(1), dst.size(1), grid, grid);
    return model::resize_pos_embed(t.to(torch::kFloat), grid, grid);
  }
  std::ostringstream msg;
  msg << source << ": " << part << ": '" << key << "' has shape " << t.sizes() << ", the model expects " << dst.sizes();
  throw CheckpointError(msg.str(), hint);
}

// Every parameter of one part, validated before anything is copied.
using Copies = std::vector<std::pair<torch::Tensor, torch::Tensor>>;  // (destination, source)
void plan_part(const std::string& part, const torch::OrderedDict<std::string, torch::Tensor>& params,
               const std::map<std::string, torch::Tensor>& src, const std::string& source, Copies& copies) {
  for (const auto& item : params) copies.emplace_back(item.value(), matched(part, item.key(), item.value(), src, source));
  for (const auto& [key, t] : src)
    if (!params.contains(key))
      throw CheckpointError(source + ": " + part + ": unexpected '" + key + "'",
                            "the weights were written for another model config (e.g. heads.ibot_separate)");
}

void apply(const Copies& copies) {
  torch::NoGradGuard no_grad;
  for (const auto& [dst, src] : copies) dst.copy_(src);
}

}  // namespace

std::map<std::string, torch::Tensor> WeightSet::group(const std::string& prefix) const {
  std::map<std::string, torch::Tensor> out;
  const std::string p = prefix + ".";
  for (const auto& [name, t] : tensors)
    if (name.rfind(p, 0) == 0) out[name.substr(p.size())] = t;
  return out;
}

bool WeightSet::has_group(const std::string& prefix) const {
  const std::string p = prefix + ".";
  for (const auto& [name, t] : tensors)
    if (name.rfind(p, 0) == 0) return true;
  return false;
}

WeightSet read_weights(const std::string& path) {
  if (!fs::exists(path))
    throw CheckpointError(path + ": not found", "give a checkpoint (*.ckpt), a folder with image_encoder.npz + "
                                                "text_encoder.npz, or a *.safetensors file");
  if (fs::is_directory(path)) return read_official_pair(path);
  if (fs::path(path).extension() == ".safetensors") return read_safetensors_weights(path);
  return read_checkpoint(path);
}

std::vector<std::string> load_model_weights(model::TipsModel& model, const WeightSet& w,
                                            const WeightLoadOptions& options) {
  Copies copies;
  std::vector<std::string> report;
  const auto part = [&](const char* prefix, torch::nn::Module& m, bool wanted) {
    if (!wanted || !w.has_group(prefix)) {
      report.push_back(std::string(prefix) + ": kept its initialisation" + (wanted ? " (not in the weights)" : ""));
      return;
    }
    const auto params = m.named_parameters();
    plan_part(prefix, params, w.group(prefix), w.source, copies);
    report.push_back(std::string(prefix) + ": " + std::to_string(params.size()) + " tensors from " + w.source);
  };
  if (!w.has_group("vision"))
    throw CheckpointError(w.source + ": no image tower (vision.*) in the weights", "is this a TIPS weight file?");
  part("vision", *model->vision, true);
  part("text", *model->text, options.text);
  part("heads", *model->heads, options.heads);
  if (const auto it = w.tensors.find("log_temperature"); options.temperature && it != w.tensors.end())
    copies.emplace_back(model->log_temperature, it->second.reshape({}).to(torch::kFloat));
  apply(copies);
  return report;
}

void load_group(torch::nn::Module& module, const WeightSet& w, const std::string& prefix) {
  Copies copies;
  plan_part(prefix, module.named_parameters(), w.group(prefix), w.source, copies);
  apply(copies);
}

void load_vision_weights(model::VisionTransformer& vision, const WeightSet& w) { load_group(*vision, w, "vision"); }

double load_text_weights(model::TextEncoder& text, const WeightSet& w) {
  load_group(*text, w, "text");
  const auto it = w.tensors.find("log_temperature");
  return it == w.tensors.end() ? -1.0 : std::exp(it->second.item<double>());
}

void export_safetensors(const std::map<std::string, torch::Tensor>& tensors, const std::string& path,
                        const std::string& config_yaml) {
  std::vector<std::pair<std::string, torch::Tensor>> ordered;
  for (const auto& [name, t] : tensors) ordered.emplace_back(name, t.detach().to(torch::kCPU, torch::kFloat));
  io::write_safetensors(path, ordered, {{"format", kFormat}, {"version", "1"}, {"config", config_yaml},
                                        {"layout", kLayout}});
}

std::map<std::string, torch::Tensor> model_tensors(const model::TipsModel& model) {
  std::map<std::string, torch::Tensor> out;
  for (const auto& item : model->named_parameters()) out[item.key()] = item.value().detach();
  return out;
}

}  // namespace tips::train
