#include "tips/report/report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>

#include "tips/config/config.h"
#include "tips/core/error.h"
#include "tips/report/metrics_log.h"
#include "tips/train/loss_term.h"
#include "tips/train/metrics.h"

namespace tips::report {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), f, v);
  return buf;
}
std::string pct(double v) { return std::isfinite(v) ? fmt("%.2f", 100.0 * v) : "–"; }
std::string num(double v) { return std::isfinite(v) ? fmt("%.4g", v) : "nan"; }
std::string millions(double n) { return fmt("%.2fM", n / 1e6); }

// Markdown table cells cannot hold '|'.
std::string cell(std::string s) {
  for (size_t p = 0; (p = s.find('|', p)) != std::string::npos; p += 2) s.replace(p, 1, "\\|");
  return s;
}

// `target` as a link from a file in run_dir (forward slashes, relative even when target lies outside run_dir).
std::string link(const fs::path& target, const fs::path& run_dir) {
  const fs::path rel =
      fs::absolute(target).lexically_normal().lexically_relative(fs::absolute(run_dir).lexically_normal());
  return (rel.empty() ? target : rel).generic_string();
}

std::string read_text(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// Everything the report is made of; each piece may be absent, with the reason in *_note.
struct Inputs {
  fs::path run_dir;
  std::optional<config::RunConfig> cfg;
  std::string cfg_note;
  json run_info;  // null when absent
  std::optional<MetricsLog> log;
  std::string log_note;
  std::vector<fs::path> plots;
  std::string plots_note;
  fs::path eval_dir;
  json eval;  // null when absent
  std::string eval_note;
  std::vector<fs::path> vis;
};

// ---- gathering ----------------------------------------------------------------------------------------------

std::optional<fs::path> newest_step_eval(const fs::path& eval_root) {
  std::optional<fs::path> best;
  int64_t best_step = -1;
  std::error_code ec;
  if (!fs::is_directory(eval_root, ec)) return best;
  for (const auto& e : fs::directory_iterator(eval_root, ec)) {
    const std::string name = e.path().filename().string();
    if (name.rfind("step_", 0) != 0 || !fs::exists(e.path() / "eval.json")) continue;
    try {
      const int64_t step = std::stoll(name.substr(5));
      if (step > best_step) best_step = step, best = e.path();
    } catch (const std::exception&) {
    }
  }
  return best;
}

void gather_eval(const ReportOptions& o, Inputs& in) {
  if (!o.eval_dir.empty()) {
    if (!fs::exists(o.eval_dir / "eval.json"))
      throw DataError("--eval " + o.eval_dir.string() + ": no eval.json there",
                      "pass the --out folder of `tips eval`, or leave --eval out to use " +
                          (o.run_dir / "eval").string());
    in.eval_dir = o.eval_dir;
  } else if (fs::exists(o.run_dir / "eval" / "eval.json")) {
    in.eval_dir = o.run_dir / "eval";
  } else if (const auto step_dir = newest_step_eval(o.run_dir / "eval")) {
    in.eval_dir = *step_dir;
  } else {
    in.eval_note = "No evaluation yet: run `tips eval -c <config> --checkpoint <run>/checkpoints/step_N.ckpt --out " +
                   (o.run_dir / "eval").generic_string() + " --visualize`, then `tips report` again.";
    return;
  }
  try {
    in.eval = json::parse(read_text(in.eval_dir / "eval.json"));
    if (!in.eval.is_object() || !in.eval.contains("metrics")) throw std::runtime_error("no \"metrics\" object");
  } catch (const std::exception& e) {
    in.eval = nullptr;
    in.eval_note = "Cannot read " + link(in.eval_dir / "eval.json", o.run_dir) + ": " + e.what();
    return;
  }
  // The trainer's eval/step_N/ has no pictures; those of a separate `tips eval --visualize` into eval/ show the
  // same run.
  for (const fs::path& vis : {in.eval_dir / "vis", o.run_dir / "eval" / "vis"}) {
    std::error_code ec;
    if (fs::is_directory(vis, ec))
      for (const auto& e : fs::directory_iterator(vis, ec))
        if (e.path().extension() == ".png") in.vis.push_back(e.path());
    if (!in.vis.empty()) break;
  }
  std::sort(in.vis.begin(), in.vis.end());
}

void gather_plots(const ReportOptions& o, Inputs& in) {
  const fs::path dir = o.run_dir / "plots";
  if (o.render_plots && in.log) {
    try {
      in.plots = render_plots(*in.log, dir, o.plot);
      return;
    } catch (const Error& e) {
      in.plots_note = "Training curves not drawn: " + std::string(e.what()) +
                      (e.hint().empty() ? "" : " (" + e.hint() + ")");
    }
  }
  for (const char* name : {"losses", "schedules", "throughput", "eval"})
    if (fs::exists(dir / (std::string(name) + ".png"))) in.plots.push_back(dir / (std::string(name) + ".png"));
  if (in.plots.empty() && in.plots_note.empty())
    in.plots_note = "No training curves: run `tips plot " + o.run_dir.generic_string() + "` (needs gnuplot).";
}

Inputs gather(const ReportOptions& o) {
  Inputs in;
  in.run_dir = o.run_dir;
  if (!fs::is_directory(o.run_dir))
    throw DataError("run directory " + o.run_dir.string() + " does not exist",
                    "pass the train.run_dir of a `tips train` run, e.g. runs/demo");
  const fs::path cfg = o.run_dir / "config.yaml", info = o.run_dir / "run_info.json",
                 metrics = o.run_dir / "metrics.jsonl";
  if (!fs::exists(cfg) && !fs::exists(info) && !fs::exists(metrics))
    throw DataError(o.run_dir.string() + " is not a run directory (no config.yaml, run_info.json or metrics.jsonl)",
                    "`tips train` writes them into train.run_dir; pass that folder");
  if (fs::exists(cfg)) {
    try {
      in.cfg = config::load({cfg.string()});
    } catch (const Error& e) {
      in.cfg_note = "config.yaml could not be read: " + std::string(e.what());
    }
  } else {
    in.cfg_note = "No config.yaml in the run directory.";
  }
  if (fs::exists(info)) {
    try {
      in.run_info = json::parse(read_text(info));
    } catch (const json::exception& e) {
      in.cfg_note += (in.cfg_note.empty() ? "" : " ") + std::string("run_info.json could not be read: ") + e.what();
    }
  }
  if (fs::exists(metrics)) {
    try {
      in.log = read_metrics_log(o.run_dir);
    } catch (const Error& e) {
      in.log_note = "metrics.jsonl could not be read: " + e.full_message();
    }
  } else {
    in.log_note = "No metrics.jsonl: the run has not logged a step yet.";
  }
  gather_plots(o, in);
  gather_eval(o, in);
  return in;
}

// ---- sections -----------------------------------------------------------------------------------------------

const char* ema_name(train::EmaScope e) {
  return e == train::EmaScope::kHeadOnly ? "head_only" : e == train::EmaScope::kFull ? "full" : "none";
}

std::string stream_desc(const std::map<std::string, double>& s) {
  std::string out;
  for (const auto& [field, p] : s) out += (out.empty() ? "" : ", ") + field + " " + num(p);
  return out;
}

// The terms the step runs, from the same registration list as the trainer: "<weight> × <name> (<variant>)".
std::string losses_desc(const config::RunConfig& c) {
  train::LossTerms terms;
  try {
    terms = train::make_loss_terms(c);
  } catch (const ConfigError& e) {
    return std::string("not a valid loss configuration: ") + e.what();
  }
  std::string out;
  for (const auto& t : terms)
    out += (out.empty() ? "" : " + ") + num(t->weight()) + " × " + t->name() + " (" + t->describe() + ")";
  return out.empty() ? "none" : out;
}

void section_trained(std::ostringstream& md, const Inputs& in, std::vector<std::string>& missing) {
  md << "## What was trained\n\n";
  std::vector<std::pair<std::string, std::string>> rows;
  const json& ri = in.run_info;
  const auto info_num = [&](const char* k) { return ri.is_object() && ri.contains(k) && ri[k].is_number(); };
  if (in.cfg) {
    const auto& c = *in.cfg;
    const auto& m = c.model;
    rows.emplace_back("image tower", (m.preset.empty() ? "" : "preset " + m.preset + ": ") + "patch " +
                                         std::to_string(m.patch_size) + ", width " + std::to_string(m.dim) +
                                         ", depth " + std::to_string(m.depth) + ", " + std::to_string(m.num_heads) +
                                         " heads, MLP " + std::to_string(m.mlp_hidden) +
                                         (m.ffn == model::FfnKind::kSwiGlu ? " (SwiGLU)" : " (GELU)"));
    rows.emplace_back("text tower", "width " + std::to_string(c.text.dim) + ", depth " + std::to_string(c.text.depth) +
                                        ", " + std::to_string(c.text.num_heads) + " heads, vocabulary " +
                                        std::to_string(c.text.vocab_size) + ", " + std::to_string(c.text.max_len) +
                                        " tokens");
    rows.emplace_back("heads", std::to_string(c.heads.prototypes) + " prototypes, hidden " +
                                   std::to_string(c.heads.hidden) + ", bottleneck " +
                                   std::to_string(c.heads.bottleneck) +
                                   (c.heads.ibot_separate ? ", separate iBOT head" : ", iBOT shares the DINO head"));
    rows.emplace_back("loss", losses_desc(c));
    rows.emplace_back("teacher.ema", std::string(ema_name(c.teacher.ema)) + " (momentum " +
                                         num(c.teacher.momentum.start) + " → " + num(c.teacher.momentum.end) + ")");
    rows.emplace_back("captions", "stream 1: " + stream_desc(c.data.captions.stream1) +
                                      "; stream 2: " + stream_desc(c.data.captions.stream2));
    rows.emplace_back("optimizer", std::string(c.optim.name == train::OptimizerKind::kAdamW ? "AdamW" : "Adafactor") +
                                       ", lr " + num(c.optim.lr.start) + " → " + num(c.optim.lr.end) + " (warm-up " +
                                       std::to_string(c.optim.lr.warmup_steps) + " steps), weight decay " +
                                       num(c.optim.weight_decay.start) + " → " + num(c.optim.weight_decay.end));
    rows.emplace_back("steps × global batch", std::to_string(c.train.steps) + " × " +
                                                  std::to_string(c.train.batch_size) + " (seed " +
                                                  std::to_string(c.train.seed) + ")");
    rows.emplace_back("data", c.data.path.empty() ? "(built-in)" : "`" + c.data.path + "`");
  }
  if (info_num("trainable_params")) {
    std::string p = millions(ri["trainable_params"].get<double>()) + " trainable";
    if (info_num("ema_params")) p += " + " + millions(ri["ema_params"].get<double>()) + " EMA copies";
    rows.emplace_back("parameters", p);
  }
  if (ri.is_object() && ri.contains("device")) {
    std::string d = ri["device"].is_string() ? ri["device"].get<std::string>() : ri["device"].dump();
    if (ri.contains("precision") && ri["precision"].is_string()) d += ", " + ri["precision"].get<std::string>();
    if (info_num("world_size")) d += ", " + std::to_string(ri["world_size"].get<int64_t>()) + " rank(s)";
    rows.emplace_back("device", d);
  }
  if (rows.empty()) {
    md << "_Unknown: " << in.cfg_note << "_\n\n";
    missing.push_back(in.cfg_note);
    return;
  }
  md << "| | |\n|---|---|\n";
  for (const auto& [k, v] : rows) md << "| " << k << " | " << cell(v) << " |\n";
  md << "\n";
  if (!in.cfg_note.empty()) {
    md << "_" << in.cfg_note << "_\n\n";
    missing.push_back(in.cfg_note);
  }
}

// first / final / min of every loss term.
void loss_table(std::ostringstream& md, const MetricsLog& log) {
  std::vector<std::string> loss_keys;
  for (const auto& k : log.train_keys())
    if (k == "loss" || k.rfind("loss_", 0) == 0) loss_keys.push_back(k);
  if (!loss_keys.empty()) {
    md << "| loss term | first | final | min |\n|---|---:|---:|---:|\n";
    for (const auto& k : loss_keys) {
      const Series s = log.train_series(k);
      double lo = NAN;
      for (double v : s.values)
        if (std::isfinite(v) && !(v >= lo)) lo = v;
      md << "| " << k << " | " << num(s.values.front()) << " (step " << s.steps.front() << ") | "
         << num(s.values.back()) << " (step " << s.steps.back() << ") | " << num(lo) << " |\n";
    }
    md << "\n";
  }
}

// The headline figures of every eval event of the run.
void evals_during_training(std::ostringstream& md, const MetricsLog& log) {
  const int64_t n_eval = log.count_events("eval");
  if (n_eval > 0) {
    std::vector<std::pair<std::string, std::string>> cols;
    for (const auto& [k, title] : std::vector<std::pair<std::string, std::string>>{
             {"seg/obj_miou", "object mIoU (%)"}, {"seg/object_pixel_acc", "item pixels (%)"},
             {"seg/miou", "seg mIoU (%)"}, {"cls/top1", "cls top-1 (%)"}, {"knn/top1", "kNN top-1 (%)"}})
      if (log.event_series("eval", k).finite_count() > 0) cols.emplace_back(k, title);
    if (!cols.empty()) {
      md << "Evaluations during training:\n\n| step |";
      for (const auto& c : cols) md << " " << c.second << " |";
      md << "\n|---:|";
      for (size_t i = 0; i < cols.size(); ++i) md << "---:|";
      md << "\n";
      for (const auto& r : log.events) {
        if (r.event != "eval") continue;
        md << "| " << r.step << " |";
        for (const auto& c : cols) md << " " << pct(r.get(c.first)) << " |";
        md << "\n";
      }
      md << "\n";
    }
  }
}

void section_training(std::ostringstream& md, const Inputs& in, std::vector<std::string>& missing) {
  md << "## Training\n\n";
  if (!in.log || in.log->train.empty()) {
    const std::string note = in.log ? "metrics.jsonl has no training step yet." : in.log_note;
    md << "_" << note << "_\n\n";
    missing.push_back(note);
    return;
  }
  const MetricsLog& log = *in.log;
  const int64_t last = log.train.back().step;
  std::string total = "?";
  if (in.cfg) total = std::to_string(in.cfg->train.steps);
  else if (in.run_info.is_object() && in.run_info.contains("steps")) total = in.run_info["steps"].dump();
  md << "| | |\n|---|---|\n";
  md << "| last logged step | " << last << " / " << total << " |\n";
  const auto step_s = log.train_series("step_s");
  if (step_s.finite_count() > 0) {
    double sum = 0;
    for (double v : step_s.values)
      if (std::isfinite(v)) sum += v;
    const double mean = sum / static_cast<double>(step_s.finite_count());
    md << "| training time | ≈ " << train::format_duration(mean * static_cast<double>(last)) << " (mean step "
       << fmt("%.3f", mean) << " s × " << last << " steps; evaluation and checkpoints not included) |\n";
  }
  const double ips = median(log.train_series("imgs_per_s").values);
  if (std::isfinite(ips)) md << "| images/s (median) | " << fmt("%.1f", ips) << " |\n";
  const double wait = median(log.train_series("data_wait_pct").values);
  if (std::isfinite(wait)) md << "| data wait (median) | " << fmt("%.1f", wait) << " % |\n";
  md << "| skipped steps (non-finite) | " << log.count_events("skipped_step") << " |\n";
  if (log.resumes > 0) md << "| resumed | " << log.resumes << " time(s) |\n";
  md << "\n";

  loss_table(md, log);
  evals_during_training(md, log);
}

double metric(const json& m, const std::string& key) {
  return m.contains(key) && m[key].is_number() ? m[key].get<double>() : NAN;
}

// One row per caption field: R@1/5/10 in both directions.
void retrieval_table(std::ostringstream& md, const json& m) {
  std::vector<std::string> fields;
  for (const auto& [k, v] : m.items()) {
    if (k.rfind("retrieval/", 0) != 0) continue;
    const auto slash = k.find('/', 10);
    if (slash == std::string::npos) continue;
    const std::string f = k.substr(10, slash - 10);
    if (std::find(fields.begin(), fields.end(), f) == fields.end()) fields.push_back(f);
  }
  if (!fields.empty()) {
    md << "Image-text retrieval (%):\n\n"
          "| caption field | i2t R@1 | i2t R@5 | i2t R@10 | t2i R@1 | t2i R@5 | t2i R@10 |\n"
          "|---|---:|---:|---:|---:|---:|---:|\n";
    for (const auto& f : fields) {
      md << "| " << cell(f) << " |";
      for (const char* d : {"i2t", "t2i"})
        for (const char* k : {"1", "5", "10"})
          md << " " << pct(metric(m, "retrieval/" + f + "/" + d + "_r" + k)) << " |";
      md << "\n";
    }
    md << "\n";
  }
}

// Per-class IoU, best first.
void per_class_table(std::ostringstream& md, const json& eval) {
  if (eval.contains("per_class_iou") && eval["per_class_iou"].is_object() &&
      !eval["per_class_iou"].empty()) {
    std::vector<std::pair<std::string, double>> ious;
    for (const auto& [k, v] : eval["per_class_iou"].items())
      ious.emplace_back(k, v.is_number() ? v.get<double>() : NAN);
    std::stable_sort(ious.begin(), ious.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
    md << "Per-class IoU (%), best first:\n\n| class | IoU (%) |\n|---|---:|\n";
    for (const auto& [k, v] : ious) md << "| " << cell(k) << " | " << pct(v) << " |\n";
    md << "\n";
  }
}

void section_eval(std::ostringstream& md, const Inputs& in, std::vector<std::string>& missing) {
  md << "## Evaluation\n\n";
  if (in.eval.is_null()) {
    md << "_" << in.eval_note << "_\n\n";
    missing.push_back(in.eval_note);
    return;
  }
  const json& m = in.eval["metrics"];
  md << "From [`" << link(in.eval_dir / "eval.json", in.run_dir) << "`](" << link(in.eval_dir / "eval.json", in.run_dir)
     << ")";
  if (in.eval.contains("counts") && in.eval["counts"].is_object()) {
    std::vector<std::string> parts;
    for (const auto& [k, v] : in.eval["counts"].items()) parts.push_back(v.dump() + " " + k + " images");
    if (!parts.empty()) {
      md << ": ";
      for (size_t i = 0; i < parts.size(); ++i) md << (i ? ", " : "") << parts[i];
    }
  }
  md << ". All values in %.\n\n";

  md << "| metric | value (%) | |\n|---|---:|---|\n";
  std::vector<std::string> shown;
  const auto row = [&](const std::string& key, const std::string& name, const std::string& note) {
    if (!std::isfinite(metric(m, key))) return;
    md << "| " << name << " | " << pct(metric(m, key)) << " | " << note << " |\n";
    shown.push_back(key);
  };
  row("seg/obj_miou", "zero-shot segmentation mIoU, background ignored (headline)",
      "object classes only, argmax over them; as ADE150");
  row("seg/object_pixel_acc", "zero-shot segmentation, item pixels given their class (headline)",
      "argmax over the object classes alone; chance = 1 / classes");
  row("probe/object_pixel_acc", "dense linear probe, item pixels given their class",
      "a linear classifier fitted on frozen patch tokens (eval.probe_*): what the patches know, text aside");
  row("probe/obj_miou", "dense linear probe mIoU, background ignored", "the same probe");
  row("seg/attribution/object_pixel_acc", "attribution readout, item pixels given their class",
      "what each patch writes into CLS1 (not the official protocol): did the CLS take each class from its items?");
  row("seg/attribution/obj_miou", "attribution readout mIoU, background ignored", "the same readout");
  const double bg = metric(m, "seg/miou_all_background");
  row("seg/miou", "zero-shot segmentation mIoU",
      std::isfinite(bg) ? "all-background baseline: " + pct(bg) + " %" : "");
  if (std::isfinite(bg)) shown.push_back("seg/miou_all_background");
  row("seg/miou_objects", "zero-shot segmentation mIoU, object classes only", "background left out of the mean");
  row("seg/miou_bg_const", "zero-shot segmentation mIoU with a constant background score", "eval.background_score");
  row("seg/pixel_acc", "zero-shot segmentation pixel accuracy", "");
  row("cls/top1", "zero-shot classification top-1", "");
  row("cls/top5", "zero-shot classification top-5", "");
  row("knn/top1", "kNN top-1", "");
  row("knn/top5", "kNN top-5", "");
  // Retrieval gets its own table; anything else (a metric added later) is listed under its own name.
  for (const auto& [k, v] : m.items())
    if (k.rfind("retrieval/", 0) != 0 && std::find(shown.begin(), shown.end(), k) == shown.end() && v.is_number())
      row(k, k, "");
  md << "\n";

  retrieval_table(md, m);
  per_class_table(md, in.eval);
}

void section_pictures(std::ostringstream& md, const Inputs& in, int max_pictures, std::vector<std::string>& missing) {
  md << "## Pictures\n\n### Training curves\n\n";
  if (!in.plots_note.empty()) {
    md << "_" << in.plots_note << "_\n\n";
    missing.push_back(in.plots_note);
  }
  for (const auto& p : in.plots) md << "![" << p.stem().string() << "](" << link(p, in.run_dir) << ")\n\n";
  md << "### Segmentation examples\n\n";
  if (in.vis.empty()) {
    std::string note = "No segmentation pictures: `tips eval ... --visualize` writes them into the eval folder's vis/.";
    if (in.eval.is_null()) note = "No segmentation pictures (no evaluation yet).";
    md << "_" << note << "_\n\n";
    missing.push_back(note);
    return;
  }
  md << "Each panel: image | ground truth | zero-shot prediction | PCA of the patch features (legend below it).\n\n";
  const size_t n = std::min(in.vis.size(), static_cast<size_t>(std::max(0, max_pictures)));
  for (size_t i = 0; i < n; ++i)
    md << "![" << in.vis[i].stem().string() << "](" << link(in.vis[i], in.run_dir) << ")\n\n";
  if (n < in.vis.size())
    md << "(" << in.vis.size() - n << " more in `" << link(in.vis[0].parent_path(), in.run_dir) << "/`.)\n\n";
}

void section_export(std::ostringstream& md, const Inputs& in, std::vector<std::string>& missing) {
  md << "## Exported weights\n\n";
  const fs::path dir = in.run_dir / "export";
  std::vector<std::string> files;
  std::error_code ec;
  for (const char* name : {"image_encoder.npz", "text_encoder.npz"})
    if (fs::exists(dir / name)) {
      const auto bytes = fs::file_size(dir / name, ec);
      files.push_back("[`" + link(dir / name, in.run_dir) + "`](" + link(dir / name, in.run_dir) + ") (" +
                      fmt("%.1f", ec ? NAN : static_cast<double>(bytes) / (1024.0 * 1024.0)) + " MiB)");
    }
  if (files.empty()) {
    const std::string note = "No official weights in " + dir.generic_string() +
                             "/ yet: the trainer writes them at the end of training (or `tips export`).";
    md << "_" << note << "_\n\n";
    missing.push_back(note);
    return;
  }
  md << "Official TIPS layout in `" << dir.generic_string() << "/`:\n\n";
  for (const auto& f : files) md << "- " << f << "\n";
  md << "\nLoad them with `tips eval -c <config> --weights-dir " << dir.generic_string() << "` or `tips import`.\n\n";
}

}  // namespace

ReportResult write_report(const ReportOptions& opts) {
  const Inputs in = gather(opts);
  ReportResult res;
  std::ostringstream md;
  md << "# Run report: `" << opts.run_dir.generic_string() << "`\n\n";
  md << "Written by `tips report` from the files in this folder; rerun it after training or evaluating again.\n\n";
  section_trained(md, in, res.missing);
  section_training(md, in, res.missing);
  section_eval(md, in, res.missing);
  section_pictures(md, in, opts.max_pictures, res.missing);
  section_export(md, in, res.missing);
  if (!res.missing.empty()) {
    md << "## Missing\n\n";
    for (const auto& m : res.missing) md << "- " << m << "\n";
  }
  res.path = opts.run_dir / "report.md";
  const fs::path tmp = res.path.string() + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary);
    out << md.str();
    if (!out) throw DataError("cannot write " + tmp.string(), "check that " + opts.run_dir.string() + " is writable");
  }
  fs::rename(tmp, res.path);
  return res;
}

}  // namespace tips::report
