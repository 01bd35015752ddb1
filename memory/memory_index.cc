#include "memory/memory_index.h"

#include "absl/strings/str_format.h"

namespace mneme::memory {

absl::StatusOr<int64_t> MemoryIndex::Append(PooledDocument doc, std::string text) {
  const size_t want = static_cast<size_t>(doc.num_chunks * kv_width_);
  if (doc.num_chunks <= 0) return absl::InvalidArgumentError("memory index: document has no chunk");
  if (doc.k.size() != static_cast<size_t>(num_slots_) || doc.v.size() != doc.k.size() ||
      doc.kr.size() != doc.k.size()) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "memory index: document has %d/%d/%d layer slots, index has %d", doc.k.size(),
        doc.v.size(), doc.kr.size(), num_slots_));
  }
  for (int s = 0; s < num_slots_; ++s) {
    const size_t i = static_cast<size_t>(s);
    if (doc.k[i].size() != want || doc.v[i].size() != want || doc.kr[i].size() != want) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "memory index: slot %d arrays do not hold %d chunks x %d values", s, doc.num_chunks,
          kv_width_));
    }
  }
  if (num_documents() >= INT32_MAX) return absl::ResourceExhaustedError("memory index: too many documents");
  const int64_t ordinal = num_documents();
  Entry e;
  e.chunk_begin = total_chunks();
  e.text = std::move(text);
  for (int s = 0; s < num_slots_; ++s) {
    auto& keys = keys_[static_cast<size_t>(s)];
    keys.insert(keys.end(), doc.kr[static_cast<size_t>(s)].begin(), doc.kr[static_cast<size_t>(s)].end());
  }
  doc.kr.clear();
  chunk_doc_.insert(chunk_doc_.end(), static_cast<size_t>(doc.num_chunks), static_cast<int32_t>(ordinal));
  total_tokens_ += doc.num_tokens;
  e.memory = std::move(doc);
  docs_.push_back(std::move(e));
  ++live_;
  return ordinal;
}

int64_t MemoryIndex::AppendAbsent() {
  Entry e;
  e.chunk_begin = total_chunks();
  e.live = false;
  e.memory.k.resize(static_cast<size_t>(num_slots_));
  e.memory.v.resize(static_cast<size_t>(num_slots_));
  docs_.push_back(std::move(e));
  return num_documents() - 1;
}

absl::Status MemoryIndex::Delete(int64_t ordinal) {
  if (!Exists(ordinal)) {
    return absl::NotFoundError(absl::StrFormat("document %d does not exist (%d documents)", ordinal,
                                               num_documents()));
  }
  Entry& e = docs_[Idx(ordinal)];
  if (!e.live) return absl::FailedPreconditionError(absl::StrFormat("document %d is already deleted", ordinal));
  e.live = false;
  --live_;
  ++deletions_;
  return absl::OkStatus();
}

const float* MemoryIndex::k(int slot, int64_t ordinal) const {
  return docs_[Idx(ordinal)].memory.k[static_cast<size_t>(slot)].data();
}

const float* MemoryIndex::v(int slot, int64_t ordinal) const {
  return docs_[Idx(ordinal)].memory.v[static_cast<size_t>(slot)].data();
}

}  // namespace mneme::memory
