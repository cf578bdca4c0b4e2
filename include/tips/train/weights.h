// tips/train/weights.h - model weights in and out of every file the framework knows, in one vocabulary: the
// parameter names of model::TipsModel ("vision.<official key>", "text.<official key>", "heads.dino.*",
// "log_temperature", ...) plus, from training checkpoints, the teacher's EMA heads ("teacher.heads.*").
//   a `tips train` checkpoint (*.ckpt)          student, teacher heads, step, the run's config
//   the official TIPS pair (a folder)           image_encoder.npz + text_encoder.npz (towers and temperature)
//   safetensors (*.safetensors)                 what export_safetensors() writes: towers, heads, config, layout
// Used by train.init_from (continue from released weights, the high-resolution stage), by the distillation teacher
// and by the weights commands (tips eval / export / embed). Not the training checkpoint itself (checkpoint.h).
//
// Example:
//   const WeightSet w = read_weights("weights/");                         // the official pair
//   load_model_weights(model, w, {});                                      // strict; resizes pos_embed
//   export_safetensors(w_from_model, "model.safetensors", to_yaml(cfg));
#pragma once
#include <torch/torch.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "tips/model/text_encoder.h"
#include "tips/model/tips_model.h"
#include "tips/model/vit.h"

namespace tips::train {

struct WeightSet {
  std::map<std::string, torch::Tensor> tensors;  // TipsModel parameter names; teacher heads as "teacher.heads.*"
  std::string config_yaml;                        // the run config that wrote the file ("" for the official pair)
  std::string source;                             // e.g. "runs/demo/checkpoints/step_00000600.ckpt (step 600)"
  int64_t step = -1;                              // training step of a checkpoint, else -1

  // The tensors under "<prefix>." with the prefix removed (e.g. "vision" -> the image tower's official keys).
  std::map<std::string, torch::Tensor> group(const std::string& prefix) const;
  bool has_group(const std::string& prefix) const;
};

// Reads `path`: a directory (the official pair), *.safetensors, or else a `tips train` checkpoint. Throws
// CheckpointError for a missing or corrupt file.
WeightSet read_weights(const std::string& path);

// What load_model_weights copies besides the image tower (always required).
struct WeightLoadOptions {
  bool text = true;           // the text tower, when the file has one (else it keeps its initialisation)
  bool heads = true;          // the student's DINO/iBOT heads, when the file has them
  bool temperature = true;    // the contrastive temperature, when the file has one
};

// Copies the weights into `model`, strictly for every part it copies: every parameter of that part must be in the
// set with its shape, and the set must hold no other parameter of that part. One exception: a position table of
// another grid (another resolution, or the official 32x32 table into a 16x16 model) is resized with
// model::resize_pos_embed. Returns one line per part, for the log ("vision: 152 tensors", "heads: random init").
// Throws CheckpointError naming the key and both shapes; on error the model is unchanged.
std::vector<std::string> load_model_weights(model::TipsModel& model, const WeightSet& weights,
                                            const WeightLoadOptions& options);

// One part: the tensors under "<prefix>." (e.g. "teacher.heads") into `module`, as strictly as load_model_weights
// (position tables resized). Throws CheckpointError naming the key; on error the module is unchanged.
void load_group(torch::nn::Module& module, const WeightSet& weights, const std::string& prefix);

// The same for a bare image tower (distillation teachers, tips eval/embed): vision.* only.
void load_vision_weights(model::VisionTransformer& vision, const WeightSet& weights);
// A bare text tower; returns the contrastive temperature when the set has one (else a negative value).
double load_text_weights(model::TextEncoder& text, const WeightSet& weights);

// Writes `tensors` (TipsModel names) as safetensors with a metadata block: "format" (tipsv2.cpp-weights),
// "version", "config" (the run's resolved YAML) and "layout" (what each name prefix holds).
void export_safetensors(const std::map<std::string, torch::Tensor>& tensors, const std::string& path,
                        const std::string& config_yaml);

// Every parameter of `model` under its TipsModel name, detached (the student half of export_safetensors).
std::map<std::string, torch::Tensor> model_tensors(const model::TipsModel& model);

}  // namespace tips::train
