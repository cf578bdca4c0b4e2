// tips/train/checkpoint.h - full training state in one file, written atomically, rotated keep-last-K.
//
// A checkpoint is a LibTorch archive holding named tensors ("student/vision/blocks.0.attn.qkv.weight", ...),
// nested archives (the optimizer), and a `meta/` group: magic + format version, step, the resolved config
// (YAML text), loader state. Write path: serialise to `<name>.tmp`, fsync, rename, fsync the folder; a kill at
// any point leaves the previous checkpoint valid. Reading verifies the magic and version and names the file.
//
// Example:
//   CheckpointWriter w;  w.put("student/vision", vit->named_parameters()); w.put_meta("step", step);
//   w.commit(run_dir / "checkpoints" / checkpoint_name(step));
#pragma once
#include <torch/torch.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace tips::train {

constexpr int64_t kCheckpointMagic = 0x5449505356324350;  // "TIPSV2CP"
constexpr int64_t kCheckpointVersion = 1;

// "step_00000100.ckpt" (zero padded so names sort by step).
std::string checkpoint_name(int64_t step);

class CheckpointWriter {
 public:
  CheckpointWriter();
  // Tensors are stored detached, contiguous, on CPU, under "<group>/<name>".
  void put(const std::string& group, const std::vector<std::pair<std::string, torch::Tensor>>& tensors);
  void put(const std::string& group, const torch::OrderedDict<std::string, torch::Tensor>& tensors);
  void put_tensor(const std::string& key, const torch::Tensor& t);
  void put_int(const std::string& key, int64_t value);
  void put_string(const std::string& key, const std::string& value);
  // A nested archive (e.g. an optimizer's own serialize()).
  torch::serialize::OutputArchive& archive(const std::string& key);
  // Serialise to path.tmp, fsync, rename over path, fsync the directory. Throws CheckpointError on I/O failure.
  void commit(const std::filesystem::path& path);

 private:
  torch::serialize::OutputArchive root_;
  std::map<std::string, torch::serialize::OutputArchive> nested_;
};

class CheckpointReader {
 public:
  // Throws CheckpointError when the file is missing, truncated, or not a tips checkpoint of a known version.
  explicit CheckpointReader(const std::filesystem::path& path);
  bool has(const std::string& key) const;
  torch::Tensor tensor(const std::string& key) const;   // throws CheckpointError naming the key
  int64_t get_int(const std::string& key) const;
  std::string get_string(const std::string& key) const;
  // All tensors stored under "<group>/", keyed by the remainder of the name.
  std::map<std::string, torch::Tensor> group(const std::string& group) const;
  torch::serialize::InputArchive& archive(const std::string& key);
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
  std::map<std::string, torch::Tensor> tensors_;
  std::map<std::string, torch::serialize::InputArchive> nested_;
};

// Copies `values` into `params` by name, strictly: same key set, same shapes. `what` names the group in errors.
void load_named(const std::map<std::string, torch::Tensor>& values,
                const torch::OrderedDict<std::string, torch::Tensor>& params, const std::string& what,
                const std::filesystem::path& file);

// Checkpoints in `dir`, newest step first (by file name; *.tmp leftovers ignored).
std::vector<std::filesystem::path> list_checkpoints(const std::filesystem::path& dir);

// The newest checkpoint in `dir` that opens and verifies; corrupt ones are logged and skipped. nullopt if none.
std::optional<std::filesystem::path> newest_valid_checkpoint(const std::filesystem::path& dir);

// Deletes the *.tmp leftovers of interrupted writes (logged); returns how many.
int64_t remove_partial_checkpoints(const std::filesystem::path& dir);

// Deletes all but the newest keep_last, keeping also every step that is a multiple of keep_every (> 0).
void rotate_checkpoints(const std::filesystem::path& dir, int64_t keep_last, int64_t keep_every);

// Step encoded in a checkpoint file name, or -1.
int64_t checkpoint_step(const std::filesystem::path& path);

}  // namespace tips::train
