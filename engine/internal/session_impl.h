// MemorySession's state, shared by engine/session.cc (open, append, route) and engine/ask.cc
// (the interleaving loop). Engine-internal.
#ifndef MNEME_ENGINE_INTERNAL_SESSION_IMPL_H_
#define MNEME_ENGINE_INTERNAL_SESSION_IMPL_H_

#include <memory>
#include <string>

#include "engine/encode/document_encoder.h"
#include "engine/engine.h"
#include "engine/model/qwen3_model.h"
#include "engine/query/msa_runner.h"
#include "engine/query/templates.h"
#include "engine/tokenizer/tokenizer.h"
#include "memory/memory_index.h"

namespace mneme {

struct MemorySession::Impl {
  std::unique_ptr<kernels::Backend> backend;
  std::unique_ptr<model::Qwen3Model> model;
  std::unique_ptr<tokenizer::Tokenizer> tok;
  model::MsaSettings settings;
  query::SpecialIds special{};
  std::unique_ptr<encode::DocumentEncoder> encoder;
  encode::RawKv template_kv;
  std::unique_ptr<memory::MemoryIndex> index;
  std::unique_ptr<query::MsaRunner> runner;

  // First query position: template tokens + the configured k (docs/msa.md §3).
  int32_t FirstPosition() const {
    return static_cast<int32_t>(template_kv.tokens + settings.top_k);
  }
};

}  // namespace mneme

#endif  // MNEME_ENGINE_INTERNAL_SESSION_IMPL_H_
