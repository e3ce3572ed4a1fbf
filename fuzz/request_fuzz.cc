// libFuzzer target: arbitrary bytes as an HTTP request, through the parser the server uses
// (Boost.Beast's request_parser with the server's limits) and freshet's request-target decoding.
// Run: make fuzz (see the Makefile); finds crashes, hangs and sanitizer reports.

#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "http/target.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  namespace http = boost::beast::http;
  http::request_parser<http::string_body> parser;
  parser.header_limit(16 * 1024);
  parser.body_limit(1 << 20);
  parser.eager(true);
  boost::beast::error_code ec;
  const char* p = reinterpret_cast<const char*>(data);
  // Feed the bytes in two parts, as a socket delivers them, the way http::async_read does: put
  // what is buffered, and on need_more wait for the rest.
  size_t offset = 0, end = size / 2;
  for (int round = 0; round < 64 && !parser.is_done(); ++round) {
    ec = {};
    const size_t used = parser.put(boost::asio::buffer(p + offset, end - offset), ec);
    offset += used;
    if (ec == http::error::need_more || (!ec && used == 0)) {
      if (end == size) break;
      end = size;
      continue;
    }
    if (ec) break;
  }
  if (parser.is_header_done()) {
    const auto target = parser.get().target();
    auto parsed = freshet::http::ParseTarget(std::string_view(target.data(), target.size()));
    if (parsed.ok()) {
      for (const auto& [k, v] : parsed->query) {
        if (k.size() > size * 3 || v.size() > size * 3) __builtin_trap();  // decoding only shrinks
      }
    }
  }
  // The target parser alone, on the raw bytes.
  (void)freshet::http::ParseTarget(std::string_view(p, size));
  return 0;
}
