// The syntax of envelope and case ids: 1-128 characters of A-Z a-z 0-9 . _ : -
// (the language of the pattern ^[A-Za-z0-9._:-]{1,128}$), checked without a regex engine.
#pragma once

#include <cstddef>

#include "absl/strings/string_view.h"

namespace caselink {

inline constexpr size_t kMaxIdLength = 128;

// True when `id` is a valid envelope or case id.
bool IsValidId(absl::string_view id);

}  // namespace caselink
