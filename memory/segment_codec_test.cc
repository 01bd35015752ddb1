#include "memory/segment_codec.h"

#include <cmath>
#include <random>

#include "common/half.h"
#include "gtest/gtest.h"
#include "memory/crc32c.h"

namespace mneme::memory {
namespace {

const SegmentKey kKey{0x3d97d4cb1f5f8386ull, 7, 0xe96a8a7ed7f076beull, 18};

struct Arrays {
  std::vector<float> k, v, kr;
};

Arrays RandomArrays(const SegmentShape& s, uint32_t seed, bool bf16_exact) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> g(0.0f, 0.7f);
  Arrays a;
  for (auto* x : {&a.k, &a.v, &a.kr}) {
    x->resize(s.values());
    for (float& f : *x) f = bf16_exact ? Bf16ToFloat(FloatToBf16(g(rng))) : g(rng);
  }
  return a;
}

TEST(Crc32cTest, KnownVectorsAndExtend) {
  EXPECT_EQ(Crc32c("123456789", 9), 0xE3069283u);  // the standard CRC-32C check value
  EXPECT_EQ(Crc32c("", 0), 0u);
  const std::string s = "The quick brown fox jumps over the lazy dog, twice over.";
  EXPECT_EQ(Crc32cExtend(Crc32c(s.data(), 13), s.data() + 13, s.size() - 13), Crc32c(s.data(), s.size()));
}

TEST(SegmentCodecTest, Bf16RoundTripIsExact) {
  const SegmentShape shape{5, 8, 128};
  Arrays a = RandomArrays(shape, 1, true);
  auto bytes = EncodeSegment(kKey, SegmentCodec::kBf16, shape, a.k.data(), a.v.data(), a.kr.data());
  ASSERT_TRUE(bytes.ok());
  EXPECT_EQ(bytes->size(), kSegmentHeaderBytes + 3 * shape.values() * 2 + 4);
  auto d = DecodeSegment(*bytes, kKey);
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->k, a.k);
  EXPECT_EQ(d->v, a.v);
  EXPECT_EQ(d->kr, a.kr);
  EXPECT_EQ(d->shape.chunks, 5u);
}

TEST(SegmentCodecTest, Int8IsWithinHalfAStepAndAboutHalfTheBytes) {
  const SegmentShape shape{9, 8, 128};
  Arrays a = RandomArrays(shape, 2, false);
  auto b16 = EncodeSegment(kKey, SegmentCodec::kBf16, shape, a.k.data(), a.v.data(), a.kr.data());
  auto b8 = EncodeSegment(kKey, SegmentCodec::kInt8, shape, a.k.data(), a.v.data(), a.kr.data());
  ASSERT_TRUE(b16.ok() && b8.ok());
  EXPECT_LT(double(b8->size()) / b16->size(), 0.52);  // 1 byte + 4/128 scale bytes vs 2
  auto d = DecodeSegment(*b8, kKey);
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->codec, SegmentCodec::kInt8);
  for (size_t g = 0; g < size_t{shape.chunks} * shape.kv_heads; ++g) {
    float amax = 0;
    for (size_t i = 0; i < shape.head_dim; ++i) amax = std::max(amax, std::fabs(a.v[g * 128 + i]));
    for (size_t i = 0; i < shape.head_dim; ++i) {
      ASSERT_NEAR(d->v[g * 128 + i], a.v[g * 128 + i], amax / 127 * 0.5001f);
    }
  }
}

TEST(SegmentCodecTest, WrongIdentityIsDataLoss) {
  const SegmentShape shape{2, 2, 16};
  Arrays a = RandomArrays(shape, 3, true);
  auto bytes = EncodeSegment(kKey, SegmentCodec::kBf16, shape, a.k.data(), a.v.data(), a.kr.data());
  ASSERT_TRUE(bytes.ok());
  for (int field = 0; field < 4; ++field) {
    SegmentKey other = kKey;
    if (field == 0) other.model_fingerprint ^= 1;
    if (field == 1) other.session_id ^= 1;
    if (field == 2) other.document_id ^= 1;
    if (field == 3) other.layer ^= 1;
    auto d = DecodeSegment(*bytes, other);
    EXPECT_EQ(d.status().code(), absl::StatusCode::kDataLoss) << field;
    EXPECT_NE(d.status().message().find("layer"), std::string::npos);
  }
}

TEST(SegmentCodecTest, EveryBitFlipAndTruncationIsDetected) {
  const SegmentShape shape{1, 2, 8};
  Arrays a = RandomArrays(shape, 4, true);
  for (SegmentCodec codec : {SegmentCodec::kBf16, SegmentCodec::kInt8}) {
    auto bytes = EncodeSegment(kKey, codec, shape, a.k.data(), a.v.data(), a.kr.data());
    ASSERT_TRUE(bytes.ok());
    for (size_t bit = 0; bit < bytes->size() * 8; ++bit) {
      std::string damaged = *bytes;
      damaged[bit / 8] = static_cast<char>(damaged[bit / 8] ^ (1 << (bit % 8)));
      ASSERT_EQ(DecodeSegment(damaged, kKey).status().code(), absl::StatusCode::kDataLoss) << bit;
    }
    for (size_t len = 0; len < bytes->size(); ++len) {
      ASSERT_EQ(DecodeSegment(bytes->substr(0, len), kKey).status().code(), absl::StatusCode::kDataLoss);
    }
    ASSERT_EQ(DecodeSegment(*bytes + "x", kKey).status().code(), absl::StatusCode::kDataLoss);
  }
}

TEST(SegmentCodecTest, RandomBytesNeverDecode) {
  std::mt19937 rng(5);
  for (int i = 0; i < 3000; ++i) {
    std::string junk(rng() % 300, '\0');
    for (char& c : junk) c = static_cast<char>(rng());
    if (i % 2 == 0 && junk.size() >= 4) junk.replace(0, 4, "MNSG");
    EXPECT_FALSE(DecodeSegment(junk, kKey).ok());
  }
}

TEST(SegmentCodecTest, RejectsBadInputToEncode) {
  std::vector<float> x(16, 1.0f);
  EXPECT_FALSE(EncodeSegment(kKey, SegmentCodec::kBf16, {0, 2, 8}, x.data(), x.data(), x.data()).ok());
  x[3] = NAN;
  EXPECT_FALSE(EncodeSegment(kKey, SegmentCodec::kBf16, {1, 2, 8}, x.data(), x.data(), x.data()).ok());
  EXPECT_FALSE(ParseSegmentCodec("fp4").ok());
  EXPECT_EQ(*ParseSegmentCodec("int8"), SegmentCodec::kInt8);
}

}  // namespace
}  // namespace mneme::memory
