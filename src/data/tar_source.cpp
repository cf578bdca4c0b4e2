// TarSource: per-epoch shard order, per-rank split, member grouping by key, shuffle buffer, replay resume.
#include "tips/data/tar_source.h"

#include <archive.h>
#include <archive_entry.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <filesystem>

#include "permutation.h"
#include "record_fields.h"
#include "tips/core/error.h"

namespace tips::data {

namespace {

namespace fs = std::filesystem;

constexpr int64_t kMaxMemberBytes = int64_t{256} << 20;  // a larger member is treated as corrupt
constexpr const char* kImageExts[] = {"jpg", "jpeg", "png", "webp"};

bool wanted_ext(const std::string& ext) {
  return ext == "txt" || ext == "json" || ext == "cls" ||
         std::find(std::begin(kImageExts), std::end(kImageExts), ext) != std::end(kImageExts);
}

}  // namespace

// Streams one shard; yields one item per key group, or one error item and stops on damage.
class TarSource::ShardReader {
 public:
  ShardReader(std::string path, const TarSourceOptions& opts) : path_(std::move(path)), opts_(opts) {
    name_ = fs::path(path_).filename().string();
    archive_ = archive_read_new();
    archive_read_support_filter_all(archive_);
    archive_read_support_format_tar(archive_);
    if (archive_read_open_filename(archive_, path_.c_str(), 1 << 16) != ARCHIVE_OK) fail(archive_error());
  }
  ~ShardReader() { archive_read_free(archive_); }
  ShardReader(const ShardReader&) = delete;
  ShardReader& operator=(const ShardReader&) = delete;

  std::optional<SourceItem> next_group() {
    if (!pending_) read_member();
    if (!pending_) {
      if (error_.empty()) return std::nullopt;
      SourceItem item;  // the shard itself is damaged: one error item, then the shard ends
      item.sample.key = name_;
      item.sample.image_path = path_;
      item.error = name_ + ": " + error_;
      error_.clear();
      return item;
    }
    std::vector<Member> group;
    const std::string key = pending_->key;
    while (pending_ && pending_->key == key) {
      group.push_back(std::move(*pending_));
      pending_.reset();
      read_member();
      if (member_failed_) {  // a damaged member spoils its group
        member_failed_ = false;
        SourceItem item;
        item.sample.key = name_ + "/" + key;
        item.sample.image_path = path_;
        item.error = name_ + ": " + key + ": " + error_;
        error_.clear();
        pending_.reset();
        return item;
      }
    }
    return assemble(key, group);
  }

 private:
  struct Member {
    std::string key, ext, data;
  };

  std::string archive_error() const {
    const char* msg = archive_error_string(archive_);
    return msg ? msg : "unreadable tar archive";
  }
  void fail(const std::string& why) {
    if (error_.empty()) error_ = why;
    done_ = true;
  }

  // Reads the next wanted member into pending_ (nullopt at the end or on damage).
  void read_member() {
    while (!done_) {
      archive_entry* entry = nullptr;
      const int r = archive_read_next_header(archive_, &entry);
      if (r == ARCHIVE_EOF) {
        done_ = true;
        return;
      }
      if (r != ARCHIVE_OK && r != ARCHIVE_WARN) return fail("corrupt or truncated tar (" + archive_error() + ")");
      if (archive_entry_filetype(entry) != AE_IFREG) continue;
      const std::string path = archive_entry_pathname(entry) ? archive_entry_pathname(entry) : "";
      const size_t slash = path.find_last_of('/');
      const size_t dot = path.find('.', slash == std::string::npos ? 0 : slash + 1);
      if (dot == std::string::npos) continue;
      Member m{path.substr(0, dot), path.substr(dot + 1), ""};
      std::transform(m.ext.begin(), m.ext.end(), m.ext.begin(), [](unsigned char c) { return std::tolower(c); });
      if (!wanted_ext(m.ext)) continue;  // libarchive skips the data on the next header read
      const int64_t size = archive_entry_size(entry);
      if (size > kMaxMemberBytes) {
        member_failed_ = true;
        return fail("member " + path + " is " + std::to_string(size) + " bytes (limit 256 MiB)");
      }
      m.data.resize(static_cast<size_t>(std::max<int64_t>(size, 0)));
      int64_t got = 0;
      while (got < size) {
        const la_ssize_t n = archive_read_data(archive_, m.data.data() + got, static_cast<size_t>(size - got));
        if (n <= 0) {
          member_failed_ = true;
          return fail("member " + path + " is truncated or corrupt (" + (n < 0 ? archive_error() : "short read") + ")");
        }
        got += n;
      }
      pending_ = std::move(m);
      return;
    }
  }

  SourceItem assemble(const std::string& key, std::vector<Member>& group) const {
    SourceItem item;
    RawSample& s = item.sample;
    s.key = name_ + "/" + key;
    Member* image = nullptr;
    for (const char* ext : kImageExts)
      for (auto& m : group)
        if (!image && m.ext == ext) image = &m;
    for (auto& m : group) {
      std::string why;
      if (m.ext == "txt") {
        while (!m.data.empty() && (m.data.back() == '\n' || m.data.back() == '\r')) m.data.pop_back();
        if (!m.data.empty()) s.captions[opts_.txt_field] = m.data;
      } else if (m.ext == "cls") {
        why = detail::parse_label_text(m.data, s.label);
      } else if (m.ext == "json") {
        std::string unused_image, unused_mask;
        try {
          why = detail::take_json_fields(nlohmann::json::parse(m.data), opts_.fields, s, unused_image, unused_mask);
        } catch (const nlohmann::json::exception& e) {
          why = std::string("invalid JSON (") + e.what() + ")";
        }
      }
      if (!why.empty()) {
        item.error = name_ + ": " + key + "." + m.ext + ": " + why;
        return item;
      }
    }
    if (!image) {
      item.error = name_ + ": " + key + ": no image member (.jpg/.jpeg/.png/.webp)";
      return item;
    }
    s.image_path = path_ + ":" + key + "." + image->ext;
    if (image->data.empty()) item.error = name_ + ": " + key + "." + image->ext + ": empty image member";
    s.image_bytes = std::move(image->data);
    return item;
  }

  std::string path_, name_;
  const TarSourceOptions& opts_;
  archive* archive_ = nullptr;
  std::optional<Member> pending_;
  bool done_ = false, member_failed_ = false;
  std::string error_;
};

TarSource::TarSource(std::vector<std::string> shards, TarSourceOptions opts, uint64_t seed, int rank, int world_size)
    : shards_(std::move(shards)), opts_(std::move(opts)), seed_(seed), rank_(rank), world_(world_size) {
  TORCH_CHECK(world_size >= 1 && rank >= 0 && rank < world_size, "TarSource: rank ", rank, " outside world_size ",
              world_size);
  if (opts_.shuffle_buffer < 1)
    throw DataError("tar source: shuffle_buffer = " + std::to_string(opts_.shuffle_buffer), "use >= 1");
  const auto missing = std::count_if(shards_.begin(), shards_.end(), [](const auto& p) { return !fs::exists(p); });
  if (shards_.empty() || missing == static_cast<std::ptrdiff_t>(shards_.size()))
    throw DataError("no tar shard found (" + std::to_string(shards_.size()) + " names" +
                        (shards_.empty() ? "" : ", first " + shards_.front()) + ")",
                    "check data.path, e.g. data/shards/{00000..00127}.tar");
  if (missing > 0)
    spdlog::warn("tar source: {} of {} shards are missing; each counts as one unreadable sample per epoch",
                 missing, shards_.size());
  if (strides_samples() && rank_ == 0)
    spdlog::info("tar source: {} shards for {} ranks: every rank reads every shard and keeps every {}-th sample",
                 shards_.size(), world_, world_);
  start_epoch(0);
}

TarSource::~TarSource() = default;

std::vector<std::string> TarSource::epoch_shards(int64_t epoch) const {
  const auto perm = detail::seeded_permutation(static_cast<int64_t>(shards_.size()),
                                               rng::derive(seed_, static_cast<uint64_t>(epoch)));
  std::vector<std::string> out;
  for (size_t i = 0; i < perm.size(); ++i)
    if (strides_samples() || static_cast<int>(i % world_) == rank_) out.push_back(shards_[perm[i]]);
  return out;
}

void TarSource::start_epoch(int64_t epoch) {
  state_ = {epoch, 0};
  epoch_shards_ = epoch_shards(epoch);
  next_shard_ = 0;
  stream_index_ = 0;
  reader_.reset();
  exhausted_ = false;
  buffer_.clear();
  buffer_rng_ = rng::SplitMix(rng::derive(seed_, static_cast<uint64_t>(epoch), static_cast<uint64_t>(rank_),
                                          /*stream=*/0x7a75ull));
}

std::optional<SourceItem> TarSource::pull() {
  while (true) {
    if (!reader_) {
      if (next_shard_ >= epoch_shards_.size()) return std::nullopt;
      reader_ = std::make_unique<ShardReader>(epoch_shards_[next_shard_++], opts_);
    }
    auto item = reader_->next_group();
    if (!item) {
      reader_.reset();
      continue;
    }
    if (strides_samples() && (stream_index_++ % world_) != rank_) continue;
    return item;
  }
}

SourceItem TarSource::next() {
  while (true) {
    while (!exhausted_ && static_cast<int64_t>(buffer_.size()) < opts_.shuffle_buffer) {
      auto item = pull();
      if (item) buffer_.push_back(std::move(*item));
      else exhausted_ = true;
    }
    if (!buffer_.empty()) break;
    if (state_.position == 0)
      throw DataError("tar source: rank " + std::to_string(rank_) + " got no samples in epoch " +
                          std::to_string(state_.epoch) + " from " + std::to_string(epoch_shards_.size()) + " shards",
                      "the shards are empty or hold no key groups; check data.path");
    last_epoch_size_ = state_.position;
    start_epoch(state_.epoch + 1);
  }
  const auto j = static_cast<size_t>(buffer_rng_.randint(0, static_cast<int64_t>(buffer_.size())));
  SourceItem out = std::move(buffer_[j]);
  if (j + 1 != buffer_.size()) buffer_[j] = std::move(buffer_.back());
  buffer_.pop_back();
  ++state_.position;
  return out;
}

void TarSource::restore(const SourceState& s) {
  if (s.epoch < 0 || s.position < 0)
    throw DataError("tar source: cannot restore epoch " + std::to_string(s.epoch) + " position " +
                        std::to_string(s.position), "the loader state in the checkpoint is corrupt");
  start_epoch(s.epoch);
  if (s.position > 0) spdlog::info("tar source: replaying {} samples of epoch {} to resume", s.position, s.epoch);
  for (int64_t i = 0; i < s.position; ++i) {
    next();
    if (state_.epoch != s.epoch)
      throw DataError("tar source: epoch " + std::to_string(s.epoch) + " has only " + std::to_string(i) +
                          " samples for rank " + std::to_string(rank_) + ", checkpoint says " +
                          std::to_string(s.position), "the shards or world size changed since the checkpoint");
  }
}

}  // namespace tips::data
