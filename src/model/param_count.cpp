#include "tips/model/param_count.h"

namespace tips::model {

namespace {
int64_t linear(int64_t in, int64_t out) { return in * out + out; }
int64_t layer_norm(int64_t d) { return 2 * d; }
int64_t attention(int64_t d) { return linear(d, 3 * d) + linear(d, d); }  // qkv / in_proj + proj / out_proj
}  // namespace

int64_t vision_param_count(const VisionConfig& c) {
  const int64_t D = c.dim, H = c.mlp_hidden;
  const int64_t ffn = c.ffn == FfnKind::kSwiGlu ? linear(D, 2 * H) + linear(H, D) : linear(D, H) + linear(H, D);
  const int64_t block = 2 * layer_norm(D) + attention(D) + ffn + 2 * D;  // norm1/2, attn, mlp, ls1/ls2
  const int64_t tokens = 3 * D + (1 + c.pos_grid * c.pos_grid) * D;     // cls, register, mask, pos_embed
  const int64_t patch = 3 * c.patch_size * c.patch_size * D + D;
  return tokens + patch + c.depth * block + layer_norm(D);
}

int64_t text_param_count(const TextConfig& c) {
  const int64_t D = c.dim;
  const int64_t block = 2 * layer_norm(D) + attention(D) + linear(D, c.mlp_hidden) + linear(c.mlp_hidden, D);
  return c.vocab_size * D + c.depth * block + layer_norm(D);
}

}  // namespace tips::model
