#include <cstdio>

#include "tools/commands.h"
namespace moe::tools {
int RandomModel(int, char**) {
  std::fprintf(stderr, "random-model: not built yet\n");
  return 1;
}
}  // namespace moe::tools
