// Writes the seed corpus of segment_decode_fuzzer: small valid segments of every codec, encoded
// under kSegmentSeedKey, one file per (codec, shape), named <codec>_<chunks>x<heads>x<dim>.seg.
//   segment_seed_writer OUT_DIR      (tests/fuzz/corpus/segment holds the committed output)
// Values are a deterministic function of the index (no RNG): reruns on one platform give
// identical files.
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "memory/segment_codec.h"
#include "tests/fuzz/segment_fuzz_key.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s OUT_DIR\n", argv[0]);
    return 2;
  }
  using mneme::memory::SegmentCodec;
  using mneme::memory::SegmentShape;
  const SegmentShape shapes[] = {{1, 2, 8}, {2, 2, 16}};
  for (SegmentCodec codec : {SegmentCodec::kBf16, SegmentCodec::kInt8, SegmentCodec::kFp8}) {
    for (const SegmentShape& s : shapes) {
      std::vector<float> k(s.values()), v(s.values()), kr(s.values());
      for (size_t i = 0; i < s.values(); ++i) {
        k[i] = std::sin(0.7f * i) * 2.0f;
        v[i] = std::cos(1.3f * i) * (i % 5 == 0 ? 40.0f : 0.01f);  // wide dynamic range
        kr[i] = i < s.head_dim ? 0.0f : 0.25f * (int(i % 9) - 4);  // first group all zero
      }
      auto bytes = mneme::memory::EncodeSegment(mneme::fuzz::kSegmentSeedKey, codec, s, k.data(),
                                                v.data(), kr.data());
      if (!bytes.ok()) {
        std::fprintf(stderr, "encode: %s\n", std::string(bytes.status().message()).c_str());
        return 1;
      }
      const std::string path = std::string(argv[1]) + "/" +
                               mneme::memory::SegmentCodecName(codec) + "_" +
                               std::to_string(s.chunks) + "x" + std::to_string(s.kv_heads) + "x" +
                               std::to_string(s.head_dim) + ".seg";
      std::FILE* f = std::fopen(path.c_str(), "wb");
      if (f == nullptr || std::fwrite(bytes->data(), 1, bytes->size(), f) != bytes->size() ||
          std::fclose(f) != 0) {
        std::perror(path.c_str());
        return 1;
      }
      std::printf("%s (%zu bytes)\n", path.c_str(), bytes->size());
    }
  }
  return 0;
}
