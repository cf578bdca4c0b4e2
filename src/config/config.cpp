// Loading, merging and overriding YAML; the Reader's error reporting; the RunConfig field list.
#include "tips/config/config.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>

#include "fields.h"

namespace fs = std::filesystem;

namespace tips::config {
namespace detail {

template <> std::string type_name<bool>() { return "a boolean (true/false)"; }
template <> std::string type_name<int64_t>() { return "an integer"; }
template <> std::string type_name<uint64_t>() { return "a non-negative integer"; }
template <> std::string type_name<double>() { return "a number"; }
template <> std::string type_name<std::string>() { return "a string"; }

namespace {
size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j)
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
    std::swap(prev, cur);
  }
  return prev[b.size()];
}
}  // namespace

std::string nearest_key(const std::string& key, const std::vector<std::string>& candidates) {
  std::string best;
  size_t best_d = SIZE_MAX;
  for (const auto& c : candidates) {
    const size_t d = edit_distance(key, c);
    if (d < best_d) best_d = d, best = c;
  }
  return best;
}

std::string Reader::join(const std::vector<std::string>& v) {
  std::string s;
  for (size_t i = 0; i < v.size(); ++i) s += (i ? " | " : "") + v[i];
  return s;
}

std::string Reader::where(const std::string& dotted) const {
  // A command-line override of the key or of anything inside it: a check of a section (optim.lr) that fails
  // because of `optim.lr.start=-1` points at that override, not at the file that opened the section.
  if (origins_) {
    std::string from_command_line;
    for (auto it = origins_->lower_bound(dotted); it != origins_->end(); ++it) {
      if (it->first != dotted && it->first.rfind(dotted + ".", 0) != 0) break;
      if (it->second.rfind("command line", 0) == 0) from_command_line = it->second;
    }
    if (!from_command_line.empty()) return from_command_line;
  }
  // The key itself, else the nearest enclosing section that has an origin.
  std::string p = dotted;
  while (!p.empty()) {
    const auto it = origins_ ? origins_->find(p) : OriginMap::const_iterator{};
    if (origins_ && it != origins_->end()) return it->second;
    // A section-level check: point at the first key set inside it.
    const auto child = origins_ ? origins_->lower_bound(p + ".") : OriginMap::const_iterator{};
    if (origins_ && child != origins_->end() && child->first.rfind(p + ".", 0) == 0) return child->second;
    const auto dot = p.rfind('.');
    p = dot == std::string::npos ? "" : p.substr(0, dot);
  }
  return "<defaults>";
}

void Reader::fail(const std::string& dotted, const std::string& message, const std::string& hint) const {
  throw ConfigError(where(dotted) + ": " + dotted + ": " + message, hint);
}

void Reader::section(const char* key, const std::function<void()>& body) {
  declare(key);
  const YAML::Node& parent = current();
  YAML::Node child = parent[key];
  const std::string path = path_of(key);
  if (child && !child.IsNull() && !child.IsMap())
    fail(path, "expected a section (a mapping of keys), got a " + std::string(child.IsSequence() ? "list" : "scalar"),
         "write it as `" + std::string(key) + ":` followed by indented `key: value` lines");
  stack_.push_back({(child && child.IsMap()) ? child : YAML::Node(YAML::NodeType::Map), path});
  body();
  check_unknown(stack_.back());
  stack_.pop_back();
}

void Reader::check_unknown(const Frame& f) const {
  for (const auto& kv : f.node) {
    const std::string k = kv.first.as<std::string>();
    if (std::find(f.declared.begin(), f.declared.end(), k) != f.declared.end()) continue;
    const std::string dotted = f.path.empty() ? k : f.path + "." + k;
    const std::string near = nearest_key(k, f.declared);
    const std::string near_dotted = f.path.empty() ? near : f.path + "." + near;
    throw ConfigError(where(dotted) + ": " + dotted + ": unknown key",
                      "did you mean '" + near_dotted + "'? (`tips config --defaults` lists every key)");
  }
}

void Reader::finish_root() { check_unknown(stack_.front()); }

namespace {

// The top-level field list: one section per RunConfig member.
template <class V, class C>
void visit_run(V& v, C& c) {
  v.section("model", [&] { visit_vision(v, c.model); });
  v.section("text", [&] { visit_text(v, c.text, c.model.preset); });
  v.section("heads", [&] { visit_heads(v, c.heads); });
  v.section("loss", [&] { visit_loss(v, c.loss); });
  v.section("teacher", [&] { visit_teacher(v, c.teacher); });
  v.section("data", [&] { visit_data(v, c.data); });
  v.section("optim", [&] { visit_optim(v, c.optim); });
  v.section("train", [&] { visit_train(v, c.train); });
  v.section("dist", [&] { visit_dist(v, c.dist); });
  v.section("ckpt", [&] { visit_ckpt(v, c.ckpt); });
  v.section("eval", [&] { visit_eval(v, c.eval); });
  if constexpr (V::kReading) {
    v.check("text", c.text.dim == c.model.dim,
            "text.dim (" + std::to_string(c.text.dim) + ") must equal model.dim (" + std::to_string(c.model.dim) +
                "): TIPS has no projection layers");
  }
}

std::string mark_str(const std::string& file, const YAML::Mark& m) {
  if (m.is_null()) return file;
  return file + ":" + std::to_string(m.line + 1) + ":" + std::to_string(m.column + 1);
}

YAML::Node parse_file(const fs::path& file) {
  if (!fs::exists(file))
    throw ConfigError(file.string() + ": config file not found", "check the path (relative paths resolve against the "
                                                                 "current directory, `base:` against the including file)");
  try {
    return YAML::LoadFile(file.string());
  } catch (const YAML::ParserException& e) {
    throw ConfigError(mark_str(file.string(), e.mark) + ": YAML syntax error: " + e.msg, "");
  }
}

// dst <- src, recursively for mappings; scalars and lists replace. Records each key's origin.
void merge_into(YAML::Node dst, const YAML::Node& src, const std::string& prefix, const std::string& file,
                OriginMap& origins) {
  for (const auto& kv : src) {
    const std::string k = kv.first.as<std::string>();
    const std::string dotted = prefix.empty() ? k : prefix + "." + k;
    origins[dotted] = mark_str(file, kv.first.Mark());
    if (kv.second.IsMap() && dst[k] && dst[k].IsMap()) {
      merge_into(dst[k], kv.second, dotted, file, origins);
    } else if (kv.second.IsMap()) {
      dst[k] = YAML::Node(YAML::NodeType::Map);
      merge_into(dst[k], kv.second, dotted, file, origins);
    } else {
      dst[k] = YAML::Clone(kv.second);
      // Nested keys of a replaced value are no longer from an older file.
      for (auto it = origins.lower_bound(dotted + "."); it != origins.end() && it->first.rfind(dotted + ".", 0) == 0;)
        it = origins.erase(it);
    }
  }
}

// Loads `file` with its `base:` chain (bases first, the file itself last) into `dst`.
void load_with_bases(const fs::path& file, YAML::Node dst, OriginMap& origins, std::vector<std::string>& chain) {
  const std::string canonical = fs::weakly_canonical(file).string();
  if (std::find(chain.begin(), chain.end(), canonical) != chain.end())
    throw ConfigError(file.string() + ": `base:` cycle (" + canonical + " includes itself)", "");
  chain.push_back(canonical);
  YAML::Node root = parse_file(file);
  if (root.IsNull()) root = YAML::Node(YAML::NodeType::Map);
  if (!root.IsMap()) throw ConfigError(file.string() + ": top level must be a mapping of sections", "");
  if (const YAML::Node base = root["base"]) {
    std::vector<std::string> bases;
    if (base.IsScalar()) bases.push_back(base.as<std::string>());
    else if (base.IsSequence()) for (const auto& b : base) bases.push_back(b.as<std::string>());
    else throw ConfigError(mark_str(file.string(), base.Mark()) + ": base: expected a path or a list of paths", "");
    for (const auto& b : bases) load_with_bases(file.parent_path() / b, dst, origins, chain);
    root.remove("base");
  }
  merge_into(dst, root, "", file.string(), origins);
  chain.pop_back();
}

void apply_override(YAML::Node root, const std::string& assignment, OriginMap& origins) {
  const auto eq = assignment.find('=');
  if (eq == std::string::npos || eq == 0)
    throw ConfigError("command line '" + assignment + "': expected key.path=value", "e.g. train.steps=100");
  const std::string dotted = assignment.substr(0, eq);
  YAML::Node value;
  try {
    // `key=` means the empty string (e.g. eval.seg_manifest= turns that evaluation off). YAML reads an empty
    // text as null, which the reader takes as "keep the default", so the override would vanish silently.
    const std::string text = assignment.substr(eq + 1);
    value = text.empty() ? YAML::Node(std::string()) : YAML::Load(text);
  } catch (const YAML::ParserException& e) {
    throw ConfigError("command line '" + assignment + "': cannot parse the value: " + e.msg, "");
  }
  std::vector<std::string> parts;
  for (size_t start = 0;;) {
    const auto dot = dotted.find('.', start);
    parts.push_back(dotted.substr(start, dot - start));
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  std::vector<YAML::Node> nodes{root};
  for (size_t i = 0; i + 1 < parts.size(); ++i) {
    YAML::Node next = nodes.back()[parts[i]];
    if (!next.IsMap()) {
      nodes.back()[parts[i]] = YAML::Node(YAML::NodeType::Map);
      next = nodes.back()[parts[i]];
    }
    nodes.push_back(next);
  }
  nodes.back()[parts.back()] = value;
  origins[dotted] = "command line '" + assignment + "'";
}

RunConfig read_tree(const YAML::Node& root, const OriginMap& origins) {
  RunConfig cfg;
  detail::Reader reader(root, &origins);
  visit_run(reader, cfg);
  reader.finish_root();
  return cfg;
}

}  // namespace
}  // namespace detail

RunConfig load(const std::vector<std::string>& files, const std::vector<std::string>& overrides) {
  YAML::Node root(YAML::NodeType::Map);
  detail::OriginMap origins;
  for (const auto& f : files) {
    std::vector<std::string> chain;
    detail::load_with_bases(f, root, origins, chain);
  }
  for (const auto& o : overrides) detail::apply_override(root, o, origins);
  return detail::read_tree(root, origins);
}

RunConfig load_from_string(const std::string& yaml_text, const std::vector<std::string>& overrides,
                           const std::string& origin) {
  YAML::Node root;
  try {
    root = YAML::Load(yaml_text);
  } catch (const YAML::ParserException& e) {
    throw ConfigError(detail::mark_str(origin, e.mark) + ": YAML syntax error: " + e.msg, "");
  }
  if (root.IsNull()) root = YAML::Node(YAML::NodeType::Map);
  YAML::Node merged(YAML::NodeType::Map);
  detail::OriginMap origins;
  detail::merge_into(merged, root, "", origin, origins);
  for (const auto& o : overrides) detail::apply_override(merged, o, origins);
  return detail::read_tree(merged, origins);
}

std::string to_yaml(const RunConfig& cfg, bool with_docs) {
  detail::Writer writer(with_docs);
  detail::visit_run(writer, cfg);
  return writer.str();
}

std::vector<std::pair<std::string, std::string>> flatten(const RunConfig& cfg) {
  std::vector<std::pair<std::string, std::string>> leaves;
  std::vector<std::string> stack;
  const std::string text = to_yaml(cfg);
  size_t pos = 0;
  while (pos < text.size()) {
    const size_t end = text.find('\n', pos);
    const std::string line = text.substr(pos, end - pos);
    pos = end == std::string::npos ? text.size() : end + 1;
    const size_t indent = line.find_first_not_of(' ') / 2;
    const size_t colon = line.find(':');
    const std::string key = line.substr(indent * 2, colon - indent * 2);
    stack.resize(indent);
    stack.push_back(key);
    if (colon + 1 < line.size()) {  // a leaf "key: value"
      std::string dotted;
      for (const auto& s : stack) dotted += (dotted.empty() ? "" : ".") + s;
      leaves.emplace_back(dotted, line.substr(colon + 2));
    }
  }
  return leaves;
}

std::vector<std::string> all_keys() {
  std::vector<std::string> keys;
  for (const auto& [key, value] : flatten(RunConfig{})) keys.push_back(key);
  return keys;
}

namespace {
// Keys that do not change what a step computes: where and how often things are written, evaluation, threads,
// timeouts and the resume settings themselves.
bool changes_results(const std::string& key) {
  static const char* kNeutral[] = {"train.run_dir", "train.log_every", "train.eval_every", "train.threads",
                                   "train.nan_policy", "train.max_nan_skips", "ckpt.", "eval.", "dist.timeout_s",
                                   "data.loader.threads", "data.loader.prefetch_batches", "data.loader.quarantine_log",
                                   "data.loader.max_bad_fraction"};
  for (const char* n : kNeutral)
    if (key.rfind(n, 0) == 0) return false;
  return true;
}
}  // namespace

std::vector<ConfigChange> diff(const RunConfig& before, const RunConfig& after) {
  // Map-valued keys (data.captions.stream2) flatten to their entries, so the key sets may differ.
  const auto a = flatten(before), b = flatten(after);
  std::map<std::string, std::string> rest(b.begin(), b.end());
  std::vector<ConfigChange> out;
  for (const auto& [key, value] : a) {
    const auto it = rest.find(key);
    const std::string now = it == rest.end() ? "(absent)" : it->second;
    if (now != value) out.push_back({key, value, now, changes_results(key)});
    if (it != rest.end()) rest.erase(it);
  }
  for (const auto& [key, value] : b)
    if (rest.count(key)) out.push_back({key, "(absent)", value, changes_results(key)});
  return out;
}

}  // namespace tips::config
