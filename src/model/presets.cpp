#include "tips/model/presets.h"

#include <stdexcept>

namespace tips::model {
namespace {

struct Row {
  const char* name;
  // vision: patch, dim, depth, heads, mlp_hidden, ffn
  int64_t patch, dim, depth, heads, mlp;
  FfnKind ffn;
  // text: dim, depth, heads, mlp, vocab
  int64_t t_dim, t_depth, t_heads, t_mlp, t_vocab;
};

// g/14: SwiGLU hidden = (int(6144 * 2 / 3) + 7) // 8 * 8 = 4096 (recipe section 1.1).
const Row kRows[] = {
    {"tiny", 8, 128, 4, 4, 512, FfnKind::kGelu, 128, 4, 4, 512, 1024},
    {"S", 14, 384, 12, 6, 1536, FfnKind::kGelu, 384, 12, 6, 1536, 32000},
    {"B", 14, 768, 12, 12, 3072, FfnKind::kGelu, 768, 12, 12, 3072, 32000},
    {"L", 14, 1024, 24, 16, 4096, FfnKind::kGelu, 1024, 12, 16, 4096, 32000},
    {"So400m", 14, 1152, 27, 16, 4304, FfnKind::kGelu, 1152, 27, 16, 4304, 32000},
    {"g", 14, 1536, 40, 24, 4096, FfnKind::kSwiGlu, 1536, 12, 24, 6144, 32000},
};

const Row& find(const std::string& name) {
  for (const Row& r : kRows)
    if (name == r.name) return r;
  std::string valid;
  for (const Row& r : kRows) valid += std::string(valid.empty() ? "" : ", ") + r.name;
  throw std::invalid_argument("unknown preset '" + name + "' (valid: " + valid + ")");
}

}  // namespace

const std::vector<std::string>& preset_names() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> n;
    for (const Row& r : kRows) n.emplace_back(r.name);
    return n;
  }();
  return names;
}

VisionConfig vision_preset(const std::string& name) {
  const Row& r = find(name);
  VisionConfig c;
  c.preset = name;
  c.patch_size = r.patch;
  c.dim = r.dim;
  c.depth = r.depth;
  c.num_heads = r.heads;
  c.mlp_hidden = r.mlp;
  c.ffn = r.ffn;
  c.pos_grid = name == "tiny" ? 14 : 32;  // tiny: 112 px / patch 8
  return c;
}

TextConfig text_preset(const std::string& name) {
  const Row& r = find(name);
  TextConfig c;
  c.preset = name;
  c.dim = r.t_dim;
  c.depth = r.t_depth;
  c.num_heads = r.t_heads;
  c.mlp_hidden = r.t_mlp;
  c.vocab_size = r.t_vocab;
  return c;
}

}  // namespace tips::model
