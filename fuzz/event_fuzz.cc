// libFuzzer target: arbitrary bytes as a POST /v1/events body or a jsonl line, through simdjson
// and the event decoder shared by ingest and the server (io::JsonEventDecoder), then validation.

#include <simdjson.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "core/event.h"
#include "io/json_event.h"

namespace {

const freshet::io::JsonEventDecoder& Decoder() {
  static const auto decoder = freshet::io::JsonEventDecoder::Create({});
  return *decoder;
}

void Take(simdjson::dom::element value) {
  simdjson::dom::object object;
  if (value.get_object().get(object)) return;
  freshet::Event event;
  freshet::io::FieldProblem problem;
  if (Decoder().Decode(object, int64_t{1700000000000}, &event, &problem)) {
    (void)freshet::ValidateEvent(event);
  } else if (problem.reason.empty()) {
    __builtin_trap();  // a refusal must say why
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  const std::string text(reinterpret_cast<const char*>(data), size);
  if (parser.parse(text).get(doc)) return 0;
  simdjson::dom::array array;
  if (!doc.get_array().get(array)) {
    for (simdjson::dom::element v : array) Take(v);
  } else {
    Take(doc);
  }
  return 0;
}
