#include "tips/eval/linear_probe.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "tips/core/error.h"
#include "tips/eval/eval_set.h"
#include "tips/eval/oracle.h"
#include "tips/eval/seg_scorer.h"
#include "tips/eval/zero_shot_seg.h"

namespace tips::eval {

namespace {

// Mean soft cross-entropy of the standardised rows plus the weight decay term (the bias unpenalised).
torch::Tensor probe_loss(const torch::Tensor& z, const torch::Tensor& targets, const torch::Tensor& weight,
                         const torch::Tensor& bias, double weight_decay) {
  const auto log_p = torch::log_softmax(torch::addmm(bias, z, weight.t()), 1);
  return -(targets * log_p).sum(1).mean() + 0.5 * weight_decay * weight.pow(2).sum();
}

torch::Tensor standardise(const LinearProbe& probe, const torch::Tensor& features) {
  return (features.to(torch::kDouble) - probe.mean) * probe.inv_std;
}

// One forward per batch of `split` at the eval resolution; `on_batch(begin, patches)` gets the readout's patch
// tokens (b, N, D) on the CPU.
void scan_probe_split(Encoders& enc, const EvalSplit& split, const EvalConfig& cfg, SegReadout readout,
                      const std::function<void(int64_t, const torch::Tensor&)>& on_batch) {
  for_each_encoded_batch(enc, split, cfg.batch_size, cfg.image_size, /*dense_readouts=*/readout != SegReadout::kFinal,
                         [&](int64_t begin, const torch::Tensor&, const model::VisionOutput& out) {
                           on_batch(begin, segmentation_features(out, readout).to(torch::kCPU, torch::kFloat));
                         });
}

}  // namespace

LinearProbe fit_linear_probe(const torch::Tensor& features, const torch::Tensor& targets, const ProbeOptions& options) {
  TORCH_CHECK(features.dim() == 2 && targets.dim() == 2 && features.size(0) == targets.size(0) &&
                  features.size(0) >= 2 && targets.size(1) >= 2,
              "fit_linear_probe: features ", features.sizes(), ", targets ", targets.sizes());
  TORCH_CHECK(torch::isfinite(features).all().item<bool>(), "fit_linear_probe: non-finite features");
  TORCH_CHECK(options.weight_decay >= 0 && options.max_iterations >= 1 && options.gradient_tolerance > 0,
              "fit_linear_probe: weight decay ", options.weight_decay, ", ", options.max_iterations,
              " iterations, gradient tolerance ", options.gradient_tolerance);
  torch::AutoGradMode grad_on(true);  // the evaluations run under NoGradGuard
  LinearProbe probe;
  const auto x = features.to(torch::kDouble);
  probe.mean = x.mean(0);
  // A constant channel carries nothing; its floor keeps it at zero instead of dividing by zero.
  probe.inv_std = 1.0 / x.std(0, /*unbiased=*/false).clamp_min(1e-6);
  const auto z = standardise(probe, x);
  const auto t = targets.to(torch::kDouble);
  auto weight = torch::zeros({t.size(1), x.size(1)}, torch::kDouble).requires_grad_();
  auto bias = torch::zeros({t.size(1)}, torch::kDouble).requires_grad_();
  // Stop on the gradient alone (tolerance_change 0): a loss that changes by 1e-13 per step can still be 1e-7 away
  // from its optimum in the weights.
  const auto lbfgs_options = torch::optim::LBFGSOptions(1.0)
                                 .max_iter(options.max_iterations)
                                 .tolerance_grad(options.gradient_tolerance)
                                 .tolerance_change(0.0)
                                 .history_size(20)
                                 .line_search_fn("strong_wolfe");
  torch::optim::LBFGS lbfgs({weight, bias}, lbfgs_options);
  lbfgs.step([&] {
    lbfgs.zero_grad();
    auto loss = probe_loss(z, t, weight, bias, options.weight_decay);
    loss.backward();
    ++probe.evaluations;
    return loss;
  });
  probe.weight = weight.detach();
  probe.bias = bias.detach();
  probe.loss = probe_objective(probe, features, targets, options.weight_decay);
  return probe;
}

double probe_objective(const LinearProbe& probe, const torch::Tensor& features, const torch::Tensor& targets,
                       double weight_decay) {
  torch::NoGradGuard no_grad;
  return probe_loss(standardise(probe, features), targets.to(torch::kDouble), probe.weight, probe.bias, weight_decay)
      .item<double>();
}

torch::Tensor probe_logits(const LinearProbe& probe, const torch::Tensor& patches, int64_t grid_h, int64_t grid_w) {
  TORCH_CHECK(patches.dim() == 3 && patches.size(1) == grid_h * grid_w && patches.size(2) == probe.weight.size(1),
              "probe_logits: patches ", patches.sizes(), " for a ", grid_h, "x", grid_w, " grid and width ",
              probe.weight.size(1));
  const auto b = patches.size(0);
  const auto z = standardise(probe, patches.reshape({b * grid_h * grid_w, patches.size(2)}));
  const auto logits = torch::addmm(probe.bias, z, probe.weight.t());  // (B N, C)
  return logits.view({b, grid_h, grid_w, -1}).permute({0, 3, 1, 2}).contiguous().to(torch::kFloat);
}

void evaluate_linear_probe(Encoders& enc, const EvalConfig& cfg, int64_t object_classes, EvalResults& res) {
  if (cfg.probe_manifest.empty() || cfg.seg_manifest.empty())
    throw ConfigError(
        "the dense linear probe is fitted on eval.probe_manifest and scored on eval.seg_manifest, "
        "and one of them is empty",
        "set both to canvases with label maps, or eval.probe_manifest=\"\" to turn the probe off");
  const auto t0 = std::chrono::steady_clock::now();
  const auto readout = parse_readout(cfg.probe_readout);
  const int64_t grid = cfg.image_size / enc.patch_size();
  const auto fit_split = read_eval_manifest(cfg.probe_manifest, cfg.probe_images);
  std::vector<torch::Tensor> rows, shares;
  scan_probe_split(enc, fit_split, cfg, readout, [&](int64_t begin, const torch::Tensor& patches) {
    rows.push_back(patches.reshape({-1, patches.size(2)}));
    for (int64_t i = 0; i < patches.size(0); ++i) {
      const auto label = record_label_map(fit_split, static_cast<size_t>(begin + i));
      shares.push_back(oracle_scores(label, grid, grid, object_classes).view({object_classes + 1, -1}).t());
    }
  });
  const auto features = torch::cat(rows);
  const auto probe = fit_linear_probe(features, torch::cat(shares), {cfg.probe_weight_decay, cfg.probe_iterations});
  spdlog::info("eval: linear probe on {} patches of {} canvases: objective {:.4f} after {} evaluations",
               features.size(0), fit_split.records.size(), probe.loss, probe.evaluations);

  const auto seg_split = read_eval_manifest(cfg.seg_manifest, cfg.max_images);
  SegScorer scorer(object_classes, {/*prompt_background=*/true, std::numeric_limits<double>::quiet_NaN()});
  scan_probe_split(enc, seg_split, cfg, readout, [&](int64_t begin, const torch::Tensor& patches) {
    const auto logits = probe_logits(probe, patches, grid, grid);
    for (int64_t i = 0; i < patches.size(0); ++i)
      scorer.add(logits.narrow(0, i, 1), record_label_map(seg_split, static_cast<size_t>(begin + i)));
  });
  for (const auto& [name, value] : scorer.metrics()) res.metrics["probe/" + name] = value;
  res.counts["probe_fit"] = static_cast<int64_t>(fit_split.records.size());
  res.seconds["probe"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace tips::eval
