#include "engine/parallel/placement.h"

#include <algorithm>
#include <filesystem>
#include <memory>

#include "absl/strings/str_format.h"
#include "common/file_util.h"
#include "common/json_util.h"
#include "common/status.h"
#include "memory/records.h"
#include "memory/segment_codec.h"
#include "memory/store.h"

namespace mneme::parallel {
namespace {

namespace fs = std::filesystem;

std::string ManifestPath(const std::string& data_dir) { return data_dir + "/PLACEMENT.json"; }

struct Located {
  int64_t global, local;
  int rank;  // old rank
  int64_t chunks;
};

// Removes what a crash between a manifest switch and the cleanup after it left behind: every
// generation but the one in force (and the unsharded store once a sharded generation rules).
void RemoveStaleGenerations(const std::string& data_dir, int64_t current) {
  std::error_code ec;
  const fs::path shards = fs::path(data_dir) / "shards";
  if (fs::is_directory(shards, ec)) {
    for (const fs::directory_entry& e : fs::directory_iterator(shards, ec)) {
      if (e.path().filename() != absl::StrFormat("g%d", current)) fs::remove_all(e.path(), ec);
    }
  }
  if (current > 0) fs::remove_all(fs::path(data_dir) / "db", ec);
}

}  // namespace

absl::StatusOr<Manifest> ReadManifest(const std::string& data_dir) {
  Manifest m;
  std::error_code ec;
  if (!fs::exists(ManifestPath(data_dir), ec)) return m;
  MNEME_ASSIGN_OR_RETURN(std::string text, ReadFileToString(ManifestPath(data_dir)));
  absl::StatusOr<nlohmann::json> j = ParseJson(text, ManifestPath(data_dir));
  if (!j.ok()) return absl::DataLossError(j.status().message());
  if (!j->is_object() || j->value("format", 0) != 1 || !j->contains("ranks") || !j->contains("generation")) {
    return absl::DataLossError(absl::StrFormat("%s: not a placement manifest of format 1", ManifestPath(data_dir)));
  }
  m.ranks = (*j)["ranks"].get<int>();
  m.generation = (*j)["generation"].get<int64_t>();
  if (m.ranks < 1 || m.generation < 0) return absl::DataLossError(ManifestPath(data_dir) + ": ranks or generation out of range");
  if (j->contains("next_ordinal")) {
    for (auto& [name, n] : (*j)["next_ordinal"].items()) m.next_ordinal[name] = n.get<int64_t>();
  }
  return m;
}

absl::Status WriteManifest(const std::string& data_dir, const Manifest& m) {
  nlohmann::json j = {{"format", 1}, {"ranks", m.ranks}, {"generation", m.generation}};
  j["next_ordinal"] = nlohmann::json::object();
  for (const auto& [name, n] : m.next_ordinal) j["next_ordinal"][name] = n;
  return WriteFileAtomic(ManifestPath(data_dir), DumpJson(j, 2) + "\n");
}

std::string ShardDir(const std::string& data_dir, int64_t generation, int rank) {
  if (generation == 0) return data_dir;
  return absl::StrFormat("%s/shards/g%d/rank-%d", data_dir, generation, rank);
}

int LeastLoaded(const std::vector<int64_t>& chunks_per_rank) {
  return static_cast<int>(std::min_element(chunks_per_rank.begin(), chunks_per_rank.end()) - chunks_per_rank.begin());
}

absl::StatusOr<ReshardReport> EnsureRanks(const std::string& data_dir, int ranks) {
  if (ranks < 1) return absl::InvalidArgumentError("ranks must be >= 1");
  MNEME_ASSIGN_OR_RETURN(Manifest old, ReadManifest(data_dir));
  ReshardReport report;
  report.from_ranks = old.ranks;
  report.to_ranks = ranks;
  RemoveStaleGenerations(data_dir, old.generation);
  if (old.ranks == ranks) return report;
  std::error_code ec;
  memory::StoreOptions ro;
  ro.read_only = true;
  std::vector<std::unique_ptr<memory::Store>> from;
  for (int r = 0; r < old.ranks; ++r) {
    const std::string dir = ShardDir(data_dir, old.generation, r);
    if (!fs::exists(dir + "/db", ec)) {
      // Only the unsharded directory may lack its store (nothing was ever stored). A sharded
      // generation has every rank's store (the ranks create them on start): a missing one is a
      // bad mount or a host-local directory, and going on would drop its documents.
      if (old.generation > 0) {
        return absl::DataLossError(absl::StrFormat(
            "%s: rank %d's store of generation %d is missing (is the directory shared by every host?); "
            "not re-sharding", data_dir, r, old.generation));
      }
      from.push_back(nullptr);
      continue;
    }
    // Snapshots live beside a store; the old generation is removed after the switch.
    if (old.generation > 0 && fs::exists(dir + "/snapshots", ec) && !fs::is_empty(dir + "/snapshots", ec)) {
      return absl::FailedPreconditionError(absl::StrFormat(
          "%s holds snapshots; move them out before re-sharding (they would be removed with generation %d)", dir,
          old.generation));
    }
    MNEME_ASSIGN_OR_RETURN(auto s, memory::Store::Open(dir, ro));
    from.push_back(std::move(s));
  }
  Manifest next;
  next.ranks = ranks;
  next.generation = old.generation + 1;
  const std::string gen_dir = absl::StrFormat("%s/shards/g%d", data_dir, next.generation);
  fs::remove_all(gen_dir, ec);  // leftovers of a re-shard that crashed before its switch
  std::vector<std::unique_ptr<memory::Store>> to;
  for (int r = 0; r < ranks; ++r) {
    fs::create_directories(ShardDir(data_dir, next.generation, r), ec);
    MNEME_ASSIGN_OR_RETURN(auto s, memory::Store::Open(ShardDir(data_dir, next.generation, r), memory::StoreOptions()));
    to.push_back(std::move(s));
  }
  report.chunks_per_rank.assign(static_cast<size_t>(ranks), 0);
  // Sessions by name across the old ranks (every rank of a sharded memory has each session).
  std::map<std::string, memory::SessionInfo> sessions;
  for (const auto& s : from) {
    if (!s) continue;
    MNEME_ASSIGN_OR_RETURN(std::vector<memory::SessionInfo> list, s->ListSessions());
    for (memory::SessionInfo& info : list) sessions.emplace(info.name, info);
  }
  for (const auto& [name, proto] : sessions) {
    std::vector<memory::SessionInfo> old_info(from.size());
    std::vector<Located> docs;
    int64_t next_global = old.next_ordinal.count(name) ? old.next_ordinal.at(name) : 0;
    for (size_t r = 0; r < from.size(); ++r) {
      if (!from[r]) continue;
      absl::StatusOr<memory::SessionInfo> info = from[r]->GetSession(name);
      if (absl::IsNotFound(info.status())) continue;
      MNEME_RETURN_IF_ERROR(info.status());
      old_info[r] = *info;
      MNEME_RETURN_IF_ERROR(from[r]->ScanDocuments(info->id, 0, [&](const memory::DocumentInfo& d) {
        next_global = std::max(next_global, d.effective_ordinal() + 1);
        if (!d.deleted) docs.push_back({d.effective_ordinal(), d.ordinal, static_cast<int>(r), d.chunks});
        return absl::OkStatus();
      }));
    }
    std::sort(docs.begin(), docs.end(), [](const Located& a, const Located& b) { return a.global < b.global; });
    std::vector<memory::SessionInfo> new_info;
    for (auto& s : to) {
      memory::SessionInfo info = proto;
      info.id = 0;
      MNEME_ASSIGN_OR_RETURN(memory::SessionInfo created, s->CreateSession(info));
      new_info.push_back(created);
    }
    std::vector<int64_t> load(static_cast<size_t>(ranks), 0), next_local(static_cast<size_t>(ranks), 0);
    for (const Located& d : docs) {
      const memory::Store& src = *from[static_cast<size_t>(d.rank)];
      const memory::SessionInfo& si = old_info[static_cast<size_t>(d.rank)];
      MNEME_ASSIGN_OR_RETURN(memory::DocumentInfo info, src.GetDocument(si.id, d.local));
      memory::DocumentWrite w;
      MNEME_ASSIGN_OR_RETURN(std::string text, src.GetText(si.id, info));
      const size_t r = static_cast<size_t>(LeastLoaded(load));
      MNEME_ASSIGN_OR_RETURN(const uint64_t fingerprint, memory::FingerprintValue(si.fingerprint));
      for (int layer : si.layers) {
        MNEME_ASSIGN_OR_RETURN(std::string raw, src.GetSegment(si.id, d.local, layer));
        const memory::SegmentKey key{fingerprint, si.id, info.id, static_cast<uint32_t>(layer)};
        MNEME_ASSIGN_OR_RETURN(w.segments.emplace_back(), memory::RebindSegment(raw, key, new_info[r].id));
      }
      w.info = info;
      w.info.ordinal = next_local[r]++;
      w.info.global_ordinal = d.global;
      w.text = text;
      memory::SessionInfo target = new_info[r];
      target.retention = memory::Retention();  // copying must not evict what it copies
      MNEME_RETURN_IF_ERROR(to[r]->Append(target, w).status());
      load[r] += d.chunks;
      report.documents += 1;
      report.chunks += d.chunks;
      report.chunks_per_rank[r] += d.chunks;
    }
    next.next_ordinal[name] = next_global;
  }
  to.clear();
  from.clear();
  MNEME_RETURN_IF_ERROR(WriteManifest(data_dir, next));
  // The switch is made; the old generation is garbage now.
  if (old.generation == 0) {
    fs::remove_all(data_dir + "/db", ec);
  } else {
    fs::remove_all(absl::StrFormat("%s/shards/g%d", data_dir, old.generation), ec);
  }
  return report;
}

}  // namespace mneme::parallel
