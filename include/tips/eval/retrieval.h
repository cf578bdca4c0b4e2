// tips/eval/retrieval.h - image-text retrieval Recall@K in both directions, one caption per image (as on the mosaic
// canvases; Flickr-style 5-caption sets are not handled here). By default image i and text i are the only correct
// pair. With `groups`, every pair whose captions are in the same group is correct: pass the caption text's id so
// that an identical caption of another image ("a bag") counts as a hit. Ties are counted against the query: a wrong
// item scoring exactly as high as the best right one pushes it down (so a collapsed model with identical
// embeddings scores ~0, not 1).
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
// groups: empty (only i <-> i is correct) or (N,) int64, groups[i] = the group of pair i's caption.
RetrievalRecall retrieval_recall(const torch::Tensor& sim, const std::vector<int64_t>& ks = {1, 5, 10},
                                 const torch::Tensor& groups = {});

// 0-based rank of the best correct item per query (rows are queries): with correct(i) = {j : groups[j] ==
// groups[i]} (just {i} without groups) and best = max over correct(i) of sim[i][j],
// rank[i] = #{j not in correct(i) : sim[i][j] >= best}. sim (N, N) -> (N,) int64.
torch::Tensor correct_ranks(const torch::Tensor& sim, const torch::Tensor& groups = {});

// Group ids of texts: equal strings get equal ids (first occurrence order). (N,) int64.
torch::Tensor text_groups(const std::vector<std::string>& texts);

// Which CLS embeds the images for caption `field`: by_stream = true gives cls1 for "alt_text" (the noisy web
// stream CLS1 is trained on) and cls2 for every other (synthetic) field; false gives `fallback` always.
ClsToken retrieval_token(const std::string& field, bool by_stream, ClsToken fallback);

}  // namespace tips::eval
