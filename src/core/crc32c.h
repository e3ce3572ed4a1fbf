#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace freshet {

// CRC-32C (Castagnoli polynomial, reflected, as in iSCSI / ext4 / LevelDB), for the checksums of
// files freshet writes. `crc` continues a previous value; start from 0.
uint32_t Crc32c(uint32_t crc, const void* data, size_t n);
inline uint32_t Crc32c(std::string_view s) { return Crc32c(0, s.data(), s.size()); }

}  // namespace freshet
