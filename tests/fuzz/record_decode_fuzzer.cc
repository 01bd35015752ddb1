// Fuzzes the store's metadata parsers (memory/records.h): DecodeSession, DecodeDocument and
// CheckStoreRecord on arbitrary (key, value) pairs. The first input byte picks the key shape and
// whether to re-seal the value with a valid CRC (libFuzzer cannot forge a CRC-32C itself), so the
// protobuf parse and the field checks behind the checksum are reached. Aborts when a decode
// fails with a code other than DataLoss/FailedPrecondition, or when a decoded record does not
// re-encode to a value that decodes to the same fields.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "memory/crc32c.h"
#include "memory/records.h"

namespace {

using namespace mneme::memory;

std::string Reseal(const std::string& key, std::string value) {
  if (value.size() < 4) value.resize(4);
  const size_t body = value.size() - 4;
  uint32_t crc = Crc32cExtend(Crc32c(key.data(), key.size()), value.data(), body);
  for (int i = 0; i < 4; ++i) value[body + static_cast<size_t>(i)] = static_cast<char>((crc >> (8 * i)) & 0xff);
  return value;
}

void CheckCode(const absl::Status& s) {
  if (!s.ok() && !absl::IsDataLoss(s) && !absl::IsFailedPrecondition(s)) abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const uint8_t mode = data[0];
  std::string value(reinterpret_cast<const char*>(data + 1), size - 1);
  const uint64_t sid = 0x0123456789abcdefull;
  switch (mode % 3) {
    case 0: {
      const std::string key = DocumentKey(sid, mode >> 2);
      if (mode & 2) value = Reseal(key, value);
      auto d = DecodeDocument(key, value);
      CheckCode(d.status());
      if (d.ok()) {
        auto again = DecodeDocument(key, EncodeDocument(sid, *d));
        if (!again.ok() || again->id != d->id || again->tokens != d->tokens || again->tags != d->tags ||
            again->deleted != d->deleted || again->part_of != d->part_of) {
          abort();
        }
      }
      break;
    }
    case 1: {
      const std::string key = SessionKey(sid);
      if (mode & 2) value = Reseal(key, value);
      auto s = DecodeSession(key, value);
      CheckCode(s.status());
      if (s.ok()) {
        auto again = DecodeSession(key, EncodeSession(*s));
        if (!again.ok() || again->name != s->name || again->layers != s->layers || again->codec != s->codec) abort();
      }
      break;
    }
    default: {
      if (mode & 2) value = Reseal(StoreKey(), value);
      CheckCode(CheckStoreRecord(value));
      break;
    }
  }
  return 0;
}
