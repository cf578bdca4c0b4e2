#include "tips/eval/prompts.h"

#include "tips/core/error.h"

namespace tips::eval {

namespace F = torch::nn::functional;

std::string fill_template(const std::string& tmpl, const std::string& name) {
  if (tmpl.find("{}") == std::string::npos)
    throw ConfigError("eval.templates: template '" + tmpl + "' has no '{}' placeholder",
                      "write the class-name slot as {}, e.g. 'a photo of a {}.'");
  std::string out;
  size_t pos = 0;
  for (size_t hit; (hit = tmpl.find("{}", pos)) != std::string::npos; pos = hit + 2)
    out += tmpl.substr(pos, hit - pos) + name;
  return out + tmpl.substr(pos);
}

torch::Tensor ensemble_prompts(const torch::Tensor& per_prompt) {
  TORCH_CHECK(per_prompt.dim() == 3, "ensemble_prompts: expected (C, T, D), got ", per_prompt.sizes());
  const auto unit = F::normalize(per_prompt.to(torch::kFloat), F::NormalizeFuncOptions().dim(-1));
  return F::normalize(unit.mean(/*dim=*/1), F::NormalizeFuncOptions().dim(-1));  // (C, D)
}

torch::Tensor class_embeddings(const std::vector<std::string>& class_names,
                               const std::vector<std::string>& templates, const EmbedTexts& embed) {
  if (class_names.empty()) throw ConfigError("eval: no class names", "set eval.class_names or provide classes.txt");
  if (templates.empty())
    throw ConfigError("eval.templates is empty", "give at least one template such as 'a photo of a {}.'");
  std::vector<std::string> prompts;
  prompts.reserve(class_names.size() * templates.size());
  for (const auto& name : class_names)
    for (const auto& t : templates) prompts.push_back(fill_template(t, name));
  const torch::Tensor flat = embed(prompts);  // (C*T, D)
  TORCH_CHECK(flat.dim() == 2 && flat.size(0) == static_cast<int64_t>(prompts.size()),
              "class_embeddings: embed returned ", flat.sizes(), " for ", prompts.size(), " prompts");
  return ensemble_prompts(flat.view({static_cast<int64_t>(class_names.size()),
                                     static_cast<int64_t>(templates.size()), flat.size(1)}));
}

}  // namespace tips::eval
