// Helpers for the data-source tests: a temporary folder and collecting a rank's epoch.
#pragma once
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "tips/data/source.h"

namespace tips::data::testing {

// A fresh folder under the system temp dir, named after the running test; removed at scope exit.
class TempDir {
 public:
  TempDir() {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    path_ = std::filesystem::temp_directory_path() /
            ("tips_" + std::string(info->test_suite_name()) + "_" + info->name() + "_" + std::to_string(::getpid()));
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  std::string operator/(const std::string& rel) const { return (path_ / rel).string(); }
  std::string str() const { return path_.string(); }

  // Writes `content` to dir/rel (creating parent folders) and returns the full path.
  std::string write(const std::string& rel, const std::string& content) const {
    const auto p = path_ / rel;
    std::filesystem::create_directories(p.parent_path());
    std::ofstream(p, std::ios::binary) << content;
    return p.string();
  }

 private:
  std::filesystem::path path_;
};

// Keys (and errors) of the rest of the current epoch; stops before the first item of the next epoch.
inline std::vector<std::string> rest_of_epoch(SampleSource& src, std::vector<std::string>* errors = nullptr) {
  std::vector<std::string> keys;
  const int64_t epoch = src.state().epoch;
  for (int guard = 0; guard < 100000; ++guard) {
    auto item = src.next();
    if (src.state().epoch != epoch) break;
    keys.push_back(item.sample.key);
    if (errors && !item.error.empty()) errors->push_back(item.error);
  }
  return keys;
}

inline std::vector<std::string> take_keys(SampleSource& src, int n) {
  std::vector<std::string> keys;
  for (int i = 0; i < n; ++i) keys.push_back(src.next().sample.key);
  return keys;
}

}  // namespace tips::data::testing
