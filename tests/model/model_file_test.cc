#include "model/model_file.h"
#include <cstring>
#include <filesystem>

#include <gtest/gtest.h>

#include "core/crc32c.h"
#include "testing/testing.h"

namespace freshet::model {
namespace {

using freshet::testing::ReadFile;
using freshet::testing::TempDir;
using freshet::testing::WriteFile;

ModelWriter Sample() {
  ModelWriter w;
  w.PutBytes("kind", "swing");
  std::vector<float> weights = {1.5f, -2.0f, 3.25f, 0.0f, 7.0f, 8.0f};
  w.PutF32("weights", weights, {2, 3});
  std::vector<uint32_t> ids = {4, 5, 6};
  w.PutU32("ids", ids);
  std::vector<int64_t> times = {-1, 1700000000000};
  w.PutI64("times", times);
  std::vector<double> d = {0.125};
  w.PutF64("d", d);
  return w;
}

TEST(ModelFileTest, RoundTripsEveryEntryType) {
  TempDir dir;
  const std::string path = dir.Sub("models/m.fmdl");
  ASSERT_TRUE(Sample().Commit(path).ok());
  auto r = ModelReader::Open(path);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(*r->Bytes("kind"), "swing");
  EXPECT_EQ(*r->F32("weights", 6), (std::vector<float>{1.5f, -2.0f, 3.25f, 0.0f, 7.0f, 8.0f}));
  EXPECT_EQ(*r->Shape("weights"), (std::vector<uint64_t>{2, 3}));
  EXPECT_EQ(*r->U32("ids"), (std::vector<uint32_t>{4, 5, 6}));
  EXPECT_EQ(*r->I64("times"), (std::vector<int64_t>{-1, 1700000000000}));
  EXPECT_EQ(*r->F64("d"), (std::vector<double>{0.125}));
  EXPECT_TRUE(r->Has("ids"));
  EXPECT_FALSE(r->Has("nope"));
  // No temporary file is left behind.
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir.path() / "models"),
                          std::filesystem::directory_iterator()),
            1);
}

TEST(ModelFileTest, HalfAndByteEntriesRoundTripAndCopyVerbatimInFileOrder) {
  TempDir dir;
  ModelWriter w = Sample();
  const std::vector<uint16_t> halves = {0x3c00, 0xc000, 0x7bff, 0x0001};
  w.PutF16("h", halves, {2, 2});
  const std::vector<int8_t> q = {-127, 0, 5, 127, -1};
  w.PutI8("q", q);
  ASSERT_TRUE(w.Commit(dir.Sub("a.fmdl")).ok());
  auto r = ModelReader::Open(dir.Sub("a.fmdl"));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(*r->F16("h", 4), halves);
  EXPECT_EQ(*r->Shape("h"), (std::vector<uint64_t>{2, 2}));
  EXPECT_EQ(*r->I8("q", 5), q);
  EXPECT_TRUE(r->I8("q", 4).status().IsCorruption());
  EXPECT_TRUE(r->F16("q", 5).status().IsCorruption());  // an i8 entry is not f16
  EXPECT_EQ(r->names(), (std::vector<std::string>{"kind", "weights", "ids", "times", "d", "h", "q"}));
  ModelWriter copy;
  for (const std::string& name : r->names()) copy.Copy(*r, name);
  EXPECT_EQ(copy.Encode(), w.Encode());
}

TEST(ModelFileTest, WrongTypeOrSizeOrMissingEntryIsNamed) {
  auto r = ModelReader::Decode(Sample().Encode(), "mem");
  ASSERT_TRUE(r.ok());
  auto wrong_type = r->U32("weights");
  ASSERT_FALSE(wrong_type.ok());
  EXPECT_NE(wrong_type.status().message().find("'weights' is f32"), std::string::npos);
  auto wrong_size = r->F32("weights", 5);
  ASSERT_FALSE(wrong_size.ok());
  EXPECT_NE(wrong_size.status().message().find("expected 5"), std::string::npos);
  auto missing = r->F32("bias");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("no entry 'bias'"), std::string::npos);
}

TEST(ModelFileTest, EveryFlippedByteIsDetected) {
  const std::string good = Sample().Encode();
  for (size_t i = 0; i < good.size(); ++i) {
    std::string bad = good;
    bad[i] = static_cast<char>(bad[i] ^ 0x40);
    auto r = ModelReader::Decode(bad, "flipped");
    EXPECT_FALSE(r.ok()) << "flip at byte " << i << " went unnoticed";
    if (!r.ok()) {
      EXPECT_TRUE(r.status().IsCorruption());
    }
  }
}

TEST(ModelFileTest, TruncationForeignFilesAndOtherVersionsAreClearErrors) {
  const std::string good = Sample().Encode();
  for (size_t n : {size_t{0}, size_t{7}, kModelHeaderBytes - 1, kModelHeaderBytes,
                   good.size() - 1}) {
    auto r = ModelReader::Decode(good.substr(0, n), "cut");
    ASSERT_FALSE(r.ok()) << n;
    EXPECT_TRUE(r.status().IsCorruption());
  }
  auto truncated = ModelReader::Decode(good.substr(0, good.size() - 3), "cut");
  EXPECT_NE(truncated.status().message().find("truncated"), std::string::npos)
      << truncated.status().message();

  auto foreign = ModelReader::Decode("PK\x03\x04 this is a zip file, not a model....", "x.zip");
  ASSERT_FALSE(foreign.ok());
  EXPECT_NE(foreign.status().message().find("not a freshet model file"), std::string::npos);
  EXPECT_NE(foreign.status().message().find("x.zip"), std::string::npos);

  // A future version with a valid header checksum: refused by version, not as damage.
  std::string future = good;
  uint32_t v = 99;
  std::memcpy(future.data() + 8, &v, 4);
  uint32_t crc = Crc32c(0, future.data(), kModelHeaderBytes - 4);
  std::memcpy(future.data() + kModelHeaderBytes - 4, &crc, 4);
  auto r = ModelReader::Decode(future, "future");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("unsupported format version 99"), std::string::npos)
      << r.status().message();
}

TEST(ModelFileTest, AMissingFileIsNotFound) {
  TempDir dir;
  auto r = ModelReader::Open(dir.Sub("absent.fmdl"));
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.status().IsNotFound());
}

}  // namespace
}  // namespace freshet::model
