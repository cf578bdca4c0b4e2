// src/config/visitor.h (private) - the field-list protocol shared by the parser and the printer.
// Each section lists its fields once, in src/config/fields.cpp:
//   v.field("lr", c.lr, "doc");  v.choice("ema", c.ema, kEmaNames, "doc");  v.section("crops", [&]{...});
//   v.check("lr", c.lr > 0, "must be > 0");
// Reader fills the struct from YAML and validates; Writer prints it. Only src/config includes yaml-cpp.
#pragma once
#include <yaml-cpp/yaml.h>

#include <functional>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "tips/core/error.h"

namespace tips::config::detail {

template <class E>
using NameTable = std::vector<std::pair<const char*, E>>;

// Where each dotted key came from: "file:line:col" or "command line 'a.b=c'".
using OriginMap = std::map<std::string, std::string>;

std::string nearest_key(const std::string& key, const std::vector<std::string>& candidates);

template <class T>
std::string type_name();

class Reader {
 public:
  Reader(const YAML::Node& root, const OriginMap* origins) : origins_(origins) { stack_.push_back({root, ""}); }
  static constexpr bool kReading = true;

  template <class T>
  void field(const char* key, T& out, const char* /*doc*/) {
    declare(key);
    const YAML::Node v = current()[key];
    if (!v || v.IsNull()) return;
    read_value(v, path_of(key), out);
  }

  template <class E>
  void choice(const char* key, E& out, const NameTable<E>& names, const char* /*doc*/) {
    declare(key);
    const YAML::Node v = current()[key];
    if (!v || v.IsNull()) return;
    std::string s;
    read_value(v, path_of(key), s);
    std::vector<std::string> allowed;
    for (const auto& [name, value] : names) {
      allowed.push_back(name);
      if (s == name) {
        out = value;
        return;
      }
    }
    fail(path_of(key), "expected one of " + join(allowed) + ", got '" + s + "'",
         "did you mean '" + nearest_key(s, allowed) + "'?");
  }

  void section(const char* key, const std::function<void()>& body);

  void check(const char* key, bool ok, const std::string& message) {
    if (!ok) fail(path_of(key), message, "");
  }

  // Errors naming where `dotted` was set (or the enclosing section when it was left at its default).
  [[noreturn]] void fail(const std::string& dotted, const std::string& message, const std::string& hint) const;

  // After the root section: every key present in YAML but never declared is an error.
  void finish_root();

  std::string path_of(const char* key) const {
    return stack_.back().path.empty() ? std::string(key) : stack_.back().path + "." + key;
  }

 private:
  struct Frame {
    YAML::Node node;
    std::string path;
    std::vector<std::string> declared{};
  };
  const YAML::Node& current() const { return stack_.back().node; }
  void declare(const char* key) { stack_.back().declared.push_back(key); }
  void check_unknown(const Frame& f) const;
  std::string where(const std::string& dotted) const;
  static std::string join(const std::vector<std::string>& v);

  template <class T>
  void read_value(const YAML::Node& v, const std::string& path, T& out) const {
    if constexpr (std::is_same_v<T, std::vector<std::string>> || std::is_same_v<T, std::vector<double>> ||
                  std::is_same_v<T, std::vector<int64_t>>) {
      if (!v.IsSequence()) fail(path, "expected a list of " + type_name<typename T::value_type>() + ", got '" + dump(v) + "'", "write it as [a, b, c]");
      T result;
      for (const auto& item : v) {
        typename T::value_type x{};
        read_value(item, path, x);
        result.push_back(x);
      }
      out = std::move(result);
    } else if constexpr (std::is_same_v<T, std::map<std::string, double>>) {
      if (!v.IsMap()) fail(path, "expected a mapping of name -> number, got '" + dump(v) + "'", "write it as {alt_text: 1.0}");
      T result;
      for (const auto& kv : v) {
        double x = 0;
        read_value(kv.second, path + "." + kv.first.as<std::string>(), x);
        result[kv.first.as<std::string>()] = x;
      }
      out = std::move(result);
    } else {
      if (!v.IsScalar()) fail(path, "expected " + type_name<T>() + ", got '" + dump(v) + "'", "");
      try {
        out = v.as<T>();
      } catch (const YAML::BadConversion&) {
        fail(path, "expected " + type_name<T>() + ", got '" + v.Scalar() + "'", "");
      }
    }
  }
  static std::string dump(const YAML::Node& v) {
    YAML::Emitter e;
    e << YAML::Flow << v;
    return e.c_str();
  }

  std::vector<Frame> stack_;
  const OriginMap* origins_;
};

class Writer {
 public:
  explicit Writer(bool with_docs) : with_docs_(with_docs) {}
  static constexpr bool kReading = false;

  template <class T>
  void field(const char* key, const T& value, const char* doc) {
    line(key, format(value), doc);
  }
  template <class E>
  void choice(const char* key, const E& value, const NameTable<E>& names, const char* doc) {
    std::string s = "?";
    std::vector<std::string> all;
    for (const auto& [name, v] : names) {
      all.emplace_back(name);
      if (v == value) s = name;
    }
    std::string d = doc;
    if (with_docs_) d += (d.empty() ? "" : " ") + std::string("(") + join_bar(all) + ")";
    line(key, s, d.c_str());
  }
  void section(const char* key, const std::function<void()>& body) {
    out_ << indent() << key << ":\n";
    ++depth_;
    body();
    --depth_;
  }
  void check(const char*, bool, const std::string&) {}
  std::string str() const { return out_.str(); }

 private:
  void line(const char* key, const std::string& value, const char* doc) {
    out_ << indent() << key << ": " << value;
    if (with_docs_ && doc && *doc) out_ << "  # " << doc;
    out_ << "\n";
  }
  std::string indent() const { return std::string(2 * depth_, ' '); }
  static std::string join_bar(const std::vector<std::string>& v) {
    std::string s;
    for (size_t i = 0; i < v.size(); ++i) s += (i ? " | " : "") + v[i];
    return s;
  }
  template <class T>
  static std::string format(const T& v) {
    if constexpr (std::is_same_v<T, bool>) {
      return v ? "true" : "false";
    } else if constexpr (std::is_same_v<T, std::string>) {
      return quote(v);
    } else if constexpr (std::is_same_v<T, double>) {
      std::ostringstream s;
      s.precision(10);
      s << v;
      std::string r = s.str();
      if (r.find_first_of(".eEn") == std::string::npos) r += ".0";  // keep it a float in YAML
      return r;
    } else if constexpr (std::is_same_v<T, std::map<std::string, double>>) {
      std::string r = "{";
      bool first = true;
      for (const auto& [k, x] : v) {
        r += (first ? "" : ", ") + k + ": " + format(x);
        first = false;
      }
      return r + "}";
    } else if constexpr (std::is_same_v<T, std::vector<std::string>> || std::is_same_v<T, std::vector<double>> ||
                         std::is_same_v<T, std::vector<int64_t>>) {
      std::string r = "[";
      for (size_t i = 0; i < v.size(); ++i) r += (i ? ", " : "") + format(v[i]);
      return r + "]";
    } else {
      return std::to_string(v);
    }
  }
  static std::string quote(const std::string& s) {
    YAML::Emitter e;
    e << YAML::DoubleQuoted << s;
    return e.c_str();
  }

  std::ostringstream out_;
  int depth_ = 0;
  bool with_docs_;
};

}  // namespace tips::config::detail
