// A small command-line flag parser for the tools: --name value, --name=value, --flag.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "common/status.h"

namespace moe {

class Flags {
 public:
  // Parses argv[first..argc). `bool_flags` take no value. Unknown flags and a missing value are
  // errors; positional arguments are kept in order.
  static absl::StatusOr<Flags> Parse(int argc, char** argv, int first,
                                     const std::set<std::string>& value_flags,
                                     const std::set<std::string>& bool_flags);

  bool Has(const std::string& name) const { return values_.count(name) > 0; }
  std::string GetString(const std::string& name, const std::string& def = "") const;
  absl::StatusOr<int64_t> GetInt(const std::string& name, int64_t def) const;
  absl::StatusOr<double> GetDouble(const std::string& name, double def) const;
  bool GetBool(const std::string& name) const { return Has(name); }
  // "1,2,3" -> {1, 2, 3}.
  absl::StatusOr<std::vector<int64_t>> GetIntList(const std::string& name) const;
  const std::vector<std::string>& positional() const { return positional_; }

 private:
  std::map<std::string, std::string> values_;
  std::vector<std::string> positional_;
};

// Parses "1,2,3" (spaces allowed); `what` names the flag in errors.
absl::StatusOr<std::vector<int64_t>> ParseIntList(const std::string& text, const std::string& what);

}  // namespace moe
