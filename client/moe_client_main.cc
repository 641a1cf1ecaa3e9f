// moe-client: the command-line client of moe-serve (generate, chat, tokenize, info, health).
// Text streams to stdout as it arrives; usage goes to stderr at the end. Exit codes: 0 ok,
// 1 RPC error ("moe-client: CODE: message") or not serving, 2 bad command line.
#include <cstdio>
#include <cstdlib>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "client/client.h"
#include "google/protobuf/util/json_util.h"

namespace moe {
namespace {

constexpr char kUsage[] = R"(usage: moe-client [global flags] COMMAND [flags]
global flags:
  --target HOST:PORT     server address (default localhost:50051)
  --api-key KEY          API key (default: $MOE_API_KEY)
  --tls                  use TLS; --tls-ca FILE (PEM CA, default system roots),
                         --tls-server-name NAME (override the name checked in the certificate)
  --timeout SECONDS      deadline of the call (default: none)
commands:
  generate (--prompt TEXT | --ids 1,2,3) [sampling flags] [--json]
  chat (--message ROLE:CONTENT ... | --prompt TEXT) [--system TEXT] [--no-think]
       [sampling flags] [--json]
  tokenize --text TEXT [--json]
  info                   model info as JSON
  health [--service NAME]  prints SERVING or NOT_SERVING; exit code 0 only when serving
sampling flags:
  --max-tokens N --temperature T --top-p P --top-k K --min-p P --seed S --stop S (repeatable)
  --repetition-penalty R --presence-penalty P --frequency-penalty F --min-tokens N
  --logprobs N --ignore-eos --include-stop
--json prints one JSON object per streamed delta (or the whole response) on stdout.
)";

const std::set<std::string> kGlobalValueFlags = {"target", "api-key", "tls-ca", "tls-server-name",
                                                 "timeout"};
const std::set<std::string> kSamplingValueFlags = {"max-tokens",
                                                   "temperature",
                                                   "top-p",
                                                   "top-k",
                                                   "min-p",
                                                   "seed",
                                                   "stop",
                                                   "repetition-penalty",
                                                   "presence-penalty",
                                                   "frequency-penalty",
                                                   "min-tokens",
                                                   "logprobs"};
const std::map<std::string, std::set<std::string>> kCommandValueFlags = {
    {"generate", {"prompt", "ids"}}, {"chat", {"message", "prompt", "system"}},
    {"tokenize", {"text"}},          {"info", {}},
    {"health", {"service"}},
};
const std::map<std::string, std::set<std::string>> kCommandBoolFlags = {
    {"generate", {"json", "ignore-eos", "include-stop"}},
    {"chat", {"json", "ignore-eos", "include-stop", "no-think"}},
    {"tokenize", {"json"}},
    {"info", {}},
    {"health", {}},
};

// Command-line errors travel as INVALID_ARGUMENT statuses until Run() prints them.
absl::Status UsageError(const std::string& message) { return absl::InvalidArgumentError(message); }

struct Args {
  std::string command;
  std::map<std::string, std::vector<std::string>> values;  // repeatable flags keep every value
  std::set<std::string> bools;

  bool Has(const std::string& name) const { return values.count(name) || bools.count(name); }
  std::string Get(const std::string& name, const std::string& def = "") const {
    auto it = values.find(name);
    return it == values.end() ? def : it->second.back();
  }
};

// Parses --name VALUE, --name=VALUE and --flag anywhere; the one positional is the command.
absl::Status Parse(int argc, char** argv, Args* args) {
  std::vector<std::string> raw(argv + 1, argv + argc);
  for (const std::string& a : raw) {  // the command decides which flags are allowed
    if (a.rfind("--", 0) != 0 && kCommandValueFlags.count(a)) {
      args->command = a;
      break;
    }
  }
  if (args->command.empty()) return UsageError("missing or unknown command");
  std::set<std::string> value_flags = kGlobalValueFlags;
  value_flags.insert(kCommandValueFlags.at(args->command).begin(),
                     kCommandValueFlags.at(args->command).end());
  if (args->command == "generate" || args->command == "chat") {
    value_flags.insert(kSamplingValueFlags.begin(), kSamplingValueFlags.end());
  }
  std::set<std::string> bool_flags = kCommandBoolFlags.at(args->command);
  bool_flags.insert({"tls", "help"});
  bool seen_command = false;
  for (size_t i = 0; i < raw.size(); ++i) {
    const std::string& a = raw[i];
    if (a.rfind("--", 0) != 0) {
      if (a == args->command && !seen_command) {
        seen_command = true;
        continue;
      }
      return UsageError(absl::StrCat("unexpected argument '", a, "'"));
    }
    std::string name = a.substr(2), value;
    const size_t eq = name.find('=');
    const bool has_value = eq != std::string::npos;
    if (has_value) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
    }
    if (bool_flags.count(name) && !has_value) {
      args->bools.insert(name);
    } else if (value_flags.count(name)) {
      if (!has_value) {
        if (i + 1 >= raw.size()) return UsageError(absl::StrCat("--", name, " needs a value"));
        value = raw[++i];
      }
      args->values[name].push_back(value);
    } else {
      return UsageError(absl::StrCat("unknown flag --", name, " for ", args->command));
    }
  }
  return absl::OkStatus();
}

absl::Status SetSampling(const Args& args, v1::SamplingParams* s) {
  for (const auto& [name, values] : args.values) {
    if (!kSamplingValueFlags.count(name) || name == "stop") continue;
    const std::string& v = values.back();
    const std::string bad = absl::StrCat("--", name, ": bad number '", v, "'");
    double d = 0;
    int64_t i = 0;
    uint64_t u = 0;
    const bool is_int = absl::SimpleAtoi(v, &i);
    if (name == "seed") {
      if (!absl::SimpleAtoi(v, &u)) return UsageError(bad);
      s->set_seed(u);
    } else if (name == "max-tokens" || name == "top-k" || name == "min-tokens" ||
               name == "logprobs") {
      if (!is_int) return UsageError(bad);
      if (name == "max-tokens") s->set_max_tokens(static_cast<int32_t>(i));
      if (name == "top-k") s->set_top_k(static_cast<int32_t>(i));
      if (name == "min-tokens") s->set_min_tokens(static_cast<int32_t>(i));
      if (name == "logprobs") s->set_logprobs(static_cast<int32_t>(i));
    } else {
      if (!absl::SimpleAtod(v, &d)) return UsageError(bad);
      const float f = static_cast<float>(d);
      if (name == "temperature") s->set_temperature(f);
      if (name == "top-p") s->set_top_p(f);
      if (name == "min-p") s->set_min_p(f);
      if (name == "repetition-penalty") s->set_repetition_penalty(f);
      if (name == "presence-penalty") s->set_presence_penalty(f);
      if (name == "frequency-penalty") s->set_frequency_penalty(f);
    }
  }
  if (args.values.count("stop")) {
    for (const std::string& stop : args.values.at("stop")) s->add_stop(stop);
  }
  s->set_ignore_eos(args.bools.count("ignore-eos") > 0);
  s->set_include_stop_str_in_output(args.bools.count("include-stop") > 0);
  return absl::OkStatus();
}

std::string ToJson(const google::protobuf::Message& m, bool all_fields) {
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  options.always_print_primitive_fields = all_fields;
  std::string out;
  if (!google::protobuf::util::MessageToJsonString(m, &out, options).ok()) return "{}";
  return out;
}

const char* FinishName(v1::FinishReason r) {
  switch (r) {
    case v1::FINISH_REASON_STOP:
      return "stop";
    case v1::FINISH_REASON_LENGTH:
      return "length";
    default:
      return "none";
  }
}

// Streams one Generate or Chat call to stdout.
absl::Status Stream(Client* client, const Args& args, absl::Duration timeout,
                    const v1::GenerateRequest* generate, const v1::ChatRequest* chat) {
  const bool json = args.bools.count("json") > 0;
  GenerateResult result;
  bool ends_with_newline = true;
  auto on_delta = [&](const v1::GenerateResponse& delta) {
    Accumulate(delta, &result);
    if (json) {
      std::printf("%s\n", ToJson(delta, false).c_str());
    } else if (!delta.text().empty()) {
      std::fwrite(delta.text().data(), 1, delta.text().size(), stdout);
      ends_with_newline = delta.text().back() == '\n';
    }
    std::fflush(stdout);
    return true;
  };
  absl::Status status = generate ? client->Generate(*generate, on_delta, timeout)
                                 : client->Chat(*chat, on_delta, timeout);
  if (!json && result.text.empty() && !result.token_ids.empty()) {
    // No text at all (a model served without a tokenizer): show the token ids instead.
    std::printf("%s", absl::StrJoin(result.token_ids, " ").c_str());
    ends_with_newline = false;
  }
  if (!json && !ends_with_newline) std::printf("\n");
  std::fflush(stdout);
  if (!status.ok()) return status;
  std::fprintf(stderr,
               "usage: prompt_tokens=%d completion_tokens=%d cached_prompt_tokens=%d "
               "finish_reason=%s%s\n",
               result.usage.prompt_tokens(), result.usage.completion_tokens(),
               result.usage.cached_prompt_tokens(), FinishName(result.finish_reason),
               result.stop_reason.empty() ? "" : (" stop_reason=" + result.stop_reason).c_str());
  return absl::OkStatus();
}

// Request builders: their errors are command-line errors (exit code 2).
absl::Status BuildGenerate(const Args& args, v1::GenerateRequest* req) {
  if (args.Has("prompt") == args.Has("ids")) {
    return UsageError("generate needs exactly one of --prompt and --ids");
  }
  if (args.Has("prompt")) {
    req->set_text(args.Get("prompt"));
  } else {
    for (absl::string_view part : absl::StrSplit(args.Get("ids"), ',', absl::SkipWhitespace())) {
      int32_t id = 0;
      if (!absl::SimpleAtoi(part, &id)) {
        return UsageError(absl::StrCat("--ids: bad token id '", std::string(part), "'"));
      }
      req->mutable_token_ids()->add_ids(id);
    }
    if (req->token_ids().ids_size() == 0) return UsageError("--ids: no token ids");
  }
  return SetSampling(args, req->mutable_sampling());
}

absl::Status BuildChat(const Args& args, v1::ChatRequest* req) {
  if (args.Has("message") == args.Has("prompt")) {
    return UsageError("chat needs --message (repeatable) or --prompt, not both");
  }
  if (args.Has("system")) {
    v1::ChatMessage* m = req->add_messages();
    m->set_role("system");
    m->set_content(args.Get("system"));
  }
  if (args.Has("prompt")) {
    v1::ChatMessage* m = req->add_messages();
    m->set_role("user");
    m->set_content(args.Get("prompt"));
  } else {
    for (const std::string& text : args.values.at("message")) {
      const size_t colon = text.find(':');
      if (colon == std::string::npos || colon == 0) {
        return UsageError(absl::StrCat("--message '", text, "': expected ROLE:CONTENT"));
      }
      v1::ChatMessage* m = req->add_messages();
      m->set_role(text.substr(0, colon));
      m->set_content(text.substr(colon + 1));
    }
  }
  if (args.bools.count("no-think")) req->set_enable_thinking(false);
  return SetSampling(args, req->mutable_sampling());
}

absl::Status Tokenize(Client* client, const Args& args, absl::Duration timeout) {
  absl::StatusOr<v1::TokenizeResponse> r = client->Tokenize(args.Get("text"), timeout);
  if (!r.ok()) return r.status();
  if (args.bools.count("json")) {
    std::printf("%s\n", ToJson(*r, true).c_str());
  } else {
    std::printf("%s\n", absl::StrJoin(r->ids(), " ").c_str());
  }
  return absl::OkStatus();
}

int BadCommandLine(const absl::Status& status) {
  std::fprintf(stderr, "moe-client: %s\n%s", std::string(status.message()).c_str(), kUsage);
  return 2;
}

// Returns the process exit code; prints RPC errors.
int Run(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    if (std::string(argv[i]) == "--help" || std::string(argv[i]) == "-h") {
      std::fputs(kUsage, stdout);
      return 0;
    }
  }
  Args args;
  absl::Status parsed = Parse(argc, argv, &args);
  if (!parsed.ok()) return BadCommandLine(parsed);
  ClientOptions options;
  options.target = args.Get("target", "localhost:50051");
  const char* env_key = std::getenv("MOE_API_KEY");
  options.api_key = args.Get("api-key", env_key ? env_key : "");
  options.tls = args.bools.count("tls") > 0 || args.Has("tls-ca");
  options.tls_root_certs_file = args.Get("tls-ca");
  options.tls_server_name_override = args.Get("tls-server-name");
  absl::Duration timeout = absl::InfiniteDuration();
  if (args.Has("timeout")) {
    double seconds = 0;
    if (!absl::SimpleAtod(args.Get("timeout"), &seconds) || seconds <= 0) {
      return BadCommandLine(UsageError("--timeout: expected seconds > 0"));
    }
    timeout = absl::Seconds(seconds);
  }
  v1::GenerateRequest generate;
  v1::ChatRequest chat;
  absl::Status built;
  if (args.command == "generate") built = BuildGenerate(args, &generate);
  if (args.command == "chat") built = BuildChat(args, &chat);
  if (args.command == "tokenize" && !args.Has("text")) built = UsageError("tokenize needs --text");
  if (!built.ok()) return BadCommandLine(built);

  absl::StatusOr<std::unique_ptr<Client>> client = Client::Create(options);
  absl::Status status;
  if (!client.ok()) {
    status = client.status();
  } else if (args.command == "generate") {
    status = Stream(client->get(), args, timeout, &generate, nullptr);
  } else if (args.command == "chat") {
    status = Stream(client->get(), args, timeout, nullptr, &chat);
  } else if (args.command == "tokenize") {
    status = Tokenize(client->get(), args, timeout);
  } else if (args.command == "info") {
    absl::StatusOr<v1::ModelInfoResponse> info = (*client)->ModelInfo(timeout);
    status = info.status();
    if (info.ok()) std::printf("%s\n", ToJson(*info, true).c_str());
  } else if (args.command == "health") {
    absl::StatusOr<bool> serving = (*client)->Health(args.Get("service"), timeout);
    status = serving.status();
    if (serving.ok()) {
      std::printf("%s\n", *serving ? "SERVING" : "NOT_SERVING");
      return *serving ? 0 : 1;
    }
  }
  if (status.ok()) return 0;
  std::fprintf(stderr, "moe-client: %s: %s\n", absl::StatusCodeToString(status.code()).c_str(),
               std::string(status.message()).c_str());
  return 1;
}

}  // namespace
}  // namespace moe

int main(int argc, char** argv) { return moe::Run(argc, argv); }
