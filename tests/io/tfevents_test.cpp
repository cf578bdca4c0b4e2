// TensorBoard event files, read back by an independent Python parser (record framing, masked CRC-32C, the Event
// and Summary wire format decoded by hand), and the CRC-32C against the standard check value.
#include "tips/io/tfevents.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "test_util.h"
#include "tips/train/metrics.h"

namespace {

// Python: read_events(path) reads every record of an event file (checking both CRCs), each as the list of (field,
// wire type, value) of its Event message; fields(buf) decodes any message the same way.
const std::string kReader = R"PY(
import struct, sys
def crc32c(data):
    c = 0xffffffff
    for b in data:
        c ^= b
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
    return c ^ 0xffffffff
def masked(data):
    c = crc32c(data)
    return (((c >> 15) | (c << 17)) + 0xa282ead8) & 0xffffffff
def varint(buf, i):
    v = s = 0
    while True:
        b = buf[i]; i += 1
        v |= (b & 0x7f) << s; s += 7
        if not b & 0x80: return v, i
def fields(buf):
    i, out = 0, []
    while i < len(buf):
        key, i = varint(buf, i)
        f, w = key >> 3, key & 7
        if w == 0: v, i = varint(buf, i)
        elif w == 1: v = buf[i:i+8]; i += 8
        elif w == 5: v = buf[i:i+4]; i += 4
        elif w == 2:
            n, i = varint(buf, i); v = buf[i:i+n]; i += n
        else: sys.exit("wire type %d" % w)
        out.append((f, w, v))
    return out
def read_events(path):
    data = open(path, "rb").read()
    i, events = 0, []
    while i < len(data):
        header = data[i:i+8]; (n,) = struct.unpack("<Q", header)
        assert struct.unpack("<I", data[i+8:i+12])[0] == masked(header), "length crc"
        payload = data[i+12:i+12+n]
        assert struct.unpack("<I", data[i+12+n:i+16+n])[0] == masked(payload), "payload crc"
        events.append(fields(payload)); i += 16 + n
    return events
)PY";

// CRC-32C's published check value: the CRC of the ASCII digits "123456789".
TEST(TfEvents, Crc32cCheckValue) {
  const std::string digits = "123456789";
  EXPECT_EQ(tips::io::crc32c(digits.data(), digits.size()), 0xE3069283u);
  EXPECT_EQ(tips::io::crc32c("", 0), 0u);
}

TEST(TfEvents, ScalarsReadBackByAnIndependentParser) {
  if (!TIPS_HAVE_TENSORBOARD) GTEST_SKIP() << "built without protobuf";
  tips::testing::TempDir dir;
  std::filesystem::path file;
  {
    tips::io::EventFileWriter tb(dir.file("tb"));
    tb.scalar("train/loss", 1, 4.25, 1000.5);
    tb.scalar("train/loss", 2, 3.5, 1001.5);
    tb.scalar("eval/seg/obj_miou", 2, 0.125, 1002.0);
    tb.flush();
    file = tb.path();
  }
  const std::string script = kReader + R"PY(
events = read_events(EVENT_FILE)
first = dict((f, v) for f, w, v in events[0])
assert first[3] == b"brain.Event:2", first
got = []
for ev in events[1:]:
    d = dict((f, v) for f, w, v in ev)
    wall = struct.unpack("<d", d[1])[0]
    summary = fields(d[5]); assert summary[0][0] == 1
    value = dict((f, v) for f, w, v in fields(summary[0][2]))
    got.append((value[1].decode(), d[2], struct.unpack("<f", value[2])[0], wall))
want = [("train/loss", 1, 4.25, 1000.5), ("train/loss", 2, 3.5, 1001.5), ("eval/seg/obj_miou", 2, 0.125, 1002.0)]
assert got == want, got
print("ok", len(events))
)PY";
  std::string output;
  ASSERT_EQ(tips::testing::run_python(dir, "EVENT_FILE = r'" + file.string() + "'\n" + script, &output), 0) << output;
  EXPECT_NE(output.find("ok 4"), std::string::npos) << output;
}

// A run logs steps 1-4 and stops; it resumes from its checkpoint of step 2 and logs steps 3-5. Later a new run (no
// resume) in the same folder logs steps 1-2. The reader replays TensorBoard's rule for a restarted run (a
// SessionLog START at step s drops the values stored so far at steps >= s, files read in name order): after the
// resume every step shows once, with the value of the run that trained it last; after the new run, only its steps.
TEST(TfEvents, RestartsShowEachStepOnce) {
  if (!TIPS_HAVE_TENSORBOARD) GTEST_SKIP() << "built without protobuf";
  tips::testing::TempDir dir;
  tips::train::MetricRecord r;
  const auto log_steps = [&](int64_t resumed_step, int64_t first, int64_t last, double base) {
    tips::train::MetricsLogger logger(dir.file("run"), true, resumed_step, /*tensorboard=*/true);
    for (int64_t step = first; step <= last; ++step) r.set("loss", base + step), logger.log(step, 5, r, 0.0);
  };
  const std::string reader = kReader + R"PY(
import os
tb = os.path.join(RUN_DIR, "tb")
files = sorted(f for f in os.listdir(tb) if "tfevents" in f)
shown, starts = [], []  # (step, value) in the order TensorBoard stores them
for name in files:
    for ev in read_events(os.path.join(tb, name)):
        d = dict((f, v) for f, w, v in ev)
        step = d.get(2, 0)
        if 7 in d:  # session_log
            status = dict((f, v) for f, w, v in fields(d[7]))[1]
            assert status == 1, status  # START
            starts.append(step)
            shown = [(s, v) for s, v in shown if s < step]
        elif 5 in d:
            value = dict((f, v) for f, w, v in fields(fields(d[5])[0][2]))
            assert value[1] == b"train/loss", value
            shown.append((step, struct.unpack("<f", value[2])[0]))
print("files", len(files), "starts", starts, "shown", shown)
)PY";
  const auto read_back = [&] {
    std::string output;
    EXPECT_EQ(tips::testing::run_python(dir, "RUN_DIR = r'" + dir.file("run") + "'\n" + reader, &output), 0) << output;
    return output;
  };
  log_steps(-1, 1, 4, 10.0);
  log_steps(/*resumed_step=*/2, 3, 5, 20.0);
  EXPECT_NE(read_back().find("files 2 starts [0, 3] shown [(1, 11.0), (2, 12.0), (3, 23.0), (4, 24.0), (5, 25.0)]"),
            std::string::npos);
  log_steps(-1, 1, 2, 30.0);
  const std::string fresh = read_back();
  EXPECT_NE(fresh.find("files 3 starts [0, 3, 0] shown [(1, 31.0), (2, 32.0)]\n"), std::string::npos) << fresh;
}

}  // namespace
