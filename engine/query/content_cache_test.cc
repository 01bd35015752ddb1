// The content cache against the index it mirrors: whatever the order of fetches, evictions and
// wraps of the ring, the rows written are the index's rows; hits are served without uploads.
#include "engine/query/content_cache.h"

#include <random>
#include <vector>

#include "gtest/gtest.h"
#include "kernels/test_util.h"

namespace mneme::query {
namespace {

constexpr int64_t kWidth = 16;

memory::MemoryIndex ContentIndex(int docs, int slots, uint32_t seed) {
  std::mt19937 rng(seed);
  memory::MemoryIndex index(slots, kWidth);
  for (int i = 0; i < docs; ++i) {
    memory::PooledDocument doc;
    doc.num_chunks = 1 + static_cast<int64_t>(rng() % 9);
    doc.num_tokens = doc.num_chunks * 64;
    for (int s = 0; s < slots; ++s) {
      doc.k.push_back(kernels::Random(static_cast<size_t>(doc.num_chunks * kWidth), rng()));
      doc.v.push_back(kernels::Random(static_cast<size_t>(doc.num_chunks * kWidth), rng()));
      doc.kr.push_back(kernels::Random(static_cast<size_t>(doc.num_chunks * kWidth), rng()));
    }
    EXPECT_TRUE(index.Append(std::move(doc), "d").ok());
  }
  return index;
}

// Fetches `docs` of `slot` and checks every row against the index.
void FetchAndCheck(kernels::Backend* be, ContentCache* cache, const memory::MemoryIndex& index, int slot,
                   const std::vector<int64_t>& docs) {
  int64_t rows = 0;
  for (int64_t d : docs) rows += index.num_chunks(d);
  auto k = be->Allocate(static_cast<size_t>(rows * kWidth) * sizeof(float));
  auto v = be->Allocate(static_cast<size_t>(rows * kWidth) * sizeof(float));
  ASSERT_TRUE(k.ok() && v.ok());
  ASSERT_TRUE(cache->Fetch(slot, docs, (*k)->f32(), (*v)->f32()).ok());
  int64_t at = 0;
  for (int64_t d : docs) {
    const int64_t n = index.num_chunks(d) * kWidth;
    for (int64_t i = 0; i < n; ++i) {
      ASSERT_EQ((*k)->f32()[at + i], index.k(slot, d)[i]) << "doc " << d << " slot " << slot;
      ASSERT_EQ((*v)->f32()[at + i], index.v(slot, d)[i]) << "doc " << d << " slot " << slot;
    }
    at += n;
  }
}

TEST(ContentCacheTest, HitsServeWithoutUploadingAgain) {
  kernels::OpaqueCpuBackend be;
  const memory::MemoryIndex index = ContentIndex(20, 2, 1);
  auto cache = ContentCache::Create(&be, &index, size_t{1} << 20);
  ASSERT_TRUE(cache.ok()) << cache.status();
  FetchAndCheck(&be, cache->get(), index, 0, {3, 5, 11});
  EXPECT_EQ((*cache)->stats().misses, 3);
  const size_t uploaded = be.uploaded;
  FetchAndCheck(&be, cache->get(), index, 0, {3, 11});
  EXPECT_EQ((*cache)->stats().hits, 2);
  EXPECT_EQ(be.uploaded, uploaded) << "a hit crossed the bus";
  FetchAndCheck(&be, cache->get(), index, 1, {3});  // another slot is another entry
  EXPECT_EQ((*cache)->stats().misses, 4);
}

// A ring smaller than the working set: random fetches keep wrapping and evicting, and every row
// written still equals the index's.
TEST(ContentCacheTest, WrapsAndEvictionsNeverServeStaleRows) {
  kernels::OpaqueCpuBackend be;
  const memory::MemoryIndex index = ContentIndex(60, 3, 2);
  // Room for a few entries: the largest entry is 2 * 9 chunks * 16 * 4 bytes = 1152 bytes.
  auto cache = ContentCache::Create(&be, &index, 5000);
  ASSERT_TRUE(cache.ok());
  std::mt19937 rng(3);
  for (int round = 0; round < 300; ++round) {
    std::vector<int64_t> docs;
    const int k = 1 + static_cast<int>(rng() % 6);
    while (static_cast<int>(docs.size()) < k) {
      const int64_t d = rng() % 12;  // a small hot set, so hits happen too
      if (std::find(docs.begin(), docs.end(), d) == docs.end()) docs.push_back(d);
    }
    FetchAndCheck(&be, cache->get(), index, static_cast<int>(rng() % 3), docs);
    ASSERT_LE((*cache)->cached_bytes(), (*cache)->budget_bytes());
  }
  EXPECT_GT((*cache)->stats().hits, 50);
  EXPECT_GT((*cache)->stats().misses, 50);
}

TEST(ContentCacheTest, AnEntryLargerThanTheRingBypassesIt) {
  kernels::OpaqueCpuBackend be;
  const memory::MemoryIndex index = ContentIndex(8, 1, 4);
  auto cache = ContentCache::Create(&be, &index, 200);  // smaller than any entry (>= 128 bytes per array)
  ASSERT_TRUE(cache.ok());
  FetchAndCheck(&be, cache->get(), index, 0, {0, 1, 2, 3, 4, 5, 6, 7});
  FetchAndCheck(&be, cache->get(), index, 0, {7, 2});
  EXPECT_EQ((*cache)->stats().hits, 0);
  EXPECT_GT((*cache)->stats().bypassed, 0);
  EXPECT_FALSE(ContentCache::Create(&be, &index, 0).ok());
}

}  // namespace
}  // namespace mneme::query
