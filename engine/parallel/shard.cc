#include "engine/parallel/shard.h"

#include "absl/strings/str_format.h"
#include "common/status.h"
#include "memory/memory_index.h"

namespace mneme::parallel {

Shard::~Shard() = default;

std::unique_ptr<Shard> Shard::Stored(std::unique_ptr<StoredSession> session) {
  std::unique_ptr<Shard> s(new Shard());
  s->stored_ = std::move(session);
  const int64_t n = s->stored_->next_ordinal();
  for (int64_t local = 0; local < n; ++local) s->Track(local, s->stored_->global_ordinal(local));
  return s;
}

std::unique_ptr<Shard> Shard::InMemory(std::unique_ptr<MemorySession> session) {
  std::unique_ptr<Shard> s(new Shard());
  s->plain_ = std::move(session);
  return s;
}

MemorySession& Shard::memory() { return stored_ ? stored_->memory() : *plain_; }

void Shard::Track(int64_t local, int64_t global) {
  if (global_.size() <= static_cast<size_t>(local)) global_.resize(static_cast<size_t>(local) + 1, -1);
  global_[static_cast<size_t>(local)] = global;
  local_[global] = local;
}

int64_t Shard::Local(int64_t global) const {
  auto it = local_.find(global);
  return it == local_.end() ? -1 : it->second;
}

absl::Status Shard::AppendBatch(const std::vector<ShardInput>& docs, std::vector<ShardAppended>* done) {
  done->clear();
  for (const ShardInput& d : docs) {
    if (Local(d.global) >= 0) return absl::AlreadyExistsError(absl::StrFormat("document %d is already stored", d.global));
  }
  if (stored_) {
    std::vector<DocumentInput> in;
    for (const ShardInput& d : docs) in.push_back({d.text, d.source, d.tags, d.part_of, d.global});
    std::vector<StoredAppend> out;
    const absl::Status st = stored_->AppendBatch(in, &out);
    for (size_t i = 0; i < out.size(); ++i) {
      Track(out[i].doc.ordinal, docs[i].global);
      ShardAppended a{docs[i].global, out[i].doc.id, out[i].doc.tokens, out[i].doc.chunks, {}};
      for (int64_t e : out[i].evicted) a.evicted.push_back(Global(e));
      done->push_back(std::move(a));
    }
    return st;
  }
  return absl::FailedPreconditionError("an in-memory shard takes encoded documents only (AppendPooled)");
}

absl::Status Shard::AppendPooled(int64_t global, memory::PooledDocument doc, std::string text) {
  if (stored_) return absl::FailedPreconditionError("a stored shard encodes its own documents");
  MNEME_ASSIGN_OR_RETURN(int64_t local, plain_->AppendPooled(std::move(doc), std::move(text)));
  Track(local, global);
  return absl::OkStatus();
}

absl::Status Shard::Delete(int64_t global) {
  const int64_t local = Local(global);
  if (local < 0) return absl::NotFoundError(absl::StrFormat("no document %d", global));
  return stored_ ? stored_->Delete(local) : plain_->Delete(local);
}

std::vector<ShardDoc> Shard::Inventory() const {
  const memory::MemoryIndex& index = stored_ ? stored_->memory().index() : plain_->index();
  std::vector<ShardDoc> out;
  for (int64_t local = 0; local < index.num_documents(); ++local) {
    const bool live = index.IsLive(local);
    out.push_back({global_[static_cast<size_t>(local)], live ? index.num_chunks(local) : 0, live});
  }
  return out;
}

}  // namespace mneme::parallel
