#include "memory/records.h"

#include <gtest/gtest.h>

namespace mneme::memory {
namespace {

SessionInfo Sample() {
  SessionInfo s;
  s.id = 0x1234567890abcdefull;
  s.name = "contracts";
  s.model_dir = "/models/tiny";
  s.fingerprint = "00ff00ff00ff00ff";
  s.top_k = 4;
  s.routed_layers = std::vector<int>{1, 2};
  s.layers = {1, 2};
  s.kv_heads = 2;
  s.head_dim = 16;
  s.retention.max_documents = 10;
  return s;
}

TEST(RecordsTest, SessionRoundTrips) {
  const SessionInfo s = Sample();
  auto back = DecodeSession(SessionKey(s.id), EncodeSession(s));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->name, "contracts");
  EXPECT_EQ(back->top_k, 4);
  EXPECT_FALSE(back->pooling.has_value());
  EXPECT_EQ(*back->routed_layers, (std::vector<int>{1, 2}));
  EXPECT_EQ(back->retention.max_documents, 10);
}

TEST(RecordsTest, RecordUnderAnotherKeyNeverVerifies) {
  const SessionInfo s = Sample();
  auto wrong = DecodeSession(SessionKey(s.id + 1), EncodeSession(s));
  EXPECT_EQ(wrong.status().code(), absl::StatusCode::kDataLoss);
  DocumentInfo d;
  d.ordinal = 3;
  d.id = 77;
  const std::string v = EncodeDocument(s.id, d);
  EXPECT_TRUE(DecodeDocument(DocumentKey(s.id, 3), v).ok());
  EXPECT_EQ(DecodeDocument(DocumentKey(s.id, 4), v).status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(DecodeDocument(DocumentKey(s.id + 1, 3), v).status().code(), absl::StatusCode::kDataLoss);
}

TEST(RecordsTest, EveryBitFlipAndTruncationIsDetected) {
  DocumentInfo d;
  d.ordinal = 5;
  d.id = 0xfeed;
  d.tokens = 130;
  d.chunks = 3;
  d.source = "a.txt";
  d.tags = {"x", "y"};
  const std::string key = DocumentKey(9, 5);
  const std::string v = EncodeDocument(9, d);
  for (size_t byte = 0; byte < v.size(); ++byte) {
    for (int bit = 0; bit < 8; ++bit) {
      std::string bad = v;
      bad[byte] = static_cast<char>(bad[byte] ^ (1 << bit));
      EXPECT_FALSE(DecodeDocument(key, bad).ok()) << byte << ":" << bit;
    }
  }
  for (size_t n = 0; n < v.size(); ++n) EXPECT_FALSE(DecodeDocument(key, v.substr(0, n)).ok()) << n;
}

TEST(RecordsTest, KeysSortInSessionOrdinalLayerOrder) {
  EXPECT_LT(DocumentKey(1, 255), DocumentKey(1, 256));
  EXPECT_LT(DocumentKey(1, 1000000), DocumentKey(2, 0));
  EXPECT_LT(SegmentKeyBytes(1, 2, 300), SegmentKeyBytes(1, 3, 0));
  EXPECT_LT(SegmentKeyBytes(7, 2, 3), SessionPrefix(8));
}

TEST(RecordsTest, FingerprintValueParsesHexOnly) {
  EXPECT_EQ(*FingerprintValue("00ff"), 255u);
  EXPECT_FALSE(FingerprintValue("xyz").ok());
  EXPECT_FALSE(FingerprintValue("").ok());
  EXPECT_FALSE(FingerprintValue("00000000000000000").ok());
}

TEST(RecordsTest, StoreRecordVersionIsChecked) {
  EXPECT_TRUE(CheckStoreRecord(EncodeStoreRecord(1)).ok());
  std::string bad = EncodeStoreRecord(1);
  bad[0] ^= 1;
  EXPECT_FALSE(CheckStoreRecord(bad).ok());
}

}  // namespace
}  // namespace mneme::memory
