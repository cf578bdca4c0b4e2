#include "tips/report/ablation_table.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "tips/core/error.h"
#include "tips/report/metrics_log.h"

namespace tips::report {

namespace fs = std::filesystem;
using nlohmann::json;

Stat mean_std(const std::vector<double>& values) {
  Stat s;
  double sum = 0.0;
  for (double v : values)
    if (std::isfinite(v)) sum += v, ++s.n;
  if (s.n == 0) return s;
  s.mean = sum / static_cast<double>(s.n);
  if (s.n < 2) return s;
  double ss = 0.0;
  for (double v : values)
    if (std::isfinite(v)) ss += (v - s.mean) * (v - s.mean);
  s.std = std::sqrt(ss / static_cast<double>(s.n - 1));
  return s;
}

namespace {

std::optional<double> number(const json& obj, const std::string& key) {
  if (!obj.is_object() || !obj.contains(key) || !obj[key].is_number()) return std::nullopt;
  return obj[key].get<double>();
}

// The fields of retrieval/<field>/<dir>_r1 present in the metrics, and the mean R@1 of each direction over them.
void read_retrieval(const json& metrics, AblationRun& run) {
  std::vector<double> i2t, t2i;
  for (const auto& [key, value] : metrics.items()) {
    if (key.rfind("retrieval/", 0) != 0 || !value.is_number()) continue;
    const auto slash = key.find('/', 10);
    if (slash == std::string::npos) continue;
    const std::string field = key.substr(10, slash - 10), metric = key.substr(slash + 1);
    if (metric != "i2t_r1" && metric != "t2i_r1") continue;
    (metric == "i2t_r1" ? i2t : t2i).push_back(value.get<double>());
    if (std::find(run.retrieval_fields.begin(), run.retrieval_fields.end(), field) == run.retrieval_fields.end())
      run.retrieval_fields.push_back(field);
  }
  if (const Stat s = mean_std(i2t); s.n > 0) run.i2t_r1 = s.mean;
  if (const Stat s = mean_std(t2i); s.n > 0) run.t2i_r1 = s.mean;
}

void read_run_info(const json& info, AblationRun& run) {
  run.trainable_params = number(info, "trainable_params");
  run.ema_params = number(info, "ema_params");
}

AblationRun parse_run(const json& j, const std::string& where) {
  if (!j.is_object() || !j.contains("row") || !j["row"].is_string())
    throw DataError(where + ": expected a JSON object with a string \"row\"", "lines are written by scripts/ablate.sh");
  if (!j.contains("eval") || !j["eval"].is_object() || !j["eval"].contains("metrics"))
    throw DataError(where + ": no \"eval\" object with \"metrics\" (the run's eval.json)",
                    "did `tips eval` fail for this run? see scripts/ablate.sh");
  AblationRun run;
  run.row = j["row"].get<std::string>();
  if (const auto seed = number(j, "seed")) run.seed = static_cast<int64_t>(*seed);
  const json& m = j["eval"]["metrics"];
  run.miou = number(m, "seg/miou");
  run.miou_all_background = number(m, "seg/miou_all_background");
  run.obj_miou = number(m, "seg/obj_miou");
  run.object_pixel_acc = number(m, "seg/object_pixel_acc");
  run.probe_pixel_acc = number(m, "probe/object_pixel_acc");
  run.attribution_pixel_acc = number(m, "seg/attribution/object_pixel_acc");
  run.cls_top1 = number(m, "cls/top1");
  run.knn_top1 = number(m, "knn/top1");
  read_retrieval(m, run);
  if (j.contains("run_info")) read_run_info(j["run_info"], run);
  run.step_s = number(j, "step_s");
  run.train_s = number(j, "train_s");
  run.peak_rss_mb = number(j, "peak_rss_mb");
  if (j.contains("run_dir") && j["run_dir"].is_string()) run.run_dir = j["run_dir"].get<std::string>();
  return run;
}

Stat stat_of(const std::vector<const AblationRun*>& runs, std::optional<double> AblationRun::*field) {
  std::vector<double> v;
  for (const auto* r : runs)
    if (r->*field) v.push_back(*(r->*field));
  return mean_std(v);
}

// "45.12 ± 0.87" (scaled), "45.12" for one seed, "–" for none.
std::string cell(const Stat& s, double scale, int decimals, const std::string& suffix = "") {
  if (s.n == 0) return "–";
  char buf[64];
  if (s.n == 1) std::snprintf(buf, sizeof(buf), "%.*f", decimals, s.mean * scale);
  else std::snprintf(buf, sizeof(buf), "%.*f ± %.*f", decimals, s.mean * scale, decimals, s.std * scale);
  return buf + suffix;
}

std::string params_cell(const AblationRow& r) {
  if (r.params_trained.n == 0) return "–";
  char buf[96];
  // Parameter counts do not vary with the seed: the mean is the count.
  std::snprintf(buf, sizeof(buf), "%.2fM (%.2fM + %.2fM EMA)", r.params_trained.mean / 1e6,
                r.trainable_params.mean / 1e6, r.ema_params.mean / 1e6);
  return buf;
}

}  // namespace

std::vector<AblationRun> parse_ablation_results(std::istream& in, const std::string& origin) {
  std::vector<AblationRun> runs;
  std::string line;
  for (int64_t n = 1; std::getline(in, line); ++n) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const std::string where = origin + ":" + std::to_string(n);
    json j;
    try {
      j = json::parse(line);
    } catch (const json::exception& e) {
      throw DataError(where + ": not a JSON line (" + e.what() + ")",
                      "each line is one run, written by scripts/ablate.sh");
    }
    runs.push_back(parse_run(j, where));
  }
  return runs;
}

std::vector<AblationRun> read_ablation_results(const fs::path& path) {
  std::ifstream in(path);
  if (!in) throw DataError("cannot open " + path.string(), "scripts/ablate.sh writes runs/ablations/results.jsonl");
  auto runs = parse_ablation_results(in, path.string());
  if (runs.empty()) throw DataError(path.string() + " has no run", "did scripts/ablate.sh finish a run?");
  for (auto& run : runs) {
    if (run.run_dir.empty()) continue;
    const fs::path dir = run.run_dir;
    if (!run.step_s && fs::exists(dir / "metrics.jsonl")) {
      const auto s = read_metrics_log(dir).train_series("step_s");
      if (const double m = median(s.values); std::isfinite(m)) run.step_s = m;
    }
    if (!run.trainable_params && fs::exists(dir / "run_info.json")) {
      std::ifstream f(dir / "run_info.json");
      try {
        read_run_info(json::parse(f), run);
      } catch (const json::exception& e) {
        throw DataError((dir / "run_info.json").string() + ": " + e.what(), "rerun `tips train` for this run");
      }
    }
  }
  return runs;
}

// Each row against the first: mIoU and item-pixel differences, and whether the latter exceeds twice the seed
// spread (the larger of the two rows' sample stds; undecided with fewer than two seeds on either side).
void set_deltas(const AblationRow& ref, AblationRow& row) {
  if (row.miou.n > 0 && ref.miou.n > 0) row.miou_delta = row.miou.mean - ref.miou.mean;
  const Stat &a = ref.object_pixel_acc, &b = row.object_pixel_acc;
  if (a.n == 0 || b.n == 0) return;
  row.item_delta = b.mean - a.mean;
  row.item_delta_beyond_2sd = a.n >= 2 && b.n >= 2 && std::abs(*row.item_delta) > 2.0 * std::max(a.std, b.std);
}

AblationSummary summarize_ablation(const std::vector<AblationRun>& runs) {
  AblationSummary out;
  std::vector<std::vector<const AblationRun*>> groups;
  std::set<std::string> fields;
  for (const auto& r : runs) {
    auto it = std::find_if(out.rows.begin(), out.rows.end(), [&](const AblationRow& x) { return x.name == r.row; });
    if (it == out.rows.end()) {
      out.rows.push_back({});
      out.rows.back().name = r.row;
      groups.emplace_back();
      it = out.rows.end() - 1;
    }
    groups[it - out.rows.begin()].push_back(&r);
    fields.insert(r.retrieval_fields.begin(), r.retrieval_fields.end());
  }
  out.retrieval_fields.assign(fields.begin(), fields.end());
  for (size_t i = 0; i < out.rows.size(); ++i) {
    AblationRow& row = out.rows[i];
    const auto& g = groups[i];
    std::set<int64_t> seeds;
    for (const auto* r : g) seeds.insert(r->seed);
    row.seeds = static_cast<int64_t>(seeds.size());
    row.miou = stat_of(g, &AblationRun::miou);
    row.miou_all_background = stat_of(g, &AblationRun::miou_all_background);
    row.obj_miou = stat_of(g, &AblationRun::obj_miou);
    row.object_pixel_acc = stat_of(g, &AblationRun::object_pixel_acc);
    row.probe_pixel_acc = stat_of(g, &AblationRun::probe_pixel_acc);
    row.attribution_pixel_acc = stat_of(g, &AblationRun::attribution_pixel_acc);
    row.cls_top1 = stat_of(g, &AblationRun::cls_top1);
    row.i2t_r1 = stat_of(g, &AblationRun::i2t_r1);
    row.t2i_r1 = stat_of(g, &AblationRun::t2i_r1);
    row.knn_top1 = stat_of(g, &AblationRun::knn_top1);
    row.trainable_params = stat_of(g, &AblationRun::trainable_params);
    row.ema_params = stat_of(g, &AblationRun::ema_params);
    std::vector<double> total;
    for (const auto* r : g)
      if (r->trainable_params) total.push_back(*r->trainable_params + r->ema_params.value_or(0.0));
    row.params_trained = mean_std(total);
    row.step_s = stat_of(g, &AblationRun::step_s);
    row.train_s = stat_of(g, &AblationRun::train_s);
    row.peak_rss_mb = stat_of(g, &AblationRun::peak_rss_mb);
    if (i > 0) set_deltas(out.rows[0], row);
  }
  return out;
}

std::string ablation_markdown(const AblationSummary& s) {
  std::ostringstream md;
  const std::string first = s.rows.empty() ? "" : s.rows[0].name;
  md << "| config | seeds | ZS seg mIoU (%) | Δ mIoU vs " << first
     << " (pp) | object mIoU, background ignored (%) | item pixels (%) | Δ item pixels (pp) | probe item pixels (%) "
        "| attribution item pixels (%) | ZS cls top-1 (%) "
        "| R@1 i2t (%) | R@1 t2i (%) | kNN top-1 (%) | params trained | step (ms) | train (s) | peak RSS (MB) |\n";
  md << "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n";
  char delta[32], item_delta[48];
  for (const auto& r : s.rows) {
    if (r.miou_delta)
      std::snprintf(delta, sizeof(delta), "%+.2f", 100.0 * *r.miou_delta);
    else
      std::snprintf(delta, sizeof(delta), "%s", r.name == first ? "(ref)" : "–");
    if (r.item_delta)
      std::snprintf(item_delta, sizeof(item_delta), "%+.2f%s", 100.0 * *r.item_delta,
                    r.item_delta_beyond_2sd ? " (> 2 sd)" : "");
    else
      std::snprintf(item_delta, sizeof(item_delta), "%s", r.name == first ? "(ref)" : "–");
    md << "| " << r.name << " | " << r.seeds << " | " << cell(r.miou, 100, 2) << " | " << delta << " | "
       << cell(r.obj_miou, 100, 2) << " | " << cell(r.object_pixel_acc, 100, 2) << " | " << item_delta << " | "
       << cell(r.probe_pixel_acc, 100, 2) << " | " << cell(r.attribution_pixel_acc, 100, 2) << " | "
       << cell(r.cls_top1, 100, 2) << " | " << cell(r.i2t_r1, 100, 2) << " | " << cell(r.t2i_r1, 100, 2) << " | "
       << cell(r.knn_top1, 100, 2) << " | " << params_cell(r) << " | " << cell(r.step_s, 1000, 0) << " | "
       << cell(r.train_s, 1, 0) << " | " << cell(r.peak_rss_mb, 1, 0) << " |\n";
  }
  md << "\nMean ± sample std over seeds (a single seed shows the value alone); – = not measured.";
  for (const auto& r : s.rows)
    if (r.miou_all_background.n > 0) {
      md << " All-background mIoU baseline: " << cell(r.miou_all_background, 100, 2) << " %.";
      break;
    }
  md << "\nObject mIoU: over the object classes, background pixels ignored (the official protocol's headline); item "
        "pixels: the item pixels given their own class by an argmax over the object classes (chance = 1 / classes). "
        "With a background that covers most pixels, these two read the items; the mIoU mostly reads the background. "
        "Δ: against the first row; \"> 2 sd\" marks an item-pixel difference beyond twice the larger seed std of the "
        "two rows (needs >= 2 seeds in each). Probe item pixels: the same figure from a linear classifier fitted "
        "on the frozen patch tokens (eval.probe_manifest), what the patches know whether or not they match the text. "
        "Attribution item pixels: the same figure from what each patch writes into the first CLS (the attribution "
        "readout, not the official protocol): whether the text-aligned CLS took each item's class from its patches.";
  md << "\nR@1: image-to-text / text-to-image retrieval on the segmentation canvases, averaged over the caption "
        "fields";
  if (s.retrieval_fields.empty()) md << " (none evaluated).";
  else {
    md << " ";
    for (size_t i = 0; i < s.retrieval_fields.size(); ++i) md << (i ? ", " : "") << s.retrieval_fields[i];
    md << ".";
  }
  md << "\nParams trained: trainable parameters + the teacher's EMA copies; step: median time per optimizer "
        "step; train: wall time of `tips train`; peak RSS: of `tips train`.\n";
  return md.str();
}

}  // namespace tips::report
