// MSA against the independent PyTorch reference: tests/fixtures/msa was produced by
// tools/fixtures/make_msa_fixtures.py, which implements docs/msa.md in plain torch (its forward
// checked against transformers). Here the same checkpoints, documents and questions run through
// the C++ encoder, index, router and query runner.
#include <cmath>
#include <string>
#include <vector>

#include "common/json_util.h"
#include "engine/encode/document_encoder.h"
#include "engine/engine.h"
#include "engine/model/qwen3_model.h"
#include "engine/query/msa_runner.h"
#include "engine/query/templates.h"
#include "engine/tokenizer/tokenizer.h"
#include "gtest/gtest.h"
#include "kernels/cpu/cpu_backend.h"
#include "kernels/test_util.h"

namespace mneme {
namespace {

using nlohmann::json;

const json& Expected() {
  static const json* e = [] {
    auto j = ReadJsonFile("tests/fixtures/msa/expected.json");
    EXPECT_TRUE(j.ok()) << j.status();
    return new json(j.ok() ? *j : json());
  }();
  return *e;
}

double RelErr(const std::vector<float>& got, const std::vector<float>& want) {
  double max_ref = 0, max_err = 0;
  EXPECT_EQ(got.size(), want.size());
  for (size_t i = 0; i < std::min(got.size(), want.size()); ++i) {
    EXPECT_FALSE(std::isnan(got[i]));
    max_ref = std::max(max_ref, std::abs(double(want[i])));
    max_err = std::max(max_err, std::abs(double(got[i]) - want[i]));
  }
  EXPECT_GT(max_ref, 0.0);
  return max_err / max_ref;
}

// The components of a session, built directly so the test can drive the runner.
// Parameters: (fixture config, backend). The cuda instances skip, saying so, without a GPU; on a
// GPU host they hold the CUDA backend to the same torch expectations as the CPU reference.
class MsaFixtureTest : public ::testing::TestWithParam<std::tuple<std::string, std::string>> {
 protected:
  void SetUp() override {
    std::string why;
    auto be = kernels::BackendForTest(std::get<1>(GetParam()), &why);
    ASSERT_TRUE(be.ok()) << be.status();
    if (*be == nullptr) GTEST_SKIP() << why << "; run build/engine/mneme_engine_test on a GPU host (docs/gpu.md)";
    backend_ = std::move(*be);
    cfg_ = Expected()["configs"][std::get<0>(GetParam())];
    ASSERT_FALSE(cfg_.is_null());
    const std::string dir = "tests/fixtures/msa/" + cfg_["checkpoint"].get<std::string>();
    auto m = model::Qwen3Model::Load(dir, backend_.get());
    ASSERT_TRUE(m.ok()) << m.status();
    model_ = std::move(*m);
    auto tok = tokenizer::Tokenizer::FromFile(dir + "/tokenizer.json");
    ASSERT_TRUE(tok.ok()) << tok.status();
    tok_ = std::move(*tok);
    model::MsaOverrides o;
    if (cfg_["mode"] == "training_free") {
      o.routed_layers = cfg_["routed_layers"].get<std::vector<int>>();
      o.top_k = cfg_["top_k"].get<int>();
      o.pooling = cfg_["pooling"].get<int>();
    }
    auto s = model::ResolveMsaSettings(model_->config(), o);
    ASSERT_TRUE(s.ok()) << s.status();
    settings_ = *s;
    ASSERT_EQ(settings_.routed_layers, cfg_["routed_layers"].get<std::vector<int>>());
    ASSERT_EQ(settings_.top_k, cfg_["top_k"].get<int>());
    ASSERT_EQ(settings_.pooling, cfg_["pooling"].get<int>());
    ASSERT_EQ(settings_.cosine, cfg_["cosine"].get<bool>());
    auto enc = encode::DocumentEncoder::Create(model_.get(), &settings_, 32);  // batches split docs
    ASSERT_TRUE(enc.ok());
    encoder_ = std::move(*enc);
    auto tmpl = tok_->Encode(query::kTemplatePrefix);
    ASSERT_TRUE(tmpl.ok());
    ASSERT_EQ(*tmpl, cfg_["template_ids"].get<std::vector<int32_t>>());
    auto raw = encoder_->EncodeRaw(*tmpl);
    ASSERT_TRUE(raw.ok());
    template_ = std::move(*raw);
    const auto& c = model_->config();
    index_ = std::make_unique<memory::MemoryIndex>(static_cast<int>(settings_.routed_layers.size()),
                                                   int64_t{c.num_key_value_heads} * c.head_dim);
    for (const auto& d : Expected()["documents"]) {
      auto ids = tok_->Encode(query::DocumentText(d["ordinal"].get<int64_t>(), d["text"].get<std::string>()));
      ASSERT_TRUE(ids.ok());
      auto pooled = encoder_->Encode(*ids);
      ASSERT_TRUE(pooled.ok()) << pooled.status();
      pooled_.push_back(*pooled);
      doc_ids_.push_back(*ids);
      ASSERT_TRUE(index_->Append(std::move(*pooled), d["text"].get<std::string>()).ok());
    }
    auto r = query::MsaRunner::Create(model_.get(), &settings_, &template_, index_.get());
    ASSERT_TRUE(r.ok());
    runner_ = std::move(*r);
  }

  // Prefill the case's context, compare routing and logits, then 8 greedy steps.
  void CheckCase(const json& c) {
    SCOPED_TRACE(c["question"].get<std::string>());
    const auto ids = c["context_ids"].get<std::vector<int32_t>>();
    const auto rows = c["routing_token_indices"].get<std::vector<int64_t>>();
    std::vector<float> logits;
    ASSERT_TRUE(runner_->Prefill(ids, c["first_position"].get<int32_t>(), rows, 16, &logits).ok());
    const auto& routing = runner_->routing();
    ASSERT_EQ(routing.size(), c["routing"].size());
    for (size_t l = 0; l < routing.size(); ++l) {
      const json& want = c["routing"][l];
      EXPECT_EQ(routing[l].layer, want["layer"].get<int>());
      std::vector<int64_t> got_sel;
      for (size_t i = 0; i < routing[l].docs.size(); ++i) {
        got_sel.push_back(routing[l].docs[i].ordinal);
        EXPECT_NEAR(routing[l].docs[i].score, want["scores"][i].get<double>(), 2e-5);
      }
      EXPECT_EQ(got_sel, want["selected"].get<std::vector<int64_t>>()) << "layer " << routing[l].layer;
    }
    EXPECT_LT(RelErr(logits, c["last_logits"].get<std::vector<float>>()), 1e-4);
    std::vector<int32_t> greedy;
    for (int i = 0; i < 8; ++i) {
      const int32_t next = model::ArgMax(logits);
      greedy.push_back(next);
      ASSERT_TRUE(runner_->Extend(std::vector<int32_t>{next}, true, &logits).ok());
    }
    EXPECT_EQ(greedy, c["greedy_ids"].get<std::vector<int32_t>>());
  }

  std::unique_ptr<kernels::Backend> backend_;
  json cfg_;
  std::unique_ptr<model::Qwen3Model> model_;
  std::unique_ptr<tokenizer::Tokenizer> tok_;
  model::MsaSettings settings_;
  std::unique_ptr<encode::DocumentEncoder> encoder_;
  encode::RawKv template_;
  std::unique_ptr<memory::MemoryIndex> index_;
  std::unique_ptr<query::MsaRunner> runner_;
  std::vector<memory::PooledDocument> pooled_;
  std::vector<std::vector<int32_t>> doc_ids_;
};

TEST_P(MsaFixtureTest, DocumentTokensAndPooledMemoryMatch) {
  const json& docs = cfg_["documents"];
  ASSERT_EQ(docs.size(), pooled_.size());
  for (size_t d = 0; d < docs.size(); ++d) {
    EXPECT_EQ(doc_ids_[d], docs[d]["ids"].get<std::vector<int32_t>>());
    ASSERT_EQ(pooled_[d].num_chunks, docs[d]["num_chunks"].get<int64_t>());
    for (size_t s = 0; s < settings_.routed_layers.size(); ++s) {
      const json& want = docs[d]["pooled"][s];
      ASSERT_EQ(want["layer"].get<int>(), settings_.routed_layers[s]);
      for (const char* name : {"k", "v", "kr"}) {
        const std::vector<float>& got = name[0] == 'v' ? pooled_[d].v[s]
                                        : name[1] == 'r' ? pooled_[d].kr[s] : pooled_[d].k[s];
        std::vector<float> flat;
        for (const auto& chunk : want[name])
          for (const auto& head : chunk)
            for (const auto& x : head) flat.push_back(x.get<float>());
        ASSERT_EQ(got.size(), flat.size());
        for (size_t i = 0; i < flat.size(); ++i) {  // 1 bf16 ulp: summation order may differ
          ASSERT_NEAR(got[i], flat[i], std::abs(flat[i]) * (1.0 / 128) + 1e-6)
              << "doc " << d << " layer " << settings_.routed_layers[s] << " " << name << "[" << i << "]";
        }
      }
    }
  }
}

// A document's memory depends on nothing but the document: encoding it first in a fresh encoder
// gives bit-identical memory to encoding it after the others. (The batch size must match: other
// GEMM shapes round differently at the last bit, which bf16 rounding can expose.)
TEST_P(MsaFixtureTest, DocumentMemoryIsIndependentOfWhatWasEncodedBefore) {
  auto fresh = encode::DocumentEncoder::Create(model_.get(), &settings_, 32);
  ASSERT_TRUE(fresh.ok());
  for (size_t d : {size_t{4}, size_t{0}}) {
    auto alone = (*fresh)->Encode(doc_ids_[d]);
    ASSERT_TRUE(alone.ok());
    for (size_t s = 0; s < settings_.routed_layers.size(); ++s) {
      EXPECT_EQ(alone->k[s], pooled_[d].k[s]) << "doc " << d;
      EXPECT_EQ(alone->v[s], pooled_[d].v[s]) << "doc " << d;
      EXPECT_EQ(alone->kr[s], pooled_[d].kr[s]) << "doc " << d;
    }
  }
}

TEST_P(MsaFixtureTest, QueryRoutingLogitsAndGreedyMatch) {
  for (const json& c : cfg_["questions"]) {
    auto q = query::TokenizeQuery(*tok_, c["question"].get<std::string>());
    ASSERT_TRUE(q.ok());
    EXPECT_EQ(q->ids, c["query_ids"].get<std::vector<int32_t>>());
    EXPECT_EQ(q->prompt_tokens, c["routing_token_range"][1].get<int64_t>());
    CheckCase(c);
  }
}

// Only msa_cos carries the second-round and deletion cases.
class MsaRoundsFixtureTest : public MsaFixtureTest {};

TEST_P(MsaRoundsFixtureTest, SecondRoundAndDeletionMatch) {
  CheckCase(cfg_["second_round"]);
  for (int64_t d : cfg_["deletion"]["deleted_ordinals"].get<std::vector<int64_t>>()) {
    ASSERT_TRUE(index_->Delete(d).ok());
  }
  CheckCase(cfg_["deletion"]);
}

std::string ParamName(const ::testing::TestParamInfo<std::tuple<std::string, std::string>>& info) {
  return std::get<0>(info.param) + "_" + std::get<1>(info.param);
}
INSTANTIATE_TEST_SUITE_P(TorchReference, MsaFixtureTest,
                         ::testing::Combine(::testing::Values("msa_cos", "msa_dot", "qwen3_f32_training_free"),
                                            ::testing::Values("cpu", "cuda")),
                         ParamName);
INSTANTIATE_TEST_SUITE_P(TorchReference, MsaRoundsFixtureTest,
                         ::testing::Combine(::testing::Values("msa_cos"), ::testing::Values("cpu", "cuda")),
                         ParamName);

// The same memory through the embedded API: Route() must select what the reference selects, on
// each backend (cuda skips, saying so, without a GPU).
class MemorySessionTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    std::string why;
    auto be = kernels::BackendForTest(GetParam(), &why);  // the session makes its own backend
    ASSERT_TRUE(be.ok()) << be.status();
    if (*be == nullptr) GTEST_SKIP() << why << "; run build/engine/mneme_engine_test on a GPU host (docs/gpu.md)";
  }
};

TEST_P(MemorySessionTest, RouteMatchesReferenceAndAppendIsRoutableAtOnce) {
  const json& cfg = Expected()["configs"]["msa_cos"];
  SessionOptions opts;
  opts.model_dir = "tests/fixtures/msa/msa_cos";
  opts.backend = *kernels::ParseBackendKind(GetParam());
  opts.precision = kernels::Precision::kFp32;  // the reference's numerics
  auto s = MemorySession::Open(opts);
  ASSERT_TRUE(s.ok()) << s.status();
  MemorySession& session = **s;
  EXPECT_EQ(session.Route("anything").status().code(), absl::StatusCode::kFailedPrecondition);
  const json& docs = Expected()["documents"];
  const json& c = cfg["questions"][0];
  // Append all but the last document, query, then append the last: the next query must see it
  // (the reference selects it in layer 2) with no rebuild.
  for (size_t i = 0; i < docs.size(); ++i) {
    if (i + 1 == docs.size()) {
      ASSERT_TRUE(session.Route(c["question"].get<std::string>()).ok());
    }
    auto a = session.Append(docs[i]["text"].get<std::string>());
    ASSERT_TRUE(a.ok()) << a.status();
    EXPECT_EQ(a->ordinal, docs[i]["ordinal"].get<int64_t>());
  }
  auto r = session.Route(c["question"].get<std::string>());
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->layers.size(), 2u);
  for (size_t l = 0; l < 2; ++l) {
    std::vector<int64_t> sel;
    for (const auto& d : r->layers[l].docs) sel.push_back(d.ordinal);
    EXPECT_EQ(sel, c["routing"][l]["selected"].get<std::vector<int64_t>>());
  }
  // Bad documents are refused; deletion stops routing at once.
  const int64_t top = r->layers[0].docs[0].ordinal;
  EXPECT_EQ(session.Append("").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(session.Append("bad \xff utf8").status().code(), absl::StatusCode::kInvalidArgument);
  ASSERT_TRUE(session.Delete(top).ok());
  EXPECT_EQ(session.Delete(top).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(session.Delete(999).code(), absl::StatusCode::kNotFound);
  auto r2 = session.Route(c["question"].get<std::string>());
  ASSERT_TRUE(r2.ok());
  for (const auto& layer : r2->layers)
    for (const auto& d : layer.docs) EXPECT_NE(d.ordinal, top) << "a deleted document routed";
}

TEST_P(MemorySessionTest, AskRunsRoundsAndIsDeterministic) {
  SessionOptions opts;
  opts.model_dir = "tests/fixtures/msa/msa_cos";
  opts.backend = *kernels::ParseBackendKind(GetParam());
  opts.precision = kernels::Precision::kFp32;  // the reference's numerics
  auto s = MemorySession::Open(opts);
  ASSERT_TRUE(s.ok()) << s.status();
  for (const auto& d : Expected()["documents"]) ASSERT_TRUE((*s)->Append(d["text"].get<std::string>()).ok());
  AskOptions ao;
  ao.max_new_tokens = 12;
  std::vector<int32_t> streamed;
  auto a = (*s)->Ask("What temperature did sensor 17 report?", ao, [&](int32_t id) { streamed.push_back(id); });
  ASSERT_TRUE(a.ok()) << a.status();
  auto b = (*s)->Ask("What temperature did sensor 17 report?", ao);
  ASSERT_TRUE(b.ok());
  ASSERT_FALSE(a->rounds.empty());
  EXPECT_EQ(a->rounds[0].new_ids, b->rounds[0].new_ids);
  EXPECT_EQ(a->text, b->text);
  EXPECT_EQ(static_cast<int64_t>(streamed.size()), a->new_tokens);
  // The first round's greedy tokens equal the reference's greedy continuation (the random
  // model emits no control token in its first 8 steps here).
  const auto want = Expected()["configs"]["msa_cos"]["questions"][0]["greedy_ids"].get<std::vector<int32_t>>();
  ASSERT_GE(a->rounds[0].new_ids.size(), want.size());
  EXPECT_EQ(std::vector<int32_t>(a->rounds[0].new_ids.begin(), a->rounds[0].new_ids.begin() + 8), want);
  EXPECT_EQ(a->rounds[0].routing.size(), 2u);
}

// Packed encoding (several documents per forward, attention kept per document) gives each
// document the memory it gets alone, at both precisions the backend supports (on cuda, bf16
// takes the packed tensor-core attention).
TEST_P(MemorySessionTest, PackedEncodingEqualsEncodingAlone) {
  for (kernels::Precision precision : {kernels::Precision::kFp32, kernels::Precision::kBf16}) {
    if (precision == kernels::Precision::kBf16 && GetParam() == "cpu") continue;  // cpu: fp32 weights only
    SessionOptions opts;
    opts.model_dir = "tests/fixtures/msa/msa_cos";
    opts.backend = *kernels::ParseBackendKind(GetParam());
    opts.precision = precision;
    opts.encode_batch_tokens = 512;  // several fixture documents per forward, one split across two
    auto s = MemorySession::Open(opts);
    ASSERT_TRUE(s.ok()) << s.status();
    std::vector<std::string> texts;
    for (const auto& d : Expected()["documents"]) texts.push_back(d["text"].get<std::string>());
    texts.push_back(std::string(700, 'x') + " a document longer than one forward");
    std::vector<std::string_view> views(texts.begin(), texts.end());
    auto packed = (*s)->EncodeBatch(0, views);
    ASSERT_TRUE(packed.ok()) << packed.status();
    ASSERT_EQ(packed->size(), texts.size());
    int64_t packed_docs = 0;
    for (size_t i = 0; i < texts.size(); ++i) {
      auto alone = (*s)->Encode(static_cast<int64_t>(i), texts[i]);
      ASSERT_TRUE(alone.ok()) << alone.status();
      const memory::PooledDocument& p = (*packed)[i];
      ASSERT_EQ(p.num_tokens, alone->num_tokens) << i;
      ASSERT_EQ(p.num_chunks, alone->num_chunks) << i;
      packed_docs += p.num_tokens < 512;
      for (size_t slot = 0; slot < p.k.size(); ++slot) {
        for (const auto& [got, want] : {std::pair{&p.k[slot], &alone->k[slot]}, {&p.v[slot], &alone->v[slot]},
                                        {&p.kr[slot], &alone->kr[slot]}}) {
          ASSERT_EQ(got->size(), want->size());
          double max_ref = 0, max_err = 0;
          for (size_t j = 0; j < got->size(); ++j) {
            max_ref = std::max(max_ref, std::abs(double((*want)[j])));
            max_err = std::max(max_err, std::abs(double((*got)[j]) - (*want)[j]));
          }
          // Both are rounded to bf16; summation order may move a value by one bf16 step.
          EXPECT_LE(max_err, max_ref * (precision == kernels::Precision::kBf16 ? 3e-2 : 8e-3))
              << "document " << i << " slot " << slot;
        }
      }
    }
    EXPECT_GE(packed_docs, 3) << "the case packs too few documents to check packing";
    EXPECT_GT(packed->back().num_tokens, 512) << "the long document fits one forward: the batched path is unchecked";
  }
  SessionOptions opts;
  opts.model_dir = "tests/fixtures/msa/msa_cos";
  opts.backend = *kernels::ParseBackendKind(GetParam());
  auto s = MemorySession::Open(opts);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ((*s)->EncodeBatch(0, {"a", ""}).status().code(), absl::StatusCode::kInvalidArgument);
}

INSTANTIATE_TEST_SUITE_P(Backends, MemorySessionTest, ::testing::Values("cpu", "cuda"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace mneme
