// tips/eval/config.h - evaluation settings (YAML section `eval`).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace tips::eval {

enum class SegMode { kWhole, kSlide };
enum class ClsToken { kCls1, kCls2 };
enum class SegReadout { kValue, kFinal, kPenultimate, kAttribution };

// "value" | "final" | "penultimate" | "attribution" -> SegReadout; throws std::invalid_argument for anything else.
SegReadout parse_readout(const std::string& name);
// True for a non-empty list of distinct valid readout names.
bool valid_readouts(const std::vector<std::string>& names);

struct EvalConfig {
  std::string seg_manifest = "data/fashion_mosaic/test.jsonl";      // canvases with label maps
  std::string cls_manifest = "data/fashion_mosaic/single_test.jsonl"; // single items for zero-shot cls
  std::vector<std::string> class_names;     // empty: taken from the dataset
  std::vector<std::string> templates{       // the 9 TCL templates
      "itap of a {}.",          "a bad photo of a {}.", "a origami {}.",
      "a photo of the large {}.", "a {} in a video game.", "art of the {}.",
      "a photo of the small {}.", "a photo of many {}.", "a photo of {}s."};
  // Patch readouts for segmentation, the first one headline: value (MaskCLIP value trick in the last block, the
  // official protocol), final (the output patch tokens), penultimate (the tokens entering the last block),
  // attribution (what each patch writes into the first CLS, model/cls_attribution.h; not an official protocol).
  std::vector<std::string> seg_readouts{"value", "final", "penultimate", "attribution"};
  // The dense linear probe (linear_probe.h), scored on seg_manifest: fitted on the first probe_images canvases
  // (with label maps) of probe_manifest, "" = no probe.
  std::string probe_manifest;
  int64_t probe_images = 1000;
  std::string probe_readout = "final";
  double probe_weight_decay = 1e-5;  // chosen on the demo's val split (docs/results.md)
  int64_t probe_iterations = 500;    // L-BFGS iterations at most
  SegMode seg_mode = SegMode::kWhole;
  int64_t image_size = 112;                 // evaluation resolution (pixels)
  int64_t slide_window = 448;
  int64_t slide_stride = 336;
  std::string background_class = "background";  // background prompt class (seg/miou); "" = none
  double background_score = 0.2;            // constant background cosine (seg/miou_bg_const); < -1 = off
  ClsToken cls_token = ClsToken::kCls1;
  int64_t knn_k = 20;
  double knn_temperature = 0.07;
  int64_t max_images = 0;                   // 0 = whole split
  int64_t batch_size = 64;
  std::string knn_bank_manifest = "data/fashion_mosaic/single_train.jsonl";  // kNN bank ("" = no kNN)
  std::vector<std::string> retrieval_fields{"alt_text", "caption_medium", "caption_long"};  // caption keys
  bool retrieval_by_stream = true;          // CLS1 for alt_text, CLS2 for synthetic fields; false: cls_token
  bool retrieval_same_text_hits = false;    // an identical caption of another image also counts as correct
  int64_t visualize = 0;                    // canvases rendered to <out>/vis (0 = none)
  double train_wait_s = 3600;               // inside `tips train`: how long other ranks wait for rank 0's eval
};

}  // namespace tips::eval
