#include "tips/io/tips_checkpoint.h"

#include <filesystem>
#include <set>

#include "tips/core/error.h"

namespace tips::io {
namespace {

constexpr const char* kTemperature = "temperature";
constexpr const char* kTemperatureContrastive = "temperature_contrastive";

std::string shape_str(c10::IntArrayRef s) { return c10::str(s); }

// Validates the whole file before touching any parameter, so a failed import leaves the module unchanged.
// Returns the arrays named in `allowed_scalars` that the file holds (each checked to be a 0-d float).
NpzArrays import_strict(const std::string& path, torch::nn::Module& module,
                        const std::set<std::string>& allowed_scalars) {
  const NpzArrays file = read_npz(path);
  const auto params = module.named_parameters(/*recurse=*/true);
  const std::string hint = "the file must hold exactly the parameters of the configured model: check the "
                           "model preset / depth / dims of the config against the file (see "
                           "tips-checkpoint-format.md)";
  for (const auto& p : params) {
    if (!file.contains(p.key()))
      throw CheckpointError(path + ": missing key '" + p.key() + "' (model shape " + shape_str(p.value().sizes()) +
                                "); the file has " + std::to_string(file.size()) + " arrays, the model " +
                                std::to_string(params.size()) + " parameters",
                            hint);
    const torch::Tensor& a = file.at(p.key());
    if (a.sizes() != p.value().sizes())
      throw CheckpointError(path + ": shape mismatch for '" + p.key() + "': file " + shape_str(a.sizes()) +
                                ", model " + shape_str(p.value().sizes()),
                            hint);
    if (!a.is_floating_point())
      throw CheckpointError(path + ": array '" + p.key() + "' has dtype " + c10::toString(a.scalar_type()) +
                                ", expected float32",
                            hint);
  }
  NpzArrays scalars;
  for (const auto& [name, value] : file.items()) {
    if (params.contains(name)) continue;
    if (!allowed_scalars.count(name))
      throw CheckpointError(path + ": extra key '" + name + "' (shape " + shape_str(value.sizes()) +
                                ") is not a parameter of the model",
                            hint);
    if (value.dim() != 0 || !value.is_floating_point())
      throw CheckpointError(path + ": '" + name + "' must be a 0-d float scalar, got shape " +
                                shape_str(value.sizes()) + " of " + c10::toString(value.scalar_type()));
    scalars.add(name, value);
  }
  torch::NoGradGuard no_grad;
  for (auto& p : params) p.value().copy_(file.at(p.key()));
  return scalars;
}

}  // namespace

OfficialPaths OfficialPaths::in_dir(const std::string& dir) {
  const std::filesystem::path d(dir);
  return {(d / "image_encoder.npz").string(), (d / "text_encoder.npz").string()};
}

NpzArrays module_arrays(const torch::nn::Module& module) {
  NpzArrays out;
  for (const auto& p : module.named_parameters(/*recurse=*/true))
    out.add(p.key(), p.value().detach().to(torch::kCPU, torch::kFloat).contiguous());
  return out;
}

void export_image_encoder(const torch::nn::Module& vision, const std::string& path) {
  write_npz(path, module_arrays(vision));
}

void export_text_encoder(const torch::nn::Module& text, const std::string& path, const TextScalars& scalars) {
  NpzArrays arrays = module_arrays(text);
  try {
    if (scalars.temperature) arrays.add(kTemperature, torch::tensor(*scalars.temperature, torch::kFloat).reshape({}));
    if (scalars.temperature_contrastive)
      arrays.add(kTemperatureContrastive, torch::tensor(*scalars.temperature_contrastive, torch::kFloat).reshape({}));
  } catch (const std::invalid_argument&) {
    TORCH_CHECK(false, "export_text_encoder: the text module has a parameter named like a temperature scalar");
  }
  write_npz(path, arrays);
}

void export_official(const torch::nn::Module& vision, const torch::nn::Module& text, const OfficialPaths& paths,
                     std::optional<float> temperature) {
  export_image_encoder(vision, paths.image_npz);
  export_text_encoder(text, paths.text_npz, TextScalars{temperature, std::nullopt});
}

void import_image_encoder(const std::string& path, torch::nn::Module& vision) { import_strict(path, vision, {}); }

TextScalars import_text_encoder(const std::string& path, torch::nn::Module& text) {
  const NpzArrays s = import_strict(path, text, {kTemperature, kTemperatureContrastive});
  TextScalars out;
  if (s.contains(kTemperature)) out.temperature = s.at(kTemperature).item<float>();
  if (s.contains(kTemperatureContrastive)) out.temperature_contrastive = s.at(kTemperatureContrastive).item<float>();
  return out;
}

}  // namespace tips::io
