// tips/train/loss_term.h - one term of the training objective behind one small interface: its name, its weight,
// which forwards it needs, and how it turns the step's forwards into a scalar. The step sums
// weight * compute(...) over the terms the config turns on; `tips plan` asks them for their extra FLOPs.
// The math of each term is a pure function in loss/*.h; a term only picks its inputs and its targets.
//
// Adding a term: a config section in loss/config.h (+ its fields in src/config/fields_loss.cpp), one new file
// src/train/terms/<name>_term.cpp with a class deriving from LossTerm, and one line in the registration list
// (make_loss_terms, src/train/loss_term.cpp). docs/architecture.md walks through it.
//
// Legend: G global crops, M local crops, B per-rank batch, N patches of a global crop, K prototypes, D width.
#pragma once
#include <torch/torch.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "tips/config/config.h"
#include "tips/data/sample.h"
#include "tips/dist/context.h"
#include "tips/loss/reducer.h"
#include "tips/model/tips_model.h"
#include "tips/train/teacher.h"

namespace tips::train {

class LossTerm;
struct StepForwards;
using LossTerms = std::vector<std::shared_ptr<const LossTerm>>;

// Rows that a term compares with every rank's (float32 unit rows, with gradient). The step gathers the union of
// what its terms declare in one collective per micro-batch, at the first read (TermContext::gathered).
enum class Gathered {
  kText1,         // caption stream 1, (B, D)
  kText2,         // caption stream 2, (B, D)
  kUnmaskedCls1,  // CLS1 of the unmasked global crops, (G*B, D)
  kUnmaskedCls2,  // CLS2 of the unmasked global crops, (G*B, D)
  kMaskedCls1,    // CLS1 of the masked global crops, (G*B, D)
  kMaskedCls2,    // CLS2 of the masked global crops, (G*B, D)
};

// The forwards one term reads (the StepPlan runs their union, each once).
struct TermNeeds {
  bool teacher = false;           // teacher features of the unmasked global crops (no gradient)
  bool unmasked_student = false;  // the student on the unmasked global crops (with gradient)
  bool masked_student = false;    // the student on the masked global crops
  bool local_student = false;     // the student on the local crops
  int64_t text_streams = 0;       // caption streams through the text tower: 0, 1 (stream 1) or 2
  std::vector<Gathered> gathered;  // rows it reads from every rank (their forwards must be listed above too)
  // Parameters it trains beyond the towers (what `tips plan` counts):
  bool heads = false;                // the projection heads (prototypes), which the EMA teacher copies
  bool contrastive_scalars = false;  // the temperature and the logit bias
  bool distill_projection = false;   // the Linear from the student's width to a frozen teacher's
};

// What a term may read while it computes one micro-batch.
class TermContext {
 public:
  TermContext(const data::Batch& batch, const StepForwards& forwards, model::TipsModel& model, Teacher& teacher,
              const dist::DistContext& dist, int64_t step, int64_t total_steps, bool bf16,
              std::vector<Gathered> plan_gathered = {}, LossTerms plan_terms = {});

  const data::Batch& batch;        // on the training device
  const StepForwards& forwards;
  model::TipsModel& model;         // the student: its heads, temperature and logit bias
  Teacher& teacher;                // teacher heads and target normalisation (centres are staged, see teacher.h)
  const dist::DistContext& dist;
  int64_t step;                    // optimizer steps done (schedules)
  int64_t total_steps;             // train.steps
  bool bf16;                       // the heads run under the step's autocast
  // Whether this step's values reach metrics.jsonl (train.log_every): diagnostics that cost a pass over a
  // (rows, K) matrix, such as the targets' entropy, are computed on those steps only.
  bool diagnostics = true;

  int64_t batch_size() const;       // B (per rank)
  loss::SumReducer reducer() const; // global sums over ranks for targets; empty on one process
  // `which` of every rank, rank-major: (W*B, D) or (W*G*B, D), with gradient. The first call gathers everything in
  // plan_gathered at once (on one process: this rank's own unit rows). Throws for a `which` not in plan_gathered.
  const torch::Tensor& gathered(Gathered which);
  // The teacher targets of `term`'s target_requests(), in its order. The first call resolves the requests of every
  // term in plan_terms (and of `term`) at once, so all Sinkhorn-Knopp targets of the step share one all-reduce
  // per iteration; a term outside the plan is resolved alone.
  const std::vector<torch::Tensor>& targets(const LossTerm& term);

 private:
  void resolve_targets(const std::vector<const LossTerm*>& terms);

  std::vector<Gathered> plan_gathered_;
  std::vector<torch::Tensor> gathered_;  // parallel to plan_gathered_, empty until the first gathered()
  LossTerms plan_terms_;
  std::map<const LossTerm*, std::vector<torch::Tensor>> targets_;  // empty until the first targets()
};

// One term's value for a micro-batch.
struct TermValue {
  torch::Tensor loss;                                        // () float32, unweighted, with gradient
  std::vector<std::pair<std::string, torch::Tensor>> parts;  // extra logged scalars, e.g. loss_contrastive1
};

class LossTerm {
 public:
  virtual ~LossTerm() = default;
  virtual std::string name() const = 0;  // logged as "loss_<name>"
  virtual double weight() const = 0;     // > 0: a term with weight 0 is never built
  // Its variant and options in a few words, for the startup table and reports ("iBOT++, every patch").
  virtual std::string describe() const = 0;
  virtual TermNeeds needs() const = 0;
  virtual TermValue compute(TermContext& ctx) const = 0;
  // The teacher head scores whose targets compute() reads through ctx.targets(*this) (no gradient). The step
  // normalises every term's requests together (TermContext::targets). Default: none.
  virtual std::vector<TargetRequest> target_requests(TermContext& ctx) const { return {}; }
  // Analytic FLOPs per image this term adds beyond the forwards it needs (heads, similarity matrices),
  // forward + backward, as `tips plan` counts them (backward = 2x forward).
  virtual double extra_flops_per_image(const config::RunConfig& cfg) const { return 0.0; }
};

// A weight or option value as the startup table and describe() print it: printf's %g (0.5, 2, 1e-05).
std::string weight_text(double w);

// The registration list: every term whose weight is > 0, in the order their weighted values are summed. Throws
// ConfigError for a term that its config would make a silent no-op (e.g. DINO without a student view).
LossTerms make_loss_terms(const config::RunConfig& cfg);

}  // namespace tips::train
