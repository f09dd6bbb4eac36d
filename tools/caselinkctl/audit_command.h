// `caselinkctl audit ...`: tree heads, proofs, compliance queries, offline
// verification of an exported log, and case evidence bundles.
#pragma once

#include <string>
#include <vector>

#include "tools/caselinkctl/cli.h"

namespace caselink {

int AuditCommand(const cli::Flags& global, const std::vector<std::string>& args);

}  // namespace caselink
