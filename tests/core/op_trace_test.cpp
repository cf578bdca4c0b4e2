// OpTrace: the profiler's spans carry the ops' input shapes, nest (self time = own time less the ops called), and
// top_ops sums them per (op, shapes).
#include "tips/core/op_trace.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "tips/core/error.h"

namespace {

TEST(OpTrace, SpansCarryShapesAndSelfTimesNest) {
  const auto a = torch::randn({32, 16}), b = torch::randn({16, 8});
  std::vector<tips::OpSpan> spans;
  {
    tips::OpTrace trace;
    for (int i = 0; i < 3; ++i) (void)torch::matmul(a, b);  // aten::matmul calls aten::mm
    spans = trace.stop();
  }
  int mm = 0, matmul = 0;
  for (const auto& s : spans) {
    EXPECT_GE(s.self_us, -1e-6) << s.name;
    EXPECT_LE(s.self_us, s.dur_us + 1e-6) << s.name;
    if (s.name == "aten::mm") {
      ++mm;
      EXPECT_EQ(s.shapes, "[[32, 16], [16, 8]]");
    }
    if (s.name == "aten::matmul") {
      ++matmul;
      EXPECT_LT(s.self_us, s.dur_us) << "matmul's self time must exclude the mm it calls";
    }
  }
  EXPECT_EQ(mm, 3);
  EXPECT_EQ(matmul, 3);
  const auto rows = tips::top_ops(spans, 100);
  bool found = false;
  double total_self = 0, rows_self = 0;
  for (const auto& s : spans) total_self += s.self_us;
  for (const auto& r : rows) {
    rows_self += r.self_us;
    if (r.name != "aten::mm") continue;
    found = true;
    EXPECT_EQ(r.calls, 3);
  }
  EXPECT_TRUE(found);
  EXPECT_NEAR(rows_self, total_self, 1e-3);  // every span in exactly one row
  for (size_t i = 1; i < rows.size(); ++i) EXPECT_GE(rows[i - 1].self_us, rows[i].self_us);
  EXPECT_EQ(tips::top_ops(spans, 1).size(), 1u);
}

TEST(OpTrace, ChromeTraceIsEventJsonWithShapes) {
  tips::OpTrace trace;
  (void)torch::mm(torch::ones({4, 3}), torch::ones({3, 2}));
  const auto spans = trace.stop();
  const auto path = std::filesystem::temp_directory_path() / "tips_op_trace_test.json";
  tips::write_chrome_trace(spans, path.string());
  const auto j = nlohmann::json::parse(std::ifstream(path));
  std::filesystem::remove(path);
  bool mm = false;
  for (const auto& e : j.at("traceEvents")) {
    EXPECT_EQ(e.at("ph"), "X");
    if (e.at("name") == "aten::mm") mm = e.at("args").at("Input Dims") == "[[4, 3], [3, 2]]";
  }
  EXPECT_TRUE(mm);
  EXPECT_THROW(tips::write_chrome_trace(spans, "/nonexistent_dir/x.json"), tips::Error);
}

}  // namespace
