// Plain byte-level BPE training (the algorithm behind BuildByteLevelBpeJson).
//
// Symbols start as the 256 GPT-2 byte characters, numbered 0..255 in code point order (as HF's
// BpeTrainer numbers its initial alphabet). Each step merges the adjacent pair with the highest
// total count over the weighted words (ties: smallest left id, then smallest right id); every
// occurrence is replaced left to right. A merge whose concatenation already exists reuses that
// token, so the vocabulary can be smaller than 256 + merges. Pure function; thread-safe.
#ifndef MNEME_ENGINE_TOKENIZER_BPE_TRAINER_H_
#define MNEME_ENGINE_TOKENIZER_BPE_TRAINER_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace mneme::tokenizer {

struct BpeTrainingResult {
  std::vector<std::string> vocab;                           // token of id i (byte-level form)
  std::vector<std::pair<std::string, std::string>> merges;  // in rank order
};

// `words`: pre-tokenized pieces (raw bytes) with positive counts; empty pieces are ignored.
// Learns at most `num_merges` merges (fewer when no adjacent pair is left).
BpeTrainingResult TrainByteLevelBpe(const std::vector<std::pair<std::string, int64_t>>& words,
                                    int num_merges);

}  // namespace mneme::tokenizer

#endif  // MNEME_ENGINE_TOKENIZER_BPE_TRAINER_H_
