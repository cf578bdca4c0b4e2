#include "tips/eval/zero_shot_seg.h"

#include <algorithm>
#include <stdexcept>
#include <utility>

namespace tips::eval {

namespace F = torch::nn::functional;

namespace {
// Every readout's config name, in one place for parsing and validation.
constexpr std::pair<const char*, SegReadout> kReadoutNames[] = {{"value", SegReadout::kValue},
                                                                {"final", SegReadout::kFinal},
                                                                {"penultimate", SegReadout::kPenultimate},
                                                                {"attribution", SegReadout::kAttribution}};
}  // namespace

SegReadout parse_readout(const std::string& name) {
  for (const auto& [known, readout] : kReadoutNames)
    if (name == known) return readout;
  throw std::invalid_argument("unknown segmentation readout '" + name +
                              "' (value | final | penultimate | attribution)");
}

bool valid_readouts(const std::vector<std::string>& names) {
  if (names.empty()) return false;
  for (size_t i = 0; i < names.size(); ++i) {
    const bool known = std::any_of(std::begin(kReadoutNames), std::end(kReadoutNames),
                                   [&](const auto& entry) { return names[i] == entry.first; });
    if (!known || std::find(names.begin(), names.begin() + i, names[i]) != names.begin() + i) return false;
  }
  return true;
}

torch::Tensor segmentation_features(const model::VisionOutput& out, SegReadout readout) {
  switch (readout) {
    case SegReadout::kFinal: return out.patches;
    case SegReadout::kValue:
      TORCH_CHECK(out.value_patches.defined(), "segmentation_features: the forward did not return value_patches");
      return out.value_patches;
    case SegReadout::kPenultimate:
      TORCH_CHECK(out.penultimate_patches.defined(),
                  "segmentation_features: the forward did not return penultimate_patches");
      return out.penultimate_patches;
    case SegReadout::kAttribution:
      TORCH_CHECK(out.attribution_patches.defined(),
                  "segmentation_features: the forward did not return attribution_patches");
      return out.attribution_patches;
  }
  return out.patches;
}

torch::Tensor patch_text_scores(const torch::Tensor& patches, const torch::Tensor& text, int64_t grid_h,
                                int64_t grid_w) {
  TORCH_CHECK(patches.dim() == 3 && patches.size(1) == grid_h * grid_w, "patch_text_scores: patches ",
              patches.sizes(), " do not form a ", grid_h, "x", grid_w, " grid");
  TORCH_CHECK(text.dim() == 2 && text.size(1) == patches.size(2), "patch_text_scores: text ", text.sizes(),
              " vs patches ", patches.sizes());
  const auto p = F::normalize(patches.to(torch::kFloat), F::NormalizeFuncOptions().dim(-1));  // (B, N, D)
  const auto t = F::normalize(text.to(p.device(), torch::kFloat), F::NormalizeFuncOptions().dim(-1));  // (C, D)
  const auto s = torch::matmul(p, t.t());  // (B, N, C)
  return s.permute({0, 2, 1}).reshape({patches.size(0), text.size(0), grid_h, grid_w});
}

torch::Tensor upsample_scores(const torch::Tensor& scores, int64_t out_h, int64_t out_w) {
  TORCH_CHECK(scores.dim() == 4, "upsample_scores: expected (B, C, h, w), got ", scores.sizes());
  if (scores.size(2) == out_h && scores.size(3) == out_w) return scores;
  return F::interpolate(scores, F::InterpolateFuncOptions()
                                    .size(std::vector<int64_t>{out_h, out_w})
                                    .mode(torch::kBilinear)
                                    .align_corners(false));
}

torch::Tensor predict_whole(const torch::Tensor& scores, int64_t out_h, int64_t out_w) {
  return upsample_scores(scores, out_h, out_w).argmax(/*dim=*/1);  // (B, out_h, out_w)
}

std::vector<int64_t> window_starts(int64_t size, int64_t window, int64_t stride) {
  TORCH_CHECK(size >= 1 && window >= 1 && stride >= 1, "window_starts: size ", size, ", window ", window,
              ", stride ", stride, " must all be >= 1");
  if (window >= size) return {0};
  const int64_t count = (size - window + stride - 1) / stride + 1;
  std::vector<int64_t> starts;
  for (int64_t i = 0; i < count; ++i) starts.push_back(std::min(i * stride, size - window));
  return starts;
}

torch::Tensor slide_probabilities(const torch::Tensor& images, const SlideWindow& sw, const WindowScorer& score,
                                  int64_t readouts) {
  TORCH_CHECK(images.dim() == 4, "slide_probabilities: expected (B, 3, H, W), got ", images.sizes());
  TORCH_CHECK(readouts >= 1, "slide_probabilities: readouts = ", readouts);
  const int64_t H = images.size(2), W = images.size(3);
  const int64_t wh = std::min(sw.window, H), ww = std::min(sw.window, W);
  torch::Tensor sum, count = torch::zeros({1, 1, H, W}, images.options().dtype(torch::kFloat));
  for (int64_t y : window_starts(H, wh, sw.stride)) {
    for (int64_t x : window_starts(W, ww, sw.stride)) {
      using torch::indexing::Slice;
      const auto crop = images.index({Slice(), Slice(), Slice(y, y + wh), Slice(x, x + ww)});
      const auto scores = upsample_scores(score(crop).to(torch::kFloat), wh, ww);  // (b, R * C, wh, ww)
      TORCH_CHECK(scores.size(1) % readouts == 0, "slide_probabilities: ", scores.size(1), " scores for ", readouts,
                  " readouts");
      const auto probs = torch::softmax(scores.view({scores.size(0), readouts, -1, wh, ww}), /*dim=*/2).flatten(1, 2);
      if (!sum.defined()) sum = torch::zeros({images.size(0), probs.size(1), H, W}, probs.options());
      sum.index({Slice(), Slice(), Slice(y, y + wh), Slice(x, x + ww)}) += probs;
      count.index({Slice(), Slice(), Slice(y, y + wh), Slice(x, x + ww)}) += 1;
    }
  }
  return sum / count;  // (B, C, H, W)
}

torch::Tensor segmentation_targets(const torch::Tensor& label_map, bool with_background, int64_t ignore_index) {
  const auto t = label_map.to(torch::kLong);
  if (with_background) return t;
  return torch::where(t == 0, torch::full_like(t, ignore_index), t - 1);
}

}  // namespace tips::eval
