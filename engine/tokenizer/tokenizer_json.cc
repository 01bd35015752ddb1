#include "engine/tokenizer/tokenizer_json.h"

#include <cstdint>
#include <exception>
#include <limits>

#include "absl/strings/str_format.h"
#include "common/json_util.h"
#include "common/status.h"
#include "engine/tokenizer/pre_tokenizer.h"

namespace mneme::tokenizer {
namespace {

using Json = nlohmann::json;

// Builds errors prefixed with the source name, and reads typed fields without throwing.
class Parser {
 public:
  explicit Parser(std::string_view source) : source_(source) {}

  absl::Status Invalid(const std::string& msg) const {
    return absl::InvalidArgumentError(absl::StrFormat("%s: %s", source_, msg));
  }
  absl::Status Unsupported(const std::string& msg) const {
    return absl::UnimplementedError(absl::StrFormat("%s: %s", source_, msg));
  }

  // The "type" of a component object ("" if it has none).
  static std::string TypeOf(const Json& j) {
    if (!j.is_object()) return "";
    auto it = j.find("type");
    return it != j.end() && it->is_string() ? it->get<std::string>() : "";
  }

  // A boolean member; `fallback` when absent or null.
  absl::StatusOr<bool> Bool(const Json& obj, const char* key, bool fallback,
                            std::string_view where) const {
    auto it = obj.find(key);
    if (it == obj.end() || it->is_null()) return fallback;
    if (!it->is_boolean()) return Invalid(absl::StrFormat("%s.%s must be a boolean", where, key));
    return it->get<bool>();
  }

  // A required boolean member.
  absl::StatusOr<bool> RequiredBool(const Json& obj, const char* key,
                                    std::string_view where) const {
    auto it = obj.find(key);
    if (it == obj.end() || !it->is_boolean()) {
      return Invalid(absl::StrFormat("%s.%s must be a boolean", where, key));
    }
    return it->get<bool>();
  }

  // An optional string member (std::nullopt when absent or null).
  absl::StatusOr<std::optional<std::string>> OptString(const Json& obj, const char* key,
                                                       std::string_view where) const {
    auto it = obj.find(key);
    if (it == obj.end() || it->is_null()) return std::optional<std::string>();
    if (!it->is_string()) return Invalid(absl::StrFormat("%s.%s must be a string", where, key));
    return std::optional<std::string>(it->get<std::string>());
  }

  // A non-negative integer that fits int32_t.
  absl::StatusOr<int32_t> Id(const Json& value, std::string_view where) const {
    if (value.is_number_unsigned() || value.is_number_integer()) {
      const bool negative =
          value.is_number_integer() && !value.is_number_unsigned() && value.get<int64_t>() < 0;
      if (!negative && value.get<uint64_t>() <= std::numeric_limits<int32_t>::max()) {
        return static_cast<int32_t>(value.get<uint64_t>());
      }
    }
    return Invalid(absl::StrFormat("%s must be an integer id in [0, 2^31)", where));
  }

  absl::Status Normalizer(const Json& j, bool* nfc) const;
  absl::Status PreTokenizer(const Json& j, std::vector<PreTokenizerStepSpec>* steps,
                            bool* saw_byte_level) const;
  absl::Status Model(const Json& j, TokenizerSpec* spec) const;
  absl::Status Merges(const Json& j, TokenizerSpec* spec) const;
  absl::Status AddedTokens(const Json& j, TokenizerSpec* spec) const;
  absl::Status Parse(const Json& root, TokenizerSpec* spec) const;

 private:
  std::string_view source_;
};

absl::Status Parser::Normalizer(const Json& j, bool* nfc) const {
  if (j.is_null()) return absl::OkStatus();
  const std::string type = TypeOf(j);
  if (type == "NFC") {
    *nfc = true;
    return absl::OkStatus();
  }
  if (type == "Sequence") {
    auto it = j.find("normalizers");
    if (it == j.end() || !it->is_array()) {
      return Invalid("normalizer Sequence needs a \"normalizers\" array");
    }
    for (const Json& child : *it) MNEME_RETURN_IF_ERROR(Normalizer(child, nfc));
    return absl::OkStatus();
  }
  if (type.empty()) return Invalid("normalizer must be null or an object with a \"type\"");
  return Unsupported(absl::StrFormat(
      "normalizer type \"%s\" is not supported (only NFC, or a Sequence of NFC)", type));
}

absl::Status Parser::PreTokenizer(const Json& j, std::vector<PreTokenizerStepSpec>* steps,
                                  bool* saw_byte_level) const {
  const std::string type = TypeOf(j);
  if (*saw_byte_level) {
    return Unsupported(absl::StrFormat(
        "pre_tokenizer \"%s\" after ByteLevel is not supported (ByteLevel must come last)", type));
  }
  if (type == "Sequence") {
    auto it = j.find("pretokenizers");
    if (it == j.end() || !it->is_array()) {
      return Invalid("pre_tokenizer Sequence needs a \"pretokenizers\" array");
    }
    for (const Json& child : *it) MNEME_RETURN_IF_ERROR(PreTokenizer(child, steps, saw_byte_level));
    return absl::OkStatus();
  }
  if (type == "Split") {
    PreTokenizerStepSpec step;
    auto pattern = j.find("pattern");
    if (pattern == j.end() || !pattern->is_object() || pattern->size() != 1) {
      return Invalid("Split.pattern must be {\"Regex\": ...} or {\"String\": ...}");
    }
    const std::string kind = pattern->begin().key();
    if ((kind != "Regex" && kind != "String") || !pattern->begin()->is_string()) {
      return Invalid("Split.pattern must be {\"Regex\": ...} or {\"String\": ...}");
    }
    step.pattern = pattern->begin()->get<std::string>();
    step.literal = kind == "String";
    auto behavior = j.find("behavior");
    if (behavior == j.end() || !behavior->is_string()) {
      return Invalid("Split.behavior must be a string");
    }
    if (behavior->get<std::string>() != "Isolated") {
      return Unsupported(absl::StrFormat("Split behavior \"%s\" is not supported (only Isolated)",
                                         behavior->get<std::string>()));
    }
    MNEME_ASSIGN_OR_RETURN(const bool invert, Bool(j, "invert", false, "Split"));
    if (invert) return Unsupported("Split with invert=true is not supported");
    steps->push_back(std::move(step));
    return absl::OkStatus();
  }
  if (type == "ByteLevel") {
    MNEME_ASSIGN_OR_RETURN(const bool prefix, RequiredBool(j, "add_prefix_space", "ByteLevel"));
    MNEME_ASSIGN_OR_RETURN(const bool use_regex, Bool(j, "use_regex", true, "ByteLevel"));
    if (prefix) steps->push_back({PreTokenizerStepSpec::Kind::kPrefixSpace, "", false});
    if (use_regex) {
      steps->push_back(
          {PreTokenizerStepSpec::Kind::kRegexSplit, std::string(kGpt2SplitPattern), false});
    }
    *saw_byte_level = true;
    return absl::OkStatus();
  }
  if (j.is_null()) {
    return Unsupported("pre_tokenizer null is not supported (byte-level BPE needs ByteLevel)");
  }
  if (type.empty()) return Invalid("pre_tokenizer must be an object with a \"type\"");
  return Unsupported(absl::StrFormat(
      "pre_tokenizer type \"%s\" is not supported (only Split, ByteLevel and Sequence)", type));
}

absl::Status Parser::Merges(const Json& j, TokenizerSpec* spec) const {
  if (!j.is_array()) return Invalid("model.merges must be an array");
  spec->merges.reserve(j.size());
  size_t index = 0;
  for (const Json& m : j) {
    if (m.is_string()) {
      const std::string& line = m.get_ref<const std::string&>();
      if (line.rfind("#version", 0) == 0) {  // merges.txt header, skipped like HF
        ++index;
        continue;
      }
      const size_t space = line.find(' ');
      if (space == std::string::npos || line.find(' ', space + 1) != std::string::npos) {
        return Invalid(absl::StrFormat(
            "model.merges[%d] \"%s\" is not two tokens separated by one space", index, line));
      }
      spec->merges.emplace_back(line.substr(0, space), line.substr(space + 1));
    } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
      spec->merges.emplace_back(m[0].get<std::string>(), m[1].get<std::string>());
    } else {
      return Invalid(absl::StrFormat(
          "model.merges[%d] must be a \"a b\" string or an [\"a\", \"b\"] pair", index));
    }
    ++index;
  }
  return absl::OkStatus();
}

absl::Status Parser::Model(const Json& j, TokenizerSpec* spec) const {
  if (!j.is_object()) return Invalid("\"model\" must be an object");
  auto type = j.find("type");
  if (type != j.end()) {
    if (!type->is_string()) return Invalid("model.type must be a string");
    if (type->get<std::string>() != "BPE") {
      return Unsupported(absl::StrFormat("model type \"%s\" is not supported (only BPE)",
                                         type->get<std::string>()));
    }
  } else if (!j.contains("merges")) {
    return Unsupported("model has no \"type\" and no merges; only BPE models are supported");
  }
  auto dropout = j.find("dropout");
  if (dropout != j.end() && !dropout->is_null()) {
    if (!dropout->is_number()) return Invalid("model.dropout must be a number or null");
    const double p = dropout->get<double>();
    if (!(p >= 0.0 && p <= 1.0)) return Invalid("model.dropout must be in [0, 1]");
    if (p > 0.0) return Unsupported("BPE dropout > 0 is not supported (encoding must be exact)");
  }
  MNEME_ASSIGN_OR_RETURN(spec->bpe.unk_token, OptString(j, "unk_token", "model"));
  for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"}) {
    MNEME_ASSIGN_OR_RETURN(std::optional<std::string> affix, OptString(j, key, "model"));
    if (affix.has_value() && !affix->empty()) {
      return Unsupported(absl::StrFormat("BPE %s \"%s\" is not supported", key, *affix));
    }
  }
  MNEME_ASSIGN_OR_RETURN(spec->bpe.fuse_unk, Bool(j, "fuse_unk", false, "model"));
  MNEME_ASSIGN_OR_RETURN(spec->bpe.byte_fallback, Bool(j, "byte_fallback", false, "model"));
  MNEME_ASSIGN_OR_RETURN(spec->bpe.ignore_merges, Bool(j, "ignore_merges", false, "model"));

  auto vocab = j.find("vocab");
  if (vocab == j.end() || !vocab->is_object()) {
    return Invalid("model.vocab is missing or not an object");
  }
  spec->vocab.reserve(vocab->size());
  for (auto it = vocab->begin(); it != vocab->end(); ++it) {
    MNEME_ASSIGN_OR_RETURN(const int32_t id,
                           Id(it.value(), absl::StrFormat("model.vocab[\"%s\"]", it.key())));
    spec->vocab.emplace_back(it.key(), id);
  }
  auto merges = j.find("merges");
  if (merges == j.end()) return Invalid("model.merges is missing");
  return Merges(*merges, spec);
}

absl::Status Parser::AddedTokens(const Json& j, TokenizerSpec* spec) const {
  if (j.is_null()) return absl::OkStatus();
  if (!j.is_array()) return Invalid("added_tokens must be an array");
  size_t index = 0;
  for (const Json& t : j) {
    const std::string where = absl::StrFormat("added_tokens[%d]", index++);
    if (!t.is_object()) return Invalid(where + " must be an object");
    auto content = t.find("content");
    if (content == t.end() || !content->is_string()) {
      return Invalid(where + ".content must be a string");
    }
    auto id = t.find("id");
    if (id == t.end()) return Invalid(where + ".id is missing");
    MNEME_RETURN_IF_ERROR(Id(*id, where + ".id").status());  // advisory, as in HF
    AddedTokenSpec token;
    token.content = content->get<std::string>();
    MNEME_ASSIGN_OR_RETURN(token.special, Bool(t, "special", false, where));
    MNEME_ASSIGN_OR_RETURN(token.single_word, Bool(t, "single_word", false, where));
    MNEME_ASSIGN_OR_RETURN(token.lstrip, Bool(t, "lstrip", false, where));
    MNEME_ASSIGN_OR_RETURN(token.rstrip, Bool(t, "rstrip", false, where));
    MNEME_ASSIGN_OR_RETURN(token.normalized, Bool(t, "normalized", !token.special, where));
    spec->added_tokens.push_back(std::move(token));
  }
  return absl::OkStatus();
}

absl::Status Parser::Parse(const Json& root, TokenizerSpec* spec) const {
  if (!root.is_object()) return Invalid("tokenizer.json must be a JSON object");
  auto field = [&root](const char* key) -> const Json& {
    static const Json kNull;
    auto it = root.find(key);
    return it == root.end() ? kNull : *it;
  };
  for (const char* key : {"truncation", "padding"}) {
    if (!field(key).is_null()) {
      return Unsupported(absl::StrFormat("\"%s\" must be null (it changes encode results)", key));
    }
  }
  if (!root.contains("model")) return Invalid("missing \"model\"");
  MNEME_RETURN_IF_ERROR(Model(field("model"), spec));
  MNEME_RETURN_IF_ERROR(Normalizer(field("normalizer"), &spec->nfc));
  bool saw_byte_level = false;
  MNEME_RETURN_IF_ERROR(
      PreTokenizer(field("pre_tokenizer"), &spec->pre_tokenizer, &saw_byte_level));
  if (!saw_byte_level) {
    return Unsupported("pre_tokenizer without ByteLevel is not supported (byte-level BPE only)");
  }
  const Json& decoder = field("decoder");
  if (TypeOf(decoder) != "ByteLevel") {
    return Unsupported(absl::StrFormat(
        "decoder %s is not supported (only ByteLevel)",
        decoder.is_null() ? std::string("null") : "type \"" + TypeOf(decoder) + "\""));
  }
  const Json& post = field("post_processor");
  if (!post.is_null() && TypeOf(post) != "ByteLevel") {
    return Unsupported(absl::StrFormat(
        "post_processor type \"%s\" is not supported (only null or ByteLevel)", TypeOf(post)));
  }
  return AddedTokens(field("added_tokens"), spec);
}

}  // namespace

absl::StatusOr<TokenizerSpec> ParseTokenizerJson(std::string_view json_text,
                                                 std::string_view source_name) {
  MNEME_ASSIGN_OR_RETURN(const Json root, ParseJson(json_text, source_name));
  Parser parser(source_name);
  TokenizerSpec spec;
  try {
    MNEME_RETURN_IF_ERROR(parser.Parse(root, &spec));
  } catch (const std::exception& e) {  // defensive: the parser checks types before reading
    return absl::InternalError(absl::StrFormat("%s: %s", source_name, e.what()));
  }
  return spec;
}

}  // namespace mneme::tokenizer
