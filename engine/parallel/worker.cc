#include "engine/parallel/worker.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "absl/strings/str_format.h"
#include "common/status.h"
#include "engine/parallel/protocol.h"
#include "engine/parallel/wire.h"
#include "memory/memory_index.h"

namespace mneme::parallel {
namespace {


// The worker's state across requests: per routed-layer slot, the K̄/V̄ rows of its IDSA-style
// local selection, which kAttend attends to until the next kSelect of that slot.
class Server {
 public:
  Server(Shard* shard, kernels::DeviceLink* link) : shard_(shard), be_(shard->memory().backend()), link_(link) {
    const size_t slots = shard->memory().settings().routed_layers.size();
    k_.resize(slots);
    v_.resize(slots);
    rows_.assign(slots, 0);
  }
  // Transfers still posted (the reply could not be sent) would hold the buffers freed below, and
  // cudaFree waits for them: give the link up first.
  ~Server() {
    if (posted_ && link_ != nullptr) link_->Abort();
  }

  // After the reply went out: waits for the device transfers the request posted (the
  // coordinator posts its side before it reads the reply). A transfer that does not complete by
  // `deadline` (the coordinator gave up its side after another rank failed, or is gone) aborts
  // the link; serving goes on, and later transfers fail as UNAVAILABLE.
  void Finish(Deadline deadline) {
    if (!posted_) return;
    posted_ = false;
    link_->Wait(deadline).IgnoreError();  // Wait aborts the link on failure
  }

  // Handles one request, appending the reply body to `body` (which holds the status already).
  // A failed request that uses the link gives the link up: it may have left a transfer without
  // its match, and the coordinator, seeing the error, gives up its side too.
  absl::Status Handle(Op op, Reader& in, std::string* body, std::string* reason, bool* stop) {
    absl::Status st = Dispatch(op, in, body, reason, stop);
    if (!st.ok() && link_ != nullptr && (op == Op::kFetch || op == Op::kAttend)) {
      link_->Abort();
      posted_ = false;
    }
    return st;
  }

 private:
  absl::Status Dispatch(Op op, Reader& in, std::string* body, std::string* reason, bool* stop) {
    switch (op) {
      case Op::kSelect: return Select(in, body);
      case Op::kFetch: return Fetch(in, body);
      case Op::kAttend: return Attend(in, body);
      case Op::kText: {
        MNEME_ASSIGN_OR_RETURN(int64_t g, in.Get<int64_t>());
        const int64_t local = shard_->Local(g);
        if (local < 0) return absl::NotFoundError(absl::StrFormat("no document %d on this rank", g));
        MNEME_ASSIGN_OR_RETURN(std::string text, shard_->memory().local_memory()->Text(local));
        Writer(body).PutString(text);
        return absl::OkStatus();
      }
      case Op::kAppend: return Append(in, body);
      case Op::kDelete: {
        MNEME_ASSIGN_OR_RETURN(int64_t g, in.Get<int64_t>());
        return shard_->Delete(g);
      }
      case Op::kInventory: {
        Writer w(body);
        const std::vector<ShardDoc> docs = shard_->Inventory();
        w.Put<uint64_t>(docs.size());
        for (const ShardDoc& d : docs) w.Put<int64_t>(d.global).Put<int64_t>(d.chunks).Put<uint8_t>(d.live ? 1 : 0);
        return absl::OkStatus();
      }
      case Op::kShutdown: {
        MNEME_ASSIGN_OR_RETURN(*reason, in.GetString());
        *stop = true;
        return absl::OkStatus();
      }
    }
    return absl::InvalidArgumentError(absl::StrFormat("unknown request %d", static_cast<uint32_t>(op)));
  }

  int64_t Width() const { return shard_->memory().local_memory()->index().kv_width(); }

  absl::Status CheckSlot(int slot) const {
    if (slot < 0 || static_cast<size_t>(slot) >= rows_.size()) return absl::InvalidArgumentError(absl::StrFormat("no routed slot %d", slot));
    return absl::OkStatus();
  }

  absl::Status Select(Reader& in, std::string* body) {
    MNEME_ASSIGN_OR_RETURN(int32_t slot, in.Get<int32_t>());
    MNEME_ASSIGN_OR_RETURN(int32_t top, in.Get<int32_t>());
    MNEME_ASSIGN_OR_RETURN(uint8_t idsa, in.Get<uint8_t>());
    MNEME_ASSIGN_OR_RETURN(int64_t t, in.Get<int64_t>());
    MNEME_RETURN_IF_ERROR(CheckSlot(slot));
    if (t < 1 || t > (1 << 20) || top < 0) {
      return absl::InvalidArgumentError(absl::StrFormat("select: %d routing rows, top %d", t, top));
    }
    if (static_cast<size_t>(t * Width()) * sizeof(float) > in.remaining()) {
      return absl::InvalidArgumentError("select: the message is shorter than its routing queries");
    }
    q_.resize(static_cast<size_t>(t * Width()));
    MNEME_RETURN_IF_ERROR(in.GetInto(q_.data(), q_.size()));
    query::LocalMemory* local = shard_->memory().local_memory();
    std::vector<query::ScoredDoc> docs;
    if (local->live_documents() > 0) {
      MNEME_ASSIGN_OR_RETURN(docs, local->Select(slot, q_.data(), t, top));
    }
    if (idsa) {
      std::vector<int64_t> order;
      for (const query::ScoredDoc& d : docs) order.push_back(d.ordinal);
      std::sort(order.begin(), order.end());
      int64_t rows = 0;
      for (int64_t d : order) rows += local->index().num_chunks(d);
      const size_t bytes = static_cast<size_t>(rows * Width()) * sizeof(float);
      const size_t s = static_cast<size_t>(slot);
      MNEME_RETURN_IF_ERROR(kernels::EnsureBuffer(be_, &k_[s], bytes));
      MNEME_RETURN_IF_ERROR(kernels::EnsureBuffer(be_, &v_[s], bytes));
      MNEME_ASSIGN_OR_RETURN(rows_[s], local->Load(slot, order, k_[s]->f32(), v_[s]->f32(), rows));
    }
    Writer w(body);
    w.Put<uint64_t>(docs.size());
    for (const query::ScoredDoc& d : docs) w.Put<int64_t>(shard_->Global(d.ordinal)).Put<float>(d.score);
    return absl::OkStatus();
  }

  absl::Status Fetch(Reader& in, std::string* body) {
    MNEME_ASSIGN_OR_RETURN(int32_t slot, in.Get<int32_t>());
    MNEME_RETURN_IF_ERROR(CheckSlot(slot));
    std::vector<int64_t> globals;
    MNEME_RETURN_IF_ERROR(in.GetVector(&globals));
    const memory::MemoryIndex& index = shard_->memory().local_memory()->index();
    std::vector<int64_t> locals;
    int64_t rows = 0;
    for (int64_t g : globals) {
      const int64_t l = shard_->Local(g);
      if (l < 0 || !index.Exists(l)) return absl::NotFoundError(absl::StrFormat("fetch: no document %d on this rank", g));
      locals.push_back(l);
      rows += index.num_chunks(l);
    }
    const int64_t width = Width();
    Writer w(body);
    w.Put<int64_t>(rows);
    if (link_ != nullptr) {  // rows go device to device, one (K, V) pair per document
      const size_t bytes = static_cast<size_t>(rows * width) * sizeof(float);
      MNEME_RETURN_IF_ERROR(kernels::EnsureBuffer(be_, &fk_, bytes));
      MNEME_RETURN_IF_ERROR(kernels::EnsureBuffer(be_, &fv_, bytes));
      MNEME_RETURN_IF_ERROR(shard_->memory().local_memory()->Load(slot, locals, fk_->f32(), fv_->f32(), rows).status());
      // Sent before the reply: the coordinator posted its receives before reading replies.
      MNEME_RETURN_IF_ERROR(link_->GroupStart());
      posted_ = true;
      int64_t at = 0;
      for (int64_t l : locals) {
        const size_t n = static_cast<size_t>(index.num_chunks(l) * width) * sizeof(float);
        MNEME_RETURN_IF_ERROR(link_->Send(0, fk_->f32() + at * width, n));
        MNEME_RETURN_IF_ERROR(link_->Send(0, fv_->f32() + at * width, n));
        at += index.num_chunks(l);
      }
      return link_->GroupEnd();
    }
    body->reserve(body->size() + 2 * (16 + static_cast<size_t>(rows * width) * sizeof(float)));
    for (int pass = 0; pass < 2; ++pass) {  // K rows of every document, then V rows
      w.Put<uint64_t>(static_cast<uint64_t>(rows * width));
      for (int64_t l : locals) {
        const float* src = pass == 0 ? index.k(slot, l) : index.v(slot, l);
        body->append(reinterpret_cast<const char*>(src), static_cast<size_t>(index.num_chunks(l) * width) * sizeof(float));
      }
    }
    return absl::OkStatus();
  }

  absl::Status Attend(Reader& in, std::string* body) {
    MNEME_ASSIGN_OR_RETURN(int32_t slot, in.Get<int32_t>());
    MNEME_ASSIGN_OR_RETURN(int64_t t, in.Get<int64_t>());
    MNEME_RETURN_IF_ERROR(CheckSlot(slot));
    const model::ModelConfig& c = shard_->memory().model_config();
    const int64_t hq = c.num_attention_heads, d = c.head_dim;
    if (t < 1 || t > (1 << 20)) return absl::InvalidArgumentError(absl::StrFormat("attend: %d rows", t));
    const size_t qn = static_cast<size_t>(t * hq * d), ln = static_cast<size_t>(t * hq);
    const size_t s = static_cast<size_t>(slot);
    if (link_ != nullptr) return AttendOnDevice(s, t, qn, ln);
    q_.resize(qn);
    MNEME_RETURN_IF_ERROR(in.GetInto(q_.data(), qn));
    out_.resize(qn);
    lse_.resize(ln);
    if (rows_[s] == 0) {  // selected nothing: contributes nothing to the merge
      std::fill(out_.begin(), out_.end(), 0.0f);
      std::fill(lse_.begin(), lse_.end(), -std::numeric_limits<float>::infinity());
    } else {
      MNEME_RETURN_IF_ERROR(kernels::EnsureBuffer(be_, &dq_, qn * sizeof(float)));
      MNEME_RETURN_IF_ERROR(kernels::EnsureBuffer(be_, &dout_, qn * sizeof(float)));
      MNEME_RETURN_IF_ERROR(kernels::EnsureBuffer(be_, &dlse_, ln * sizeof(float)));
      MNEME_RETURN_IF_ERROR(be_->CopyToDevice(dq_->data(), q_.data(), qn * sizeof(float)));
      MNEME_RETURN_IF_ERROR(AttendRows(s, t));
      MNEME_RETURN_IF_ERROR(be_->CopyToHost(out_.data(), dout_->data(), qn * sizeof(float)));
      MNEME_RETURN_IF_ERROR(be_->CopyToHost(lse_.data(), dlse_->data(), ln * sizeof(float)));
    }
    Writer(body).PutVector(out_).PutVector(lse_);
    return absl::OkStatus();
  }

  // out/lse [t rows] = attention of dq_ over slot s's selected rows (dout_, dlse_).
  absl::Status AttendRows(size_t s, int64_t t) {
    const model::ModelConfig& c = shard_->memory().model_config();
    const int64_t hq = c.num_attention_heads, d = c.head_dim;
    // Queries in blocks of at most kv_len rows (the op wants q_offset + q_tokens <= kv_len; with
    // causal off every query row sees every memory row, so blocks are independent).
    for (int64_t at = 0; at < t; at += rows_[s]) {
      const int64_t n = std::min(rows_[s], t - at);
      kernels::AttentionParams ap;
      ap.q = dq_->f32() + at * hq * d;
      ap.k = k_[s]->f32();
      ap.v = v_[s]->f32();
      ap.out = dout_->f32() + at * hq * d;
      ap.lse = dlse_->f32() + at * hq;
      ap.q_tokens = n;
      ap.kv_len = rows_[s];
      ap.q_offset = 0;
      ap.num_heads = hq;
      ap.num_kv_heads = c.num_key_value_heads;
      ap.head_dim = d;
      ap.scale = 1.0f / std::sqrt(static_cast<float>(d));
      ap.causal = false;  // memory rows precede every query token
      MNEME_RETURN_IF_ERROR(be_->Attention(ap));
    }
    return absl::OkStatus();
  }

  // kAttend over the link: q arrives device to device and out and lse leave the same way, all
  // before the reply (the coordinator posted its send and receives in one group after its
  // request).
  absl::Status AttendOnDevice(size_t s, int64_t t, size_t qn, size_t ln) {
    MNEME_RETURN_IF_ERROR(kernels::EnsureBuffer(be_, &dq_, qn * sizeof(float)));
    MNEME_RETURN_IF_ERROR(kernels::EnsureBuffer(be_, &dout_, qn * sizeof(float)));
    MNEME_RETURN_IF_ERROR(kernels::EnsureBuffer(be_, &dlse_, ln * sizeof(float)));
    if (rows_[s] == 0) {  // selected nothing: contributes nothing to the merge
      // (Blocking copies, so before the receive is posted: after it they would wait for q.)
      out_.assign(qn, 0.0f);
      lse_.assign(ln, -std::numeric_limits<float>::infinity());
      MNEME_RETURN_IF_ERROR(be_->CopyToDevice(dout_->data(), out_.data(), qn * sizeof(float)));
      MNEME_RETURN_IF_ERROR(be_->CopyToDevice(dlse_->data(), lse_.data(), ln * sizeof(float)));
    }
    posted_ = true;
    MNEME_RETURN_IF_ERROR(link_->Recv(0, dq_->data(), qn * sizeof(float)));
    // Attention is queued behind the receive. (If it must grow its scratch it synchronises the
    // stream, waiting for q; the coordinator posts q right after its request, and if it fails
    // before that, its reply deadline ends the job.)
    if (rows_[s] > 0) MNEME_RETURN_IF_ERROR(AttendRows(s, t));
    MNEME_RETURN_IF_ERROR(link_->GroupStart());
    MNEME_RETURN_IF_ERROR(link_->Send(0, dout_->data(), qn * sizeof(float)));
    MNEME_RETURN_IF_ERROR(link_->Send(0, dlse_->data(), ln * sizeof(float)));
    return link_->GroupEnd();
  }

  absl::Status Append(Reader& in, std::string* body) {
    MNEME_ASSIGN_OR_RETURN(uint64_t n, in.Get<uint64_t>());
    // Every document takes at least 40 bytes of the message: a larger count is malformed.
    if (n > in.remaining() / 40) return absl::InvalidArgumentError(absl::StrFormat("append: %d documents", n));
    std::vector<ShardInput> docs(static_cast<size_t>(n));
    for (ShardInput& d : docs) {
      MNEME_ASSIGN_OR_RETURN(d.global, in.Get<int64_t>());
      MNEME_ASSIGN_OR_RETURN(d.text, in.GetString());
      MNEME_ASSIGN_OR_RETURN(d.source, in.GetString());
      MNEME_ASSIGN_OR_RETURN(uint64_t tags, in.Get<uint64_t>());
      if (tags > in.remaining() / 8) return absl::InvalidArgumentError(absl::StrFormat("append: %d tags", tags));
      for (uint64_t i = 0; i < tags; ++i) {
        MNEME_ASSIGN_OR_RETURN(d.tags.emplace_back(), in.GetString());
      }
      MNEME_ASSIGN_OR_RETURN(d.part_of, in.Get<int64_t>());
    }
    std::vector<ShardAppended> done;
    const absl::Status st = shard_->AppendBatch(docs, &done);
    // The documents made durable are reported even when a later one failed.
    Writer w(body);
    w.Put<uint64_t>(done.size());
    for (const ShardAppended& a : done) {
      w.Put<int64_t>(a.global).Put<uint64_t>(a.id).Put<int64_t>(a.tokens).Put<int64_t>(a.chunks).PutVector(a.evicted);
    }
    w.PutStatus(st);
    return absl::OkStatus();
  }

  Shard* shard_;
  kernels::Backend* be_;
  kernels::DeviceLink* link_;
  bool posted_ = false;  // the last request posted link transfers (Finish waits for them)
  std::unique_ptr<kernels::DeviceMemory> fk_, fv_;        // kFetch rows staged for the link
  std::vector<std::unique_ptr<kernels::DeviceMemory>> k_, v_;  // per slot, IDSA selection
  std::vector<int64_t> rows_;
  std::unique_ptr<kernels::DeviceMemory> dq_, dout_, dlse_;
  std::vector<float> q_, out_, lse_;
};

}  // namespace

absl::Status ServeShard(Transport* transport, Shard* shard, std::chrono::milliseconds reply_timeout,
                        std::string* shutdown_reason, kernels::DeviceLink* link) {
  Server server(shard, link);
  std::string request, reply;
  for (;;) {
    absl::Status got = transport->Recv(0, kRequestTag, &request, Never());
    if (!got.ok()) return absl::UnavailableError(absl::StrFormat("coordinator (rank 0) lost: %s", got.message()));
    Reader in(request);
    absl::StatusOr<uint32_t> op = in.Get<uint32_t>();
    // The body is appended straight after an OK status (no second copy of large replies); an
    // error replaces it all.
    reply.clear();
    Writer(&reply).PutStatus(absl::OkStatus());
    std::string reason;
    bool stop = false;
    absl::Status st = op.ok() ? server.Handle(static_cast<Op>(*op), in, &reply, &reason, &stop) : op.status();
    if (stop) {
      if (shutdown_reason != nullptr) *shutdown_reason = reason;
      return absl::OkStatus();
    }
    if (!st.ok()) {
      reply.clear();
      Writer(&reply).PutStatus(st);
    }
    MNEME_RETURN_IF_ERROR(transport->Send(0, kReplyTag, reply, After(reply_timeout)));
    server.Finish(After(reply_timeout));
  }
}

}  // namespace mneme::parallel
