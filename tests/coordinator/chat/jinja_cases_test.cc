// Cross-check against Python Jinja2: jinja_cases.json holds templates rendered by Jinja2 set up
// like transformers (see make_jinja_cases.py); the interpreter must produce the same text and
// fail where Jinja2 fails.
#include <gtest/gtest.h>

#include <string>

#include "common/file.h"
#include "common/json.h"
#include "coordinator/chat/chat_template.h"

namespace moe {
namespace {

TEST(JinjaCasesTest, MatchesJinja2) {
  auto text = ReadFile(std::string(MOE_CHAT_TEST_DIR) + "/jinja_cases.json");
  ASSERT_TRUE(text.ok()) << text.status();
  auto cases = ParseOrderedJson(*text, "jinja_cases.json");
  ASSERT_TRUE(cases.ok()) << cases.status();
  int checked = 0;
  for (const auto& c : (*cases)["cases"]) {
    const std::string name = c["name"].get<std::string>();
    SCOPED_TRACE(name);
    auto tmpl = ChatTemplate::Parse(c["template"].get<std::string>());
    if (name.rfind("err_", 0) == 0) {
      ASSERT_FALSE(tmpl.ok()) << "expected a parse error";
      EXPECT_NE(tmpl.status().message().find("chat template line "), std::string::npos)
          << tmpl.status();
      ++checked;
      continue;
    }
    ASSERT_TRUE(tmpl.ok()) << tmpl.status();
    auto rendered = (*tmpl)->Render(c["variables"]);
    if (c.contains("error")) {
      EXPECT_FALSE(rendered.ok()) << "Jinja2 failed with " << c["message"].get<std::string>()
                                  << " but we rendered: " << *rendered;
      if (!rendered.ok()) {
        EXPECT_EQ(rendered.status().code(), absl::StatusCode::kInvalidArgument);
        EXPECT_NE(rendered.status().message().find("chat template line "), std::string::npos)
            << rendered.status();
      }
    } else {
      ASSERT_TRUE(rendered.ok()) << rendered.status();
      EXPECT_EQ(*rendered, c["text"].get<std::string>());
    }
    ++checked;
  }
  EXPECT_GT(checked, 150);
}

}  // namespace
}  // namespace moe
