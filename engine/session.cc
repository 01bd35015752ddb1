#include <chrono>

#include "absl/strings/str_format.h"
#include "common/status.h"
#include "engine/engine.h"
#include "engine/internal/session_impl.h"

namespace mneme {
namespace {

uint64_t Mix64(uint64_t x) {  // splitmix64 finaliser
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

}  // namespace

uint64_t DocumentId(int64_t ordinal, std::string_view text) {
  uint64_t h = 0xcbf29ce484222325ull;  // FNV-1a over the text, mixed with the ordinal
  for (unsigned char c : text) h = (h ^ c) * 0x100000001b3ull;
  return Mix64(h ^ Mix64(static_cast<uint64_t>(ordinal)));
}

MemorySession::MemorySession(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
MemorySession::~MemorySession() = default;

absl::StatusOr<std::unique_ptr<MemorySession>> MemorySession::Open(const SessionOptions& opts) {
  auto impl = std::make_unique<Impl>();
  MNEME_ASSIGN_OR_RETURN(impl->backend, kernels::CreateBackend(opts.backend));
  model::LoadOptions load;
  load.bf16_weights = kernels::UsesBf16Weights(opts.precision, *impl->backend);
  MNEME_ASSIGN_OR_RETURN(impl->model, model::Qwen3Model::Load(opts.model_dir, impl->backend.get(), load));
  MNEME_ASSIGN_OR_RETURN(impl->tok, tokenizer::Tokenizer::FromFile(opts.model_dir + "/tokenizer.json"));
  MNEME_ASSIGN_OR_RETURN(impl->settings, model::ResolveMsaSettings(impl->model->config(), opts.msa));
  MNEME_ASSIGN_OR_RETURN(impl->special, query::SpecialIds::From(*impl->tok));
  const int64_t batch = opts.encode_batch_tokens > 0 ? opts.encode_batch_tokens
                                                    : (impl->backend->host_addressable() ? 256 : 4096);
  MNEME_ASSIGN_OR_RETURN(impl->encoder, encode::DocumentEncoder::Create(impl->model.get(), &impl->settings, batch));
  MNEME_ASSIGN_OR_RETURN(std::vector<int32_t> tmpl, impl->tok->Encode(query::kTemplatePrefix));
  MNEME_ASSIGN_OR_RETURN(impl->template_kv, impl->encoder->EncodeRaw(tmpl));
  const model::ModelConfig& c = impl->model->config();
  impl->index = std::make_unique<memory::MemoryIndex>(
      static_cast<int>(impl->settings.routed_layers.size()), int64_t{c.num_key_value_heads} * c.head_dim);
  // The content cache asks for its whole ring up front. The default gives way to a GPU that is
  // short of memory (halving down to 64 MiB, then none); a size the caller set is required.
  size_t cache_bytes = impl->backend->host_addressable()
                           ? 0
                           : static_cast<size_t>(opts.content_cache_mb > 0 ? opts.content_cache_mb : 1024) << 20;
  for (;;) {
    absl::StatusOr<std::unique_ptr<query::MsaRunner>> runner = query::MsaRunner::Create(
        impl->model.get(), &impl->settings, &impl->template_kv, impl->index.get(), cache_bytes);
    if (runner.ok()) {
      impl->runner = std::move(*runner);
      break;
    }
    if (opts.content_cache_mb > 0 || cache_bytes == 0 || !absl::IsResourceExhausted(runner.status())) {
      return runner.status();
    }
    cache_bytes = cache_bytes / 2 >= (size_t{64} << 20) ? cache_bytes / 2 : 0;
  }
  return std::unique_ptr<MemorySession>(new MemorySession(std::move(impl)));
}

absl::StatusOr<AppendedDocument> MemorySession::Append(std::string_view text) {
  if (text.empty()) return absl::InvalidArgumentError("document is empty");
  const int64_t ordinal = impl_->index->num_documents();
  MNEME_ASSIGN_OR_RETURN(std::vector<int32_t> ids, impl_->tok->Encode(query::DocumentText(ordinal, text)));
  MNEME_ASSIGN_OR_RETURN(memory::PooledDocument doc, impl_->encoder->Encode(ids));
  const int64_t chunks = doc.num_chunks;
  MNEME_ASSIGN_OR_RETURN(int64_t got, impl_->index->Append(std::move(doc), std::string(text)));
  if (got != ordinal) return absl::InternalError("memory index assigned an unexpected ordinal");
  return AppendedDocument{ordinal, DocumentId(ordinal, text), static_cast<int64_t>(ids.size()), chunks};
}

absl::StatusOr<int64_t> MemorySession::AppendPooled(memory::PooledDocument doc, std::string text) {
  return impl_->index->Append(std::move(doc), std::move(text));
}

absl::StatusOr<memory::PooledDocument> MemorySession::Encode(int64_t ordinal, std::string_view text) {
  if (text.empty()) return absl::InvalidArgumentError("document is empty");
  MNEME_ASSIGN_OR_RETURN(std::vector<int32_t> ids, impl_->tok->Encode(query::DocumentText(ordinal, text)));
  return impl_->encoder->Encode(ids);
}

absl::StatusOr<std::vector<memory::PooledDocument>> MemorySession::EncodeBatch(
    int64_t first_ordinal, const std::vector<std::string_view>& texts) {
  std::vector<int64_t> ordinals(texts.size());
  for (size_t i = 0; i < texts.size(); ++i) ordinals[i] = first_ordinal + static_cast<int64_t>(i);
  return EncodeBatch(ordinals, texts);
}

absl::StatusOr<std::vector<memory::PooledDocument>> MemorySession::EncodeBatch(
    const std::vector<int64_t>& ordinals, const std::vector<std::string_view>& texts) {
  if (ordinals.size() != texts.size()) return absl::InvalidArgumentError("encode: one ordinal per text");
  std::vector<std::vector<int32_t>> ids;
  ids.reserve(texts.size());
  for (size_t i = 0; i < texts.size(); ++i) {
    if (texts[i].empty()) return absl::InvalidArgumentError(absl::StrFormat("document %d is empty", i));
    MNEME_ASSIGN_OR_RETURN(ids.emplace_back(), impl_->tok->Encode(query::DocumentText(ordinals[i], texts[i])));
  }
  return impl_->encoder->EncodeBatch(ids);
}

absl::StatusOr<int64_t> MemorySession::PlanChunks(int64_t ordinal, std::string_view text) const {
  if (text.empty()) return absl::InvalidArgumentError("document is empty");
  MNEME_ASSIGN_OR_RETURN(std::vector<int32_t> ids, impl_->tok->Encode(query::DocumentText(ordinal, text)));
  const int64_t tokens = static_cast<int64_t>(ids.size());
  const int64_t limit = impl_->model->config().max_position_embeddings;
  if (tokens > limit) {
    return absl::OutOfRangeError(absl::StrFormat("document of %d tokens exceeds the model's %d positions", tokens, limit));
  }
  const int64_t pool = impl_->settings.pooling;
  return (tokens + pool - 1) / pool;
}

void MemorySession::UseMemory(query::RoutedMemory* memory) { impl_->runner->set_memory(memory); }
query::LocalMemory* MemorySession::local_memory() { return impl_->runner->local_memory(); }
kernels::Backend* MemorySession::backend() const { return impl_->backend.get(); }
const model::ModelConfig& MemorySession::model_config() const { return impl_->model->config(); }

int64_t MemorySession::ReserveOrdinal() { return impl_->index->AppendAbsent(); }

absl::Status MemorySession::Delete(int64_t ordinal) { return impl_->index->Delete(ordinal); }

absl::StatusOr<RouteResult> MemorySession::Route(std::string_view question) {
  if (impl_->runner->memory()->live_documents() == 0) {
    return absl::FailedPreconditionError("the memory holds no live document to route to");
  }
  const auto t0 = std::chrono::steady_clock::now();
  MNEME_ASSIGN_OR_RETURN(query::QueryTokens q, query::TokenizeQuery(*impl_->tok, question));
  std::vector<int64_t> rows;
  for (int64_t i = 0; i < q.prompt_tokens; ++i) rows.push_back(i);
  std::vector<float> logits;
  MNEME_RETURN_IF_ERROR(impl_->runner->Prefill(q.ids, impl_->FirstPosition(), rows, 0, &logits));
  RouteResult r;
  r.layers = impl_->runner->routing();
  r.ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  r.logits = std::move(logits);
  return r;
}

absl::StatusOr<std::vector<std::string>> MemorySession::SplitForPositions(std::string_view text) const {
  const int64_t limit = impl_->model->config().max_position_embeddings;
  MNEME_ASSIGN_OR_RETURN(std::vector<int32_t> ids, impl_->tok->Encode(query::DocumentText(999999999, text)));
  if (static_cast<int64_t>(ids.size()) <= limit) return std::vector<std::string>{std::string(text)};
  // Cut at whitespace into pieces of about half the limit's share, then verify each.
  const size_t parts = static_cast<size_t>(ids.size() * 2 / static_cast<size_t>(limit)) + 1;
  const size_t target = text.size() / parts + 1;
  std::vector<std::string> out;
  size_t at = 0;
  while (at < text.size()) {
    size_t end = std::min(text.size(), at + target);
    if (end < text.size()) {
      size_t ws = text.find_first_of(" \n\t", end);
      end = ws == std::string_view::npos ? text.size() : ws;
    }
    out.emplace_back(text.substr(at, end - at));
    at = end;
  }
  for (const std::string& part : out) {
    MNEME_ASSIGN_OR_RETURN(std::vector<int32_t> p, impl_->tok->Encode(query::DocumentText(999999999, part)));
    if (static_cast<int64_t>(p.size()) > limit) {
      return absl::OutOfRangeError(absl::StrFormat(
          "document cannot be split at whitespace into parts of at most %d tokens", limit));
    }
  }
  return out;
}

const model::MsaSettings& MemorySession::settings() const { return impl_->settings; }
int MemorySession::kv_heads() const { return impl_->model->config().num_key_value_heads; }
int MemorySession::head_dim() const { return impl_->model->config().head_dim; }
const memory::MemoryIndex& MemorySession::index() const { return *impl_->index; }
const tokenizer::Tokenizer& MemorySession::tokenizer() const { return *impl_->tok; }
const std::string& MemorySession::model_fingerprint() const { return impl_->model->fingerprint(); }
std::string MemorySession::backend_name() const { return impl_->backend->name(); }
const query::ContentCache* MemorySession::content_cache() const { return impl_->runner->content_cache(); }

}  // namespace mneme
