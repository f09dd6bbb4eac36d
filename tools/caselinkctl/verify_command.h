// `caselinkctl verify`: offline verification of a signed envelope, a gateway receipt
// or an evidence record with nothing but certificates.
#pragma once

#include <string>
#include <vector>

namespace caselink {

// Exit code 0 when the file verifies, 1 with the reason when it does not, 2 on usage errors.
int VerifyCommand(const std::vector<std::string>& args);

}  // namespace caselink
