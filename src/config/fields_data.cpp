// Field lists of `data`, `dist`, `eval`.
#include "fields.h"

namespace tips::config::detail {

namespace {
const NameTable<data::SourceKind> kSourceNames{{"fashion_mosaic", data::SourceKind::kFashionMosaic},
                                               {"manifest", data::SourceKind::kManifest},
                                               {"tar", data::SourceKind::kTar}};
const NameTable<data::MissingCaption> kMissingNames{{"error", data::MissingCaption::kError},
                                                    {"skip", data::MissingCaption::kSkip},
                                                    {"fallback", data::MissingCaption::kFallback}};
const NameTable<dist::Backend> kBackendNames{
    {"auto", dist::Backend::kAuto}, {"gloo", dist::Backend::kGloo}, {"nccl", dist::Backend::kNccl}};
const NameTable<eval::SegMode> kSegNames{{"whole", eval::SegMode::kWhole}, {"slide", eval::SegMode::kSlide}};
const NameTable<eval::ClsToken> kEvalClsNames{{"cls1", eval::ClsToken::kCls1}, {"cls2", eval::ClsToken::kCls2}};

bool valid_stream(const std::map<std::string, double>& s) {
  double total = 0;
  for (const auto& [k, p] : s) {
    if (p < 0) return false;
    total += p;
  }
  return !s.empty() && total > 0;
}
}  // namespace

template <class V, class K>
void visit_crops(V& v, K& k) {
  v.field("global_count", k.global_count, "global crops per image");
  v.field("global_size", k.global_size, "global crop side (pixels)");
  v.field("global_scale_min", k.global_scale_min, "random-resized-crop area fraction, min");
  v.field("global_scale_max", k.global_scale_max, "random-resized-crop area fraction, max");
  v.field("local_count", k.local_count, "local crops per image (0 disables)");
  v.field("local_size", k.local_size, "local crop side (pixels)");
  v.field("local_scale_min", k.local_scale_min, "area fraction, min");
  v.field("local_scale_max", k.local_scale_max, "area fraction, max");
  v.field("flip_prob", k.flip_prob, "horizontal flip probability");
  v.field("color_jitter_prob", k.color_jitter_prob, "colour jitter probability");
  v.field("grayscale_prob", k.grayscale_prob, "grayscale probability");
  v.field("blur_prob", k.blur_prob, "Gaussian blur probability");
  v.field("solarize_prob", k.solarize_prob, "solarize probability");
  v.check("global_count", k.global_count >= 1, "must be >= 1");
  v.check("global_size", k.global_size >= 1, "must be >= 1");
  v.check("local_count", k.local_count >= 0, "must be >= 0");
  v.check("local_size", k.local_size >= 1, "must be >= 1");
  v.check("global_scale_max", 0 < k.global_scale_min && k.global_scale_min <= k.global_scale_max &&
                                  k.global_scale_max <= 1, "need 0 < global_scale_min <= global_scale_max <= 1");
  v.check("local_scale_max", 0 < k.local_scale_min && k.local_scale_min <= k.local_scale_max &&
                                 k.local_scale_max <= 1, "need 0 < local_scale_min <= local_scale_max <= 1");
  const std::pair<const char*, double> probabilities[] = {
      {"flip_prob", k.flip_prob}, {"color_jitter_prob", k.color_jitter_prob}, {"grayscale_prob", k.grayscale_prob},
      {"blur_prob", k.blur_prob}, {"solarize_prob", k.solarize_prob}};
  for (const auto& [name, p] : probabilities) v.check(name, p >= 0 && p <= 1, "must be a probability in [0, 1]");
}

template <class V, class C>
void visit_data(V& v, C& c) {
  v.choice("source", c.source, kSourceNames, "where samples come from");
  v.field("path", c.path, "manifest (.jsonl/.csv/.tsv), shard pattern (a/{000..127}.tar) or mosaic manifest");
  v.field("image_field", c.image_field, "manifest key holding the image path");
  v.field("label_field", c.label_field, "manifest key holding the class label (optional)");
  v.section("captions", [&] {
    auto& k = c.captions;
    v.field("stream1", k.stream1, "caption field -> probability for text stream 1 (CLS1)");
    v.field("stream2", k.stream2, "caption field -> probability for text stream 2 (CLS2)");
    v.choice("missing", k.missing, kMissingNames, "when the drawn field is absent");
    v.field("fallback_field", k.fallback_field, "field used when missing = fallback");
    v.check("stream1", valid_stream(k.stream1), "needs >= 1 field with probabilities >= 0 summing to > 0");
    v.check("stream2", valid_stream(k.stream2), "needs >= 1 field with probabilities >= 0 summing to > 0");
  });
  v.section("crops", [&] { visit_crops(v, c.crops); });
  v.section("masking", [&] {
    auto& k = c.masking;
    v.field("ratio_min", k.ratio_min, "fraction of patches masked, min");
    v.field("ratio_max", k.ratio_max, "max (== min: fixed ratio; TIPSv2 0.75)");
    v.field("probability", k.probability, "fraction of images masked at all");
    v.field("min_block_patches", k.min_block_patches, "smallest masked block (patches)");
    v.field("aspect_min", k.aspect_min, "block aspect ratio, min");
    v.field("aspect_max", k.aspect_max, "block aspect ratio, max");
    v.check("ratio_max", 0 <= k.ratio_min && k.ratio_min <= k.ratio_max && k.ratio_max <= 1,
            "need 0 <= ratio_min <= ratio_max <= 1");
    v.check("probability", k.probability >= 0 && k.probability <= 1, "must be in [0, 1]");
    v.check("min_block_patches", k.min_block_patches >= 1, "must be >= 1");
    v.check("aspect_max", 0 < k.aspect_min && k.aspect_min <= k.aspect_max, "need 0 < aspect_min <= aspect_max");
  });
  v.section("loader", [&] {
    auto& k = c.loader;
    v.field("threads", k.threads, "decode/augment threads per rank");
    v.field("prefetch_batches", k.prefetch_batches, "ready batches queued ahead");
    v.field("shuffle_buffer", k.shuffle_buffer, "tar shards: shuffle buffer in samples");
    v.field("max_bad_fraction", k.max_bad_fraction, "abort above this fraction of unreadable samples");
    v.field("quarantine_log", k.quarantine_log, "skipped samples, one JSON line each (in run_dir)");
    v.check("threads", k.threads >= 1, "must be >= 1");
    v.check("prefetch_batches", k.prefetch_batches >= 1, "must be >= 1");
    v.check("shuffle_buffer", k.shuffle_buffer >= 1, "must be >= 1");
    v.check("max_bad_fraction", k.max_bad_fraction >= 0 && k.max_bad_fraction <= 1, "must be in [0, 1]");
  });
}
TIPS_INSTANTIATE_VISIT(visit_data, data::DataConfig)

template <class V, class C>
void visit_dist(V& v, C& c) {
  v.choice("backend", c.backend, kBackendNames, "auto = NCCL on CUDA, Gloo on CPU");
  v.field("timeout_s", c.timeout_s, "collective timeout: a dead rank becomes an error");
  v.field("bucket_mb", c.bucket_mb, "gradient all-reduce bucket size (MiB)");
  v.check("timeout_s", c.timeout_s > 0, "must be > 0");
  v.check("bucket_mb", c.bucket_mb >= 1, "must be >= 1");
}
TIPS_INSTANTIATE_VISIT(visit_dist, dist::DistConfig)

template <class V, class C>
void visit_eval(V& v, C& c) {
  v.field("seg_manifest", c.seg_manifest, "canvases with label maps (zero-shot segmentation, retrieval)");
  v.field("cls_manifest", c.cls_manifest, "single-item images (zero-shot classification, kNN)");
  v.field("class_names", c.class_names, "class names; empty = from the dataset");
  v.field("templates", c.templates, "prompt templates, '{}' = class name");
  v.field("seg_readouts", c.seg_readouts,
          "patch features for segmentation: value (MaskCLIP value trick, the official protocol) | final | "
          "penultimate | attribution (what each patch writes into CLS1); the first gives the seg/* figures, the "
          "others seg/<readout>/*");
  v.field("probe_manifest", c.probe_manifest,
          "canvases with label maps the dense linear probe is fitted on (scored on seg_manifest: probe/*); "
          "\"\" = no probe");
  v.field("probe_images", c.probe_images, "canvases of probe_manifest the probe is fitted on");
  v.field("probe_readout", c.probe_readout, "patch features of the probe: final | value | penultimate | attribution");
  v.field("probe_weight_decay", c.probe_weight_decay, "L2 penalty of the probe's weights (standardised features)");
  v.field("probe_iterations", c.probe_iterations, "L-BFGS iterations of the probe's fit, at most");
  v.choice("seg_mode", c.seg_mode, kSegNames, "one pass or sliding window");
  v.field("image_size", c.image_size, "evaluation resolution (pixels)");
  v.field("slide_window", c.slide_window, "sliding window side (pixels)");
  v.field("slide_stride", c.slide_stride, "sliding window stride (pixels)");
  v.field("background_class", c.background_class,
          "background prompt class (VOC21 style: seg/miou); \"\" = none. The headline seg/obj_miou ignores the "
          "background either way");
  v.field("background_score", c.background_score,
          "constant background cosine (TCL style: seg/miou_bg_const); below -1 = off");
  v.choice("cls_token", c.cls_token, kEvalClsNames, "CLS used for classification / retrieval / kNN");
  v.field("knn_k", c.knn_k, "neighbours for kNN");
  v.field("knn_temperature", c.knn_temperature, "kNN vote temperature");
  v.field("max_images", c.max_images, "cap per split; 0 = all");
  v.field("batch_size", c.batch_size, "images per forward");
  v.field("knn_bank_manifest", c.knn_bank_manifest, "single-item images used as the kNN bank; \"\" = no kNN");
  v.field("retrieval_fields", c.retrieval_fields, "caption fields for image-text retrieval on the canvases");
  v.field("retrieval_by_stream", c.retrieval_by_stream, "CLS1 for alt_text, CLS2 for other fields; false: cls_token");
  v.field("retrieval_same_text_hits", c.retrieval_same_text_hits,
          "count an identical caption of another image as a correct match (false: only the image's own)");
  v.field("visualize", c.visualize, "canvases rendered as PNG panels to <out>/vis; 0 = none");
  v.field("train_wait_s", c.train_wait_s,
          "inside tips train, the other ranks wait this long for rank 0's evaluation (not dist.timeout_s)");
  v.check("image_size", c.image_size >= 1, "must be >= 1");
  v.check("seg_readouts", eval::valid_readouts(c.seg_readouts),
          "a non-empty list of distinct names among value, final, penultimate, attribution");
  v.check("probe_images", c.probe_images >= 1, "must be >= 1");
  v.check("probe_readout", eval::valid_readouts({c.probe_readout}), "one of value, final, penultimate, attribution");
  v.check("probe_weight_decay", c.probe_weight_decay >= 0, "must be >= 0");
  v.check("probe_iterations", c.probe_iterations >= 1, "must be >= 1");
  v.check("slide_stride", c.slide_stride >= 1 && c.slide_stride <= c.slide_window, "need 1 <= stride <= window");
  v.check("knn_k", c.knn_k >= 1, "must be >= 1");
  v.check("knn_temperature", c.knn_temperature > 0, "must be > 0");
  v.check("max_images", c.max_images >= 0, "must be >= 0");
  v.check("batch_size", c.batch_size >= 1, "must be >= 1");
  v.check("visualize", c.visualize >= 0, "must be >= 0");
  v.check("train_wait_s", c.train_wait_s > 0, "must be > 0");
}
TIPS_INSTANTIATE_VISIT(visit_eval, eval::EvalConfig)

}  // namespace tips::config::detail
