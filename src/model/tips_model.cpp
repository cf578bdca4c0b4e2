#include "tips/model/tips_model.h"

#include <cmath>

#include "init_impl.h"
#include "tips/core/rng.h"

namespace tips::model {

TipsModelImpl::TipsModelImpl(const TipsModelConfig& cfg) : cfg_(cfg) {
  TORCH_CHECK(cfg.vision.dim == cfg.text.dim, "TipsModel: vision dim ", cfg.vision.dim, " != text dim ",
              cfg.text.dim, " (TIPS has no projection layers)");
  TORCH_CHECK(cfg.temperature_init > 0, "TipsModel: temperature_init must be > 0, got ", cfg.temperature_init);
  // Each tower draws its initial weights from its own stream of the run seed.
  vision = register_module("vision", VisionTransformer(cfg.vision, rng::derive(cfg.seed, 0x11)));
  text = register_module("text", TextEncoder(cfg.text, rng::derive(cfg.seed, 0x22)));
  heads = register_module("heads", ProjectionHeads(cfg.heads, cfg.vision.dim, rng::derive(cfg.seed, 0x33)));
  if (cfg.distill_dim > 0) {
    distill = register_module("distill", Linear(cfg.vision.dim, cfg.distill_dim));
    at::Generator gen = rng::generator(rng::derive(cfg.seed, 0x44));
    init::linear(*distill, cfg.vision.init_std, gen);
  }
  log_temperature = register_parameter("log_temperature", torch::full({}, std::log(cfg.temperature_init)),
                                       cfg.learn_temperature);
  logit_bias = register_parameter("logit_bias", torch::full({}, cfg.logit_bias_init), cfg.learn_temperature);
}

torch::Tensor TipsModelImpl::embed_text(const torch::Tensor& ids) {
  return torch::nn::functional::normalize(text->forward(ids), torch::nn::functional::NormalizeFuncOptions().dim(-1));
}

}  // namespace tips::model
