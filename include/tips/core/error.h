// tips/core/error.h - typed errors for everything a user controls (configs, data, checkpoints, ranks).
// Tensor invariants use TORCH_CHECK with shapes in the message; these types carry a `hint:` line.
// Only tools/tips.cpp catches them: ConfigError exits 2, every other tips::Error exits 1.
#pragma once
#include <stdexcept>
#include <string>

namespace tips {

class Error : public std::runtime_error {
 public:
  Error(const std::string& what, std::string hint = "")
      : std::runtime_error(what), hint_(std::move(hint)) {}
  const std::string& hint() const { return hint_; }
  // "what\nhint: ..." (the hint line only when there is one).
  std::string full_message() const {
    return hint_.empty() ? std::string(what()) : std::string(what()) + "\nhint: " + hint_;
  }
  virtual int exit_code() const { return 1; }

 private:
  std::string hint_;
};

// A config file, key, value or command-line override is wrong. `where` is "file:line:col" or "--set".
class ConfigError : public Error {
 public:
  using Error::Error;
  int exit_code() const override { return 2; }
};

// Input data is missing, unreadable or malformed beyond the configured skip budget.
class DataError : public Error {
 public:
  using Error::Error;
};

// A checkpoint or weight file is missing, corrupt, or does not match the model.
class CheckpointError : public Error {
 public:
  using Error::Error;
};

// A rank died, timed out, or the distributed environment is incomplete.
class DistError : public Error {
 public:
  using Error::Error;
};

// Training hit a non-finite loss/gradient under `train.nan_policy: stop`.
class NumericsError : public Error {
 public:
  using Error::Error;
};

}  // namespace tips
