#include "tips/data/tokenizer.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <sstream>
#include <thread>

#include "../io/test_util.h"
#include "tips/core/error.h"

namespace {

using tips::data::Tokenizer;
using ScratchDir = tips::testing::TempDir;  // not "TempDir": the data tests have their own (unity batches)

// A deterministic caption corpus: every (colour, animal, place) combination, some in upper case.
std::string make_corpus() {
  const char* colours[] = {"red", "green", "blue", "black", "white", "brown", "small", "big"};
  const char* animals[] = {"dog", "cat", "horse", "bird", "sheep", "cow", "fish", "fox"};
  const char* places[] = {"on the grass", "in the water", "near a tree", "under the sky", "in a room"};
  std::ostringstream out;
  int n = 0;
  for (const char* c : colours)
    for (const char* a : animals)
      for (const char* p : places) {
        std::string line = std::string("a ") + c + " " + a + " " + p;
        if (++n % 3 == 0)
          for (char& ch : line) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
        out << line << "\n";
      }
  return out.str();
}

class TokenizerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new ScratchDir;
    tips::testing::write_text(dir_->file("corpus.txt"), make_corpus());
    tips::data::train_tokenizer({dir_->file("corpus.txt"), dir_->file("tok"), kVocab, "unigram"});
  }
  static void TearDownTestSuite() { delete dir_; }
  static std::string model() { return dir_->file("tok.model"); }

  // Ids from the reference `spm_encode` command-line tool (a second implementation of encoding).
  static std::vector<int64_t> spm_encode(const std::string& text) {
    tips::testing::write_text(dir_->file("in.txt"), text + "\n");
    const std::string cmd = "spm_encode --model='" + model() + "' --output_format=id < '" + dir_->file("in.txt") +
                            "' > '" + dir_->file("out.txt") + "'";
    EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd;
    std::istringstream in(tips::testing::read_text(dir_->file("out.txt")));
    std::vector<int64_t> ids;
    for (int64_t id; in >> id;) ids.push_back(id);
    return ids;
  }

  static constexpr int64_t kVocab = 40;
  static ScratchDir* dir_;
};
ScratchDir* TokenizerTest::dir_ = nullptr;

TEST_F(TokenizerTest, TrainedModelHasPadAtZeroAndRequestedSize) {
  const Tokenizer tok = Tokenizer::load(model());
  EXPECT_EQ(tok.vocab_size(), kVocab);
  const std::string vocab = tips::testing::read_text(dir_->file("tok.vocab"));
  EXPECT_EQ(vocab.rfind("<pad>\t", 0), 0u) << vocab.substr(0, 40);          // first line = id 0
  EXPECT_NE(vocab.find("\n<unk>\t"), std::string::npos);
  EXPECT_EQ(vocab.find("<s>"), std::string::npos);                          // no BOS / EOS pieces
}

TEST_F(TokenizerTest, EncodeMatchesSpmEncodePaddedWithZeros) {
  const Tokenizer tok = Tokenizer::load(model());
  const char* texts[] = {"a red dog on the grass", "a white fox near a tree", "a zebra", "fish"};
  for (const char* text : texts) {
    SCOPED_TRACE(text);
    const std::vector<int64_t> want = spm_encode(text);
    ASSERT_FALSE(want.empty());
    ASSERT_LT(want.size(), 32u);
    const std::vector<int64_t> got = tok.encode_one(text, 32);
    ASSERT_EQ(got.size(), 32u);
    for (size_t i = 0; i < 32; ++i) EXPECT_EQ(got[i], i < want.size() ? want[i] : 0) << "position " << i;
    for (int64_t id : want) {  // no real token uses the padding id
      EXPECT_GT(id, 0);
      EXPECT_LT(id, kVocab);
    }
  }
}

TEST_F(TokenizerTest, TruncatesToMaxLen) {
  const Tokenizer tok = Tokenizer::load(model());
  const std::string text = "a red dog on the grass and a blue cat in the water near a tree";
  const std::vector<int64_t> full = spm_encode(text);
  ASSERT_GT(full.size(), 5u);
  const std::vector<int64_t> got = tok.encode_one(text, 5);
  EXPECT_EQ(got, std::vector<int64_t>(full.begin(), full.begin() + 5));
}

TEST_F(TokenizerTest, LowerCasesInput) {
  const Tokenizer tok = Tokenizer::load(model());
  const struct {
    const char* upper;
    const char* lower;
  } cases[] = {{"A DOG", "a dog"}, {"A Red Fox Near A Tree", "a red fox near a tree"}, {"BIRD", "bird"}};
  for (const auto& c : cases) {
    SCOPED_TRACE(c.upper);
    EXPECT_EQ(tok.encode_one(c.upper, 12), tok.encode_one(c.lower, 12));
    EXPECT_EQ(tok.encode_one(c.lower, 12)[0], spm_encode(c.lower)[0]);
  }
}

TEST_F(TokenizerTest, BatchEncodeStacksRows) {
  const Tokenizer tok = Tokenizer::load(model());
  const std::vector<std::string> texts = {"a cat", "a big brown horse in a room", ""};
  const torch::Tensor ids = tok.encode(texts, 8);
  ASSERT_EQ(ids.sizes(), (std::vector<int64_t>{3, 8}));
  EXPECT_EQ(ids.scalar_type(), torch::kLong);
  for (size_t b = 0; b < texts.size(); ++b) {
    SCOPED_TRACE(texts[b]);
    EXPECT_TRUE(torch::equal(ids[static_cast<int64_t>(b)], torch::tensor(tok.encode_one(texts[b], 8))));
  }
  EXPECT_EQ(ids[2].sum().item<int64_t>(), 0);  // empty text = all padding
}

TEST_F(TokenizerTest, ConcurrentEncodeGivesSameIds) {
  const Tokenizer tok = Tokenizer::load(model());
  const std::vector<std::string> texts = {"a red dog on the grass", "A WHITE FOX", "a cow in the water", "bird"};
  std::vector<std::vector<int64_t>> want;
  for (const auto& t : texts) want.push_back(tok.encode_one(t, 10));
  std::vector<int> mismatches(4, 0);
  std::vector<std::thread> threads;
  for (int w = 0; w < 4; ++w)
    threads.emplace_back([&, w] {
      for (int i = 0; i < 300; ++i) {
        const size_t k = static_cast<size_t>(i + w) % texts.size();
        mismatches[static_cast<size_t>(w)] += tok.encode_one(texts[k], 10) != want[k];
      }
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(mismatches, std::vector<int>(4, 0));
}

TEST_F(TokenizerTest, BpeModelAlsoTrains) {
  ScratchDir dir;
  tips::data::train_tokenizer({dir_->file("corpus.txt"), dir.file("bpe"), 36, "bpe"});
  const Tokenizer tok = Tokenizer::load(dir.file("bpe.model"));
  EXPECT_EQ(tok.vocab_size(), 36);
  EXPECT_EQ(tok.encode_one("A DOG", 6), tok.encode_one("a dog", 6));
}

TEST_F(TokenizerTest, UserMistakesThrowDataError) {
  ScratchDir dir;
  tips::testing::write_text(dir.file("tiny.txt"), "a dog\na cat\n");
  EXPECT_THROW(Tokenizer::load(dir.file("missing.model")), tips::DataError);
  EXPECT_THROW(Tokenizer::load(dir_->file("tok.vocab")), tips::DataError);  // the text vocab, not the model
  EXPECT_THROW(tips::data::train_tokenizer({dir.file("missing.txt"), dir.file("m"), 50, "unigram"}), tips::DataError);
  EXPECT_THROW(tips::data::train_tokenizer({dir.file("tiny.txt"), dir.file("m"), 50, "wordpiece"}), tips::DataError);
  try {
    tips::data::train_tokenizer({dir.file("tiny.txt"), dir.file("m"), 5000, "unigram"});
    ADD_FAILURE() << "no error for a vocabulary larger than the corpus allows";
  } catch (const tips::DataError& e) {
    EXPECT_NE(e.hint().find("smaller --vocab-size"), std::string::npos) << e.full_message();
  }
}

}  // namespace
