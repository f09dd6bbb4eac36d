// docs/PROCEDURE.md is generated from the procedure table; this fails when the
// committed file and the table differ, so the documentation cannot drift.
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

#include "gateway/lifecycle.h"

namespace caselink {
namespace {

TEST(ProcedureDocTest, CommittedDocumentIsTheGeneratedOne) {
  std::ifstream in(CASELINK_PROCEDURE_DOC, std::ios::binary);
  ASSERT_TRUE(in) << "cannot read docs/PROCEDURE.md";
  std::stringstream committed;
  committed << in.rdbuf();
  EXPECT_TRUE(committed.str() == ProcedureMarkdown())
      << "docs/PROCEDURE.md differs from the procedure table; regenerate it with\n"
         "  caselinkctl procedure table --output docs/PROCEDURE.md";
}

TEST(ProcedureDocTest, EveryRowAndDeadlineIsDocumented) {
  const std::string doc = ProcedureMarkdown();
  for (const auto& spec : DeadlineSpecs()) EXPECT_NE(doc.find(absl::StrCat("`", spec.duty, "`")), std::string::npos);
  size_t rows = 0;
  for (size_t pos = doc.find("\n| "); pos != std::string::npos; pos = doc.find("\n| ", pos + 1)) {
    if (doc.compare(pos + 3, 1, "#") != 0 && doc.compare(pos + 3, 4, "duty") != 0 && doc.compare(pos + 3, 1, "`") != 0) {
      ++rows;
    }
  }
  EXPECT_EQ(rows, TransitionTable().size());
}

}  // namespace
}  // namespace caselink
