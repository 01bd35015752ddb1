#include "engine/tokenizer/tokenizer.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_format.h"
#include "common/file_util.h"
#include "common/status.h"
#include "engine/tokenizer/added_vocabulary.h"
#include "engine/tokenizer/bpe_model.h"
#include "engine/tokenizer/byte_level.h"
#include "engine/tokenizer/pre_tokenizer.h"
#include "engine/tokenizer/regex.h"
#include "engine/tokenizer/tokenizer_json.h"
#include "engine/tokenizer/unicode.h"

namespace mneme::tokenizer {

// Working memory of one Encode call (so the Tokenizer itself stays immutable).
struct Tokenizer::Scratch {
  std::vector<AddedSegment> raw_segments;
  std::vector<AddedSegment> normalized_segments;
  std::string normalized;
  PreTokenizer::Scratch pre;
  std::vector<std::string_view> pieces;
  std::string mapped;
  BpeModel::Scratch bpe;
};

Tokenizer::Tokenizer() = default;
Tokenizer::~Tokenizer() = default;

absl::StatusOr<std::unique_ptr<Tokenizer>> Tokenizer::FromFile(const std::string& path) {
  MNEME_ASSIGN_OR_RETURN(const std::string text, ReadFileToString(path));
  return FromJson(text, path);
}

absl::StatusOr<std::unique_ptr<Tokenizer>> Tokenizer::FromJson(std::string_view json_text,
                                                               std::string_view source_name) {
  MNEME_ASSIGN_OR_RETURN(TokenizerSpec spec, ParseTokenizerJson(json_text, source_name));
  std::unique_ptr<Tokenizer> tok(new Tokenizer());
  tok->nfc_ = spec.nfc;
  tok->pre_tokenizer_ = std::make_unique<PreTokenizer>();
  for (const PreTokenizerStepSpec& step : spec.pre_tokenizer) {
    if (step.kind == PreTokenizerStepSpec::Kind::kPrefixSpace) {
      tok->pre_tokenizer_->AddPrefixSpace();
      continue;
    }
    absl::StatusOr<std::unique_ptr<Regex>> regex = Regex::Compile(step.pattern, step.literal);
    if (!regex.ok()) return Annotate(regex.status(), source_name);
    tok->pre_tokenizer_->AddSplit(*std::move(regex));
  }
  absl::StatusOr<std::unique_ptr<BpeModel>> model =
      BpeModel::Create(std::move(spec.vocab), spec.merges, spec.bpe);
  if (!model.ok()) return Annotate(model.status(), source_name);
  tok->model_ = *std::move(model);
  absl::StatusOr<AddedVocabulary> added =
      AddedVocabulary::Build(spec.added_tokens, *tok->model_, spec.nfc);
  if (!added.ok()) return Annotate(added.status(), source_name);
  tok->added_ = std::make_unique<AddedVocabulary>(*std::move(added));
  tok->vocab_size_ = std::max(tok->model_->max_id(), tok->added_->max_id()) + 1;
  return tok;
}

absl::Status Tokenizer::EncodePlain(std::string_view text, Scratch* scratch,
                                    std::vector<int32_t>* ids) const {
  MNEME_RETURN_IF_ERROR(pre_tokenizer_->Split(text, &scratch->pre, &scratch->pieces));
  for (std::string_view piece : scratch->pieces) {
    scratch->mapped.clear();
    AppendByteLevel(piece, &scratch->mapped);
    model_->Tokenize(scratch->mapped, &scratch->bpe, ids);
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<int32_t>> Tokenizer::Encode(std::string_view text) const {
  if (const size_t bad = FindInvalidUtf8(text); bad != std::string_view::npos) {
    return absl::InvalidArgumentError(
        absl::StrFormat("Encode: text is not valid UTF-8 (ill-formed sequence at byte %d of %d)",
                        bad, text.size()));
  }
  Scratch scratch;
  std::vector<int32_t> ids;
  ids.reserve(text.size() / 3 + 1);
  added_->FindMatches(text, /*normalized_set=*/false, &scratch.raw_segments);
  for (const AddedSegment& segment : scratch.raw_segments) {
    if (segment.id >= 0) {
      ids.push_back(segment.id);
      continue;
    }
    std::string_view gap = text.substr(segment.begin, segment.end - segment.begin);
    if (gap.empty()) continue;
    if (nfc_ && !IsTriviallyNfc(gap)) {
      scratch.normalized.clear();
      MNEME_RETURN_IF_ERROR(AppendNfc(gap, &scratch.normalized));
      gap = scratch.normalized;
    }
    added_->FindMatches(gap, /*normalized_set=*/true, &scratch.normalized_segments);
    for (const AddedSegment& inner : scratch.normalized_segments) {
      if (inner.id >= 0) {
        ids.push_back(inner.id);
      } else if (inner.end > inner.begin) {
        MNEME_RETURN_IF_ERROR(
            EncodePlain(gap.substr(inner.begin, inner.end - inner.begin), &scratch, &ids));
      }
    }
  }
  return ids;
}

absl::StatusOr<std::string> Tokenizer::Decode(const std::vector<int32_t>& ids,
                                              bool skip_unknown) const {
  std::string bytes;
  for (const int32_t id : ids) {
    const std::string* token = added_->IdToToken(id);
    if (token == nullptr) token = model_->IdToToken(id);
    if (token == nullptr && skip_unknown) continue;
    if (token == nullptr) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "Decode: id %d is not in the vocabulary (vocab_size %d)", id, vocab_size_));
    }
    AppendByteLevelDecoded(*token, &bytes);
  }
  std::string text;
  AppendUtf8Lossy(bytes, &text);
  return text;
}

std::optional<int32_t> Tokenizer::TokenToId(std::string_view token) const {
  if (std::optional<int32_t> id = added_->TokenToId(token)) return id;
  return model_->TokenToId(token);
}

std::optional<std::string> Tokenizer::IdToToken(int32_t id) const {
  const std::string* token = added_->IdToToken(id);
  if (token == nullptr) token = model_->IdToToken(id);
  if (token == nullptr) return std::nullopt;
  return *token;
}

bool Tokenizer::IsSpecial(int32_t id) const { return added_->IsSpecial(id); }

}  // namespace mneme::tokenizer
