// tips/train/config.h - teacher policy, optimiser, training-loop and checkpoint settings
// (YAML sections `teacher`, `optim`, `train`, `ckpt`).
#pragma once
#include <cstdint>
#include <string>

#include "tips/model/config.h"
#include "tips/core/schedule.h"

namespace tips::train {

enum class EmaScope { kHeadOnly, kFull, kNone };
enum class OptimizerKind { kAdamW, kAdafactor };
enum class Precision { kFp32, kBf16, kAuto };
enum class DeviceChoice { kAuto, kCpu, kCuda };
enum class NanPolicy { kSkip, kStop };
enum class WriteErrorPolicy { kStop, kWarn };

enum class TeacherSource { kEma, kFrozen };
enum class DistillTargets { kHeads, kFeatures };
enum class TextInit { kScratch, kCopyFrozen, kCopyTrained };

struct TeacherConfig {
  // ema: self-distillation, the teacher follows the student (TIPS, TIPSv2 pretraining); frozen: a fixed model
  // distilled into the student (how the released TIPSv2 B/L/SO students were made, docs/distillation.md).
  TeacherSource source = TeacherSource::kEma;
  EmaScope ema = EmaScope::kHeadOnly;   // source ema: head_only (TIPSv2) | full (TIPS v1, DINOv2) | none
  ScheduleConfig momentum{0.994, 0.994, 1.0, 0, ScheduleShape::kCosine};
  // source frozen:
  std::string weights;                  // a `tips train` checkpoint, an official .npz pair folder or .safetensors
  model::VisionConfig model;            // the teacher's image tower (preset, patch size, position grid)
  DistillTargets targets = DistillTargets::kHeads;  // heads: its DINO/iBOT heads' prototype distributions (the
                                        // file must hold heads; loss.dino / loss.ibot); features: its CLS and patch
                                        // tokens through a learned projection (loss.distill)
  int64_t image_size = 0;               // the teacher's input side in pixels; 0 = the student's global crop
  TextInit text = TextInit::kScratch;   // the student's text tower: scratch | copy_frozen | copy_trained (from the
                                        // teacher file's text tower; needs text.dim equal to its width)
};

struct OptimConfig {
  OptimizerKind name = OptimizerKind::kAdamW;                              // adamw | adafactor
  ScheduleConfig lr{0.0, 5e-4, 1e-6, 1000, ScheduleShape::kCosine};       // per optimizer step
  ScheduleConfig weight_decay{0.04, 0.04, 0.4, 0, ScheduleShape::kCosine};
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double clip_grad = 3.0;             // global L2 norm; 0 disables
  double layer_decay = 1.0;           // lr *= layer_decay^(depth - layer) for vision blocks; 1 = off
  double patch_embed_lr_mult = 1.0;   // extra lr factor for patch_embed (DINOv2 uses 0.2)
  int64_t freeze_last_layer_steps = 0;// prototype layers get no update for the first N steps
  int64_t accum_steps = 1;            // micro-batches per optimizer step
};

struct TrainConfig {
  int64_t steps = 1000;               // optimizer steps
  int64_t batch_size = 64;            // global batch (images per optimizer step over all ranks)
  uint64_t seed = 0;
  DeviceChoice device = DeviceChoice::kAuto;
  Precision precision = Precision::kFp32;   // fp32 | bf16 (autocast, fp32 master weights) | auto (bf16 where native)
  bool activation_checkpointing = false;
  std::string run_dir = "runs/default";
  int64_t log_every = 10;
  bool tensorboard = true;           // also write <run_dir>/tb/ event files (builds with protobuf)
  int64_t eval_every = 0;             // 0 = only at the end
  NanPolicy nan_policy = NanPolicy::kSkip;
  int64_t max_nan_skips = 20;         // consecutive skipped steps before giving up
  int64_t threads = 0;                // intra-op threads; 0 = LibTorch default (OpenBLAS: StepPlan::blas_threads)
  // Start from existing weights (train/weights.h): a `tips train` checkpoint, a folder with the official .npz pair
  // or a .safetensors file. Step 0, a fresh optimizer and schedule; position tables resized; strict keys and
  // shapes. A checkpoint found by ckpt.resume later wins (an interrupted run continues where it stopped).
  std::string init_from;
  bool init_teacher_heads = false;    // with init_from a checkpoint: also its EMA teacher heads (else copies of the
                                      // loaded student heads)
};

struct CheckpointConfig {
  int64_t every = 500;                // steps between checkpoints; 0 = only at the end
  int64_t keep_last = 3;              // newest K kept
  int64_t keep_every = 0;             // also keep every N-th step forever; 0 = off
  int64_t export_every = 0;           // write the official .npz pair every N steps; 0 = at the end only
  std::string resume;                 // "" = fresh | auto = newest valid in run_dir | path
  // A checkpoint that cannot be written (full disk, I/O error): stop = CheckpointError on every rank after the
  // partial file is removed (the previous checkpoints stay); warn = log it, count it in metrics.jsonl and train on
  // (the next checkpoint tries again).
  WriteErrorPolicy on_write_error = WriteErrorPolicy::kStop;
  // Resuming with a config that differs from the checkpoint's in a key that changes what is computed (batch, lr,
  // steps, model, losses, data, seed) is refused unless this is true; the differences are printed either way.
  bool allow_config_changes = false;
};

}  // namespace tips::train
