// Helpers for the common/ tests: temp dirs, fixture paths, raw safetensors files.
#pragma once

#include <cstdint>
#include <string>

namespace moe::testing_util {

// Path of a fixture model directory under MOE_TEST_DATA_DIR/models.
std::string ModelDir(const std::string& name);

// A fresh empty directory under ::testing::TempDir().
std::string MakeTempDir();

// Writes a safetensors file from a raw header string (not padded, not validated) and `data`.
// `header_len` overrides the length prefix when >= 0.
void WriteRawSafetensors(const std::string& path, const std::string& header,
                         const std::string& data, int64_t header_len = -1);

// Copies a file; test failure on error.
void CopyFileOrDie(const std::string& from, const std::string& to);

}  // namespace moe::testing_util
