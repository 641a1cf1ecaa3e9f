// Subcommands of moe-tools. Each takes argv after the subcommand name and returns an exit code;
// errors go to stderr as one line naming what is wrong.
#pragma once

namespace moe::tools {

int Tokenize(int argc, char** argv);      // cmd_tokenize.cc
int Detokenize(int argc, char** argv);    // cmd_tokenize.cc
int ChatTemplate(int argc, char** argv);  // cmd_chat_template.cc
int RandomModel(int argc, char** argv);   // cmd_random_model.cc

}  // namespace moe::tools
