// tips/eval/knn.h - weighted k-nearest-neighbour classification on frozen global features, as DINO's kNN eval:
// the k most cosine-similar bank items vote for their label with weight exp(similarity / temperature).
//
// Legend: M bank items, Q queries, D width, C classes.
#pragma once
#include <torch/torch.h>

#include <cstdint>

namespace tips::eval {

struct KnnParams {
  int64_t k = 20;              // neighbours (clamped to M)
  double temperature = 0.07;   // vote temperature (DINO: 0.07)
  int64_t query_chunk = 1024;  // queries per similarity block (memory bound: chunk x M floats)
};

// bank (M, D), bank_labels (M,) int64 in [0, C), queries (Q, D); features need not be normalised (they are
// L2-normalised here). Returns (Q, C) float summed vote weights; argmax is the prediction.
torch::Tensor knn_votes(const torch::Tensor& bank, const torch::Tensor& bank_labels, const torch::Tensor& queries,
                        int64_t num_classes, const KnnParams& params);

}  // namespace tips::eval
