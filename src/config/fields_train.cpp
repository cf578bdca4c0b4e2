// Field lists of schedules, `teacher`, `optim`, `train`, `ckpt`.
#include "fields.h"

namespace tips::config::detail {

namespace {
const NameTable<ScheduleShape> kShapeNames{{"cosine", ScheduleShape::kCosine},
                                                  {"linear", ScheduleShape::kLinear},
                                                  {"constant", ScheduleShape::kConstant}};
const NameTable<train::EmaScope> kEmaNames{{"head_only", train::EmaScope::kHeadOnly},
                                           {"full", train::EmaScope::kFull},
                                           {"none", train::EmaScope::kNone}};
const NameTable<train::TeacherSource> kTeacherSourceNames{{"ema", train::TeacherSource::kEma},
                                                   {"frozen", train::TeacherSource::kFrozen}};
const NameTable<train::DistillTargets> kDistillTargetNames{{"heads", train::DistillTargets::kHeads},
                                                    {"features", train::DistillTargets::kFeatures}};
const NameTable<train::TextInit> kTextInitNames{{"scratch", train::TextInit::kScratch},
                                                {"copy_frozen", train::TextInit::kCopyFrozen},
                                                {"copy_trained", train::TextInit::kCopyTrained}};
const NameTable<train::OptimizerKind> kOptNames{{"adamw", train::OptimizerKind::kAdamW},
                                                {"adafactor", train::OptimizerKind::kAdafactor}};
const NameTable<train::Precision> kPrecisionNames{{"fp32", train::Precision::kFp32},
                                                  {"bf16", train::Precision::kBf16},
                                                  {"auto", train::Precision::kAuto}};
const NameTable<train::DeviceChoice> kDeviceNames{{"auto", train::DeviceChoice::kAuto},
                                                  {"cpu", train::DeviceChoice::kCpu},
                                                  {"cuda", train::DeviceChoice::kCuda}};
const NameTable<train::NanPolicy> kNanNames{{"skip", train::NanPolicy::kSkip}, {"stop", train::NanPolicy::kStop}};
const NameTable<train::WriteErrorPolicy> kWriteErrorNames{{"stop", train::WriteErrorPolicy::kStop},
                                                          {"warn", train::WriteErrorPolicy::kWarn}};
}  // namespace

template <class V, class C>
void visit_schedule(V& v, C& c) {
  v.field("warmup_from", c.warmup_from, "value at step 0 (during warm-up)");
  v.field("start", c.start, "value at the end of warm-up");
  v.field("end", c.end, "value at the last step");
  v.field("warmup_steps", c.warmup_steps, "linear warm-up length in steps");
  v.choice("shape", c.shape, kShapeNames, "decay from start to end");
  v.check("warmup_steps", c.warmup_steps >= 0, "must be >= 0");
}
TIPS_INSTANTIATE_VISIT(visit_schedule, ScheduleConfig)

template <class V, class C>
void visit_teacher(V& v, C& c) {
  v.choice("source", c.source, kTeacherSourceNames, "ema = self-distillation; frozen = distil a fixed teacher model");
  v.choice("ema", c.ema, kEmaNames, "which teacher weights keep an EMA copy (source ema)");
  v.section("momentum", [&] { visit_schedule(v, c.momentum); });
  v.check("momentum", c.momentum.start >= 0 && c.momentum.start <= 1 && c.momentum.end >= 0 && c.momentum.end <= 1,
          "momentum.start and momentum.end must be in [0, 1]");
  v.field("weights", c.weights, "frozen: checkpoint, official .npz pair folder or .safetensors of the teacher");
  v.section("model", [&] { visit_vision(v, c.model); });
  v.choice("targets", c.targets, kDistillTargetNames, "frozen: heads (prototype distributions) | features (tokens)");
  v.field("image_size", c.image_size, "frozen: the teacher's input side (pixels); 0 = the student's global crop");
  v.choice("text", c.text, kTextInitNames, "frozen: the student's text tower: scratch | copy_frozen | copy_trained");
  v.check("image_size", c.image_size >= 0, "must be >= 0");
  v.check("weights", c.source != train::TeacherSource::kFrozen || !c.weights.empty(),
          "teacher.source=frozen needs the teacher's weights (a checkpoint, a .npz pair folder or .safetensors)");
}
TIPS_INSTANTIATE_VISIT(visit_teacher, train::TeacherConfig)

template <class V, class C>
void visit_optim(V& v, C& c) {
  v.choice("name", c.name, kOptNames, "optimizer");
  v.section("lr", [&] { visit_schedule(v, c.lr); });
  v.section("weight_decay", [&] { visit_schedule(v, c.weight_decay); });
  v.field("beta1", c.beta1, "first-moment decay");
  v.field("beta2", c.beta2, "second-moment decay");
  v.field("eps", c.eps, "denominator epsilon");
  v.field("clip_grad", c.clip_grad, "global grad-norm clip; 0 disables");
  v.field("layer_decay", c.layer_decay, "layer-wise lr decay for vision blocks; 1 = off");
  v.field("patch_embed_lr_mult", c.patch_embed_lr_mult, "lr factor for patch_embed");
  v.field("freeze_last_layer_steps", c.freeze_last_layer_steps, "prototype layers frozen for N steps");
  v.field("accum_steps", c.accum_steps, "micro-batches per optimizer step");
  v.check("lr", c.lr.start > 0, "lr.start must be > 0, got " + std::to_string(c.lr.start));
  v.check("lr", c.lr.end >= 0 && c.lr.end <= c.lr.start, "lr.end must be in [0, lr.start]");
  v.check("weight_decay", c.weight_decay.start >= 0 && c.weight_decay.end >= 0, "must be >= 0");
  v.check("beta1", c.beta1 >= 0 && c.beta1 < 1, "must be in [0, 1)");
  v.check("beta2", c.beta2 >= 0 && c.beta2 < 1, "must be in [0, 1)");
  v.check("eps", c.eps > 0, "must be > 0");
  v.check("clip_grad", c.clip_grad >= 0, "must be >= 0");
  v.check("layer_decay", c.layer_decay > 0 && c.layer_decay <= 1, "must be in (0, 1]");
  v.check("patch_embed_lr_mult", c.patch_embed_lr_mult >= 0, "must be >= 0");
  v.check("freeze_last_layer_steps", c.freeze_last_layer_steps >= 0, "must be >= 0");
  v.check("accum_steps", c.accum_steps >= 1, "must be >= 1");
}
TIPS_INSTANTIATE_VISIT(visit_optim, train::OptimConfig)

template <class V, class C>
void visit_train(V& v, C& c) {
  v.field("steps", c.steps, "optimizer steps");
  v.field("batch_size", c.batch_size, "global batch (all ranks)");
  v.field("seed", c.seed, "base seed of every random stream");
  v.choice("device", c.device, kDeviceNames, "where to train");
  v.choice("precision", c.precision, kPrecisionNames, "bf16 = autocast (CPU or CUDA), fp32 master weights; auto = bf16 on CUDA and on CPUs with AVX512-BF16/AMX");
  v.field("activation_checkpointing", c.activation_checkpointing, "recompute block activations in backward");
  v.field("run_dir", c.run_dir, "output folder: config, metrics, checkpoints, exports");
  v.field("log_every", c.log_every, "steps between progress lines");
  v.field("tensorboard", c.tensorboard, "also write TensorBoard event files to <run_dir>/tb/");
  v.field("eval_every", c.eval_every, "steps between evaluations; 0 = at the end only");
  v.choice("nan_policy", c.nan_policy, kNanNames, "on a non-finite loss or gradient");
  v.field("max_nan_skips", c.max_nan_skips, "consecutive skipped steps before stopping");
  v.field("threads", c.threads, "intra-op threads; 0 = default");
  v.field("init_from", c.init_from,
          "start from weights: a checkpoint, a folder with the official .npz pair, or .safetensors (step 0)");
  v.field("init_teacher_heads", c.init_teacher_heads, "with init_from a checkpoint: also load its EMA teacher heads");
  v.check("steps", c.steps >= 1, "must be >= 1, got " + std::to_string(c.steps));
  v.check("batch_size", c.batch_size >= 1, "must be >= 1, got " + std::to_string(c.batch_size));
  v.check("log_every", c.log_every >= 1, "must be >= 1");
  v.check("eval_every", c.eval_every >= 0, "must be >= 0");
  v.check("max_nan_skips", c.max_nan_skips >= 0, "must be >= 0");
  v.check("threads", c.threads >= 0, "must be >= 0");
}
TIPS_INSTANTIATE_VISIT(visit_train, train::TrainConfig)

template <class V, class C>
void visit_ckpt(V& v, C& c) {
  v.field("every", c.every, "steps between checkpoints; 0 = at the end only");
  v.field("keep_last", c.keep_last, "newest K checkpoints kept");
  v.field("keep_every", c.keep_every, "also keep every N-th step; 0 = off");
  v.field("export_every", c.export_every, "steps between official .npz exports; 0 = at the end");
  v.field("resume", c.resume, "\"\" | auto | checkpoint path");
  v.choice("on_write_error", c.on_write_error, kWriteErrorNames,
           "a checkpoint that cannot be written: stop the run, or warn and train on");
  v.field("allow_config_changes", c.allow_config_changes,
          "resume even when the config differs from the checkpoint's in keys that change the computation");
  v.check("every", c.every >= 0, "must be >= 0");
  v.check("keep_last", c.keep_last >= 1, "must be >= 1");
  v.check("keep_every", c.keep_every >= 0, "must be >= 0");
  v.check("export_every", c.export_every >= 0, "must be >= 0");
}
TIPS_INSTANTIATE_VISIT(visit_ckpt, train::CheckpointConfig)

}  // namespace tips::config::detail
