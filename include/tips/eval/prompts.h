// tips/eval/prompts.h - class text embeddings from prompt-template ensembles (CLIP / TCL style).
// Per class: fill every template with the class name, embed, L2-normalise each, average, L2-normalise.
// This file knows nothing about models: the caller passes a function that embeds a list of strings.
//
// Legend: C classes, T templates, D embedding width.
// Example:
//   auto embed = [&](const std::vector<std::string>& texts) { return text(tok.encode(texts, 64)); };
//   torch::Tensor cls = class_embeddings({"t-shirt", "bag"}, cfg.templates, embed);   // (2, D), unit rows
#pragma once
#include <torch/torch.h>

#include <functional>
#include <string>
#include <vector>

namespace tips::eval {

// texts -> (len(texts), D) float embeddings, not necessarily normalised.
using EmbedTexts = std::function<torch::Tensor(const std::vector<std::string>&)>;

// Replaces every "{}" in `tmpl` by `name` ("a photo of {}s." + "bag" -> "a photo of bags.").
// A template without "{}" throws ConfigError (it would give every class the same prompt).
std::string fill_template(const std::string& tmpl, const std::string& name);

// Ensemble of already-embedded prompts: per_prompt (C, T, D) -> (C, D) float, unit rows:
// normalize(mean_t(normalize(per_prompt[c, t]))).
torch::Tensor ensemble_prompts(const torch::Tensor& per_prompt);

// Embeds C*T prompts with one call of `embed` (class-major order) and ensembles them -> (C, D), unit rows.
// Throws ConfigError when class_names or templates is empty.
torch::Tensor class_embeddings(const std::vector<std::string>& class_names,
                               const std::vector<std::string>& templates, const EmbedTexts& embed);

}  // namespace tips::eval
