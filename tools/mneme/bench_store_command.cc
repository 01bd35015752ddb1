// mneme bench store --out DIR [--gb G] [--layers L] [--kv-heads H] [--head-dim D] [--chunks C]
//                   [--text-bytes B] [--codec bf16|int8|fp8] [--repeats R]
// The persistent store at scale with synthetic memory of a given model shape (default: MSA-4B,
// 18 routed layers of 8 x 128, 8 chunks = 512 tokens per document): synced append throughput,
// warm restart (open + read + verify + decode every segment into an index) in seconds per GB,
// bytes per token of each codec, and snapshot creation time.
#include <chrono>
#include <filesystem>
#include <ostream>

#include "absl/strings/str_format.h"
#include "common/json_util.h"
#include "common/status.h"
#include "memory/document_segments.h"
#include "memory/memory_index.h"
#include "memory/snapshot.h"
#include "memory/store.h"
#include "memory/store_stats.h"
#include "memory/synthetic.h"
#include "tools/mneme/bench_util.h"
#include "tools/mneme/cli.h"

namespace mneme::cli {
namespace {

using Clock = std::chrono::steady_clock;
double Since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// Opens the store, streams every document and decodes its segments into a MemoryIndex.
absl::StatusOr<double> WarmRestart(const std::string& dir, int64_t* docs_loaded) {
  const auto t0 = Clock::now();
  MNEME_ASSIGN_OR_RETURN(auto store, memory::Store::Open(dir, memory::StoreOptions{.read_only = true}));
  MNEME_ASSIGN_OR_RETURN(std::vector<memory::SessionInfo> sessions, store->ListSessions());
  *docs_loaded = 0;
  for (const memory::SessionInfo& s : sessions) {
    MNEME_ASSIGN_OR_RETURN(uint64_t fp, memory::FingerprintValue(s.fingerprint));
    memory::MemoryIndex index(static_cast<int>(s.layers.size()), int64_t{s.kv_heads} * s.head_dim);
    MNEME_RETURN_IF_ERROR(store->ScanFull(s, [&](const memory::DocumentInfo& d, std::string_view text,
                                                 const std::vector<std::string>& segs) -> absl::Status {
      if (d.deleted) {
        index.AppendAbsent();
        return absl::OkStatus();
      }
      MNEME_ASSIGN_OR_RETURN(memory::PooledDocument doc, memory::DecodeDocumentSegments(s, fp, d, segs));
      ++*docs_loaded;
      return index.Append(std::move(doc), std::string(text)).status();
    }));
  }
  return Since(t0);
}

class BenchStoreCommand final : public Command {
 public:
  std::string Name() const override { return "bench store"; }
  std::string Help() const override {
    return "Store append throughput, warm restart s/GB, bytes/token per codec, snapshot time (synthetic memory).";
  }
  std::vector<FlagSpec> Flags() const override {
    return {{"out", true, "new directory for the benchmark store"},
            {"gb", true, "segment bytes to write, in GB (default 1)"},
            {"layers", true, "routed layers (default 18, MSA-4B)"},
            {"kv-heads", true, "KV heads (default 8)"},
            {"head-dim", true, "head dim (default 128)"},
            {"chunks", true, "chunks per document (default 8 = 512 tokens)"},
            {"text-bytes", true, "text bytes per document (default 2048)"},
            {"codec", true, "codec of the written segments (default bf16)"},
            {"repeats", true, "timed repetitions of restart and snapshot (default 3)"}};
  }

  absl::Status Run(const Args& args, Context& ctx) override {
    MNEME_ASSIGN_OR_RETURN(std::string out, args.Required("out"));
    MNEME_ASSIGN_OR_RETURN(double gb, args.GetDouble("gb", 1.0));
    MNEME_ASSIGN_OR_RETURN(int64_t layers, args.GetInt("layers", 18));
    MNEME_ASSIGN_OR_RETURN(int64_t kv_heads, args.GetInt("kv-heads", 8));
    MNEME_ASSIGN_OR_RETURN(int64_t head_dim, args.GetInt("head-dim", 128));
    MNEME_ASSIGN_OR_RETURN(int64_t chunks, args.GetInt("chunks", 8));
    MNEME_ASSIGN_OR_RETURN(int64_t text_bytes, args.GetInt("text-bytes", 2048));
    MNEME_ASSIGN_OR_RETURN(int64_t repeats, args.GetInt("repeats", 3));
    if (gb <= 0 || layers < 1 || kv_heads < 1 || head_dim < 1 || chunks < 1 || repeats < 1 || text_bytes < 1) {
      return UsageError("bench store: sizes must be positive");
    }
    std::error_code ec;
    if (std::filesystem::exists(out, ec)) return UsageError("--out must name a directory that does not exist");
    memory::SessionInfo proto = memory::SyntheticSession("bench", static_cast<int>(layers), static_cast<int>(kv_heads),
                                                         static_cast<int>(head_dim));
    if (args.Has("codec")) {
      absl::StatusOr<memory::SegmentCodec> c = memory::ParseSegmentCodec(*args.Get("codec"));
      if (!c.ok()) return UsageError(std::string(c.status().message()));
      proto.codec = *c;
    }
    nlohmann::json result = {{"shape", {{"layers", layers}, {"kv_heads", kv_heads}, {"head_dim", head_dim},
                                        {"chunks", chunks}, {"tokens_per_doc", chunks * 64}}}};
    // Bytes per token of each codec for this shape (one document, exact encoded sizes).
    nlohmann::json per_codec = nlohmann::json::object();
    for (memory::SegmentCodec c : {memory::SegmentCodec::kBf16, memory::SegmentCodec::kInt8, memory::SegmentCodec::kFp8}) {
      memory::SessionInfo s = proto;
      s.codec = c;
      MNEME_ASSIGN_OR_RETURN(memory::SyntheticDoc d, memory::MakeSyntheticDoc(s, 0, 1, static_cast<int>(chunks), 16));
      int64_t seg = 0;
      for (const auto& x : d.segments) seg += static_cast<int64_t>(x.size());
      per_codec[memory::SegmentCodecName(c)] = static_cast<double>(seg) / static_cast<double>(chunks * 64);
    }
    result["segment_bytes_per_token"] = per_codec;

    // Append until the segment bytes reach the target.
    int64_t docs = 0, bytes = 0;
    double append_s = 0.0;
    std::vector<double> per_doc_ms;
    {
      MNEME_ASSIGN_OR_RETURN(auto store, memory::Store::Open(out, {}));
      MNEME_ASSIGN_OR_RETURN(memory::SessionInfo s, store->CreateSession(proto));
      const int64_t target = static_cast<int64_t>(gb * 1e9);
      while (bytes < target) {
        MNEME_ASSIGN_OR_RETURN(memory::SyntheticDoc d, memory::MakeSyntheticDoc(s, docs, 1, static_cast<int>(chunks),
                                                                                 static_cast<int>(text_bytes)));
        const auto t0 = Clock::now();
        MNEME_RETURN_IF_ERROR(store->Append(s, memory::DocumentWrite{d.info, d.text, d.segments}).status());
        const double dt = Since(t0);
        append_s += dt;
        per_doc_ms.push_back(dt * 1e3);
        for (const auto& x : d.segments) bytes += static_cast<int64_t>(x.size());
        bytes += static_cast<int64_t>(d.text.size());
        ++docs;
      }
      MNEME_ASSIGN_OR_RETURN(memory::StoreStats st, memory::ComputeStats(*store));
      result["disk_bytes"] = st.disk_bytes;
      result["disk_bytes_per_token"] = st.disk_bytes_per_token();
    }
    result["append"] = {{"documents", docs},
                        {"bytes", bytes},
                        {"seconds", append_s},
                        {"documents_per_s", docs / append_s},
                        {"mb_per_s", bytes / append_s / 1e6},
                        {"median_ms_per_document", Median(per_doc_ms)}};

    std::vector<double> restart;
    for (int64_t r = 0; r < repeats + 1; ++r) {  // the first run warms the page cache
      int64_t loaded = 0;
      MNEME_ASSIGN_OR_RETURN(double s, WarmRestart(out, &loaded));
      if (loaded != docs) return absl::InternalError("warm restart loaded a different document count");
      if (r > 0) restart.push_back(s);
    }
    result["warm_restart"] = {{"median_seconds", Median(restart)},
                              {"seconds_per_gb", Median(restart) / (bytes / 1e9)},
                              {"page_cache", "warm (after one untimed run)"}};

    std::vector<double> snap;
    {
      MNEME_ASSIGN_OR_RETURN(auto store, memory::Store::Open(out, {}));
      for (int64_t r = 0; r < repeats; ++r) {
        const std::string name = absl::StrFormat("bench-%d", r);
        MNEME_ASSIGN_OR_RETURN(memory::SnapshotInfo info, memory::CreateSnapshot(*store, name));
        snap.push_back(info.seconds);
        MNEME_RETURN_IF_ERROR(memory::RemoveSnapshot(out, name));
      }
    }
    result["snapshot_create"] = {{"median_seconds", Median(snap)}, {"runs", snap}};
    if (ctx.format == Format::kJson) {
      *ctx.out << DumpJson(result) << "\n";
    } else {
      *ctx.out << result.dump(2) << "\n";
    }
    return absl::OkStatus();
  }
};

}  // namespace

std::unique_ptr<Command> NewBenchStoreCommand() { return std::make_unique<BenchStoreCommand>(); }

}  // namespace mneme::cli
