// tips/data/config.h - data source, caption streams, multi-crop, masking, loader (YAML section `data`).
#pragma once
#include <cstdint>
#include <map>
#include <string>

namespace tips::data {

enum class SourceKind { kFashionMosaic, kManifest, kTar };
enum class MissingCaption { kError, kSkip, kFallback };

struct CaptionConfig {
  // Field name -> probability, per text stream. TIPSv2: stream 1 alt-text; stream 2 medium or long 50/50.
  std::map<std::string, double> stream1{{"alt_text", 1.0}};
  std::map<std::string, double> stream2{{"caption_medium", 0.5}, {"caption_long", 0.5}};
  MissingCaption missing = MissingCaption::kFallback;   // error | skip | fallback
  std::string fallback_field = "alt_text";              // used when missing == fallback
};

struct CropConfig {
  int64_t global_count = 1;      // TIPS uses one global crop
  int64_t global_size = 224;
  double global_scale_min = 0.32;
  double global_scale_max = 1.0;
  int64_t local_count = 6;
  int64_t local_size = 98;
  double local_scale_min = 0.05;
  double local_scale_max = 0.32;
  double flip_prob = 0.5;
  double color_jitter_prob = 0.0;  // TIPSv2: no photometric augmentation
  double grayscale_prob = 0.0;
  double blur_prob = 0.0;
  double solarize_prob = 0.0;
};

struct MaskingConfig {
  double ratio_min = 0.75;         // fraction of patches masked; min == max gives a fixed ratio (TIPSv2 0.75)
  double ratio_max = 0.75;
  double probability = 1.0;        // fraction of images that get a mask at all
  int64_t min_block_patches = 4;
  double aspect_min = 0.3;
  double aspect_max = 3.3;
};

struct LoaderConfig {
  int64_t threads = 2;             // decode/augment worker threads per rank
  int64_t prefetch_batches = 4;    // bounded queue of ready batches
  int64_t shuffle_buffer = 1000;   // tar shards: in-memory shuffle buffer (samples)
  double max_bad_fraction = 0.01;  // abort when more than this fraction of samples is unreadable
  std::string quarantine_log = "quarantine.jsonl";  // in the run dir; one line per skipped sample
};

struct DataConfig {
  SourceKind source = SourceKind::kFashionMosaic;   // fashion_mosaic | manifest | tar
  std::string path = "data/fashion_mosaic/train.jsonl"; // manifest file, shard pattern ("a/{000..127}.tar"), ...
  std::string image_field = "image";                // manifest column / json key holding the image path
  std::string label_field = "label";
  CaptionConfig captions;
  CropConfig crops;
  MaskingConfig masking;
  LoaderConfig loader;
};

}  // namespace tips::data
