#pragma once

// A buffered, streaming reader of a file's lines (or CSV records, which may span lines). Reads
// with large read(2) calls into one buffer and hands out views into it, so a reader touches each
// byte a few times and allocates nothing per line. Private to src/io.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "core/status.h"

namespace freshet::io {

class LineReader {
 public:
  // Allocated bytes guaranteed to follow every view handed out (their content is unspecified), so
  // that parsers that read past the end in wide loads (simdjson needs 64) can use views in place.
  static constexpr size_t kPadding = 64;
  // A quoted CSV field may hold newlines, but one that runs on this long is an unterminated quote;
  // past it the reader gives up on the record instead of buffering the rest of the file.
  static constexpr size_t kMaxCsvRecordBytes = 16u << 20;

  // Opens `path` and reads the first block; a UTF-8 byte order mark at the start is skipped.
  // Returns NotFound when the file does not exist, IOError when it cannot be opened or read
  // (a directory, no permission).
  static Result<std::unique_ptr<LineReader>> Open(const std::string& path,
                                                  size_t buffer_bytes = 1u << 20);
  ~LineReader();
  LineReader(const LineReader&) = delete;
  LineReader& operator=(const LineReader&) = delete;

  // The next physical line, without its "\n" or "\r\n". A last line without a newline counts.
  // On OK, `eof` is true (and `line` unset) when the file is exhausted; `line_no` is the line's
  // 1-based number. The view stays valid until the next call. IOError on a read failure.
  Status NextLine(std::string_view& line, int64_t& line_no, bool& eof);

  struct CsvRecord {
    std::string_view text;  // without its terminator; may contain newlines inside quotes
    int64_t line = 0;       // 1-based number of the record's first line
    // The record's quote never closed (at end of file, or within kMaxCsvRecordBytes). `text` is
    // then only the record's first physical line, and reading resumes on the line after it.
    bool unterminated = false;
  };
  // The next CSV record, following quoted fields across newlines. Otherwise as NextLine.
  Status NextCsvRecord(char delimiter, CsvRecord& record, bool& eof);

  // Bytes of the file consumed so far (including a skipped byte order mark).
  uint64_t bytes_consumed() const { return dropped_ + begin_; }
  // The file's size when opened; 0 for something that is not a regular file (a pipe).
  uint64_t file_size() const { return file_size_; }
  const std::string& path() const { return path_; }

 private:
  LineReader(int fd, std::string path, uint64_t file_size, size_t buffer_bytes);
  // Moves unconsumed bytes to the front, grows the buffer if it is full, and reads more.
  // Sets eof_ when read(2) returns 0.
  Status Fill();
  // Consumes the physical line starting at begin_ (which must end at `newline` or at end of data).
  std::string_view TakeLine(const char* newline);

  int fd_;
  std::string path_;
  uint64_t file_size_;
  std::unique_ptr<char[]> buf_;
  size_t capacity_;       // usable bytes of buf_; kPadding more are allocated
  size_t begin_ = 0;      // first unconsumed byte
  size_t end_ = 0;        // one past the last byte read
  uint64_t dropped_ = 0;  // file bytes moved out of the buffer by compaction
  bool eof_ = false;
  int64_t line_no_ = 0;  // physical lines consumed
};

}  // namespace freshet::io
