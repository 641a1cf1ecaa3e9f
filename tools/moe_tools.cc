// moe-tools: tokenizer, chat-template and checkpoint utilities.
#include <cstdio>
#include <cstring>

#include "tools/commands.h"

namespace {

struct Command {
  const char* name;
  int (*run)(int, char**);
  const char* help;
};

constexpr Command kCommands[] = {
    {"tokenize", moe::tools::Tokenize,
     "--tokenizer DIR (--text T | --jsonl FILE)   text -> token ids"},
    {"detokenize", moe::tools::Detokenize,
     "--tokenizer DIR (--ids 1,2,3 | --jsonl FILE) [--skip-special]   ids -> text"},
    {"chat-template", moe::tools::ChatTemplate,
     "--tokenizer DIR --jsonl FILE [--template FILE]   render chat messages"},
    {"random-model", moe::tools::RandomModel,
     "--like NAME [--layers N] [--seed S] [--tokenizer DIR] --out DIR   write a random checkpoint"},
};

void Usage() {
  std::fprintf(stderr, "usage: moe-tools COMMAND [flags]\n\ncommands:\n");
  for (const Command& c : kCommands) std::fprintf(stderr, "  %-14s %s\n", c.name, c.help);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || std::strcmp(argv[1], "--help") == 0 || std::strcmp(argv[1], "-h") == 0) {
    Usage();
    return argc < 2 ? 2 : 0;
  }
  for (const Command& c : kCommands) {
    if (std::strcmp(argv[1], c.name) == 0) return c.run(argc - 2, argv + 2);
  }
  std::fprintf(stderr, "moe-tools: unknown command '%s'\n", argv[1]);
  Usage();
  return 2;
}
