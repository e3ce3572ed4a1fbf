// Drives the real `freshet` binary as a user would.

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <cmath>
#include <thread>

#include "store/event_store.h"
#include "testing/testing.h"

namespace freshet {
namespace {

using freshet::testing::CommandResult;
using freshet::testing::FreshetBinary;
using freshet::testing::ReadFile;
using freshet::testing::Run;
using freshet::testing::TempDir;
using freshet::testing::WriteFile;
namespace fs = std::filesystem;

// The integer value of "key":N in a flat JSON text, or -1.
int64_t JsonInt(const std::string& json, const std::string& key) {
  double v = freshet::testing::JsonNumber(json, key);
  return std::isnan(v) ? -1 : static_cast<int64_t>(v);
}

CommandResult Freshet(std::vector<std::string> args) {
  args.insert(args.begin(), FreshetBinary());
  return Run(args);
}

size_t CountLines(const std::string& path) {
  std::ifstream in(path);
  return static_cast<size_t>(std::count(std::istreambuf_iterator<char>(in),
                                        std::istreambuf_iterator<char>(), '\n'));
}

TEST(CliTest, SimulateIngestAndStatsAgree) {
  TempDir dir;
  auto sim = Freshet({"simulate", "--users", "300", "--items", "200", "--days", "5", "--seed",
                      "3", "--out", dir.Sub("sim")});
  ASSERT_EQ(sim.exit_code, 0) << sim.err;
  const std::string events_csv = dir.Sub("sim/events.csv");
  size_t rows = CountLines(events_csv) - 1;
  ASSERT_GT(rows, 1000u);

  auto items = Freshet({"items", "--data", dir.Sub("data"), dir.Sub("sim/items.csv")});
  ASSERT_EQ(items.exit_code, 0) << items.err;
  auto ingest = Freshet({"ingest", "--data", dir.Sub("data"), "--format", "csv", "--json",
                         events_csv});
  ASSERT_EQ(ingest.exit_code, 0) << ingest.err;
  EXPECT_EQ(JsonInt(ingest.out, "accepted"), static_cast<int64_t>(rows)) << ingest.out;
  EXPECT_EQ(JsonInt(ingest.out, "rejected"), 0) << ingest.out;

  auto stats = Freshet({"stats", "--data", dir.Sub("data"), "--json"});
  ASSERT_EQ(stats.exit_code, 0) << stats.err;
  EXPECT_EQ(JsonInt(stats.out, "events"), static_cast<int64_t>(rows)) << stats.out;
  EXPECT_EQ(JsonInt(stats.out, "catalog_items"),
            static_cast<int64_t>(CountLines(dir.Sub("sim/items.csv")) - 1));
  EXPECT_NE(stats.out.find("\"by_type\":{\"impression\":"), std::string::npos) << stats.out;

  auto text = Freshet({"stats", "--data", dir.Sub("data")});
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_NE(text.out.find("most popular items"), std::string::npos) << text.out;

  // Ingesting the same file again adds nothing: every event_id is already stored.
  auto again = Freshet({"ingest", "--data", dir.Sub("data"), "--json", events_csv});
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_EQ(JsonInt(again.out, "accepted"), 0);
  EXPECT_EQ(JsonInt(again.out, "duplicates"), static_cast<int64_t>(rows));
}

TEST(CliTest, BadRecordsAreReportedCountedAndWrittenToARejectsFile) {
  TempDir dir;
  WriteFile(dir.path() / "e.csv",
            "ts,user,item,type\n"
            "1700000000,u1,i1,view\n"
            "yesterday,u1,i2,view\n"
            "1700000002,,i2,view\n"
            "1700000003,u2,i2,buy\n");
  auto r = Freshet({"ingest", "--data", dir.Sub("data"), "--json", dir.Sub("e.csv")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(JsonInt(r.out, "accepted"), 2);
  EXPECT_EQ(JsonInt(r.out, "rejected"), 2);
  EXPECT_NE(r.err.find("e.csv:3: field 'ts'"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("e.csv:4: field 'user'"), std::string::npos) << r.err;
  std::vector<fs::path> rejects;
  for (const auto& entry : fs::directory_iterator(dir.path() / "data" / "rejects")) {
    rejects.push_back(entry.path());
  }
  ASSERT_EQ(rejects.size(), 1u);
  EXPECT_EQ(CountLines(rejects[0].string()), 2u);
  EXPECT_NE(ReadFile(rejects[0]).find("\"line\":3"), std::string::npos);

  auto strict = Freshet({"ingest", "--data", dir.Sub("data2"), "--max-errors", "1",
                         dir.Sub("e.csv")});
  EXPECT_EQ(strict.exit_code, 1);
  EXPECT_NE(strict.err.find("--max-errors 1"), std::string::npos) << strict.err;
}

TEST(CliTest, UsageErrorsSayWhatToFix) {
  TempDir dir;
  auto no_file = Freshet({"ingest", "--data", dir.Sub("data"), "--format", "csv",
                          dir.Sub("missing.csv")});
  EXPECT_EQ(no_file.exit_code, 1);
  EXPECT_NE(no_file.err.find("missing.csv"), std::string::npos) << no_file.err;

  WriteFile(dir.path() / "x.dat", "a b c\n");
  auto unknown = Freshet({"ingest", "--data", dir.Sub("data"), dir.Sub("x.dat")});
  EXPECT_EQ(unknown.exit_code, 1);
  EXPECT_NE(unknown.err.find("--format"), std::string::npos) << unknown.err;

  auto bad_format = Freshet({"ingest", "--data", dir.Sub("data"), "--format", "xml",
                             dir.Sub("x.dat")});
  EXPECT_EQ(bad_format.exit_code, 1);
  EXPECT_NE(bad_format.err.find("xml"), std::string::npos) << bad_format.err;

  auto bad_map = Freshet({"ingest", "--data", dir.Sub("data"), "--map", "ts", dir.Sub("x.dat")});
  EXPECT_EQ(bad_map.exit_code, 1);
  EXPECT_NE(bad_map.err.find("FIELD=COLUMN"), std::string::npos) << bad_map.err;

  auto no_store = Freshet({"stats", "--data", dir.Sub("empty")});
  EXPECT_EQ(no_store.exit_code, 1);
  EXPECT_NE(no_store.err.find("freshet ingest"), std::string::npos) << no_store.err;

  auto bad_sim = Freshet({"simulate", "--users", "0", "--out", dir.Sub("s")});
  EXPECT_EQ(bad_sim.exit_code, 1);
  EXPECT_NE(bad_sim.err.find("users"), std::string::npos) << bad_sim.err;

  auto no_command = Freshet({});
  EXPECT_NE(no_command.exit_code, 0);
}

TEST(CliTest, MappedColumnNamesAndADefaultTypeAreAccepted) {
  TempDir dir;
  WriteFile(dir.path() / "rr.csv",
            "timestamp,visitorid,itemid,event\n"
            "1433221332117,257597,355908,view\n"
            "1433224214164,992329,248676,addtocart\n");
  auto r = Freshet({"ingest", "--data", dir.Sub("data"), "--json", "--map",
                    "ts=timestamp,user=visitorid,item=itemid,type=event", dir.Sub("rr.csv")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(JsonInt(r.out, "accepted"), 2) << r.out << r.err;

  WriteFile(dir.path() / "views.jsonl",
            "{\"ts\":\"2024-01-02T03:04:05Z\",\"user\":\"a\",\"item\":\"x\"}\n"
            "{\"ts\":1704164645,\"user\":\"b\",\"item\":\"x\",\"device\":\"ios\"}\n");
  auto j = Freshet({"ingest", "--data", dir.Sub("data2"), "--json", "--type", "view",
                    dir.Sub("views.jsonl")});
  ASSERT_EQ(j.exit_code, 0) << j.err;
  EXPECT_EQ(JsonInt(j.out, "accepted"), 2) << j.out << j.err;
}

// kill -9 in the middle of an ingest, then the same command again: every event exactly once.
TEST(CliTest, KillDashNineMidIngestThenRerunLeavesEveryEventExactlyOnce) {
  TempDir dir;
  const std::string csv = dir.Sub("big.csv");
  constexpr int kRows = 400000;
  {
    std::ofstream out(csv);
    out << "ts,user,item,type\n";  // no event_id: dedupe falls back to (file, line)
    for (int i = 0; i < kRows; ++i) {
      out << 1700000000000LL + i << ",u" << i % 5000 << ",i" << i % 7919 << ",view\n";
    }
  }
  const std::string data = dir.Sub("data");
  std::vector<std::string> args = {FreshetBinary(), "ingest", "--data",  data,
                                   "--quiet",       "--batch-size", "2000", csv};
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    int devnull = ::open("/dev/null", O_WRONLY);
    ::dup2(devnull, 1);
    ::dup2(devnull, 2);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  // Kill once the write-ahead log holds a good part of the file, but not all of it.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  bool killed_mid_way = false;
  while (std::chrono::steady_clock::now() < deadline) {
    uintmax_t wal = 0;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(fs::path(data) / "store", ec)) {
      if (e.path().extension() == ".log") wal += e.file_size(ec);
    }
    if (wal > 4 << 20) {
      ::kill(pid, SIGKILL);
      killed_mid_way = true;
      break;
    }
    int status = 0;
    if (::waitpid(pid, &status, WNOHANG) == pid) break;  // finished before we could kill it
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  ASSERT_TRUE(killed_mid_way) << "ingest finished before the kill; make the input larger";
  ASSERT_TRUE(WIFSIGNALED(status));

  uint64_t after_kill = 0;
  {
    auto store = store::EventStore::Open(store::StoreOptions(), data);
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    after_kill = (*store)->counts().events;
  }
  EXPECT_GT(after_kill, 0u);
  EXPECT_LT(after_kill, static_cast<uint64_t>(kRows));

  args.erase(args.begin());
  args.insert(args.begin() + 4, "--json");
  auto rerun = Freshet(args);
  ASSERT_EQ(rerun.exit_code, 0) << rerun.err;
  EXPECT_EQ(JsonInt(rerun.out, "accepted") + JsonInt(rerun.out, "duplicates"), kRows);
  EXPECT_EQ(static_cast<uint64_t>(JsonInt(rerun.out, "duplicates")), after_kill);

  auto store = store::EventStore::Open(store::StoreOptions(), data);
  ASSERT_TRUE(store.ok());
  store::EventTable table;
  ASSERT_TRUE((*store)->LoadEventTable(&table).ok());
  ASSERT_EQ(table.size(), static_cast<size_t>(kRows));
  // Each line's timestamp is unique: exactly once means every one of them, once.
  for (int i = 0; i < kRows; ++i) {
    ASSERT_EQ(table.ts_ms[i], 1700000000000LL + i) << "row " << i;
  }
}

}  // namespace
}  // namespace freshet
