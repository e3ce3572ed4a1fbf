#include "model/model_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cassert>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/crc32c.h"

namespace freshet::model {
namespace {

template <typename T>
void Append(std::string& out, T v) {
  char buf[sizeof(T)];
  std::memcpy(buf, &v, sizeof(T));
  out.append(buf, sizeof(T));
}

template <typename T>
bool Read(std::string_view& in, T* v) {
  if (in.size() < sizeof(T)) return false;
  std::memcpy(v, in.data(), sizeof(T));
  in.remove_prefix(sizeof(T));
  return true;
}

size_t ElementBytes(DType t) {
  switch (t) {
    case DType::kBytes: return 1;
    case DType::kF32: return 4;
    case DType::kU32: return 4;
    case DType::kI64: return 8;
    case DType::kF64: return 8;
    case DType::kF16: return 2;
    case DType::kI8: return 1;
  }
  return 0;
}

std::string_view TypeName(DType t) {
  switch (t) {
    case DType::kBytes: return "bytes";
    case DType::kF32: return "f32";
    case DType::kU32: return "u32";
    case DType::kI64: return "i64";
    case DType::kF64: return "f64";
    case DType::kF16: return "f16";
    case DType::kI8: return "i8";
  }
  return "?";
}

}  // namespace

void ModelWriter::Put(std::string_view name, DType type, std::vector<uint64_t> shape,
                      const void* data, size_t bytes) {
  assert(name.size() < 65536 && shape.size() < 256);
  Append(body_, static_cast<uint16_t>(name.size()));
  body_.append(name);
  body_.push_back(static_cast<char>(type));
  body_.push_back(static_cast<char>(shape.size()));
  for (uint64_t d : shape) Append(body_, d);
  Append(body_, static_cast<uint64_t>(bytes));
  body_.append(static_cast<const char*>(data), bytes);
}

void ModelWriter::PutBytes(std::string_view name, std::string_view bytes) {
  Put(name, DType::kBytes, {bytes.size()}, bytes.data(), bytes.size());
}
void ModelWriter::PutF32(std::string_view name, std::span<const float> v,
                         std::vector<uint64_t> shape) {
  if (shape.empty()) shape = {v.size()};
  Put(name, DType::kF32, std::move(shape), v.data(), v.size_bytes());
}
void ModelWriter::PutU32(std::string_view name, std::span<const uint32_t> v) {
  Put(name, DType::kU32, {v.size()}, v.data(), v.size_bytes());
}
void ModelWriter::PutI64(std::string_view name, std::span<const int64_t> v) {
  Put(name, DType::kI64, {v.size()}, v.data(), v.size_bytes());
}
void ModelWriter::PutF64(std::string_view name, std::span<const double> v) {
  Put(name, DType::kF64, {v.size()}, v.data(), v.size_bytes());
}

void ModelWriter::PutF16(std::string_view name, std::span<const uint16_t> v,
                         std::vector<uint64_t> shape) {
  if (shape.empty()) shape = {v.size()};
  Put(name, DType::kF16, std::move(shape), v.data(), v.size_bytes());
}
void ModelWriter::PutI8(std::string_view name, std::span<const int8_t> v,
                        std::vector<uint64_t> shape) {
  if (shape.empty()) shape = {v.size()};
  Put(name, DType::kI8, std::move(shape), v.data(), v.size_bytes());
}

void ModelWriter::Copy(const ModelReader& reader, std::string_view name) {
  auto it = reader.entries_.find(name);
  assert(it != reader.entries_.end());
  const ModelReader::Entry& e = it->second;
  Put(name, e.type, e.shape, e.data.data(), e.data.size());
}

std::string ModelWriter::Encode() const {
  std::string out(kModelMagic, sizeof(kModelMagic));
  Append(out, kModelFormatVersion);
  Append(out, uint32_t{0});  // flags, reserved
  Append(out, static_cast<uint64_t>(body_.size()));
  Append(out, Crc32c(body_));
  Append(out, Crc32c(0, out.data(), out.size()));  // over the 28 bytes before it
  assert(out.size() == kModelHeaderBytes);
  out += body_;
  return out;
}

Status ModelWriter::Commit(const std::string& path) const {
  const std::string bytes = Encode();
  const std::string tmp = path + ".tmp-" + std::to_string(::getpid());
  std::error_code ec;
  auto parent = std::filesystem::path(path).parent_path();
  if (!parent.empty()) std::filesystem::create_directories(parent, ec);
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) return Status::IOError("cannot create " + tmp + ": " + std::strerror(errno));
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n <= 0) {
      std::string why = std::strerror(errno);
      ::close(fd);
      ::unlink(tmp.c_str());
      return Status::IOError("cannot write " + tmp + ": " + why);
    }
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    ::unlink(tmp.c_str());
    return Status::IOError("cannot sync " + tmp + ": " + std::strerror(errno));
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    std::string why = std::strerror(errno);
    ::unlink(tmp.c_str());
    return Status::IOError("cannot rename " + tmp + " to " + path + ": " + why);
  }
  return Status::OK();
}

Result<ModelReader> ModelReader::Open(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return Status::NotFound("no model file '" + path + "'");
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::IOError("cannot open model file '" + path + "'");
  std::stringstream ss;
  ss << in.rdbuf();
  return Decode(ss.str(), path);
}

Result<ModelReader> ModelReader::Decode(std::string bytes, std::string_view origin) {
  auto bad = [&](const std::string& why) {
    return Status::Corruption("model file '" + std::string(origin) + "': " + why);
  };
  if (bytes.size() < kModelHeaderBytes ||
      std::memcmp(bytes.data(), kModelMagic, sizeof(kModelMagic)) != 0) {
    return bad("not a freshet model file (bad magic)");
  }
  std::string_view header(bytes.data() + sizeof(kModelMagic), kModelHeaderBytes - 8);
  uint32_t version = 0, flags = 0, body_crc = 0, header_crc = 0;
  uint64_t body_bytes = 0;
  Read(header, &version);
  Read(header, &flags);
  Read(header, &body_bytes);
  Read(header, &body_crc);
  Read(header, &header_crc);
  if (Crc32c(0, bytes.data(), kModelHeaderBytes - 4) != header_crc) {
    return bad("header checksum mismatch (damaged file)");
  }
  if (version != kModelFormatVersion) {
    return bad("unsupported format version " + std::to_string(version) + " (this freshet reads " +
               std::to_string(kModelFormatVersion) + ")");
  }
  if (bytes.size() - kModelHeaderBytes != body_bytes) {
    return bad("truncated or extended: body is " +
               std::to_string(bytes.size() - kModelHeaderBytes) + " bytes, header says " +
               std::to_string(body_bytes));
  }
  if (Crc32c(0, bytes.data() + kModelHeaderBytes, body_bytes) != body_crc) {
    return bad("checksum mismatch (damaged file)");
  }
  ModelReader reader;
  reader.origin_ = std::string(origin);
  reader.bytes_ = std::move(bytes);
  std::string_view body(reader.bytes_.data() + kModelHeaderBytes, body_bytes);
  while (!body.empty()) {
    uint16_t name_len = 0;
    uint8_t type = 0, rank = 0;
    if (!Read(body, &name_len) || body.size() < name_len) return bad("malformed entry header");
    std::string name(body.substr(0, name_len));
    body.remove_prefix(name_len);
    if (!Read(body, &type) || !Read(body, &rank) || type > static_cast<uint8_t>(DType::kI8)) {
      return bad("entry '" + name + "' has a malformed type");
    }
    Entry e;
    e.type = static_cast<DType>(type);
    uint64_t count = 1;
    for (int d = 0; d < rank; ++d) {
      uint64_t dim = 0;
      if (!Read(body, &dim)) return bad("entry '" + name + "' is truncated");
      e.shape.push_back(dim);
      count *= dim;
    }
    uint64_t n = 0;
    if (!Read(body, &n) || n > body.size() || n != count * ElementBytes(e.type)) {
      return bad("entry '" + name + "' has an inconsistent length");
    }
    e.data = body.substr(0, n);
    body.remove_prefix(n);
    if (reader.entries_.count(name) == 0) reader.names_.push_back(name);
    reader.entries_[name] = std::move(e);
  }
  return reader;
}

Status ModelReader::Missing(std::string_view name) const {
  return Status::Corruption("model file '" + origin_ + "' has no entry '" + std::string(name) +
                            "'");
}

template <typename T>
Result<std::vector<T>> ModelReader::Array(std::string_view name, DType type) const {
  auto it = entries_.find(name);
  if (it == entries_.end()) return Missing(name);
  if (it->second.type != type) {
    return Status::Corruption("model file '" + origin_ + "': entry '" + std::string(name) +
                              "' is " + std::string(TypeName(it->second.type)) + ", expected " +
                              std::string(TypeName(type)));
  }
  std::vector<T> out(it->second.data.size() / sizeof(T));
  if (!out.empty()) std::memcpy(out.data(), it->second.data.data(), it->second.data.size());
  return out;
}

Result<std::string> ModelReader::Bytes(std::string_view name) const {
  auto it = entries_.find(name);
  if (it == entries_.end()) return Missing(name);
  if (it->second.type != DType::kBytes) {
    return Status::Corruption("model file '" + origin_ + "': entry '" + std::string(name) +
                              "' is not bytes");
  }
  return std::string(it->second.data);
}

Result<std::vector<float>> ModelReader::F32(std::string_view name) const {
  return Array<float>(name, DType::kF32);
}

Result<std::vector<float>> ModelReader::F32(std::string_view name, size_t expect_count) const {
  FRESHET_ASSIGN_OR_RETURN(std::vector<float> v, Array<float>(name, DType::kF32));
  if (v.size() != expect_count) {
    return Status::Corruption("model file '" + origin_ + "': entry '" + std::string(name) +
                              "' has " + std::to_string(v.size()) + " values, expected " +
                              std::to_string(expect_count));
  }
  return v;
}

Result<std::vector<uint32_t>> ModelReader::U32(std::string_view name) const {
  return Array<uint32_t>(name, DType::kU32);
}
Result<std::vector<int64_t>> ModelReader::I64(std::string_view name) const {
  return Array<int64_t>(name, DType::kI64);
}
Result<std::vector<double>> ModelReader::F64(std::string_view name) const {
  return Array<double>(name, DType::kF64);
}

template <typename T>
Result<std::vector<T>> ModelReader::Counted(std::string_view name, DType type,
                                            size_t expect_count) const {
  FRESHET_ASSIGN_OR_RETURN(std::vector<T> v, Array<T>(name, type));
  if (v.size() != expect_count) {
    return Status::Corruption("model file '" + origin_ + "': entry '" + std::string(name) +
                              "' has " + std::to_string(v.size()) + " values, expected " +
                              std::to_string(expect_count));
  }
  return v;
}

Result<std::vector<uint16_t>> ModelReader::F16(std::string_view name, size_t expect_count) const {
  return Counted<uint16_t>(name, DType::kF16, expect_count);
}
Result<std::vector<int8_t>> ModelReader::I8(std::string_view name, size_t expect_count) const {
  return Counted<int8_t>(name, DType::kI8, expect_count);
}

Result<std::vector<uint64_t>> ModelReader::Shape(std::string_view name) const {
  auto it = entries_.find(name);
  if (it == entries_.end()) return Missing(name);
  return it->second.shape;
}

}  // namespace freshet::model
