// Field lists of `model` (vision tower), `text` and `heads`.
#include <stdexcept>

#include "fields.h"
#include "tips/model/presets.h"

namespace tips::config::detail {

namespace {
const NameTable<model::FfnKind> kFfnNames{{"gelu", model::FfnKind::kGelu}, {"swiglu", model::FfnKind::kSwiGlu}};

template <class V>
void check_preset(V& v, const std::string& name) {
  bool known = false;
  for (const auto& p : model::preset_names()) known = known || p == name;
  std::string valid;
  for (const auto& p : model::preset_names()) valid += (valid.empty() ? "" : " | ") + p;
  v.check("preset", name.empty() || known, "expected one of " + valid + ", got '" + name + "'");
}
}  // namespace

template <class V, class C>
void visit_vision(V& v, C& c) {
  v.field("preset", c.preset, "tiny | S | B | L | So400m | g; fills the fields below, which may still override it");
  if constexpr (V::kReading) {
    check_preset(v, c.preset);
    if (!c.preset.empty()) c = model::vision_preset(c.preset);
  }
  v.field("patch_size", c.patch_size, "pixels per patch side (official 14)");
  v.field("dim", c.dim, "token width D");
  v.field("depth", c.depth, "number of transformer blocks");
  v.field("num_heads", c.num_heads, "attention heads; must divide dim");
  v.field("mlp_hidden", c.mlp_hidden, "MLP hidden width (SwiGLU: H, w12 is 2H)");
  v.choice("ffn", c.ffn, kFfnNames, "MLP kind");
  v.field("pos_grid", c.pos_grid, "side of the learned position table (TIPS v1 16, TIPSv2 32)");
  v.field("layerscale_init", c.layerscale_init, "LayerScale gamma init");
  v.field("drop_path", c.drop_path, "stochastic depth rate at the last block");
  v.field("norm_eps", c.norm_eps, "LayerNorm eps");
  v.field("init_std", c.init_std, "trunc-normal init std");
  v.check("patch_size", c.patch_size >= 1, "must be >= 1, got " + std::to_string(c.patch_size));
  v.check("dim", c.dim >= 1, "must be >= 1, got " + std::to_string(c.dim));
  v.check("depth", c.depth >= 1, "must be >= 1, got " + std::to_string(c.depth));
  v.check("num_heads", c.num_heads >= 1 && c.dim % c.num_heads == 0,
          "must divide dim=" + std::to_string(c.dim) + ", got " + std::to_string(c.num_heads));
  v.check("mlp_hidden", c.mlp_hidden >= 1, "must be >= 1");
  v.check("pos_grid", c.pos_grid >= 1, "must be >= 1");
  v.check("drop_path", c.drop_path >= 0 && c.drop_path < 1, "must be in [0, 1)");
  v.check("norm_eps", c.norm_eps > 0, "must be > 0");
}
TIPS_INSTANTIATE_VISIT(visit_vision, model::VisionConfig)

template <class V, class C>
void visit_text(V& v, C& c, const std::string& model_preset) {
  v.field("preset", c.preset, "\"\" follows model.preset; else tiny | S | B | L | So400m | g");
  if constexpr (V::kReading) {
    check_preset(v, c.preset);
    const std::string p = c.preset.empty() ? model_preset : c.preset;
    if (!p.empty()) {
      const std::string tokenizer = c.tokenizer;
      c = model::text_preset(p);
      c.preset = p;
      c.tokenizer = tokenizer;
    }
  }
  v.field("dim", c.dim, "width; must equal model.dim");
  v.field("depth", c.depth, "number of blocks");
  v.field("num_heads", c.num_heads, "attention heads; must divide dim");
  v.field("mlp_hidden", c.mlp_hidden, "ReLU MLP width");
  v.field("vocab_size", c.vocab_size, "SentencePiece vocabulary size");
  v.field("max_len", c.max_len, "tokens per caption (pad/truncate)");
  v.field("norm_eps", c.norm_eps, "LayerNorm eps");
  v.field("tokenizer", c.tokenizer, "SentencePiece .model path");
  v.check("dim", c.dim >= 1, "must be >= 1");
  v.check("depth", c.depth >= 1, "must be >= 1");
  v.check("num_heads", c.num_heads >= 1 && c.dim % c.num_heads == 0,
          "must divide dim=" + std::to_string(c.dim) + ", got " + std::to_string(c.num_heads));
  v.check("vocab_size", c.vocab_size >= 2, "must be >= 2 (id 0 is padding)");
  v.check("max_len", c.max_len >= 1, "must be >= 1");
}
template void visit_text<Reader, model::TextConfig>(Reader&, model::TextConfig&, const std::string&);
template void visit_text<Writer, const model::TextConfig>(Writer&, const model::TextConfig&, const std::string&);

template <class V, class C>
void visit_heads(V& v, C& c) {
  v.field("prototypes", c.prototypes, "K prototypes of the weight-normalised last layer");
  v.field("hidden", c.hidden, "MLP hidden width");
  v.field("bottleneck", c.bottleneck, "L2-normalised bottleneck width");
  v.field("num_layers", c.num_layers, "MLP layers (>= 1)");
  v.field("ibot_separate", c.ibot_separate, "separate iBOT head (false: share the DINO head)");
  v.check("prototypes", c.prototypes >= 2, "must be >= 2");
  v.check("hidden", c.hidden >= 1, "must be >= 1");
  v.check("bottleneck", c.bottleneck >= 1, "must be >= 1");
  v.check("num_layers", c.num_layers >= 1, "must be >= 1");
}
TIPS_INSTANTIATE_VISIT(visit_heads, model::HeadsConfig)

}  // namespace tips::config::detail
