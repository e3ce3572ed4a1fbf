#include "eval/report.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <utility>

#include "core/json_writer.h"
#include "core/time.h"
#include "eval/prequential.h"
#include "model/params.h"

namespace freshet::eval {
namespace {

using Metrics = std::vector<std::pair<std::string, double>>;

// Tableau 10: distinguishable, and readable by most colour-blind readers.
constexpr const char* kPalette[] = {"#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2",
                                    "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"};
constexpr size_t kPaletteSize = sizeof(kPalette) / sizeof(kPalette[0]);

std::string Fixed(double v, int decimals) {
  if (!std::isfinite(v)) return "-";
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.*f", decimals, v);
  return buf;
}

double Find(const Metrics& metrics, std::string_view name) {
  for (const auto& [key, value] : metrics) {
    if (key == name) return value;
  }
  return std::numeric_limits<double>::quiet_NaN();
}

// "@10" when the result has K = 10, else the first K it has: the cutoff that headline tables and
// charts show.
std::string HeadlineK(const EvalResult& r) {
  if (std::isfinite(r.Metric("NDCG@10"))) return "@10";
  for (const auto& [key, value] : r.metrics) {
    if (key.rfind("NDCG@", 0) == 0) return key.substr(4);
  }
  return "@10";
}

void WriteMetrics(JsonWriter& w, const Metrics& metrics) {
  w.BeginObject();
  for (const auto& [key, value] : metrics) w.Key(key).Double(value);
  w.EndObject();
}

// ---- SVG charts ----------------------------------------------------------------------------

// Axis range and tick step rounded to 1, 2 or 5 times a power of ten.
struct Axis {
  double lo = 0;
  double hi = 1;
  double step = 0.2;
};

Axis NiceAxis(double lo, double hi, int target_ticks) {
  if (!std::isfinite(lo) || !std::isfinite(hi)) return {};
  if (hi <= lo) {
    const double pad = lo == 0 ? 1.0 : std::fabs(lo) * 0.1;
    lo -= pad;
    hi += pad;
  }
  const double raw = (hi - lo) / target_ticks;
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  const double norm = raw / mag;
  const double step = (norm <= 1 ? 1 : norm <= 2 ? 2 : norm <= 5 ? 5 : 10) * mag;
  return {std::floor(lo / step) * step, std::ceil(hi / step) * step, step};
}

std::string Tick(double v, double step) {
  const int decimals = std::max(0, static_cast<int>(-std::floor(std::log10(step) + 1e-9)));
  return Fixed(std::fabs(v) < step * 1e-6 ? 0.0 : v, decimals);
}

struct Series {
  std::string name;
  std::vector<std::pair<double, double>> points;  // (x, y), x ascending
};

constexpr int kWidth = 600;
constexpr int kHeight = 320;
constexpr int kLeft = 64;
constexpr int kRight = 16;
constexpr int kTop = 40;
constexpr int kBottom = 64;

std::string Num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.1f", v);
  return buf;
}

void SvgOpen(std::string& out, std::string_view title) {
  out += "<svg class=\"chart\" viewBox=\"0 0 " + std::to_string(kWidth) + " " +
         std::to_string(kHeight) + "\" role=\"img\" aria-label=\"" + HtmlEscape(title) + "\">";
  out += "<text x=\"" + std::to_string(kWidth / 2) +
         "\" y=\"18\" text-anchor=\"middle\" class=\"ct\">" + HtmlEscape(title) + "</text>";
}

// Horizontal grid lines and y labels; returns the y -> pixel mapping's parameters.
void YGrid(std::string& out, const Axis& y) {
  const double plot_h = kHeight - kTop - kBottom;
  for (double v = y.lo; v <= y.hi + y.step * 1e-6; v += y.step) {
    const double py = kTop + plot_h * (1 - (v - y.lo) / (y.hi - y.lo));
    out += "<line x1=\"" + std::to_string(kLeft) + "\" x2=\"" + std::to_string(kWidth - kRight) +
           "\" y1=\"" + Num(py) + "\" y2=\"" + Num(py) + "\" class=\"grid\"/>";
    out += "<text x=\"" + std::to_string(kLeft - 6) + "\" y=\"" + Num(py + 4) +
           "\" text-anchor=\"end\">" + Tick(v, y.step) + "</text>";
  }
}

void Legend(std::string& out, const std::vector<std::string>& names) {
  double x = kLeft;
  const double y = kHeight - 14;
  for (size_t i = 0; i < names.size(); ++i) {
    out += "<rect x=\"" + Num(x) + "\" y=\"" + Num(y - 9) +
           "\" width=\"10\" height=\"10\" fill=\"" + kPalette[i % kPaletteSize] + "\"/>";
    out +=
        "<text x=\"" + Num(x + 14) + "\" y=\"" + Num(y) + "\">" + HtmlEscape(names[i]) + "</text>";
    // No text metrics without a browser: 8 px a character is wide enough for common fonts.
    x += 32 + 8.0 * static_cast<double>(names[i].size());
  }
}

// A line chart over integer epochs. `best_x` > 0 draws a dashed marker at that x.
std::string LineChart(std::string_view title, const std::vector<Series>& series, int best_x,
                      std::string_view x_label = "epoch") {
  double xmax = 1;
  double ylo = std::numeric_limits<double>::infinity();
  double yhi = -std::numeric_limits<double>::infinity();
  for (const Series& s : series) {
    for (const auto& [x, y] : s.points) {
      xmax = std::max(xmax, x);
      if (std::isfinite(y)) {
        ylo = std::min(ylo, y);
        yhi = std::max(yhi, y);
      }
    }
  }
  if (!std::isfinite(ylo)) ylo = yhi = 0;
  // Metrics read best against a zero baseline; a loss far from zero is shown by its own range.
  if (ylo >= 0 && ylo < 0.5 * yhi) ylo = 0;
  const Axis y = NiceAxis(ylo, yhi, 5);
  const double xmin = 1;
  const double plot_w = kWidth - kLeft - kRight;
  const double plot_h = kHeight - kTop - kBottom;
  auto px = [&](double x) {
    return kLeft + (xmax > xmin ? plot_w * (x - xmin) / (xmax - xmin) : plot_w / 2);
  };
  auto py = [&](double v) { return kTop + plot_h * (1 - (v - y.lo) / (y.hi - y.lo)); };

  std::string out;
  SvgOpen(out, title);
  YGrid(out, y);
  const Axis xa = NiceAxis(xmin, xmax, 8);
  const double xstep = std::max(1.0, xa.step);
  for (double x = xmin; x <= xmax + 1e-9; x += xstep) {
    out += "<text x=\"" + Num(px(x)) + "\" y=\"" + Num(kTop + plot_h + 16) +
           "\" text-anchor=\"middle\">" + Fixed(x, 0) + "</text>";
  }
  out += "<text x=\"" + Num(kLeft + plot_w / 2) + "\" y=\"" + Num(kTop + plot_h + 32) +
         "\" text-anchor=\"middle\">" + std::string(x_label) + "</text>";
  if (best_x > 0) {
    out += "<line x1=\"" + Num(px(best_x)) + "\" x2=\"" + Num(px(best_x)) + "\" y1=\"" +
           std::to_string(kTop) + "\" y2=\"" + Num(kTop + plot_h) + "\" class=\"best\"/>";
    out += "<text x=\"" + Num(px(best_x) + 4) + "\" y=\"" + std::to_string(kTop + 10) +
           "\">best</text>";
  }
  std::vector<std::string> names;
  for (size_t i = 0; i < series.size(); ++i) {
    const char* color = kPalette[i % kPaletteSize];
    names.push_back(series[i].name);
    std::string pts;
    for (const auto& [x, v] : series[i].points) {
      if (!std::isfinite(v)) continue;
      pts += Num(px(x)) + "," + Num(py(v)) + " ";
    }
    out += "<polyline fill=\"none\" stroke=\"" + std::string(color) +
           "\" stroke-width=\"2\" points=\"" + pts + "\"/>";
    for (const auto& [x, v] : series[i].points) {
      if (!std::isfinite(v)) continue;
      out += "<circle cx=\"" + Num(px(x)) + "\" cy=\"" + Num(py(v)) + "\" r=\"3\" fill=\"" + color +
             "\"><title>" + HtmlEscape(series[i].name) + ", " + std::string(x_label) + " " + Fixed(x, 0) + ": " +
             Fixed(v, 4) + "</title></circle>";
    }
  }
  Legend(out, names);
  out += "</svg>";
  return out;
}

// Grouped bars: values[s][c] is series s over category c.
std::string BarChart(std::string_view title, const std::vector<std::string>& categories,
                     const std::vector<std::string>& series_names,
                     const std::vector<std::vector<double>>& values) {
  double hi = 0;
  for (const auto& row : values) {
    for (double v : row) {
      if (std::isfinite(v)) hi = std::max(hi, v);
    }
  }
  const Axis y = NiceAxis(0, hi > 0 ? hi : 1, 5);
  const double plot_w = kWidth - kLeft - kRight;
  const double plot_h = kHeight - kTop - kBottom;
  const double group_w = plot_w / static_cast<double>(std::max<size_t>(1, categories.size()));
  const double bar_w =
      group_w * 0.8 / static_cast<double>(std::max<size_t>(1, series_names.size()));

  std::string out;
  SvgOpen(out, title);
  YGrid(out, y);
  for (size_t c = 0; c < categories.size(); ++c) {
    const double gx = kLeft + group_w * static_cast<double>(c) + group_w * 0.1;
    for (size_t s = 0; s < series_names.size(); ++s) {
      const double v = std::isfinite(values[s][c]) ? values[s][c] : 0.0;
      const double h = plot_h * (v - y.lo) / (y.hi - y.lo);
      const double x = gx + bar_w * static_cast<double>(s);
      out += "<rect x=\"" + Num(x) + "\" y=\"" + Num(kTop + plot_h - h) + "\" width=\"" +
             Num(bar_w * 0.92) + "\" height=\"" + Num(h) + "\" fill=\"" +
             kPalette[s % kPaletteSize] + "\"><title>" + HtmlEscape(categories[c]) + ", " +
             HtmlEscape(series_names[s]) + ": " + Fixed(values[s][c], 4) + "</title></rect>";
    }
    out += "<text x=\"" + Num(kLeft + group_w * (static_cast<double>(c) + 0.5)) + "\" y=\"" +
           Num(kTop + plot_h + 16) + "\" text-anchor=\"middle\">" + HtmlEscape(categories[c]) +
           "</text>";
  }
  Legend(out, series_names);
  out += "</svg>";
  return out;
}

// ---- HTML page -----------------------------------------------------------------------------

constexpr std::string_view kStyle = R"(
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#222;
max-width:1280px;margin:24px auto;padding:0 16px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px}
.meta{color:#555;margin:0 0 8px}.note{background:#f6f6f2;border-left:4px solid #c9c4a8;
padding:8px 12px;max-width:900px}.warn{background:#fdf0ec;border-left:4px solid #e15759;
padding:8px 12px;max-width:900px}
table{border-collapse:collapse;font-variant-numeric:tabular-nums}
th,td{padding:4px 12px;border-bottom:1px solid #ddd;text-align:right}
th:first-child,td:first-child{text-align:left}th{background:#f2f2f2}td.top{font-weight:bold}
.charts{display:flex;flex-wrap:wrap;gap:16px}.scroll{overflow-x:auto;max-width:100%}
svg.chart{width:600px;max-width:100%;height:auto;background:#fff;border:1px solid #e4e4e4}
svg text{font-size:11px;fill:#444}svg text.ct{font-size:13px;font-weight:bold;fill:#222}
svg .grid{stroke:#eee}svg .best{stroke:#999;stroke-dasharray:4 3}
footer{color:#888;margin-top:32px;font-size:12px}
)";

void PageOpen(std::string& out, std::string_view title) {
  out += "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>";
  out += HtmlEscape(title);
  out += "</title>\n<style>";
  out += kStyle;
  out += "</style>\n</head>\n<body>\n";
}

void PageClose(std::string& out) {
  out +=
      "<footer>Generated by freshet. Metrics are means over evaluated users; ties between a "
      "target and other candidates count against the target.</footer>\n</body>\n</html>\n";
}

std::string Meta(const EvalResult& r) {
  return "<p class=\"meta\">protocol <b>" + HtmlEscape(r.protocol) +
         "</b> &middot; candidates <b>" + HtmlEscape(r.candidates) + "</b> &middot; " +
         std::to_string(r.users_evaluated) + " users evaluated &middot; " +
         std::to_string(r.num_items) + " items</p>\n";
}

// K values in the order the result lists HR@K.
std::vector<std::string> Cutoffs(const EvalResult& r) {
  std::vector<std::string> ks;
  for (const auto& [key, value] : r.metrics) {
    if (key.rfind("HR@", 0) == 0) ks.push_back(key.substr(3));
  }
  return ks;
}

void MetricsTable(std::string& out, const EvalResult& r) {
  out +=
      "<table>\n<tr><th>K</th><th>HR@K</th><th>NDCG@K</th><th>Recall@K</th>"
      "<th>Coverage@K</th></tr>\n";
  for (const std::string& k : Cutoffs(r)) {
    out += "<tr><td>" + HtmlEscape(k) + "</td>";
    for (const char* m : {"HR@", "NDCG@", "Recall@", "Coverage@"}) {
      out += "<td>" + Fixed(r.Metric(m + k), 4) + "</td>";
    }
    out += "</tr>\n";
  }
  out += "<tr><td>MRR</td><td colspan=\"4\">" + Fixed(r.Metric("MRR"), 4) + "</td></tr>\n";
  out += "</table>\n";
}

// The validation metrics an epoch report carries, in first-seen order.
std::vector<std::string> ValidationNames(const model::TrainReport& train) {
  std::vector<std::string> names;
  for (const model::EpochStat& e : train.epochs) {
    for (const auto& [key, value] : e.validation) {
      if (std::find(names.begin(), names.end(), key) == names.end()) names.push_back(key);
    }
  }
  return names;
}

void TrainingSection(std::string& out, const EvalResult& r) {
  const model::TrainReport& t = r.train;
  out += "<h2>Training</h2>\n<p>Fit in " + Fixed(t.seconds, 1) + " s";
  if (!t.epochs.empty()) {
    out += ", " + std::to_string(t.epochs.size()) + " epochs, kept epoch " +
           std::to_string(t.best_epoch);
  }
  out += "; evaluation took " + Fixed(r.seconds, 1) + " s.</p>\n";
  if (t.epochs.empty()) return;
  std::vector<Series> validation;
  for (const std::string& name : ValidationNames(t)) {
    Series s{name, {}};
    for (const model::EpochStat& e : t.epochs) {
      s.points.emplace_back(e.epoch, Find(e.validation, name));
    }
    validation.push_back(std::move(s));
  }
  Series loss{"loss", {}};
  for (const model::EpochStat& e : t.epochs) loss.points.emplace_back(e.epoch, e.loss);
  out += "<div class=\"charts\">\n";
  if (!validation.empty()) {
    out += LineChart("Validation per epoch", validation, t.best_epoch) + "\n";
  }
  out += LineChart("Training loss per epoch", {loss}, t.best_epoch) + "\n</div>\n";
}

void HistorySection(std::string& out, const EvalResult& r) {
  if (r.by_history_length.empty()) return;
  const std::string k = HeadlineK(r);
  const std::string ndcg = "NDCG" + k;
  const std::string hr = "HR" + k;
  std::vector<std::string> categories;
  std::vector<std::vector<double>> values(2);
  out += "<h2>By history length</h2>\n<div class=\"charts\">\n";
  for (const HistoryLengthStat& b : r.by_history_length) {
    categories.push_back(b.label + " (" + std::to_string(b.users) + ")");
    values[0].push_back(Find(b.metrics, ndcg));
    values[1].push_back(Find(b.metrics, hr));
  }
  out +=
      BarChart(ndcg + " and " + hr + " by history length (users)", categories, {ndcg, hr}, values);
  out += "\n<table>\n<tr><th>history length</th><th>users</th><th>" + HtmlEscape(hr) + "</th><th>" +
         HtmlEscape(ndcg) + "</th><th>MRR</th></tr>\n";
  for (const HistoryLengthStat& b : r.by_history_length) {
    out += "<tr><td>" + HtmlEscape(b.label) + "</td><td>" + std::to_string(b.users) + "</td><td>" +
           Fixed(Find(b.metrics, hr), 4) + "</td><td>" + Fixed(Find(b.metrics, ndcg), 4) +
           "</td><td>" + Fixed(Find(b.metrics, "MRR"), 4) + "</td></tr>\n";
  }
  out += "</table>\n</div>\n";
}

bool SameSetting(const std::vector<EvalResult>& results) {
  for (const EvalResult& r : results) {
    const EvalResult& f = results.front();
    if (r.dataset != f.dataset || r.protocol != f.protocol || r.candidates != f.candidates ||
        r.users_evaluated != f.users_evaluated) {
      return false;
    }
  }
  return true;
}

constexpr std::string_view kMixedWarning =
    "these results differ in dataset, protocol, candidates or evaluated users; compare with care";

}  // namespace

std::string HtmlEscape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string ReportJson(const EvalResult& r) {
  JsonWriter w;
  w.BeginObject();
  w.Key("dataset").String(r.dataset);
  w.Key("model").String(r.model);
  w.Key("protocol").String(r.protocol);
  w.Key("candidates").String(r.candidates);
  w.Key("users_evaluated").Uint(r.users_evaluated);
  w.Key("params").BeginObject();
  for (const auto& [key, value] : r.params) w.Key(key).String(value);
  w.EndObject();
  w.Key("metrics");
  WriteMetrics(w, r.metrics);
  w.Key("train").BeginObject();
  w.Key("seconds").Double(r.train.seconds);
  w.Key("best_epoch").Int(r.train.best_epoch);
  w.Key("epochs").BeginArray();
  for (const model::EpochStat& e : r.train.epochs) {
    w.BeginObject();
    w.Key("epoch").Int(e.epoch);
    w.Key("loss").Double(e.loss);
    w.Key("seconds").Double(e.seconds);
    w.Key("samples_per_s").Double(e.samples_per_s);
    w.Key("validation");
    WriteMetrics(w, e.validation);
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  w.Key("by_history_length").BeginArray();
  for (const HistoryLengthStat& b : r.by_history_length) {
    w.BeginObject();
    w.Key("history").String(b.label);
    w.Key("users").Uint(b.users);
    w.Key("metrics");
    WriteMetrics(w, b.metrics);
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  return w.Take();
}

std::string ReportHtml(const EvalResult& r) {
  std::string out;
  PageOpen(out, "freshet: " + r.model + " on " + r.dataset);
  out +=
      "<h1>freshet evaluation: " + HtmlEscape(r.model) + " on " + HtmlEscape(r.dataset) + "</h1>\n";
  out += Meta(r);
  if (!r.params.empty()) {
    out += "<p class=\"meta\">options: <code>" + HtmlEscape(model::FormatParams(r.params)) +
           "</code></p>\n";
  }
  out += "<p class=\"note\">" + HtmlEscape(r.note) + "</p>\n";
  out += "<h2>Metrics</h2>\n";
  MetricsTable(out, r);
  TrainingSection(out, r);
  HistorySection(out, r);
  PageClose(out);
  return out;
}

std::string ComparisonHtml(const std::vector<EvalResult>& results) {
  std::string out;
  if (results.empty()) {
    PageOpen(out, "freshet comparison");
    out += "<h1>freshet comparison</h1>\n<p>No results.</p>\n";
    PageClose(out);
    return out;
  }
  const EvalResult& first = results.front();
  PageOpen(out, "freshet: models on " + first.dataset);
  out += "<h1>freshet comparison on " + HtmlEscape(first.dataset) + "</h1>\n";
  out += Meta(first);
  out += "<p class=\"note\">" + HtmlEscape(first.note) + "</p>\n";
  if (!SameSetting(results)) {
    out += "<p class=\"warn\">Warning: " + HtmlEscape(kMixedWarning) + ".</p>\n";
  }

  // Every metric column of the first result; the best value of each is bold.
  out += "<h2>Metrics</h2>\n<div class=\"scroll\"><table>\n<tr><th>model</th>";
  for (const auto& [key, value] : first.metrics) out += "<th>" + HtmlEscape(key) + "</th>";
  out += "<th>train s</th><th>kept epoch</th></tr>\n";
  for (const EvalResult& r : results) {
    out += "<tr><td>" + HtmlEscape(r.model) + "</td>";
    for (const auto& [key, value] : first.metrics) {
      const double v = r.Metric(key);
      double best = -std::numeric_limits<double>::infinity();
      for (const EvalResult& o : results) {
        const double ov = o.Metric(key);
        if (std::isfinite(ov)) best = std::max(best, ov);
      }
      out += (std::isfinite(v) && v == best && results.size() > 1 ? "<td class=\"top\">" : "<td>") +
             Fixed(v, 4) + "</td>";
    }
    out += "<td>" + Fixed(r.train.seconds, 1) + "</td><td>" +
           (r.train.epochs.empty() ? std::string("-") : std::to_string(r.train.best_epoch)) +
           "</td></tr>\n";
  }
  out += "</table></div>\n";

  const std::string k = HeadlineK(first);
  std::vector<std::string> models;
  std::vector<std::vector<double>> values(2);
  for (const EvalResult& r : results) {
    models.push_back(r.model);
    values[0].push_back(r.Metric("HR" + k));
    values[1].push_back(r.Metric("NDCG" + k));
  }
  out += "<h2>Charts</h2>\n<div class=\"charts\">\n";
  out +=
      BarChart("HR" + k + " and NDCG" + k + " per model", models, {"HR" + k, "NDCG" + k}, values);
  out += "\n";
  // Each model's first validation metric, preferring the headline NDCG.
  std::vector<Series> curves;
  for (const EvalResult& r : results) {
    const auto names = ValidationNames(r.train);
    if (names.empty()) continue;
    const std::string name =
        std::find(names.begin(), names.end(), "NDCG" + k) != names.end() ? "NDCG" + k : names[0];
    Series s{r.model + " " + name, {}};
    for (const model::EpochStat& e : r.train.epochs) {
      s.points.emplace_back(e.epoch, Find(e.validation, name));
    }
    curves.push_back(std::move(s));
  }
  if (!curves.empty()) out += LineChart("Validation per epoch", curves, 0) + "\n";
  // The headline NDCG per history-length bucket, one bar per model (every result shares the
  // split, hence the buckets; a bucket a model lacks is drawn as 0).
  if (!first.by_history_length.empty()) {
    std::vector<std::string> buckets;
    for (const HistoryLengthStat& b : first.by_history_length) {
      buckets.push_back(b.label + " (" + std::to_string(b.users) + ")");
    }
    std::vector<std::vector<double>> by_model;
    for (const EvalResult& r : results) {
      std::vector<double> row;
      for (const HistoryLengthStat& b : first.by_history_length) {
        double v = std::numeric_limits<double>::quiet_NaN();
        for (const HistoryLengthStat& mine : r.by_history_length) {
          if (mine.label == b.label) v = Find(mine.metrics, "NDCG" + k);
        }
        row.push_back(v);
      }
      by_model.push_back(std::move(row));
    }
    out += BarChart("NDCG" + k + " by history length (users)", buckets, models, by_model) + "\n";
  }
  out += "</div>\n";
  PageClose(out);
  return out;
}

std::string FormatComparisonTable(const std::vector<EvalResult>& results) {
  if (results.empty()) return "no results\n";
  const EvalResult& first = results.front();
  const std::string k = HeadlineK(first);
  const std::vector<std::string> metrics = {"HR" + k, "NDCG" + k, "Recall" + k, "MRR",
                                            "Coverage" + k};
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> header = {"model"};
  header.insert(header.end(), metrics.begin(), metrics.end());
  header.push_back("train s");
  rows.push_back(header);
  for (const EvalResult& r : results) {
    std::vector<std::string> row = {r.model};
    for (const std::string& m : metrics) row.push_back(Fixed(r.Metric(m), 4));
    row.push_back(Fixed(r.train.seconds, 1));
    rows.push_back(std::move(row));
  }
  std::vector<size_t> width(header.size(), 0);
  for (const auto& row : rows) {
    for (size_t c = 0; c < row.size(); ++c) width[c] = std::max(width[c], row[c].size());
  }

  std::string out = "dataset " + first.dataset + ", protocol " + first.protocol + ", candidates " +
                    first.candidates + ", " + std::to_string(first.users_evaluated) + " users\n";
  if (!SameSetting(results)) out += "warning: " + std::string(kMixedWarning) + "\n";
  auto line = [&](const std::vector<std::string>& row) {
    for (size_t c = 0; c < row.size(); ++c) {
      if (c > 0) out += " | ";
      const std::string pad(width[c] - row[c].size(), ' ');
      // The model name reads left-aligned, numbers right-aligned.
      out += c == 0 ? row[c] + pad : pad + row[c];
    }
    out += "\n";
  };
  line(rows[0]);
  for (size_t c = 0; c < width.size(); ++c) {
    if (c > 0) out += "-+-";
    out += std::string(width[c], '-');
  }
  out += "\n";
  for (size_t i = 1; i < rows.size(); ++i) line(rows[i]);
  return out;
}

Status WriteReportFile(const std::string& path, std::string_view contents) {
  const std::string tmp = path + ".tmp";
  std::FILE* f = std::fopen(tmp.c_str(), "wb");
  if (f == nullptr) {
    return Status::IOError("cannot write report " + tmp + ": " + std::strerror(errno));
  }
  const bool written = std::fwrite(contents.data(), 1, contents.size(), f) == contents.size();
  const int saved_errno = errno;
  if (std::fclose(f) != 0 || !written) {
    std::remove(tmp.c_str());
    return Status::IOError("cannot write report " + tmp + ": " +
                           std::strerror(written ? errno : saved_errno));
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    const int rename_errno = errno;
    std::remove(tmp.c_str());
    return Status::IOError("cannot rename report into " + path + ": " +
                           std::strerror(rename_errno));
  }
  return Status::OK();
}

// ---- prequential replay

namespace {

void WritePrequential(JsonWriter& w, const PrequentialMetrics& m) {
  w.BeginObject();
  w.Key("HR@10").Double(m.hr10);
  w.Key("NDCG@10").Double(m.ndcg10);
  w.Key("Recall@20").Double(m.recall20);
  w.Key("cases").Uint(m.cases);
  w.EndObject();
}

std::string Gain(double online, double frozen) {
  if (frozen <= 0) return online > 0 ? "+inf" : "0";
  const double g = 100.0 * (online - frozen) / frozen;
  return (g >= 0 ? "+" : "") + Fixed(g, 1) + "%";
}

}  // namespace

std::string PrequentialJson(const PrequentialResult& r) {
  JsonWriter w;
  w.BeginObject();
  w.Key("dataset").String(r.dataset);
  w.Key("model").String(r.model);
  w.Key("holdout").Double(r.holdout);
  w.Key("batch").Uint(r.batch);
  w.Key("cut").String(FormatTimestamp(r.cut_ts_ms));
  w.Key("events").Uint(r.events);
  w.Key("new_item_events").Uint(r.new_item_events);
  w.Key("cases").Uint(r.frozen.cases);
  w.Key("params").BeginObject();
  for (const auto& [key, value] : r.params) w.Key(key).String(value);
  w.EndObject();
  w.Key("frozen");
  WritePrequential(w, r.frozen);
  w.Key("online");
  WritePrequential(w, r.online);
  w.Key("windows").BeginArray();
  for (const PrequentialWindow& win : r.windows) {
    w.BeginObject();
    w.Key("from").String(FormatTimestamp(win.from_ts_ms));
    w.Key("to").String(FormatTimestamp(win.to_ts_ms));
    w.Key("cases").Uint(win.frozen.cases);
    w.Key("frozen");
    WritePrequential(w, win.frozen);
    w.Key("online");
    WritePrequential(w, win.online);
    w.Key("gain_HR@10").Double(win.online.hr10 - win.frozen.hr10);
    w.EndObject();
  }
  w.EndArray();
  w.Key("seconds").BeginObject();
  w.Key("fit").Double(r.train.seconds);
  w.Key("frozen").Double(r.frozen_seconds);
  w.Key("online").Double(r.online_seconds);
  w.EndObject();
  w.EndObject();
  return w.Take();
}

std::string PrequentialHtml(const PrequentialResult& r) {
  std::string out;
  PageOpen(out, "freshet replay: " + r.model + " on " + r.dataset);
  out += "<h1>freshet prequential replay: " + HtmlEscape(r.model) + " on " +
         HtmlEscape(r.dataset) + "</h1>\n";
  out += "<p class=\"meta\">fitted offline on the interactions before <b>" +
         HtmlEscape(FormatTimestamp(r.cut_ts_ms)) + "</b>, then " + std::to_string(r.events) +
         " interactions walked in time order in micro-batches of " + std::to_string(r.batch) +
         " (" + std::to_string(r.frozen.cases) + " test cases; " +
         std::to_string(r.new_item_events) + " events on items with no training interaction)</p>\n";
  if (!r.params.empty()) {
    out += "<p class=\"meta\">options: <code>" + HtmlEscape(model::FormatParams(r.params)) +
           "</code></p>\n";
  }
  out +=
      "<p class=\"note\">Each event is ranked against the whole catalog (minus the user's "
      "history) by the model as it stood before the event's micro-batch; then the batch is "
      "applied. <b>frozen</b>: the offline model never changes (the user histories it reads do). "
      "<b>online</b>: the same model keeps learning from every batch after scoring it.</p>\n";
  out += "<h2>Whole walk</h2>\n<table>\n<tr><th>model</th><th>HR@10</th><th>NDCG@10</th>"
         "<th>Recall@20</th></tr>\n";
  for (const auto& [name, m] : {std::pair<const char*, const PrequentialMetrics&>{"frozen", r.frozen},
                                {"online", r.online}}) {
    out += "<tr><td>" + std::string(name) + "</td><td>" + Fixed(m.hr10, 4) + "</td><td>" +
           Fixed(m.ndcg10, 4) + "</td><td>" + Fixed(m.recall20, 4) + "</td></tr>\n";
  }
  out += "<tr><td>online gain</td><td>" + Gain(r.online.hr10, r.frozen.hr10) + "</td><td>" +
         Gain(r.online.ndcg10, r.frozen.ndcg10) + "</td><td>" +
         Gain(r.online.recall20, r.frozen.recall20) + "</td></tr>\n</table>\n";
  out += "<h2>Over time</h2>\n<div class=\"charts\">";
  for (int metric = 0; metric < 2; ++metric) {
    std::vector<Series> series{{"frozen", {}}, {"online", {}}};
    for (size_t i = 0; i < r.windows.size(); ++i) {
      const PrequentialWindow& w = r.windows[i];
      const double x = static_cast<double>(i + 1);
      series[0].points.emplace_back(x, metric == 0 ? w.frozen.hr10 : w.frozen.ndcg10);
      series[1].points.emplace_back(x, metric == 0 ? w.online.hr10 : w.online.ndcg10);
    }
    out += LineChart(metric == 0 ? "HR@10 per window" : "NDCG@10 per window", series, 0,
                     "window");
  }
  out += "</div>\n<div class=\"scroll\"><table>\n<tr><th>window</th><th>from</th><th>to</th>"
         "<th>cases</th><th>HR@10 frozen</th><th>HR@10 online</th><th>gain</th>"
         "<th>NDCG@10 frozen</th><th>NDCG@10 online</th></tr>\n";
  for (size_t i = 0; i < r.windows.size(); ++i) {
    const PrequentialWindow& w = r.windows[i];
    out += "<tr><td>" + std::to_string(i + 1) + "</td><td>" + HtmlEscape(FormatTimestamp(w.from_ts_ms)) +
           "</td><td>" + HtmlEscape(FormatTimestamp(w.to_ts_ms)) + "</td><td>" +
           std::to_string(w.frozen.cases) + "</td><td>" + Fixed(w.frozen.hr10, 4) + "</td><td>" +
           Fixed(w.online.hr10, 4) + "</td><td>" + Gain(w.online.hr10, w.frozen.hr10) +
           "</td><td>" + Fixed(w.frozen.ndcg10, 4) + "</td><td>" + Fixed(w.online.ndcg10, 4) +
           "</td></tr>\n";
  }
  out += "</table></div>\n";
  PageClose(out);
  return out;
}

}  // namespace freshet::eval
