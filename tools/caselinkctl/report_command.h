// `caselinkctl report`: the statistics of a region and period, as a table, CSV
// or JSON; and `caselinkctl procedure table`: the procedure as Markdown.
#pragma once

#include <string>
#include <vector>

#include "tools/caselinkctl/cli.h"

namespace caselink {

int ReportCommand(const cli::Flags& global, const std::vector<std::string>& args);
int ProcedureCommand(const std::vector<std::string>& args);

}  // namespace caselink
