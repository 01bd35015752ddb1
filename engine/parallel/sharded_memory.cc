#include "engine/parallel/sharded_memory.h"

#include <algorithm>
#include <cstring>
#include <functional>

#include "absl/strings/str_format.h"
#include "common/status.h"
#include "engine/parallel/wire.h"
#include "memory/memory_index.h"

namespace mneme::parallel {
namespace {

bool Better(const query::ScoredDoc& a, const query::ScoredDoc& b) {
  return a.score != b.score ? a.score > b.score : a.ordinal < b.ordinal;
}


}  // namespace

ShardedMemory::ShardedMemory(Transport* transport, Shard* local, const ShardedOptions& opts)
    : transport_(transport), local_(local), opts_(opts) {
  idsa_local_.resize(local->memory().settings().routed_layers.size());
  replies_.resize(static_cast<size_t>(transport->size()));
}

int ShardedMemory::top_m(int top_k) const {
  if (opts_.top_m > 0) return opts_.top_m;
  const int n = transport_->size();
  return static_cast<int>((5 * int64_t{top_k} + 4 * n - 1) / (4 * n));  // ceil(1.25 k / N)
}

absl::Status ShardedMemory::SendRequest(int rank, const std::string& request) {
  return transport_->Send(rank, kRequestTag, request, After(opts_.timeout));
}

absl::StatusOr<std::string_view> ShardedMemory::ReceiveReply(int rank) {
  std::string& reply = replies_[static_cast<size_t>(rank)];
  MNEME_RETURN_IF_ERROR(transport_->Recv(rank, kReplyTag, &reply, After(opts_.timeout)));
  Reader in(reply);
  absl::Status st;
  MNEME_RETURN_IF_ERROR(in.GetStatus(&st));
  if (!st.ok()) return absl::Status(st.code(), absl::StrFormat("rank %d: %s", rank, st.message()));
  return std::string_view(reply).substr(in.position());
}

absl::StatusOr<std::string_view> ShardedMemory::Call(int rank, const std::string& request) {
  MNEME_RETURN_IF_ERROR(SendRequest(rank, request));
  return ReceiveReply(rank);
}

absl::StatusOr<std::string_view> ShardedMemory::ReceiveRows(int rank, const std::vector<int64_t>& list) {
  MNEME_ASSIGN_OR_RETURN(std::string_view body, ReceiveReply(rank));
  Reader in(body);
  MNEME_ASSIGN_OR_RETURN(int64_t got, in.Get<int64_t>());
  int64_t expect = 0;
  for (int64_t g : list) expect += chunks_[static_cast<size_t>(g)];
  if (got != expect) return absl::DataLossError(absl::StrFormat("rank %d sends %d rows for %d", rank, got, expect));
  return body.substr(in.position());
}

absl::Status ShardedMemory::Refresh() {
  owner_.clear();
  chunks_.clear();
  rank_chunks_.assign(static_cast<size_t>(transport_->size()), 0);
  live_ = 0;
  auto add = [this](int rank, const ShardDoc& d) {
    if (d.global >= static_cast<int64_t>(owner_.size())) {
      owner_.resize(static_cast<size_t>(d.global) + 1, -1);
      chunks_.resize(static_cast<size_t>(d.global) + 1, 0);
    }
    owner_[static_cast<size_t>(d.global)] = rank;
    if (d.live) Placed(d.global, rank, d.chunks);
  };
  for (const ShardDoc& d : local_->Inventory()) add(0, d);
  std::string req;
  Writer(&req).Put<uint32_t>(static_cast<uint32_t>(Op::kInventory));
  for (int r = 1; r < transport_->size(); ++r) {
    MNEME_ASSIGN_OR_RETURN(std::string_view body, Call(r, req));
    Reader in(body);
    MNEME_ASSIGN_OR_RETURN(uint64_t n, in.Get<uint64_t>());
    for (uint64_t i = 0; i < n; ++i) {
      ShardDoc d;
      MNEME_ASSIGN_OR_RETURN(d.global, in.Get<int64_t>());
      MNEME_ASSIGN_OR_RETURN(d.chunks, in.Get<int64_t>());
      MNEME_ASSIGN_OR_RETURN(uint8_t live, in.Get<uint8_t>());
      d.live = live != 0;
      if (d.global < 0) return absl::DataLossError(absl::StrFormat("rank %d reports document %d", r, d.global));
      add(r, d);
    }
  }
  return absl::OkStatus();
}

int ShardedMemory::Owner(int64_t global) const {
  return global >= 0 && global < static_cast<int64_t>(owner_.size()) ? owner_[static_cast<size_t>(global)] : -1;
}

void ShardedMemory::Placed(int64_t global, int rank, int64_t chunks) {
  if (global >= static_cast<int64_t>(owner_.size())) {
    owner_.resize(static_cast<size_t>(global) + 1, -1);
    chunks_.resize(static_cast<size_t>(global) + 1, 0);
  }
  owner_[static_cast<size_t>(global)] = rank;
  chunks_[static_cast<size_t>(global)] = chunks;
  rank_chunks_[static_cast<size_t>(rank)] += chunks;
  ++live_;
}

void ShardedMemory::Deleted(int64_t global) {
  if (!IsLive(global)) return;
  rank_chunks_[static_cast<size_t>(Owner(global))] -= chunks_[static_cast<size_t>(global)];
  chunks_[static_cast<size_t>(global)] = 0;
  --live_;
}

bool ShardedMemory::IsLive(int64_t ordinal) const {
  return Owner(ordinal) >= 0 && chunks_[static_cast<size_t>(ordinal)] > 0;
}

absl::StatusOr<std::string> ShardedMemory::Text(int64_t ordinal) {
  const int owner = Owner(ordinal);
  if (owner < 0 || !IsLive(ordinal)) return absl::NotFoundError(absl::StrFormat("no live document %d", ordinal));
  if (owner == 0) return local_->memory().local_memory()->Text(local_->Local(ordinal));
  std::string req;
  Writer(&req).Put<uint32_t>(static_cast<uint32_t>(Op::kText)).Put<int64_t>(ordinal);
  MNEME_ASSIGN_OR_RETURN(std::string_view body, Call(owner, req));
  Reader in(body);
  return in.GetString();
}

int64_t ShardedMemory::MaxLoadRows(int top_k) const {
  if (partial_attention()) return local_->memory().local_memory()->MaxLoadRows(top_m(top_k));
  std::vector<int64_t> sizes;
  for (int64_t c : chunks_) {
    if (c > 0) sizes.push_back(c);
  }
  const size_t k = std::min(sizes.size(), static_cast<size_t>(std::max(top_k, 0)));
  std::partial_sort(sizes.begin(), sizes.begin() + static_cast<long>(k), sizes.end(), std::greater<>());
  int64_t rows = 0;
  for (size_t i = 0; i < k; ++i) rows += sizes[i];
  return rows;
}

absl::StatusOr<std::vector<query::ScoredDoc>> ShardedMemory::Select(int slot, const float* q_sum, int64_t t, int top_k) {
  const bool idsa = partial_attention();
  const int top = idsa ? top_m(top_k) : top_k;
  const int64_t width = local_->memory().local_memory()->index().kv_width();
  request_.clear();
  Writer(&request_).Put<uint32_t>(static_cast<uint32_t>(Op::kSelect)).Put<int32_t>(slot).Put<int32_t>(top)
      .Put<uint8_t>(idsa ? 1 : 0).Put<int64_t>(t).PutArray(q_sum, static_cast<size_t>(t * width));
  for (int r = 1; r < transport_->size(); ++r) MNEME_RETURN_IF_ERROR(SendRequest(r, request_));
  // The coordinator's own shard while the others score theirs. Every reply is read even after
  // an error, so no worker is left blocked on an unread one.
  std::vector<query::ScoredDoc> all;
  absl::Status error;
  query::LocalMemory* local = local_->memory().local_memory();
  if (local->live_documents() > 0) {
    absl::StatusOr<std::vector<query::ScoredDoc>> mine = local->Select(slot, q_sum, t, top);
    if (mine.ok()) {
      for (query::ScoredDoc& d : *mine) d.ordinal = local_->Global(d.ordinal);
      all = std::move(*mine);
    } else {
      error = mine.status();
    }
  }
  if (idsa) {
    std::vector<int64_t>& own = idsa_local_[static_cast<size_t>(slot)];
    own.clear();
    for (const query::ScoredDoc& d : all) own.push_back(d.ordinal);
  }
  for (int r = 1; r < transport_->size(); ++r) {
    absl::Status st = [&]() -> absl::Status {
      MNEME_ASSIGN_OR_RETURN(std::string_view body, ReceiveReply(r));
      Reader in(body);
      MNEME_ASSIGN_OR_RETURN(uint64_t n, in.Get<uint64_t>());
      for (uint64_t i = 0; i < n; ++i) {
        query::ScoredDoc d;
        MNEME_ASSIGN_OR_RETURN(d.ordinal, in.Get<int64_t>());
        MNEME_ASSIGN_OR_RETURN(d.score, in.Get<float>());
        all.push_back(d);
      }
      return absl::OkStatus();
    }();
    if (error.ok()) error = st;
  }
  MNEME_RETURN_IF_ERROR(error);
  // Exact: every document of the global top k is in its owner's local top k, so the merge of
  // the local lists under the same order is the global top k.
  std::sort(all.begin(), all.end(), Better);
  if (!idsa && all.size() > static_cast<size_t>(top_k)) all.resize(static_cast<size_t>(top_k));
  return all;
}

absl::StatusOr<int64_t> ShardedMemory::Load(int slot, const std::vector<int64_t>& ordinals, float* k, float* v,
                                            int64_t max_rows) {
  query::LocalMemory* local = local_->memory().local_memory();
  kernels::Backend* be = local_->memory().backend();
  const int64_t width = local->index().kv_width();
  if (partial_attention()) {  // only the coordinator's own selection; the others attend to theirs
    std::vector<int64_t> mine;
    for (int64_t g : idsa_local_[static_cast<size_t>(slot)]) mine.push_back(local_->Local(g));
    std::sort(mine.begin(), mine.end());
    return local->Load(slot, mine, k, v, max_rows);
  }
  const int n = transport_->size();
  std::vector<std::vector<int64_t>> wanted(static_cast<size_t>(n));
  int64_t rows = 0, remote_rows = 0;
  for (int64_t g : ordinals) {
    const int owner = Owner(g);
    if (owner < 0 || !IsLive(g)) return absl::InvalidArgumentError(absl::StrFormat("load: no live document %d", g));
    wanted[static_cast<size_t>(owner)].push_back(g);
    rows += chunks_[static_cast<size_t>(g)];
    if (owner != 0) remote_rows += chunks_[static_cast<size_t>(g)];
  }
  if (rows > max_rows) return absl::InternalError(absl::StrFormat("load: %d rows selected, room for %d", rows, max_rows));
  // A link that failed earlier cannot carry this load: say so before any owner posts a transfer.
  if (opts_.link != nullptr && remote_rows > 0 && opts_.link->aborted()) {
    return absl::UnavailableError("the NCCL link between the ranks failed earlier in this command");
  }
  // Requests first, so the owners pack (and over the link send) their rows while the coordinator
  // loads its own.
  for (int r = 1; r < n; ++r) {
    if (wanted[static_cast<size_t>(r)].empty()) continue;
    request_.clear();
    Writer(&request_).Put<uint32_t>(static_cast<uint32_t>(Op::kFetch)).Put<int32_t>(slot).PutVector(wanted[static_cast<size_t>(r)]);
    if (absl::Status st = SendRequest(r, request_); !st.ok()) {
      if (opts_.link != nullptr) opts_.link->Abort();  // owners already asked will send to nobody
      return st;
    }
  }
  // Row offset of every selected document in ascending global order.
  std::vector<int64_t> offset(ordinals.size());
  int64_t at = 0;
  for (size_t i = 0; i < ordinals.size(); ++i) {
    offset[i] = at;
    at += chunks_[static_cast<size_t>(ordinals[i])];
  }
  // Own documents, loaded in runs of consecutive selected ones, while the owners pack theirs.
  absl::Status own;
  for (size_t i = 0; i < ordinals.size() && own.ok();) {
    if (Owner(ordinals[i]) != 0) {
      ++i;
      continue;
    }
    std::vector<int64_t> run;
    const size_t first = i;
    while (i < ordinals.size() && Owner(ordinals[i]) == 0) run.push_back(local_->Local(ordinals[i++]));
    own = local->Load(slot, run, k + offset[first] * width, v + offset[first] * width, max_rows - offset[first]).status();
  }
  // Over the link the owners' rows arrive device to device, straight into place. The receives are
  // posted after the coordinator's own loads (which synchronise the stream: posted before, they
  // would wait inside CUDA, with no deadline, for an owner that may have failed) and whatever
  // those loads returned, so the owners' sends always find their match.
  absl::Status posted;
  if (opts_.link != nullptr && remote_rows > 0) {
    posted = [&]() -> absl::Status {
      MNEME_RETURN_IF_ERROR(opts_.link->GroupStart());
      for (int r = 1; r < n; ++r) {
        size_t j = 0;
        for (int64_t g : wanted[static_cast<size_t>(r)]) {  // the order the owner sends in
          while (ordinals[j] != g) ++j;  // both ascending
          const size_t bytes = static_cast<size_t>(chunks_[static_cast<size_t>(g)] * width) * sizeof(float);
          MNEME_RETURN_IF_ERROR(opts_.link->Recv(r, k + offset[j] * width, bytes));
          MNEME_RETURN_IF_ERROR(opts_.link->Recv(r, v + offset[j] * width, bytes));
        }
      }
      return opts_.link->GroupEnd();
    }();
  }
  if (remote_rows == 0) {
    MNEME_RETURN_IF_ERROR(own);
    return rows;
  }
  if (opts_.link != nullptr) {
    // Every reply is read. An owner that failed may have left a receive without its send: the
    // link is then given up (the owner gave up its side), which fails this command.
    absl::Status peers = posted;
    for (int r = 1; r < n; ++r) {
      if (wanted[static_cast<size_t>(r)].empty()) continue;
      absl::Status st = ReceiveRows(r, wanted[static_cast<size_t>(r)]).status();
      if (peers.ok()) peers = st;
    }
    if (!peers.ok()) {
      opts_.link->Abort();
      return peers;
    }
    MNEME_RETURN_IF_ERROR(opts_.link->Wait(After(opts_.timeout)));
    MNEME_RETURN_IF_ERROR(own);
    return rows;
  }
  if (!own.ok()) {
    for (int r = 1; r < n; ++r) {  // read the owners' replies before giving up
      if (!wanted[static_cast<size_t>(r)].empty()) ReceiveReply(r).status().IgnoreError();
    }
    return own;
  }
  // Remote rows land in page-locked staging, then stream-ordered uploads place each document.
  MNEME_RETURN_IF_ERROR(be->Synchronize());  // the previous layer's uploads are done with staging
  MNEME_RETURN_IF_ERROR(kernels::EnsureBuffer(be, &staging_, static_cast<size_t>(2 * remote_rows * width) * sizeof(float), /*host=*/true));
  float* stage = staging_->f32();
  absl::Status error;
  for (int r = 1; r < n; ++r) {
    const std::vector<int64_t>& list = wanted[static_cast<size_t>(r)];
    if (list.empty()) continue;
    absl::StatusOr<std::string_view> got_body = ReceiveRows(r, list);
    if (!got_body.ok() || !error.ok()) {  // keep reading the others' replies, use none
      if (error.ok()) error = got_body.status();
      continue;
    }
    const std::string_view body = *got_body;
    Reader in(body);
    int64_t got = 0;
    for (int64_t g : list) got += chunks_[static_cast<size_t>(g)];
    float* ks = stage;
    float* vs = stage + got * width;
    MNEME_RETURN_IF_ERROR(in.GetInto(ks, static_cast<size_t>(got * width)));
    MNEME_RETURN_IF_ERROR(in.GetInto(vs, static_cast<size_t>(got * width)));
    stage += 2 * got * width;
    int64_t src = 0;
    size_t j = 0;
    for (int64_t g : list) {
      while (ordinals[j] != g) ++j;  // both ascending
      const int64_t c = chunks_[static_cast<size_t>(g)];
      const size_t bytes = static_cast<size_t>(c * width) * sizeof(float);
      MNEME_RETURN_IF_ERROR(be->CopyToDeviceAsync(k + offset[j] * width, ks + src * width, bytes));
      MNEME_RETURN_IF_ERROR(be->CopyToDeviceAsync(v + offset[j] * width, vs + src * width, bytes));
      src += c;
    }
  }
  MNEME_RETURN_IF_ERROR(error);
  return rows;
}

absl::Status ShardedMemory::MergeAttention(int slot, const float* q, int64_t t, float* out, float* lse) {
  kernels::Backend* be = local_->memory().backend();
  const model::ModelConfig& c = local_->memory().model_config();
  const int64_t hq = c.num_attention_heads, d = c.head_dim;
  const size_t qn = static_cast<size_t>(t * hq * d), ln = static_cast<size_t>(t * hq);
  const int n = transport_->size();
  const size_t un = static_cast<size_t>(n);
  MNEME_RETURN_IF_ERROR(kernels::EnsureBuffer(be, &parts_, un * qn * sizeof(float)));
  MNEME_RETURN_IF_ERROR(kernels::EnsureBuffer(be, &part_lse_, un * ln * sizeof(float)));
  MNEME_RETURN_IF_ERROR(be->CopyOnDevice(parts_->f32(), out, qn * sizeof(float)));
  MNEME_RETURN_IF_ERROR(be->CopyOnDevice(part_lse_->f32(), lse, ln * sizeof(float)));
  request_.clear();
  Writer w(&request_);
  w.Put<uint32_t>(static_cast<uint32_t>(Op::kAttend)).Put<int32_t>(slot).Put<int64_t>(t);
  if (opts_.link != nullptr) {
    // Queries out and partial outputs back, device to device, in one group; the merge is queued
    // behind it, and the replies (status only) are read while it runs.
    if (opts_.link->aborted()) return absl::UnavailableError("the NCCL link between the ranks failed earlier in this command");
    for (int r = 1; r < n; ++r) {
      if (absl::Status st = SendRequest(r, request_); !st.ok()) {
        opts_.link->Abort();  // ranks already asked wait for queries that will not come
        return st;
      }
    }
    // With two ranks one group carries both directions (measured, docs/perf.md). With more, the
    // queries go out in a group of their own first: NCCL may run one group's peers in rounds, and
    // a round waiting for one worker's output must not hold back another worker's queries.
    absl::Status error = [&]() -> absl::Status {
      MNEME_RETURN_IF_ERROR(opts_.link->GroupStart());
      for (int r = 1; r < n; ++r) MNEME_RETURN_IF_ERROR(opts_.link->Send(r, q, qn * sizeof(float)));
      if (n > 2) {
        MNEME_RETURN_IF_ERROR(opts_.link->GroupEnd());
        MNEME_RETURN_IF_ERROR(opts_.link->GroupStart());
      }
      for (int r = 1; r < n; ++r) {
        MNEME_RETURN_IF_ERROR(opts_.link->Recv(r, parts_->f32() + static_cast<size_t>(r) * qn, qn * sizeof(float)));
        MNEME_RETURN_IF_ERROR(opts_.link->Recv(r, part_lse_->f32() + static_cast<size_t>(r) * ln, ln * sizeof(float)));
      }
      MNEME_RETURN_IF_ERROR(opts_.link->GroupEnd());
      return Merge(n, ln, out, lse);
    }();
    for (int r = 1; r < n; ++r) {
      absl::Status st = ReceiveReply(r).status();
      if (error.ok()) error = st;
    }
    if (!error.ok()) {
      opts_.link->Abort();  // a rank that failed may have left a transfer unmatched
      return error;
    }
    return opts_.link->Wait(After(opts_.timeout));  // a lost peer shows here
  }
  q_host_.resize(qn);
  MNEME_RETURN_IF_ERROR(be->CopyToHost(q_host_.data(), q, qn * sizeof(float)));
  MNEME_RETURN_IF_ERROR(be->Synchronize());  // no upload still reads the staging
  w.PutVector(q_host_);
  for (int r = 1; r < n; ++r) MNEME_RETURN_IF_ERROR(SendRequest(r, request_));
  MNEME_RETURN_IF_ERROR(ReceiveParts(qn, ln));
  MNEME_RETURN_IF_ERROR(Merge(n, ln, out, lse));
  return be->Synchronize();  // the staging must outlive the uploads
}

// out/lse = the exact merge of the n parts in parts_/part_lse_ (stream-ordered).
absl::Status ShardedMemory::Merge(int n, size_t ln, float* out, float* lse) {
  const int64_t d = local_->memory().model_config().head_dim;
  kernels::AttentionMergeParams mp;
  mp.outs = parts_->f32();
  mp.lses = part_lse_->f32();
  mp.out = out;
  mp.lse = lse;
  mp.parts = n;
  mp.rows = static_cast<int64_t>(ln);
  mp.head_dim = d;
  return local_->memory().backend()->AttentionMerge(mp);
}

absl::Status ShardedMemory::ReceiveParts(size_t qn, size_t ln) {
  kernels::Backend* be = local_->memory().backend();
  const int n = transport_->size();
  MNEME_RETURN_IF_ERROR(kernels::EnsureBuffer(be, &staging_, static_cast<size_t>(n) * (qn + ln) * sizeof(float), /*host=*/true));
  float* stage = staging_->f32();
  absl::Status error;  // every reply is read, so no worker stays blocked on one
  for (int r = 1; r < n; ++r) {
    absl::Status st = [&]() -> absl::Status {
      MNEME_ASSIGN_OR_RETURN(std::string_view body, ReceiveReply(r));
      if (!error.ok()) return absl::OkStatus();
      Reader in(body);
      float* so = stage + static_cast<size_t>(r) * (qn + ln);
      MNEME_RETURN_IF_ERROR(in.GetInto(so, qn));
      MNEME_RETURN_IF_ERROR(in.GetInto(so + qn, ln));
      MNEME_RETURN_IF_ERROR(be->CopyToDeviceAsync(parts_->f32() + static_cast<size_t>(r) * qn, so, qn * sizeof(float)));
      return be->CopyToDeviceAsync(part_lse_->f32() + static_cast<size_t>(r) * ln, so + qn, ln * sizeof(float));
    }();
    if (error.ok()) error = st;
  }
  return error;
}

}  // namespace mneme::parallel
