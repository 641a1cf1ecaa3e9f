// ChatFormatter: the Qwen3 chat.json goldens (rendered by transformers.js and Python Jinja2),
// the variables passed to templates, and message validation.
#include <gtest/gtest.h>

#include <string>

#include "common/file.h"
#include "common/json.h"
#include "coordinator/chat/chat_template.h"

namespace moe {
namespace {

const std::string kQwenDir = std::string(MOE_TEST_DATA_DIR) + "/tokenizer/qwen3";

OrderedJson ReadJson(const std::string& path) {
  auto text = ReadFile(path);
  EXPECT_TRUE(text.ok()) << text.status();
  auto json = ParseOrderedJson(text.ok() ? *text : "{}", path);
  EXPECT_TRUE(json.ok()) << json.status();
  return json.ok() ? *json : OrderedJson::object();
}

ChatRequest RequestFromCase(const OrderedJson& c) {
  ChatRequest request;
  request.messages = c["messages"];
  if (c.contains("tools")) request.tools = c["tools"];
  request.add_generation_prompt = c["add_generation_prompt"].get<bool>();
  if (c.contains("template_kwargs")) request.template_kwargs = c["template_kwargs"];
  return request;
}

TEST(ChatFormatterTest, Qwen3Goldens) {
  OrderedJson config = ReadJson(kQwenDir + "/tokenizer_config.json");
  OrderedJson golden = ReadJson(kQwenDir + "/chat.json");
  auto formatter = ChatFormatter::Create(config, "", "tokenizer_config.json");
  ASSERT_TRUE(formatter.ok()) << formatter.status();
  ASSERT_EQ(golden["cases"].size(), 13u);
  for (const auto& c : golden["cases"]) {
    SCOPED_TRACE(c["name"].get<std::string>());
    auto text = (*formatter)->Render(RequestFromCase(c));
    ASSERT_TRUE(text.ok()) << text.status();
    EXPECT_EQ(*text, c["text"].get<std::string>());
  }
}

TEST(ChatFormatterTest, TemplateRendersDirectlyToo) {
  OrderedJson config = ReadJson(kQwenDir + "/tokenizer_config.json");
  auto tmpl = ChatTemplate::Parse(config["chat_template"].get<std::string>());
  ASSERT_TRUE(tmpl.ok()) << tmpl.status();
  OrderedJson vars = OrderedJson::parse(R"({"messages": [{"role": "user", "content": "Hi"}],
      "add_generation_prompt": true, "enable_thinking": false})");
  auto text = (*tmpl)->Render(vars);
  ASSERT_TRUE(text.ok()) << text.status();
  EXPECT_EQ(*text,
            "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n");
}

// A template that shows every variable the formatter passes.
constexpr char kEchoTemplate[] =
    "{{ bos_token }}|{{ eos_token }}|{{ pad_token }}|{{ unk_token is defined }}|"
    "{{ tools is defined }}:{{ tools is none }}|{{ documents is none }}|"
    "{{ add_generation_prompt }}|{{ messages|length }}|{{ extra }}|"
    "{{ additional_special_tokens|join(',') }}";

TEST(ChatFormatterTest, PassesVariablesLikeTransformers) {
  OrderedJson config = OrderedJson::parse(R"({
      "bos_token": {"__type": "AddedToken", "content": "<s>", "lstrip": false},
      "eos_token": "</s>", "pad_token": null, "unk_token": null,
      "additional_special_tokens": ["<a>", {"content": "<b>"}]})");
  auto formatter = ChatFormatter::Create(config, kEchoTemplate, "test");
  ASSERT_TRUE(formatter.ok()) << formatter.status();
  ChatRequest request;
  request.messages = OrderedJson::parse(R"([{"role": "user", "content": "x"}])");
  request.add_generation_prompt = false;
  request.template_kwargs = {{"extra", 7}};
  auto text = (*formatter)->Render(request);
  ASSERT_TRUE(text.ok()) << text.status();
  EXPECT_EQ(*text, "<s>|</s>||False|True:True|True|False|1|7|<a>,<b>");

  request.tools = OrderedJson::parse(R"([{"type": "function"}])");
  request.template_kwargs = {{"eos_token", "<override>"}};  // kwargs win over config tokens
  text = (*formatter)->Render(request);
  ASSERT_TRUE(text.ok()) << text.status();
  EXPECT_EQ(*text, "<s>|<override>||False|True:False|True|False|1||<a>,<b>");

  request.template_kwargs = {{"messages", 1}};
  EXPECT_TRUE(absl::IsInvalidArgument((*formatter)->Render(request).status()));
}

TEST(ChatFormatterTest, NamedTemplatesAndOverrides) {
  OrderedJson config = OrderedJson::parse(R"({"chat_template": [
      {"name": "default", "template": "default"},
      {"name": "tool_use", "template": "tools:{{ tools|length }}"}]})");
  auto formatter = ChatFormatter::Create(config, "", "cfg");
  ASSERT_TRUE(formatter.ok()) << formatter.status();
  ChatRequest request;
  EXPECT_EQ((*formatter)->Render(request).value_or("?"), "default");
  request.tools = OrderedJson::array({1, 2});
  EXPECT_EQ((*formatter)->Render(request).value_or("?"), "tools:2");

  auto overridden = ChatFormatter::Create(config, "override", "cfg");
  ASSERT_TRUE(overridden.ok());
  EXPECT_EQ((*overridden)->Render(request).value_or("?"), "override");

  auto missing = ChatFormatter::Create(OrderedJson::object(), "", "cfg.json");
  EXPECT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("cfg.json"), std::string::npos);

  auto bad = ChatFormatter::Create({{"chat_template", "\n{% include 'x' %}"}}, "", "cfg.json");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("cfg.json: chat template line 2"), std::string::npos)
      << bad.status();
}

TEST(ChatFormatterTest, RenderErrorsNameTheSource) {
  auto formatter =
      ChatFormatter::Create({{"chat_template",
                              "{% if messages[0].role != 'user' %}"
                              "{{ raise_exception('first message must be from the user') }}"
                              "{% endif %}ok"}},
                            "", "cfg.json");
  ASSERT_TRUE(formatter.ok()) << formatter.status();
  ChatRequest request;
  request.messages = OrderedJson::parse(R"([{"role": "assistant", "content": "x"}])");
  auto text = (*formatter)->Render(request);
  ASSERT_FALSE(text.ok());
  EXPECT_TRUE(absl::IsInvalidArgument(text.status()));
  EXPECT_NE(text.status().message().find("cfg.json: chat template line 1: first message must be"),
            std::string::npos)
      << text.status();
}

TEST(ChatFormatterTest, ValidateMessages) {
  auto check = [](const char* json) {
    return ChatFormatter::ValidateMessages(OrderedJson::parse(json));
  };
  EXPECT_TRUE(check(R"([{"role": "user", "content": "x"}, {"role": "assistant", "content": null},
                        {"role": "user", "content": [{"type": "text", "text": "y"}]},
                        {"role": "assistant", "tool_calls": []}])")
                  .ok());
  EXPECT_EQ(check(R"({"role": "user"})").message(), "messages: expected an array");
  EXPECT_EQ(check(R"([{"role": "user", "content": "x"}, 3])").message(),
            "messages[1]: expected an object");
  EXPECT_EQ(check(R"([{"role": "user"}, {"role": "user"}, {"content": "x"}])").message(),
            "messages[2].role: expected a string");
  EXPECT_EQ(check(R"([{"role": 5}])").message(), "messages[0].role: expected a string");
  EXPECT_EQ(check(R"([{"role": "user", "content": 5}])").message(),
            "messages[0].content: expected a string, null or an array");
  EXPECT_EQ(check(R"([{"role": "user", "content": ["x"]}])").message(),
            "messages[0].content[0]: expected an object");

  auto formatter = ChatFormatter::Create({{"chat_template", "x"}}, "", "cfg");
  ASSERT_TRUE(formatter.ok());
  ChatRequest request;
  request.messages = OrderedJson::parse(R"([{"role": null}])");
  EXPECT_EQ((*formatter)->Render(request).status().message(),
            "messages[0].role: expected a string");
  request.messages = OrderedJson::array();
  request.tools = "not a list";
  EXPECT_EQ((*formatter)->Render(request).status().message(), "tools: expected an array");
}

}  // namespace
}  // namespace moe
