// tips/model/config.h - plain config structs of the two towers and the projection heads.
// Defaults are ViT-S/14 (the smallest official variant). Presets (S/B/L/So400m/g, tiny) live in presets.h.
#pragma once
#include <cstdint>
#include <string>

namespace tips::model {

enum class FfnKind { kGelu, kSwiGlu };

// Vision tower (YAML section `model`).
struct VisionConfig {
  std::string preset;            // "" | tiny | S | B | L | So400m | g; fills the fields below first
  int64_t patch_size = 14;       // pixels per patch side (official: 14)
  int64_t dim = 384;             // token width D
  int64_t depth = 12;            // number of blocks
  int64_t num_heads = 6;         // must divide dim
  int64_t mlp_hidden = 1536;     // GELU: fc1 width; SwiGLU: H (w12 is 2H wide)
  FfnKind ffn = FfnKind::kGelu;  // gelu | swiglu (g/14)
  int64_t pos_grid = 16;         // side of the stored position table (TIPS v1 16, TIPSv2 32)
  double layerscale_init = 1e-5; // LayerScale gamma init (unknown for TIPS; DINOv2 uses 1e-5)
  double drop_path = 0.0;        // stochastic depth at the last block, linear from 0
  double norm_eps = 1e-6;        // LayerNorm eps in the image tower (checkpoint spec)
  double init_std = 0.02;        // trunc-normal std for Linear weights and pos_embed
};

// Text tower (YAML section `text`).
struct TextConfig {
  std::string preset;            // "" -> follows model.preset; else tiny | S | B | L | So400m | g
  int64_t dim = 384;             // width; must equal model.dim (no projection layers in TIPS)
  int64_t depth = 12;            // number of blocks
  int64_t num_heads = 6;         // must divide dim
  int64_t mlp_hidden = 1536;     // ReLU MLP width
  int64_t vocab_size = 32000;    // SentencePiece vocabulary
  int64_t max_len = 64;          // tokens per caption (pad/truncate)
  double norm_eps = 1e-5;        // LayerNorm eps in the text tower (checkpoint spec)
  std::string tokenizer;         // SentencePiece .model path (`tips tokenizer train` makes one); training needs it
};

// DINO / iBOT projection heads (YAML section `heads`).
struct HeadsConfig {
  int64_t prototypes = 65536;    // K, width of the weight-normalised prototype layer
  int64_t hidden = 2048;         // MLP hidden width
  int64_t bottleneck = 256;      // L2-normalised bottleneck width
  int64_t num_layers = 3;        // MLP layers before the bottleneck output
  bool ibot_separate = true;     // separate iBOT head (true) or share the DINO head (false)
};

}  // namespace tips::model
