// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), the checksum of mneme's stored values.
// Uses the SSE4.2 crc32 instruction where the CPU has it, else a portable table-driven
// implementation (slice-by-8); both give identical results. Extend() continues a running CRC.
#ifndef MNEME_MEMORY_CRC32C_H_
#define MNEME_MEMORY_CRC32C_H_

#include <cstddef>
#include <cstdint>

namespace mneme::memory {

// CRC of data[0, n) continuing from `crc` (0 to start).
uint32_t Crc32cExtend(uint32_t crc, const void* data, size_t n);
// The table-driven implementation, always (tests compare it with the dispatched one).
uint32_t Crc32cExtendPortable(uint32_t crc, const void* data, size_t n);
inline uint32_t Crc32c(const void* data, size_t n) { return Crc32cExtend(0, data, n); }

}  // namespace mneme::memory

#endif  // MNEME_MEMORY_CRC32C_H_
