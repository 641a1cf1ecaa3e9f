#include <cstdio>

#include "tools/commands.h"
namespace moe::tools {
int ChatTemplate(int, char**) {
  std::fprintf(stderr, "chat-template: not built yet\n");
  return 1;
}
}  // namespace moe::tools
