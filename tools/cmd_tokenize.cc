#include <cstdio>

#include "tools/commands.h"
namespace moe::tools {
int Tokenize(int, char**) {
  std::fprintf(stderr, "tokenize: not built yet\n");
  return 1;
}
int Detokenize(int, char**) {
  std::fprintf(stderr, "detokenize: not built yet\n");
  return 1;
}
}  // namespace moe::tools
