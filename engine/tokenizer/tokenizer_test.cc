// Parity with Hugging Face `tokenizers` on the committed fixtures, plus loader error handling.
#include "engine/tokenizer/tokenizer.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

#include "common/json_util.h"
#include "engine/tokenizer/byte_level.h"
#include "engine/tokenizer/unicode.h"

namespace mneme::tokenizer {
namespace {

using ::testing::HasSubstr;

constexpr char kFixture[] = "tests/fixtures/hf/tokenizer/tokenizer.json";
constexpr char kExpected[] = "tests/fixtures/hf/expected.json";

// Loads the HF fixture once for the whole suite.
class TokenizerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    absl::StatusOr<std::unique_ptr<Tokenizer>> t = Tokenizer::FromFile(kFixture);
    if (t.ok()) {
      fixture_ = std::move(t).value().release();
    } else {
      load_error_ = new absl::Status(t.status());
    }
  }
  void SetUp() override {
    ASSERT_NE(fixture_, nullptr) << (load_error_ != nullptr ? *load_error_ : absl::OkStatus());
  }
  static const Tokenizer& Fixture() { return *fixture_; }

 private:
  static inline const Tokenizer* fixture_ = nullptr;
  static inline const absl::Status* load_error_ = nullptr;
};

const nlohmann::json& Expected() {
  static const nlohmann::json* j = [] {
    absl::StatusOr<nlohmann::json> e = ReadJsonFile(kExpected);
    EXPECT_TRUE(e.ok()) << e.status();
    return new nlohmann::json(e.ok() ? *e : nlohmann::json());
  }();
  return *j;
}

nlohmann::json FixtureJson() {
  absl::StatusOr<nlohmann::json> j = ReadJsonFile(kFixture);
  EXPECT_TRUE(j.ok()) << j.status();
  return j.ok() ? *j : nlohmann::json();
}

absl::StatusOr<std::unique_ptr<Tokenizer>> Load(const nlohmann::json& j) {
  return Tokenizer::FromJson(j.dump(), "test.json");
}

std::vector<int32_t> Ids(const nlohmann::json& j) { return j.get<std::vector<int32_t>>(); }

TEST_F(TokenizerTest, HfParity_TrickyStringsEncodeAndDecodeLikeHf) {
  const nlohmann::json& cases = Expected()["tokenizer"];
  ASSERT_GE(cases.size(), 30u);
  for (size_t i = 0; i < cases.size(); ++i) {
    const std::string text = cases[i]["text"].get<std::string>();
    SCOPED_TRACE(::testing::Message() << "case " << i << ": \"" << text << "\"");
    absl::StatusOr<std::vector<int32_t>> ids = Fixture().Encode(text);
    ASSERT_TRUE(ids.ok()) << ids.status();
    EXPECT_EQ(*ids, Ids(cases[i]["ids"]));
    absl::StatusOr<std::string> decoded = Fixture().Decode(Ids(cases[i]["ids"]));
    ASSERT_TRUE(decoded.ok()) << decoded.status();
    EXPECT_EQ(*decoded, cases[i]["decoded"].get<std::string>());
  }
}

TEST_F(TokenizerTest, HfParity_ModelPromptsEncodeLikeHf) {
  int checked = 0;
  for (const auto& [model, outputs] : Expected()["models"].items()) {
    for (const nlohmann::json& out : outputs) {
      const std::string prompt = out["prompt"].get<std::string>();
      SCOPED_TRACE(model + ": " + prompt);
      absl::StatusOr<std::vector<int32_t>> ids = Fixture().Encode(prompt);
      ASSERT_TRUE(ids.ok()) << ids.status();
      EXPECT_EQ(*ids, Ids(out["prompt_ids"]));
      ++checked;
    }
  }
  EXPECT_GT(checked, 0);
}

TEST_F(TokenizerTest, HfParity_ModelDirectoryCopiesBehaveIdentically) {
  for (const char* dir : {"qwen3_f32", "qwen3_bf16_sharded"}) {
    const std::string path = std::string("tests/fixtures/hf/") + dir + "/tokenizer.json";
    absl::StatusOr<std::unique_ptr<Tokenizer>> tok = Tokenizer::FromFile(path);
    ASSERT_TRUE(tok.ok()) << tok.status();
    EXPECT_EQ((*tok)->vocab_size(), Fixture().vocab_size());
    for (const nlohmann::json& c : Expected()["tokenizer"]) {
      absl::StatusOr<std::vector<int32_t>> ids = (*tok)->Encode(c["text"].get<std::string>());
      ASSERT_TRUE(ids.ok()) << ids.status();
      EXPECT_EQ(*ids, Ids(c["ids"])) << path << ": " << c["text"];
    }
  }
}

TEST_F(TokenizerTest, Vocab_SizesIdsAndSpecialFlagsFollowTheFile) {
  const nlohmann::json j = FixtureJson();
  int32_t max_id = -1;
  for (const auto& [token, id] : j["model"]["vocab"].items()) {
    max_id = std::max(max_id, id.get<int32_t>());
    EXPECT_EQ(Fixture().TokenToId(token), id.get<int32_t>());
    EXPECT_EQ(Fixture().IdToToken(id.get<int32_t>()), token);
    EXPECT_FALSE(Fixture().IsSpecial(id.get<int32_t>()));
  }
  ASSERT_FALSE(j["added_tokens"].empty());
  for (const nlohmann::json& t : j["added_tokens"]) {
    const auto id = t["id"].get<int32_t>();
    max_id = std::max(max_id, id);
    EXPECT_EQ(Fixture().TokenToId(t["content"].get<std::string>()), id);
    EXPECT_EQ(Fixture().IdToToken(id), t["content"].get<std::string>());
    EXPECT_EQ(Fixture().IsSpecial(id), t["special"].get<bool>()) << t["content"];
  }
  EXPECT_EQ(Fixture().vocab_size(), max_id + 1);
  EXPECT_EQ(Fixture().TokenToId("definitely not a token"), std::nullopt);
  EXPECT_EQ(Fixture().IdToToken(max_id + 1), std::nullopt);
  EXPECT_EQ(Fixture().IdToToken(-1), std::nullopt);
}

TEST_F(TokenizerTest, Encode_RejectsInvalidUtf8) {
  for (std::string bad :
       {std::string("\xff"), std::string("abc\xC0\x80"), std::string("\xED\xA0\x80"),
        std::string("ok \xE6\x97"), std::string("\xF4\x90\x80\x80")}) {
    absl::StatusOr<std::vector<int32_t>> ids = Fixture().Encode(bad);
    EXPECT_EQ(ids.status().code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_THAT(ids.status().message(), HasSubstr("UTF-8"));
  }
}

TEST_F(TokenizerTest, Encode_LongAndRepetitiveInputsRoundTrip) {
  std::string text;
  for (int i = 0; i < 2000; ++i) text += "The quick brown fox 機器學習 😀 <|im_end|>\n\t  ";
  text += std::string(100000, ' ') + "x" + std::string(50000, '!');
  absl::StatusOr<std::vector<int32_t>> ids = Fixture().Encode(text);
  ASSERT_TRUE(ids.ok()) << ids.status();
  absl::StatusOr<std::string> back = Fixture().Decode(*ids);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, text);
}

TEST_F(TokenizerTest, Encode_IsThreadSafe) {
  const nlohmann::json& cases = Expected()["tokenizer"];
  std::vector<std::thread> threads;
  std::vector<int> failures(4, 0);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int round = 0; round < 20; ++round) {
        for (const nlohmann::json& c : cases) {
          absl::StatusOr<std::vector<int32_t>> ids = Fixture().Encode(c["text"].get<std::string>());
          if (!ids.ok() || *ids != Ids(c["ids"])) ++failures[t];
        }
      }
    });
  }
  for (std::thread& th : threads) th.join();
  EXPECT_EQ(failures, std::vector<int>(4, 0));
}

TEST_F(TokenizerTest, Decode_RejectsUnknownIds) {
  for (int32_t id : {-1, Fixture().vocab_size(), 1 << 30}) {
    absl::StatusOr<std::string> text = Fixture().Decode({0, id});
    EXPECT_EQ(text.status().code(), absl::StatusCode::kInvalidArgument) << id;
  }
  absl::StatusOr<std::string> empty = Fixture().Decode({});
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(*empty, "");
}

TEST_F(TokenizerTest, Decode_InvalidUtf8BecomesReplacementCharacters) {
  auto byte_id = [](uint8_t b) {
    std::string token;
    AppendUtf8(ByteToChar(b), &token);
    std::optional<int32_t> id = Fixture().TokenToId(token);
    EXPECT_TRUE(id.has_value()) << int{b};
    return id.value_or(0);
  };
  // E6 97 is a truncated three-byte sequence: one U+FFFD (maximal subpart), then 'a'.
  absl::StatusOr<std::string> text = Fixture().Decode({byte_id(0xE6), byte_id(0x97), byte_id('a')});
  ASSERT_TRUE(text.ok());
  EXPECT_EQ(*text, std::string("\xEF\xBF\xBD") + "a");
  // A lone continuation byte and a lone 0xFF are one U+FFFD each.
  text = Fixture().Decode({byte_id(0x80), byte_id(0xFF)});
  ASSERT_TRUE(text.ok());
  EXPECT_EQ(*text, "\xEF\xBF\xBD\xEF\xBF\xBD");
}

// ---- alternative but supported configurations ------------------------------------------------

TEST_F(TokenizerTest, Config_BareByteLevelWithPrefixSpaceUsesGpt2Regex) {
  nlohmann::json j = FixtureJson();
  j["pre_tokenizer"] = {{"type", "ByteLevel"},
                        {"add_prefix_space", true},
                        {"trim_offsets", true},
                        {"use_regex", true}};
  j["normalizer"] = nullptr;
  absl::StatusOr<std::unique_ptr<Tokenizer>> tok = Load(j);
  ASSERT_TRUE(tok.ok()) << tok.status();
  // A prefix space is added to each gap between added tokens, unless it is already there.
  for (const char* word : {"hello", "Hello world", "question"}) {
    absl::StatusOr<std::vector<int32_t>> plain = (*tok)->Encode(word);
    absl::StatusOr<std::vector<int32_t>> spaced = (*tok)->Encode(std::string(" ") + word);
    absl::StatusOr<std::vector<int32_t>> qwen = Fixture().Encode(std::string(" ") + word);
    ASSERT_TRUE(plain.ok() && spaced.ok() && qwen.ok());
    EXPECT_EQ(*plain, *spaced) << word;
    EXPECT_EQ(*plain, *qwen) << word;  // GPT-2 and Qwen regexes agree on these
  }
  absl::StatusOr<std::vector<int32_t>> chat = (*tok)->Encode("<|im_start|>user");
  absl::StatusOr<std::vector<int32_t>> user = (*tok)->Encode("user");
  ASSERT_TRUE(chat.ok() && user.ok());
  std::vector<int32_t> want = {*Fixture().TokenToId("<|im_start|>")};
  want.insert(want.end(), user->begin(), user->end());
  EXPECT_EQ(*chat, want);
  absl::StatusOr<std::vector<int32_t>> empty = (*tok)->Encode("");
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->empty());
}

TEST_F(TokenizerTest, Config_LegacyMergeStringsAndNormalizerSequenceLoadIdentically) {
  nlohmann::json j = FixtureJson();
  nlohmann::json merges = nlohmann::json::array();
  for (const nlohmann::json& m : j["model"]["merges"]) {
    merges.push_back(m[0].get<std::string>() + " " + m[1].get<std::string>());
  }
  j["model"]["merges"] = merges;
  j["normalizer"] = {{"type", "Sequence"}, {"normalizers", {{{"type", "NFC"}}}}};
  j["post_processor"] = nullptr;
  absl::StatusOr<std::unique_ptr<Tokenizer>> tok = Load(j);
  ASSERT_TRUE(tok.ok()) << tok.status();
  for (const nlohmann::json& c : Expected()["tokenizer"]) {
    absl::StatusOr<std::vector<int32_t>> ids = (*tok)->Encode(c["text"].get<std::string>());
    ASSERT_TRUE(ids.ok());
    EXPECT_EQ(*ids, Ids(c["ids"])) << c["text"];
  }
}

TEST_F(TokenizerTest, Config_AddedTokenIdsAreAssignedLikeHf) {
  nlohmann::json j = FixtureJson();
  // HF ignores the ids written in added_tokens: new tokens get consecutive ids after the model
  // vocabulary, and a token already in the vocabulary keeps its vocabulary id.
  const int32_t base = static_cast<int32_t>(j["model"]["vocab"].size());
  const std::string existing =
      j["model"]["merges"][0][0].get<std::string>() + j["model"]["merges"][0][1].get<std::string>();
  const std::optional<int32_t> existing_id = Fixture().TokenToId(existing);
  ASSERT_TRUE(existing_id.has_value());
  j["added_tokens"] = nlohmann::json::array();
  j["added_tokens"].push_back({{"id", 5000}, {"content", "<b>"}, {"special", true}});
  j["added_tokens"].push_back({{"id", 7}, {"content", existing}, {"special", false}});
  j["added_tokens"].push_back({{"id", 9}, {"content", "<c>"}, {"special", false}});
  absl::StatusOr<std::unique_ptr<Tokenizer>> tok = Load(j);
  ASSERT_TRUE(tok.ok()) << tok.status();
  EXPECT_EQ((*tok)->TokenToId("<b>"), base);
  EXPECT_EQ((*tok)->TokenToId("<c>"), base + 1);
  EXPECT_EQ((*tok)->TokenToId(existing), *existing_id);
  EXPECT_EQ((*tok)->vocab_size(), base + 2);
  // The vocabulary token is now an added token too: matched verbatim before BPE.
  absl::StatusOr<std::vector<int32_t>> ids = (*tok)->Encode("say " + existing + "<b>");
  ASSERT_TRUE(ids.ok());
  ASSERT_GE(ids->size(), 2u);
  EXPECT_EQ(ids->back(), base);
  EXPECT_EQ((*ids)[ids->size() - 2], *existing_id);
}

// ---- malformed or unsupported files ------------------------------------------------------------

struct BadCase {
  const char* name;
  absl::StatusCode code;
  const char* message_part;
};

void ExpectError(const absl::StatusOr<std::unique_ptr<Tokenizer>>& tok, const BadCase& c) {
  ASSERT_FALSE(tok.ok()) << c.name;
  EXPECT_EQ(tok.status().code(), c.code) << c.name << ": " << tok.status();
  EXPECT_THAT(tok.status().message(), HasSubstr("test.json")) << c.name;
  EXPECT_THAT(tok.status().message(), HasSubstr(c.message_part)) << c.name;
}

TEST_F(TokenizerTest, Load_MalformedJsonIsInvalidArgument) {
  for (const char* text : {"{", "", "[1, 2]", "{\"model\": }", "null"}) {
    absl::StatusOr<std::unique_ptr<Tokenizer>> tok = Tokenizer::FromJson(text, "test.json");
    ASSERT_FALSE(tok.ok()) << text;
    EXPECT_EQ(tok.status().code(), absl::StatusCode::kInvalidArgument) << tok.status();
    EXPECT_THAT(tok.status().message(), HasSubstr("test.json"));
  }
}

TEST_F(TokenizerTest, Load_MissingFileIsNotFound) {
  absl::StatusOr<std::unique_ptr<Tokenizer>> tok =
      Tokenizer::FromFile("tests/fixtures/hf/no_such_dir/tokenizer.json");
  ASSERT_FALSE(tok.ok());
  EXPECT_EQ(tok.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(tok.status().message(), HasSubstr("no_such_dir/tokenizer.json"));
}

TEST_F(TokenizerTest, Load_BadFilesGiveClearErrors) {
  const nlohmann::json base = FixtureJson();
  using Mutator = void (*)(nlohmann::json&);
  const std::vector<std::pair<BadCase, Mutator>> cases = {
      {{"missing model", absl::StatusCode::kInvalidArgument, "missing \"model\""},
       [](nlohmann::json& j) { j.erase("model"); }},
      {{"model type", absl::StatusCode::kUnimplemented, "WordPiece"},
       [](nlohmann::json& j) { j["model"]["type"] = "WordPiece"; }},
      {{"missing vocab", absl::StatusCode::kInvalidArgument, "vocab"},
       [](nlohmann::json& j) { j["model"].erase("vocab"); }},
      {{"missing merges", absl::StatusCode::kInvalidArgument, "merges"},
       [](nlohmann::json& j) { j["model"].erase("merges"); }},
      {{"merge unknown token", absl::StatusCode::kInvalidArgument, "zzqx"},
       [](nlohmann::json& j) {
         j["model"]["merges"].push_back({"zzqx", "a"});
       }},
      {{"merge unknown result", absl::StatusCode::kInvalidArgument, "\"{{\""},
       [](nlohmann::json& j) {
         j["model"]["merges"].push_back({"{", "{"});
       }},
      {{"bad merge string", absl::StatusCode::kInvalidArgument, "merges[0]"},
       [](nlohmann::json& j) { j["model"]["merges"] = {"a b c"}; }},
      {{"bad vocab id", absl::StatusCode::kInvalidArgument, "vocab"},
       [](nlohmann::json& j) { j["model"]["vocab"]["!"] = -3; }},
      {{"dropout", absl::StatusCode::kUnimplemented, "dropout"},
       [](nlohmann::json& j) { j["model"]["dropout"] = 0.1; }},
      {{"pre-tokenizer", absl::StatusCode::kUnimplemented, "Whitespace"},
       [](nlohmann::json& j) {
         j["pre_tokenizer"] = {{"type", "Whitespace"}};
       }},
      {{"nested pre-tokenizer", absl::StatusCode::kUnimplemented, "Digits"},
       [](nlohmann::json& j) {
         nlohmann::json& steps = j["pre_tokenizer"]["pretokenizers"];
         steps.insert(steps.begin(), nlohmann::json::object({{"type", "Digits"}}));
       }},
      {{"no pre-tokenizer", absl::StatusCode::kUnimplemented, "pre_tokenizer"},
       [](nlohmann::json& j) { j["pre_tokenizer"] = nullptr; }},
      {{"split behaviour", absl::StatusCode::kUnimplemented, "Removed"},
       [](nlohmann::json& j) { j["pre_tokenizer"]["pretokenizers"][0]["behavior"] = "Removed"; }},
      {{"bad regex", absl::StatusCode::kInvalidArgument, "does not compile"},
       [](nlohmann::json& j) {
         j["pre_tokenizer"]["pretokenizers"][0]["pattern"] = {{"Regex", "(unclosed"}};
       }},
      {{"normalizer", absl::StatusCode::kUnimplemented, "Lowercase"},
       [](nlohmann::json& j) {
         j["normalizer"] = {{"type", "Lowercase"}};
       }},
      {{"decoder", absl::StatusCode::kUnimplemented, "Metaspace"},
       [](nlohmann::json& j) {
         j["decoder"] = {{"type", "Metaspace"}};
       }},
      {{"post-processor", absl::StatusCode::kUnimplemented, "TemplateProcessing"},
       [](nlohmann::json& j) {
         j["post_processor"] = {{"type", "TemplateProcessing"}};
       }},
      {{"truncation", absl::StatusCode::kUnimplemented, "truncation"},
       [](nlohmann::json& j) {
         j["truncation"] = {{"max_length", 8}};
       }},
      {{"added token", absl::StatusCode::kInvalidArgument, "added_tokens[1]"},
       [](nlohmann::json& j) { j["added_tokens"][1].erase("content"); }},
  };
  for (const auto& [c, mutate] : cases) {
    nlohmann::json j = base;
    mutate(j);
    ExpectError(Load(j), c);
  }
}

}  // namespace
}  // namespace mneme::tokenizer
