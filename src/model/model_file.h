#pragma once

// The model file: one versioned binary container for every model kind (docs/formats.md,
// "Model file"). A header (magic, version, body length, CRC-32C of the body) and a body of named
// entries: typed arrays (tensors, id lists) and byte strings (kind, options as JSON, training
// report). Written to a temporary name and renamed into place, so a reader sees the old file or
// the new one, never half of one.

#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace freshet::model {

inline constexpr char kModelMagic[8] = {'F', 'R', 'E', 'S', 'H', 'M', 'D', 'L'};
inline constexpr uint32_t kModelFormatVersion = 1;
// magic(8) version(4) flags(4) body_bytes(8) body_crc32c(4) header_crc32c(4)
inline constexpr size_t kModelHeaderBytes = 32;
static_assert(kModelHeaderBytes == 8 + 4 + 4 + 8 + 4 + 4, "update docs/formats.md");

// Element types of entries. Persisted: NEVER RENUMBER. kF16 is IEEE 754 binary16 (stored as its
// uint16 bit pattern), kI8 a signed byte: the quantized embedding tables of serving models.
enum class DType : uint8_t {
  kBytes = 0,
  kF32 = 1,
  kU32 = 2,
  kI64 = 3,
  kF64 = 4,
  kF16 = 5,
  kI8 = 6,
};

class ModelReader;

class ModelWriter {
 public:
  void PutBytes(std::string_view name, std::string_view bytes);
  void PutF32(std::string_view name, std::span<const float> values,
              std::vector<uint64_t> shape = {});
  void PutU32(std::string_view name, std::span<const uint32_t> values);
  void PutI64(std::string_view name, std::span<const int64_t> values);
  void PutF64(std::string_view name, std::span<const double> values);
  // `values` are binary16 bit patterns.
  void PutF16(std::string_view name, std::span<const uint16_t> values,
              std::vector<uint64_t> shape = {});
  void PutI8(std::string_view name, std::span<const int8_t> values,
             std::vector<uint64_t> shape = {});
  // Appends entry `name` of `reader` as it is there (type, shape, bytes).
  // REQUIRES: reader.Has(name).
  void Copy(const ModelReader& reader, std::string_view name);
  // Writes the file atomically (temporary name, fsync, rename). IOError naming the path.
  Status Commit(const std::string& path) const;
  // The encoded file, for tests.
  std::string Encode() const;

 private:
  void Put(std::string_view name, DType type, std::vector<uint64_t> shape, const void* data,
           size_t bytes);
  std::string body_;
};

class ModelReader {
 public:
  // Reads and verifies `path`. NotFound when absent; Corruption naming the path and the fault
  // ("not a freshet model file", "checksum mismatch", "truncated", "unsupported version N").
  static Result<ModelReader> Open(const std::string& path);
  static Result<ModelReader> Decode(std::string bytes, std::string_view origin);

  bool Has(std::string_view name) const { return entries_.count(std::string(name)) > 0; }
  // NotFound / Corruption (wrong type, wrong size) naming the entry.
  Result<std::string> Bytes(std::string_view name) const;
  Result<std::vector<float>> F32(std::string_view name, size_t expect_count) const;
  Result<std::vector<float>> F32(std::string_view name) const;  // any size
  Result<std::vector<uint32_t>> U32(std::string_view name) const;
  Result<std::vector<int64_t>> I64(std::string_view name) const;
  Result<std::vector<double>> F64(std::string_view name) const;
  Result<std::vector<uint64_t>> Shape(std::string_view name) const;
  // binary16 bit patterns / signed bytes; Corruption naming the entry unless there are exactly
  // `expect_count` of them.
  Result<std::vector<uint16_t>> F16(std::string_view name, size_t expect_count) const;
  Result<std::vector<int8_t>> I8(std::string_view name, size_t expect_count) const;
  // The entries' names in file order.
  const std::vector<std::string>& names() const { return names_; }
  const std::string& origin() const { return origin_; }

 private:
  struct Entry {
    DType type;
    std::vector<uint64_t> shape;
    std::string_view data;  // into bytes_
  };
  friend class ModelWriter;  // Copy
  template <typename T>
  Result<std::vector<T>> Array(std::string_view name, DType type) const;
  template <typename T>
  Result<std::vector<T>> Counted(std::string_view name, DType type, size_t expect_count) const;
  Status Missing(std::string_view name) const;

  std::string origin_;
  std::string bytes_;
  std::map<std::string, Entry, std::less<>> entries_;
  std::vector<std::string> names_;  // file order
};

}  // namespace freshet::model
