#include "engine/model/model_config.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace mneme::model {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using json = nlohmann::json;

constexpr char kSource[] = "/models/x/config.json";

void ExpectError(const absl::Status& s, absl::StatusCode code,
                 const std::vector<std::string>& parts) {
  EXPECT_EQ(s.code(), code) << s;
  for (const std::string& p : parts) EXPECT_THAT(std::string(s.message()), HasSubstr(p));
}

// A minimal valid qwen3 config (transformers 5 style).
json Qwen3() {
  return json::parse(R"({
    "architectures": ["Qwen3ForCausalLM"], "model_type": "qwen3", "vocab_size": 713,
    "hidden_size": 64, "intermediate_size": 160, "num_hidden_layers": 4,
    "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 16,
    "rms_norm_eps": 1e-6, "rope_parameters": {"rope_theta": 10000.0, "rope_type": "default"},
    "hidden_act": "silu", "dtype": "bfloat16", "max_position_embeddings": 1024,
    "eos_token_id": 5, "sliding_window": null, "use_sliding_window": false})");
}

json Msa() {
  json j = Qwen3();
  j["model_type"] = "msa";
  j["architectures"] = {"MSAForCausalLM"};
  j["msa_config"] = json::parse(R"({
    "router_layer_idx": "1,2", "top_k_docs": 4, "pooling_kernel_size": 64,
    "decouple_router": true, "aux_loss_method": "INFONCE_DECOUPLE",
    "head_reduce_method": "mean", "query_reduce_method": "max", "chunk_reduce_method": "max"})");
  return j;
}

absl::StatusOr<ModelConfig> Parse(const json& j) { return ParseModelConfig(j.dump(), kSource); }

TEST(ModelConfigTest, LoadsF32Fixture) {
  auto c = LoadModelConfig("tests/fixtures/hf/qwen3_f32");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->model_type, ModelType::kQwen3);
  EXPECT_EQ(c->source, "tests/fixtures/hf/qwen3_f32/config.json");
  EXPECT_EQ(c->vocab_size, 713);
  EXPECT_EQ(c->hidden_size, 64);
  EXPECT_EQ(c->intermediate_size, 160);
  EXPECT_EQ(c->num_hidden_layers, 2);
  EXPECT_EQ(c->num_attention_heads, 4);
  EXPECT_EQ(c->num_key_value_heads, 2);
  EXPECT_EQ(c->head_dim, 16);
  EXPECT_DOUBLE_EQ(c->rms_norm_eps, 1e-6);
  EXPECT_DOUBLE_EQ(c->rope_theta, 10000.0);  // from rope_parameters
  EXPECT_FALSE(c->tie_word_embeddings);
  EXPECT_EQ(c->dtype, "float32");
  EXPECT_EQ(c->max_position_embeddings, 1024);
  EXPECT_TRUE(c->eos_token_ids.empty());  // null
  EXPECT_FALSE(c->msa.has_value());
}

TEST(ModelConfigTest, LoadsBf16Fixture) {
  auto c = LoadModelConfig("tests/fixtures/hf/qwen3_bf16_sharded/");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->num_hidden_layers, 3);
  EXPECT_DOUBLE_EQ(c->rope_theta, 1e6);  // top-level rope_theta, rope_scaling null
  EXPECT_TRUE(c->tie_word_embeddings);
  EXPECT_EQ(c->dtype, "bfloat16");
}

TEST(ModelConfigTest, MissingFile) {
  ExpectError(LoadModelConfig("/nonexistent/model").status(), absl::StatusCode::kNotFound,
              {"/nonexistent/model/config.json"});
}

TEST(ModelConfigTest, DefaultsAndAlternateForms) {
  json j = Qwen3();
  j.erase("head_dim");
  j.erase("num_key_value_heads");
  j.erase("rope_parameters");
  j.erase("dtype");
  j.erase("max_position_embeddings");
  j["torch_dtype"] = "float16";
  j["eos_token_id"] = {7, 9};
  auto c = Parse(j);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->head_dim, 16);  // 64 / 4
  EXPECT_EQ(c->num_key_value_heads, 4);
  EXPECT_DOUBLE_EQ(c->rope_theta, 10000.0);
  EXPECT_EQ(c->dtype, "float16");
  EXPECT_EQ(c->max_position_embeddings, 32768);
  EXPECT_FALSE(c->tie_word_embeddings);
  EXPECT_THAT(c->eos_token_ids, ElementsAre(7, 9));
  EXPECT_EQ(c->source, kSource);

  j["dtype"] = "bfloat16";  // dtype wins over torch_dtype
  j["rope_theta"] = 5e5;
  j["rope_scaling"] = {{"rope_type", "default"}};
  j["layer_types"] = {"full_attention", "full_attention", "full_attention", "full_attention"};
  j["some_unrelated_key"] = {{"nested", {1, 2, 3}}};
  c = Parse(j);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->dtype, "bfloat16");
  EXPECT_DOUBLE_EQ(c->rope_theta, 5e5);
}

TEST(ModelConfigTest, MsaConfigs) {
  auto c = Parse(Msa());
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->model_type, ModelType::kMsa);
  ASSERT_TRUE(c->msa.has_value());
  EXPECT_THAT(c->msa->router_layers, ElementsAre(1, 2));
  EXPECT_EQ(c->msa->top_k_docs, 4);
  EXPECT_EQ(c->msa->pooling_kernel_size, 64);
  EXPECT_TRUE(c->msa->decouple_router);
  EXPECT_EQ(c->msa->aux_loss_method, "INFONCE_DECOUPLE");
  EXPECT_FALSE(c->msa->cosine_routing());
  EXPECT_EQ(c->msa->head_reduce_method, "mean");

  json j = Msa();
  j["msa_config"]["router_layer_idx"] = "all";
  j["msa_config"]["doc_top_k"] = 8;  // wins over top_k_docs = 4
  j["msa_config"]["aux_loss_method"] = "INFONCE";
  j["msa_config"]["decouple_router"] = false;
  j["msa_config"]["query_reduce_method"] = "mean";
  c = Parse(j);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_THAT(c->msa->router_layers, ElementsAre(0, 1, 2, 3));
  EXPECT_EQ(c->msa->top_k_docs, 8);
  EXPECT_TRUE(c->msa->cosine_routing());
  EXPECT_FALSE(c->msa->decouple_router);
  EXPECT_EQ(c->msa->query_reduce_method, "mean");

  j["msa_config"]["router_layer_idx"] = {3, 0};
  j["msa_config"].erase("doc_top_k");
  j["msa_config"].erase("top_k_docs");
  j["msa_config"].erase("aux_loss_method");
  c = Parse(j);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_THAT(c->msa->router_layers, ElementsAre(0, 3));
  EXPECT_EQ(c->msa->top_k_docs, 16);
  EXPECT_FALSE(c->msa->cosine_routing());

  j["msa_config"]["router_layer_idx"] = " 2 , 3 ";
  c = Parse(j);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_THAT(c->msa->router_layers, ElementsAre(2, 3));

  // A qwen3 config ignores a stray msa_config.
  j["model_type"] = "qwen3";
  c = Parse(j);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_FALSE(c->msa.has_value());
}

TEST(ModelConfigTest, RejectsBadConfigs) {
  using C = absl::StatusCode;
  struct Case {
    const char* label;
    json config;
    C code;
    std::vector<std::string> parts;
  };
  auto with = [](json j, const json::json_pointer& p, json v) {
    j[p] = std::move(v);
    return j;
  };
  auto without = [](json j, const std::string& key) {
    j.erase(key);
    return j;
  };
  auto msa_with = [&](const char* key, json v) {
    return with(Msa(), json::json_pointer(std::string("/msa_config/") + key), std::move(v));
  };
  using P = json::json_pointer;
  const std::vector<Case> cases = {
      {"unknown model_type", with(Qwen3(), P("/model_type"), "llama"), C::kInvalidArgument,
       {"unknown model_type 'llama' in", "supported: qwen3, msa"}},
      {"missing model_type", without(Qwen3(), "model_type"), C::kInvalidArgument,
       {"'model_type'", "missing"}},
      {"missing hidden_size", without(Qwen3(), "hidden_size"), C::kInvalidArgument,
       {"'hidden_size'", "missing"}},
      {"zero layers", with(Qwen3(), P("/num_hidden_layers"), 0), C::kInvalidArgument,
       {"'num_hidden_layers'", "positive"}},
      {"negative vocab", with(Qwen3(), P("/vocab_size"), -1), C::kInvalidArgument,
       {"'vocab_size'"}},
      {"string size", with(Qwen3(), P("/intermediate_size"), "160"), C::kInvalidArgument,
       {"'intermediate_size'", "integer"}},
      {"float size", with(Qwen3(), P("/hidden_size"), 64.5), C::kInvalidArgument,
       {"'hidden_size'", "integer"}},
      {"huge size", with(Qwen3(), P("/vocab_size"), 1LL << 40), C::kInvalidArgument,
       {"'vocab_size'", "out of range"}},
      {"heads not divisible", with(Qwen3(), P("/num_key_value_heads"), 3), C::kInvalidArgument,
       {"'num_key_value_heads'", "not divisible"}},
      {"head_dim underivable",
       with(without(Qwen3(), "head_dim"), P("/hidden_size"), 66), C::kInvalidArgument,
       {"'head_dim'"}},
      {"yarn rope", with(Qwen3(), P("/rope_parameters/rope_type"), "yarn"), C::kUnimplemented,
       {"'rope_parameters.rope_type'", "yarn"}},
      {"rope_scaling linear",
       with(Qwen3(), P("/rope_scaling"), {{"type", "linear"}, {"factor", 2.0}}),
       C::kUnimplemented, {"'rope_scaling.type'", "linear"}},
      {"conflicting rope_theta", with(Qwen3(), P("/rope_theta"), 5e5), C::kInvalidArgument,
       {"rope_theta", "disagrees"}},
      {"negative rope_theta", with(Qwen3(), P("/rope_parameters/rope_theta"), -1.0),
       C::kInvalidArgument, {"'rope_parameters.rope_theta'", "positive"}},
      {"sliding window on", with(Qwen3(), P("/use_sliding_window"), true), C::kUnimplemented,
       {"'use_sliding_window'"}},
      {"sliding attention layer",
       with(Qwen3(), P("/layer_types"),
            {"full_attention", "sliding_attention", "full_attention", "full_attention"}),
       C::kUnimplemented, {"'layer_types'", "sliding_attention"}},
      {"layer_types wrong length", with(Qwen3(), P("/layer_types"), {"full_attention"}),
       C::kInvalidArgument, {"'layer_types'", "4"}},
      {"gelu", with(Qwen3(), P("/hidden_act"), "gelu"), C::kUnimplemented,
       {"'hidden_act'", "gelu"}},
      {"attention bias", with(Qwen3(), P("/attention_bias"), true), C::kUnimplemented,
       {"'attention_bias'"}},
      {"bad dtype", with(Qwen3(), P("/dtype"), "float64"), C::kInvalidArgument,
       {"'dtype'", "float64"}},
      {"tie not bool", with(Qwen3(), P("/tie_word_embeddings"), 1), C::kInvalidArgument,
       {"'tie_word_embeddings'"}},
      {"bad eos", with(Qwen3(), P("/eos_token_id"), {1, "x"}), C::kInvalidArgument,
       {"'eos_token_id'"}},
      {"msa without msa_config", without(Msa(), "msa_config"), C::kInvalidArgument,
       {"'msa_config'"}},
      {"router layer out of range", msa_with("router_layer_idx", "1,4"), C::kInvalidArgument,
       {"'msa_config.router_layer_idx'", "router layer 4 is out of range [0, 4)"}},
      {"router layer negative", msa_with("router_layer_idx", json::array({-1})),
       C::kInvalidArgument, {"'msa_config.router_layer_idx'", "out of range"}},
      {"router layer repeated", msa_with("router_layer_idx", "2,2"), C::kInvalidArgument,
       {"'msa_config.router_layer_idx'", "twice"}},
      {"router layer garbage", msa_with("router_layer_idx", "1,,x"), C::kInvalidArgument,
       {"'msa_config.router_layer_idx'", "1,,x"}},
      {"router layers missing",
       [] {
         json j = Msa();
         j["msa_config"].erase("router_layer_idx");
         return j;
       }(),
       C::kInvalidArgument, {"'msa_config.router_layer_idx'", "missing"}},
      {"zero top_k", msa_with("doc_top_k", 0), C::kInvalidArgument,
       {"'msa_config.doc_top_k'", "positive"}},
      {"decouple not bool", msa_with("decouple_router", "yes"), C::kInvalidArgument,
       {"'msa_config.decouple_router'"}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.label);
    std::vector<std::string> parts = c.parts;
    parts.push_back(kSource);
    ExpectError(Parse(c.config).status(), c.code, parts);
  }
}

TEST(ModelConfigTest, RejectsMalformedJson) {
  ExpectError(ParseModelConfig("{\"model_type\": \"qwen3\",", kSource).status(),
              absl::StatusCode::kInvalidArgument, {kSource, "malformed JSON"});
  ExpectError(ParseModelConfig("[1, 2]", kSource).status(), absl::StatusCode::kInvalidArgument,
              {kSource, "not a JSON object"});

  const std::string dir = ::testing::TempDir() + "/mneme_model_config_" +
                          std::to_string(::getpid());
  std::filesystem::create_directories(dir);
  std::ofstream(dir + "/config.json") << "{\"vocab_size\": 12,,}";
  ExpectError(LoadModelConfig(dir).status(), absl::StatusCode::kInvalidArgument,
              {dir + "/config.json", "malformed JSON"});
  std::filesystem::remove_all(dir);
}

TEST(ModelConfigTest, RandomMutationsNeverCrash) {
  const std::string base = Msa().dump(1);
  std::mt19937 rng(7);
  int ok = 0;
  for (int i = 0; i < 2000; ++i) {
    std::string m = base;
    for (int k = 0; k < 1 + static_cast<int>(rng() % 3); ++k) {
      const size_t pos = rng() % m.size();
      if (rng() % 2) {
        m[pos] = "{}[]\",:-019aelnrstu "[rng() % 20];
      } else {
        m[pos] = static_cast<char>(m[pos] ^ (1u << (rng() % 8)));
      }
    }
    absl::StatusOr<ModelConfig> c = ParseModelConfig(m, kSource);
    if (c.ok()) {
      ++ok;
      EXPECT_GT(c->hidden_size, 0);
    } else {
      EXPECT_THAT(std::string(c.status().message()), HasSubstr(kSource));
    }
  }
  EXPECT_GT(ok, 0);
  EXPECT_LT(ok, 2000);
}

}  // namespace
}  // namespace mneme::model
