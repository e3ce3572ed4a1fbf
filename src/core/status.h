#pragma once

// Status and Result<T>: the error channel between modules (see ../../docs/architecture.md).
// A Status is OK or carries a code and a message a user can act on. Expected failures (bad input,
// missing files, corruption) travel as values; programmer errors are asserts.

#include <cassert>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace freshet {

class [[nodiscard]] Status {
 public:
  // Persisted in reject files as text, never as numbers; order is free to change.
  enum class Code { kOk, kInvalidArgument, kNotFound, kCorruption, kIOError, kAlreadyExists,
                    kFailedPrecondition, kResourceExhausted, kUnimplemented, kInternal };

  Status() = default;  // OK
  Status(Code code, std::string message) : code_(code), message_(std::move(message)) {
    assert(code != Code::kOk);
  }

  static Status OK() { return Status(); }
  static Status InvalidArgument(std::string m) { return {Code::kInvalidArgument, std::move(m)}; }
  static Status NotFound(std::string m) { return {Code::kNotFound, std::move(m)}; }
  static Status Corruption(std::string m) { return {Code::kCorruption, std::move(m)}; }
  static Status IOError(std::string m) { return {Code::kIOError, std::move(m)}; }
  static Status AlreadyExists(std::string m) { return {Code::kAlreadyExists, std::move(m)}; }
  static Status FailedPrecondition(std::string m) {
    return {Code::kFailedPrecondition, std::move(m)};
  }
  static Status ResourceExhausted(std::string m) {
    return {Code::kResourceExhausted, std::move(m)};
  }
  static Status Internal(std::string m) { return {Code::kInternal, std::move(m)}; }

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }
  bool IsInvalidArgument() const { return code_ == Code::kInvalidArgument; }
  bool IsNotFound() const { return code_ == Code::kNotFound; }
  bool IsCorruption() const { return code_ == Code::kCorruption; }
  bool IsIOError() const { return code_ == Code::kIOError; }

  // "InvalidArgument: <message>", or "OK".
  std::string ToString() const;
  static std::string_view CodeName(Code code);

  // Returns a copy whose message is "<context>: <message>"; OK stays OK.
  Status WithContext(std::string_view context) const;

 private:
  Code code_ = Code::kOk;
  std::string message_;
};

// Holds either a T or a non-OK Status. REQUIRES: never constructed from an OK status.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : value_(std::move(value)) {}  // NOLINT(google-explicit-constructor)
  Result(Status status) : status_(std::move(status)) {  // NOLINT(google-explicit-constructor)
    assert(!status_.ok() && "Result must not hold an OK status without a value");
  }

  bool ok() const { return value_.has_value(); }
  const Status& status() const { return status_; }

  T& operator*() & { assert(ok()); return *value_; }
  const T& operator*() const& { assert(ok()); return *value_; }
  T&& operator*() && { assert(ok()); return std::move(*value_); }
  T* operator->() { assert(ok()); return &*value_; }
  const T* operator->() const { assert(ok()); return &*value_; }
  T value_or(T fallback) const { return ok() ? *value_ : std::move(fallback); }

 private:
  Status status_;  // OK iff value_ holds a value
  std::optional<T> value_;
};

}  // namespace freshet

// Propagates a non-OK Status to the caller.
#define FRESHET_RETURN_IF_ERROR(expr)              \
  do {                                             \
    ::freshet::Status _st = (expr);                \
    if (!_st.ok()) return _st;                     \
  } while (0)

#define FRESHET_CONCAT_INNER(a, b) a##b
#define FRESHET_CONCAT(a, b) FRESHET_CONCAT_INNER(a, b)
// Evaluates a Result<T>; on error returns its Status, otherwise moves the value into `lhs`.
#define FRESHET_ASSIGN_OR_RETURN(lhs, expr) \
  FRESHET_ASSIGN_OR_RETURN_IMPL(FRESHET_CONCAT(_res_, __LINE__), lhs, expr)
#define FRESHET_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                                  \
  if (!tmp.ok()) return tmp.status();                 \
  lhs = std::move(*tmp)
