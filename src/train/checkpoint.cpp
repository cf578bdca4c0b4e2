#include "tips/train/checkpoint.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <cstdio>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include "tips/core/error.h"
#include "tips/io/zip_check.h"

namespace fs = std::filesystem;

namespace tips::train {

std::string checkpoint_name(int64_t step) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "step_%08lld.ckpt", static_cast<long long>(step));
  return buf;
}

int64_t checkpoint_step(const fs::path& path) {
  static const std::regex re("step_([0-9]+)\\.ckpt");
  std::smatch m;
  const std::string name = path.filename().string();
  return std::regex_match(name, m, re) ? std::stoll(m[1]) : -1;
}

CheckpointWriter::CheckpointWriter() {
  put_int("meta/magic", kCheckpointMagic);
  put_int("meta/version", kCheckpointVersion);
}

void CheckpointWriter::put(const std::string& group,
                           const std::vector<std::pair<std::string, torch::Tensor>>& tensors) {
  for (const auto& [name, t] : tensors) put_tensor(group + "/" + name, t);
}

void CheckpointWriter::put(const std::string& group, const torch::OrderedDict<std::string, torch::Tensor>& tensors) {
  for (const auto& item : tensors) put_tensor(group + "/" + item.key(), item.value());
}

void CheckpointWriter::put_tensor(const std::string& key, const torch::Tensor& t) {
  root_.write(key, t.detach().to(torch::kCPU).contiguous(), /*is_buffer=*/true);
}

void CheckpointWriter::put_int(const std::string& key, int64_t value) { root_.write(key, c10::IValue(value)); }

void CheckpointWriter::put_string(const std::string& key, const std::string& value) {
  root_.write(key, c10::IValue(value));
}

torch::serialize::OutputArchive& CheckpointWriter::archive(const std::string& key) { return nested_[key]; }

namespace {
void fsync_path(const fs::path& p, int flags) {
  const int fd = ::open(p.c_str(), flags);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
}
}  // namespace

void CheckpointWriter::commit(const fs::path& path) {
  for (auto& [key, ar] : nested_) root_.write(key, ar);
  nested_.clear();
  const fs::path dir = path.parent_path().empty() ? fs::path(".") : path.parent_path();
  std::error_code ec;
  fs::create_directories(dir, ec);
  const fs::path tmp = path.string() + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0)
    throw CheckpointError("cannot open " + tmp.string() + " for writing: " + std::strerror(errno),
                          "check that " + dir.string() + " exists, is writable and has free space");
  int write_errno = 0;
  root_.save_to([&](const void* data, size_t n) -> size_t {
    // Never report a short write to LibTorch: its zip writer then throws from a destructor, which terminates the
    // process. The first failure is remembered and the rest of the archive is dropped.
    const char* p = static_cast<const char*>(data);
    for (size_t left = n; write_errno == 0 && left > 0;) {
      const ssize_t w = ::write(fd, p, left);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) write_errno = w < 0 ? errno : ENOSPC;
      else p += w, left -= static_cast<size_t>(w);
    }
    return n;
  });
  if (write_errno == 0 && ::fsync(fd) != 0) write_errno = errno;
  ::close(fd);
  if (write_errno != 0) {
    fs::remove(tmp, ec);
    throw CheckpointError("writing " + tmp.string() + " failed: " + std::strerror(write_errno) +
                              (write_errno == ENOSPC ? " (the disk holding " + dir.string() + " is full)" : ""),
                          "the partial file was removed and the previous checkpoints are intact; free space or "
                          "move train.run_dir (ckpt.on_write_error decides whether training goes on)");
  }
  fs::rename(tmp, path);  // atomic on POSIX: readers see the old file or the complete new one
  fsync_path(dir, O_RDONLY | O_DIRECTORY);
}

CheckpointReader::CheckpointReader(const fs::path& path) : path_(path) {
  if (!fs::exists(path)) throw CheckpointError(path.string() + ": checkpoint not found", "check the path or use --resume auto");
  io::check_zip_crcs(path.string());  // LibTorch's reader would accept flipped bytes silently
  torch::serialize::InputArchive ar;
  try {
    ar.load_from(path.string());
  } catch (const c10::Error& e) {
    throw CheckpointError(path.string() + ": not a readable checkpoint (truncated or corrupt)",
                          "use an older checkpoint; --resume auto skips corrupt ones");
  }
  c10::IValue v;
  if (!ar.try_read("meta/magic", v) || !v.isInt() || v.toInt() != kCheckpointMagic)
    throw CheckpointError(path.string() + ": not a tipsv2.cpp checkpoint (magic missing)", "");
  ar.read("meta/version", v);
  if (v.toInt() > kCheckpointVersion)
    throw CheckpointError(path.string() + ": checkpoint format version " + std::to_string(v.toInt()) +
                              " is newer than this build supports (" + std::to_string(kCheckpointVersion) + ")",
                          "update tipsv2.cpp");
  for (const auto& key : ar.keys()) {
    torch::Tensor t;
    if (ar.try_read(key, t, /*is_buffer=*/true)) {
      tensors_[key] = t;
      continue;
    }
    torch::serialize::InputArchive nested;
    if (ar.try_read(key, nested)) {
      nested_.emplace(key, std::move(nested));
      continue;
    }
    c10::IValue iv;
    ar.read(key, iv);
    if (iv.isInt()) tensors_[key] = torch::tensor(iv.toInt(), torch::kInt64);
    else if (iv.isString()) {
      const std::string& s = iv.toStringRef();
      tensors_[key] = torch::from_blob(const_cast<char*>(s.data()), {static_cast<int64_t>(s.size())}, torch::kUInt8).clone();
    }
  }
}

bool CheckpointReader::has(const std::string& key) const { return tensors_.count(key) || nested_.count(key); }

torch::Tensor CheckpointReader::tensor(const std::string& key) const {
  const auto it = tensors_.find(key);
  if (it == tensors_.end())
    throw CheckpointError(path_.string() + ": missing entry '" + key + "'", "the checkpoint is from an incompatible run");
  return it->second;
}

int64_t CheckpointReader::get_int(const std::string& key) const { return tensor(key).item<int64_t>(); }

std::string CheckpointReader::get_string(const std::string& key) const {
  const torch::Tensor t = tensor(key);
  return std::string(reinterpret_cast<const char*>(t.data_ptr<uint8_t>()), static_cast<size_t>(t.numel()));
}

std::map<std::string, torch::Tensor> CheckpointReader::group(const std::string& group) const {
  std::map<std::string, torch::Tensor> out;
  const std::string prefix = group + "/";
  for (const auto& [k, t] : tensors_)
    if (k.rfind(prefix, 0) == 0) out[k.substr(prefix.size())] = t;
  return out;
}

torch::serialize::InputArchive& CheckpointReader::archive(const std::string& key) {
  const auto it = nested_.find(key);
  if (it == nested_.end()) throw CheckpointError(path_.string() + ": missing archive '" + key + "'", "");
  return it->second;
}

void load_named(const std::map<std::string, torch::Tensor>& values,
                const torch::OrderedDict<std::string, torch::Tensor>& params, const std::string& what,
                const fs::path& file) {
  for (const auto& item : params) {
    const auto it = values.find(item.key());
    if (it == values.end())
      throw CheckpointError(file.string() + ": " + what + ": missing '" + item.key() + "'",
                            "the checkpoint was written for a different model config");
    if (it->second.sizes() != item.value().sizes()) {
      std::ostringstream msg;
      msg << file.string() << ": " << what << ": '" << item.key() << "' has shape " << it->second.sizes()
          << ", the model expects " << item.value().sizes();
      throw CheckpointError(msg.str(), "the checkpoint was written for a different model config");
    }
  }
  if (values.size() != params.size()) {
    for (const auto& [k, v] : values)
      if (!params.contains(k))
        throw CheckpointError(file.string() + ": " + what + ": unexpected entry '" + k + "'",
                              "the checkpoint was written for a different model config");
  }
  torch::NoGradGuard no_grad;
  for (const auto& item : params) item.value().copy_(values.at(item.key()));
}

std::vector<fs::path> list_checkpoints(const fs::path& dir) {
  std::vector<fs::path> out;
  if (!fs::is_directory(dir)) return out;
  for (const auto& e : fs::directory_iterator(dir))
    if (checkpoint_step(e.path()) >= 0) out.push_back(e.path());
  std::sort(out.begin(), out.end(), [](const fs::path& a, const fs::path& b) {
    return checkpoint_step(a) > checkpoint_step(b);
  });
  return out;
}

std::optional<fs::path> newest_valid_checkpoint(const fs::path& dir) {
  for (const auto& p : list_checkpoints(dir)) {
    try {
      CheckpointReader r(p);
      return p;
    } catch (const CheckpointError& e) {
      spdlog::warn("skipping unusable checkpoint: {}", e.what());
    }
  }
  return std::nullopt;
}

int64_t remove_partial_checkpoints(const fs::path& dir) {
  int64_t removed = 0;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    if (e.path().extension() != ".tmp") continue;
    spdlog::warn("removing {}: the partial file of an interrupted checkpoint write", e.path().string());
    std::error_code rm;
    removed += fs::remove(e.path(), rm) ? 1 : 0;
  }
  return removed;
}

void rotate_checkpoints(const fs::path& dir, int64_t keep_last, int64_t keep_every) {
  const auto all = list_checkpoints(dir);
  for (size_t i = static_cast<size_t>(std::max<int64_t>(keep_last, 1)); i < all.size(); ++i) {
    const int64_t step = checkpoint_step(all[i]);
    if (keep_every > 0 && step % keep_every == 0) continue;
    std::error_code ec;
    fs::remove(all[i], ec);
  }
}

}  // namespace tips::train
