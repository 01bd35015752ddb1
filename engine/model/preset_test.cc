#include "engine/model/preset.h"

#include <filesystem>

#include "common/file_util.h"
#include "engine/model/generator.h"
#include "engine/model/model_config.h"
#include "engine/model/msa_settings.h"
#include "engine/model/qwen3_model.h"
#include "engine/tokenizer/tokenizer.h"
#include "gtest/gtest.h"
#include "kernels/cpu/cpu_backend.h"

namespace mneme::model {
namespace {

std::string FreshDir(const std::string& name) {
  std::string d = ::testing::TempDir() + "/preset_test_" + name + "_" + std::to_string(::getpid());
  std::filesystem::remove_all(d);
  return d;
}

TEST(PresetTest, TinyCheckpointLoadsAndGeneratesDeterministically) {
  auto spec = FindPreset("tiny");
  ASSERT_TRUE(spec.ok());
  const std::string a = FreshDir("a"), b = FreshDir("b");
  auto wa = WritePresetCheckpoint(*spec, 5, a);
  ASSERT_TRUE(wa.ok()) << wa.status();
  ASSERT_TRUE(WritePresetCheckpoint(*spec, 5, b).ok());
  // Same seed, byte-identical weights.
  EXPECT_EQ(*ReadFileToString(a + "/model.safetensors"), *ReadFileToString(b + "/model.safetensors"));
  // Writing over an existing model is refused.
  EXPECT_EQ(WritePresetCheckpoint(*spec, 5, a).status().code(), absl::StatusCode::kFailedPrecondition);

  auto cfg = LoadModelConfig(a);
  ASSERT_TRUE(cfg.ok()) << cfg.status();
  EXPECT_EQ(cfg->num_hidden_layers, 2);
  EXPECT_EQ(cfg->vocab_size % 64, 0);
  auto tok = tokenizer::Tokenizer::FromFile(a + "/tokenizer.json");
  ASSERT_TRUE(tok.ok()) << tok.status();
  for (const std::string& special : PresetSpecialTokens()) {
    auto ids = (*tok)->Encode("x" + special + "y");
    ASSERT_TRUE(ids.ok());
    EXPECT_EQ(ids->size(), 3u) << special << " must be one token";
  }
  auto backend = kernels::NewCpuBackend();
  auto m = Qwen3Model::Load(a, backend.get());
  ASSERT_TRUE(m.ok()) << m.status();
  auto prompt = (*tok)->Encode("Please answer the question");
  ASSERT_TRUE(prompt.ok());
  auto runner = Qwen3Runner::Create(m->get(), 64);
  ASSERT_TRUE(runner.ok());
  GenerateOptions opts;
  opts.max_new_tokens = 8;
  auto r1 = Generate(runner->get(), *prompt, opts);
  auto r2 = Generate(runner->get(), *prompt, opts);
  ASSERT_TRUE(r1.ok() && r2.ok());
  EXPECT_EQ(r1->new_ids.size(), 8u);
  EXPECT_EQ(r1->new_ids, r2->new_ids);
  std::filesystem::remove_all(a);
  std::filesystem::remove_all(b);
}

TEST(PresetTest, MsaPresetHasRouterProjectorsAndMsaConfig) {
  auto spec = FindPreset("tiny-msa");
  ASSERT_TRUE(spec.ok());
  const std::string dir = FreshDir("msa");
  ASSERT_TRUE(WritePresetCheckpoint(*spec, 1, dir).ok());
  auto cfg = LoadModelConfig(dir);
  ASSERT_TRUE(cfg.ok()) << cfg.status();
  ASSERT_TRUE(cfg->msa.has_value());
  EXPECT_EQ(cfg->msa->router_layers, std::vector<int>{1});
  EXPECT_FALSE(cfg->msa->cosine_routing());
  auto backend = kernels::NewCpuBackend();
  auto m = Qwen3Model::Load(dir, backend.get());
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_NE((*m)->layer(1).router_q, nullptr);
  EXPECT_EQ((*m)->layer(0).router_q, nullptr);
  std::filesystem::remove_all(dir);
}

TEST(MsaSettingsTest, ResolvesOverridesAndRejectsUnsupportedConfigs) {
  ModelConfig c;
  c.num_hidden_layers = 4;
  auto tf = ResolveMsaSettings(c, {});
  ASSERT_TRUE(tf.ok());
  EXPECT_TRUE(tf->training_free);
  EXPECT_EQ(tf->routed_layers, (std::vector<int>{2, 3}));
  MsaOverrides o;
  o.routed_layers = std::vector<int>{3, 1, 3};
  o.top_k = 2;
  auto with = ResolveMsaSettings(c, o);
  ASSERT_TRUE(with.ok());
  EXPECT_EQ(with->routed_layers, (std::vector<int>{1, 3}));
  EXPECT_EQ(with->top_k, 2);
  o.routed_layers = std::vector<int>{4};
  EXPECT_EQ(ResolveMsaSettings(c, o).status().code(), absl::StatusCode::kInvalidArgument);
  c.msa = MsaConfig();
  c.msa->router_layers = {3};
  EXPECT_EQ(ResolveMsaSettings(c, o).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(ResolveMsaSettings(c, {}).ok());
  c.msa->query_reduce_method = "mean";
  EXPECT_EQ(ResolveMsaSettings(c, {}).status().code(), absl::StatusCode::kUnimplemented);
  c.msa->query_reduce_method = "max";
  c.msa->decouple_router = false;
  EXPECT_EQ(ResolveMsaSettings(c, {}).status().code(), absl::StatusCode::kUnimplemented);
}

TEST(PresetTest, UnknownPresetIsRejected) {
  auto s = FindPreset("huge");
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.status().message().find("tiny"), std::string::npos);
}

}  // namespace
}  // namespace mneme::model
