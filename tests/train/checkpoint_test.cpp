#include "tips/train/checkpoint.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "tips/core/error.h"
#include "tips/train/metrics.h"

namespace {

namespace fs = std::filesystem;
using namespace tips::train;

fs::path fresh_dir(const std::string& name) {
  const fs::path d = fs::temp_directory_path() / ("tips_ckpt_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

TEST(Checkpoint, RoundTripTensorsIntsStringsAndNestedArchives) {
  const fs::path dir = fresh_dir("roundtrip");
  torch::nn::Linear lin(3, 2);
  CheckpointWriter w;
  w.put("student/vision", lin->named_parameters());
  w.put_int("meta/step", 42);
  w.put_string("meta/config", "train:\n  steps: 5\n");
  w.archive("optimizer").write("x", torch::arange(4), /*is_buffer=*/true);
  w.commit(dir / checkpoint_name(42));

  CheckpointReader r(dir / checkpoint_name(42));
  EXPECT_EQ(r.get_int("meta/step"), 42);
  EXPECT_EQ(r.get_string("meta/config"), "train:\n  steps: 5\n");
  torch::nn::Linear other(3, 2);
  load_named(r.group("student/vision"), other->named_parameters(), "student/vision", r.path());
  EXPECT_TRUE(torch::equal(other->weight, lin->weight));
  EXPECT_TRUE(torch::equal(other->bias, lin->bias));
  torch::Tensor x;
  r.archive("optimizer").read("x", x, true);
  EXPECT_TRUE(torch::equal(x, torch::arange(4)));
}

TEST(Checkpoint, StrictLoadNamesTheMismatch) {
  const fs::path dir = fresh_dir("strict");
  CheckpointWriter w;
  w.put("m", torch::nn::Linear(3, 2)->named_parameters());
  w.commit(dir / "step_00000001.ckpt");
  CheckpointReader r(dir / "step_00000001.ckpt");
  try {
    load_named(r.group("m"), torch::nn::Linear(4, 2)->named_parameters(), "m", r.path());
    FAIL() << "expected CheckpointError";
  } catch (const tips::CheckpointError& e) {
    EXPECT_NE(std::string(e.what()).find("'weight' has shape [2, 3], the model expects [2, 4]"), std::string::npos)
        << e.what();
  }
}

TEST(Checkpoint, CorruptAndForeignFilesAreRejectedAndAutoResumeSkipsThem) {
  const fs::path dir = fresh_dir("corrupt");
  CheckpointWriter w;
  w.put_int("meta/step", 10);
  w.commit(dir / checkpoint_name(10));
  // A newer but truncated checkpoint (as a kill mid-copy by an external tool would leave) and a stray tmp.
  const auto good = dir / checkpoint_name(10);
  const auto size = fs::file_size(good);
  fs::copy_file(good, dir / checkpoint_name(20));
  fs::resize_file(dir / checkpoint_name(20), size / 2);
  std::ofstream(dir / (checkpoint_name(30) + ".tmp")) << "partial";
  EXPECT_THROW(CheckpointReader(dir / checkpoint_name(20)), tips::CheckpointError);
  const auto newest = newest_valid_checkpoint(dir);
  ASSERT_TRUE(newest.has_value());
  EXPECT_EQ(newest->filename(), checkpoint_name(10));
  std::ofstream(dir / "step_00000040.ckpt") << "not an archive";
  EXPECT_THROW(CheckpointReader(dir / "step_00000040.ckpt"), tips::CheckpointError);
  EXPECT_THROW(CheckpointReader(dir / "missing.ckpt"), tips::CheckpointError);
}

TEST(Checkpoint, RotationKeepsLastKAndEveryNth) {
  const fs::path dir = fresh_dir("rotate");
  for (int64_t step : {100, 200, 300, 400, 500, 600}) {
    CheckpointWriter w;
    w.put_int("meta/step", step);
    w.commit(dir / checkpoint_name(step));
  }
  rotate_checkpoints(dir, /*keep_last=*/2, /*keep_every=*/300);
  std::vector<int64_t> steps;
  for (const auto& p : list_checkpoints(dir)) steps.push_back(checkpoint_step(p));
  EXPECT_EQ(steps, (std::vector<int64_t>{600, 500, 300}));
}

TEST(Metrics, EtaUsesMedianStepTimeAndFormats) {
  EtaEstimator eta(5);
  for (double t : {10.0, 1.0, 1.0, 1.0, 2.0}) eta.tick(t);  // a slow first step must not dominate
  EXPECT_DOUBLE_EQ(eta.eta_seconds(100), 100.0);
  EXPECT_EQ(format_duration(42), "42s");
  EXPECT_EQ(format_duration(185), "3m05s");
  EXPECT_EQ(format_duration(3720), "1h02m");
}

// Flipped bytes inside a member: LibTorch's reader would load them, the CRC check refuses the file, and --resume
// auto falls back to the previous checkpoint.
TEST(Checkpoint, FlippedBytesAreRefusedAndAutoFallsBack) {
  const fs::path dir = fresh_dir("crc");
  for (int64_t step : {1, 2}) {
    CheckpointWriter w;
    w.put_tensor("student/w", torch::arange(20000, torch::kFloat) * static_cast<double>(step));
    w.put_int("meta/step", step);
    w.commit(dir / checkpoint_name(step));
  }
  const fs::path bad = dir / checkpoint_name(2);
  {
    std::fstream f(bad, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(fs::file_size(bad) / 2));
    const std::string junk(64, '\x5a');
    f.write(junk.data(), static_cast<std::streamsize>(junk.size()));
  }
  try {
    CheckpointReader r(bad);
    FAIL() << "a corrupt checkpoint was accepted";
  } catch (const tips::CheckpointError& e) {
    EXPECT_NE(std::string(e.what()).find("corrupt"), std::string::npos) << e.what();
  }
  const auto newest = newest_valid_checkpoint(dir);
  ASSERT_TRUE(newest.has_value());
  EXPECT_EQ(newest->filename(), checkpoint_name(1));
}

// A full disk (here: a file-size limit, which fails write() the same way without root or a tmpfs) is a
// CheckpointError naming the cause; the partial file is removed and the earlier checkpoint survives.
TEST(Checkpoint, FailedWriteRemovesThePartialFileAndKeepsTheOldOne) {
  const fs::path dir = fresh_dir("full");
  CheckpointWriter small;
  small.put_tensor("w", torch::zeros({10}));
  small.commit(dir / checkpoint_name(1));
  struct rlimit old {};
  ::getrlimit(RLIMIT_FSIZE, &old);
  ::signal(SIGXFSZ, SIG_IGN);  // write() then fails with EFBIG instead of killing the process
  struct rlimit limit = old;
  limit.rlim_cur = 256 * 1024;
  ::setrlimit(RLIMIT_FSIZE, &limit);
  CheckpointWriter big;
  big.put_tensor("w", torch::zeros({1 << 20}));  // 4 MiB
  try {
    big.commit(dir / checkpoint_name(2));
    ::setrlimit(RLIMIT_FSIZE, &old);
    FAIL() << "the write beyond the limit succeeded";
  } catch (const tips::CheckpointError& e) {
    ::setrlimit(RLIMIT_FSIZE, &old);
    EXPECT_NE(std::string(e.what()).find("failed"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(fs::exists(dir / (checkpoint_name(2) + ".tmp")));
  EXPECT_FALSE(fs::exists(dir / checkpoint_name(2)));
  EXPECT_NO_THROW(CheckpointReader(dir / checkpoint_name(1)));
}

TEST(Metrics, JsonlLinesHoldEveryValue) {
  const fs::path dir = fresh_dir("metrics");
  {
    MetricsLogger m(dir, true, /*resumed_step=*/-1);
    MetricRecord r;
    r.set("loss", 1.5);
    r.set("lr", 1e-3);
    r.set("loss_dino", std::nan(""));
    m.log(1, 10, r, 5.0);
    m.event(1, "checkpoint", r);
  }
  std::ifstream in(dir / "metrics.jsonl");
  std::string l1, l2;
  std::getline(in, l1);
  std::getline(in, l2);
  EXPECT_EQ(l1, R"({"loss":1.5,"loss_dino":"nan","lr":0.001,"step":1})");
  EXPECT_NE(l2.find(R"("event":"checkpoint")"), std::string::npos);
}

// A resume from the checkpoint of step 2 drops the records of steps 3 and 4 (trained again) and appends.
TEST(Metrics, ResumeDropsTheRecordsAfterTheCheckpoint) {
  const fs::path dir = fresh_dir("metrics_resume");
  MetricRecord r;
  r.set("loss", 1.0);
  {
    MetricsLogger m(dir, true, -1);
    for (int64_t step = 1; step <= 4; ++step) m.log(step, 10, r, 0.0);
    m.event(2, "eval", r);
  }
  {
    MetricsLogger m(dir, true, /*resumed_step=*/2);
    m.log(3, 10, r, 0.0);
  }
  std::ifstream in(dir / "metrics.jsonl");
  std::vector<int64_t> steps;
  for (std::string line; std::getline(in, line);) steps.push_back(nlohmann::json::parse(line)["step"].get<int64_t>());
  EXPECT_EQ(steps, (std::vector<int64_t>{1, 2, 2, 3}));
  EXPECT_THROW(MetricsLogger(dir / "metrics.jsonl" / "x", true, -1), std::exception);  // not a directory
}

}  // namespace
