#include "engine/parallel/parallel_session.h"

#include <algorithm>
#include <chrono>
#include <limits>

#include "absl/strings/str_format.h"
#include "common/status.h"
#include "engine/parallel/placement.h"
#include "engine/parallel/wire.h"

namespace mneme::parallel {

absl::StatusOr<std::unique_ptr<ParallelSession>> ParallelSession::Open(Transport* transport,
                                                                       std::unique_ptr<Shard> local,
                                                                       ShardedOptions opts, int64_t next_ordinal,
                                                                       std::unique_ptr<kernels::DeviceLink> link) {
  if (transport->rank() != 0) return absl::FailedPreconditionError("only rank 0 coordinates");
  const auto t0 = std::chrono::steady_clock::now();
  std::unique_ptr<ParallelSession> s(new ParallelSession());
  s->transport_ = transport;
  s->local_ = std::move(local);
  s->link_ = std::move(link);
  opts.link = s->link_.get();
  s->memory_ = std::make_unique<ShardedMemory>(transport, s->local_.get(), opts);
  MNEME_RETURN_IF_ERROR(s->memory_->Refresh());
  s->next_ = std::max(next_ordinal, s->memory_->max_global() + 1);
  s->local_->memory().UseMemory(s->memory_.get());
  s->load_ms_ = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  if (s->local_->stored() != nullptr) s->load_ms_ += s->local_->stored()->load_ms();
  return s;
}

ParallelSession::~ParallelSession() {
  if (local_) local_->memory().UseMemory(nullptr);
}

void ShutdownWorkers(Transport* transport, const std::string& reason) {
  std::string req;
  Writer(&req).Put<uint32_t>(static_cast<uint32_t>(Op::kShutdown)).PutString(reason);
  for (int r = 1; r < transport->size(); ++r) {
    if (!transport->PeerGone(r)) transport->Send(r, kRequestTag, req, After(std::chrono::milliseconds(2000))).IgnoreError();
  }
}

absl::Status ParallelSession::AppendBatch(const std::vector<DocumentInput>& docs, std::vector<StoredAppend>* done) {
  done->clear();
  const int n = transport_->size();
  // Plan every document first: a bad one stops the batch before anything after it is sent.
  std::vector<std::vector<ShardInput>> per_rank(static_cast<size_t>(n));
  std::vector<int64_t> load = memory_->live_chunks_per_rank();
  absl::Status bad;
  for (size_t i = 0; i < docs.size(); ++i) {
    const int64_t global = next_ + static_cast<int64_t>(i);
    absl::StatusOr<int64_t> chunks = local_->memory().PlanChunks(global, docs[i].text);
    if (!chunks.ok()) {
      bad = chunks.status();
      break;
    }
    const int r = LeastLoaded(load);
    load[static_cast<size_t>(r)] += *chunks;
    per_rank[static_cast<size_t>(r)].push_back(
        {global, std::string(docs[i].text), docs[i].source, docs[i].tags, docs[i].part_of});
  }
  for (int r = 1; r < n; ++r) {
    const std::vector<ShardInput>& list = per_rank[static_cast<size_t>(r)];
    if (list.empty()) continue;
    std::string req;
    Writer w(&req);
    w.Put<uint32_t>(static_cast<uint32_t>(Op::kAppend)).Put<uint64_t>(list.size());
    for (const ShardInput& d : list) {
      w.Put<int64_t>(d.global).PutString(d.text).PutString(d.source).Put<uint64_t>(d.tags.size());
      for (const std::string& t : d.tags) w.PutString(t);
      w.Put<int64_t>(d.part_of);
    }
    MNEME_RETURN_IF_ERROR(memory_->SendRequest(r, req));
  }
  // Each rank stores its part in order and stops at its first failure; the batch fails at the
  // lowest global ordinal any rank (or the planning above) failed at.
  std::vector<std::pair<int, ShardAppended>> stored;
  int64_t failed_at = std::numeric_limits<int64_t>::max();
  absl::Status first_error = bad;
  if (!bad.ok()) {  // the planning loop stopped at the first document it could not place
    failed_at = next_;
    for (const auto& list : per_rank) failed_at += static_cast<int64_t>(list.size());
  }
  auto note_failure = [&](int rank, const absl::Status& st, size_t stored_count) {
    const std::vector<ShardInput>& list = per_rank[static_cast<size_t>(rank)];
    if (st.ok() || stored_count >= list.size()) return;
    const int64_t at = list[stored_count].global;
    if (at < failed_at) {
      failed_at = at;
      first_error = absl::Status(st.code(), absl::StrFormat("document %d (rank %d): %s", at, rank, st.message()));
    }
  };
  {
    std::vector<ShardAppended> mine;
    absl::Status st = local_->AppendBatch(per_rank[0], &mine);
    note_failure(0, st, mine.size());
    for (ShardAppended& a : mine) stored.push_back({0, std::move(a)});
  }
  absl::Status lost;  // a rank that does not answer: what it stored is unknown until restart
  for (int r = 1; r < n; ++r) {
    if (per_rank[static_cast<size_t>(r)].empty()) continue;
    absl::StatusOr<std::string_view> body = memory_->ReceiveReply(r);
    if (!body.ok()) {
      if (lost.ok()) lost = body.status();
      continue;
    }
    Reader in(*body);
    MNEME_ASSIGN_OR_RETURN(uint64_t count, in.Get<uint64_t>());
    for (uint64_t i = 0; i < count; ++i) {
      ShardAppended a;
      MNEME_ASSIGN_OR_RETURN(a.global, in.Get<int64_t>());
      MNEME_ASSIGN_OR_RETURN(a.id, in.Get<uint64_t>());
      MNEME_ASSIGN_OR_RETURN(a.tokens, in.Get<int64_t>());
      MNEME_ASSIGN_OR_RETURN(a.chunks, in.Get<int64_t>());
      MNEME_RETURN_IF_ERROR(in.GetVector(&a.evicted));
      stored.push_back({r, std::move(a)});
    }
    absl::Status st;
    MNEME_RETURN_IF_ERROR(in.GetStatus(&st));
    note_failure(r, st, static_cast<size_t>(count));
  }
  std::sort(stored.begin(), stored.end(), [](const auto& a, const auto& b) { return a.second.global < b.second.global; });
  for (auto& [rank, a] : stored) {
    memory_->Placed(a.global, rank, a.chunks);
    for (int64_t e : a.evicted) memory_->Deleted(e);
    next_ = std::max(next_, a.global + 1);
  }
  if (!lost.ok()) return lost;
  // As in one process: every document before the failing one is stored and reported, nothing
  // after it is. Other ranks may already have stored later documents: they are tombstoned (their
  // ordinals stay used), so a retry of the rest does not duplicate them.
  for (auto& [rank, a] : stored) {
    if (a.global > failed_at) {
      if (absl::Status d = Delete(a.global); !d.ok() && first_error.ok()) first_error = d;
      continue;
    }
    StoredAppend out;
    out.doc = AppendedDocument{a.global, a.id, a.tokens, a.chunks};
    out.evicted = a.evicted;
    done->push_back(std::move(out));
  }
  return first_error;
}

absl::Status ParallelSession::Delete(int64_t ordinal) {
  const int owner = memory_->Owner(ordinal);
  if (owner < 0) return absl::NotFoundError(absl::StrFormat("the session has no document %d", ordinal));
  if (!memory_->IsLive(ordinal)) return absl::FailedPreconditionError(absl::StrFormat("document %d is already deleted", ordinal));
  if (owner == 0) {
    MNEME_RETURN_IF_ERROR(local_->Delete(ordinal));
  } else {
    std::string req;
    Writer(&req).Put<uint32_t>(static_cast<uint32_t>(Op::kDelete)).Put<int64_t>(ordinal);
    MNEME_RETURN_IF_ERROR(memory_->Call(owner, req).status());
  }
  memory_->Deleted(ordinal);
  return absl::OkStatus();
}

absl::StatusOr<RouteResult> ParallelSession::Route(std::string_view question) {
  return local_->memory().Route(question);
}

absl::StatusOr<AskResult> ParallelSession::Ask(std::string_view question, const AskOptions& opts,
                                               const std::function<void(int32_t)>& on_token) {
  return local_->memory().Ask(question, opts, on_token);
}

absl::StatusOr<std::vector<std::string>> ParallelSession::SplitForPositions(std::string_view text) const {
  return local_->memory().SplitForPositions(text);
}

std::string ParallelSession::backend_name() const { return local_->memory().backend_name(); }
const tokenizer::Tokenizer& ParallelSession::tokenizer() const { return local_->memory().tokenizer(); }

}  // namespace mneme::parallel
