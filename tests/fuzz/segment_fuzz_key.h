// The identity the segment seeds are encoded under (segment_seed_writer) and the fixed key
// segment_decode_fuzzer decodes with, so seeds reach past the identity check.
#ifndef MNEME_TESTS_FUZZ_SEGMENT_FUZZ_KEY_H_
#define MNEME_TESTS_FUZZ_SEGMENT_FUZZ_KEY_H_

#include "memory/segment_codec.h"

namespace mneme::fuzz {

inline constexpr memory::SegmentKey kSegmentSeedKey{0x3d97d4cb1f5f8386ull, 7,
                                                    0xe96a8a7ed7f076beull, 18};

}  // namespace mneme::fuzz

#endif  // MNEME_TESTS_FUZZ_SEGMENT_FUZZ_KEY_H_
