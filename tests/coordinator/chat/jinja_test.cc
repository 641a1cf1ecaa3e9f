// Unit tests of the Jinja-subset interpreter behind ChatTemplate. Expected outputs are what
// Python Jinja2 (trim_blocks, lstrip_blocks, loopcontrols, transformers' tojson) produces.
#include <gtest/gtest.h>

#include <random>
#include <string>

#include "common/file.h"
#include "common/json.h"
#include "coordinator/chat/chat_template.h"

namespace moe {
namespace {

absl::StatusOr<std::string> Render(const std::string& source,
                                   const OrderedJson& vars = OrderedJson::object()) {
  MOE_ASSIGN_OR_RETURN(std::unique_ptr<ChatTemplate> tmpl, ChatTemplate::Parse(source));
  return tmpl->Render(vars);
}

// Renders and returns the text, or "ERROR: <status>" so that failures show in EXPECT_EQ.
std::string R(const std::string& source, const OrderedJson& vars = OrderedJson::object()) {
  auto text = Render(source, vars);
  return text.ok() ? *text : "ERROR: " + std::string(text.status().message());
}

absl::Status ParseError(const std::string& source) {
  auto tmpl = ChatTemplate::Parse(source);
  return tmpl.ok() ? absl::OkStatus() : tmpl.status();
}

bool Contains(const absl::Status& status, const std::string& text) {
  return std::string(status.message()).find(text) != std::string::npos;
}

// ---- whitespace ----

TEST(JinjaWhitespaceTest, TrimBlocksRemovesOneNewlineAfterBlockTags) {
  EXPECT_EQ(R("{% if true %}\nyes\n{% endif %}\nend"), "yes\nend");
  EXPECT_EQ(R("{% if true %}\n\nyes{% endif %}"), "\nyes");
  EXPECT_EQ(R("a\n{# comment #}\nb"), "a\nb");
  EXPECT_EQ(R("{{ 'a' }}\n{{ 'b' }}"), "a\nb");  // not after {{ }}
}

TEST(JinjaWhitespaceTest, LstripBlocksStripsIndentBeforeBlockTags) {
  EXPECT_EQ(R("  {% if true %}\n  x\n  {% endif %}\n  {{ 'y' }}\n"), "  x\n  y");
  EXPECT_EQ(R("a {% if true %}b{% endif %}"), "a b");  // not at line start
  EXPECT_EQ(R("\t {% if true %}\n\tx\n\t{% endif %}"), "\tx\n");
}

TEST(JinjaWhitespaceTest, DashAndPlusMarkers) {
  EXPECT_EQ(R("a  \n  {%- if true %}x{% endif %}"), "ax");
  EXPECT_EQ(R("x {{- ' y ' -}} z"), "x y z");
  EXPECT_EQ(R("{% if true -%}\n\n   a{%- endif %}"), "a");
  EXPECT_EQ(R("  {%+ if true %}x{% endif +%}\n  y"), "  x\n  y");
  EXPECT_EQ(R("  {#- c -#}  \nz"), "z");
}

TEST(JinjaWhitespaceTest, NewlinesRawAndComments) {
  EXPECT_EQ(R("Hello\nworld\n"), "Hello\nworld");  // one trailing newline dropped
  EXPECT_EQ(R("a\n\n"), "a\n");
  EXPECT_EQ(R("{% if true %}\r\nA\r\n{% endif %}\r\n"), "A\n");
  EXPECT_EQ(R("{% raw %}  {{ x }} {% endraw %}\nz"), "  {{ x }} z");
  EXPECT_EQ(R("a{# {{ not parsed }} #}b"), "ab");
}

// ---- values and expressions ----

TEST(JinjaExprTest, PythonStyleRendering) {
  EXPECT_EQ(R("{{ none }}|{{ true }}|{{ False }}|{{ 1.0 }}|{{ 10 / 4 }}|{{ 7 // 2 }}|{{ 1e16 }}"),
            "None|True|False|1.0|2.5|3|1e+16");
  EXPECT_EQ(R("{{ [1, 'a', none, {'k': \"it's\"}] }}"), "[1, 'a', None, {'k': \"it's\"}]");
  EXPECT_EQ(R("{{ (1,) }} {{ d.items()|list }}", {{"d", {{"a", 1}}}}), "(1,) [('a', 1)]");
  EXPECT_EQ(R("{{ 0.1 + 0.2 }} {{ -7 % 3 }} {{ 2 ** 10 }}"), "0.30000000000000004 2 1024");
}

TEST(JinjaExprTest, OperatorsAndPrecedence) {
  EXPECT_EQ(R("{{ 1 + 2 * 3 }} {{ (1 + 2) * 3 }} {{ 'a' ~ 1 ~ none }} {{ 'ab' * 2 }}"),
            "7 9 a1None abab");
  EXPECT_EQ(R("{{ l|length - 1 }} {{ not x is defined }} {{ 1 < 2 < 3 }}", {{"l", {1, 2}}}),
            "1 True True");
  EXPECT_EQ(R("{{ 'b' in 'abc' }} {{ 3 not in [1, 2] }} {{ 'k' in {'k': 1} }}"), "True True True");
  EXPECT_EQ(R("{{ 0 or 'x' }} {{ '' and 'y' }}|{{ 'a' if false else 'b' }}[{{ 'a' if false }}]"),
            "x |b[]");
}

TEST(JinjaExprTest, StringLiteralsAndEscapes) {
  EXPECT_EQ(R("{{ 'a\\nb' }}"), "a\nb");
  EXPECT_EQ(R("{{ \"q\\\"\" ~ 'x\\'y' }}"), "q\"x'y");
  EXPECT_EQ(R("{{ '\\u00e9\\x41\\d' }}"),
            "\xc3\xa9"
            "A\\d");
  EXPECT_EQ(R("{{ 'a' 'b' }}"), "ab");
}

TEST(JinjaExprTest, SlicingAndIndexing) {
  OrderedJson vars = {{"l", {0, 1, 2, 3, 4}}, {"s", "h\xc3\xa9llo"}};
  EXPECT_EQ(
      R("{{ l[1:] }} {{ l[:2] }} {{ l[::-1] }} {{ l[::2] }} {{ l[-2:] }} {{ l[3:1:-1] }}", vars),
      "[1, 2, 3, 4] [0, 1] [4, 3, 2, 1, 0] [0, 2, 4] [3, 4] [3, 2]");
  EXPECT_EQ(R("{{ s[1] }} {{ s[::-1] }} {{ s[-1] }} {{ l[-1] }} {{ l.0 }}", vars),
            "\xc3\xa9 oll\xc3\xa9h o 4 0");
  EXPECT_EQ(R("[{{ l[10] }}]", vars), "[]");
}

TEST(JinjaExprTest, UndefinedBehaviour) {
  OrderedJson vars = {{"d", {{"a", 1}}}, {"n", nullptr}};
  EXPECT_EQ(R("[{{ nope }}][{{ d.b }}][{{ d['b'] }}][{{ n.x }}]", vars), "[][][][]");
  EXPECT_EQ(
      R("{{ nope is defined }} {{ d.b is undefined }} {{ nope|length }} {{ not nope }}", vars),
      "False True 0 True");
  EXPECT_EQ(R("{{ nope|default('x') }} {{ nope ~ 'y' }} {% for x in nope %}{% else %}e{% endfor %}",
              vars),
            "x y e");
  EXPECT_TRUE(Contains(Render("{{ nope.x }}").status(), "'nope' is undefined"));
  EXPECT_FALSE(Render("{{ nope + 1 }}").ok());
  EXPECT_FALSE(Render("{{ nope|tojson }}").ok());
}

// ---- statements ----

TEST(JinjaStatementTest, LoopVariables) {
  EXPECT_EQ(R("{% for x in 'abc' %}{{ loop.index }}{{ loop.index0 }}{{ loop.revindex0 }}"
              "{{ loop.first }}{{ loop.last }}{{ loop.length }};{% endfor %}"),
            "102TrueFalse3;211FalseFalse3;320FalseTrue3;");
  EXPECT_EQ(R("{% for x in [1, 2, 3] %}{{ loop.previtem }}-{{ loop.nextitem }}-"
              "{{ loop.cycle('a', 'b') }};{% endfor %}"),
            "-2-a;1-3-b;2--a;");
}

TEST(JinjaStatementTest, LoopControlsElseFilterAndUnpacking) {
  EXPECT_EQ(R("{% for x in range(10) %}{% if x == 2 %}{% continue %}{% endif %}"
              "{% if x == 5 %}{% break %}{% endif %}{{ x }}{% endfor %}"),
            "0134");
  EXPECT_EQ(R("{% for x in [] %}x{% else %}none{% endfor %}"), "none");
  EXPECT_EQ(R("{% for x in range(6) if x is even %}{{ x }}/{{ loop.length }} {% endfor %}"),
            "0/3 2/3 4/3 ");
  EXPECT_EQ(
      R("{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}", {{"d", {{"z", 1}, {"a", 2}}}}),
      "z=1;a=2;");
}

TEST(JinjaStatementTest, ScopingLikeJinja) {
  // A loop body gets a fresh scope each iteration; sets do not leak out of loops.
  EXPECT_EQ(R("{% set x = 1 %}{% for i in [1, 2] %}{{ x }}{% set x = x + 1 %}{{ x }}"
              "{% endfor %}{{ x }}"),
            "12121");
  EXPECT_EQ(R("{% for i in [1, 2] %}{% if i == 1 %}{% set y = 5 %}{% endif %}[{{ y }}]"
              "{% endfor %}"),
            "[5][]");
  EXPECT_EQ(R("{% if true %}{% set x = 3 %}{% endif %}{{ x }}"), "3");
}

TEST(JinjaStatementTest, Namespaces) {
  EXPECT_EQ(R("{% set ns = namespace(n=0, found=false) %}{% for i in [1, 2, 3] %}"
              "{% set ns.n = ns.n + i %}{% if i == 2 %}{% set ns.found = true %}{% endif %}"
              "{% endfor %}{{ ns.n }} {{ ns.found }}"),
            "6 True");
  EXPECT_TRUE(Contains(Render("{% set d = {} %}{% set d.x = 1 %}").status(), "non-namespace"));
}

TEST(JinjaStatementTest, MacrosAndSetBlocks) {
  EXPECT_EQ(R("{% macro m(a, b=a+1, c='z') %}{{ a }}{{ b }}{{ c }}{% endmacro %}"
              "{{ m(1) }}|{{ m(1, 5) }}|{{ m(c='C', a=0) }}"),
            "12z|15z|01C");
  EXPECT_EQ(R("{% macro f(n) %}{% if n > 0 %}{{ n }}{{ f(n - 1) }}{% endif %}{% endmacro %}"
              "{{ f(3) }}"),
            "321");
  EXPECT_EQ(R("{% set x | upper %} abc {% endset %}[{{ x }}]"), "[ ABC ]");
  EXPECT_EQ(R("{% set a, b = 1, 2 %}{{ a }}{{ b }}"), "12");
  EXPECT_EQ(R("{% with a = 1 %}{{ a }}{% endwith %}[{{ a }}]"), "1[]");
  EXPECT_EQ(R("{% generation %}kept{% endgeneration %}"), "kept");
}

// ---- filters, tests, methods ----

TEST(JinjaFilterTest, ToJsonLikePythonJsonDumps) {
  OrderedJson vars = OrderedJson::parse(
      R"({"d": {"b": 1, "a": [1.5, null, true, "\u00e9\"\\\n\u2028\u0001"], "c": {}, "f": 1e20}})");
  EXPECT_EQ(R("{{ d|tojson }}", vars),
            "{\"b\": 1, \"a\": [1.5, null, true, \"\xc3\xa9\\\"\\\\\\n\xe2\x80\xa8\\u0001\"], "
            "\"c\": {}, \"f\": 1e+20}");
  OrderedJson nested = OrderedJson::parse(R"({"d": {"z": [1, {"b": null}], "a": "\u4e2d"}})");
  EXPECT_EQ(
      R("{{ d|tojson(indent=2) }}", nested),
      "{\n  \"z\": [\n    1,\n    {\n      \"b\": null\n    }\n  ],\n  \"a\": \"\xe4\xb8\xad\"\n}");
  EXPECT_EQ(R("{{ d|tojson(sort_keys=true) }}|{{ d|tojson(separators=(',', ':')) }}", nested),
            "{\"a\": \"\xe4\xb8\xad\", \"z\": [1, {\"b\": "
            "null}]}|{\"z\":[1,{\"b\":null}],\"a\":\"\xe4\xb8\xad\"}");
  EXPECT_EQ(R("{{ d.a|tojson(ensure_ascii=true) }}", nested), "\"\\u4e2d\"");
}

TEST(JinjaFilterTest, CommonFilters) {
  OrderedJson m = OrderedJson::parse(
      R"({"m": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}, {"role": "user", "content": "c"}]})");
  EXPECT_EQ(R("{{ m|length }} {{ m|first|tojson }} {{ (m|last).content }}", m),
            "3 {\"role\": \"user\", \"content\": \"a\"} c");
  EXPECT_EQ(R("{{ m|selectattr('role', 'equalto', 'user')|map(attribute='content')|join(',') }} "
              "{{ m|rejectattr('role', 'eq', 'user')|list|length }} "
              "{{ m|map(attribute='role')|unique|list }}",
              m),
            "a,c 1 ['user', 'assistant']");
  EXPECT_EQ(R("{{ ' x '|trim }}|{{ 'aB'|lower }}{{ 'aB'|upper }}|{{ 'ab cd'|capitalize }}|"
              "{{ 'a-b'|replace('-', '+') }}|{{ '4.7'|int }}|{{ '2'|float }}|{{ 3|string ~ 'x' }}"),
            "x|abAB|Ab cd|a+b|4|2.0|3x");
  EXPECT_EQ(R("{{ [3, 1, 2]|sort }} {{ ['b', 'A', 'a']|sort }} {{ [1, 2]|sum }} {{ d|items|list }} "
              "{{ x|default('dflt') }} {{ 'a\\nb'|indent(2) }}",
              {{"d", {{"k", 1}}}}),
            "[1, 2, 3] ['A', 'a', 'b'] 3 [('k', 1)] dflt a\n  b");
  EXPECT_EQ(R("{{ '<a>'|safe }}{{ '<a>'|e }}"), "<a>&lt;a&gt;");
}

TEST(JinjaFilterTest, Tests) {
  EXPECT_EQ(R("{{ 'a' is string }} {{ 1 is number }} {{ {} is mapping }} {{ [] is iterable }} "
              "{{ 'a' is sequence }} {{ true is boolean }} {{ false is false }} {{ 0 is false }} "
              "{{ none is none }} {{ 1 is integer }} {{ 1.5 is float }} {{ 3 is odd }} "
              "{{ 9 is divisibleby 3 }} {{ x is undefined }}"),
            "True True True True True True True False True True True True True True");
  EXPECT_EQ(R("{% if enable_thinking is defined and enable_thinking is false %}off{% endif %}",
              {{"enable_thinking", false}}),
            "off");
}

TEST(JinjaFilterTest, StringAndDictMethods) {
  EXPECT_EQ(R("{{ 'abc'.startswith('ab') }} {{ 'abc'.endswith(('x', 'c')) }} "
              "{{ ' a  b '.split() }} {{ 'a,b,c'.split(',', 1) }} {{ 'a,b'.split(',') }}"),
            "True True ['a', 'b'] ['a', 'b,c'] ['a', 'b']");
  EXPECT_EQ(R("[{{ '\\n\\nx\\n'.strip('\\n') }}][{{ '  x '.lstrip() }}][{{ 'xy'.rstrip('y') }}]"),
            "[x][x ][x]");
  EXPECT_EQ(
      R("{{ 'aB'.lower() }} {{ 'aB'.upper() }} {{ 'a b'.replace(' ', '_') }} "
        "{{ 'abc'.find('c') }} {{ '{}-{name}'.format(1, name='n') }} {{ '-'.join(['a', 'b']) }}"),
      "ab AB a_b 2 1-n a-b");
  // The Qwen3 template splits reasoning out of content like this.
  EXPECT_EQ(R("{{ c.split('</think>')[0].rstrip('\\n').split('<think>')[-1].lstrip('\\n') }}|"
              "{{ c.split('</think>')[-1].lstrip('\\n') }}",
              {{"c", "<think>\nreason\n</think>\n\nanswer"}}),
            "reason|answer");
  EXPECT_EQ(R("{{ d.get('a') }} {{ d.get('z', 0) }} {{ d.keys()|list }} {{ d.values()|list }}",
              {{"d", {{"a", 1}}}}),
            "1 0 ['a'] [1]");
  EXPECT_FALSE(Render("{{ [1].append(2) }}").ok());  // immutable sandbox
}

TEST(JinjaGlobalsTest, RangeDictNamespace) {
  EXPECT_EQ(R("{{ range(3)|list }} {{ range(1, 7, 2)|list }} {{ dict(a=1) }}"),
            "[0, 1, 2] [1, 3, 5] {'a': 1}");
  EXPECT_FALSE(Render("{{ range(1000000)|length }}").ok());
}

// ---- errors ----

TEST(JinjaErrorTest, UnsupportedTagFailsAtParseWithLine) {
  absl::Status status = ParseError("line1\nline2\n  {% include 'x.html' %}");
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(Contains(status, "chat template line 3")) << status;
  EXPECT_TRUE(Contains(status, "unsupported tag 'include'")) << status;
  EXPECT_TRUE(Contains(ParseError("{% extends 'b' %}"), "unsupported tag 'extends'"));
  EXPECT_TRUE(Contains(ParseError("{% filter upper %}x{% endfilter %}"), "'filter'"));
  EXPECT_TRUE(Contains(ParseError("{% import 'm' as m %}"), "'import'"));
  EXPECT_TRUE(Contains(ParseError("{% for x in y recursive %}{% endfor %}"), "recursive"));
}

TEST(JinjaErrorTest, UnknownFilterAndTestFailAtParseWithLine) {
  absl::Status status = ParseError("ok\n{{ x | nofilter }}");
  EXPECT_TRUE(Contains(status, "chat template line 2")) << status;
  EXPECT_TRUE(Contains(status, "unknown filter 'nofilter'")) << status;
  status = ParseError("\n\n{% if x is nosuchtest %}{% endif %}");
  EXPECT_TRUE(Contains(status, "line 3")) << status;
  EXPECT_TRUE(Contains(status, "unknown test 'nosuchtest'")) << status;
}

TEST(JinjaErrorTest, SyntaxErrorsNameTheLine) {
  absl::Status status = ParseError("a\n{% if true %}\nabc");
  EXPECT_TRUE(Contains(status, "'if' block opened at line 2")) << status;
  EXPECT_TRUE(Contains(ParseError("x\n{{ 1 + }}"), "line 2")) << ParseError("x\n{{ 1 + }}");
  EXPECT_TRUE(Contains(ParseError("{{ 1 + 2"), "line 1"));
  EXPECT_TRUE(Contains(ParseError("\n{# open"), "line 2"));
  EXPECT_TRUE(Contains(ParseError("{{ 'abc }}"), "unterminated string"));
  EXPECT_TRUE(Contains(ParseError("a{% endif %}"), "'endif'"));
  EXPECT_TRUE(Contains(ParseError("{% break %}"), "outside of a loop"));
  EXPECT_TRUE(Contains(ParseError("{{ (1 }}"), "line 1"));
  EXPECT_TRUE(Contains(ParseError("{{ f(*args) }}"), "unsupported"));
}

TEST(JinjaErrorTest, RuntimeErrorsNameTheLine) {
  auto r = Render("a\n\n{{ raise_exception('Only user and assistant roles are supported!') }}");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(Contains(r.status(), "chat template line 3")) << r.status();
  EXPECT_TRUE(Contains(r.status(), "Only user and assistant roles are supported!")) << r.status();
  EXPECT_TRUE(Contains(Render("\n{{ 'a' + 1 }}").status(), "line 2"));
  EXPECT_TRUE(Contains(Render("{{ 1 < 'a' }}").status(), "not supported"));
  EXPECT_TRUE(Contains(Render("{% for x in 5 %}{% endfor %}").status(), "not iterable"));
  EXPECT_TRUE(Contains(Render("{{ 'x'.nope() }}").status(), "has no attribute 'nope'"));
  EXPECT_TRUE(Contains(Render("{{ 1 / 0 }}").status(), "division by zero"));
  EXPECT_TRUE(
      Contains(Render("{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}").status(), "recursion"));
}

// ---- robustness ----

std::string QwenTemplate() {
  auto text = ReadFile(std::string(MOE_TEST_DATA_DIR) + "/tokenizer/qwen3/tokenizer_config.json");
  if (!text.ok()) return "";
  auto config = ParseOrderedJson(*text, "tokenizer_config.json");
  return config.ok() ? (*config)["chat_template"].get<std::string>() : "";
}

TEST(JinjaRobustnessTest, EveryPrefixOfARealTemplateFailsCleanly) {
  std::string source = QwenTemplate();
  ASSERT_FALSE(source.empty());
  OrderedJson vars = OrderedJson::parse(R"({"messages": [{"role": "user", "content": "hi"}],
      "add_generation_prompt": true})");
  int parsed = 0;
  for (size_t n = 0; n <= source.size(); n += 3) {
    auto tmpl = ChatTemplate::Parse(source.substr(0, n));
    if (!tmpl.ok()) {
      EXPECT_EQ(tmpl.status().code(), absl::StatusCode::kInvalidArgument);
      continue;
    }
    ++parsed;
    (void)(*tmpl)->Render(vars);  // must not crash
  }
  EXPECT_GT(parsed, 0);
}

TEST(JinjaRobustnessTest, RandomMutationsNeverCrash) {
  std::string source = QwenTemplate();
  ASSERT_FALSE(source.empty());
  OrderedJson vars = OrderedJson::parse(R"({"messages": [{"role": "system", "content": "s"},
      {"role": "user", "content": "hi"}, {"role": "assistant", "content": "<think>r</think>a",
      "tool_calls": [{"function": {"name": "f", "arguments": {"x": 1}}}]},
      {"role": "tool", "content": "t"}], "tools": [{"name": "f"}], "add_generation_prompt": true})");
  std::mt19937 rng(1234);
  const std::string alphabet = "{}%#-+()[]|.,:'\"=<>~*/ \nabcxyz0123_";
  for (int iter = 0; iter < 1500; ++iter) {
    std::string s = source;
    int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits; ++e) {
      size_t pos = rng() % s.size();
      switch (rng() % 3) {
        case 0:
          s.erase(pos, 1 + rng() % 8);
          break;
        case 1:
          s.insert(pos, 1, alphabet[rng() % alphabet.size()]);
          break;
        default:
          s[pos] = alphabet[rng() % alphabet.size()];
      }
      if (s.empty()) s.push_back('x');
    }
    auto tmpl = ChatTemplate::Parse(s);
    if (tmpl.ok()) (void)(*tmpl)->Render(vars);
  }
  // Deep nesting is refused, not a stack overflow.
  EXPECT_FALSE(
      ChatTemplate::Parse("{{ " + std::string(5000, '(') + "1" + std::string(5000, ')') + " }}")
          .ok());
  EXPECT_FALSE(ChatTemplate::Parse("{{ " + std::string(5000, '-') + "1 }}").ok());
  std::string nested;
  for (int i = 0; i < 1000; ++i) nested += "{% if true %}";
  EXPECT_FALSE(ChatTemplate::Parse(nested).ok());
}

}  // namespace
}  // namespace moe
