#pragma once

// A minimal streaming JSON writer for reports, reject files and (later) HTTP responses. It
// produces compact, valid JSON; callers are responsible for balanced Begin/End calls (asserted).

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace freshet {

// Appends `s` as a quoted JSON string. Control characters are escaped; invalid UTF-8 bytes are
// replaced by U+FFFD so the output is always valid JSON.
void AppendJsonString(std::string* out, std::string_view s);

class JsonWriter {
 public:
  JsonWriter& BeginObject();
  JsonWriter& EndObject();
  JsonWriter& BeginArray();
  JsonWriter& EndArray();
  JsonWriter& Key(std::string_view key);  // REQUIRES: inside an object, before a value
  JsonWriter& String(std::string_view v);
  JsonWriter& Int(int64_t v);
  JsonWriter& Uint(uint64_t v);
  JsonWriter& Double(double v);  // NaN / infinity are written as null
  JsonWriter& Bool(bool v);
  JsonWriter& Null();

  const std::string& str() const { return out_; }
  std::string Take() { return std::move(out_); }

 private:
  void BeforeValue();
  std::string out_;
  // One entry per open container: whether it already holds an element.
  std::vector<bool> has_element_;
  bool after_key_ = false;
};

}  // namespace freshet
