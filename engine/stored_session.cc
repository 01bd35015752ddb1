#include "engine/stored_session.h"

#include <chrono>
#include <filesystem>

#include "absl/strings/str_format.h"
#include "common/status.h"
#include "memory/document_segments.h"
#include "memory/memory_index.h"
#include "memory/segment_codec.h"
#include "memory/store.h"

namespace mneme {
namespace {

SessionOptions EngineOptions(const memory::SessionInfo& info, kernels::BackendKind backend, int64_t batch,
                             kernels::Precision precision = kernels::Precision::kFp32) {
  SessionOptions o;
  o.model_dir = info.model_dir;
  o.backend = backend;
  o.precision = precision;
  o.encode_batch_tokens = batch;
  o.msa.top_k = info.top_k;
  o.msa.pooling = info.pooling;
  o.msa.routed_layers = info.routed_layers;
  return o;
}

}  // namespace

StoredSession::~StoredSession() = default;

absl::StatusOr<memory::SessionInfo> StoredSession::Create(memory::Store* store, const NewSessionOptions& opts) {
  MNEME_RETURN_IF_ERROR(memory::ValidateSessionName(opts.name));
  memory::SessionInfo info;
  info.name = opts.name;
  std::error_code ec;
  info.model_dir = std::filesystem::absolute(opts.model_dir, ec).lexically_normal().string();
  info.top_k = opts.msa.top_k;
  info.pooling = opts.msa.pooling;
  info.routed_layers = opts.msa.routed_layers;
  info.codec = opts.codec;
  info.retention = opts.retention;
  info.created_unix = std::chrono::duration_cast<std::chrono::seconds>(
                          std::chrono::system_clock::now().time_since_epoch()).count();
  MNEME_ASSIGN_OR_RETURN(auto session, MemorySession::Open(EngineOptions(info, kernels::BackendKind::kCpu, 256)));
  info.fingerprint = session->model_fingerprint();
  info.layers = session->settings().routed_layers;
  info.kv_heads = session->kv_heads();
  info.head_dim = session->head_dim();
  return store->CreateSession(std::move(info));
}

absl::StatusOr<std::unique_ptr<StoredSession>> StoredSession::Open(memory::Store* store, std::string_view name,
                                                                  const StoredSessionOptions& opts) {
  std::unique_ptr<StoredSession> s(new StoredSession());
  s->store_ = store;
  MNEME_ASSIGN_OR_RETURN(s->info_, store->GetSession(name));
  MNEME_ASSIGN_OR_RETURN(s->fingerprint_, memory::FingerprintValue(s->info_.fingerprint));
  MNEME_RETURN_IF_ERROR(s->Load(opts));
  return s;
}

absl::Status StoredSession::Load(const StoredSessionOptions& opts) {
  const auto t0 = std::chrono::steady_clock::now();
  MNEME_ASSIGN_OR_RETURN(session_, MemorySession::Open(EngineOptions(info_, opts.backend, opts.encode_batch_tokens, opts.precision)));
  if (session_->model_fingerprint() != info_.fingerprint) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "session '%s' was created with a model of fingerprint %s, but %s now has fingerprint %s; "
        "its memory cannot be used with a different model",
        info_.name, info_.fingerprint, info_.model_dir, session_->model_fingerprint()));
  }
  const model::MsaSettings& st = session_->settings();
  if (st.routed_layers != info_.layers || session_->kv_heads() != info_.kv_heads ||
      session_->head_dim() != info_.head_dim) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "session '%s': the model's routed layers or KV shape differ from the stored memory", info_.name));
  }
  int64_t total = 0, done = 0, tokens = 0;
  if (opts.on_load) {
    MNEME_ASSIGN_OR_RETURN(total, store_->NextOrdinal(info_.id));  // records, tombstones too
  }
  MNEME_RETURN_IF_ERROR(store_->ScanFull(info_, [&](const memory::DocumentInfo& d, std::string_view text,
                                                    const std::vector<std::string>& segments) -> absl::Status {
    if (d.ordinal != session_->index().num_documents()) {
      return absl::DataLossError(absl::StrFormat("session '%s': document %d follows %d documents", info_.name,
                                                 d.ordinal, session_->index().num_documents()));
    }
    global_.push_back(d.effective_ordinal());
    if (d.deleted) {
      session_->ReserveOrdinal();
    } else {
      MNEME_ASSIGN_OR_RETURN(memory::PooledDocument doc,
                             memory::DecodeDocumentSegments(info_, fingerprint_, d, segments));
      MNEME_RETURN_IF_ERROR(session_->AppendPooled(std::move(doc), std::string(text)).status());
      tokens += d.tokens;
    }
    if (opts.on_load) opts.on_load(++done, total, tokens);
    return absl::OkStatus();
  }));
  load_ms_ = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  return absl::OkStatus();
}

absl::StatusOr<StoredAppend> StoredSession::Append(const DocumentInput& in) {
  std::vector<StoredAppend> done;
  MNEME_RETURN_IF_ERROR(AppendBatch({in}, &done));
  return std::move(done.at(0));
}

int64_t StoredSession::next_ordinal() const {
  std::lock_guard lock(mu_);
  return session_->index().num_documents();
}

absl::Status StoredSession::AppendBatch(const std::vector<DocumentInput>& docs, std::vector<StoredAppend>* done) {
  std::lock_guard lock(mu_);
  done->clear();
  if (store_->read_only()) return absl::FailedPreconditionError("the memory directory is open read-only");
  const int64_t first = session_->index().num_documents();
  std::vector<std::string_view> texts;
  std::vector<int64_t> ordinals;  // what each document's template names
  for (size_t i = 0; i < docs.size(); ++i) {
    texts.push_back(docs[i].text);
    ordinals.push_back(docs[i].global_ordinal >= 0 ? docs[i].global_ordinal : first + static_cast<int64_t>(i));
  }
  absl::StatusOr<std::vector<memory::PooledDocument>> batch = session_->EncodeBatch(ordinals, texts);
  if (!batch.ok()) {
    // One bad document fails the whole batch: go one by one, so every document before it is
    // stored and the error is the bad document's own, exactly as with Append.
    for (size_t i = 0; i < docs.size(); ++i) {
      const int64_t ordinal = first + static_cast<int64_t>(i);
      MNEME_ASSIGN_OR_RETURN(memory::PooledDocument doc, session_->Encode(ordinals[i], docs[i].text));
      MNEME_ASSIGN_OR_RETURN(StoredAppend a, StoreEncoded(docs[i], ordinal, std::move(doc)));
      done->push_back(std::move(a));
    }
    return absl::OkStatus();  // the batch failed as a whole (say, out of memory) but each fits
  }
  std::vector<memory::PooledDocument>& encoded = *batch;
  for (size_t i = 0; i < docs.size(); ++i) {
    MNEME_ASSIGN_OR_RETURN(StoredAppend a, StoreEncoded(docs[i], first + static_cast<int64_t>(i), std::move(encoded[i])));
    done->push_back(std::move(a));
  }
  return absl::OkStatus();
}

absl::StatusOr<StoredAppend> StoredSession::StoreEncoded(const DocumentInput& in, int64_t ordinal,
                                                         memory::PooledDocument doc) {
  if (session_->index().num_documents() != ordinal) {
    return absl::InternalError("memory index assigned an unexpected ordinal");
  }
  const int64_t effective = in.global_ordinal >= 0 ? in.global_ordinal : ordinal;
  const uint64_t id = DocumentId(effective, in.text);
  memory::DocumentWrite w;
  w.info.ordinal = ordinal;
  w.info.global_ordinal = in.global_ordinal;
  w.info.id = id;
  w.info.tokens = doc.num_tokens;
  w.info.chunks = doc.num_chunks;
  w.info.source = in.source;
  w.info.tags = in.tags;
  w.info.part_of = in.part_of;
  w.info.codec = info_.codec;
  w.text = in.text;
  MNEME_ASSIGN_OR_RETURN(w.segments, memory::EncodeDocumentSegments(info_, fingerprint_, id, info_.codec, doc));
  if (info_.codec != memory::SegmentCodec::kBf16) {
    // Route over exactly what a restart will load.
    MNEME_ASSIGN_OR_RETURN(doc, memory::DecodeDocumentSegments(info_, fingerprint_, w.info, w.segments));
  }
  MNEME_ASSIGN_OR_RETURN(memory::AppendResult r, store_->Append(info_, w));
  StoredAppend out;
  out.doc = AppendedDocument{ordinal, id, doc.num_tokens, doc.num_chunks};
  MNEME_ASSIGN_OR_RETURN(int64_t got, session_->AppendPooled(std::move(doc), std::string(in.text)));
  if (got != ordinal) return absl::InternalError("memory index assigned an unexpected ordinal");
  global_.push_back(effective);
  for (int64_t o : r.evicted) MNEME_RETURN_IF_ERROR(session_->Delete(o));
  out.evicted = std::move(r.evicted);
  return out;
}

absl::Status StoredSession::Delete(int64_t ordinal) {
  std::lock_guard lock(mu_);
  MNEME_RETURN_IF_ERROR(store_->Delete(info_, ordinal));
  return session_->Delete(ordinal);
}

absl::StatusOr<RouteResult> StoredSession::Route(std::string_view question) {
  std::lock_guard lock(mu_);
  return session_->Route(question);
}

absl::StatusOr<AskResult> StoredSession::Ask(std::string_view question, const AskOptions& opts,
                                             const std::function<void(int32_t)>& on_token) {
  std::lock_guard lock(mu_);
  return session_->Ask(question, opts, on_token);
}

absl::StatusOr<std::vector<std::string>> StoredSession::SplitForPositions(std::string_view text) const {
  std::lock_guard lock(mu_);
  return session_->SplitForPositions(text);
}

int64_t StoredSession::global_ordinal(int64_t ordinal) const {
  std::lock_guard lock(mu_);
  return global_.at(static_cast<size_t>(ordinal));
}

int64_t StoredSession::live_documents() const {
  std::lock_guard lock(mu_);
  return session_->index().live_documents();
}

std::string StoredSession::backend_name() const { return session_->backend_name(); }
const tokenizer::Tokenizer& StoredSession::tokenizer() const { return session_->tokenizer(); }

}  // namespace mneme
