// caselinkctl's confidential documents: the uploads and recipients of `submit --confidential`,
// `decrypt` of a downloaded file and `document get` (download, optionally decrypting).
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "caselink/v1/common.pb.h"
#include "tools/caselinkctl/cli.h"
#include "tools/client/agency_client.h"

namespace caselink {

// How `submit` uploads its documents: in the clear, or encrypted to these agencies.
struct DocumentUpload {
  bool confidential = false;
  std::vector<std::string> recipients;
};

// From submit's flags: --confidential encrypts to --encrypt-to a,b; without it, a transfer's
// documents go to the public security bureau and procuratorate of the sender's region (as the
// gateway routes a transfer), any other action's to the parties of case `case_id` but the sender.
absl::StatusOr<DocumentUpload> DocumentUploadFor(AgencyClient& client, const cli::Flags& flags, const std::string& action,
                                                 const std::string& case_id);
absl::StatusOr<v1::DocumentRef> UploadDocument(AgencyClient& client, const DocumentUpload& upload, const std::string& path,
                                               v1::DocumentType type, const std::string& title, const std::string& media_type);

int DecryptCommand(const cli::Flags& global, const std::vector<std::string>& args);
int DocumentCommand(const cli::Flags& global, const std::vector<std::string>& args);

}  // namespace caselink
