// tests/io/test_util.h - helpers shared by the io / tokenizer tests: a self-deleting temp dir and a runner
// for Debian's python3 (the one with numpy and torch; `python3` on PATH may be a different interpreter).
#pragma once
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

namespace tips::testing {

class TempDir {
 public:
  TempDir() {
    static std::atomic<int> counter{0};
    path_ = std::filesystem::temp_directory_path() /
            ("tips_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string file(const std::string& name) const { return (path_ / name).string(); }
  std::string str() const { return path_.string(); }

 private:
  std::filesystem::path path_;
};

inline void write_text(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

inline std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// Runs `script` with the tests' python (TIPS_PYTHON: Debian's python3, or the GPU machine's venv) in `dir`; returns its exit status and puts stdout+stderr in *output.
inline int run_python(const TempDir& dir, const std::string& script, std::string* output) {
  const std::string py = dir.file("script.py"), log = dir.file("script.log");
  write_text(py, script);
  const std::string cmd = "cd '" + dir.str() + "' && '" TIPS_PYTHON "' '" + py + "' > '" + log + "' 2>&1";
  const int rc = std::system(cmd.c_str());
  *output = read_text(log);
  return rc;
}

}  // namespace tips::testing
