#!/usr/bin/env python3
"""Regenerates jinja_cases.json: small templates rendered by Python Jinja2 set up the way
Hugging Face transformers sets it up (ImmutableSandboxedEnvironment, trim_blocks,
lstrip_blocks, loopcontrols, its tojson / raise_exception / strftime_now). The C++ renderer
must produce the same text, or fail where Jinja2 fails: cases named "err_*" must fail to
parse (Jinja2 itself defers a few of them, like include, to render time); other failing cases
must parse and then fail to render.

Usage: python3 make_jinja_cases.py > jinja_cases.json   (needs jinja2 >= 3.1)
"""
import json
import sys

import jinja2
from jinja2.ext import Extension, loopcontrols
from jinja2.sandbox import ImmutableSandboxedEnvironment


class Generation(Extension):
    """transformers' AssistantTracker without the tracking: {% generation %} renders its body."""
    tags = {"generation"}

    def parse(self, parser):
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(["name:endgeneration"], drop_needle=True)
        return jinja2.nodes.CallBlock(self.call_method("_render"), [], [], body).set_lineno(lineno)

    def _render(self, caller):
        return caller()


def make_env():
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                        extensions=[Generation, loopcontrols])

    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators,
                          sort_keys=sort_keys)

    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    return env


MSGS = [
    {"role": "system", "content": "You are helpful."},
    {"role": "user", "content": "Hi <b>there</b> \u00e9\u4e2d\U0001F642"},
    {"role": "assistant", "content": "Hello!", "tool_calls": [
        {"type": "function", "function": {"name": "f", "arguments": {"x": 1, "y": [1.5, None, True]}}}]},
    {"role": "tool", "content": "{\"ok\": true}"},
]
TOOLS = [{"type": "function", "function": {
    "name": "get_weather", "description": "Weather \u2600 for a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                   "required": ["city"]}}}]

QWEN25_TOOLS = """{%- if tools %}
    {{- '<|im_start|>system\\n' }}
    {%- if messages[0]['role'] == 'system' %}
        {{- messages[0]['content'] }}
    {%- else %}
        {{- 'You are Qwen, created by Alibaba Cloud. You are a helpful assistant.' }}
    {%- endif %}
    {{- "\\n\\n# Tools\\n\\nYou may call one or more functions to assist with the user query.\\n\\nYou are provided with function signatures within <tools></tools> XML tags:\\n<tools>" }}
    {%- for tool in tools %}
        {{- "\\n" }}
        {{- tool | tojson }}
    {%- endfor %}
    {{- "\\n</tools>\\n\\nFor each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\\n<tool_call>\\n{\\"name\\": <function-name>, \\"arguments\\": <args-json-object>}\\n</tool_call><|im_end|>\\n" }}
{%- else %}
    {%- if messages[0]['role'] == 'system' %}
        {{- '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n' }}
    {%- else %}
        {{- '<|im_start|>system\\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\\n' }}
    {%- endif %}
{%- endif %}
{%- for message in messages %}
    {%- if (message.role == "user") or (message.role == "system" and not loop.first) or (message.role == "assistant" and not message.tool_calls) %}
        {{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>' + '\\n' }}
    {%- elif message.role == "assistant" %}
        {{- '<|im_start|>' + message.role }}
        {%- if message.content %}
            {{- '\\n' + message.content }}
        {%- endif %}
        {%- for tool_call in message.tool_calls %}
            {%- if tool_call.function is defined %}
                {%- set tool_call = tool_call.function %}
            {%- endif %}
            {{- '\\n<tool_call>\\n{"name": "' }}
            {{- tool_call.name }}
            {{- '", "arguments": ' }}
            {{- tool_call.arguments | tojson }}
            {{- '}\\n</tool_call>' }}
        {%- endfor %}
        {{- '<|im_end|>\\n' }}
    {%- elif message.role == "tool" %}
        {%- if (loop.index0 == 0) or (messages[loop.index0 - 1].role != "tool") %}
            {{- '<|im_start|>user' }}
        {%- endif %}
        {{- '\\n<tool_response>\\n' }}
        {{- message.content }}
        {{- '\\n</tool_response>' }}
        {%- if loop.last or (messages[loop.index0 + 1].role != "tool") %}
            {{- '<|im_end|>\\n' }}
        {%- endif %}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|im_start|>assistant\\n' }}
{%- endif %}
"""

LLAMA3_LIKE = """{{- bos_token }}
{%- if messages[0]['role'] == 'system' %}
    {%- set system_message = messages[0]['content']|trim %}
    {%- set messages = messages[1:] %}
{%- else %}
    {%- set system_message = "" %}
{%- endif %}
{{- "<|start_header_id|>system<|end_header_id|>\\n\\n" }}
{{- "Today Date: " + date_string + "\\n\\n" }}
{{- system_message }}
{{- "<|eot_id|>" }}
{%- for message in messages %}
    {%- if not (message.role == 'ipython' or message.role == 'tool' or 'tool_calls' in message) %}
        {{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'+ message['content'] | trim + '<|eot_id|>' }}
    {%- elif 'tool_calls' in message %}
        {%- if not message.tool_calls|length == 1 %}
            {{- raise_exception("This model only supports single tool-calls at once!") }}
        {%- endif %}
        {%- set tool_call = message.tool_calls[0].function %}
        {{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' -}}
        {{- '{"name": "' + tool_call.name + '", ' }}
        {{- '"parameters": ' }}
        {{- tool_call.arguments | tojson }}
        {{- "}" }}
        {{- "<|eot_id|>" }}
    {%- elif message.role == "tool" or message.role == "ipython" %}
        {{- "<|start_header_id|>ipython<|end_header_id|>\\n\\n" }}
        {%- if message.content is mapping or message.content is iterable %}
            {{- message.content | tojson }}
        {%- else %}
            {{- message.content }}
        {%- endif %}
        {{- "<|eot_id|>" }}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}
{%- endif %}
"""

MISTRAL_LIKE = """{%- if messages[0]["role"] == "system" %}
    {%- set system_message = messages[0]["content"] %}
    {%- set loop_messages = messages[1:] %}
{%- else %}
    {%- set loop_messages = messages %}
{%- endif %}
{%- if not tools is defined %}
    {%- set tools = none %}
{%- endif %}
{%- set user_messages = loop_messages | selectattr("role", "equalto", "user") | list %}
{{- bos_token }}
{%- for message in loop_messages %}
    {%- if message["role"] == "user" %}
        {%- if tools is not none and (message == user_messages[-1]) %}
            {{- "[AVAILABLE_TOOLS] [" }}
            {%- for tool in tools %}
                {%- set tool = tool.function %}
                {{- '{"type": "function", "function": {' }}
                {%- for key, val in tool.items() if key != "return" %}
                    {%- if val is string %}
                        {{- '"' + key + '": "' + val + '"' }}
                    {%- else %}
                        {{- '"' + key + '": ' + val|tojson }}
                    {%- endif %}
                    {%- if not loop.last %}
                        {{- ", " }}
                    {%- endif %}
                {%- endfor %}
                {{- "}}" }}
                {%- if not loop.last %}
                    {{- ", " }}
                {%- else %}
                    {{- "]" }}
                {%- endif %}
            {%- endfor %}
            {{- "[/AVAILABLE_TOOLS]" }}
        {%- endif %}
        {%- if loop.last and system_message is defined %}
            {{- "[INST] " + system_message + "\\n\\n" + message["content"] + "[/INST]" }}
        {%- else %}
            {{- "[INST] " + message["content"] + "[/INST]" }}
        {%- endif %}
    {%- elif message["role"] == "assistant" %}
        {{- " " + message["content"]|trim + eos_token}}
    {%- else %}
        {{- raise_exception("Only user and assistant roles are supported, with the exception of an initial optional system message!") }}
    {%- endif %}
{%- endfor %}
"""

CASES = [
    # --- text and whitespace control ---
    ("plain_text", "Hello\nworld\n", {}),
    ("trailing_newlines", "a\n\n", {}),
    ("crlf", "{% if true %}\r\nA\r\n{% endif %}\r\n", {}),
    ("trim_blocks", "{% if true %}\nyes\n{% endif %}\nend", {}),
    ("lstrip_blocks", "  {% if true %}\n  x\n  {% endif %}\n  {{ 'y' }}\n", {}),
    ("lstrip_not_line_start", "a {% if true %}b{% endif %}\n", {}),
    ("minus_strip", "a  \n  {%- if true %}x{% endif %}", {}),
    ("minus_both", "x {{- ' y ' -}} z", {}),
    ("minus_block_end", "{% if true -%}\n\n   a{%- endif %}", {}),
    ("plus_disables_lstrip", "  {%+ if true %}x{% endif +%}\n  y", {}),
    ("comment", "  {#- c -#}  \nz\n  {# c #}\nq", {}),
    ("comment_trim", "a\n{# comment #}\nb", {}),
    ("raw", "{% raw %}  {{ x }} {% endraw %}\nz", {}),
    ("raw_strip", "  {% raw -%}  {{ x }}   {%- endraw %}\nz", {}),
    ("var_no_trim", "{{ 'a' }}\n{{ 'b' }}\n", {}),
    ("tabs_lstrip", "\t {% if true %}\n\tx\n\t{% endif %}", {}),
    ("nested_indent", "{% for i in [1,2] %}\n    {% if i == 2 %}\n        two\n    {% endif %}\n{% endfor %}\n", {}),
    # --- literals and printing ---
    ("print_values", "{{ none }}|{{ None }}|{{ true }}|{{ False }}|{{ 1 }}|{{ 1.0 }}|{{ -2.50 }}|{{ 'x' }}", {}),
    ("print_list", "{{ [1, 'a', none, true, 2.5, [\"it's\"], {'k': 'v'}] }}", {}),
    ("print_tuple", "{{ (1,) }} {{ (1, 'b') }} {{ () }}", {}),
    ("print_dict", "{{ {'a': 1, 'b': {'c': [1, 2]}} }}", {}),
    ("print_quotes", "{{ ['a\"b', \"a'b\", 'a\\'b\"c', '\\n\\t\\\\'] }}", {}),
    ("floats", "{{ 1e16 }} {{ 1.5e-5 }} {{ 0.1 + 0.2 }} {{ 10 / 4 }} {{ 1e3 }} {{ 123456789.125 }} {{ 1/3 }} {{ 2.0 ** 70 }}", {}),
    ("ints", "{{ 7 // 2 }} {{ -7 // 2 }} {{ -7 % 3 }} {{ 7 % -3 }} {{ 2 ** 10 }} {{ 2 ** -1 }} {{ 1_000 }} {{ 0x1F }}", {}),
    ("float_ops", "{{ 7.5 // 2 }} {{ -7.5 % 2 }} {{ 3 * 1.5 }} {{ 1 + true }} {{ true + true }}", {}),
    ("string_escapes", "{{ 'a\\x41\\u00e9\\t|\\d' }}", {}),
    ("string_concat_literals", "{{ 'a' 'b' \"c\" }}", {}),
    ("unicode_literal", "{{ '\u4e2d\u6587 \U0001F642'|length }} {{ '\u00e9t\u00e9'[1] }} {{ '\u4e2d\u6587'[::-1] }}", {}),
    # --- variables, attributes, undefined ---
    ("undefined_prints_empty", "[{{ nope }}][{{ d.missing }}][{{ d['missing'] }}][{{ l[10] }}]", {"d": {"a": 1}, "l": [1]}),
    ("undefined_tests", "{{ nope is defined }} {{ nope is undefined }} {{ d.a is defined }} {{ d.b is defined }} {{ nope is none }}", {"d": {"a": None}}),
    ("undefined_truthy", "{% if nope %}y{% else %}n{% endif %}{% if not nope %}!{% endif %}{{ nope|length }}{{ nope|default('dflt') }}", {}),
    ("undefined_attr_error", "{{ nope.x }}", {}),
    ("undefined_add_error", "{{ nope + 1 }}", {}),
    ("undefined_concat", "{{ nope ~ 'a' }}", {}),
    ("undefined_iter", "{% for x in nope %}{{ x }}{% else %}empty{% endfor %}", {}),
    ("none_attr", "[{{ n.x }}]", {"n": None}),
    ("dict_attr_vs_item", "{{ d.a }} {{ d['a'] }} {{ d.get('b', 'z') }} {{ d.get('a') }} {{ d.get('q') }}", {"d": {"a": 1}}),
    ("dict_items_method_wins", "{{ d['items'] }}|{{ d.values()|list }}", {"d": {"items": 5, "x": 2}}),
    ("nested_access", "{{ m[0].tool_calls[0].function.arguments.y[1] }} {{ m[0]['tool_calls'][0]['function']['name'] }}", {"m": [MSGS[2]]}),
    ("dot_number", "{{ l.0 }} {{ l.1.0 }}", {"l": ["a", ["b"]]}),
    ("negative_index", "{{ l[-1] }} {{ s[-2] }}", {"l": [1, 2, 3], "s": "abc"}),
    # --- slicing ---
    ("slices", "{{ l[1:] }} {{ l[:2] }} {{ l[::-1] }} {{ l[::2] }} {{ l[-2:] }} {{ l[1:-1] }} {{ l[5:] }} {{ l[3:1:-1] }}", {"l": [0, 1, 2, 3, 4]}),
    ("string_slices", "{{ s[1:] }} {{ s[:-1] }} {{ s[::-1] }} {{ s[10:] }}|", {"s": "h\u00e9llo"}),
    ("tuple_slice", "{{ (1, 2, 3)[1:] }}", {}),
    # --- operators ---
    ("comparisons", "{{ 1 < 2 < 3 }} {{ 1 < 2 > 3 }} {{ 1 == 1.0 }} {{ 'a' < 'b' }} {{ [1, 2] < [1, 3] }} {{ 1 != 2 }} {{ none == none }} {{ true == 1 }}", {}),
    ("in_operator", "{{ 'a' in 'cat' }} {{ 2 in [1, 2] }} {{ 'k' in {'k': 1} }} {{ 'z' not in 'cat' }} {{ 3 not in [1] }}", {}),
    ("logic", "{{ 0 or 'x' }} {{ 1 and 'y' }} {{ '' and 'z' }} {{ none or none }} {{ not 0 }} {{ not not 'a' }}", {}),
    ("conditional_expr", "{{ 'a' if true else 'b' }} {{ 'a' if false else 'b' }} [{{ 'a' if false }}] {{ 1 if 0 else 2 if 0 else 3 }}", {}),
    ("concat_tilde", "{{ 1 ~ 2 ~ none ~ true ~ [1] }}", {}),
    ("string_plus", "{{ 'a' + 'b' }} {{ [1] + [2] }} {{ 'ab' * 3 }} {{ 2 * [0] }}", {}),
    ("string_plus_int_error", "{{ 'a' + 1 }}", {}),
    ("compare_error", "{{ 1 < 'a' }}", {}),
    ("unary", "{{ -(3) }} {{ +4 }} {{ - 2.5 }} {{ -x|abs }} {{ --1 }}", {"x": 5}),
    ("precedence", "{{ 1 + 2 * 3 }} {{ (1 + 2) * 3 }} {{ 2 ** 3 ** 2 }} {{ l|length - 1 }} {{ (1 + 2) ~ 3 }} {{ not true or true }}", {"l": [1, 2, 3]}),
    ("concat_binds_tighter", "{{ 1 + 2 ~ 3 }}", {}),
    ("percent_format", "{{ '%s=%d' % ('a', 3) }} {{ '%5.2f|%-4s|%03d|%x' % (3.14159, 'x', 7, 255) }} {{ '%s' % [1, 2] }} {{ '%(a)s' % {'a': 1} }} {{ '100%%' % () }}", {}),
    # --- statements ---
    ("if_elif_else", "{% for x in [1, 2, 3] %}{% if x == 1 %}one{% elif x == 2 %}two{% else %}many{% endif %},{% endfor %}", {}),
    ("for_loop_vars", "{% for x in 'abc' %}{{ loop.index }}{{ loop.index0 }}{{ loop.revindex }}{{ loop.revindex0 }}{{ loop.first }}{{ loop.last }}{{ loop.length }};{% endfor %}", {}),
    ("for_prev_next_cycle", "{% for x in [1, 2, 3] %}{{ loop.previtem }}-{{ loop.nextitem }}-{{ loop.cycle('a', 'b') }};{% endfor %}", {}),
    ("for_else", "{% for x in [] %}x{% else %}none{% endfor %}{% for x in [1] %}x{% else %}none{% endfor %}", {}),
    ("for_filter", "{% for x in range(10) if x is odd %}{{ x }}{{ loop.length }} {% endfor %}", {}),
    ("for_unpack", "{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}{% for (a, b) in [[1, 2], [3, 4]] %}{{ a + b }}{% endfor %}", {"d": {"z": 1, "a": 2}}),
    ("for_dict_keys", "{% for k in d %}{{ k }}{% endfor %}", {"d": {"b": 1, "a": 2}}),
    ("for_string", "{% for c in 'h\u00e9' %}[{{ c }}]{% endfor %}", {}),
    ("for_nested_loop", "{% for a in [1, 2] %}{% for b in 'xy' %}{{ loop.index }}{{ b }}{% endfor %}{{ loop.index }}|{% endfor %}", {}),
    ("break_continue", "{% for x in range(10) %}{% if x == 2 %}{% continue %}{% endif %}{% if x == 5 %}{% break %}{% endif %}{{ x }}{% endfor %}", {}),
    ("loop_scope", "{% set x = 1 %}{% for i in [1, 2] %}{{ x }}{% set x = x + 1 %}{{ x }}{% endfor %}{{ x }}", {}),
    ("loop_scope_reset", "{% for i in [1, 2] %}{% if i == 1 %}{% set y = 5 %}{% endif %}[{{ y }}]{% endfor %}", {}),
    ("loop_var_gone", "{% for i in [1, 2] %}{% endfor %}[{{ i }}]", {}),
    ("if_no_scope", "{% if true %}{% set x = 3 %}{% endif %}{{ x }}", {}),
    ("namespace", "{% set ns = namespace(n=0, found=false) %}{% for i in [1, 2, 3] %}{% set ns.n = ns.n + i %}{% if i == 2 %}{% set ns.found = true %}{% endif %}{% endfor %}{{ ns.n }} {{ ns.found }} {{ ns.missing is defined }}", {}),
    ("namespace_dict_arg", "{% set ns = namespace({'a': 1}, b=2) %}{{ ns.a }}{{ ns.b }}", {}),
    ("set_tuple", "{% set a, b = 1, 2 %}{{ a }}{{ b }}{% set c = 1, 2 %}{{ c }}", {}),
    ("set_block", "{% set x %}  a {{ 1 }} {% endset %}[{{ x }}]", {}),
    ("set_block_filter", "{% set x | upper | trim %} abc {% endset %}[{{ x }}]", {}),
    ("set_ns_not_namespace", "{% set d = {} %}{% set d.x = 1 %}", {}),
    ("macro", "{% macro m(a, b=a+1, c='z') %}{{ a }}{{ b }}{{ c }}{{ varargs }}{{ kwargs }}{% endmacro %}{{ m(1) }}|{{ m(1, 2, 3, 4, q=5) }}|{{ m(c='C', a=0) }}", {}),
    ("macro_missing_arg", "{% macro m(a) %}[{{ a }}]{% endmacro %}{{ m() }}", {}),
    ("macro_globals", "{% macro m() %}{{ y }}{% endmacro %}{% set y = 3 %}{{ m() }}", {}),
    ("macro_recursion", "{% macro f(n) %}{% if n > 0 %}{{ n }}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(3) }}", {}),
    ("macro_whitespace", "{% macro render(m) %}\n  <{{ m }}>\n{% endmacro %}\n{{ render('a') }}{{ render('b') }}", {}),
    ("with", "{% with a = 1, b = 2 %}{{ a + b }}{% endwith %}[{{ a }}]", {}),
    ("print_tag", "{% print 'p' ~ 1 %}", {}),
    # --- filters ---
    ("filter_strings", "{{ ' Ab c '|trim }}|{{ 'xxhixx'|trim('x') }}|{{ 'aBc'|lower }}|{{ 'aBc'|upper }}|{{ 'hello wORLD-x (y'|title }}|{{ 'aBC dE'|capitalize }}|{{ 'h\u00e9llo \u00df'|upper }}", {}),
    ("filter_length", "{{ [1, 2]|length }} {{ 'h\u00e9'|length }} {{ {'a': 1}|length }} {{ 'ab'|count }}", {}),
    ("filter_join", "{{ [1, 'a', none]|join(', ') }}|{{ 'abc'|join('-') }}|{{ users|join(',', attribute='name') }}|{{ []|join }}", {"users": [{"name": "x"}, {"name": "y"}]}),
    ("filter_first_last", "{{ [1, 2, 3]|first }} {{ [1, 2, 3]|last }} {{ 'abc'|first }} {{ 'abc'|last }} [{{ []|first }}]", {}),
    ("filter_default", "{{ x|default('d') }} {{ none|default('d') }} {{ ''|default('d', true) }} {{ 0|d(5) }} {{ y|default }}|", {"x": "set"}),
    ("filter_items", "{% for k, v in d|items %}{{ k }}{{ v }}{% endfor %}{{ d|items|list }}", {"d": {"a": 1, "b": [2]}}),
    ("filter_list", "{{ 'ab'|list }} {{ d|list }} {{ (1, 2)|list }}", {"d": {"k": 1}}),
    ("filter_int_float", "{{ '42'|int }} {{ '4.7'|int }} {{ 'x'|int }} {{ 'x'|int(7) }} {{ 3.9|int }} {{ true|int }} {{ '0x1A'|int(0, 16) }} {{ '3'|float }} {{ 'a'|float }} {{ 2|float }} {{ ' 12 '|int }}", {}),
    ("filter_replace", "{{ 'a-b-c'|replace('-', '+') }} {{ 'a-b-c'|replace('-', '', 1) }} {{ 'ab'|replace('', '.') }}", {}),
    ("filter_string", "{{ 1|string ~ 'x' }} {{ none|string }} {{ [1]|string }} {{ true|string|length }}", {}),
    ("filter_tojson", "{{ d|tojson }}", {"d": {"b": 1, "a": [1.5, None, True, "\u00e9\"\\\n\u2028\x01"], "c": {}, "e": [], "f": 1e20, "g": -0.0}}),
    ("filter_tojson_indent", "{{ d|tojson(indent=2) }}|{{ d|tojson(indent=0) }}|{{ []|tojson(indent=2) }}", {"d": {"a": [1, {"b": None}], "c": {}}}),
    ("filter_tojson_options", "{{ d|tojson(sort_keys=true) }}|{{ d|tojson(separators=(',', ':')) }}|{{ d|tojson(ensure_ascii=true) }}|{{ d|tojson(indent='\t') }}", {"d": {"z": "\u00e9\U0001F642", "a": 1}}),
    ("filter_tojson_tools", "{% for t in tools %}{{ t|tojson }}\n{% endfor %}", {"tools": TOOLS}),
    ("filter_tojson_literals", "{{ (1, 'a')|tojson }} {{ 'x'|tojson }} {{ none|tojson }} {{ 3|tojson }} {{ {1: 2, true: 3, none: 4}|tojson }}", {}),
    ("filter_tojson_undefined", "{{ nope|tojson }}", {}),
    ("filter_selectattr", "{{ m|selectattr('role', 'equalto', 'user')|map(attribute='content')|list }} {{ m|selectattr('tool_calls')|list|length }} {{ m|rejectattr('role', 'in', ['user', 'tool'])|map(attribute='role')|join(',') }} {{ m|selectattr('role', '==', 'tool')|list|length }}", {"m": MSGS}),
    ("filter_select", "{{ [1, 2, 3, 4]|select('odd')|list }} {{ [1, 2, 3, 4]|reject('divisibleby', 2)|list }} {{ [0, 1, '', 'a']|select|list }}", {}),
    ("filter_map", "{{ ['A', 'b']|map('lower')|join }} {{ [{'a': {'b': 1}}, {'a': {'b': 2}}]|map(attribute='a.b')|list }} {{ [{'x': 1}, {}]|map(attribute='x', default=0)|list }} {{ ['1', '2']|map('int')|sum }}", {}),
    ("filter_sort", "{{ [3, 1, 2]|sort }} {{ ['b', 'A', 'a', 'B']|sort }} {{ ['b', 'A']|sort(case_sensitive=true) }} {{ [3, 1]|sort(reverse=true) }} {{ [{'n': 2}, {'n': 1}]|sort(attribute='n')|map(attribute='n')|list }}", {}),
    ("filter_unique_minmax", "{{ ['a', 'A', 'b', 'a']|unique|list }} {{ [3, 1, 2]|min }} {{ [3, 1, 2]|max }} {{ ['b', 'A']|max }} {{ [1, 2.5]|sum }} {{ [{'v': 1}, {'v': 2}]|sum(attribute='v') }}", {}),
    ("filter_reverse", "{{ [1, 2]|reverse|list }} {{ 'abc'|reverse }} {{ (1, 2)|reverse|list }}", {}),
    ("filter_round_abs", "{{ 2.567|round(1) }} {{ 2.5|round }} {{ 3.5|round }} {{ 2.1|round(0, 'ceil') }} {{ 2.9|round(method='floor') }} {{ -3|abs }} {{ -2.5|abs }} {{ 5|round }}", {}),
    ("filter_indent", "{{ 'a\\nb\\n'|indent(2) }}|{{ 'a\\n\\nb'|indent(2, true) }}|{{ 'a\\n\\nb'|indent(2, true, true) }}|{{ 'x\\ny'|indent('> ') }}", {}),
    ("filter_center_truncate", "[{{ 'ab'|center(7) }}] {{ 'hello world foo bar'|truncate(9) }} {{ 'hello world'|truncate(9, true, '..', 0) }} {{ 'short'|truncate(20) }}", {}),
    ("filter_escape_safe", "{{ '<a href=\"x\">&\\'</a>'|e }} {{ '<b>'|safe }} {{ '<'|escape|length }}", {}),
    ("filter_dictsort", "{{ d|dictsort }} {{ d|dictsort(by='value') }} {{ d|dictsort(reverse=true) }}", {"d": {"b": 1, "A": 3, "a": 2}}),
    ("filter_format", "{{ '%s-%s'|format(1, 'x') }} {{ '%(n)s'|format(n='k') }}", {}),
    ("filter_attr_wordcount", "{{ d|attr('a') }}|{{ 'one two  three'|wordcount }}|{{ d|attr('items') is defined }}", {"d": {"a": 1}}),
    ("filter_chain_args", "{{ m|map(attribute='role')|unique|list|join('/')|upper }}", {"m": MSGS}),
    # --- tests ---
    ("tests_types", "{{ 'a' is string }} {{ 1 is number }} {{ 1.5 is number }} {{ true is number }} {{ 1 is integer }} {{ true is integer }} {{ 1.0 is float }} {{ true is boolean }} {{ 1 is boolean }}", {}),
    ("tests_containers", "{{ {} is mapping }} {{ [] is mapping }} {{ [] is iterable }} {{ 'a' is iterable }} {{ 1 is iterable }} {{ [] is sequence }} {{ 'a' is sequence }} {{ {} is sequence }} {{ nope is iterable }}", {}),
    ("tests_values", "{{ none is none }} {{ 0 is none }} {{ false is false }} {{ 0 is false }} {{ true is true }} {{ 3 is odd }} {{ 4 is even }} {{ 9 is divisibleby 3 }} {{ 9 is divisibleby(4) }}", {}),
    ("tests_compare", "{{ 1 is eq 1 }} {{ 1 is ne 2 }} {{ 1 is lt 2 }} {{ 2 is ge 2 }} {{ 'a' is in ['a'] }} {{ 1 is sameas 1 }} {{ none is sameas none }} {{ 'abc' is lower }} {{ 'ABC' is upper }}", {}),
    ("tests_not", "{{ x is not defined }} {{ x is not none }} {{ not x is defined }} {{ 1 is not string }}", {}),
    ("tests_callable", "{{ range is callable }} {{ 'a'.upper is callable }} {{ 1 is callable }} {{ 'upper' is filter }} {{ 'nofilter' is filter }} {{ 'odd' is test }}", {}),
    ("test_string_content", "{% for m in msgs %}{{ m.content is string }}{{ m.content is none }}{{ m.content is iterable }};{% endfor %}", {"msgs": [{"content": "x"}, {"content": None}, {"content": [{"type": "text"}]}, {}]}),
    # --- string methods ---
    ("str_methods", "{{ 'abc'.startswith('ab') }} {{ 'abc'.endswith(('x', 'c')) }} {{ 'abc'.startswith('b', 1) }} {{ ' a b  c '.split() }} {{ 'a,b,,c'.split(',') }} {{ 'a,b,c'.split(',', 1) }} {{ 'a b c'.rsplit(None, 1) }} {{ 'a,b,c'.rsplit(',', 1) }}", {}),
    ("str_strip", "[{{ '  x  '.strip() }}][{{ '  x  '.lstrip() }}][{{ '  x  '.rstrip() }}][{{ 'xxhixx'.strip('x') }}][{{ '\\n\\nhi\\n'.lstrip('\\n') }}][{{ 'ab'.rstrip('b') }}]", {}),
    ("str_case_find", "{{ 'aB'.lower() }} {{ 'aB'.upper() }} {{ 'hello world'.title() }} {{ 'hELLO'.capitalize() }} {{ 'abcabc'.find('c') }} {{ 'abcabc'.rfind('c') }} {{ 'abc'.find('z') }} {{ '\u00e9abc'.find('b') }} {{ 'aaa'.count('a') }} {{ 'abcabc'.index('b') }}", {}),
    ("str_replace_join", "{{ 'a b c'.replace(' ', '_') }} {{ 'aaa'.replace('a', 'b', 2) }} {{ ', '.join(['x', 'y']) }} {{ '-'.join('abc') }}", {}),
    ("str_format", "{{ '{} {}'.format(1, 'a') }} {{ '{1}{0}'.format('a', 'b') }} {{ '{name}!'.format(name='n') }} {{ '{:>5}|{:<4}|{:^6}|'.format('ab', 'c', 'mid') }} {{ '{:.2f} {:05d} {:,}'.format(3.14159, 42, 1234567) }} {{ '{{x}}'.format() }} {{ '{!r}'.format('q') }}", {}),
    ("str_misc", "{{ 'abc'.isalpha() }} {{ '123'.isdigit() }} {{ ' '.isspace() }} {{ 'ab'.islower() }} {{ 'a\\nb\\r\\nc'.splitlines() }} {{ 'pre_x'.removeprefix('pre_') }} {{ '7'.zfill(3) }} {{ 'ab'.center(6, '*') }} {{ 'ab'.ljust(4, '.') }}|", {}),
    ("str_unknown_attr", "[{{ 'abc'.nope }}]", {}),
    ("str_method_error", "{{ 'abc'.nope() }}", {}),
    ("list_methods", "{{ [1, 2, 2].count(2) }} {{ ['a', 'b'].index('b') }}", {}),
    ("list_append_unsafe", "{{ [1].append(2) }}", {}),
    ("dict_methods", "{{ d.keys()|list }} {{ d.values()|list }} {{ d.items()|list }} {% for k, v in d.items() %}{{ k }}{% endfor %}", {"d": {"x": 1, "y": [2]}}),
    # --- Python details: generators, dict views, str() of anything ---
    ("generators_and_views", "{% if [1]|select('none') %}always{% endif %}|{{ d.items() }}|{{ d.keys() }}|{{ d.items()[0] is defined }}|{% set g = [1, 2]|select %}{{ g|list }}{{ g|list }}|{{ [1, 2]|map('string')|list }}|{{ d.values()|length }}", {"d": {"a": 1}}),
    ("generator_no_len", "{{ [1]|select|length }}", {}),
    ("view_not_json", "{{ d.items()|tojson }}", {"d": {"a": 1}}),
    ("lazy_generator_error", "{% set g = 5|map('upper') %}ok", {}),
    ("python_details", "{{ 'a,b'.title() }} {{ [1, 'a'] is lower }} {{ 2.5 is odd }} {{ 'ab' % [1] }} {{ '%s' % nope }}| {{ nope is callable }} {{ nope|reverse|list }}", {}),
    ("int_of_undefined", "{{ nope|int }}", {}),
    # --- globals ---
    ("range", "{{ range(3)|list }} {{ range(1, 4)|list }} {{ range(10, 0, -3)|list }} {{ range(0)|list }}", {}),
    ("dict_global", "{{ dict(a=1, b='x') }} {{ dict({'q': 1}, r=2)|tojson }}", {}),
    ("raise_exception", "{% if messages|length > 1 %}{{ raise_exception('Too many messages: ' ~ messages|length) }}{% endif %}ok", {"messages": [1, 2]}),
    ("raise_exception_not_hit", "{% if messages|length > 5 %}{{ raise_exception('x') }}{% endif %}ok", {"messages": [1, 2]}),
    ("call_non_callable", "{{ x() }}", {"x": 1}),
    ("iterate_int_error", "{% for x in 5 %}{% endfor %}", {}),
    ("in_none_error", "{{ 'a' in none }}", {}),
    ("division_by_zero", "{{ 1 / 0 }}", {}),
    ("dict_literal_in_var", "{{ {'a': {'b': 1}} }}", {}),
    ("special_tokens", "{{ bos_token }}{{ eos_token }}|{{ unk_token is defined }}", {"bos_token": "<s>", "eos_token": "</s>"}),
    # --- generation tag (transformers AssistantTracker) ---
    ("generation_tag", "{% for m in messages %}{% if m.role == 'assistant' %}{% generation %}{{ m.content }}{% endgeneration %}{% else %}{{ m.content }}{% endif %}|{% endfor %}", {"messages": MSGS[:3]}),
    # --- syntax errors (Jinja2 rejects these when compiling) ---
    ("err_unknown_tag", "line1\n{% include 'x.html' %}", {}),
    ("err_unknown_filter", "{{ x|nofilter }}", {}),
    ("err_unknown_test", "{% if x is nosuchtest %}{% endif %}", {}),
    ("err_unclosed_if", "{% if true %}\nabc", {}),
    ("err_unclosed_for", "{% for x in y %}", {}),
    ("err_stray_endif", "a{% endif %}", {}),
    ("err_bad_expression", "{{ 1 + }}", {}),
    ("err_unclosed_var", "{{ 1 + 2", {}),
    ("err_unclosed_comment", "{# never closed", {}),
    ("err_unclosed_string", "{{ 'abc }}", {}),
    ("err_extends", "{% extends 'base' %}", {}),
    ("err_unbalanced", "{{ (1 }}", {}),
    ("err_break_outside_loop", "{% break %}", {}),
    ("err_tag_name", "{% 1 %}", {}),
    # --- real-world style templates ---
    ("qwen25_tools", QWEN25_TOOLS, {"messages": [MSGS[1], MSGS[2], MSGS[3], MSGS[3]], "tools": TOOLS, "add_generation_prompt": True}),
    ("qwen25_no_tools", QWEN25_TOOLS, {"messages": MSGS[:2] + [{"role": "assistant", "content": "ok"}], "tools": None, "add_generation_prompt": False}),
    ("llama3_like", LLAMA3_LIKE, {"messages": MSGS[:3] + [{"role": "tool", "content": {"temp": 20}}], "bos_token": "<|begin_of_text|>", "date_string": "26 Jul 2024", "add_generation_prompt": True}),
    ("llama3_like_raise", LLAMA3_LIKE, {"messages": [{"role": "assistant", "tool_calls": [{"function": {}}, {"function": {}}]}], "bos_token": "", "date_string": "x"}),
    ("mistral_like_tools", MISTRAL_LIKE, {"messages": [MSGS[0], {"role": "user", "content": "a"}, {"role": "assistant", "content": " b "}, {"role": "user", "content": "c"}], "tools": TOOLS, "bos_token": "<s>", "eos_token": "</s>"}),
    ("mistral_like_no_tools", MISTRAL_LIKE, {"messages": [{"role": "user", "content": "a"}], "bos_token": "<s>", "eos_token": "</s>"}),
    ("mistral_like_bad_role", MISTRAL_LIKE, {"messages": [{"role": "tool", "content": "a"}], "bos_token": "<s>", "eos_token": "</s>"}),
]


def main():
    env = make_env()
    out = []
    for name, template, variables in CASES:
        case = {"name": name, "template": template, "variables": variables}
        try:
            compiled = env.from_string(template)
        except (jinja2.exceptions.TemplateSyntaxError, SyntaxError) as e:
            case["error"] = "syntax"
            case["message"] = str(e)
            out.append(case)
            continue
        try:
            case["text"] = compiled.render(**variables)
        except Exception as e:  # any runtime error
            case["error"] = "runtime"
            case["message"] = f"{type(e).__name__}: {e}"
        out.append(case)
    json.dump({"format": "jinja-cases/1", "oracle": f"jinja2 {jinja2.__version__}",
               "cases": out}, sys.stdout, ensure_ascii=False, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
