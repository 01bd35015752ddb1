#include "memory/synthetic.h"

#include "absl/strings/str_format.h"
#include "common/status.h"

namespace mneme::memory {
namespace {

uint64_t Mix(uint64_t x) {  // splitmix64
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

}  // namespace

SessionInfo SyntheticSession(std::string name, int layers, int kv_heads, int head_dim) {
  SessionInfo s;
  s.name = std::move(name);
  s.model_dir = "/synthetic";
  s.fingerprint = "5e5e5e5e5e5e5e5e";
  for (int i = 0; i < layers; ++i) s.layers.push_back(i);
  s.kv_heads = kv_heads;
  s.head_dim = head_dim;
  return s;
}

absl::StatusOr<SyntheticDoc> MakeSyntheticDoc(const SessionInfo& session, int64_t ordinal, uint64_t seed,
                                              int chunks, int text_bytes) {
  SyntheticDoc d;
  uint64_t state = Mix(seed ^ Mix(static_cast<uint64_t>(ordinal) ^ Mix(session.id)));
  d.info.ordinal = ordinal;
  d.info.id = Mix(state);
  d.info.chunks = chunks;
  d.info.tokens = int64_t{chunks} * 64;
  d.info.source = absl::StrFormat("synthetic/%d", ordinal);
  d.info.codec = session.codec;
  static constexpr char kWords[][8] = {"sensor", "valve", "pump", "reading", "alarm", "nominal", "psi", "rpm"};
  while (static_cast<int>(d.text.size()) < text_bytes) {
    state = Mix(state);
    d.text += kWords[state % 8];
    d.text += ' ';
  }
  MNEME_ASSIGN_OR_RETURN(uint64_t fp, FingerprintValue(session.fingerprint));
  const SegmentShape shape{static_cast<uint32_t>(chunks), static_cast<uint16_t>(session.kv_heads),
                           static_cast<uint16_t>(session.head_dim)};
  std::vector<float> k(shape.values()), v(shape.values()), kr(shape.values());
  for (int layer : session.layers) {
    for (auto* a : {&k, &v, &kr}) {
      for (float& x : *a) {
        state = Mix(state);
        x = static_cast<float>(static_cast<double>(state >> 11) / 9007199254740992.0 * 4.0 - 2.0);
      }
    }
    const SegmentKey key{fp, session.id, d.info.id, static_cast<uint32_t>(layer)};
    MNEME_ASSIGN_OR_RETURN(std::string seg, EncodeSegment(key, session.codec, shape, k.data(), v.data(), kr.data()));
    d.segments.push_back(std::move(seg));
  }
  return d;
}

}  // namespace mneme::memory
