#include "batch/priority_rules.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

namespace quotaflow::batch {
namespace {

using testing::HasSubstr;

Document File(const std::string& path, int64_t size = 100) {
  Document doc;
  doc.id = path;
  doc.path = path;
  doc.size_bytes = size;
  return doc;
}

PriorityRules Rules(const std::vector<std::string>& rules) {
  Result<PriorityRules> parsed = PriorityRules::Parse(rules);
  if (!parsed) ADD_FAILURE() << parsed.error().message;
  return parsed.value_or(PriorityRules());
}

TEST(PriorityRulesTest, NoRuleMeansNormal) {
  const PriorityRules rules = Rules({});
  EXPECT_EQ(rules.PriorityOf(File("a.txt")), 1);
  EXPECT_EQ(Rules({"*urgent*=high"}).PriorityOf(File("contracts/nda.txt")), 1);
}

TEST(PriorityRulesTest, GlobWithoutSlashMatchesTheBaseName) {
  const PriorityRules rules = Rules({"*urgent*=high"});
  EXPECT_EQ(rules.PriorityOf(File("examples/contracts/urgent-nda-acme.txt")), 2);
  EXPECT_EQ(rules.PriorityOf(File("urgent.txt")), 2);
  // '*' does not cross '/': a directory named urgent is not the file's name.
  EXPECT_EQ(rules.PriorityOf(File("urgent/nda.txt")), 1);
}

TEST(PriorityRulesTest, GlobWithSlashMatchesAnyTailOfThePath) {
  const PriorityRules rules = Rules({"archive/**=low"});
  EXPECT_EQ(rules.PriorityOf(File("examples/contracts/archive/lease-2019.txt")), 0);
  EXPECT_EQ(rules.PriorityOf(File("archive/2019/q1/lease.txt")), 0);
  EXPECT_EQ(rules.PriorityOf(File("examples/contracts/archived/lease.txt")), 1);
  EXPECT_EQ(rules.PriorityOf(File("examples/contracts/myarchive/lease.txt")), 1);
}

TEST(PriorityRulesTest, LeadingSlashMatchesWholePathsOnly) {
  const PriorityRules rules = Rules({"/data/*.txt=low"});
  EXPECT_EQ(rules.PriorityOf(File("/data/a.txt")), 0);
  EXPECT_EQ(rules.PriorityOf(File("/mnt/data/a.txt")), 1);
}

TEST(PriorityRulesTest, FirstMatchingRuleWins) {
  const PriorityRules rules = Rules({"*urgent*=high", "archive/**=low", "*.md=7"});
  EXPECT_EQ(rules.PriorityOf(File("archive/urgent-old.md")), 2);
  EXPECT_EQ(rules.PriorityOf(File("archive/old.md")), 0);
  EXPECT_EQ(rules.PriorityOf(File("notes.md")), 7);
  EXPECT_EQ(Rules({"archive/**=low", "*urgent*=high"}).PriorityOf(File("archive/urgent-old.md")),
            0);
}

TEST(PriorityRulesTest, SizeRulesCompareBytesWithSuffixes) {
  const PriorityRules rules = Rules({"size>20000=low", "size<2kb=high"});
  EXPECT_EQ(rules.PriorityOf(File("big.txt", 20001)), 0);
  EXPECT_EQ(rules.PriorityOf(File("edge.txt", 20000)), 1);
  EXPECT_EQ(rules.PriorityOf(File("small.txt", 2047)), 2);
  EXPECT_EQ(rules.PriorityOf(File("two-k.txt", 2048)), 1);

  EXPECT_EQ(Rules({"size>=1M=low"}).PriorityOf(File("a", int64_t{1024} * 1024)), 0);
  EXPECT_EQ(Rules({"size>=1m=low"}).PriorityOf(File("a", int64_t{1024} * 1024 - 1)), 1);
  EXPECT_EQ(Rules({"size<=3k=high"}).PriorityOf(File("a", 3072)), 2);
  EXPECT_EQ(Rules({"size <= 3 KB = high"}).PriorityOf(File("a", 3072)), 2);
  EXPECT_EQ(Rules({"size>2mb=low"}).PriorityOf(File("a", int64_t{2} * 1024 * 1024 + 1)), 0);
}

TEST(PriorityRulesTest, ManifestPriorityOverridesEveryRule) {
  Document doc = File("archive/urgent.txt", 1);
  doc.priority = 1;
  EXPECT_EQ(Rules({"*urgent*=high", "size<10=high"}).PriorityOf(doc), 1);
  doc.priority = 0;
  EXPECT_EQ(Rules({}).PriorityOf(doc), 0);
}

TEST(PriorityRulesTest, InlineDocumentsMatchByTheirId) {
  Document doc;
  doc.id = "tickets/urgent-17";
  doc.inline_text = "text";
  doc.size_bytes = 4;
  EXPECT_EQ(Rules({"*urgent*=high"}).PriorityOf(doc), 2);
  EXPECT_EQ(Rules({"tickets/**=low"}).PriorityOf(doc), 0);
}

TEST(PriorityRulesTest, BadRulesAreRejectedNamingTheRule) {
  const auto error = [](const std::string& rule) {
    Result<PriorityRules> parsed = PriorityRules::Parse({"*ok*=high", rule});
    if (parsed) return std::string("accepted");
    EXPECT_EQ(parsed.error().code, ErrorCode::kInvalidArgument);
    return parsed.error().message;
  };
  EXPECT_THAT(error("urgent"), HasSubstr("priority rule \"urgent\": no '='"));
  EXPECT_THAT(error("*urgent*=asap"), HasSubstr("unknown priority \"asap\""));
  EXPECT_THAT(error("*urgent*=10"), HasSubstr("unknown priority \"10\""));
  EXPECT_THAT(error("*urgent*="), HasSubstr("unknown priority \"\""));
  EXPECT_THAT(error("=high"), HasSubstr("nothing to match"));
  EXPECT_THAT(error("size>big=low"), HasSubstr("size \"big\": expected a number of bytes"));
  EXPECT_THAT(error("size>20gb=low"), HasSubstr("unknown unit \"gb\""));
  EXPECT_THAT(error("size<-5=low"), HasSubstr("expected a number of bytes"));
  EXPECT_THAT(error("size>99999999999999999999=low"), HasSubstr("too large"));
  EXPECT_THAT(error("size>9000000000000000m=low"), HasSubstr("too large"));
}

TEST(PriorityRulesTest, ASizeLikeNameIsAGlob) {
  // "sizes/**" is not a size rule: only "size" followed by '<' or '>' is.
  EXPECT_EQ(Rules({"sizes/**=low"}).PriorityOf(File("sizes/a.txt")), 0);
}

// The rules examples/README.md runs the demo with.
TEST(PriorityRulesTest, ExampleContractsGetTheReadmePriorities) {
  Result<CollectedInputs> inputs =
      CollectInputs({std::string(QUOTAFLOW_SOURCE_DIR) + "/examples/contracts"});
  ASSERT_TRUE(inputs);
  const PriorityRules rules = Rules({"*urgent*=high", "archive/**=low"});
  std::map<int, int> count;
  for (const Document& doc : inputs->documents) ++count[rules.PriorityOf(doc)];
  EXPECT_EQ(count[2], 3);
  EXPECT_EQ(count[0], 4);
  EXPECT_EQ(count[1], 23);
}

TEST(PriorityNameTest, NamesAndDigits) {
  EXPECT_EQ(ParsePriorityName("high"), 2);
  EXPECT_EQ(ParsePriorityName("Normal"), 1);
  EXPECT_EQ(ParsePriorityName("LOW"), 0);
  EXPECT_EQ(ParsePriorityName("0"), 0);
  EXPECT_EQ(ParsePriorityName("9"), 9);
  EXPECT_FALSE(ParsePriorityName("10"));
  EXPECT_FALSE(ParsePriorityName("-1"));
  EXPECT_FALSE(ParsePriorityName("medium"));
  EXPECT_FALSE(ParsePriorityName(""));
}

TEST(PriorityNameTest, NamesRoundTrip) {
  for (int priority = 0; priority <= 9; ++priority) {
    EXPECT_EQ(ParsePriorityName(PriorityName(priority)), priority);
  }
  EXPECT_EQ(PriorityName(2), "high");
  EXPECT_EQ(PriorityName(1), "normal");
  EXPECT_EQ(PriorityName(0), "low");
  EXPECT_EQ(PriorityName(5), "5");
  EXPECT_EQ(PriorityName(10), "?");
  EXPECT_EQ(PriorityName(-1), "?");
}

}  // namespace
}  // namespace quotaflow::batch
