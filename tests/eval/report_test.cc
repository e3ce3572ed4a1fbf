#include "eval/report.h"

#include <gtest/gtest.h>

#include <sstream>
#include <string>
#include <vector>

#include "testing/testing.h"

namespace freshet::eval {
namespace {

size_t Count(const std::string& haystack, const std::string& needle) {
  size_t n = 0;
  for (size_t p = haystack.find(needle); p != std::string::npos;
       p = haystack.find(needle, p + needle.size())) {
    ++n;
  }
  return n;
}

EvalResult Sample(std::string model, double hr10, bool with_epochs) {
  EvalResult r;
  r.dataset = "ml-1m";
  r.model = std::move(model);
  r.protocol = "loo";
  r.candidates = "full";
  r.note = "Full ranking over all 3 items.";
  r.users_evaluated = 3;
  r.num_items = 3;
  r.metrics = {{"HR@10", hr10},
               {"NDCG@10", 0.25},
               {"Recall@10", hr10},
               {"MRR", 0.125},
               {"Coverage@10", 1.0}};
  r.by_history_length = {{"1-2", 1, {{"HR@10", 1.0}, {"NDCG@10", 0.5}, {"MRR", 0.5}}},
                         {"3-5", 2, {{"HR@10", 0.25}, {"NDCG@10", 0.125}, {"MRR", 0.0}}}};
  r.train.seconds = 1.5;
  if (with_epochs) {
    for (int e = 1; e <= 3; ++e) {
      model::EpochStat s;
      s.epoch = e;
      s.loss = 1.0 / e;
      s.seconds = 0.5;
      s.samples_per_s = 1000;
      s.validation = {{"NDCG@10", 0.1 * e}};
      r.train.epochs.push_back(s);
    }
    r.train.best_epoch = 3;
  }
  return r;
}

TEST(ReportTest, JsonHasExactlyTheDocumentedShape) {
  EvalResult r = Sample("sasrec", 0.5, true);
  r.train.epochs.resize(1);
  r.train.best_epoch = 1;
  r.params = {{"hidden", "64"}, {"loss", "ce"}};
  EXPECT_EQ(ReportJson(r),
            R"({"dataset":"ml-1m","model":"sasrec","protocol":"loo","candidates":"full",)"
            R"("users_evaluated":3,"params":{"hidden":"64","loss":"ce"},"metrics":{"HR@10":0.5,"NDCG@10":0.25,"Recall@10":0.5,)"
            R"("MRR":0.125,"Coverage@10":1},"train":{"seconds":1.5,"best_epoch":1,"epochs":)"
            R"([{"epoch":1,"loss":1,"seconds":0.5,"samples_per_s":1000,)"
            R"("validation":{"NDCG@10":0.1}}]},"by_history_length":[{"history":"1-2",)"
            R"("users":1,"metrics":{"HR@10":1,"NDCG@10":0.5,"MRR":0.5}},{"history":"3-5",)"
            R"("users":2,"metrics":{"HR@10":0.25,"NDCG@10":0.125,"MRR":0}}]})");
}

TEST(ReportTest, JsonOfAModelWithoutEpochsHasAnEmptyEpochList) {
  const std::string json = ReportJson(Sample("pop", 0.5, false));
  EXPECT_NE(json.find(R"("train":{"seconds":1.5,"best_epoch":0,"epochs":[]})"), std::string::npos)
      << json;
}

void ExpectSelfContainedHtml(const std::string& html) {
  EXPECT_EQ(html.rfind("<!DOCTYPE html>", 0), 0u);
  EXPECT_NE(html.find("</html>"), std::string::npos);
  EXPECT_EQ(html.find("http://"), std::string::npos);
  EXPECT_EQ(html.find("https://"), std::string::npos);
  EXPECT_EQ(html.find("<script"), std::string::npos);
  EXPECT_EQ(html.find("<link"), std::string::npos);
  EXPECT_EQ(Count(html, "<svg"), Count(html, "</svg>"));
  EXPECT_EQ(Count(html, "<table"), Count(html, "</table>"));
  EXPECT_EQ(Count(html, "<tr>"), Count(html, "</tr>"));
}

TEST(ReportTest, HtmlIsSelfContainedWithChartsAndEscapedText) {
  EvalResult r = Sample("<script>alert('x')</script>", 0.5, true);
  r.dataset = "a & b";
  r.params = {{"hidden", "64"}, {"loss", "<ce>"}};
  const std::string html = ReportHtml(r);
  ExpectSelfContainedHtml(html);
  EXPECT_NE(html.find("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"), std::string::npos);
  EXPECT_NE(html.find("a &amp; b"), std::string::npos);
  EXPECT_NE(html.find("hidden=64,loss=&lt;ce&gt;"), std::string::npos);
  // Validation curve, loss curve, history-length bars.
  EXPECT_EQ(Count(html, "<svg"), 3u);
  EXPECT_NE(html.find("Validation per epoch"), std::string::npos);
  EXPECT_NE(html.find("Full ranking over all 3 items."), std::string::npos);
  EXPECT_NE(html.find("0.5000"), std::string::npos);
  EXPECT_NE(html.find("<polyline"), std::string::npos);

  const std::string no_epochs = ReportHtml(Sample("pop", 0.5, false));
  ExpectSelfContainedHtml(no_epochs);
  EXPECT_EQ(Count(no_epochs, "<svg"), 1u);  // only the history-length bars
  EXPECT_EQ(no_epochs.find("Validation per epoch"), std::string::npos);
}

TEST(ReportTest, ComparisonHtmlListsEveryModel) {
  std::vector<EvalResult> results = {Sample("pop", 0.25, false), Sample("sasrec", 0.5, true),
                                     Sample("b<p>r", 0.375, true)};
  const std::string html = ComparisonHtml(results);
  ExpectSelfContainedHtml(html);
  EXPECT_NE(html.find("<td>pop</td>"), std::string::npos);
  EXPECT_NE(html.find("b&lt;p&gt;r"), std::string::npos);
  EXPECT_EQ(html.find("b<p>r"), std::string::npos);
  EXPECT_NE(html.find("<td class=\"top\">0.5000</td>"), std::string::npos);  // best HR@10
  EXPECT_EQ(html.find("Warning"), std::string::npos);
  // Metric bars, validation curves and NDCG by history length for every model.
  EXPECT_EQ(Count(html, "<svg"), 3u);
  EXPECT_NE(html.find("NDCG@10 by history length"), std::string::npos);
  EXPECT_NE(html.find("<title>3-5 (2), sasrec: 0.1250</title>"), std::string::npos);
  results[1].protocol = "temporal:0.2";
  EXPECT_NE(ComparisonHtml(results).find("Warning"), std::string::npos);
  ExpectSelfContainedHtml(ComparisonHtml({}));
}

TEST(ReportTest, ComparisonTableAlignsOneRowPerModel) {
  const std::string table =
      FormatComparisonTable({Sample("pop", 0.25, false), Sample("sasrec-long-name", 0.5, true)});
  std::istringstream in(table);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  ASSERT_EQ(lines.size(), 5u) << table;
  EXPECT_EQ(lines[0], "dataset ml-1m, protocol loo, candidates full, 3 users");
  EXPECT_EQ(lines[1],
            "model            |  HR@10 | NDCG@10 | Recall@10 |    MRR | Coverage@10 | train s");
  EXPECT_EQ(lines[2].find_first_not_of("-+"), std::string::npos);
  EXPECT_EQ(lines[3],
            "pop              | 0.2500 |  0.2500 |    0.2500 | 0.1250 |      1.0000 |     1.5");
  for (size_t i = 2; i < lines.size(); ++i) EXPECT_EQ(lines[i].size(), lines[1].size());
  EXPECT_EQ(FormatComparisonTable({}), "no results\n");
}

TEST(ReportTest, HtmlEscapeReplacesTheFiveSpecialCharacters) {
  EXPECT_EQ(HtmlEscape(R"(<a href="x">Tom & Jerry's</a>)"),
            "&lt;a href=&quot;x&quot;&gt;Tom &amp; Jerry&#39;s&lt;/a&gt;");
  EXPECT_EQ(HtmlEscape("plain"), "plain");
}

TEST(ReportTest, WriteReportFileReplacesTheFileWhole) {
  freshet::testing::TempDir dir;
  const std::string path = dir.Sub("report.json");
  ASSERT_TRUE(WriteReportFile(path, "first").ok());
  ASSERT_TRUE(WriteReportFile(path, "{}").ok());
  EXPECT_EQ(freshet::testing::ReadFile(path), "{}");
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
  const Status missing = WriteReportFile(dir.Sub("no/such/dir/report.html"), "x");
  EXPECT_TRUE(missing.IsIOError());
  EXPECT_NE(missing.message().find("no/such/dir"), std::string::npos);
}

}  // namespace
}  // namespace freshet::eval
