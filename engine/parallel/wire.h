// The byte encoding of memory-parallel messages (engine/parallel/protocol.h): little-endian
// PODs, length-prefixed strings and arrays, appended to / read from a std::string. Ranks run
// the same binary on hosts of one byte order, so PODs travel as their in-memory bytes.
//
// Reader never reads past its input: a short or malformed message is DataLoss, not UB.
#ifndef MNEME_ENGINE_PARALLEL_WIRE_H_
#define MNEME_ENGINE_PARALLEL_WIRE_H_

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_format.h"

namespace mneme::parallel {

class Writer {
 public:
  explicit Writer(std::string* out) : out_(out) {}
  template <typename T>
  Writer& Put(T v) {
    static_assert(std::is_trivially_copyable_v<T>);
    out_->append(reinterpret_cast<const char*>(&v), sizeof(T));
    return *this;
  }
  template <typename T>
  Writer& PutArray(const T* data, size_t n) {
    static_assert(std::is_trivially_copyable_v<T>);
    Put<uint64_t>(n);
    if (n > 0) out_->append(reinterpret_cast<const char*>(data), n * sizeof(T));
    return *this;
  }
  template <typename T>
  Writer& PutVector(const std::vector<T>& v) { return PutArray(v.data(), v.size()); }
  Writer& PutString(std::string_view s) { return PutArray(s.data(), s.size()); }
  // A status as (code, message).
  Writer& PutStatus(const absl::Status& s) {
    Put<int32_t>(static_cast<int32_t>(s.code()));
    return PutString(std::string_view(s.message().data(), s.message().size()));
  }

 private:
  std::string* out_;
};

class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}
  template <typename T>
  absl::StatusOr<T> Get() {
    static_assert(std::is_trivially_copyable_v<T>);
    if (in_.size() - at_ < sizeof(T)) return Short(sizeof(T));
    T v;
    std::memcpy(&v, in_.data() + at_, sizeof(T));
    at_ += sizeof(T);
    return v;
  }
  // Reads an array of T into *out (resized).
  template <typename T>
  absl::Status GetVector(std::vector<T>* out) {
    absl::StatusOr<uint64_t> n = Get<uint64_t>();
    if (!n.ok()) return n.status();
    if (*n > (in_.size() - at_) / sizeof(T)) return Short(*n * sizeof(T));
    out->resize(static_cast<size_t>(*n));
    if (*n > 0) std::memcpy(out->data(), in_.data() + at_, *n * sizeof(T));  // data() may be null when empty
    at_ += *n * sizeof(T);
    return absl::OkStatus();
  }
  // Reads an array of T into caller memory of exactly `n` elements.
  template <typename T>
  absl::Status GetInto(T* dst, size_t n) {
    absl::StatusOr<uint64_t> got = Get<uint64_t>();
    if (!got.ok()) return got.status();
    if (*got != n) return absl::DataLossError(absl::StrFormat("message: %d elements where %d were expected", *got, n));
    if (n > (in_.size() - at_) / sizeof(T)) return Short(n * sizeof(T));
    if (n > 0) std::memcpy(dst, in_.data() + at_, n * sizeof(T));
    at_ += n * sizeof(T);
    return absl::OkStatus();
  }
  absl::StatusOr<std::string> GetString() {
    std::vector<char> v;
    if (absl::Status s = GetVector(&v); !s.ok()) return s;
    return std::string(v.begin(), v.end());
  }
  // Reads a status written by PutStatus into *out; the return value is the read's own outcome
  // (StatusOr<Status> would blur the two).
  absl::Status GetStatus(absl::Status* out) {
    absl::StatusOr<int32_t> code = Get<int32_t>();
    if (!code.ok()) return code.status();
    absl::StatusOr<std::string> msg = GetString();
    if (!msg.ok()) return msg.status();
    *out = absl::Status(static_cast<absl::StatusCode>(*code), *msg);
    return absl::OkStatus();
  }
  bool done() const { return at_ == in_.size(); }
  size_t position() const { return at_; }
  size_t remaining() const { return in_.size() - at_; }

 private:
  absl::Status Short(size_t want) const {
    return absl::DataLossError(absl::StrFormat("message truncated: %d bytes wanted at offset %d of %d", want, at_, in_.size()));
  }
  std::string_view in_;
  size_t at_ = 0;
};

}  // namespace mneme::parallel

#endif  // MNEME_ENGINE_PARALLEL_WIRE_H_
