// Error handling: every fallible function returns absl::Status or absl::StatusOr<T>.
// Messages name the file, the field or tensor, and what was expected.
#pragma once

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"

#define MOE_CONCAT_IMPL_(a, b) a##b
#define MOE_CONCAT_(a, b) MOE_CONCAT_IMPL_(a, b)

// Returns from the current function if `expr` (an absl::Status) is not OK.
#define MOE_RETURN_IF_ERROR(expr)              \
  do {                                         \
    ::absl::Status moe_status_ = (expr);       \
    if (!moe_status_.ok()) return moe_status_; \
  } while (0)

// `lhs = value of expr` (an absl::StatusOr<T>), or returns its error.
#define MOE_ASSIGN_OR_RETURN(lhs, expr) \
  MOE_ASSIGN_OR_RETURN_IMPL_(MOE_CONCAT_(moe_statusor_, __LINE__), lhs, expr)
#define MOE_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                               \
  if (!tmp.ok()) return tmp.status();              \
  lhs = std::move(tmp).value()
