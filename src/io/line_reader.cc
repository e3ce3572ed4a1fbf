#include "io/line_reader.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "io/csv.h"

namespace freshet::io {
namespace {

std::string ErrnoText(int err) { return std::strerror(err); }

}  // namespace

Result<std::unique_ptr<LineReader>> LineReader::Open(const std::string& path, size_t buffer_bytes) {
  int fd;
  do {
    fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) {
    const int err = errno;
    if (err == ENOENT) return Status::NotFound(path + ": no such file");
    return Status::IOError(path + ": cannot open: " + ErrnoText(err));
  }
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    return Status::IOError(path + ": cannot stat: " + ErrnoText(err));
  }
  if (S_ISDIR(st.st_mode)) {
    ::close(fd);
    return Status::IOError(path + ": is a directory, not a file");
  }
  const uint64_t size = S_ISREG(st.st_mode) ? static_cast<uint64_t>(st.st_size) : 0;
  std::unique_ptr<LineReader> reader(
      new LineReader(fd, path, size, buffer_bytes < 4096 ? 4096 : buffer_bytes));
  FRESHET_RETURN_IF_ERROR(reader->Fill());
  const char* p = reader->buf_.get();
  if (reader->end_ >= 3 && std::memcmp(p, "\xEF\xBB\xBF", 3) == 0) reader->begin_ = 3;
  return reader;
}

LineReader::LineReader(int fd, std::string path, uint64_t file_size, size_t buffer_bytes)
    : fd_(fd),
      path_(std::move(path)),
      file_size_(file_size),
      // make_unique value-initialises, so the padding never holds uninitialised bytes.
      buf_(std::make_unique<char[]>(buffer_bytes + kPadding)),
      capacity_(buffer_bytes) {}

LineReader::~LineReader() { ::close(fd_); }

Status LineReader::Fill() {
  if (eof_) return Status::OK();
  if (begin_ > 0) {
    std::memmove(buf_.get(), buf_.get() + begin_, end_ - begin_);
    dropped_ += begin_;
    end_ -= begin_;
    begin_ = 0;
  }
  if (end_ == capacity_) {
    // One line (or CSV record) longer than the buffer: grow rather than split it.
    const size_t grown = capacity_ * 2;
    auto bigger = std::make_unique<char[]>(grown + kPadding);
    std::memcpy(bigger.get(), buf_.get(), end_);
    buf_ = std::move(bigger);
    capacity_ = grown;
  }
  ssize_t n;
  do {
    n = ::read(fd_, buf_.get() + end_, capacity_ - end_);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return Status::IOError(path_ + ": read failed: " + ErrnoText(errno));
  if (n == 0) {
    eof_ = true;
  } else {
    end_ += static_cast<size_t>(n);
  }
  return Status::OK();
}

std::string_view LineReader::TakeLine(const char* newline) {
  const char* start = buf_.get() + begin_;
  const char* stop = newline != nullptr ? newline : buf_.get() + end_;
  begin_ = static_cast<size_t>(stop - buf_.get()) + (newline != nullptr ? 1 : 0);
  ++line_no_;
  std::string_view line(start, static_cast<size_t>(stop - start));
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  return line;
}

Status LineReader::NextLine(std::string_view& line, int64_t& line_no, bool& eof) {
  for (;;) {
    const char* p = buf_.get() + begin_;
    const size_t avail = end_ - begin_;
    const auto* nl = static_cast<const char*>(std::memchr(p, '\n', avail));
    if (nl != nullptr || (eof_ && avail > 0)) {
      line = TakeLine(nl);
      line_no = line_no_;
      eof = false;
      return Status::OK();
    }
    if (eof_) {
      eof = true;
      return Status::OK();
    }
    FRESHET_RETURN_IF_ERROR(Fill());
  }
}

Status LineReader::NextCsvRecord(char delimiter, CsvRecord& record, bool& eof) {
  for (;;) {
    const char* p = buf_.get() + begin_;
    const size_t avail = end_ - begin_;
    const auto* nl = static_cast<const char*>(std::memchr(p, '\n', avail));
    if (nl == nullptr && !eof_) {
      FRESHET_RETURN_IF_ERROR(Fill());
      continue;
    }
    if (nl == nullptr && avail == 0) {
      eof = true;
      return Status::OK();
    }
    eof = false;
    const size_t line_len = nl != nullptr ? static_cast<size_t>(nl - p) : avail;
    // Fast path: a line without any quote is a whole record.
    if (std::memchr(p, '"', line_len) == nullptr) {
      record.text = TakeLine(nl);
      record.line = line_no_;
      record.unterminated = false;
      return Status::OK();
    }
    const CsvScan scan = ScanCsvRecord(std::string_view(p, avail), delimiter);
    if (scan.end != std::string_view::npos) {
      std::string_view text(p, scan.end);
      if (!text.empty() && text.back() == '\r') text.remove_suffix(1);
      record.text = text;
      record.line = line_no_ + 1;
      record.unterminated = false;
      begin_ += scan.end + 1;
      line_no_ += 1 + scan.newlines;
      return Status::OK();
    }
    if (!eof_ && avail < kMaxCsvRecordBytes) {
      FRESHET_RETURN_IF_ERROR(Fill());
      continue;
    }
    if (eof_ && !scan.in_quotes) {
      // The last record of a file without a final newline.
      std::string_view text(p, avail);
      if (!text.empty() && text.back() == '\r') text.remove_suffix(1);
      record.text = text;
      record.line = line_no_ + 1;
      record.unterminated = false;
      begin_ = end_;
      line_no_ += 1 + scan.newlines;
      return Status::OK();
    }
    // The quote never closes: give up on this record's first line only, and resume after it, so
    // the lines the open quote would have swallowed are still read as records of their own.
    record.text = TakeLine(nl);
    record.line = line_no_;
    record.unterminated = true;
    return Status::OK();
  }
}

}  // namespace freshet::io
