#include "tips/report/plot.h"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>

#include "tips/core/error.h"

namespace tips::report {

namespace fs = std::filesystem;

namespace {

struct Panel {
  std::string title;
  std::vector<std::string> keys;
  bool logy = false;
};

struct Figure {
  std::string name;   // file stem
  std::string title;
  std::string event;  // "" = training records, else the events of that name
  double scale = 1.0; // values are multiplied by it in the data file (fractions -> %)
  int cols = 1;
  std::vector<Panel> panels;
};

bool starts_with(const std::string& s, const std::string& p) { return s.rfind(p, 0) == 0; }
bool ends_with(const std::string& s, const std::string& p) {
  return s.size() >= p.size() && s.compare(s.size() - p.size(), p.size(), p) == 0;
}
bool contains(const std::string& s, const std::string& p) { return s.find(p) != std::string::npos; }

// Log y pays off when every value is positive and they span at least a decade (losses falling from ~7 to ~0.5).
bool wants_logy(const std::vector<Series>& series) {
  double lo = INFINITY, hi = -INFINITY;
  for (const auto& s : series)
    for (double v : s.values) {
      if (!std::isfinite(v)) continue;
      if (v <= 0) return false;
      lo = std::min(lo, v), hi = std::max(hi, v);
    }
  return std::isfinite(lo) && hi / lo >= 10.0;
}

Series series_for(const MetricsLog& log, const Figure& f, const std::string& key) {
  return f.event.empty() ? log.train_series(key) : log.event_series(f.event, key);
}

// Adds a panel with the keys that have at least one finite value; none -> no panel.
void add_panel(const MetricsLog& log, Figure& f, const std::string& title, const std::vector<std::string>& keys,
               bool allow_logy) {
  Panel p{title, {}, false};
  std::vector<Series> kept;
  for (const auto& k : keys) {
    Series s = series_for(log, f, k);
    if (s.finite_count() == 0) continue;
    p.keys.push_back(k);
    kept.push_back(std::move(s));
  }
  if (p.keys.empty()) return;
  p.logy = allow_logy && wants_logy(kept);
  f.panels.push_back(std::move(p));
}

std::vector<Figure> plan_figures(const MetricsLog& log) {
  const auto train_keys = log.train_keys();
  const auto pick = [&](auto pred) {
    std::vector<std::string> out;
    for (const auto& k : train_keys)
      if (pred(k)) out.push_back(k);
    return out;
  };
  std::vector<Figure> figs;

  Figure losses{"losses", "loss terms vs step", "", 1.0, 1, {}};
  auto loss_keys = pick([](const std::string& k) { return k == "loss" || starts_with(k, "loss_"); });
  add_panel(log, losses, "loss terms vs step", loss_keys, /*allow_logy=*/true);
  figs.push_back(std::move(losses));

  Figure sched{"schedules", "schedules", "", 1.0, 2, {}};
  std::vector<std::string> sched_keys{"lr", "wd", "momentum", "temperature"};
  for (const auto& k : pick([](const std::string& k) { return contains(k, "temp") && k != "temperature"; }))
    sched_keys.push_back(k);
  for (const auto& k : sched_keys) add_panel(log, sched, k, {k}, /*allow_logy=*/false);
  figs.push_back(std::move(sched));

  Figure thr{"throughput", "throughput and health", "", 1.0, 2, {}};
  std::vector<std::string> thr_keys{"imgs_per_s", "data_wait_pct", "grad_norm", "step_s"};
  for (const auto& k : pick([](const std::string& k) { return contains(k, "mem") || contains(k, "rss"); }))
    thr_keys.push_back(k);
  for (const auto& k : thr_keys) add_panel(log, thr, k, {k}, /*allow_logy=*/k == "grad_norm");
  figs.push_back(std::move(thr));

  Figure ev{"eval", "evaluations during training", "eval", 100.0, 1, {}};
  std::vector<std::string> dense, retrieval;
  for (const auto& k : log.event_keys("eval")) {
    if (starts_with(k, "seg/") || starts_with(k, "cls/") || starts_with(k, "knn/")) dense.push_back(k);
    else if (starts_with(k, "retrieval/") && ends_with(k, "_r1")) retrieval.push_back(k);
  }
  add_panel(log, ev, "segmentation / classification / kNN (%)", dense, false);
  add_panel(log, ev, "retrieval R@1 (%)", retrieval, false);
  figs.push_back(std::move(ev));

  figs.erase(std::remove_if(figs.begin(), figs.end(), [](const Figure& f) { return f.panels.empty(); }), figs.end());
  for (auto& f : figs) f.cols = std::min<int>(f.cols, static_cast<int>(f.panels.size()));
  return figs;
}

std::vector<std::string> figure_keys(const Figure& f) {
  std::vector<std::string> keys;
  for (const auto& p : f.panels)
    for (const auto& k : p.keys)
      if (std::find(keys.begin(), keys.end(), k) == keys.end()) keys.push_back(k);
  return keys;
}

void write_data(const MetricsLog& log, const Figure& f, const std::vector<std::string>& keys, const fs::path& path) {
  std::ofstream out(path);
  out << "# step";
  for (const auto& k : keys) out << " " << k;
  out << (f.scale != 1.0 ? "   (values x" + std::to_string(static_cast<int>(f.scale)) + ")\n" : "\n");
  const auto& records = f.event.empty() ? log.train : log.events;
  char buf[32];
  for (const auto& r : records) {
    if (r.event != f.event) continue;
    out << r.step;
    for (const auto& k : keys) {
      const double v = r.get(k) * f.scale;
      if (std::isfinite(v)) std::snprintf(buf, sizeof(buf), " %.9g", v);
      else std::snprintf(buf, sizeof(buf), " ?");
      out << buf;
    }
    out << "\n";
  }
  if (!out) throw DataError("cannot write " + path.string(), "check that the folder is writable");
}

// gnuplot single-quoted string: only ' needs escaping (doubled).
std::string quoted(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("''") : std::string(1, c);
  return q + "'";
}

std::string script_for(const Figure& f, const std::vector<std::string>& keys, const PlotOptions& o) {
  const int rows = (static_cast<int>(f.panels.size()) + f.cols - 1) / f.cols;
  std::ostringstream s;
  s << "# " << f.title << "\n";
  s << "set terminal pngcairo size " << o.width_px << "," << rows * o.panel_height_px << " noenhanced font ',10'\n";
  s << "set output " << quoted(f.name + ".png") << "\n";
  s << "set multiplot layout " << rows << "," << f.cols << " title " << quoted(f.title) << "\n";
  for (const auto& p : f.panels) {
    // One panel: the figure title says it all. One curve: the panel title names it, a key would hide data.
    s << "set title " << quoted(f.panels.size() > 1 ? p.title : "") << "\n";
    s << (p.keys.size() > 1 ? "set key outside right top\n" : "unset key\n");
    // A margin keeps flat curves off the frame; on a log axis autoscaling to whole decades already does.
    s << (p.logy ? "set logscale y\nset offsets 0, 0, 0, 0\n"
                 : "unset logscale y\nset offsets 0, 0, graph 0.05, graph 0.05\n");
    s << "plot ";
    for (size_t i = 0; i < p.keys.size(); ++i) {
      const auto col = std::find(keys.begin(), keys.end(), p.keys[i]) - keys.begin() + 2;
      s << (i ? ", \\\n     " : "") << quoted(f.name + ".dat") << " using 1:" << col
        << (f.event.empty() ? " with lines lw 1.5" : " with linespoints lw 1.5 pt 7 ps 0.6") << " title "
        << quoted(p.keys[i]);
    }
    s << "\n";
  }
  s << "unset multiplot\nset output\n\n";
  return s.str();
}

std::string read_tail(const fs::path& path, size_t max_chars) {
  std::ifstream in(path);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return text.size() > max_chars ? "..." + text.substr(text.size() - max_chars) : text;
}

// Runs `gnuplot script` inside dir (so the script's file names are relative), its output into log.
int run_gnuplot(const std::string& exe, const fs::path& dir, const std::string& script, const std::string& log) {
  const pid_t pid = ::fork();
  if (pid < 0) return -1;
  if (pid == 0) {  // child: only async-signal-safe calls until exec
    if (::chdir(dir.c_str()) != 0) ::_exit(126);
    const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
      ::dup2(fd, STDOUT_FILENO);
      ::dup2(fd, STDERR_FILENO);
    }
    ::execl(exe.c_str(), exe.c_str(), script.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0)
    if (errno != EINTR) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

}  // namespace

std::string find_gnuplot(const PlotOptions& opts) {
  const auto executable = [](const fs::path& p) {
    std::error_code ec;
    return fs::is_regular_file(p, ec) && ::access(p.c_str(), X_OK) == 0;
  };
  if (opts.gnuplot.find('/') != std::string::npos) return executable(opts.gnuplot) ? opts.gnuplot : "";
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path ? path : "/usr/local/bin:/usr/bin:/bin");
  for (std::string d; std::getline(dirs, d, ':');)
    if (!d.empty() && executable(fs::path(d) / opts.gnuplot)) return (fs::path(d) / opts.gnuplot).string();
  return "";
}

std::vector<fs::path> render_plots(const MetricsLog& log, const fs::path& out_dir, const PlotOptions& opts) {
  const std::string exe = find_gnuplot(opts);
  if (exe.empty())
    throw Error("gnuplot not found (looked for '" + opts.gnuplot + "' on PATH)",
                "bash scripts/install_deps.sh installs it (Debian package gnuplot-nox)");
  const auto figs = plan_figures(log);
  if (figs.empty())
    throw DataError("nothing to plot: no finite loss, schedule, throughput or eval value in the log",
                    "check metrics.jsonl: are all values \"nan\"?");
  std::error_code ec;
  fs::create_directories(out_dir, ec);
  if (ec) throw DataError("cannot create " + out_dir.string() + ": " + ec.message(), "check the permissions");
  std::string script = "# written by `tips plot`; rerun with: gnuplot plots.gp (in this folder)\n"
                       "set datafile missing '?'\nset grid\nset xlabel 'step'\n\n";
  std::vector<fs::path> pngs;
  for (const auto& f : figs) {
    const auto keys = figure_keys(f);
    write_data(log, f, keys, out_dir / (f.name + ".dat"));
    script += script_for(f, keys, opts);
    pngs.push_back(out_dir / (f.name + ".png"));
  }
  const fs::path gp = out_dir / "plots.gp";
  std::ofstream(gp) << script;
  for (const auto& p : pngs) fs::remove(p, ec);  // a stale PNG must not pass for a fresh one
  const fs::path log_file = out_dir / "gnuplot.log";
  const int rc = run_gnuplot(exe, out_dir, "plots.gp", fs::absolute(log_file).string());
  if (rc != 0)
    throw Error("gnuplot failed (exit " + std::to_string(rc) + ") on " + gp.string() + ":\n" +
                    read_tail(log_file, 2000),
                "the terminal pngcairo is needed (Debian gnuplot-nox has it); rerun `gnuplot plots.gp` in " +
                    out_dir.string() + " to see the error");
  for (const auto& p : pngs)
    if (!fs::exists(p))
      throw Error("gnuplot did not write " + p.string(), "see " + log_file.string() + " and " + gp.string());
  return pngs;
}

}  // namespace tips::report
