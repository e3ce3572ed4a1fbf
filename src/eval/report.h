#pragma once

// Evaluation reports: JSON for machines, a self-contained HTML page for people (inline CSS and
// SVG, no scripts, no network), and a plain-text comparison table for the terminal.

#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "eval/evaluator.h"

namespace freshet::eval {

// The JSON report, compact, with exactly these keys:
//   {"dataset": s, "model": s, "protocol": s, "candidates": s, "users_evaluated": n,
//    "metrics": {"HR@5": x, "NDCG@5": x, "Recall@5": x, ..., "MRR": x, "Coverage@5": x, ...},
//    "train": {"seconds": x, "best_epoch": n,
//              "epochs": [{"epoch": 1, "loss": x, "seconds": x, "samples_per_s": x,
//                          "validation": {"NDCG@10": x, ...}}, ...]},
//    "by_history_length": [{"history": "1-2", "users": n, "metrics": {"HR@5": x, ...}}, ...]}
// Metric order is EvalResult::metrics' order. Non-finite numbers are written as null.
std::string ReportJson(const EvalResult& result);

// One model's HTML page: title with dataset / model / protocol / candidates and the candidate
// note, the metrics table, the per-epoch validation and loss curves (when the model trained in
// epochs), and NDCG / HR by history length. Every text from the result is HTML-escaped.
std::string ReportHtml(const EvalResult& result);

// One HTML page comparing several models (meant: on one dataset, protocol and candidate set; a
// warning is shown otherwise): a table of every metric, HR / NDCG bars per model, and the models'
// validation curves.
std::string ComparisonHtml(const std::vector<EvalResult>& results);

// The terminal table: a header line (dataset, protocol, candidates, users) and one row per model
//   model | HR@10 | NDCG@10 | Recall@10 | MRR | Coverage@10 | train s
// with columns aligned (K = 10 when evaluated, else the first K). Ends with a newline.
std::string FormatComparisonTable(const std::vector<EvalResult>& results);

// `text` with &, <, >, " and ' replaced by entities: safe as element text and attribute value.
std::string HtmlEscape(std::string_view text);

// Writes `contents` to `path` through a temporary file renamed into place, so a reader never
// sees half a report. Returns IOError naming the path and the reason.
Status WriteReportFile(const std::string& path, std::string_view contents);

}  // namespace freshet::eval
