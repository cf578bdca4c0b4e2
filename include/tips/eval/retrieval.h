// tips/eval/retrieval.h - image-text retrieval Recall@K in both directions, where image i and text i are the
// only correct pair (one caption per image, as on the mosaic canvases; Flickr-style 5-caption sets are not
// handled here). Ties are counted against the query: a wrong item scoring exactly as high as the right one
// pushes it down (so a collapsed model with identical embeddings scores ~0, not 1).
//
// Legend: N pairs, D width.
#pragma once
#include <torch/torch.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "tips/eval/config.h"

namespace tips::eval {

struct RetrievalRecall {
  std::map<int64_t, double> image_to_text;  // K -> fraction of images whose own text is in the top K
  std::map<int64_t, double> text_to_image;  // K -> fraction of texts whose own image is in the top K
};

// sim (N, N): sim[i][j] = similarity of image i and text j. ks: the K values (each >= 1).
RetrievalRecall retrieval_recall(const torch::Tensor& sim, const std::vector<int64_t>& ks = {1, 5, 10});

// 0-based rank of the correct item per query: rank[i] = #{j != i : sim[i][j] >= sim[i][i]} (rows are queries).
// sim (N, N) -> (N,) int64.
torch::Tensor correct_ranks(const torch::Tensor& sim);

// Which CLS embeds the images for caption `field`: by_stream = true gives cls1 for "alt_text" (the noisy web
// stream CLS1 is trained on) and cls2 for every other (synthetic) field; false gives `fallback` always.
ClsToken retrieval_token(const std::string& field, bool by_stream, ClsToken fallback);

}  // namespace tips::eval
